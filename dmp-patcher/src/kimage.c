/* The kimage object: one backend plus the layout we know about it (regions, text bounds).
 * File inputs (vmlinux / bzImage) become an in-memory ELF served by kimage_file_ops, so the
 * analysis code sees exactly the interface a live guest backend will offer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmpcommon/util.h"
#include "kimage_internal.h"

/* A live backend may register a few ranges (kernel text, rodata, data ...). */
#define KIMAGE_MAX_REGIONS 64

struct dmp_kimage {
    const struct dmp_kbackend_ops *ops;
    void *ctx;
    struct dmp_kregion regions[KIMAGE_MAX_REGIONS];
    size_t nregions;
    uint64_t text_start, text_end;   /* text_end == 0: not known */
    uint8_t *text;                   /* cached copy of [text_start, text_end) */
    char format[32];
    uint16_t boot_protocol;
};

int kimage_err(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dmp_verrf(err, errlen, code, fmt, ap);
    va_end(ap);
    return code;
}

/* ---- in-memory ELF backend ---- */

static int file_read(void *ctx, uint64_t va, void *buf, size_t len)
{
    struct kimage_file *f = ctx;
    uint8_t *dst = buf;
    while (len) {
        const struct kimage_seg *s = NULL;
        for (size_t i = 0; i < f->nsegs; i++)
            if (va >= f->segs[i].va && va - f->segs[i].va < f->segs[i].memsz) {
                s = &f->segs[i];
                break;
            }
        if (!s)
            return -EFAULT;
        uint64_t rel = va - s->va;
        uint64_t n = s->memsz - rel;
        if (n > len)
            n = len;
        /* Bytes past p_filesz are zero-filled (.bss-like), exactly as the loader does. */
        if (rel < s->filesz) {
            uint64_t fn = s->filesz - rel < n ? s->filesz - rel : n;
            memcpy(dst, f->buf + s->off + rel, fn);
            memset(dst + fn, 0, n - fn);
        } else {
            memset(dst, 0, n);
        }
        dst += n;
        va += n;
        len -= n;
    }
    return 0;
}

/* Writes change the private in-memory copy only (never the file): this lets a patch plan be
 * applied to, and verified on, an image before it goes anywhere near a guest. */
static int file_write(void *ctx, uint64_t va, const void *buf, size_t len)
{
    struct kimage_file *f = ctx;
    const uint8_t *src = buf;
    /* Check the whole range first so a failing write leaves no partial change. */
    for (int pass = 0; pass < 2; pass++) {
        uint64_t a = va;
        size_t left = len;
        while (left) {
            const struct kimage_seg *s = NULL;
            for (size_t i = 0; i < f->nsegs; i++)
                if (a >= f->segs[i].va && a - f->segs[i].va < f->segs[i].filesz) {
                    s = &f->segs[i];
                    break;
                }
            if (!s)
                return -EFAULT;
            uint64_t rel = a - s->va;
            uint64_t n = s->filesz - rel < left ? s->filesz - rel : left;
            if (pass == 1)
                memcpy(f->buf + s->off + rel, src + (a - va), n);
            a += n;
            left -= n;
        }
    }
    return 0;
}

static void file_close(void *ctx)
{
    struct kimage_file *f = ctx;
    if (f) {
        free(f->buf);
        free(f);
    }
}

const struct dmp_kbackend_ops kimage_file_ops = {
    .name = "vmlinux",
    .read = file_read,
    .write = file_write,
    .vcpus = NULL,
    .close = file_close,
};

/* ---- generic object ---- */

struct dmp_kimage *dmp_kimage_from_backend(const struct dmp_kbackend_ops *ops, void *ctx)
{
    if (!ops || !ops->read)
        return NULL;
    struct dmp_kimage *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->ops = ops;
    k->ctx = ctx;
    snprintf(k->format, sizeof(k->format), "%s", ops->name ? ops->name : "backend");
    return k;
}

