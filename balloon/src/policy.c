#include "dmpballoon/balloon_policy.h"

#include "dmpcommon/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *dmp_policy_kind_name(enum dmp_policy_kind k)
{
    switch (k) {
    case DMP_POLICY_BALANCE: return "balance";
    case DMP_POLICY_STATIC: return "static";
    case DMP_POLICY_PROPORTIONAL: return "proportional";
    }
    return "unknown";
}

int dmp_policy_kind_parse(const char *s, enum dmp_policy_kind *k)
{
    for (int i = DMP_POLICY_BALANCE; i <= DMP_POLICY_PROPORTIONAL; i++) {
        if (strcmp(s, dmp_policy_kind_name((enum dmp_policy_kind)i)) == 0) {
            *k = (enum dmp_policy_kind)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *dmp_guest_state_name(enum dmp_guest_state s)
{
    switch (s) {
    case DMP_GUEST_OK: return "ok";
    case DMP_GUEST_STUCK: return "stuck";
    case DMP_GUEST_NO_BALLOON: return "no-balloon";
    }
    return "unknown";
}

const char *dmp_reason_name(enum dmp_reason r)
{
    static const char *const names[] = {
        [DMP_REASON_UNCHANGED] = "unchanged",
        [DMP_REASON_GROW] = "grow",
        [DMP_REASON_GROW_PRESSURE] = "grow-pressure",
        [DMP_REASON_SHRINK] = "shrink",
        [DMP_REASON_HYSTERESIS] = "hysteresis",
        [DMP_REASON_MIN_INTERVAL] = "min-interval",
        [DMP_REASON_BUDGET_LIMITED] = "budget-limited",
        [DMP_REASON_HOST_FREE_LIMITED] = "host-free-limited",
        [DMP_REASON_OVERCOMMITTED] = "overcommitted",
        [DMP_REASON_STUCK_DETECTED] = "stuck-detected",
        [DMP_REASON_STUCK_BACKOFF] = "stuck-backoff",
        [DMP_REASON_NO_BALLOON] = "no-balloon",
        [DMP_REASON_STATIC] = "static",
        [DMP_REASON_BOOTING] = "booting",
    };
    if ((unsigned)r < sizeof(names) / sizeof(names[0]) && names[r])
        return names[r];
    return "unknown";
}

void dmp_policy_params_default(struct dmp_policy_params *p)
{
    p->kind = DMP_POLICY_BALANCE;
    p->granularity_kib = 1024;
    p->min_floor_kib = 64 * 1024;
    p->safety_margin_kib = 64 * 1024;
    p->stuck_progress_pct = 25;
    p->stuck_tolerance_kib = 4096;
    p->stuck_backoff_ms = 60 * 1000;
    p->stuck_backoff_max_ms = 15 * 60 * 1000;
    p->noballoon_after = 3;
    p->pressure_step_pct = 10;
}

void dmp_guest_settings_default(struct dmp_guest_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->weight = 100;
    s->headroom_pct = 10;
    /* Sampling sees what a guest touches, not what it cannot give up: its kernel image,
     * memmap and slab, and (without swap) anonymous memory it holds but did not touch in the
     * interval. The lab's Debian 6.1 guest was OOM-killed at 479 MiB holding a 336 MiB set
     * and ran at 527 MiB (runs bc-1, bb-7): between 143 and 191 MiB beyond its set. */
    s->base_kib = 160 * 1024;
    s->hysteresis_kib = 16 * 1024;
    s->hysteresis_pct = 2;
    s->rate_limit_kib = 256 * 1024;
    s->min_change_interval_ms = 10 * 1000;
    s->stuck_timeout_ms = 30 * 1000;
    /* Under emulation a guest has taken over four minutes from creation to xenbus. */
    s->boot_grace_ms = 10 * 60 * 1000;
    s->floor_hold_ms = 60 * 1000;
    s->estimator = DMP_WSS_SAMPLING;
}

static uint64_t align_up(uint64_t v, uint64_t g)
{
    return v % g ? v + (g - v % g) : v;
}

static uint64_t align_down(uint64_t v, uint64_t g)
{
    return v - v % g;
}

static uint64_t absdiff(uint64_t a, uint64_t b)
{
    return a > b ? a - b : b - a;
}

static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static uint64_t max64(uint64_t a, uint64_t b) { return a > b ? a : b; }

static const char *ksz(uint64_t kib, char *buf, size_t len)
{
    return dmp_fmt_size(kib * 1024, buf, len);
}

/* Working state of one guest during a step. */
struct work {
    bool fixed;             /* not moved by the allocator this step */
    bool frozen_stuck;      /* fixed because of a stall */
    bool booting;           /* fixed: PV drivers not up yet */
    bool just_stuck;
    bool pressure;
    bool safety_raise;      /* old target is below the floor: raising is not optional */
    bool held_interval;
    uint64_t floor, need, ceiling, desired;
    uint64_t lo, hi, target;
    uint32_t flags;
};

enum dmp_guest_state dmp_guest_track_state(const struct dmp_guest_track *t)
{
    return t->retrying && t->state == DMP_GUEST_OK ? DMP_GUEST_STUCK : t->state;
}

/* Stall detection: update the guest's state (ok, stuck, no-balloon) from what its balloon
 * did since the last step. */
static void observe(const struct dmp_policy_params *pp, const struct dmp_host_input *h,
                    const struct dmp_guest_input *g, struct dmp_guest_track *t, struct work *w)
{
    uint64_t now = h->now_ms, tol = pp->stuck_tolerance_kib;

    /* A booting guest's balloon cannot react yet: a push now would only be judged a stall,
     * and three stalls make a working driver "no-balloon" for good. */
    if (g->pv_drivers_pending && g->age_ms < g->set.boot_grace_ms &&
        t->state == DMP_GUEST_OK && !t->ever_moved && g->balloon != DMP_BALLOON_ABSENT) {
        w->booting = true;
        t->pushing = false;
        return;
    }

    if (g->balloon == DMP_BALLOON_ABSENT) {
        t->state = DMP_GUEST_NO_BALLOON;
        t->pushing = false;
        t->retrying = false;
        return;
    }
    if (t->state == DMP_GUEST_NO_BALLOON) {
        if (g->balloon != DMP_BALLOON_PRESENT)
            return;
        t->state = DMP_GUEST_OK;     /* the driver appeared: judge it afresh */
        t->stuck_count = 0;
        t->pushing = false;
    }
    if (t->state == DMP_GUEST_STUCK) {
        if (now < t->retry_at_ms)
            return;
        t->state = DMP_GUEST_OK;
        t->pushing = false;
        t->retrying = true;
        w->flags |= DMP_DF_STUCK_RETRY;
    }
    /* A target we did not set (xl mem-set, or after a restart) starts a new push. */
    if (t->pushing && g->target_kib != t->push_to_kib)
        t->pushing = false;
    if (!t->pushing) {
        if (absdiff(g->target_kib, g->actual_kib) > tol) {
            t->pushing = true;
            t->push_start_ms = now;
            t->push_from_kib = g->actual_kib;
            t->push_to_kib = g->target_kib;
        }
        return;
    }
    uint64_t from = t->push_from_kib, to = t->push_to_kib, act = g->actual_kib;
    bool toward = to > from ? act > from : act < from;
    if (toward && absdiff(act, from) > tol) {
        t->ever_moved = true;
        t->retrying = false;
    }
    if (absdiff(act, to) <= tol) {
        t->pushing = false;
        t->stuck_count = 0;
        t->retrying = false;
        return;
    }
    if (now - t->push_start_ms < g->set.stuck_timeout_ms)
        return;
    uint64_t needed = absdiff(to, from);
    uint64_t progress = toward ? absdiff(act, from) : 0;
    if ((unsigned __int128)progress * 100 >= (unsigned __int128)needed * pp->stuck_progress_pct) {
        /* Slow but moving: judge the next window from here. */
        t->push_start_ms = now;
        t->push_from_kib = act;
        return;
    }
    t->stuck_count++;
    t->pushing = false;
    t->retrying = false;
    w->just_stuck = true;
    if (!t->ever_moved && t->stuck_count >= pp->noballoon_after &&
        g->balloon != DMP_BALLOON_PRESENT) {
        t->state = DMP_GUEST_NO_BALLOON;
        return;
    }
    uint64_t backoff = pp->stuck_backoff_ms;
    for (uint32_t i = 1; i < t->stuck_count && backoff < pp->stuck_backoff_max_ms; i++)
        backoff *= 2;
    if (backoff > pp->stuck_backoff_max_ms)
        backoff = pp->stuck_backoff_max_ms;
    t->state = DMP_GUEST_STUCK;
    t->retry_at_ms = now + backoff;
}

/* A guest whose estimate just rose is likely to rise as much again before the next estimate
 * (a workload that grows in steps): the last rise above the recent peak is kept as extra
 * headroom for floor-hold. A percentage alone left a guest growing 48 MiB at a time less
 * room than one step, and its kernel OOM-killed the workload between two samples (lab run
 * bb-6). The rise is measured from the peak, not the last sample, so an estimate recovering
 * from one low sample does not count as growth. */
static uint64_t growth_headroom(const struct dmp_host_input *h, const struct dmp_guest_input *g,
                                struct dmp_guest_track *t, uint64_t up)
{
    uint64_t hold = g->set.floor_hold_ms, now = h->now_ms;
    if (t->peak_wss_kib && up > t->peak_wss_kib &&
        (up - t->peak_wss_kib >= t->rise_kib || now - t->rise_ms >= hold)) {
        t->rise_kib = up - t->peak_wss_kib;
        t->rise_ms = now;
    } else if (now - t->rise_ms >= hold) {
        t->rise_kib = 0;
    }
    if (up >= t->peak_wss_kib || now - t->peak_wss_ms >= hold) {
        t->peak_wss_kib = up;
        t->peak_wss_ms = now;
    }
    return t->rise_kib;
}

static void bounds(const struct dmp_policy_params *pp, const struct dmp_host_input *h,
                   const struct dmp_guest_input *g, struct dmp_guest_track *t, struct work *w)
{
    uint64_t gran = pp->granularity_kib;
    uint64_t ceil = UINT64_MAX;
    if (g->set.max_kib)
        ceil = g->set.max_kib;
    if (g->maxmem_kib)
        ceil = min64(ceil, g->maxmem_kib);
    if (ceil == UINT64_MAX)
        ceil = h->budget_kib;
    w->ceiling = align_down(ceil, gran);

    uint64_t floor = max64(g->set.min_kib, pp->min_floor_kib);
    if (pp->kind == DMP_POLICY_BALANCE) {
        if (g->wss.valid) {
            uint64_t up = (g->wss.upper + 1023) / 1024;
            floor = max64(floor, up + up * g->set.headroom_pct / 100 + growth_headroom(h, g, t, up) +
                                     g->set.base_kib);
        }
        if (g->report.present && g->report.used_kib)
            floor = max64(floor, g->report.used_kib + pp->safety_margin_kib);
        /* Quick to grow, slow to shrink, in the policy too: the estimator's fast average
         * follows a single low sample halfway down (a guest that stalled while growing
         * touched little), and shrinking on it took memory from a guest whose set was still
         * growing, which its kernel answered with an OOM kill (lab run bb-5). A floor stands
         * for floor-hold after its last peak. */
        if (floor >= t->held_floor_kib || h->now_ms - t->held_floor_ms >= g->set.floor_hold_ms) {
            t->held_floor_kib = floor;
            t->held_floor_ms = h->now_ms;
        } else {
            floor = t->held_floor_kib;
        }
    }
    floor = align_up(floor, gran);
    if (floor > w->ceiling) {
        floor = w->ceiling;
        w->flags |= DMP_DF_FLOOR_ABOVE_MAX;
    }
    w->floor = floor;

    /* Pressure: the guest swaps in, OOM-kills, or the estimator saw all of its memory busy.
     * It then needs more than its estimate says; ask for a step above what it has. */
    bool pressure = false;
    if (g->report.present) {
        if (t->seen_report && (g->report.swap_in_pages > t->last_swap_in ||
                               g->report.oom_kills > t->last_oom))
            pressure = true;
        t->seen_report = true;
        t->last_swap_in = g->report.swap_in_pages;
        t->last_oom = g->report.oom_kills;
    }
    if (g->wss.valid && g->wss.saturated)
        pressure = true;
    w->need = floor;
    if (pp->kind == DMP_POLICY_BALANCE && pressure) {
        uint64_t base = max64(g->actual_kib, g->target_kib);
        uint64_t step = max64(gran, base * pp->pressure_step_pct / 100);
        w->need = min64(w->ceiling, max64(floor, align_up(base + step, gran)));
        w->pressure = true;
        w->flags |= DMP_DF_PRESSURE;
    }
}

/* Take up to `excess` KiB from the guests' (target - base[i]) amounts, proportionally to
 * those amounts, in granularity units where possible. Returns what could not be taken. */
static uint64_t trim(struct work *w, const uint64_t *base, size_t n, uint64_t excess,
                     uint64_t gran, uint32_t flag)
{
    for (size_t round = 0; round < n + 2 && excess > 0; round++) {
        unsigned __int128 total = 0;
        for (size_t i = 0; i < n; i++)
            if (w[i].target > base[i])
                total += w[i].target - base[i];
        if (total == 0)
            break;
        bool last = round == n + 1;
        for (size_t i = 0; i < n && excess > 0; i++) {
            if (w[i].target <= base[i])
                continue;
            uint64_t avail = w[i].target - base[i];
            uint64_t cut = last ? avail
                                : (uint64_t)(((unsigned __int128)excess * avail + total - 1) / total);
            cut = align_up(cut, gran);
            cut = min64(min64(cut, avail), align_up(excess, gran) > avail ? avail : align_up(excess, gran));
            w[i].target -= cut;
            w[i].flags |= flag;
            excess = cut >= excess ? 0 : excess - cut;
        }
    }
    return excess;
}

int dmp_policy_step(const struct dmp_policy_params *pp, const struct dmp_host_input *h,
                    const struct dmp_guest_input *in, struct dmp_guest_track *track, size_t n,
                    struct dmp_decision *out, struct dmp_policy_summary *sum)
{
    if (!pp->granularity_kib || pp->granularity_kib % 4 || h->reserve_kib > h->budget_kib)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (track[i].domid != in[i].domid || in[i].set.weight == 0)
            return -EINVAL;
    }
    struct work *w = calloc(n ? n : 1, sizeof(*w));
    uint64_t *lo = calloc(n ? n : 1, sizeof(uint64_t));
    uint64_t *hi = calloc(n ? n : 1, sizeof(uint64_t));
    uint64_t *base = calloc(n ? n : 1, sizeof(uint64_t));
    uint32_t *wt = calloc(n ? n : 1, sizeof(uint32_t));
    if (!w || !lo || !hi || !base || !wt) {
        free(w); free(lo); free(hi); free(base); free(wt);
        return -ENOMEM;
    }
    const uint64_t gran = pp->granularity_kib, now = h->now_ms;
    const uint64_t avail = h->budget_kib - h->reserve_kib;
    uint64_t sum_old = 0, sum_fixed = 0;

    /* 1. Who may be moved, and within which bounds. */
    for (size_t i = 0; i < n; i++) {
        const struct dmp_guest_input *g = &in[i];
        struct dmp_guest_track *t = &track[i];
        observe(pp, h, g, t, &w[i]);
        bounds(pp, h, g, t, &w[i]);
        uint64_t old = g->target_kib;
        sum_old += old;
        if (t->state == DMP_GUEST_NO_BALLOON || pp->kind == DMP_POLICY_STATIC || w[i].booting) {
            w[i].fixed = true;
            w[i].target = old;
        } else if (t->state == DMP_GUEST_STUCK) {
            /* Stop pushing: ask for what it holds, so the target tells the truth. Never above
             * the ceiling: Xen counts a few pages of its own in what a guest holds (the lab saw
             * actual = static-max + 64 KiB), and a target above static-max cannot be set. */
            w[i].fixed = w[i].frozen_stuck = true;
            w[i].target = align_down(g->actual_kib, 4);
            if (w[i].ceiling && w[i].target > w[i].ceiling)
                w[i].target = w[i].ceiling;
        }
        if (w[i].fixed) {
            lo[i] = hi[i] = w[i].target;
            sum_fixed += w[i].target;
            continue;
        }
        w[i].safety_raise = old < w[i].floor;
        uint64_t rate = g->set.rate_limit_kib;
        uint64_t l = min64(old, w[i].floor), u = w[i].ceiling;
        if (rate) {
            l = max64(l, old > rate ? align_up(old - rate, gran) : 0);
            u = min64(u, align_down(old + rate, gran));
        }
        bool too_soon = t->changed_once && now - t->last_change_ms < g->set.min_change_interval_ms;
        if (too_soon) {
            /* Hold, unless a hard rule says move: above the ceiling or below the floor. */
            w[i].held_interval = true;
            l = max64(l, min64(old, w[i].ceiling));
            if (!w[i].safety_raise)
                u = min64(u, old);
        }
        if (l > w[i].ceiling)
            l = w[i].ceiling;
        if (u < l)
            u = l;
        /* old itself is always allowed when within the ceiling (no change). */
        lo[i] = l;
        hi[i] = u;
        wt[i] = g->set.weight;
    }

    /* 2. What each movable guest should have, ignoring step limits: its need (floor, or
     * more under pressure) plus a weighted share of what is left, up to its ceiling. */
    uint64_t pool = avail > sum_fixed ? avail - sum_fixed : 0;
    size_t nm = 0;
    uint64_t *mlo = calloc(n ? n : 1, sizeof(uint64_t)), *mhi = calloc(n ? n : 1, sizeof(uint64_t));
    uint64_t *mout = calloc(n ? n : 1, sizeof(uint64_t));
    uint32_t *mw = calloc(n ? n : 1, sizeof(uint32_t));
    bool overcommitted = false;
    if (!mlo || !mhi || !mout || !mw) {
        free(mlo); free(mhi); free(mout); free(mw);
        free(w); free(lo); free(hi); free(base); free(wt);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (w[i].fixed)
            continue;
        mlo[nm] = pp->kind == DMP_POLICY_PROPORTIONAL ? w[i].floor : w[i].need;
        mhi[nm] = w[i].ceiling;
        mw[nm] = wt[i];
        nm++;
    }
    if (!dmp_waterfill(pool, nm, mlo, mhi, mw, gran, mout))
        overcommitted = true;
    for (size_t i = 0, k = 0; i < n; i++) {
        if (w[i].fixed) {
            w[i].desired = w[i].target;
            continue;
        }
        w[i].desired = mout[k++];
        uint64_t old = in[i].target_kib;
        /* Hysteresis: small moves are not worth a balloon round trip, except to reach the
         * floor or to get under the ceiling. */
        uint64_t thr = max64(in[i].set.hysteresis_kib, old * in[i].set.hysteresis_pct / 100);
        if (w[i].desired != old && absdiff(w[i].desired, old) < thr && !w[i].safety_raise &&
            old <= w[i].ceiling) {
            w[i].desired = old;
            w[i].flags |= DMP_DF_HYSTERESIS;
        }
        /* 3. Step limits. */
        uint64_t d = w[i].desired;
        if (d > hi[i]) {
            w[i].target = hi[i];
            w[i].flags |= hi[i] == w[i].ceiling ? DMP_DF_CEILING
                          : w[i].held_interval ? DMP_DF_MIN_INTERVAL : DMP_DF_RATE;
        } else if (d < lo[i]) {
            w[i].target = lo[i];
            w[i].flags |= lo[i] == w[i].floor ? DMP_DF_FLOOR
                          : w[i].held_interval ? DMP_DF_MIN_INTERVAL : DMP_DF_RATE;
        } else {
            w[i].target = d;
        }
    }
    free(mlo); free(mhi); free(mout); free(mw);

    /* 4. The budget: cut growth first, then slow shrinkers down to their step bound, then a
     * stalled guest's freeze back to its old target. Each only lowers targets. */
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i].target;
    if (total > avail) {
        uint64_t excess = total - avail;
        for (size_t i = 0; i < n; i++)
            base[i] = w[i].fixed ? w[i].target : max64(in[i].target_kib, lo[i]);
        excess = trim(w, base, n, excess, gran, DMP_DF_BUDGET);
        for (size_t i = 0; i < n; i++)
            base[i] = w[i].fixed ? w[i].target : lo[i];
        excess = trim(w, base, n, excess, gran, DMP_DF_BUDGET);
        for (size_t i = 0; i < n; i++)
            base[i] = w[i].frozen_stuck ? min64(w[i].target, in[i].target_kib) : w[i].target;
        excess = trim(w, base, n, excess, 4, DMP_DF_BUDGET);
        if (excess > 0)
            overcommitted = true;
    }

    /* 5. Host free memory: growth beyond what guests already hold or were promised must fit
     * in what is free now above the reserve, or the host would dip into its reserve while
     * other balloons are still inflating. */
    uint64_t promised = 0, growth = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i].target_kib > in[i].actual_kib)
            promised += in[i].target_kib - in[i].actual_kib;
        base[i] = w[i].fixed ? w[i].target : max64(in[i].target_kib, align_up(in[i].actual_kib, gran));
        if (w[i].target > base[i])
            growth += w[i].target - base[i];
    }
    uint64_t free_room = h->free_kib > h->reserve_kib + promised
                             ? h->free_kib - h->reserve_kib - promised : 0;
    if (growth > free_room)
        trim(w, base, n, growth - free_room, gran, DMP_DF_HOST_FREE);

    /* 6. Trimming may leave a sliver of growth: not worth a change (lowering is safe). */
    for (size_t i = 0; i < n; i++) {
        uint64_t old = in[i].target_kib;
        uint64_t thr = max64(in[i].set.hysteresis_kib, old * in[i].set.hysteresis_pct / 100);
        if (!w[i].fixed && w[i].target > old && w[i].target - old < thr && !w[i].safety_raise &&
            (w[i].flags & (DMP_DF_BUDGET | DMP_DF_HOST_FREE))) {
            w[i].target = old;
            w[i].flags |= DMP_DF_HYSTERESIS;
        }
    }

    /* 7. Records and memory for the next step. */
    struct dmp_policy_summary s = {
        .now_ms = now, .budget_kib = h->budget_kib, .reserve_kib = h->reserve_kib,
        .free_kib = h->free_kib, .sum_old_kib = sum_old, .overcommitted = overcommitted,
        .n_guests = n,
    };
    for (size_t i = 0; i < n; i++) {
        const struct dmp_guest_input *g = &in[i];
        struct dmp_guest_track *t = &track[i];
        struct dmp_decision *d = &out[i];
        uint64_t old = g->target_kib, nt = w[i].target;
        memset(d, 0, sizeof(*d));
        d->time_ms = now;
        d->domid = g->domid;
        snprintf(d->name, sizeof(d->name), "%s", g->name);
        d->policy = pp->kind;
        d->old_target_kib = old;
        d->new_target_kib = nt;
        d->actual_kib = g->actual_kib;
        d->floor_kib = w[i].floor;
        d->ceiling_kib = w[i].ceiling;
        d->desired_kib = w[i].desired;
        d->wss = g->wss;
        d->state = dmp_guest_track_state(t);
        d->flags = w[i].flags | (overcommitted ? DMP_DF_OVERCOMMIT : 0);

        if (t->state == DMP_GUEST_NO_BALLOON)
            d->reason = DMP_REASON_NO_BALLOON;
        else if (w[i].booting)
            d->reason = DMP_REASON_BOOTING;
        else if (w[i].just_stuck)
            d->reason = DMP_REASON_STUCK_DETECTED;
        else if (w[i].frozen_stuck)
            d->reason = DMP_REASON_STUCK_BACKOFF;
        else if (pp->kind == DMP_POLICY_STATIC)
            d->reason = DMP_REASON_STATIC;
        else if (nt > old)
            d->reason = w[i].pressure ? DMP_REASON_GROW_PRESSURE : DMP_REASON_GROW;
        else if (nt < old)
            d->reason = DMP_REASON_SHRINK;
        else if (w[i].flags & DMP_DF_HYSTERESIS)
            d->reason = DMP_REASON_HYSTERESIS;
        else if (w[i].held_interval && w[i].desired != old)
            d->reason = DMP_REASON_MIN_INTERVAL;
        else if (w[i].desired > old && (w[i].flags & DMP_DF_HOST_FREE))
            d->reason = DMP_REASON_HOST_FREE_LIMITED;
        else if (w[i].desired > old && (w[i].flags & DMP_DF_BUDGET))
            d->reason = DMP_REASON_BUDGET_LIMITED;
        else if (overcommitted && w[i].desired > old)
            d->reason = DMP_REASON_OVERCOMMITTED;
        else
            d->reason = DMP_REASON_UNCHANGED;

        char a[16], b[16], c[16], e[16], lo_s[16], up_s[16], f[16], ce[16], de[16];
        int len = snprintf(d->text, sizeof(d->text), "%s: target %s -> %s (actual %s)",
                           dmp_reason_name(d->reason), ksz(old, a, sizeof(a)),
                           ksz(nt, b, sizeof(b)), ksz(g->actual_kib, c, sizeof(c)));
        if (g->wss.valid && len > 0 && (size_t)len < sizeof(d->text))
            len += snprintf(d->text + len, sizeof(d->text) - (size_t)len,
                            "; working set %s [%s..%s] by %s",
                            dmp_fmt_size(g->wss.bytes, e, sizeof(e)),
                            dmp_fmt_size(g->wss.lower, lo_s, sizeof(lo_s)),
                            dmp_fmt_size(g->wss.upper, up_s, sizeof(up_s)),
                            dmp_wss_method_name(g->wss.method));
        if (len > 0 && (size_t)len < sizeof(d->text))
            len += snprintf(d->text + len, sizeof(d->text) - (size_t)len,
                            "; floor %s, ceiling %s, desired %s",
                            ksz(w[i].floor, f, sizeof(f)), ksz(w[i].ceiling, ce, sizeof(ce)),
                            ksz(w[i].desired, de, sizeof(de)));
        static const struct { uint32_t bit; const char *word; } lim[] = {
            { DMP_DF_PRESSURE, "pressure" }, { DMP_DF_RATE, "rate-limit" },
            { DMP_DF_MIN_INTERVAL, "min-interval" }, { DMP_DF_HYSTERESIS, "hysteresis" },
            { DMP_DF_BUDGET, "budget" }, { DMP_DF_HOST_FREE, "host-free" },
            { DMP_DF_FLOOR, "floor" }, { DMP_DF_CEILING, "ceiling" },
            { DMP_DF_OVERCOMMIT, "overcommitted" }, { DMP_DF_STUCK_RETRY, "stuck-retry" },
            { DMP_DF_FLOOR_ABOVE_MAX, "floor-above-max" },
        };
        bool first = true;
        for (size_t k = 0; k < sizeof(lim) / sizeof(lim[0]); k++) {
            if (!(d->flags & lim[k].bit) || len <= 0 || (size_t)len >= sizeof(d->text))
                continue;
            len += snprintf(d->text + len, sizeof(d->text) - (size_t)len, "%s%s",
                            first ? "; limits: " : ",", lim[k].word);
            first = false;
        }

        if (nt != old) {
            t->changed_once = true;
            t->last_change_ms = now;
            s.n_changed++;
            if (!w[i].frozen_stuck) {
                /* Pushing further the same way keeps the stall window running: a guest
                 * must not escape detection because its target keeps moving. */
                bool same_way = t->pushing &&
                                (t->push_to_kib < t->push_from_kib) == (nt < t->push_from_kib) &&
                                nt != t->push_from_kib;
                if (!same_way) {
                    t->push_start_ms = now;
                    t->push_from_kib = g->actual_kib;
                }
                t->pushing = true;
                t->push_to_kib = nt;
            }
        }
        s.sum_new_kib += nt;
        s.sum_actual_kib += g->actual_kib;
        s.n_stuck += dmp_guest_track_state(t) == DMP_GUEST_STUCK;
        s.n_no_balloon += dmp_guest_track_state(t) == DMP_GUEST_NO_BALLOON;
    }
    if (sum)
        *sum = s;
    free(w); free(lo); free(hi); free(base); free(wt);
    return 0;
}
