#include "dmpballoon/wss_mrc.h"

#include "lru_stack.h"
#include "u64map.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct dmp_wss_mrc {
    struct dmp_wss_mrc_params p;
    struct lru_stack stack;
    size_t nb;              /* finite buckets; hist[nb] counts first touches */
    double *hist;           /* aged histogram, being accumulated */
    double *snap;           /* histogram at the last interval end (for the curve) */
    struct u64map hot;      /* membership of the hot list */
    uint64_t *ring;         /* FIFO order of the hot list */
    size_t ring_head, ring_len;
    uint64_t last_time_ms;
    uint64_t interval_accesses;
    struct dmp_wss_smoother smooth;
    struct dmp_wss_estimate last;
};

void dmp_wss_mrc_params_default(struct dmp_wss_mrc_params *p, uint64_t max_pages,
                                uint64_t interval_ms)
{
    memset(p, 0, sizeof(*p));
    p->max_pages = max_pages;
    p->bucket_pages = 256;
    /* 1/64 of the guest, at least 64 pages: small enough not to hide a small working set,
     * large enough that most touches of a busy page are not trapped. */
    p->hot_pages = (uint32_t)(max_pages / 64 > 64 ? (max_pages / 64 > 65536 ? 65536 : max_pages / 64) : 64);
    p->target_miss = 0.05;
    p->decay = 0.5;
    p->fast_halflife_ms = interval_ms;
    p->slow_halflife_ms = 6 * interval_ms;
    p->z = 1.96;
}

void dmp_wss_mrc_free(struct dmp_wss_mrc *m)
{
    if (!m)
        return;
    lru_stack_free(&m->stack);
    u64map_free(&m->hot);
    free(m->hist);
    free(m->snap);
    free(m->ring);
    free(m);
}

int dmp_wss_mrc_new(struct dmp_wss_mrc **out, const struct dmp_wss_mrc_params *p)
{
    *out = NULL;
    if (p->max_pages == 0 || p->bucket_pages == 0 || p->hot_pages == 0 ||
        p->hot_pages >= p->max_pages || !(p->target_miss > 0 && p->target_miss < 1) ||
        !(p->decay > 0 && p->decay <= 1) || !(p->z >= 0)) {
        return -EINVAL;
    }
    struct dmp_wss_mrc *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->p = *p;
    m->nb = (size_t)((p->max_pages + p->bucket_pages - 1) / p->bucket_pages);
    m->hist = calloc(m->nb + 1, sizeof(*m->hist));
    m->snap = calloc(m->nb + 1, sizeof(*m->snap));
    m->ring = calloc(p->hot_pages, sizeof(*m->ring));
    if (!m->hist || !m->snap || !m->ring || u64map_init(&m->hot, p->hot_pages) < 0 ||
        lru_stack_init(&m->stack, p->max_pages) < 0) {
        dmp_wss_mrc_free(m);
        return -ENOMEM;
    }
    dmp_wss_smoother_init(&m->smooth, p->fast_halflife_ms, p->slow_halflife_ms);
    m->last.method = DMP_WSS_MRC;
    *out = m;
    return 0;
}

bool dmp_wss_mrc_is_hot(void *mv, uint64_t gfn)
{
    struct dmp_wss_mrc *m = mv;
    return u64map_get(&m->hot, gfn) != NULL;
}

size_t dmp_wss_mrc_hot_count(const struct dmp_wss_mrc *m)
{
    return m->ring_len;
}

uint32_t dmp_wss_mrc_bucket_pages(const struct dmp_wss_mrc *m)
{
    return m->p.bucket_pages;
}

static void make_hot(struct dmp_wss_mrc *m, uint64_t gfn)
{
    if (u64map_get(&m->hot, gfn))
        return;     /* the host raced a trap with our untrap: nothing to change */
    if (m->ring_len == m->p.hot_pages) {
        uint64_t old = m->ring[m->ring_head];
        m->ring_head = (m->ring_head + 1) % m->p.hot_pages;
        m->ring_len--;
        u64map_del(&m->hot, old);
        if (m->p.on_cold)
            m->p.on_cold(m->p.hook_ctx, old);
    }
    m->ring[(m->ring_head + m->ring_len) % m->p.hot_pages] = gfn;
    m->ring_len++;
    u64map_put(&m->hot, gfn, 1);    /* cannot fail: one slot was freed above if full */
    if (m->p.on_hot)
        m->p.on_hot(m->p.hook_ctx, gfn);
}

int dmp_wss_mrc_access(struct dmp_wss_mrc *m, uint64_t gfn, uint64_t time_ms)
{
    if (time_ms < m->last_time_ms)
        return -EINVAL;
    m->last_time_ms = time_ms;
    uint64_t depth;
    int rc = lru_stack_access(&m->stack, gfn, &depth);
    if (rc < 0)
        return rc;
    size_t b = depth == 0 ? m->nb : (size_t)((depth - 1) / m->p.bucket_pages);
    if (b > m->nb)
        b = m->nb;
    m->hist[b] += 1.0;
    m->interval_accesses++;
    make_hot(m, gfn);
    return 0;
}

