/* Symbol recovery from the kernel's own kallsyms tables.
 *
 * Layout (scripts/kallsyms.c, each table 8-byte aligned, in .rodata, Linux 6.1 order):
 *   kallsyms_offsets        int32[N]   (KALLSYMS_BASE_RELATIVE; else kallsyms_addresses u64[N])
 *   kallsyms_relative_base  u64        (relocated at boot: the runtime address in a live guest)
 *   kallsyms_num_syms       u32 N
 *   kallsyms_names          N entries: length (1 byte, or 2 bytes when the high bit of the
 *                           first is set: len = (b0 & 0x7f) | b1 << 7), then `length` token
 *                           indices; the expansion's first char is the nm type letter
 *   kallsyms_markers        u32[(N+255)/256]: offset in names of every 256th entry
 *   (kallsyms_seqs_of_names 3*N bytes, in newer and some 6.1-stable kernels)
 *   kallsyms_token_table    256 NUL-terminated strings
 *   kallsyms_token_index    u16[256]: offset of each token in the token table
 * With KALLSYMS_ABSOLUTE_PERCPU (x86-64 SMP) an offset >= 0 is an absolute value (per-CPU
 * symbols) and a negative one means relative_base - 1 - offset.
 *
 * None of these tables has a symbol we could look up, so they are found by structure:
 *   1. token_index: 256 strictly increasing u16 starting at 0, immediately preceded by a token
 *      table whose 256 printable strings end exactly where the index says;
 *   2. num_syms + names: a u32 N followed by N entries that all expand (through those tokens)
 *      to printable names with a type letter, and whose every 256th offset equals the
 *      kallsyms_markers array that follows;
 *   3. the address table before num_syms, accepted only if it decodes to a sorted list in which
 *      _stext/startup_64 lies inside the image.
 * Each step is checked against the next, so a false candidate at one step is rejected there.
 * All reads go through dmp_kimage_read, region by region, so the same code runs on a file and
 * on a live guest's memory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ksyms_internal.h"

/* Any kernel has thousands of symbols; tiny counts are just small integers in data. */
#define KSYM_MIN_SYMS   64
#define KSYM_MAX_SYMS   (1u << 22)      /* a kernel has ~10^5 symbols; 4M bounds the work */
#define KSYM_MAX_NAME   1024            /* expanded name bound (KSYM_NAME_LEN is 512 in 6.1) */
#define SCAN_MAX_REGION ((size_t)512 << 20)
#define READ_CHUNK      ((size_t)1 << 20)
#define PAGE            4096u
#define MAX_TOKEN_TABLES 16             /* candidates per region */

struct kbuf {
    const uint8_t *b;
    size_t n;
    uint64_t va;   /* address of b[0] */
};

struct tokens {
    const uint8_t *str[256];
    uint16_t len[256];
};

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* Offset in kb of the first position >= off whose address is a multiple of a. */
static size_t align_up(const struct kbuf *kb, size_t off, unsigned a)
{
    uint64_t mis = (kb->va + off) & (a - 1);
    return mis ? off + (a - mis) : off;
}

static bool printable(uint8_t c)
{
    return c > 0x20 && c < 0x7f;
}

/* Step 1: is there a kallsyms_token_index at p (with its token table right before it)? */
static bool token_index_at(const struct kbuf *kb, size_t p, struct tokens *t, size_t *tt_off)
{
    if (p > kb->n || kb->n - p < 512)
        return false;
    const uint8_t *ix = kb->b + p;
    if (rd16(ix) != 0)
        return false;
    uint16_t idx[256];
    idx[0] = 0;
    for (int i = 1; i < 256; i++) {
        idx[i] = rd16(ix + 2 * i);
        if (idx[i] < idx[i - 1] + 2)   /* every token is >= 1 char plus NUL */
            return false;
    }
    /* Walk back over the last token's NUL and the alignment padding. */
    size_t q = p;
    unsigned zeros = 0;
    while (q > 0 && kb->b[q - 1] == 0 && zeros < 64) {
        q--;
        zeros++;
    }
    if (zeros == 0 || zeros == 64)
        return false;
    size_t s = q;   /* q: one past the last token's last char */
    unsigned l = 0;
    while (s > 0 && kb->b[s - 1] != 0 && l < 256) {
        s--;
        l++;
    }
    if (l == 0 || l == 256 || s < idx[255])
        return false;
    size_t tt = s - idx[255];
    for (int i = 0; i < 256; i++) {
        size_t a = tt + idx[i];
        size_t e = i < 255 ? tt + idx[i + 1] - 1 : q;   /* position of the NUL */
        if (e >= p || e <= a || kb->b[e] != 0)
            return false;
        for (size_t k = a; k < e; k++)
            if (!printable(kb->b[k]))
                return false;
        t->str[i] = kb->b + a;
        t->len[i] = (uint16_t)(e - a);
    }
    *tt_off = tt;
    return true;
}

