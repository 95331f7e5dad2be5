/* Builders for hand-made kernel images, shared by the kimage/ksyms tests and the fuzz seed
 * generator: a minimal ELF64 x86-64 with chosen PT_LOADs, a bzImage setup header around a
 * payload, and kallsyms tables in the Linux 6.1 x86-64 layout (base-relative offsets with
 * absolute per-CPU symbols). Everything is generated at run time; nothing binary is committed.
 * Static functions in a header: each user is a single translation unit. */
#ifndef DMP_KSYMS_SYNTH_H
#define DMP_KSYMS_SYNTH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct synth_seg {
    uint64_t va;
    const uint8_t *data;
    size_t filesz;
    uint64_t memsz;
    uint32_t flags;   /* PF_X 1, PF_W 2, PF_R 4 */
};

static inline void synth_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void synth_put32(uint8_t *p, uint32_t v) { synth_put16(p, (uint16_t)v); synth_put16(p + 2, (uint16_t)(v >> 16)); }
static inline void synth_put64(uint8_t *p, uint64_t v) { synth_put32(p, (uint32_t)v); synth_put32(p + 4, (uint32_t)(v >> 32)); }

/* gzip (RFC 1952) of in, as the kernel's gzip-compressed bzImage payloads are; malloc'd, or
 * NULL on failure. */
static inline uint8_t *synth_gzip(const uint8_t *in, size_t len, size_t *olen)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&z, len);
    uint8_t *o = malloc(cap);
    int r = Z_MEM_ERROR;
    if (o) {
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)len;
        z.next_out = o;
        z.avail_out = (uInt)cap;
        r = deflate(&z, Z_FINISH);
        *olen = cap - z.avail_out;
    }
    deflateEnd(&z);
    if (r == Z_STREAM_END)
        return o;
    free(o);
    return NULL;
}

/* ELF64 x86-64 EXEC with one PT_LOAD per seg; segment data at 4 KiB aligned file offsets. */
static inline uint8_t *synth_elf(const struct synth_seg *segs, size_t n, size_t *outlen)
{
    size_t off = 4096, total = 4096;
    for (size_t i = 0; i < n; i++)
        total += (segs[i].filesz + 4095) & ~(size_t)4095;
    uint8_t *b = calloc(1, total);
    if (!b)
        return NULL;
    memcpy(b, "\177ELF", 4);
    b[4] = 2; b[5] = 1; b[6] = 1;
    synth_put16(b + 16, 2);        /* ET_EXEC */
    synth_put16(b + 18, 62);       /* EM_X86_64 */
    synth_put32(b + 20, 1);
    synth_put64(b + 24, segs[0].va);
    synth_put64(b + 32, 64);       /* e_phoff */
    synth_put16(b + 52, 64);
    synth_put16(b + 54, 56);
    synth_put16(b + 56, (uint16_t)n);
    for (size_t i = 0; i < n; i++) {
        uint8_t *ph = b + 64 + 56 * i;
        synth_put32(ph, 1);
        synth_put32(ph + 4, segs[i].flags);
        synth_put64(ph + 8, off);
        synth_put64(ph + 16, segs[i].va);
        synth_put64(ph + 24, segs[i].va - 0xffffffff80000000ull);
        synth_put64(ph + 32, segs[i].filesz);
        synth_put64(ph + 40, segs[i].memsz ? segs[i].memsz : segs[i].filesz);
        synth_put64(ph + 48, 4096);
        memcpy(b + off, segs[i].data, segs[i].filesz);
        off += (segs[i].filesz + 4095) & ~(size_t)4095;
    }
    *outlen = total;
    return b;
}

/* bzImage: boot sector + setup header (setup_sects = 1) + payload_offset bytes + payload. */
static inline uint8_t *synth_bzimage(const uint8_t *payload, size_t plen, uint16_t version,
                              size_t *outlen)
{
    const size_t pm = 2 * 512, poff = 0x40;
    uint8_t *b = calloc(1, pm + poff + plen);
    if (!b)
        return NULL;
    b[0] = 'M'; b[1] = 'Z';
    b[0x1f1] = 1;
    synth_put16(b + 0x1fe, 0xaa55);
    memcpy(b + 0x202, "HdrS", 4);
    synth_put16(b + 0x206, version);
    synth_put32(b + 0x248, (uint32_t)poff);
    synth_put32(b + 0x24c, (uint32_t)plen);
    memcpy(b + pm + poff, payload, plen);
    *outlen = pm + poff + plen;
    return b;
}

struct synth_sym {
    const char *name;
    char type;
    uint64_t addr;
    int percpu;   /* absolute per-CPU symbol: stored as a non-negative offset */
};

/* Token table: index c (0x21..0x7e) is the single char c, so names encode one token per char;
 * the other indices get two-char filler tokens that no name uses. */
static inline void synth_token(unsigned i, char out[3])
{
    if (i > 0x20 && i < 0x7f) {
        out[0] = (char)i;
        out[1] = 0;
    } else {
        out[0] = 'q';
        out[1] = (char)('A' + i % 26);
        out[2] = 0;
    }
}

static inline size_t synth_align8(size_t x) { return (x + 7) & ~(size_t)7; }

/* Where each table landed (byte offsets; in the blob, or in the ELF file for synth_kernel). */
struct synth_layout {
    size_t offsets, relative_base, num_syms, names, markers, token_table, token_index;
};

