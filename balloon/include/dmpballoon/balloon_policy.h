/* The balancing policy: from what the host and each guest look like now, the new memory
 * target of every guest and one decision record per guest saying why.
 *
 * Pure function of its inputs: time comes in as host->now_ms; what the policy must remember
 * between steps (stuck detection, last change, pressure counters) lives in a
 * struct dmp_guest_track the caller owns and may persist. Sizes are KiB (the unit of Xen's
 * memory/target), integers throughout so the accounting is exact.
 *
 * Safety rules, in order of precedence (all enforced in dmp_policy_step):
 *   1. sum of new targets <= budget - reserve (when the old targets satisfied it; otherwise
 *      the sum never grows and only moves towards it);
 *   2. never above a guest's ceiling = min(config max, Xen maxmem);
 *   3. never lowered below its floor = max(config min, estimate upper bound + headroom,
 *      guest-reported used + safety margin, absolute minimum);
 *   4. a guest without a balloon driver, or whose balloon is stuck, is left alone;
 *   5. rate limit and minimum interval between changes, hysteresis, granularity. */
#ifndef DMP_BALLOON_POLICY_H
#define DMP_BALLOON_POLICY_H

#include "dmpballoon/wss.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DMP_NAME_MAX 64

enum dmp_policy_kind {
    DMP_POLICY_BALANCE = 0,     /* working-set driven (this project) */
    DMP_POLICY_STATIC,          /* baseline: targets never change */
    DMP_POLICY_PROPORTIONAL,    /* baseline like XAPI squeezed: min + weighted share of surplus */
};
const char *dmp_policy_kind_name(enum dmp_policy_kind k);
int dmp_policy_kind_parse(const char *s, enum dmp_policy_kind *k);

/* Per-guest settings after config file and overrides. */
struct dmp_guest_settings {
    uint64_t min_kib;               /* config min (0: none) */
    uint64_t max_kib;               /* config max (0: Xen's maxmem alone) */
    uint32_t weight;                /* 1..10000 */
    uint32_t headroom_pct;          /* added to the estimate's upper bound */
    uint64_t base_kib;              /* needed besides the working set (kernel, untouched anon) */
    uint64_t hysteresis_kib;        /* ignore changes smaller than this ... */
    uint32_t hysteresis_pct;        /* ... or than this % of the current target */
    uint64_t rate_limit_kib;        /* most a target moves per step (0: unlimited) */
    uint64_t min_change_interval_ms;
    uint64_t stuck_timeout_ms;
    uint64_t boot_grace_ms;         /* longest a guest with pending PV drivers is left alone */
    uint64_t floor_hold_ms;         /* a floor stands this long after its last peak */
    enum dmp_wss_method estimator;
};

/* Host-wide parameters. */
struct dmp_policy_params {
    enum dmp_policy_kind kind;
    uint64_t granularity_kib;       /* targets are multiples of this (>= 4, multiple of 4) */
    uint64_t min_floor_kib;         /* absolute minimum of any floor */
    uint64_t safety_margin_kib;     /* added to the guest-reported used memory */
    uint32_t stuck_progress_pct;    /* progress towards a target required per timeout */
    uint64_t stuck_tolerance_kib;   /* |actual - target| within this counts as reached */
    uint64_t stuck_backoff_ms;      /* first retry after; doubles per consecutive stall */
    uint64_t stuck_backoff_max_ms;
    uint32_t noballoon_after;       /* stalls without ever moving before "no-balloon" */
    uint32_t pressure_step_pct;     /* growth asked for a guest under pressure, % of actual */
};
void dmp_policy_params_default(struct dmp_policy_params *p);
void dmp_guest_settings_default(struct dmp_guest_settings *s);

/* What a guest publishes about itself (optional). */
struct dmp_guest_report {
    bool present;
    uint64_t used_kib;              /* total - available (0: unknown) */
    uint64_t swap_in_pages;         /* cumulative counters */
    uint64_t oom_kills;
};

enum dmp_balloon_presence {
    DMP_BALLOON_UNKNOWN = 0,        /* not known: judged from behaviour */
    DMP_BALLOON_PRESENT,            /* e.g. the guest advertises feature-balloon */
    DMP_BALLOON_ABSENT,
};

struct dmp_guest_input {
    uint32_t domid;
    char name[DMP_NAME_MAX];
    uint64_t target_kib;            /* current memory/target */
    uint64_t actual_kib;            /* what the balloon reached */
    uint64_t maxmem_kib;            /* Xen's max (0: unknown) */
    struct dmp_guest_settings set;
    struct dmp_wss_estimate wss;
    struct dmp_guest_report report;
    enum dmp_balloon_presence balloon;
    /* The guest's PV drivers have not announced themselves yet (Linux writes no
     * feature-balloon; it writes control/feature-poweroff once xenbus is up, and its balloon
     * watch is set up at the same time). Until then its balloon cannot react: it is neither
     * pushed nor judged, for at most set.boot_grace_ms after the balancer first saw it. */
    bool pv_drivers_pending;
    uint64_t age_ms;                /* since the balancer first saw the guest */
};

