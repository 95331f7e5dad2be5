/* Working-set estimation: the result every estimator produces, the fast/slow smoothing they
 * share, and one small interface (update + current estimate) the daemon drives without
 * knowing which estimator sits behind it.
 *
 * Nothing here talks to Xen: the host side (toolstack/) performs the page sampling or the
 * access trapping and hands the observations in, with the time, as plain numbers. */
#ifndef DMP_WSS_H
#define DMP_WSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DMP_PAGE_SIZE 4096u

enum dmp_wss_method {
    DMP_WSS_NONE = 0,       /* no estimator: the policy uses only config and guest reports */
    DMP_WSS_SAMPLING,       /* Waldspurger/ESX statistical sampling */
    DMP_WSS_MRC,            /* LRU histogram -> miss-ratio curve (Zhao/Wang/Luo) */
};

const char *dmp_wss_method_name(enum dmp_wss_method m);
/* Returns 0 and the method for "none", "sampling", "mrc"; -EINVAL otherwise. */
int dmp_wss_method_parse(const char *s, enum dmp_wss_method *m);

struct dmp_wss_estimate {
    bool valid;             /* false until the first interval completed */
    enum dmp_wss_method method;
    uint64_t bytes;         /* reported working set */
    uint64_t lower, upper;  /* confidence bounds on bytes (about 95 %) */
    uint64_t samples;       /* observations behind the latest interval (pages or accesses) */
    uint32_t intervals;     /* completed intervals */
    uint64_t time_ms;       /* end time of the latest interval */
    /* The estimate hit the guest's whole allocation: the true working set may be larger
     * (the guest may be swapping). The policy treats this as memory pressure. */
    bool saturated;
};

/* --- fast/slow smoothing (shared by both estimators) ---------------------------------- */

/* Each series carries a value and its bounds; the reported series is the largest of the
 * latest, the fast and the slow averages, which makes the estimate grow as soon as one
 * interval shows more use and shrink only as fast as the slow average decays (ESX). */
struct dmp_wss_series {
    double value, lower, upper;
};

struct dmp_wss_smoother {
    uint64_t fast_halflife_ms;
    uint64_t slow_halflife_ms;
    bool primed;
    struct dmp_wss_series latest, fast, slow;
};

void dmp_wss_smoother_init(struct dmp_wss_smoother *s, uint64_t fast_halflife_ms,
                           uint64_t slow_halflife_ms);
/* Feed one interval's estimate (in bytes) that covered interval_ms of time. */
void dmp_wss_smoother_add(struct dmp_wss_smoother *s, const struct dmp_wss_series *x,
                          uint64_t interval_ms);
/* The series reported: max by value of latest, fast, slow. */
struct dmp_wss_series dmp_wss_smoother_report(const struct dmp_wss_smoother *s);

/* --- the common interface ------------------------------------------------------------ */

/* One access seen by the host (a trapped touch of a cold page). */
struct dmp_page_access {
    uint64_t gfn;
    uint64_t time_ms;
};

/* Everything one interval can bring; each estimator reads the fields it needs. */
struct dmp_wss_observation {
    uint64_t now_ms;            /* end of the interval */
    uint64_t interval_ms;       /* its length */
    uint64_t guest_pages;       /* pages the guest has populated now (its allocation) */
    /* sampling */
    uint32_t sampled;           /* pages whose access was invalidated at interval start */
    uint32_t touched;           /* of those, pages the guest touched during the interval */
    /* mrc */
    const struct dmp_page_access *accesses;
    size_t n_accesses;
};

struct dmp_wss_ops {
    enum dmp_wss_method method;
    int (*update)(void *impl, const struct dmp_wss_observation *obs);
    void (*estimate)(const void *impl, struct dmp_wss_estimate *out);
    void (*destroy)(void *impl);
};

struct dmp_wss {
    const struct dmp_wss_ops *ops;
    void *impl;
};

/* Returns 0, or a negative errno (-EINVAL: inconsistent observation; -ENOMEM). */
int dmp_wss_update(struct dmp_wss *w, const struct dmp_wss_observation *obs);
void dmp_wss_current(const struct dmp_wss *w, struct dmp_wss_estimate *out);
void dmp_wss_destroy(struct dmp_wss *w);

#endif
