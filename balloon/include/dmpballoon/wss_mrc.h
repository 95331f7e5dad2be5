/* Miss-ratio-curve working-set estimator from an LRU histogram of sampled accesses
 * (Zhao, Wang and Luo, "Dynamic memory balancing for virtual machines", VEE 2009; Mattson's
 * stack algorithm; Zhou et al., ASPLOS 2004).
 *
 * The host keeps a guest's pages cold (access revoked) except those in a bounded FIFO hot
 * list. A touch of a cold page traps; the host reports it here with its time. The page
 * becomes hot (the host restores access, told through on_hot) and, when the hot list is
 * full, its oldest page turns cold again (the host revokes access, told through on_cold).
 *
 * Each reported access is looked up in an exact LRU stack of the guest's pages (hash map +
 * Fenwick tree over access sequence numbers: O(log n) per access); its stack depth goes into
 * a reuse-distance histogram of bucket_pages-wide buckets (first touches go to an "infinite"
 * bucket). Accesses that hit the hot list are never seen, so the curve is the miss ratio
 * *among trapped accesses*; that ratio is never below the miss ratio among all accesses,
 * hence the working set it yields is conservative (never smaller). A hot page's position is
 * its last trapped access, which can only overstate its depth: conservative again.
 *
 * At each interval end the histogram (aged by `decay` per interval so old behaviour fades)
 * gives the curve; the interval's working set is the smallest memory size whose miss ratio is
 * <= target_miss, never less than the hot list's occupancy, never more than the guest's
 * pages. Bounds: the rank confidence interval of that quantile, (1-target)N +- z*sqrt(N t(1-t)),
 * widened by one bucket. The result is then smoothed like the sampling estimator. */
#ifndef DMP_WSS_MRC_H
#define DMP_WSS_MRC_H

#include "dmpballoon/wss.h"

struct dmp_wss_mrc_params {
    uint64_t max_pages;         /* pages the stack tracks: the guest's maximum size */
    uint32_t bucket_pages;      /* histogram resolution (256 pages = 1 MiB) */
    uint32_t hot_pages;         /* hot-list capacity */
    double target_miss;         /* e.g. 0.05 */
    double decay;               /* histogram weight kept per interval, in (0, 1] */
    uint64_t fast_halflife_ms, slow_halflife_ms;
    double z;
    /* Host hooks (may be NULL): a page entered the hot list (stop trapping it) or left it
     * (trap it again). */
    void (*on_hot)(void *ctx, uint64_t gfn);
    void (*on_cold)(void *ctx, uint64_t gfn);
    void *hook_ctx;
};

void dmp_wss_mrc_params_default(struct dmp_wss_mrc_params *p, uint64_t max_pages,
                                uint64_t interval_ms);

struct dmp_wss_mrc;

/* Returns 0, -EINVAL (bad parameters) or -ENOMEM. */
int dmp_wss_mrc_new(struct dmp_wss_mrc **out, const struct dmp_wss_mrc_params *p);
void dmp_wss_mrc_free(struct dmp_wss_mrc *m);

/* One trapped access. Times must not go backwards (-EINVAL); -ENOMEM impossible after new. */
int dmp_wss_mrc_access(struct dmp_wss_mrc *m, uint64_t gfn, uint64_t time_ms);
/* Whether the host should leave gfn untrapped; usable as a dmp_gfn_pred with ctx = m. */
bool dmp_wss_mrc_is_hot(void *m, uint64_t gfn);
size_t dmp_wss_mrc_hot_count(const struct dmp_wss_mrc *m);

/* Close the interval: compute the curve and the working set, then age the histogram.
 * guest_pages caps the estimate (the guest cannot use more than it has). */
int dmp_wss_mrc_end_interval(struct dmp_wss_mrc *m, uint64_t now_ms, uint64_t interval_ms,
                             uint64_t guest_pages);

/* Miss ratio at memory sizes (i+1)*bucket_pages for i < n, from the histogram as it was at
 * the last interval end. Returns the number of points written (<= number of buckets). */
size_t dmp_wss_mrc_curve(const struct dmp_wss_mrc *m, double *miss, size_t n);
uint32_t dmp_wss_mrc_bucket_pages(const struct dmp_wss_mrc *m);

void dmp_wss_mrc_estimate(const struct dmp_wss_mrc *m, struct dmp_wss_estimate *out);

/* Generic interface: update() feeds obs->accesses then closes the interval. */
int dmp_wss_mrc_create(struct dmp_wss *w, const struct dmp_wss_mrc_params *p);

#endif
