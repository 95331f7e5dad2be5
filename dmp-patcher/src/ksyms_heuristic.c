/* Fallback symbol "recovery" when an image has no kallsyms tables: guess function starts from
 * the text alone, without decoding it.
 *
 * The x86-64 kernel aligns functions to 16 bytes. What fills the gap before an aligned
 * function depends on where it lies: int3 (0xcc) between sections and after
 * straight-line-speculation `ret; int3`, and the assembler's multi-byte NOPs inside a section
 * (Debian 6.1: `jmp __x86_return_thunk; nopl 0x0(%rax,%rax,1)`). So a 16-byte aligned address
 * `a` is taken as a function start when
 *   (1) the byte before it is 0xcc and its own byte is not, or
 *   (2) the bytes before it are a run of canonical NOPs, and the bytes before that run end a
 *       function: `ret` (c3), `int3` (cc), `ud2` (0f 0b), or `jmp rel32` (e9) whose target
 *       lies inside the text (checking the target keeps a stray 0xe9 from counting);
 * plus the text start itself. Known limits: a function that follows one ending exactly on a
 * 16-byte boundary (no padding) is missed and merged into its predecessor; functions that are
 * not 16-byte aligned (some assembly) are missed; an aligned jump target inside a function
 * after a `jmp` and NOP padding gives a false start. On Debian's 6.1 kernel this finds about
 * 59% of the real function starts with 96% precision (see test_ksyms). Names are
 * "fn_<hex address>", type 't'. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ksyms_internal.h"

/* NOP encodings GNU as emits for x86-64 code alignment (with up to 5 extra 0x66 prefixes on
 * the 10-byte form), longest first. */
static const struct { uint8_t len; uint8_t b[11]; } nops[] = {
    { 11, { 0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0 } },
    { 10, { 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0 } },
    { 9, { 0x66, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0 } },
    { 8, { 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0 } },
    { 7, { 0x0f, 0x1f, 0x80, 0, 0, 0, 0 } },
    { 6, { 0x66, 0x0f, 0x1f, 0x44, 0, 0 } },
    { 5, { 0x0f, 0x1f, 0x44, 0, 0 } },
    { 4, { 0x0f, 0x1f, 0x40, 0 } },
    { 3, { 0x0f, 0x1f, 0 } },
    { 2, { 0x66, 0x90 } },
    { 1, { 0x90 } },
};

/* Length of the NOP that ends exactly at t[end] (exclusive), or 0. Prefix bytes 0x66 in front
 * of the 10-byte form are also accepted. */
static size_t nop_ending_at(const uint8_t *t, size_t end)
{
    for (size_t i = 0; i < sizeof(nops) / sizeof(nops[0]); i++) {
        size_t l = nops[i].len;
        if (end >= l && memcmp(t + end - l, nops[i].b, l) == 0) {
            while (l < 15 && end > l && t[end - l - 1] == 0x66 && nops[i].len >= 10)
                l++;
            return l;
        }
    }
    return 0;
}

/* Does the code before t[end] end with an instruction after which nothing falls through? */
static bool ends_function(const uint8_t *t, size_t end, uint64_t start, uint64_t text_len)
{
    if (end >= 1 && (t[end - 1] == 0xc3 || t[end - 1] == 0xcc))
        return true;
    if (end >= 2 && t[end - 2] == 0x0f && t[end - 1] == 0x0b)
        return true;
    if (end >= 5 && t[end - 5] == 0xe9) {
        int32_t rel;
        memcpy(&rel, t + end - 4, 4);
        int64_t target = (int64_t)end + rel;
        return target >= 0 && (uint64_t)target < text_len;
    }
    return false;
}

static bool looks_like_start(const uint8_t *t, size_t off, uint64_t a, uint64_t start, size_t len)
{
    if (off == 0)
        return true;
    if ((a & 15) != 0 || t[off] == 0xcc)
        return false;
    if (t[off - 1] == 0xcc)
        return true;
    /* Padding is < 16 bytes; walk back over at most that many bytes of NOPs. */
    size_t p = off, pad = 0;
    while (pad < 16) {
        size_t l = nop_ending_at(t, p);
        if (l == 0)
            break;
        p -= l;
        pad += l;
    }
    return pad > 0 && pad < 16 && ends_function(t, p, start, len);
}

int dmp_ksyms_heuristic(struct dmp_kimage *k, struct dmp_ksyms **out, char *err, size_t errlen)
{
    if (!k || !out)
        return -EINVAL;
    *out = NULL;
    uint64_t start, end;
    const uint8_t *t;
    int r = dmp_kimage_text(k, &start, &end, &t);
    if (r < 0) {
        KSYMS_ERR(err, errlen, "heuristic symbols: the image has no known text");
        return r;
    }
    size_t len = end - start, cap = 1024, n = 0;
    struct ksyms_raw *raw = malloc(cap * sizeof(*raw));
    /* "fn_" + 16 hex digits + NUL */
    const size_t name_sz = 20;
    char *arena = malloc(cap * name_sz);
    if (!raw || !arena)
        goto nomem;
    for (size_t off = 0; off < len; off++) {
        uint64_t a = start + off;
        if (!looks_like_start(t, off, a, start, len))
            continue;
        if (n == cap) {
            cap *= 2;
            struct ksyms_raw *nr = realloc(raw, cap * sizeof(*raw));
            if (!nr)
                goto nomem;
            raw = nr;
            char *na = realloc(arena, cap * name_sz);
            if (!na)
                goto nomem;
            arena = na;
        }
        snprintf(arena + n * name_sz, name_sz, "fn_%llx", (unsigned long long)a);
        raw[n] = (struct ksyms_raw){ .name_off = n * name_sz, .addr = a, .type = 't' };
        n++;
    }
    r = ksyms_build(arena, raw, n, end, false, out);
    if (r < 0)
        KSYMS_ERR(err, errlen, "heuristic symbols: out of memory");
    return r;
nomem:
    free(raw);
    free(arena);
    KSYMS_ERR(err, errlen, "heuristic symbols: out of memory");
    return -ENOMEM;
}
