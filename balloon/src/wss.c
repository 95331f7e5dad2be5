#include "dmpballoon/wss.h"

#include <errno.h>
#include <math.h>
#include <string.h>

const char *dmp_wss_method_name(enum dmp_wss_method m)
{
    switch (m) {
    case DMP_WSS_NONE: return "none";
    case DMP_WSS_SAMPLING: return "sampling";
    case DMP_WSS_MRC: return "mrc";
    }
    return "unknown";
}

int dmp_wss_method_parse(const char *s, enum dmp_wss_method *m)
{
    static const enum dmp_wss_method all[] = { DMP_WSS_NONE, DMP_WSS_SAMPLING, DMP_WSS_MRC };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(s, dmp_wss_method_name(all[i])) == 0) {
            *m = all[i];
            return 0;
        }
    }
    return -EINVAL;
}

void dmp_wss_smoother_init(struct dmp_wss_smoother *s, uint64_t fast_halflife_ms,
                           uint64_t slow_halflife_ms)
{
    memset(s, 0, sizeof(*s));
    s->fast_halflife_ms = fast_halflife_ms;
    s->slow_halflife_ms = slow_halflife_ms;
}

/* Weight of the new value for an interval of length dt: the old average keeps half its
 * weight after one half-life whatever the interval length, so irregular intervals (a late
 * daemon tick) do not distort the average. */
static double gain(uint64_t dt_ms, uint64_t halflife_ms)
{
    if (halflife_ms == 0)
        return 1.0;
    return 1.0 - exp2(-(double)dt_ms / (double)halflife_ms);
}

static void blend(struct dmp_wss_series *avg, const struct dmp_wss_series *x, double a)
{
    avg->value += a * (x->value - avg->value);
    avg->lower += a * (x->lower - avg->lower);
    avg->upper += a * (x->upper - avg->upper);
}

void dmp_wss_smoother_add(struct dmp_wss_smoother *s, const struct dmp_wss_series *x,
                          uint64_t interval_ms)
{
    s->latest = *x;
    if (!s->primed) {
        s->fast = s->slow = *x;
        s->primed = true;
        return;
    }
    blend(&s->fast, x, gain(interval_ms, s->fast_halflife_ms));
    blend(&s->slow, x, gain(interval_ms, s->slow_halflife_ms));
}

struct dmp_wss_series dmp_wss_smoother_report(const struct dmp_wss_smoother *s)
{
    struct dmp_wss_series r = s->latest;
    if (s->fast.value > r.value)
        r = s->fast;
    if (s->slow.value > r.value)
        r = s->slow;
    return r;
}

int dmp_wss_update(struct dmp_wss *w, const struct dmp_wss_observation *obs)
{
    return w->ops->update(w->impl, obs);
}

void dmp_wss_current(const struct dmp_wss *w, struct dmp_wss_estimate *out)
{
    w->ops->estimate(w->impl, out);
}

void dmp_wss_destroy(struct dmp_wss *w)
{
    if (w && w->ops && w->impl)
        w->ops->destroy(w->impl);
    if (w) {
        w->ops = NULL;
        w->impl = NULL;
    }
}