int dmp_kimage_add_region(struct dmp_kimage *k, uint64_t start, uint64_t end, unsigned flags)
{
    if (!k || end <= start)
        return -EINVAL;
    if (k->nregions == KIMAGE_MAX_REGIONS)
        return -ENOSPC;
    for (size_t i = 0; i < k->nregions; i++)
        if (start < k->regions[i].end && k->regions[i].start < end)
            return -EEXIST;
    /* Keep sorted by start: insertion into a tiny array. */
    size_t pos = k->nregions;
    while (pos > 0 && k->regions[pos - 1].start > start) {
        k->regions[pos] = k->regions[pos - 1];
        pos--;
    }
    k->regions[pos] = (struct dmp_kregion){ start, end, flags, end };
    k->nregions++;
    return 0;
}

size_t dmp_kimage_regions(const struct dmp_kimage *k, struct dmp_kregion *out, size_t max)
{
    if (!k)
        return 0;
    for (size_t i = 0; i < k->nregions && i < max; i++)
        out[i] = k->regions[i];
    return k->nregions;
}

/* Takes ownership of buf (freed on failure too). */
static int open_owned(uint8_t *buf, size_t len, size_t max_out, struct dmp_kimage **out,
                      char *err, size_t errlen)
{
    *out = NULL;
    if (len == 0) {
        free(buf);
        return kimage_err(err, errlen, -EINVAL, "empty input: not a kernel image");
    }
    const char *fmt = "vmlinux";
    uint16_t proto = 0;
    uint8_t *elf = NULL;
    size_t elflen = 0;
    int r = kimage_bzimage_extract(buf, len, max_out, &elf, &elflen, &fmt, &proto, err, errlen);
    if (r < 0) {
        free(buf);
        return r;
    }
    if (r == 1) {
        free(buf);
        buf = elf;
        len = elflen;
    } else if (len < 4 || memcmp(buf, "\177ELF", 4) != 0) {
        free(buf);
        return kimage_err(err, errlen, -EINVAL, "not a kernel image: no ELF or bzImage magic");
    }

    struct kimage_file *f = calloc(1, sizeof(*f));
    if (!f) {
        free(buf);
        return kimage_err(err, errlen, -ENOMEM, "out of memory");
    }
    f->buf = buf;
    f->len = len;
    r = kimage_elf_parse(f, err, errlen);
    if (r < 0) {
        if (proto) {
            /* Say where the bad ELF came from: the user passed a bzImage. */
            char inner[200];
            snprintf(inner, sizeof(inner), "%s", err ? err : "");
            kimage_err(err, errlen, r, "bzImage payload: %s", inner);
        }
        file_close(f);
        return r;
    }
    struct dmp_kimage *k = dmp_kimage_from_backend(&kimage_file_ops, f);
    if (!k) {
        file_close(f);
        return kimage_err(err, errlen, -ENOMEM, "out of memory");
    }
    snprintf(k->format, sizeof(k->format), "%s", fmt);
    k->boot_protocol = proto;
    for (size_t i = 0; i < f->nsegs; i++) {
        r = dmp_kimage_add_region(k, f->segs[i].va, f->segs[i].va + f->segs[i].memsz,
                                  f->segs[i].flags);
        if (r < 0) {
            dmp_kimage_close(k);
            return kimage_err(err, errlen, r, "ELF: overlapping or too many PT_LOAD segments");
        }
        for (size_t j = 0; j < k->nregions; j++)
            if (k->regions[j].start == f->segs[i].va)
                k->regions[j].data_end = f->segs[i].va + f->segs[i].filesz;
    }
    /* Until symbols narrow it, "text" is the file-backed part of the first executable
     * segment (code is never in a zero-filled tail). */
    for (size_t i = 0; i < k->nregions; i++)
        if ((k->regions[i].flags & DMP_KREGION_X) && k->regions[i].data_end > k->regions[i].start) {
            r = dmp_kimage_set_text(k, k->regions[i].start, k->regions[i].data_end);
            if (r < 0) {
                dmp_kimage_close(k);
                return kimage_err(err, errlen, r, "cannot read kernel text segment");
            }
            break;
        }
    *out = k;
    return 0;
}

int dmp_kimage_open_mem_bounded(const void *data, size_t len, size_t max_decompressed,
                                struct dmp_kimage **out, char *err, size_t errlen)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return kimage_err(err, errlen, -ENOMEM, "out of memory (%zu bytes)", len);
    if (len)
        memcpy(copy, data, len);
    return open_owned(copy, len, max_decompressed, out, err, errlen);
}