/* Decode one kallsyms_names entry at *pos (< limit) into out (NUL-terminated, includes the
 * type char). Advances *pos. */
static bool decode_entry(const struct kbuf *kb, size_t *pos, size_t limit, const struct tokens *t,
                         char *out, size_t *outlen)
{
    size_t p = *pos;
    if (p >= limit)
        return false;
    size_t len = kb->b[p++];
    if (len & 0x80) {
        if (p >= limit)
            return false;
        len = (len & 0x7f) | (size_t)kb->b[p++] << 7;
    }
    if (len < 1 || len > limit - p)
        return false;
    size_t o = 0;
    for (size_t k = 0; k < len; k++) {
        uint8_t tok = kb->b[p + k];
        if (o + t->len[tok] >= KSYM_MAX_NAME)
            return false;
        memcpy(out + o, t->str[tok], t->len[tok]);
        o += t->len[tok];
    }
    out[o] = 0;
    /* The first char is an nm type letter; restricting it to the letters nm emits is what
     * makes random bytes (which also expand to printable strings) fail this check early. */
    if (o < 2 || !strchr("AaBbDdGgRrSsTtVvWwUuNn?", out[0]))
        return false;
    *pos = p + len;
    *outlen = o;
    return true;
}

/* Names decoded from a candidate kallsyms_names. */
struct names {
    char *arena;
    size_t arena_len, arena_cap;
    struct ksyms_raw *raw;   /* addr filled later */
    uint32_t *marks;         /* offset of entry 256k */
    size_t n, end;           /* entries; offset in kb one past the last entry */
    long stext, etext, text, startup;   /* indices of the anchor symbols, -1 if absent */
};

static void names_free(struct names *nm)
{
    free(nm->arena);
    free(nm->raw);
    free(nm->marks);
    memset(nm, 0, sizeof(*nm));
}

static int arena_add(struct names *nm, const char *s, size_t len)
{
    if (nm->arena_cap - nm->arena_len < len + 1) {
        size_t ncap = nm->arena_cap ? nm->arena_cap * 2 : ((size_t)1 << 20);
        while (ncap - nm->arena_len < len + 1)
            ncap *= 2;
        char *na = realloc(nm->arena, ncap);
        if (!na)
            return -ENOMEM;
        nm->arena = na;
        nm->arena_cap = ncap;
    }
    memcpy(nm->arena + nm->arena_len, s, len);
    nm->arena[nm->arena_len + len] = 0;
    nm->arena_len += len + 1;
    return 0;
}

/* Step 2: decode N entries starting at off; check against the markers that follow. */
static int decode_names(const struct kbuf *kb, size_t off, size_t limit, uint32_t n,
                        const struct tokens *t, struct names *nm, size_t *budget)
{
    char buf[KSYM_MAX_NAME + 1];
    size_t len, pos = off;
    /* Cheap rejection before allocating: the first entries must decode. */
    for (uint32_t i = 0; i < n && i < 16; i++)
        if (!decode_entry(kb, &pos, limit, t, buf, &len))
            return -EAGAIN;
    memset(nm, 0, sizeof(*nm));
    nm->stext = nm->etext = nm->text = nm->startup = -1;
    size_t nmarks = ((size_t)n + 255) / 256;
    nm->raw = malloc((size_t)n * sizeof(*nm->raw));
    nm->marks = malloc(nmarks * sizeof(*nm->marks));
    if (!nm->raw || !nm->marks) {
        names_free(nm);
        return -ENOMEM;
    }
    pos = off;
    for (uint32_t i = 0; i < n; i++) {
        if (*budget == 0) {
            names_free(nm);
            return -ETIME;
        }
        --*budget;
        if (i % 256 == 0)
            nm->marks[i / 256] = (uint32_t)(pos - off);
        if (!decode_entry(kb, &pos, limit, t, buf, &len)) {
            names_free(nm);
            return -EINVAL;
        }
        nm->raw[i] = (struct ksyms_raw){ .name_off = nm->arena_len, .addr = 0, .type = buf[0] };
        if (arena_add(nm, buf + 1, len - 1) < 0) {
            names_free(nm);
            return -ENOMEM;
        }
        const char *name = buf + 1;
        if (!strcmp(name, "_stext"))
            nm->stext = i;
        else if (!strcmp(name, "_etext"))
            nm->etext = i;
        else if (!strcmp(name, "_text"))
            nm->text = i;
        else if (!strcmp(name, "startup_64"))
            nm->startup = i;
    }
    nm->n = n;
    nm->end = pos;
    /* kallsyms_markers: u32 (6.x) or unsigned long (older) entries, after alignment. */
    static const unsigned aligns[] = { 8, 4 };
    static const unsigned widths[] = { 4, 8 };
    for (int ai = 0; ai < 2; ai++)
        for (int wi = 0; wi < 2; wi++) {
            size_t m = align_up(kb, pos, aligns[ai]);
            unsigned w = widths[wi];
            if (m > kb->n || (kb->n - m) / w < nmarks)
                continue;
            size_t k = 0;
            for (; k < nmarks; k++) {
                uint64_t v = w == 4 ? rd32(kb->b + m + k * w) : rd64(kb->b + m + k * w);
                if (v != nm->marks[k])
                    break;
            }
            if (k == nmarks)
                return 0;
        }
    names_free(nm);
    return -EINVAL;
}

