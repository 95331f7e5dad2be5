/* kimage: file backends (vmlinux ELF, bzImage xz/gzip/zstd), bounds checks on hostile input,
 * the generic backend path, and the real Debian kernel when it is installed. */
#include <errno.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "dmppatcher/kimage.h"
#include "dmpcommon/test.h"
#include "ksyms_synth.h"
#include "real_kernel.h"

static char err[512];

/* Open from memory; expect failure whose message contains `want`. */
static void expect_err(const char *what, const void *data, size_t len, int want_rc,
                       const char *want)
{
    struct dmp_kimage *k = (struct dmp_kimage *)1;
    err[0] = 0;
    int r = dmp_kimage_open_mem(data, len, &k, err, sizeof(err));
    if (r >= 0 || k != NULL || strstr(err, want) == NULL || (want_rc && r != want_rc))
        fprintf(stderr, "  %s: rc %d, err \"%s\" (want \"%s\")\n", what, r, err, want);
    CHECK(r < 0);
    CHECK(k == NULL);
    CHECK(strstr(err, want) != NULL);
    if (want_rc)
        CHECK_EQ_U64(r, want_rc);
    dmp_kimage_close(k == (struct dmp_kimage *)1 ? NULL : k);
}

static uint8_t text_bytes[8192];

/* One R-X segment of 8 KiB, memsz 12 KiB (zero tail). */
static uint8_t *tiny_elf(size_t *len)
{
    for (size_t i = 0; i < sizeof(text_bytes); i++)
        text_bytes[i] = (uint8_t)(i * 13 + 1);
    struct synth_seg s = { SYNTH_TEXT_VA, text_bytes, sizeof(text_bytes), 12288, 5 };
    return synth_elf(&s, 1, len);
}

static void test_errors(void)
{
    expect_err("empty", "", 0, -EINVAL, "empty input");
    uint8_t rnd[4096];
    srand(1);
    for (size_t i = 0; i < sizeof(rnd); i++)
        rnd[i] = (uint8_t)rand();
    rnd[0] = 0x42;   /* not 0x7f: no accidental ELF magic */
    expect_err("random", rnd, sizeof(rnd), -EINVAL, "not a kernel image: no ELF or bzImage magic");

    size_t len;
    uint8_t *elf = tiny_elf(&len);
    CHECK(elf != NULL);
    expect_err("truncated ELF header", elf, 40, -EINVAL, "truncated ELF header");
    expect_err("ELF magic only", elf, 4, -EINVAL, "not an ELF");

    uint8_t *e32 = malloc(len);
    memcpy(e32, elf, len);
    e32[4] = 1;   /* ELFCLASS32 */
    synth_put16(e32 + 18, 3);
    expect_err("ELF32", e32, len, -ENOTSUP, "32-bit kernel not supported");
    memcpy(e32, elf, len);
    synth_put16(e32 + 18, 183);   /* EM_AARCH64 */
    expect_err("aarch64", e32, len, -ENOTSUP, "not an x86-64 kernel");
    memcpy(e32, elf, len);
    synth_put64(e32 + 32, len - 10);   /* e_phoff near the end */
    expect_err("phdrs past end", e32, len, -EINVAL, "program headers extend past end of file");
    memcpy(e32, elf, len);
    synth_put64(e32 + 64 + 32, len);   /* p_filesz beyond the file */
    expect_err("PT_LOAD past end", e32, len, -EINVAL, "PT_LOAD 0 extends past end of file");
    memcpy(e32, elf, len);
    synth_put64(e32 + 64 + 40, 100);   /* p_memsz < p_filesz */
    expect_err("filesz > memsz", e32, len, -EINVAL, "p_filesz > p_memsz");
    memcpy(e32, elf, len);
    synth_put64(e32 + 64 + 16, 0x1000);   /* user-half address only */
    expect_err("no kernel segment", e32, len, -EINVAL, "no loadable kernel segment");
    memcpy(e32, elf, len);
    synth_put64(e32 + 64 + 16, 0xfffffffffffff000ull);
    expect_err("wrapping segment", e32, len, -EINVAL, "wraps the address space");
    expect_err("truncated ELF body", elf, 5000, -EINVAL, "PT_LOAD 0 extends past end of file");
    free(e32);

    /* bzImage error paths. */
    size_t blen;
    uint8_t *bz = synth_bzimage(elf, len, 0x020f, &blen);
    CHECK(bz != NULL);
    synth_put32(bz + 0x248, 0x7fffffff);
    expect_err("bad payload offset", bz, blen, -EINVAL, "bad bzImage payload offset");
    synth_put32(bz + 0x248, 0x40);
    synth_put32(bz + 0x24c, (uint32_t)blen);
    expect_err("payload past end", bz, blen, -EINVAL,
               "truncated bzImage: payload extends past end of file");
    synth_put32(bz + 0x24c, (uint32_t)len);
    expect_err("payload is a raw ELF", bz, blen, -EINVAL, "unknown payload compression (magic 7f 45 4c 46)");
    static const uint8_t lz4[] = { 0x02, 0x21, 0x4c, 0x18, 0, 0, 0, 0 };
    memcpy(bz + 1024 + 0x40, lz4, sizeof(lz4));
    expect_err("lz4", bz, blen, -ENOTSUP, "unsupported compression: lz4");
    static const uint8_t bz2[] = { 'B', 'Z', 'h', '9', 0x31, 0x41, 0x59, 0x26 };
    memcpy(bz + 1024 + 0x40, bz2, sizeof(bz2));
    expect_err("bzip2", bz, blen, -ENOTSUP, "unsupported compression: bzip2");
    synth_put16(bz + 0x206, 0x0204);
    expect_err("old protocol", bz, blen, -ENOTSUP, "boot protocol 2.04 too old");
    synth_put16(bz + 0x206, 0x020f);
    synth_put16(bz + 0x1fe, 0x1234);
    expect_err("boot flag", bz, blen, -EINVAL, "bad boot_flag");
    expect_err("setup header cut", bz, 0x220, -EINVAL, "truncated bzImage: setup header");
    synth_put16(bz + 0x1fe, 0xaa55);
    bz[0x1f1] = 200;   /* setup code larger than the file */
    expect_err("setup_sects", bz, 0x1000, -EINVAL, "setup code (200 sectors) extends past end");
    free(bz);
    free(elf);
}

