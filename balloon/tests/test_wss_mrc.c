/* MRC estimator: the LRU stack against a naive one, the curve of a known loop, and the
 * working set of synthetic guests of known size seen only through hot/cold trapping. */
#include "dmpcommon/test.h"
#include "dmpballoon/balloon_rng.h"
#include "dmpballoon/wss_mrc.h"
#include "dmpballoon/wss_sampling.h"

#include "../src/lru_stack.h"
#include "../src/u64map.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_u64map(void)
{
    struct u64map m;
    CHECK(u64map_init(&m, 500) == 0);
    uint64_t shadow[1000];
    for (int i = 0; i < 1000; i++)
        shadow[i] = UINT64_MAX;
    struct dmp_rng r;
    dmp_rng_seed(&r, 1);
    bool ok = true;
    size_t count = 0;
    for (int it = 0; it < 100000; it++) {
        uint64_t k = dmp_rng_below(&r, 1000);
        if (dmp_rng_below(&r, 2)) {
            int rc = u64map_put(&m, k, (uint64_t)it);
            if (shadow[k] == UINT64_MAX && count >= 500) {
                ok &= rc == -ENOSPC;
            } else {
                ok &= rc == 0;
                count += shadow[k] == UINT64_MAX;
                shadow[k] = (uint64_t)it;
            }
        } else {
            ok &= u64map_del(&m, k) == (shadow[k] != UINT64_MAX);
            count -= shadow[k] != UINT64_MAX;
            shadow[k] = UINT64_MAX;
        }
        uint64_t q = dmp_rng_below(&r, 1000);
        uint64_t *v = u64map_get(&m, q);
        ok &= shadow[q] == UINT64_MAX ? v == NULL : (v && *v == shadow[q]);
    }
    CHECK(ok);
    CHECK_EQ_U64(m.count, count);
    u64map_free(&m);
}

/* Naive LRU stack: array, most recent first. */
static void test_lru_stack_vs_naive(void)
{
    enum { CAP = 100 };
    struct lru_stack s;
    CHECK(lru_stack_init(&s, CAP) == 0);
    uint64_t naive[CAP];
    size_t nn = 0;
    struct dmp_rng r;
    dmp_rng_seed(&r, 3);
    bool ok = true;
    for (int it = 0; it < 200000; it++) {
        /* skewed: mostly a hot 50, sometimes 300 others, to force forgetting */
        uint64_t g = dmp_rng_below(&r, 10) < 8 ? dmp_rng_below(&r, 50) : 1000 + dmp_rng_below(&r, 300);
        uint64_t want = 0;
        size_t pos = nn;
        for (size_t i = 0; i < nn; i++) {
            if (naive[i] == g) {
                want = i + 1;
                pos = i;
                break;
            }
        }
        if (pos == nn && nn == CAP)
            pos = CAP - 1;          /* forget the least recent */
        else if (pos == nn)
            nn++;
        memmove(naive + 1, naive, pos * sizeof(*naive));
        naive[0] = g;
        uint64_t depth;
        ok &= lru_stack_access(&s, g, &depth) == 0;
        if (depth != want) {
            ok = false;
            fprintf(stderr, "it %d gfn %lu: depth %lu want %lu\n", it, (unsigned long)g,
                    (unsigned long)depth, (unsigned long)want);
            break;
        }
    }
    CHECK(ok);
    CHECK_EQ_U64(s.live, CAP);
    lru_stack_free(&s);
}

/* A host that traps only cold pages, driving an estimator with a guest's true accesses. */
struct host {
    struct dmp_wss_mrc *m;
    uint64_t t;
    uint64_t hot_calls, cold_calls;
};

static void on_hot(void *ctx, uint64_t gfn) { ((struct host *)ctx)->hot_calls++; (void)gfn; }
static void on_cold(void *ctx, uint64_t gfn) { ((struct host *)ctx)->cold_calls++; (void)gfn; }

static uint64_t touch(struct host *h, uint64_t gfn)
{
    h->t++;
    if (dmp_wss_mrc_is_hot(h->m, gfn))
        return 0;
    return dmp_wss_mrc_access(h->m, gfn, h->t / 1000) == 0 ? 1 : 1000000;
}

