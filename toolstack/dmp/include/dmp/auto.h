/* Automatic DMP (dmpd service "dmp"): the pure part. Configuration ([dmp] section of dmpd's
 * configuration file, per-domain overrides), the per-domain decision state machine (profile
 * results -> patch or not, failures -> back-off), and its persistent text form. No Xen here:
 * the service (toolstack/dmpd/svc_dmp.c) runs the operations in a worker process
 * (dmp/worker.h), reads their reports back (dmp/report.h) and feeds the results in;
 * unit-tested in toolstack/dmp/tests/test_dmp_auto.c.
 *
 *   [dmp]
 *   mode = patch            # off | observe | patch
 *   threshold = 2000        # page-table exits per second (see dmp_auto_profile_rate)
 *   window = 5s             # length of one profile (1s..3600s)
 *   sustain = 2             # consecutive windows at or above threshold before patching
 *   recheck = 5m            # between profiles of a guest that stayed below
 *   delay = 10s             # after a domain appears, before its first profile
 *   sites = all-mmu         # all-mmu | hot (the profile's kernel RIPs)
 *   exclude = db,build      # never touched
 *   backoff = 60s           # after a failure; doubled per consecutive failure
 *   max-failures = 3        # then give up on that domain (until it is recreated)
 *   patch-timeout = 10m     # a patch child is killed after this (profile: window + 60s)
 *   dmpctl = /usr/bin/dmpctl   # accepted for older files; no effect (dmpd runs the operations)
 *
 * Durations: a number with ms/s/m/h (bare = seconds). Errors name the file, the line and the
 * key: "dmpd.conf:4: threshold 'fast' is not a number in [dmp]". Other sections belong to
 * other services and are skipped here. */
#ifndef DMP_DMP_AUTO_H
#define DMP_DMP_AUTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DMP_AUTO_NAME_MAX 128
#define DMP_AUTO_UUID_MAX 40
#define DMP_AUTO_EXCLUDE_MAX 32
#define DMP_AUTO_PATH_MAX 256

enum dmp_auto_mode { DMP_AUTO_OFF, DMP_AUTO_OBSERVE, DMP_AUTO_PATCH };
enum dmp_auto_sites { DMP_AUTO_SITES_ALL_MMU, DMP_AUTO_SITES_HOT };

/* The settings that may differ per domain (xenstore overrides). */
struct dmp_auto_settings {
    enum dmp_auto_mode mode;
    uint64_t threshold;         /* exits per second */
    uint32_t window_s;
    uint32_t sustain;
    enum dmp_auto_sites sites;
};

struct dmp_auto_config {
    bool present;               /* the file has a [dmp] section */
    uint32_t section_line;
    struct dmp_auto_settings set;
    uint64_t recheck_ms, delay_ms, backoff_ms, patch_timeout_ms;
    uint32_t max_failures;
    char exclude[DMP_AUTO_EXCLUDE_MAX][DMP_AUTO_NAME_MAX];
    size_t n_exclude;
    char dmpctl[DMP_AUTO_PATH_MAX];   /* accepted and kept; not used since dmpd runs the
                                         operations itself (dmp/worker.h) */
};

void dmp_auto_config_init(struct dmp_auto_config *c);
/* Parse the [dmp] section of a dmpd configuration text (need not be NUL-terminated), named
 * fname in messages. Returns 0 (c->present tells whether the section exists) or -EINVAL with
 * "fname:line: ..." in err. */
int dmp_auto_config_parse(struct dmp_auto_config *c, const char *text, size_t len,
                          const char *fname, char *err, size_t errlen);
/* Apply one per-domain override (key in mode, threshold, window, sustain, sites) to set,
 * validated like the file; source names its origin in messages. set is unchanged on error
 * (-EINVAL). */
int dmp_auto_settings_override(struct dmp_auto_settings *set, const char *key, const char *val,
                               const char *source, char *err, size_t errlen);
bool dmp_auto_config_excludes(const struct dmp_auto_config *c, const char *name);
const char *dmp_auto_mode_name(enum dmp_auto_mode m);
const char *dmp_auto_sites_name(enum dmp_auto_sites s);

/* ---- per-domain state machine ---- */