enum dmp_guest_state {
    DMP_GUEST_OK = 0,
    DMP_GUEST_STUCK,
    DMP_GUEST_NO_BALLOON,
};
const char *dmp_guest_state_name(enum dmp_guest_state s);

/* Policy memory about one guest: zero it for a new guest (and set domid). */
struct dmp_guest_track {
    uint32_t domid;
    enum dmp_guest_state state;
    bool changed_once;
    uint64_t last_change_ms;
    bool pushing;                   /* a target is outstanding */
    uint64_t push_start_ms, push_from_kib, push_to_kib;
    uint64_t retry_at_ms;
    uint32_t stuck_count;           /* consecutive stalls */
    bool retrying;                  /* pushed again after a back-off, not moved yet: still
                                     * reported stuck, so a paused guest never looks "ok" */
    bool ever_moved;                /* the balloon has reacted at least once */
    bool seen_report;
    uint64_t last_swap_in, last_oom;
    uint64_t held_floor_kib, held_floor_ms;     /* highest recent floor, and since when */
    uint64_t peak_wss_kib, peak_wss_ms;         /* highest recent estimate, and since when */
    uint64_t rise_kib, rise_ms;                 /* its last rise, kept as headroom */
};

/* The state a guest is reported in: a retry after a back-off stays "stuck" until the
 * balloon moves. */
enum dmp_guest_state dmp_guest_track_state(const struct dmp_guest_track *t);

struct dmp_host_input {
    uint64_t now_ms;
    uint64_t budget_kib;            /* memory the guests may have in total */
    uint64_t reserve_kib;           /* kept free inside the budget */
    uint64_t free_kib;              /* host free memory now */
};

enum dmp_reason {
    DMP_REASON_UNCHANGED = 0,
    DMP_REASON_GROW,
    DMP_REASON_GROW_PRESSURE,
    DMP_REASON_SHRINK,
    DMP_REASON_HYSTERESIS,
    DMP_REASON_MIN_INTERVAL,
    DMP_REASON_BUDGET_LIMITED,
    DMP_REASON_HOST_FREE_LIMITED,
    DMP_REASON_OVERCOMMITTED,
    DMP_REASON_STUCK_DETECTED,
    DMP_REASON_STUCK_BACKOFF,
    DMP_REASON_NO_BALLOON,
    DMP_REASON_STATIC,
    DMP_REASON_BOOTING,
};
const char *dmp_reason_name(enum dmp_reason r);

/* Limits that shaped a decision (bitmask in dmp_decision.flags). */
enum {
    DMP_DF_FLOOR = 1u << 0,         /* held at/raised to the floor */
    DMP_DF_CEILING = 1u << 1,
    DMP_DF_RATE = 1u << 2,
    DMP_DF_BUDGET = 1u << 3,
    DMP_DF_HOST_FREE = 1u << 4,
    DMP_DF_HYSTERESIS = 1u << 5,
    DMP_DF_MIN_INTERVAL = 1u << 6,
    DMP_DF_PRESSURE = 1u << 7,
    DMP_DF_OVERCOMMIT = 1u << 8,
    DMP_DF_STUCK_RETRY = 1u << 9,   /* back-off over, pushing again */
    DMP_DF_FLOOR_ABOVE_MAX = 1u << 10,
};

struct dmp_decision {
    uint64_t time_ms;
    uint32_t domid;
    char name[DMP_NAME_MAX];
    enum dmp_policy_kind policy;
    uint64_t old_target_kib, new_target_kib, actual_kib;
    uint64_t floor_kib, ceiling_kib, desired_kib;
    struct dmp_wss_estimate wss;
    enum dmp_guest_state state;
    enum dmp_reason reason;
    uint32_t flags;
    char text[240];
};

struct dmp_policy_summary {
    uint64_t now_ms;
    uint64_t budget_kib, reserve_kib, free_kib;
    uint64_t sum_old_kib, sum_new_kib, sum_actual_kib;
    bool overcommitted;             /* floors do not fit in budget - reserve */
    size_t n_guests, n_changed, n_stuck, n_no_balloon;
};

/* One policy step over n guests. track[i] belongs to in[i] (same domid, else -EINVAL).
 * Writes out[i] for every guest and updates track[i]. Returns 0, or -EINVAL on
 * inconsistent input (bad params, weight 0, reserve > budget). */
int dmp_policy_step(const struct dmp_policy_params *pp, const struct dmp_host_input *host,
                    const struct dmp_guest_input *in, struct dmp_guest_track *track, size_t n,
                    struct dmp_decision *out, struct dmp_policy_summary *sum);

/* Weighted water-filling, exposed for tests and the proportional baseline: share pool_kib
 * among n guests, each between lo[i] and hi[i] (multiples of gran_kib, lo <= hi), by weight,
 * in whole gran_kib units, deterministically. Returns false (and out = lo) when the lows do
 * not fit in the pool. */
bool dmp_waterfill(uint64_t pool_kib, size_t n, const uint64_t *lo, const uint64_t *hi,
                   const uint32_t *w, uint64_t gran_kib, uint64_t *out);

#endif