/* Compressors for the round-trip tests, each producing the format the kernel's build uses
 * (gzip: synth_gzip). */
static uint8_t *xz(const uint8_t *in, size_t len, size_t *olen)
{
    size_t cap = lzma_stream_buffer_bound(len);
    uint8_t *o = malloc(cap);
    *olen = 0;
    if (lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, in, len, o, olen, cap) != LZMA_OK) {
        free(o);
        return NULL;
    }
    return o;
}

static uint8_t *zst(const uint8_t *in, size_t len, size_t *olen)
{
    size_t cap = ZSTD_compressBound(len);
    uint8_t *o = malloc(cap);
    *olen = ZSTD_compress(o, cap, in, len, 19);
    if (ZSTD_isError(*olen)) {
        free(o);
        return NULL;
    }
    return o;
}

static void check_tiny(struct dmp_kimage *k, const char *fmt)
{
    CHECK_STREQ(dmp_kimage_format(k), fmt);
    uint8_t b[16];
    CHECK_EQ_U64(dmp_kimage_read(k, SYNTH_TEXT_VA + 100, b, 16), 0);
    CHECK(memcmp(b, text_bytes + 100, 16) == 0);
    /* The tail past p_filesz reads as zero; past p_memsz is not mapped. */
    CHECK_EQ_U64(dmp_kimage_read(k, SYNTH_TEXT_VA + 8190, b, 4), 0);
    CHECK(b[0] == text_bytes[8190] && b[1] == text_bytes[8191] && b[2] == 0 && b[3] == 0);
    CHECK_EQ_U64(dmp_kimage_read(k, SYNTH_TEXT_VA + 12287, b, 2), (uint64_t)-EFAULT);
    CHECK_EQ_U64(dmp_kimage_read(k, SYNTH_TEXT_VA - 1, b, 1), (uint64_t)-EFAULT);
    CHECK_EQ_U64(dmp_kimage_read(k, UINT64_MAX - 3, b, 8), (uint64_t)-EFAULT);
    struct dmp_kregion r[4];
    CHECK_EQ_U64(dmp_kimage_regions(k, r, 4), 1);
    CHECK_EQ_U64(r[0].start, SYNTH_TEXT_VA);
    CHECK_EQ_U64(r[0].end, SYNTH_TEXT_VA + 12288);
    CHECK_EQ_U64(r[0].data_end, SYNTH_TEXT_VA + 8192);
    CHECK(r[0].flags == (DMP_KREGION_R | DMP_KREGION_X));
    uint64_t ts, te;
    const uint8_t *tb;
    CHECK_EQ_U64(dmp_kimage_text(k, &ts, &te, &tb), 0);
    CHECK_EQ_U64(ts, SYNTH_TEXT_VA);
    CHECK_EQ_U64(te, SYNTH_TEXT_VA + 8192);   /* the file-backed part only */
    CHECK(tb && tb[5] == text_bytes[5]);
    /* Writes patch the in-memory copy and the cached text, never past the file bytes. */
    static const uint8_t patch[2] = { 0x0f, 0x0b };
    CHECK_EQ_U64(dmp_kimage_write(k, SYNTH_TEXT_VA + 5, patch, 2), 0);
    CHECK(tb[5] == 0x0f && tb[6] == 0x0b);
    CHECK_EQ_U64(dmp_kimage_read(k, SYNTH_TEXT_VA + 5, b, 2), 0);
    CHECK(b[0] == 0x0f && b[1] == 0x0b);
    CHECK_EQ_U64(dmp_kimage_write(k, SYNTH_TEXT_VA + 8191, patch, 2), (uint64_t)-EFAULT);
    size_t n = 99;
    CHECK_EQ_U64(dmp_kimage_vcpus(k, NULL, 0, &n), 0);
    CHECK_EQ_U64(n, 0);
}

