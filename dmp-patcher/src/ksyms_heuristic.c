/* Fallback symbol "recovery" when an image has no kallsyms tables.
 *
 * The x86-64 kernel aligns functions to 16 bytes and the linker fills the gaps in .text with
 * int3 (0xcc) (vmlinux.lds: `.text : { ... } :text =0xcccc`). So a 16-byte aligned address
 * whose preceding byte is 0xcc and whose own byte is not is very likely a function start.
 * Known limits: a function that follows one ending exactly on a 16-byte boundary is missed
 * (merged into its predecessor); an `int3` after a `jmp`/`ret` (straight-line-speculation
 * padding) that happens to end on a 16-byte boundary inside a function gives a false start.
 * Names are "fn_<hex address>", type 't'; the first symbol is the text start. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ksyms_internal.h"

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
        bool is_start = off == 0 ||
            ((a & 15) == 0 && t[off - 1] == 0xcc && t[off] != 0xcc);
        if (!is_start)
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
