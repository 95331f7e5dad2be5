/* Internals shared by the ksyms_*.c files (not a public interface). */
#ifndef DMP_KSYMS_INTERNAL_H
#define DMP_KSYMS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dmppatcher/ksyms.h"

/* Write an error message if the caller gave a buffer. */
#define KSYMS_ERR(err, errlen, ...) \
    do { \
        if ((err) && (errlen)) \
            snprintf((err), (errlen), __VA_ARGS__); \
    } while (0)

/* A symbol as collected by a recovery method, before the table is built. */
struct ksyms_raw {
    size_t name_off;   /* offset of the NUL-terminated name in the arena */
    uint64_t addr;
    char type;
};

/* Build the final table. Takes ownership of arena (malloc'd) and raw (malloc'd) in every case.
 * text_end (0 = unknown) caps the size of the last symbols before it so a text symbol never
 * extends past the end of text. Returns 0 or -ENOMEM. */
int ksyms_build(char *arena, struct ksyms_raw *raw, size_t n, uint64_t text_end,
                bool from_tables, struct dmp_ksyms **out);

#endif
