/* libFuzzer target: arbitrary bytes -> image parser (ELF / bzImage + decompression) -> ELF
 * section lookup -> kallsyms recovery -> heuristic fallback -> lookups. Build: make fuzz-kimage; run: fuzz/run.sh <secs>. */
#include <stddef.h>
#include <stdint.h>

#include "dmppatcher/kimage.h"
#include "dmppatcher/ksyms.h"

/* Keep every input cheap: a hostile xz/zstd bomb may not expand beyond this. */
#define FUZZ_MAX_DECOMPRESSED ((size_t)16 << 20)

static void exercise(struct dmp_ksyms *s)
{
    size_t n = dmp_ksyms_count(s);
    for (size_t i = 0; i < n && i < 64; i++) {
        const struct dmp_ksym *x = dmp_ksyms_get(s, i);
        const struct dmp_ksym *y = dmp_ksyms_by_name(s, x->name);
        const struct dmp_ksym *z = dmp_ksyms_by_addr(s, x->addr);
        /* Invariants a caller relies on; abort makes libFuzzer report a finding. */
        if (!y || !z || z->addr != x->addr)
            __builtin_trap();
    }
    int64_t slide;
    if (n && dmp_ksyms_slide_from(s, dmp_ksyms_get(s, n - 1)->name, 0xffffffff82000000ull,
                                  &slide) == 0) {
        dmp_ksyms_set_slide(s, slide);
        dmp_ksyms_set_slide(s, 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dmp_kimage *k = NULL;
    char err[256];
    if (dmp_kimage_open_mem_bounded(data, size, FUZZ_MAX_DECOMPRESSED, &k, err, sizeof(err)) < 0) {
        if (k || !err[0])
            __builtin_trap();   /* failure must leave no object and say why */
        return 0;
    }
    struct dmp_kregion r[8];
    size_t nr = dmp_kimage_regions(k, r, 8);
    uint8_t b[32];
    for (size_t i = 0; i < nr && i < 8; i++) {
        (void)dmp_kimage_read(k, r[i].start, b, sizeof(b));
        (void)dmp_kimage_read(k, r[i].end - 1, b, sizeof(b));
    }
    /* The sections log mode reads (.BTF, .parainstructions): every byte returned must lie
     * inside the input, which ASan checks by touching the first and last. */
    static const char *const sec[] = { ".BTF", ".parainstructions", ".text", "" };
    for (size_t i = 0; i < sizeof(sec) / sizeof(sec[0]); i++) {
        struct dmp_ksection ks;
        if (dmp_kimage_section(k, sec[i], &ks, err, sizeof(err)) == 0 && ks.size) {
            volatile uint8_t t = ks.data[0];
            t ^= ks.data[ks.size - 1];
            (void)t;
        }
    }
    struct dmp_ksyms *s = NULL;
    if (dmp_ksyms_recover(k, &s, err, sizeof(err)) == 0) {
        exercise(s);
        dmp_ksyms_free(s);
    }
    s = NULL;
    if (dmp_ksyms_heuristic(k, &s, err, sizeof(err)) == 0) {
        exercise(s);
        dmp_ksyms_free(s);
    }
    dmp_kimage_close(k);
    return 0;
}