struct ksyms_regions {
    struct dmp_kregion r[64];
    size_t n;
};

static bool in_regions(const struct ksyms_regions *rs, uint64_t a)
{
    for (size_t i = 0; i < rs->n; i++)
        if (a >= rs->r[i].start && a < rs->r[i].end)
            return true;
    return false;
}

enum addr_mode { ADDR_REL_PERCPU, ADDR_REL, ADDR_ABS };

/* Step 3: fill nm->raw[].addr from the table that precedes num_syms (at offset p). */
static bool decode_addresses(const struct kbuf *kb, size_t p, struct names *nm, enum addr_mode mode,
                             const struct ksyms_regions *rs)
{
    size_t n = nm->n;
    if (mode == ADDR_ABS) {
        size_t end = p - ((kb->va + p) & 7);   /* table ends at num_syms' 8-aligned slot */
        if (end < 8 * n)
            return false;
        size_t start = end - 8 * n;
        for (size_t i = 0; i < n; i++)
            nm->raw[i].addr = rd64(kb->b + start + 8 * i);
    } else {
        if (p < 8)
            return false;
        size_t rb_off = p - 8 - ((kb->va + p - 8) & 7);
        size_t span = (4 * n + 7) & ~(size_t)7;
        if (rb_off < span)
            return false;
        size_t start = rb_off - span;
        uint64_t base = rd64(kb->b + rb_off);
        for (size_t i = 0; i < n; i++) {
            int32_t o = (int32_t)rd32(kb->b + start + 4 * i);
            if (mode == ADDR_REL)
                nm->raw[i].addr = base + (uint32_t)o;
            else
                nm->raw[i].addr = o >= 0 ? (uint64_t)o : base - 1 - (uint64_t)(int64_t)o;
        }
    }
    /* kallsyms is emitted sorted by address. */
    for (size_t i = 1; i < n; i++)
        if (nm->raw[i].addr < nm->raw[i - 1].addr)
            return false;
    long anchor = nm->stext >= 0 ? nm->stext : nm->startup >= 0 ? nm->startup : nm->text;
    return anchor >= 0 && in_regions(rs, nm->raw[anchor].addr);
}

/* Search one region's bytes. 1 found (nm filled), 0 not found, <0 error. `stage` records how far
 * the best candidate got, for the error message. */
static int search_region(const struct kbuf *kb, const struct ksyms_regions *rs, struct names *nm,
                         int *stage)
{
    struct tokens t;
    unsigned tables = 0;
    for (size_t ti = align_up(kb, 0, 2); ti + 512 <= kb->n; ti += 2) {
        size_t tt;
        if (kb->b[ti] != 0 || kb->b[ti + 1] != 0 || !token_index_at(kb, ti, &t, &tt))
            continue;
        /* A real image has exactly one token table; bound the work hostile input can cause. */
        if (++tables > MAX_TOKEN_TABLES)
            break;
        /* Full decodes of false candidates are the expensive part: bound the total work a
         * hostile image can cause to a few passes over the region. */
        size_t budget = 4 * kb->n + ((size_t)1 << 20);
        if (*stage < 1)
            *stage = 1;
        /* num_syms is 4-byte aligned and precedes names, which precede the token table. */
        for (size_t p = align_up(kb, 0, 4); p + 8 <= tt; p += 4) {
            uint32_t n = rd32(kb->b + p);
            if (n < KSYM_MIN_SYMS || n > KSYM_MAX_SYMS)
                continue;
            size_t names_off = align_up(kb, p + 4, 8);
            bool pad_ok = names_off < tt;
            for (size_t k = p + 4; pad_ok && k < names_off; k++)
                pad_ok = kb->b[k] == 0;
            if (!pad_ok)
                continue;
            int r = decode_names(kb, names_off, tt, n, &t, nm, &budget);
            if (r == -ENOMEM)
                return r;
            if (r == -EAGAIN)
                continue;
            if (r == -ETIME)
                break;
            if (r < 0)
                continue;
            if (*stage < 2)
                *stage = 2;
            static const enum addr_mode modes[] = { ADDR_REL_PERCPU, ADDR_REL, ADDR_ABS };
            for (int m = 0; m < 3; m++)
                if (decode_addresses(kb, p, nm, modes[m], rs))
                    return 1;
            names_free(nm);
        }
    }
    return 0;
}

