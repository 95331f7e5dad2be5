/* bzImage (vmlinuz): parse the x86 boot protocol setup header, find the compressed payload
 * and decompress it. The payload is the (stripped) vmlinux ELF.
 * Reference for the header layout: Documentation/x86/boot.rst (boot protocol 2.08+ carries
 * payload_offset/payload_length). */
#include <errno.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "kimage_internal.h"

#define HDR_SETUP_SECTS   0x1f1
#define HDR_BOOT_FLAG     0x1fe
#define HDR_MAGIC         0x202
#define HDR_VERSION       0x206
#define HDR_PAYLOAD_OFF   0x248
#define HDR_PAYLOAD_LEN   0x24c
#define HDR_INIT_SIZE     0x260
#define HDR_MIN_LEN       0x250   /* through payload_length */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }

/* Growable output buffer bounded by max. */
struct outbuf {
    uint8_t *p;
    size_t len, cap, max;
};

static int out_grow(struct outbuf *o)
{
    if (o->cap >= o->max)
        return -EFBIG;
    size_t ncap = o->cap ? o->cap * 2 : ((size_t)1 << 20);
    if (ncap > o->max || ncap < o->cap)
        ncap = o->max;
    uint8_t *n = realloc(o->p, ncap);
    if (!n)
        return -ENOMEM;
    o->p = n;
    o->cap = ncap;
    return 0;
}

static int unxz(const uint8_t *in, size_t inlen, struct outbuf *o, char *err, size_t errlen)
{
    lzma_stream s = LZMA_STREAM_INIT;
    /* The kernel's xz uses a dictionary of at most a few MiB; 256 MiB bounds a hostile one. */
    if (lzma_stream_decoder(&s, (uint64_t)256 << 20, 0) != LZMA_OK)
        return kimage_err(err, errlen, -ENOMEM, "xz: cannot initialise decoder");
    s.next_in = in;
    s.avail_in = inlen;
    int r = 0;
    for (;;) {
        if (o->len == o->cap && (r = out_grow(o)) < 0)
            break;
        s.next_out = o->p + o->len;
        s.avail_out = o->cap - o->len;
        /* LZMA_FINISH: all input is present; the stream must end within it. */
        lzma_ret lr = lzma_code(&s, LZMA_FINISH);
        o->len = o->cap - s.avail_out;
        if (lr == LZMA_STREAM_END)
            break;
        if (lr == LZMA_OK && s.avail_out == 0)
            continue;
        r = kimage_err(err, errlen, -EINVAL, "xz: corrupt or truncated payload (liblzma error %d)",
                       (int)lr);
        break;
    }
    lzma_end(&s);
    return r;
}

static int ungzip(const uint8_t *in, size_t inlen, struct outbuf *o, char *err, size_t errlen)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return kimage_err(err, errlen, -ENOMEM, "gzip: cannot initialise decoder");
    /* zlib counts in uInt; a kernel payload is far below 4 GiB, and inlen came from a u32. */
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)inlen;
    int r = 0;
    for (;;) {
        if (o->len == o->cap && (r = out_grow(o)) < 0)
            break;
        size_t room = o->cap - o->len;
        if (room > 0x40000000u)
            room = 0x40000000u;
        z.next_out = o->p + o->len;
        z.avail_out = (uInt)room;
        int zr = inflate(&z, Z_FINISH);
        o->len += room - z.avail_out;
        if (zr == Z_STREAM_END)
            break;
        if ((zr == Z_BUF_ERROR || zr == Z_OK) && z.avail_out == 0)
            continue;
        r = kimage_err(err, errlen, -EINVAL, "gzip: corrupt or truncated payload (zlib error %d)",
                       zr);
        break;
    }
    inflateEnd(&z);
    return r;
}

static int unzstd(const uint8_t *in, size_t inlen, struct outbuf *o, char *err, size_t errlen)
{
    ZSTD_DStream *d = ZSTD_createDStream();
    if (!d)
        return kimage_err(err, errlen, -ENOMEM, "zstd: cannot initialise decoder");
    /* Bound the window a hostile frame may ask for (the kernel uses <= 2^27). */
    ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 27);
    ZSTD_inBuffer ib = { in, inlen, 0 };
    int r = 0;
    for (;;) {
        if (o->len == o->cap && (r = out_grow(o)) < 0)
            break;
        ZSTD_outBuffer ob = { o->p, o->cap, o->len };
        size_t in_before = ib.pos, out_before = ob.pos;
        size_t zr = ZSTD_decompressStream(d, &ob, &ib);
        o->len = ob.pos;
        if (ZSTD_isError(zr)) {
            r = kimage_err(err, errlen, -EINVAL, "zstd: corrupt payload (%s)",
                           ZSTD_getErrorName(zr));
            break;
        }
        if (zr == 0)
            break;   /* frame complete */
        if ((ib.pos == ib.size && ob.pos < ob.size) ||
            (ib.pos == in_before && ob.pos == out_before)) {
            r = kimage_err(err, errlen, -EINVAL, "zstd: truncated payload");
            break;
        }
    }
    ZSTD_freeDStream(d);
    return r;
}