/* kallsyms tables for syms (sorted by address) placed at an 8-aligned va, 6.1 layout. */
static inline uint8_t *synth_kallsyms(const struct synth_sym *syms, size_t n, uint64_t relative_base,
                                      size_t *outlen, struct synth_layout *lay)
{
    size_t cap = 64 + 8 * n + 600 * n + 4 * (n / 256 + 1) + 2048;
    uint8_t *b = calloc(1, cap);
    if (!b)
        return NULL;
    size_t p = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t off = syms[i].percpu ? (int64_t)syms[i].addr
                                     : (int64_t)relative_base - 1 - (int64_t)syms[i].addr;
        synth_put32(b + p + 4 * i, (uint32_t)(int32_t)off);
    }
    lay->offsets = 0;
    p = synth_align8(p + 4 * n);
    lay->relative_base = p;
    synth_put64(b + p, relative_base);
    p += 8;
    lay->num_syms = p;
    synth_put32(b + p, (uint32_t)n);
    p = synth_align8(p + 4);
    size_t names = p;
    lay->names = p;
    uint32_t *marks = calloc(n / 256 + 1, sizeof(*marks));
    if (!marks) {
        free(b);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (i % 256 == 0)
            marks[i / 256] = (uint32_t)(p - names);
        size_t len = strlen(syms[i].name) + 1;   /* type char + name, one token each */
        if (len > 127) {
            b[p++] = (uint8_t)(0x80 | (len & 0x7f));
            b[p++] = (uint8_t)(len >> 7);
        } else {
            b[p++] = (uint8_t)len;
        }
        b[p++] = (uint8_t)syms[i].type;
        for (const char *c = syms[i].name; *c; c++)
            b[p++] = (uint8_t)*c;
    }
    p = synth_align8(p);
    lay->markers = p;
    for (size_t k = 0; k < (n + 255) / 256; k++)
        synth_put32(b + p + 4 * k, marks[k]);
    free(marks);
    p = synth_align8(p + 4 * ((n + 255) / 256));
    size_t tt = p;
    lay->token_table = p;
    uint16_t idx[256];
    for (unsigned i = 0; i < 256; i++) {
        char tok[3];
        synth_token(i, tok);
        idx[i] = (uint16_t)(p - tt);
        memcpy(b + p, tok, strlen(tok) + 1);
        p += strlen(tok) + 1;
    }
    p = synth_align8(p);
    lay->token_index = p;
    for (unsigned i = 0; i < 256; i++)
        synth_put16(b + p + 2 * i, idx[i]);
    p += 512;
    *outlen = synth_align8(p);
    return b;
}

#define SYNTH_TEXT_VA   0xffffffff81000000ull
#define SYNTH_RODATA_VA 0xffffffff82000000ull
#define SYNTH_NSYMS     300
#define SYNTH_TEXT_LEN  (SYNTH_NSYMS * 16 + 16)

/* A complete little "kernel": text of 16-byte int3-padded functions fn0..fnN (fn7's name is
 * 200 chars long, to exercise the 2-byte length encoding), two per-CPU symbols, _stext/_etext,
 * and the kallsyms tables in rodata. names must hold SYNTH_NSYMS + 4 entries of 256 chars. */
static inline uint8_t *synth_kernel(struct synth_sym *syms, char (*names)[256], size_t *nsyms,
                                    size_t *outlen, struct synth_layout *lay)
{
    size_t n = 0;
    syms[n++] = (struct synth_sym){ "fixed_percpu_data", 'A', 0, 1 };
    syms[n++] = (struct synth_sym){ "cpu_tss_rw", 'A', 0x6000, 1 };
    syms[n++] = (struct synth_sym){ "_stext", 'T', SYNTH_TEXT_VA, 0 };
    for (size_t i = 0; i < SYNTH_NSYMS; i++) {
        if (i == 7) {
            memset(names[i], 'x', 200);
            names[i][200] = 0;
        } else {
            snprintf(names[i], 256, "fn%zu", i);
        }
        syms[n++] = (struct synth_sym){ names[i], i % 3 ? 't' : 'T', SYNTH_TEXT_VA + 16 * i, 0 };
    }
    syms[n++] = (struct synth_sym){ "_etext", 'T', SYNTH_TEXT_VA + 16 * SYNTH_NSYMS, 0 };
    *nsyms = n;

    static uint8_t text[SYNTH_TEXT_LEN];
    memset(text, 0xcc, sizeof(text));
    for (size_t i = 0; i < SYNTH_NSYMS; i++) {
        text[16 * i] = 0x90;       /* nop */
        text[16 * i + 1] = 0xc3;   /* ret */
    }
    size_t klen;
    uint8_t *ks = synth_kallsyms(syms, n, SYNTH_TEXT_VA, &klen, lay);
    if (!ks)
        return NULL;
    /* Some unrelated rodata first, so the tables are not at the start of the segment. */
    size_t rlen = 4096 + klen;
    uint8_t *ro = calloc(1, rlen);
    if (!ro) {
        free(ks);
        return NULL;
    }
    for (size_t i = 0; i < 4096; i++)
        ro[i] = (uint8_t)(i * 7);
    memcpy(ro + 4096, ks, klen);
    free(ks);
    struct synth_seg segs[2] = {
        { SYNTH_TEXT_VA, text, sizeof(text), 0, 5 },
        { SYNTH_RODATA_VA, ro, rlen, 0, 4 },
    };
    uint8_t *elf = synth_elf(segs, 2, outlen);
    free(ro);
    /* synth_elf puts segment data at 4 KiB aligned file offsets starting at 4096. */
    size_t blob = 4096 + ((sizeof(text) + 4095) & ~(size_t)4095) + 4096;
    lay->offsets += blob;
    lay->relative_base += blob;
    lay->num_syms += blob;
    lay->names += blob;
    lay->markers += blob;
    lay->token_table += blob;
    lay->token_index += blob;
    return elf;
}

#endif