static void test_roundtrips(void)
{
    size_t len;
    uint8_t *elf = tiny_elf(&len);
    struct dmp_kimage *k = NULL;
    CHECK_EQ_U64(dmp_kimage_open_mem(elf, len, &k, err, sizeof(err)), 0);
    if (k) {
        check_tiny(k, "vmlinux");
        CHECK_EQ_U64(dmp_kimage_boot_protocol(k), 0);
        dmp_kimage_close(k);
    }
    static const struct {
        const char *fmt;
        uint8_t *(*fn)(const uint8_t *, size_t, size_t *);
    } codecs[] = { { "bzimage-gzip", synth_gzip }, { "bzimage-xz", xz }, { "bzimage-zstd", zst } };
    for (size_t c = 0; c < 3; c++) {
        size_t clen = 0, blen = 0;
        uint8_t *comp = codecs[c].fn(elf, len, &clen);
        CHECK(comp != NULL);
        if (!comp)
            continue;
        uint8_t *bz = synth_bzimage(comp, clen, 0x020f, &blen);
        CHECK(bz != NULL);
        if (!bz) {
            free(comp);
            continue;
        }
        k = NULL;
        int r = dmp_kimage_open_mem(bz, blen, &k, err, sizeof(err));
        if (r)
            fprintf(stderr, "  %s: %s\n", codecs[c].fmt, err);
        CHECK_EQ_U64(r, 0);
        if (k) {
            check_tiny(k, codecs[c].fmt);
            CHECK_EQ_U64(dmp_kimage_boot_protocol(k), 0x020f);
            dmp_kimage_close(k);
        }
        /* The decompression bound is enforced. */
        r = dmp_kimage_open_mem_bounded(bz, blen, 4096, &k, err, sizeof(err));
        CHECK(r < 0 && strstr(err, "exceeds") != NULL);
        /* Cut the compressed stream (payload_length shrinks with it): a decoder error. */
        synth_put32(bz + 0x24c, (uint32_t)(clen / 2));
        r = dmp_kimage_open_mem(bz, blen, &k, err, sizeof(err));
        CHECK(r < 0 && (strstr(err, "corrupt") || strstr(err, "truncated")));
        free(bz);
        free(comp);
    }
    /* A payload that decompresses to something other than an ELF. */
    size_t clen = 0, blen = 0;
    uint8_t junk[3000];
    memset(junk, 'J', sizeof(junk));
    uint8_t *comp = synth_gzip(junk, sizeof(junk), &clen);
    uint8_t *bz = synth_bzimage(comp, clen, 0x020f, &blen);
    expect_err("payload not ELF", bz, blen, -EINVAL, "payload is not an ELF vmlinux");
    free(bz);
    free(comp);
    /* A bzImage whose payload is a (compressed) 32-bit ELF says both things. */
    elf[4] = 1;
    comp = synth_gzip(elf, len, &clen);
    bz = synth_bzimage(comp, clen, 0x020f, &blen);
    expect_err("payload ELF32", bz, blen, -ENOTSUP, "bzImage payload: 32-bit kernel not supported");
    free(bz);
    free(comp);
    free(elf);
}

/* A live-style backend over an array, to check the generic path. */
struct arr_ctx { uint64_t base; uint8_t mem[256]; int closed; };
static struct arr_ctx arr;

static int arr_read(void *ctx, uint64_t va, void *buf, size_t len)
{
    struct arr_ctx *a = ctx;
    if (va < a->base || va - a->base > sizeof(a->mem) || len > sizeof(a->mem) - (va - a->base))
        return -EFAULT;
    memcpy(buf, a->mem + (va - a->base), len);
    return 0;
}