/* Smallest memory size (a bucket boundary, in pages) holding `rank` of the weighted
 * accesses; beyond the finite buckets the answer is every page the stack knows. */
static uint64_t pages_at_rank(const struct dmp_wss_mrc *m, double rank)
{
    if (rank <= 0)
        return 0;
    double cum = 0;
    for (size_t b = 0; b < m->nb; b++) {
        cum += m->snap[b];
        if (cum >= rank * (1 - 1e-12))
            return (uint64_t)(b + 1) * m->p.bucket_pages;
    }
    return m->stack.live;
}

int dmp_wss_mrc_end_interval(struct dmp_wss_mrc *m, uint64_t now_ms, uint64_t interval_ms,
                             uint64_t guest_pages)
{
    if (guest_pages == 0)
        return -EINVAL;
    memcpy(m->snap, m->hist, (m->nb + 1) * sizeof(*m->snap));
    double n = 0;
    for (size_t b = 0; b <= m->nb; b++)
        n += m->snap[b];
    uint64_t hot = m->ring_len, value, lo, hi;
    if (n < 1e-9) {
        /* Nothing trapped: every touched page stayed in the hot list. */
        value = hi = hot;
        lo = 0;
    } else {
        double q = 1.0 - m->p.target_miss;
        double half = m->p.z * sqrt(n * q * (1.0 - q));
        value = pages_at_rank(m, q * n);
        lo = pages_at_rank(m, q * n - half);
        lo = lo >= m->p.bucket_pages ? lo - m->p.bucket_pages : 0;
        hi = pages_at_rank(m, q * n + half > n ? n : q * n + half);
    }
    if (value < hot)
        value = hot;
    if (hi < value)
        hi = value;
    if (lo > value)
        lo = value;
    if (value > guest_pages)
        value = guest_pages;
    if (hi > guest_pages)
        hi = guest_pages;
    if (lo > value)
        lo = value;

    struct dmp_wss_series x = {
        .value = (double)value * DMP_PAGE_SIZE,
        .lower = (double)lo * DMP_PAGE_SIZE,
        .upper = (double)hi * DMP_PAGE_SIZE,
    };
    dmp_wss_smoother_add(&m->smooth, &x, interval_ms);
    struct dmp_wss_series r = dmp_wss_smoother_report(&m->smooth);
    m->last.valid = true;
    m->last.bytes = (uint64_t)llround(r.value);
    m->last.lower = (uint64_t)llround(r.lower);
    m->last.upper = (uint64_t)llround(r.upper);
    if (m->last.lower > m->last.bytes)
        m->last.lower = m->last.bytes;
    if (m->last.upper < m->last.bytes)
        m->last.upper = m->last.bytes;
    m->last.samples = m->interval_accesses;
    m->last.intervals++;
    m->last.time_ms = now_ms;
    m->last.saturated = value >= guest_pages;
    m->interval_accesses = 0;
    for (size_t b = 0; b <= m->nb; b++)
        m->hist[b] *= m->p.decay;
    return 0;
}

size_t dmp_wss_mrc_curve(const struct dmp_wss_mrc *m, double *miss, size_t n)
{
    double total = 0;
    for (size_t b = 0; b <= m->nb; b++)
        total += m->snap[b];
    size_t k = n < m->nb ? n : m->nb;
    double cum = 0;
    for (size_t i = 0; i < k; i++) {
        cum += m->snap[i];
        miss[i] = total > 0 ? 1.0 - cum / total : 0.0;
        if (miss[i] < 0)
            miss[i] = 0;
    }
    return k;
}

void dmp_wss_mrc_estimate(const struct dmp_wss_mrc *m, struct dmp_wss_estimate *out)
{
    *out = m->last;
}

static int mrc_update(void *impl, const struct dmp_wss_observation *o)
{
    if (o->n_accesses && !o->accesses)
        return -EINVAL;
    for (size_t i = 0; i < o->n_accesses; i++) {
        int rc = dmp_wss_mrc_access(impl, o->accesses[i].gfn, o->accesses[i].time_ms);
        if (rc < 0)
            return rc;
    }
    return dmp_wss_mrc_end_interval(impl, o->now_ms, o->interval_ms, o->guest_pages);
}

static void mrc_estimate(const void *impl, struct dmp_wss_estimate *out)
{
    dmp_wss_mrc_estimate(impl, out);
}

static void mrc_destroy(void *impl)
{
    dmp_wss_mrc_free(impl);
}

static const struct dmp_wss_ops mrc_ops = {
    .method = DMP_WSS_MRC,
    .update = mrc_update,
    .estimate = mrc_estimate,
    .destroy = mrc_destroy,
};

int dmp_wss_mrc_create(struct dmp_wss *w, const struct dmp_wss_mrc_params *p)
{
    struct dmp_wss_mrc *m;
    int rc = dmp_wss_mrc_new(&m, p);
    if (rc < 0)
        return rc;
    w->ops = &mrc_ops;
    w->impl = m;
    return 0;
}
