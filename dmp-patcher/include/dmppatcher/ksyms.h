/* Kernel symbol recovery from the kernel's own kallsyms tables.
 *
 * Debian ships no usable System.map and no vmlinux, and a live guest has neither: but every
 * kernel built with CONFIG_KALLSYMS carries its symbol table, compressed, in .rodata. We find
 * those tables by their structure (they have no symbol of their own we could look up), decode
 * them, and return a name <-> address map. The scan goes through dmp_kimage_read over the
 * image's regions, so it works on a file and on a live guest (where the addresses it returns
 * are the runtime, already-slid ones).
 *
 * If the tables cannot be found, dmp_ksyms_recover fails with a message, and the caller may
 * fall back to dmp_ksyms_heuristic (function boundaries guessed from the text; see below).
 */
#ifndef DMP_KSYMS_H
#define DMP_KSYMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dmppatcher/kimage.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dmp_ksym {
    const char *name;
    uint64_t addr;   /* includes the current slide */
    uint64_t size;   /* next symbol's address - addr (0 for the last one) */
    char type;       /* nm-style: 'T' 't' 'D' 'd' 'R' 'r' 'B' 'b' 'A' ... */
};

struct dmp_ksyms;

/* Find and decode kallsyms in the image. On success also narrows dmp_kimage_text() to
 * [_stext, _etext). On failure returns negative errno and a message in err. */
int  dmp_ksyms_recover(struct dmp_kimage *, struct dmp_ksyms **out, char *err, size_t errlen);

/* Fallback when there are no kallsyms tables: function boundaries guessed from the text of
 * dmp_kimage_text(): a function is assumed to start at every 16-byte aligned address that
 * follows a run of int3 (0xcc) padding bytes (the x86-64 kernel pads functions to 16 bytes
 * with int3), plus the text start. Names are "fn_<hex addr>", type 't', size up to the next
 * start. This is a guess; dmp_ksyms_from_tables() returns false for such a set. */
int  dmp_ksyms_heuristic(struct dmp_kimage *, struct dmp_ksyms **out, char *err, size_t errlen);

void dmp_ksyms_free(struct dmp_ksyms *);
size_t dmp_ksyms_count(const struct dmp_ksyms *);
const struct dmp_ksym *dmp_ksyms_get(const struct dmp_ksyms *, size_t i);   /* sorted by addr */
const struct dmp_ksym *dmp_ksyms_by_name(const struct dmp_ksyms *, const char *name);
/* The symbol whose [addr, addr+size) contains addr, or NULL. */
const struct dmp_ksym *dmp_ksyms_by_addr(const struct dmp_ksyms *, uint64_t addr);

/* KASLR: all addresses become linked address + slide. */
void dmp_ksyms_set_slide(struct dmp_ksyms *, int64_t slide);
int64_t dmp_ksyms_slide(const struct dmp_ksyms *);
/* Compute the slide that makes symbol `name` land at runtime_addr. 0, or -ENOENT. */
int  dmp_ksyms_slide_from(const struct dmp_ksyms *, const char *name, uint64_t runtime_addr,
                          int64_t *slide);
bool dmp_ksyms_from_tables(const struct dmp_ksyms *);   /* false when the heuristic was used */

#ifdef __cplusplus
}
#endif
#endif