int dmp_kimage_open_mem(const void *data, size_t len, struct dmp_kimage **out,
                        char *err, size_t errlen)
{
    return dmp_kimage_open_mem_bounded(data, len, KIMAGE_DEFAULT_MAX_DECOMPRESSED, out, err,
                                       errlen);
}

int dmp_kimage_open_file(const char *path, struct dmp_kimage **out, char *err, size_t errlen)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rrc = dmp_read_file(path, &buf, &len);
    if (rrc < 0)
        return kimage_err(err, errlen, rrc, "%s: %s", path, strerror(-rrc));
    int r = open_owned(buf, len, KIMAGE_DEFAULT_MAX_DECOMPRESSED, out, err, errlen);
    if (r < 0 && err && errlen) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", err);
        snprintf(err, errlen, "%s: %s", path, msg);
    }
    return r;
}

void dmp_kimage_close(struct dmp_kimage *k)
{
    if (!k)
        return;
    if (k->ops->close)
        k->ops->close(k->ctx);
    free(k->text);
    free(k);
}

int dmp_kimage_read(struct dmp_kimage *k, uint64_t va, void *buf, size_t len)
{
    if (!k || (!buf && len))
        return -EINVAL;
    if (len && va + len - 1 < va)
        return -EFAULT;   /* wraps around the address space */
    return len ? k->ops->read(k->ctx, va, buf, len) : 0;
}

int dmp_kimage_write(struct dmp_kimage *k, uint64_t va, const void *buf, size_t len)
{
    if (!k || (!buf && len))
        return -EINVAL;
    if (!k->ops->write)
        return -EROFS;
    if (len && va + len - 1 < va)
        return -EFAULT;
    int r = len ? k->ops->write(k->ctx, va, buf, len) : 0;
    /* Keep the cached text coherent with what was written. */
    if (r == 0 && k->text && va < k->text_end && va + len > k->text_start) {
        uint64_t lo = va > k->text_start ? va : k->text_start;
        uint64_t hi = va + len < k->text_end ? va + len : k->text_end;
        memcpy(k->text + (lo - k->text_start), (const uint8_t *)buf + (lo - va), hi - lo);
    }
    return r;
}

int dmp_kimage_vcpus(struct dmp_kimage *k, struct dmp_vcpu_state *out, size_t max, size_t *n)
{
    if (!k || !n)
        return -EINVAL;
    if (!k->ops->vcpus) {
        *n = 0;   /* a file has no running CPUs */
        return 0;
    }
    return k->ops->vcpus(k->ctx, out, max, n);
}

int dmp_kimage_set_text(struct dmp_kimage *k, uint64_t start, uint64_t end)
{
    if (!k || end <= start)
        return -EINVAL;
    /* Kernel text is tens of MiB at most; refuse absurd ranges from a confused caller. */
    if (end - start > ((uint64_t)1 << 30))
        return -E2BIG;
    uint8_t *t = malloc(end - start);
    if (!t)
        return -ENOMEM;
    int r = dmp_kimage_read(k, start, t, end - start);
    if (r < 0) {
        free(t);
        return r;
    }
    free(k->text);
    k->text = t;
    k->text_start = start;
    k->text_end = end;
    return 0;
}

int dmp_kimage_text(struct dmp_kimage *k, uint64_t *start, uint64_t *end, const uint8_t **bytes)
{
    if (!k)
        return -EINVAL;
    if (!k->text)
        return -ENOENT;
    if (start)
        *start = k->text_start;
    if (end)
        *end = k->text_end;
    if (bytes)
        *bytes = k->text;
    return 0;
}

const char *dmp_kimage_format(const struct dmp_kimage *k)
{
    return k ? k->format : "";
}

uint16_t dmp_kimage_boot_protocol(const struct dmp_kimage *k)
{
    return k ? k->boot_protocol : 0;
}

bool dmp_kimage_has_sections(const struct dmp_kimage *k)
{
    return k && k->ops == &kimage_file_ops;
}

int dmp_kimage_section(struct dmp_kimage *k, const char *name, struct dmp_ksection *out,
                       char *err, size_t errlen)
{
    if (!k || !name || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    if (!dmp_kimage_has_sections(k))
        return kimage_err(err, errlen, -ENOENT,
                          "no section %s: a %s image has no ELF sections, only an image file has",
                          name, k->format);
    return kimage_elf_section(k->ctx, name, out, err, errlen);
}