static void test_loop_curve(void)
{
    /* A loop over L pages: after the first pass every trapped access has depth exactly L, so
     * the curve is a cliff at L and the working set is L. */
    enum { G = 8192, L = 3000, B = 64 };
    struct host h = { 0 };
    struct dmp_wss_mrc_params p;
    dmp_wss_mrc_params_default(&p, G, 1000);
    p.bucket_pages = B;
    p.hot_pages = 128;
    p.on_hot = on_hot;
    p.on_cold = on_cold;
    p.hook_ctx = &h;
    CHECK(dmp_wss_mrc_new(&h.m, &p) == 0);
    uint64_t trapped = 0;
    for (int pass = 0; pass < 5; pass++)
        for (uint64_t g = 0; g < L; g++)
            trapped += touch(&h, 100 + g);
    CHECK(dmp_wss_mrc_end_interval(h.m, 1000, 1000, G) == 0);
    CHECK_EQ_U64(trapped, 5 * L);       /* a loop longer than the hot list traps every time */
    CHECK_EQ_U64(h.hot_calls, 5 * L);
    CHECK_EQ_U64(h.cold_calls, 5 * L - 128);
    CHECK_EQ_U64(dmp_wss_mrc_hot_count(h.m), 128);
    double curve[G / B];
    size_t n = dmp_wss_mrc_curve(h.m, curve, G / B);
    CHECK_EQ_U64(n, G / B);
    /* 1/5 of accesses are first touches (miss at every size); the other 4/5 hit from L on. */
    size_t cliff = (L + B - 1) / B - 1;     /* bucket holding depth L */
    CHECK(fabs(curve[cliff - 1] - 1.0) < 1e-9);
    CHECK(fabs(curve[cliff] - 0.2) < 1e-9);
    CHECK(fabs(curve[n - 1] - 0.2) < 1e-9);
    /* With 20 % first touches the 5 % target is never met below the footprint. */
    struct dmp_wss_estimate e;
    dmp_wss_mrc_estimate(h.m, &e);
    CHECK_EQ_U64(e.bytes, (uint64_t)L * DMP_PAGE_SIZE);
    /* More passes: first touches age out (decay 1/2 per interval) and the cliff decides. */
    for (int iv = 2; iv <= 8; iv++) {
        for (uint64_t g = 0; g < L; g++)
            touch(&h, 100 + g);
        CHECK(dmp_wss_mrc_end_interval(h.m, iv * 1000ULL, 1000, G) == 0);
    }
    dmp_wss_mrc_estimate(h.m, &e);
    uint64_t want = (uint64_t)(cliff + 1) * B * DMP_PAGE_SIZE;
    CHECK_EQ_U64(e.bytes, want);
    CHECK(e.lower <= e.bytes && e.upper >= e.bytes && e.upper <= (uint64_t)G * DMP_PAGE_SIZE);
    CHECK(!e.saturated);
    printf("loop of %d pages: working set %lu pages (bucket %d), bounds [%lu, %lu]\n", L,
           (unsigned long)(e.bytes / DMP_PAGE_SIZE), B, (unsigned long)(e.lower / DMP_PAGE_SIZE),
           (unsigned long)(e.upper / DMP_PAGE_SIZE));
    dmp_wss_mrc_free(h.m);
}

/* Guest of G pages touching uniformly a set of `wss` pages starting at `base`. */
static void run_uniform(struct host *h, struct dmp_rng *r, uint64_t base, uint64_t wss,
                        uint64_t accesses)
{
    for (uint64_t a = 0; a < accesses; a++)
        touch(h, base + dmp_rng_below(r, wss));
}

static double rel(uint64_t bytes, uint64_t pages)
{
    return fabs((double)bytes / DMP_PAGE_SIZE - (double)pages) / (double)pages;
}

static void test_uniform_and_shift(void)
{
    enum { G = 32768 };
    struct host h = { 0 };
    struct dmp_rng r;
    dmp_rng_seed(&r, 11);
    struct dmp_wss_mrc_params p;
    dmp_wss_mrc_params_default(&p, G, 1000);
    p.bucket_pages = 64;
    CHECK(dmp_wss_mrc_new(&h.m, &p) == 0);
    struct dmp_wss_estimate e;
    uint64_t wss = 8192, base = 0;
    int within = 0, grow_after = -1, shrink_after = -1;
    double worst = 0, at_drop = 0;
    for (int iv = 0; iv < 90; iv++) {
        if (iv == 30) {
            wss = 20000;
            base = 10000;
        }
        if (iv == 50) {
            wss = 4096;
            base = 2000;
        }
        run_uniform(&h, &r, base, wss, 4 * wss);
        CHECK(dmp_wss_mrc_end_interval(h.m, (iv + 1) * 1000ULL, 1000, G) == 0);
        dmp_wss_mrc_estimate(h.m, &e);
        if (iv >= 5 && iv < 30) {
            double err = rel(e.bytes, wss);
            worst = err > worst ? err : worst;
            within += err <= 0.10;
        }
        if (iv >= 30 && iv < 50 && grow_after < 0 && e.bytes >= 0.9 * wss * DMP_PAGE_SIZE)
            grow_after = iv - 30 + 1;
        if (iv == 50)
            at_drop = (double)e.bytes / DMP_PAGE_SIZE / wss;
        if (iv >= 50 && shrink_after < 0 && rel(e.bytes, wss) <= 0.10)
            shrink_after = iv - 50 + 1;
    }
    printf("mrc uniform 8192 of %d pages: worst error %.1f%% over intervals 6..30; "
           "shift to 20000: >=90%% after %d interval(s); to 4096: %.2fx right after, "
           "within 10%% after %d\n", G, worst * 100, grow_after, at_drop, shrink_after);
    CHECK_EQ_U64(within, 25);
    CHECK(grow_after == 1);
    CHECK(at_drop > 2.0);
    CHECK(shrink_after >= 5 && shrink_after <= 40);
    dmp_wss_mrc_free(h.m);
}