struct codec {
    const char *name;
    const uint8_t magic[6];
    size_t mlen;
    int (*fn)(const uint8_t *, size_t, struct outbuf *, char *, size_t);
};

/* Magic numbers as the kernel's compressors write them (see lib/decompress.c). */
static const struct codec codecs[] = {
    { "xz",    { 0xfd, '7', 'z', 'X', 'Z', 0x00 }, 6, unxz },
    { "gzip",  { 0x1f, 0x8b }, 2, ungzip },
    { "zstd",  { 0x28, 0xb5, 0x2f, 0xfd }, 4, unzstd },
    { "lz4",   { 0x02, 0x21, 0x4c, 0x18 }, 4, NULL },
    { "lzo",   { 0x89, 0x4c, 0x5a, 0x4f }, 4, NULL },
    { "bzip2", { 'B', 'Z', 'h' }, 3, NULL },
    { "lzma",  { 0x5d, 0x00, 0x00 }, 3, NULL },
};

int kimage_bzimage_extract(const uint8_t *data, size_t len, size_t max_out,
                           uint8_t **out, size_t *outlen, const char **fmt, uint16_t *proto,
                           char *err, size_t errlen)
{
    if (len < HDR_MAGIC + 4 || memcmp(data + HDR_MAGIC, "HdrS", 4) != 0)
        return 0;   /* not a bzImage; the caller tries ELF */
    if (len < HDR_MIN_LEN)
        return kimage_err(err, errlen, -EINVAL, "truncated bzImage: setup header cut at %zu bytes",
                          len);
    if (rd16(data + HDR_BOOT_FLAG) != 0xaa55)
        return kimage_err(err, errlen, -EINVAL, "bzImage: bad boot_flag 0x%04x (want 0xaa55)",
                          rd16(data + HDR_BOOT_FLAG));
    uint16_t version = rd16(data + HDR_VERSION);
    if (version < 0x0208)
        return kimage_err(err, errlen, -ENOTSUP,
                          "bzImage boot protocol %u.%02u too old (need 2.08+ for the payload fields)",
                          version >> 8, version & 0xff);
    unsigned setup_sects = data[HDR_SETUP_SECTS];
    if (setup_sects == 0)
        setup_sects = 4;   /* boot protocol: 0 means 4 for compatibility */
    uint64_t pm_start = (uint64_t)(setup_sects + 1) * 512;
    if (pm_start > len)
        return kimage_err(err, errlen, -EINVAL,
                          "truncated bzImage: setup code (%u sectors) extends past end of file",
                          setup_sects);
    uint64_t poff = rd32(data + HDR_PAYLOAD_OFF), plen = rd32(data + HDR_PAYLOAD_LEN);
    if (poff > len - pm_start)
        return kimage_err(err, errlen, -EINVAL,
                          "bad bzImage payload offset 0x%llx: past end of file",
                          (unsigned long long)poff);
    if (plen > len - pm_start - poff)
        return kimage_err(err, errlen, -EINVAL,
                          "truncated bzImage: payload extends past end of file");
    if (plen < 6)
        return kimage_err(err, errlen, -EINVAL, "bzImage payload too short (%llu bytes)",
                          (unsigned long long)plen);
    const uint8_t *payload = data + pm_start + poff;
    const struct codec *c = NULL;
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
        if (memcmp(payload, codecs[i].magic, codecs[i].mlen) == 0) {
            c = &codecs[i];
            break;
        }
    if (!c)
        return kimage_err(err, errlen, -EINVAL,
                          "bzImage: unknown payload compression (magic %02x %02x %02x %02x)",
                          payload[0], payload[1], payload[2], payload[3]);
    if (!c->fn)
        return kimage_err(err, errlen, -ENOTSUP, "unsupported compression: %s", c->name);

    struct outbuf o = { .max = max_out };
    int r = c->fn(payload, plen, &o, err, errlen);
    if (r == -EFBIG)
        r = kimage_err(err, errlen, r, "bzImage: decompressed %s payload exceeds the %zu MiB limit",
                       c->name, max_out >> 20);
    else if (r == -ENOMEM)
        r = kimage_err(err, errlen, r, "bzImage: out of memory decompressing payload");
    if (r < 0) {
        free(o.p);
        return r;
    }
    if (o.len < 4 || memcmp(o.p, "\177ELF", 4) != 0) {
        free(o.p);
        return kimage_err(err, errlen, -EINVAL,
                          "bzImage: decompressed %s payload is not an ELF vmlinux", c->name);
    }
    static const char *const names[] = { "bzimage-xz", "bzimage-gzip", "bzimage-zstd" };
    *fmt = names[c - codecs];
    *out = o.p;
    *outlen = o.len;
    *proto = version;
    return 1;
}
