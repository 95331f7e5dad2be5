#include "dmpballoon/wss_sampling.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

bool dmp_gfn_set_contains(void *ctx, uint64_t gfn)
{
    const struct dmp_gfn_set *set = ctx;
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set->gfns[mid] < gfn)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < set->n && set->gfns[lo] == gfn;
}

/* Open-addressing set of chosen page indexes, so "distinct" costs O(1) per draw. */
struct idxset {
    uint64_t *slot;     /* index + 1; 0 = empty */
    size_t mask;
};

static int idxset_init(struct idxset *s, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n + 2)
        cap <<= 1;
    s->slot = calloc(cap, sizeof(*s->slot));
    s->mask = cap - 1;
    return s->slot ? 0 : -1;
}

static bool idxset_insert(struct idxset *s, uint64_t idx)
{
    size_t h = (size_t)((idx * 0x9e3779b97f4a7c15ULL) >> 17) & s->mask;
    for (size_t i = 0; i <= s->mask; i++, h = (h + 1) & s->mask) {
        if (s->slot[h] == idx + 1)
            return false;
        if (s->slot[h] == 0) {
            s->slot[h] = idx + 1;
            return true;
        }
    }
    return false;   /* unreachable: the table is at most half full */
}

static uint64_t index_to_gfn(const struct dmp_gfn_range *r, size_t nr, uint64_t idx)
{
    for (size_t i = 0; i < nr; i++) {
        if (idx < r[i].count)
            return r[i].start + idx;
        idx -= r[i].count;
    }
    return UINT64_MAX;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

size_t dmp_wss_guest_ranges(uint64_t static_max_pages, uint64_t max_gpfn,
                            struct dmp_gfn_range r[2])
{
    size_t nr = 0;
    uint64_t low = static_max_pages < DMP_GUEST_LOWMEM_END_PFN ? static_max_pages
                                                              : DMP_GUEST_LOWMEM_END_PFN;
    r[nr++] = (struct dmp_gfn_range){ 0, low };
    if (static_max_pages > low)
        r[nr++] = (struct dmp_gfn_range){ DMP_GUEST_HIGHMEM_START_PFN, static_max_pages - low };
    for (size_t i = 0; i < nr; i++) {
        if (r[i].start > max_gpfn)
            r[i].count = 0;
        else if (r[i].count > max_gpfn + 1 - r[i].start)
            r[i].count = max_gpfn + 1 - r[i].start;
    }
    return nr;
}

long dmp_wss_select_sample(struct dmp_rng *rng, const struct dmp_gfn_range *ranges,
                           size_t n_ranges, dmp_gfn_pred is_hot, void *hot_ctx,
                           uint64_t *out, size_t n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n_ranges; i++) {
        if (ranges[i].count > UINT64_MAX - total ||
            ranges[i].count > UINT64_MAX - ranges[i].start) {
            return -EINVAL;
        }
        if (i > 0 && ranges[i].start < ranges[i - 1].start + ranges[i - 1].count)
            return -EINVAL;     /* must be ascending and disjoint to keep "distinct" true */
        total += ranges[i].count;
    }
    if (n == 0 || total == 0)
        return 0;
    if (n > total)
        n = (size_t)total;

    struct idxset chosen;
    if (idxset_init(&chosen, n) < 0)
        return -ENOMEM;
    size_t got = 0;
    /* Rejection sampling: uniform over eligible pages. The attempt bound only matters when
     * almost everything is hot or n is close to the population. */
    uint64_t attempts = 16 * (uint64_t)n + 256;
    for (uint64_t a = 0; a < attempts && got < n; a++) {
        uint64_t idx = dmp_rng_below(rng, total);
        uint64_t gfn = index_to_gfn(ranges, n_ranges, idx);
        if (is_hot && is_hot(hot_ctx, gfn))
            continue;
        if (idxset_insert(&chosen, idx))
            out[got++] = gfn;
    }
    /* Fallback: walk the population once from a random point taking every eligible page not
     * yet chosen. Slightly biased towards pages after the start point, but it only runs when
     * rejection failed, i.e. eligible pages are scarce, and it guarantees termination. */
    if (got < n) {
        uint64_t start = dmp_rng_below(rng, total);
        for (uint64_t k = 0; k < total && got < n; k++) {
            uint64_t idx = (start + k) % total;
            uint64_t gfn = index_to_gfn(ranges, n_ranges, idx);
            if (is_hot && is_hot(hot_ctx, gfn))
                continue;
            if (idxset_insert(&chosen, idx))
                out[got++] = gfn;
        }
    }
    free(chosen.slot);
    qsort(out, got, sizeof(*out), cmp_u64);
    return (long)got;
}