/* A batching host: it untraps a page as soon as the page traps (so the guest runs on) and
 * hands the interval's trapped accesses over at the end; on_cold re-arms the trap. */
static uint8_t armed[4096];
static void rearm(void *ctx, uint64_t gfn) { (void)ctx; armed[gfn] = 1; }

static void test_scan_larger_than_memory_and_interface(void)
{
    /* The guest loops over more than it has: in gfn space it cycles through all its pages.
     * The estimate saturates at the allocation and says so. Driven through dmp_wss. */
    enum { G = 4096 };
    struct dmp_wss_mrc_params p;
    dmp_wss_mrc_params_default(&p, G, 1000);
    p.bucket_pages = 32;
    p.on_cold = rearm;
    memset(armed, 1, sizeof(armed));
    struct dmp_wss w;
    CHECK(dmp_wss_mrc_create(&w, &p) == 0);
    struct dmp_wss_mrc *m = w.impl;
    struct dmp_page_access *acc = malloc(3 * G * sizeof(*acc));
    struct dmp_wss_estimate e = { 0 };
    uint64_t t = 0;
    size_t per_interval = 0;
    for (int iv = 0; iv < 6; iv++) {
        size_t n = 0;
        for (int pass = 0; pass < 3; pass++)
            for (uint64_t g = 0; g < G; g++, t++)
                if (armed[g]) {
                    armed[g] = 0;
                    acc[n++] = (struct dmp_page_access){ g, t / 10 };
                }
        per_interval = n;
        struct dmp_wss_observation o = { .now_ms = (iv + 1) * 1000ULL, .interval_ms = 1000,
                                         .guest_pages = G, .accesses = acc, .n_accesses = n };
        CHECK(dmp_wss_update(&w, &o) == 0);
        dmp_wss_current(&w, &e);
    }
    CHECK_EQ_U64(per_interval, G - 64);     /* the hot list's 64 pages stay untrapped */
    CHECK(e.valid && e.method == DMP_WSS_MRC);
    CHECK(e.saturated);
    CHECK_EQ_U64(e.bytes, (uint64_t)G * DMP_PAGE_SIZE);
    /* Out-of-order times are refused. */
    struct dmp_page_access back = { 1, 0 };
    struct dmp_wss_observation o = { .now_ms = 99000, .interval_ms = 1000, .guest_pages = G,
                                     .accesses = &back, .n_accesses = 1 };
    CHECK(dmp_wss_update(&w, &o) == -EINVAL);
    free(acc);

    /* The hot list keeps the sampler off hot pages (the predicate works as a dmp_gfn_pred). */
    struct dmp_rng r;
    dmp_rng_seed(&r, 2);
    struct dmp_gfn_range range = { 0, G };
    uint64_t s[256];
    long k = dmp_wss_select_sample(&r, &range, 1, dmp_wss_mrc_is_hot, m, s, 256);
    bool none_hot = k == 256;
    for (long i = 0; i < k; i++)
        none_hot &= !dmp_wss_mrc_is_hot(m, s[i]);
    CHECK(none_hot);
    dmp_wss_destroy(&w);

    /* Bad parameters are refused. */
    struct dmp_wss_mrc *bad;
    p.hot_pages = G;
    CHECK(dmp_wss_mrc_new(&bad, &p) == -EINVAL);
}

int main(void)
{
    test_u64map();
    test_lru_stack_vs_naive();
    test_loop_curve();
    test_uniform_and_shift();
    test_scan_larger_than_memory_and_interface();
    return DMP_TEST_SUMMARY("wss_mrc");
}