/* Read a region through the backend; unreadable pages (a live guest's holes) read as zero. */
static int read_region(struct dmp_kimage *k, uint64_t start, size_t len, uint8_t **out)
{
    uint8_t *b = malloc(len ? len : 1);
    if (!b)
        return -ENOMEM;
    for (size_t off = 0; off < len; off += READ_CHUNK) {
        size_t n = len - off < READ_CHUNK ? len - off : READ_CHUNK;
        if (dmp_kimage_read(k, start + off, b + off, n) == 0)
            continue;
        for (size_t po = 0; po < n; po += PAGE) {
            size_t pn = n - po < PAGE ? n - po : PAGE;
            if (dmp_kimage_read(k, start + off + po, b + off + po, pn) < 0)
                memset(b + off + po, 0, pn);
        }
    }
    *out = b;
    return 0;
}

int dmp_ksyms_recover(struct dmp_kimage *k, struct dmp_ksyms **out, char *err, size_t errlen)
{
    if (!k || !out)
        return -EINVAL;
    *out = NULL;
    struct ksyms_regions rs;
    rs.n = dmp_kimage_regions(k, rs.r, 64);
    if (rs.n > 64)
        rs.n = 64;
    if (rs.n == 0) {
        KSYMS_ERR(err, errlen, "kallsyms: the image has no known memory regions to scan");
        return -ENOENT;
    }
    /* kallsyms lives in .rodata: scan read-only regions first, then the rest. */
    size_t order[64], no = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < rs.n; i++)
            if (!!(rs.r[i].flags & DMP_KREGION_W) == pass)
                order[no++] = i;
    int stage = 0;
    struct names nm;
    memset(&nm, 0, sizeof(nm));
    for (size_t oi = 0; oi < no; oi++) {
        const struct dmp_kregion *r = &rs.r[order[oi]];
        uint64_t end = r->data_end && r->data_end < r->end ? r->data_end : r->end;
        if (end <= r->start)
            continue;
        size_t len = end - r->start > SCAN_MAX_REGION ? SCAN_MAX_REGION : end - r->start;
        uint8_t *b;
        int rr = read_region(k, r->start, len, &b);
        if (rr < 0) {
            KSYMS_ERR(err, errlen, "kallsyms: out of memory reading %zu bytes", len);
            return rr;
        }
        struct kbuf kb = { b, len, r->start };
        rr = search_region(&kb, &rs, &nm, &stage);
        free(b);
        if (rr < 0) {
            KSYMS_ERR(err, errlen, "kallsyms: out of memory decoding names");
            return rr;
        }
        if (rr == 1)
            break;
    }
    if (!nm.raw) {
        static const char *const why[] = {
            "no kallsyms_token_table/kallsyms_token_index found (kernel without CONFIG_KALLSYMS, "
            "or not an x86-64 Linux image); dmp_ksyms_heuristic() can guess function starts",
            "kallsyms token table found, but no kallsyms_num_syms/kallsyms_names matching "
            "kallsyms_markers",
            "kallsyms names found, but no address table (kallsyms_offsets + relative_base or "
            "kallsyms_addresses) that is sorted and puts _stext inside the image",
        };
        KSYMS_ERR(err, errlen, "kallsyms: %s", why[stage]);
        return -ENOENT;
    }
    uint64_t stext = 0, etext = 0;
    if (nm.stext >= 0 && nm.etext >= 0) {
        stext = nm.raw[nm.stext].addr;
        etext = nm.raw[nm.etext].addr;
    }
    struct ksyms_raw *raw = nm.raw;
    char *arena = nm.arena;
    size_t n = nm.n;
    free(nm.marks);
    int r = ksyms_build(arena, raw, n, etext > stext ? etext : 0, true, out);
    if (r < 0) {
        KSYMS_ERR(err, errlen, "kallsyms: out of memory building the table");
        return r;
    }
    if (etext > stext) {
        r = dmp_kimage_set_text(k, stext, etext);
        if (r < 0) {
            KSYMS_ERR(err, errlen, "kallsyms: text [_stext 0x%llx, _etext 0x%llx) is not readable: %s",
                     (unsigned long long)stext, (unsigned long long)etext, strerror(-r));
            dmp_ksyms_free(*out);
            *out = NULL;
            return r;
        }
    }
    return 0;
}
