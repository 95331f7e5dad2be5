/* Sampling estimator: the selector's guarantees, and the estimate against synthetic guests
 * whose true working set is known (uniform, shifting, a scan larger than memory). */
#include "dmpcommon/test.h"
#include "dmpballoon/wss_sampling.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define G_PAGES 65536u      /* 256 MiB guest */

static void test_selector(void)
{
    struct dmp_rng rng;
    dmp_rng_seed(&rng, 42);
    struct dmp_gfn_range r[] = { { 0, 160 }, { 256, 1000 }, { 1 << 20, 500 } };
    uint64_t hot[] = { 5, 300, 301, 302, (1 << 20) + 7 };
    struct dmp_gfn_set hs = { hot, 5 };
    uint64_t out[400];
    long n = dmp_wss_select_sample(&rng, r, 3, dmp_gfn_set_contains, &hs, out, 400);
    CHECK_EQ_U64(n, 400);
    bool ok_range = true, ok_order = true, ok_hot = true;
    for (long i = 0; i < n; i++) {
        bool in = false;
        for (int k = 0; k < 3; k++)
            in |= out[i] >= r[k].start && out[i] < r[k].start + r[k].count;
        ok_range &= in;
        if (i > 0)
            ok_order &= out[i] > out[i - 1];    /* ascending and therefore distinct */
        ok_hot &= !dmp_gfn_set_contains(&hs, out[i]);
    }
    CHECK(ok_range);
    CHECK(ok_order);
    CHECK(ok_hot);

    /* Same seed, same sample: the run can be replayed. */
    uint64_t again[400];
    dmp_rng_seed(&rng, 42);
    CHECK_EQ_U64(dmp_wss_select_sample(&rng, r, 3, dmp_gfn_set_contains, &hs, again, 400), 400);
    CHECK(memcmp(out, again, sizeof(out)) == 0);

    /* Fewer eligible pages than asked: every eligible page, once. */
    struct dmp_gfn_range small[] = { { 10, 8 } };
    uint64_t hot2[] = { 11, 12, 13 };
    struct dmp_gfn_set hs2 = { hot2, 3 };
    uint64_t o2[16];
    long m = dmp_wss_select_sample(&rng, small, 1, dmp_gfn_set_contains, &hs2, o2, 16);
    CHECK_EQ_U64(m, 5);
    uint64_t want[] = { 10, 14, 15, 16, 17 };
    CHECK(m == 5 && memcmp(o2, want, sizeof(want)) == 0);

    /* Overlapping ranges are refused rather than silently producing duplicates. */
    struct dmp_gfn_range bad[] = { { 0, 10 }, { 5, 10 } };
    CHECK(dmp_wss_select_sample(&rng, bad, 2, NULL, NULL, o2, 4) == -EINVAL);

    /* Uniformity: 10 equal slices of 10000 pages each get their share of 200000 draws. */
    struct dmp_gfn_range big[] = { { 0, 100000 } };
    unsigned slice[10] = { 0 };
    for (int it = 0; it < 500; it++) {
        uint64_t o3[400];
        long k = dmp_wss_select_sample(&rng, big, 1, NULL, NULL, o3, 400);
        for (long i = 0; i < k; i++)
            slice[o3[i] / 10000]++;
    }
    bool uniform = true;
    for (int s = 0; s < 10; s++)
        uniform &= slice[s] > 19000 && slice[s] < 21000;    /* sd ~134: +-7 sd */
    CHECK(uniform);
}

/* A synthetic guest: each interval it makes `accesses` uniform touches over the pages
 * [base, base + wss); the host samples and counts touched sampled pages. */
struct guest {
    uint64_t pages, wss, base, accesses;
    uint8_t *sampled;   /* bitmap per page: 1 = access invalidated, 2 = touched */
};

static uint32_t run_interval(struct guest *g, struct dmp_rng *rng, uint32_t n, uint32_t *touched)
{
    struct dmp_gfn_range r = { 0, g->pages };
    uint64_t *s = malloc(n * sizeof(*s));
    long k = dmp_wss_select_sample(rng, &r, 1, NULL, NULL, s, n);
    memset(g->sampled, 0, g->pages);
    for (long i = 0; i < k; i++)
        g->sampled[s[i]] = 1;
    for (uint64_t a = 0; a < g->accesses; a++) {
        uint64_t p = (g->base + dmp_rng_below(rng, g->wss)) % g->pages;
        if (g->sampled[p])
            g->sampled[p] = 2;
    }
    uint32_t t = 0;
    for (long i = 0; i < k; i++)
        t += g->sampled[s[i]] == 2;
    free(s);
    *touched = t;
    return (uint32_t)k;
}

