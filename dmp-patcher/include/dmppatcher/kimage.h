/* Guest kernel image access behind one interface.
 *
 * A dmp_kimage is "a Linux x86-64 kernel whose bytes can be read (and maybe written) at
 * kernel virtual addresses", independent of where the bytes live: a vmlinux ELF file, a
 * bzImage (vmlinuz) whose payload is decompressed in memory, or later a live guest reached
 * through Xen foreign mappings. Analysis code (kallsyms recovery, the instruction classifier,
 * the patch planner) only ever talks to this interface, so it works the same on a file and on
 * a running guest.
 *
 * Every length and offset taken from an input file is bounds-checked: malformed input yields
 * an error string naming the problem, never an out-of-bounds access.
 */
#ifndef DMP_KIMAGE_H
#define DMP_KIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One virtual CPU of the guest (live backends); file backends report none. */
struct dmp_vcpu_state {
    uint32_t id;
    uint64_t rip, rsp, cr3;
    bool online;
};

/* A backend: "read/write guest kernel bytes at a virtual address, list vCPU states". */
struct dmp_kbackend_ops {
    const char *name;                                                  /* "vmlinux", "bzimage", "xen-live" */
    int (*read)(void *ctx, uint64_t va, void *buf, size_t len);        /* 0 or -errno */
    int (*write)(void *ctx, uint64_t va, const void *buf, size_t len); /* may be NULL: read-only */
    int (*vcpus)(void *ctx, struct dmp_vcpu_state *out, size_t max, size_t *n); /* may be NULL */
    void (*close)(void *ctx);                                          /* may be NULL */
};

/* A range of kernel virtual addresses known to hold image bytes (an ELF PT_LOAD segment for
 * the file backends; for a live backend, whatever range its creator registers). Symbol
 * recovery scans these. */
#define DMP_KREGION_R 4u
#define DMP_KREGION_W 2u
#define DMP_KREGION_X 1u
struct dmp_kregion {
    uint64_t start, end;   /* [start, end) */
    unsigned flags;        /* DMP_KREGION_* */
    uint64_t data_end;     /* bytes in [data_end, end) are known to read as zero (an ELF
                              segment's p_filesz < p_memsz); == end when unknown. Scanners
                              stop here. */
};

struct dmp_kimage;   /* opaque: backend + discovered layout */

/* Open a vmlinux ELF or a bzImage (gzip, xz or zstd payload) from a file / from memory (the
 * buffer is copied; the caller may free it). On error returns -errno-style negative value
 * and writes a message naming the problem into err. */
int  dmp_kimage_open_file(const char *path, struct dmp_kimage **out, char *err, size_t errlen);
int  dmp_kimage_open_mem(const void *data, size_t len, struct dmp_kimage **out,
                         char *err, size_t errlen);
/* Same, with an explicit bound on the decompressed bzImage payload (open_mem uses 512 MiB);
 * the fuzz target uses a small bound so hostile inputs cannot exhaust memory. */
int  dmp_kimage_open_mem_bounded(const void *data, size_t len, size_t max_decompressed,
                                 struct dmp_kimage **out, char *err, size_t errlen);

/* Wrap any backend (a live guest). The image owns ctx from now on: ops->close(ctx) is called
 * by dmp_kimage_close. No regions are known until dmp_kimage_add_region is called. Returns
 * NULL on allocation failure or when ops->read is missing (ctx then still belongs to the
 * caller). For the file backends, write changes only the in-memory copy, never the file. */
struct dmp_kimage *dmp_kimage_from_backend(const struct dmp_kbackend_ops *ops, void *ctx);
int  dmp_kimage_add_region(struct dmp_kimage *, uint64_t start, uint64_t end, unsigned flags);

void dmp_kimage_close(struct dmp_kimage *);

/* 0 or -errno (-EFAULT: address not backed, -EROFS: backend is read-only). */
int  dmp_kimage_read(struct dmp_kimage *, uint64_t va, void *buf, size_t len);
int  dmp_kimage_write(struct dmp_kimage *, uint64_t va, const void *buf, size_t len);
int  dmp_kimage_vcpus(struct dmp_kimage *, struct dmp_vcpu_state *out, size_t max, size_t *n);

/* Regions known to hold bytes, sorted by start. Returns the count; fills up to max. */
size_t dmp_kimage_regions(const struct dmp_kimage *, struct dmp_kregion *out, size_t max);

/* Contiguous kernel text (.text .. _etext) for analysis: start va, end va, pointer to bytes
 * valid until close (or until the next dmp_kimage_set_text). For the file backends this is the
 * linked (unslid) address. Until refined, it is the file-backed part of the first executable
 * region (for a vmlinux: .text through .rodata, one PT_LOAD); symbol recovery
 * (dmp_ksyms_recover) narrows it to [_stext, _etext). -ENOENT if no text is known. */
int  dmp_kimage_text(struct dmp_kimage *, uint64_t *start, uint64_t *end, const uint8_t **bytes);
/* Set the text bounds explicitly (bytes are read through the backend and cached). */
int  dmp_kimage_set_text(struct dmp_kimage *, uint64_t start, uint64_t end);

/* "vmlinux", "bzimage-xz", "bzimage-gzip", "bzimage-zstd", or the backend's name. */
const char *dmp_kimage_format(const struct dmp_kimage *);

/* bzImage setup header facts (0 when the input was not a bzImage). */
uint16_t dmp_kimage_boot_protocol(const struct dmp_kimage *);   /* e.g. 0x020f */

/* One ELF section of a file image. Some facts exist only in sections that no PT_LOAD maps
 * (.BTF type data read from the file), or that the running kernel frees after boot
 * (.parainstructions), so they must be read from the image file, not through read(). */
struct dmp_ksection {
    const uint8_t *data;   /* section bytes; valid until close, and they reflect any
                              dmp_kimage_write to bytes the section shares with a PT_LOAD */
    size_t size;
    uint64_t va;           /* sh_addr: link-time address, 0 for sections not loaded */
};

/* True for the file backends (vmlinux, bzImage), whose ELF section headers
 * dmp_kimage_section can read; false for a live backend. */
bool dmp_kimage_has_sections(const struct dmp_kimage *);
/* Look up a section by name (the first one of that name). -ENOENT: no such section, no
 * section header table, an SHT_NOBITS section (no file bytes), or a live backend; -EINVAL: a
 * section header table, name or section extending past the ELF. err names the problem. */
int  dmp_kimage_section(struct dmp_kimage *, const char *name, struct dmp_ksection *out,
                        char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
