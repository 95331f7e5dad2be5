/* Statistical sampling working-set estimator (Waldspurger, "Memory Resource Management in
 * VMware ESX Server", OSDI 2002).
 *
 * Each interval the host invalidates the guest's access to n randomly chosen pages and, at
 * the end, counts how many the guest touched. touched/sampled estimates the fraction of the
 * guest's memory in active use; times the guest's populated pages it is one interval's
 * working set. That is smoothed with a fast and a slow moving average and the reported value
 * is max(latest, fast, slow). Bounds come from the Wilson score interval of the binomial
 * proportion (exact enough at n >= 50 and, unlike the plain p +- z*sqrt(p(1-p)/n), not
 * collapsing to zero width when no or every sampled page was touched). */
#ifndef DMP_WSS_SAMPLING_H
#define DMP_WSS_SAMPLING_H

#include "dmpballoon/balloon_rng.h"
#include "dmpballoon/wss.h"

/* A populated stretch of guest frame numbers (HVM guests have holes below 1 MiB and 4 GiB). */
struct dmp_gfn_range {
    uint64_t start;
    uint64_t count;
};

/* Where a PVH/HVM guest built by libxl may hold RAM: below the MMIO hole (gfn 0xF0000) and
 * from 4 GiB (gfn 0x100000), static_max_pages in all, clipped to max_gpfn (the highest gfn
 * Xen has mapped). Fills r[0..1] and returns how many ranges there are. Holes and ballooned
 * frames inside them are fine: the hypervisor arms only RAM and reports the rest. */
#define DMP_GUEST_LOWMEM_END_PFN 0xF0000ULL
#define DMP_GUEST_HIGHMEM_START_PFN 0x100000ULL
size_t dmp_wss_guest_ranges(uint64_t static_max_pages, uint64_t max_gpfn,
                            struct dmp_gfn_range r[2]);

/* Returns true for a gfn that must not be sampled (hot: trapping it would only cost). */
typedef bool (*dmp_gfn_pred)(void *ctx, uint64_t gfn);

/* Helper predicate over a sorted array of gfns: ctx is a struct dmp_gfn_set. */
struct dmp_gfn_set {
    const uint64_t *gfns;   /* ascending */
    size_t n;
};
bool dmp_gfn_set_contains(void *ctx, uint64_t gfn);

/* Choose up to n distinct gfns, uniformly among the populated pages for which is_hot (may be
 * NULL) returns false. Writes them ascending (the host batches invalidations by gfn) and
 * returns how many were chosen: fewer than n only when fewer eligible pages exist.
 * Returns -ENOMEM or -EINVAL (ranges overlapping or overflowing). */
long dmp_wss_select_sample(struct dmp_rng *rng, const struct dmp_gfn_range *ranges,
                           size_t n_ranges, dmp_gfn_pred is_hot, void *hot_ctx,
                           uint64_t *out, size_t n);

struct dmp_wss_sampling_params {
    uint32_t sample_pages;          /* n per interval (ESX default 100) */
    uint64_t fast_halflife_ms;      /* e.g. 1 interval */
    uint64_t slow_halflife_ms;      /* e.g. 6 intervals */
    double z;                       /* bounds width in standard errors (1.96 ~ 95 %) */
};

void dmp_wss_sampling_params_default(struct dmp_wss_sampling_params *p, uint64_t interval_ms);

struct dmp_wss_sampling {
    struct dmp_wss_sampling_params p;
    struct dmp_wss_smoother smooth;
    struct dmp_wss_estimate last;
};

void dmp_wss_sampling_init(struct dmp_wss_sampling *s, const struct dmp_wss_sampling_params *p);
/* One interval: sampled pages, touched of them, the guest's populated pages, the interval.
 * Returns -EINVAL when touched > sampled, sampled == 0 or sampled > guest_pages. */
int dmp_wss_sampling_add(struct dmp_wss_sampling *s, uint32_t sampled, uint32_t touched,
                         uint64_t guest_pages, uint64_t now_ms, uint64_t interval_ms);
void dmp_wss_sampling_estimate(const struct dmp_wss_sampling *s, struct dmp_wss_estimate *out);

/* Wilson score interval of a proportion: k successes out of n, z standard errors. */
void dmp_wilson_interval(uint64_t k, uint64_t n, double z, double *lo, double *hi);

/* Generic-interface wrapper (heap allocated). Returns 0 or -ENOMEM. */
int dmp_wss_sampling_create(struct dmp_wss *w, const struct dmp_wss_sampling_params *p);

#endif