static double rel_err(uint64_t est_bytes, uint64_t true_pages)
{
    double t = (double)true_pages * DMP_PAGE_SIZE;
    return fabs((double)est_bytes - t) / t;
}

/* A 512 MiB guest lies below the hole; a 6 GiB one continues at 4 GiB; max_gpfn clips both
 * (a guest still being built, or ballooned down at the top). */
static void test_guest_ranges(void)
{
    struct dmp_gfn_range r[2];
    CHECK_EQ_U64(dmp_wss_guest_ranges(131072, 0xfffff, r), 1);
    CHECK_EQ_U64(r[0].start, 0);
    CHECK_EQ_U64(r[0].count, 131072);
    CHECK_EQ_U64(dmp_wss_guest_ranges(131072, 99, r), 1);
    CHECK_EQ_U64(r[0].count, 100);
    CHECK_EQ_U64(dmp_wss_guest_ranges(6ull << 18, 0x1fffff, r), 2);
    CHECK_EQ_U64(r[0].count, DMP_GUEST_LOWMEM_END_PFN);
    CHECK_EQ_U64(r[1].start, DMP_GUEST_HIGHMEM_START_PFN);
    CHECK_EQ_U64(r[1].count, (6ull << 18) - DMP_GUEST_LOWMEM_END_PFN);
    CHECK_EQ_U64(dmp_wss_guest_ranges(6ull << 18, 0x100009, r), 2);
    CHECK_EQ_U64(r[1].count, 10);
    CHECK_EQ_U64(dmp_wss_guest_ranges(6ull << 18, 0xeffff, r), 2);
    CHECK_EQ_U64(r[1].count, 0);
}

static void test_uniform(void)
{
    struct dmp_rng rng;
    dmp_rng_seed(&rng, 7);
    struct guest g = { G_PAGES, G_PAGES / 2, 0, 4 * (G_PAGES / 2), calloc(G_PAGES, 1) };
    struct dmp_wss_sampling_params p;
    dmp_wss_sampling_params_default(&p, 1000);
    p.sample_pages = 1000;
    struct dmp_wss w;
    CHECK(dmp_wss_sampling_create(&w, &p) == 0);
    /* 4 accesses per page per interval touch 1 - e^-4 = 98.2 % of the set. */
    uint64_t true_pages = (uint64_t)(g.wss * (1.0 - exp(-4.0)));
    int within = 0, covered = 0;
    double worst = 0;
    for (int i = 0; i < 30; i++) {
        struct dmp_wss_observation o = { .now_ms = (i + 1) * 1000ULL, .interval_ms = 1000,
                                         .guest_pages = g.pages };
        o.sampled = run_interval(&g, &rng, p.sample_pages, &o.touched);
        CHECK(dmp_wss_update(&w, &o) == 0);
        struct dmp_wss_estimate e;
        dmp_wss_current(&w, &e);
        if (i >= 2) {
            double err = rel_err(e.bytes, true_pages);
            worst = err > worst ? err : worst;
            within += err <= 0.10;
            covered += e.lower <= true_pages * DMP_PAGE_SIZE &&
                       e.upper >= true_pages * DMP_PAGE_SIZE;
        }
        CHECK(e.valid && e.method == DMP_WSS_SAMPLING && e.lower <= e.bytes &&
              e.bytes <= e.upper && e.upper <= (uint64_t)G_PAGES * DMP_PAGE_SIZE);
    }
    printf("uniform 50%% of 256 MiB, n=1000: worst error %.1f%% over intervals 3..30, "
           "bounds covered truth %d/28\n", worst * 100, covered);
    CHECK_EQ_U64(within, 28);       /* every interval from the 3rd on within +-10 % */
    CHECK(covered >= 25);
    dmp_wss_destroy(&w);
    free(g.sampled);
}