enum dmp_auto_phase {
    DMP_AUTO_WATCHING,          /* next: a profile at next_ms */
    DMP_AUTO_PROFILING,         /* a profile child runs */
    DMP_AUTO_PATCH_DUE,         /* next: a patch at next_ms */
    DMP_AUTO_PATCHING,          /* a patch child runs */
    DMP_AUTO_PATCHED,           /* done for the life of this domain */
    DMP_AUTO_GAVE_UP,           /* max-failures consecutive failures */
    DMP_AUTO_IGNORED,           /* HAP or PV: nothing to do, ever */
    DMP_AUTO_PHASE_NR
};

struct dmp_auto_dom {
    uint32_t domid;
    char uuid[DMP_AUTO_UUID_MAX];       /* with domid, the identity (a recycled domid is new) */
    char name[DMP_AUTO_NAME_MAX];
    enum dmp_auto_phase phase;
    uint64_t next_ms;           /* wall-clock ms (survives a restart) */
    uint32_t above;             /* consecutive windows at or above the threshold */
    uint32_t windows;           /* profiles completed */
    uint32_t failures;          /* consecutive failures */
    bool would_patch;           /* observe mode reached the patch condition at least once */
    double last_rate;           /* exits/s of the last profile (< 0: none yet) */
    uint64_t last_profile_ms;
    uint32_t sites;             /* patched sites */
    uint64_t patched_ms;
    int32_t pid;                /* child running when the state was saved (0: none) */
    char note[160];             /* last failure or ignore reason */
};

enum dmp_auto_action { DMP_AUTO_ACT_NONE, DMP_AUTO_ACT_PROFILE, DMP_AUTO_ACT_PATCH };

/* A new domain: first profile after the configured delay. */
void dmp_auto_dom_init(struct dmp_auto_dom *d, const struct dmp_auto_config *c, uint32_t domid,
                       const char *uuid, const char *name, uint64_t now_ms);
/* What to start for this domain now (NONE if not due, in a terminal phase, or mode off). */
enum dmp_auto_action dmp_auto_due(const struct dmp_auto_settings *s, const struct dmp_auto_dom *d,
                                  uint64_t now_ms);
void dmp_auto_started(struct dmp_auto_dom *d, enum dmp_auto_action a);

/* The outcome of one profile window, for the log. */
struct dmp_auto_verdict {
    const char *decision;       /* "patch", "would-patch", "above", "below" */
    char reason[200];
};
/* Record a completed profile at rate exits/s and decide. */
void dmp_auto_on_profile(const struct dmp_auto_config *c, const struct dmp_auto_settings *s,
                         struct dmp_auto_dom *d, double rate, uint64_t now_ms,
                         struct dmp_auto_verdict *v);
void dmp_auto_on_patched(struct dmp_auto_dom *d, uint32_t sites, uint64_t now_ms);
/* The domain has nothing to do (profile/patch said exit 3, or HAP/PV). */
void dmp_auto_on_ignored(struct dmp_auto_dom *d, const char *why);
/* A failed or killed operation: retry the same operation after backoff * 2^(failures-1)
 * (capped at 64 x backoff), or give up after max-failures. Returns true if it gave up. */
bool dmp_auto_on_failure(const struct dmp_auto_config *c, struct dmp_auto_dom *d, uint64_t now_ms,
                         const char *why);
/* After loading saved state: an operation that was running when the daemon stopped is
 * redone (a profile's result is lost; a patch is idempotent: it reports "already patched"
 * when it had finished). */
void dmp_auto_after_restart(struct dmp_auto_dom *d, uint64_t now_ms);
const char *dmp_auto_phase_name(enum dmp_auto_phase p);

/* ---- persistent state: "dmp-auto-state 1" then one "dom k=v ..." line per domain ---- */
/* Serialize n entries; *out malloc'd. Returns 0 or -ENOMEM. */
int dmp_auto_state_format(const struct dmp_auto_dom *d, size_t n, char **out, size_t *len);
/* Parse into at most max entries. Malformed dom lines are skipped and counted in *skipped;
 * a wrong header fails (-EINVAL with err). */
int dmp_auto_state_parse(const char *text, struct dmp_auto_dom *d, size_t max, size_t *n,
                         size_t *skipped, char *err, size_t errlen);

#endif