static int arr_vcpus(void *ctx, struct dmp_vcpu_state *out, size_t max, size_t *n)
{
    *n = 2;
    for (size_t i = 0; i < max && i < 2; i++)
        out[i] = (struct dmp_vcpu_state){ (uint32_t)i, 0xffffffff81000000ull + i, 0, 0x1000, true };
    return 0;
}

static void arr_close(void *ctx) { ((struct arr_ctx *)ctx)->closed = 1; }

static void test_backend(void)
{
    static const struct dmp_kbackend_ops ops = { "test-array", arr_read, NULL, arr_vcpus, arr_close };
    arr.base = 0xffffffff90000000ull;
    for (int i = 0; i < 256; i++)
        arr.mem[i] = (uint8_t)i;
    struct dmp_kimage *k = dmp_kimage_from_backend(&ops, &arr);
    CHECK(k != NULL);
    if (!k)
        return;
    CHECK_STREQ(dmp_kimage_format(k), "test-array");
    uint8_t b[4];
    CHECK_EQ_U64(dmp_kimage_read(k, arr.base + 10, b, 4), 0);
    CHECK(b[0] == 10 && b[3] == 13);
    CHECK_EQ_U64(dmp_kimage_write(k, arr.base, b, 1), (uint64_t)-EROFS);
    CHECK_EQ_U64(dmp_kimage_text(k, NULL, NULL, NULL), (uint64_t)-ENOENT);
    CHECK_EQ_U64(dmp_kimage_add_region(k, arr.base, arr.base + 256, DMP_KREGION_R | DMP_KREGION_X), 0);
    CHECK_EQ_U64(dmp_kimage_add_region(k, arr.base + 16, arr.base + 32, DMP_KREGION_R), (uint64_t)-EEXIST);
    CHECK_EQ_U64(dmp_kimage_set_text(k, arr.base + 16, arr.base + 48), 0);
    const uint8_t *t;
    uint64_t ts, te;
    CHECK_EQ_U64(dmp_kimage_text(k, &ts, &te, &t), 0);
    CHECK(ts == arr.base + 16 && te == arr.base + 48 && t[0] == 16);
    CHECK(dmp_kimage_set_text(k, arr.base + 200, arr.base + 400) < 0);
    struct dmp_vcpu_state v[4];
    size_t n = 0;
    CHECK_EQ_U64(dmp_kimage_vcpus(k, v, 4, &n), 0);
    CHECK_EQ_U64(n, 2);
    CHECK_EQ_U64(v[1].rip, 0xffffffff81000001ull);
    dmp_kimage_close(k);
    CHECK_EQ_U64(arr.closed, 1);
}

static void test_file_errors(void)
{
    struct dmp_kimage *k = NULL;
    int r = dmp_kimage_open_file("/nonexistent/vmlinuz", &k, err, sizeof(err));
    CHECK_EQ_U64(r, (uint64_t)-ENOENT);
    CHECK(strstr(err, "/nonexistent/vmlinuz") != NULL);
    char path[] = "/tmp/test_kimage_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    close(fd);
    r = dmp_kimage_open_file(path, &k, err, sizeof(err));
    CHECK(r < 0 && strstr(err, "empty input") && strstr(err, path));
    unlink(path);
}

static void test_real_kernel(void)
{
    struct real_kernel rk;
    struct dmp_kimage *k = real_kernel_open(&rk);
    if (!k)
        return;
    printf("  %s: %s, boot protocol %x\n", rk.path, dmp_kimage_format(k),
           dmp_kimage_boot_protocol(k));
    CHECK(strncmp(dmp_kimage_format(k), "bzimage-", 8) == 0);
    CHECK(dmp_kimage_boot_protocol(k) >= 0x020c);
    struct dmp_kregion rg[16];
    size_t nr = dmp_kimage_regions(k, rg, 16);
    CHECK(nr >= 2 && nr <= 16);
    uint64_t ts, te;
    const uint8_t *tb;
    CHECK_EQ_U64(dmp_kimage_text(k, &ts, &te, &tb), 0);
    CHECK_EQ_U64(ts, 0xffffffff81000000ull);   /* x86-64 links text here */
    CHECK(te - ts > ((uint64_t)8 << 20));
    uint8_t b[64];
    CHECK_EQ_U64(dmp_kimage_read(k, ts, b, sizeof(b)), 0);
    CHECK(memcmp(b, tb, sizeof(b)) == 0);
    real_kernel_close(&rk);
}

int main(void)
{
    test_errors();
    test_roundtrips();
    test_backend();
    test_file_errors();
    test_real_kernel();
    return DMP_TEST_SUMMARY("test_kimage");
}