static void test_shift_grow_fast_shrink_slow(void)
{
    struct dmp_rng rng;
    dmp_rng_seed(&rng, 99);
    struct guest g = { G_PAGES, G_PAGES / 4, 0, 0, calloc(G_PAGES, 1) };
    struct dmp_wss_sampling_params p;
    dmp_wss_sampling_params_default(&p, 1000);   /* fast: 1 interval, slow: 6 intervals */
    p.sample_pages = 1000;
    struct dmp_wss_sampling s;
    dmp_wss_sampling_init(&s, &p);
    struct dmp_wss_estimate e;
    uint64_t t = 0;
    int grow_after = -1, shrink_after = -1;
    double right_after_drop = 0;
    for (int i = 0; i < 120; i++) {
        if (i == 20) {      /* the set triples, at another place in memory */
            g.wss = 3 * G_PAGES / 4;
            g.base = G_PAGES / 8;
        }
        if (i == 40) {      /* and falls back */
            g.wss = G_PAGES / 4;
            g.base = G_PAGES / 2;
        }
        g.accesses = 6 * g.wss;
        uint32_t touched, sampled = run_interval(&g, &rng, p.sample_pages, &touched);
        t += 1000;
        CHECK(dmp_wss_sampling_add(&s, sampled, touched, g.pages, t, 1000) == 0);
        dmp_wss_sampling_estimate(&s, &e);
        uint64_t truth = (uint64_t)(g.wss * (1.0 - exp(-6.0)));
        if (i >= 20 && i < 40 && grow_after < 0 && rel_err(e.bytes, truth) <= 0.10)
            grow_after = i - 20 + 1;
        if (i == 40)
            right_after_drop = (double)e.bytes / ((double)truth * DMP_PAGE_SIZE);
        if (i >= 40 && shrink_after < 0 && rel_err(e.bytes, truth) <= 0.10)
            shrink_after = i - 40 + 1;
    }
    printf("shift 25%%->75%%->25%%: within 10%% after %d interval(s) growing, %d shrinking; "
           "estimate right after the drop = %.2fx truth\n", grow_after, shrink_after,
           right_after_drop);
    CHECK(grow_after >= 1 && grow_after <= 1);      /* grows in the very next interval */
    CHECK(right_after_drop > 2.0);                  /* does not drop with one quiet interval */
    CHECK(shrink_after >= 10 && shrink_after <= 40);/* decays with the slow average */
    free(g.sampled);
}

static void test_scan_larger_than_memory(void)
{
    /* A loop over more pages than the guest has: every populated page is touched each
     * interval, so the estimate must saturate at the allocation and say so. */
    struct dmp_rng rng;
    dmp_rng_seed(&rng, 5);
    struct guest g = { G_PAGES, G_PAGES, 0, 8 * G_PAGES, calloc(G_PAGES, 1) };
    struct dmp_wss_sampling_params p;
    dmp_wss_sampling_params_default(&p, 1000);
    struct dmp_wss_sampling s;
    dmp_wss_sampling_init(&s, &p);
    struct dmp_wss_estimate e = { 0 };
    for (int i = 0; i < 5; i++) {
        uint32_t touched, sampled = run_interval(&g, &rng, p.sample_pages, &touched);
        /* a scan touches each page in order: simulate by touching all */
        touched = sampled;
        CHECK(dmp_wss_sampling_add(&s, sampled, touched, g.pages, (i + 1) * 1000ULL, 1000) == 0);
        dmp_wss_sampling_estimate(&s, &e);
    }
    CHECK(e.saturated);
    CHECK_EQ_U64(e.bytes, (uint64_t)G_PAGES * DMP_PAGE_SIZE);
    CHECK_EQ_U64(e.upper, (uint64_t)G_PAGES * DMP_PAGE_SIZE);
    CHECK(e.lower >= (uint64_t)(0.95 * G_PAGES * DMP_PAGE_SIZE));
    free(g.sampled);
}

static void test_input_errors_and_wilson(void)
{
    struct dmp_wss_sampling_params p;
    dmp_wss_sampling_params_default(&p, 1000);
    struct dmp_wss_sampling s;
    dmp_wss_sampling_init(&s, &p);
    CHECK(dmp_wss_sampling_add(&s, 10, 11, 100, 1, 1) == -EINVAL);
    CHECK(dmp_wss_sampling_add(&s, 0, 0, 100, 1, 1) == -EINVAL);
    CHECK(dmp_wss_sampling_add(&s, 200, 1, 100, 1, 1) == -EINVAL);
    struct dmp_wss_estimate e;
    dmp_wss_sampling_estimate(&s, &e);
    CHECK(!e.valid);
    double lo, hi;
    dmp_wilson_interval(0, 100, 1.96, &lo, &hi);
    CHECK(lo == 0.0 && hi > 0.03 && hi < 0.04);     /* 0/100 still allows up to ~3.7 % */
    dmp_wilson_interval(50, 100, 1.96, &lo, &hi);
    CHECK(fabs(lo - 0.4038) < 0.001 && fabs(hi - 0.5962) < 0.001);
}

int main(void)
{
    test_selector();
    test_guest_ranges();
    test_uniform();
    test_shift_grow_fast_shrink_slow();
    test_scan_larger_than_memory();
    test_input_errors_and_wilson();
    return DMP_TEST_SUMMARY("wss_sampling");
}