void dmp_wss_sampling_params_default(struct dmp_wss_sampling_params *p, uint64_t interval_ms)
{
    p->sample_pages = 100;
    p->fast_halflife_ms = interval_ms;
    p->slow_halflife_ms = 6 * interval_ms;
    p->z = 1.96;
}

void dmp_wss_sampling_init(struct dmp_wss_sampling *s, const struct dmp_wss_sampling_params *p)
{
    memset(s, 0, sizeof(*s));
    s->p = *p;
    dmp_wss_smoother_init(&s->smooth, p->fast_halflife_ms, p->slow_halflife_ms);
    s->last.method = DMP_WSS_SAMPLING;
}

void dmp_wilson_interval(uint64_t k, uint64_t n, double z, double *lo, double *hi)
{
    if (n == 0) {
        *lo = 0.0;
        *hi = 1.0;
        return;
    }
    double p = (double)k / (double)n, nn = (double)n, z2 = z * z;
    double denom = 1.0 + z2 / nn;
    double centre = (p + z2 / (2.0 * nn)) / denom;
    double half = z * sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / denom;
    *lo = centre - half < 0.0 ? 0.0 : centre - half;
    *hi = centre + half > 1.0 ? 1.0 : centre + half;
    /* Keep the point estimate inside its own interval despite rounding. */
    if (*lo > p)
        *lo = p;
    if (*hi < p)
        *hi = p;
}

int dmp_wss_sampling_add(struct dmp_wss_sampling *s, uint32_t sampled, uint32_t touched,
                         uint64_t guest_pages, uint64_t now_ms, uint64_t interval_ms)
{
    if (sampled == 0 || touched > sampled || sampled > guest_pages)
        return -EINVAL;
    double lo, hi, total = (double)guest_pages * DMP_PAGE_SIZE;
    dmp_wilson_interval(touched, sampled, s->p.z, &lo, &hi);
    struct dmp_wss_series x = {
        .value = (double)touched / sampled * total,
        .lower = lo * total,
        .upper = hi * total,
    };
    dmp_wss_smoother_add(&s->smooth, &x, interval_ms);
    struct dmp_wss_series r = dmp_wss_smoother_report(&s->smooth);
    s->last.valid = true;
    s->last.bytes = (uint64_t)llround(r.value);
    s->last.lower = (uint64_t)llround(r.lower);
    s->last.upper = (uint64_t)llround(r.upper);
    if (s->last.upper < s->last.bytes)
        s->last.upper = s->last.bytes;
    if (s->last.lower > s->last.bytes)
        s->last.lower = s->last.bytes;
    s->last.samples = sampled;
    s->last.intervals++;
    s->last.time_ms = now_ms;
    s->last.saturated = touched == sampled;
    return 0;
}

void dmp_wss_sampling_estimate(const struct dmp_wss_sampling *s, struct dmp_wss_estimate *out)
{
    *out = s->last;
}

static int sampling_update(void *impl, const struct dmp_wss_observation *o)
{
    return dmp_wss_sampling_add(impl, o->sampled, o->touched, o->guest_pages, o->now_ms,
                                o->interval_ms);
}

static void sampling_estimate(const void *impl, struct dmp_wss_estimate *out)
{
    dmp_wss_sampling_estimate(impl, out);
}

static const struct dmp_wss_ops sampling_ops = {
    .method = DMP_WSS_SAMPLING,
    .update = sampling_update,
    .estimate = sampling_estimate,
    .destroy = free,
};

int dmp_wss_sampling_create(struct dmp_wss *w, const struct dmp_wss_sampling_params *p)
{
    struct dmp_wss_sampling *s = malloc(sizeof(*s));
    if (!s)
        return -ENOMEM;
    dmp_wss_sampling_init(s, p);
    w->ops = &sampling_ops;
    w->impl = s;
    return 0;
}
