/* Internals shared by the kimage_*.c files (not a public interface). */
#ifndef DMP_KIMAGE_INTERNAL_H
#define DMP_KIMAGE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "dmppatcher/kimage.h"

/* Decompressed payloads larger than this are refused: a real x86-64 vmlinux is < 100 MiB, and
 * a small hostile payload must not make us allocate without bound. */
#define KIMAGE_DEFAULT_MAX_DECOMPRESSED ((size_t)512 << 20)
/* An ELF kernel has a handful of PT_LOADs; more is malformed input, not a kernel. */
#define KIMAGE_MAX_SEGMENTS 32

/* One PT_LOAD of an in-memory ELF image. */
struct kimage_seg {
    uint64_t va, memsz;      /* [va, va + memsz) is mapped */
    uint64_t off, filesz;    /* bytes [off, off + filesz) of the buffer back its start; rest is 0 */
    unsigned flags;          /* DMP_KREGION_* */
};

/* Backend context of the file backends: the (decompressed) ELF bytes, owned. */
struct kimage_file {
    uint8_t *buf;
    size_t len;
    struct kimage_seg segs[KIMAGE_MAX_SEGMENTS];
    size_t nsegs;
};

/* printf into err (if non-NULL) and return code: keeps error paths one line long. */
int kimage_err(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parse an ELF64 x86-64 kernel held in buf (ownership stays with caller) into f->segs. */
int kimage_elf_parse(struct kimage_file *f, char *err, size_t errlen);

/* Find section `name` in f's ELF (already accepted by kimage_elf_parse). */
int kimage_elf_section(const struct kimage_file *f, const char *name, struct dmp_ksection *out,
                       char *err, size_t errlen);

/* Recognise a bzImage and decompress its payload into a new malloc'd buffer.
 * Returns 1 and fills out, outlen, fmt and proto when it is a bzImage, 0 when the input has no
 * bzImage signature, negative errno (with err) on a malformed bzImage. */
int kimage_bzimage_extract(const uint8_t *data, size_t len, size_t max_out,
                           uint8_t **out, size_t *outlen, const char **fmt, uint16_t *proto,
                           char *err, size_t errlen);

/* The backend vtable of the in-memory ELF (used by both vmlinux and bzImage inputs). */
extern const struct dmp_kbackend_ops kimage_file_ops;

#endif
