/* dmpd service "dmp": automatic DMP. Watches the domains, profiles shadow-paged HVM/PVH
 * guests and patches those whose page-table exit rate stays at or above a threshold for
 * `sustain` consecutive windows (the library's dmp_profile_run and dmp_patch, the same code
 * as `dmpctl dmp profile|patch`). Policy:
 * the [dmp] section of dmpd's configuration file (dmp_auto.h); absent = the service stays
 * idle, so a dmpd started for segments or ballooning never touches a guest's text.
 * Per-domain overrides: dom0's xenstore /local/domain/0/dmp/auto/<name>/<key> (mode,
 * threshold, window, sustain, sites), re-read every tick like the balloon service's.
 *
 * The work runs in worker processes (dmp/worker.h: forked, calling the library, writing the
 * operation's JSON report as dmpctl --json would), one at a time (the profiler and Xen's perf
 * counters are host-wide, and a patch pauses the guest), polled with waitpid(WNOHANG) from the
 * tick and killed at a deadline: a profile lasts seconds and a first patch minutes under TCG,
 * and the daemon's other services must keep ticking; a crash or a hang of one operation costs
 * that operation only. Decisions go to the daemon log and, with every number, to
 * <state>/dmp-decisions.jsonl; per-domain state (keyed by domid + uuid, so a recycled domid is
 * a new domain) to <state>/dmp-auto-state.txt after every change, so a restart neither
 * re-patches nor forgets failures. Destroyed domains are forgotten at the next tick. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xenctrl.h>
#include <xenstore.h>

#include "dmpcli/cli.h"
#include "dmp/auto.h"
#include "dmp/report.h"
#include "dmp/worker.h"
#include "dmpcli/dmpd.h"
#include "dmpxen/domain.h"
#include "dmpcommon/clock.h"
#include "dmpcommon/json.h"
#include "dmpcommon/util.h"

#define SVC "dmp"
#define MAX_DOMS 64
#define OVERRIDE_ROOT "/local/domain/0/dmp/auto"
#define STATE_FILE "dmp-auto-state.txt"
#define DECISIONS_FILE "dmp-decisions.jsonl"
#define WORK_DIR "dmp-auto"
/* A profile child gets its window plus this for start-up, reading and disabling. */
#define PROFILE_GRACE_MS 60000
#define OUTPUT_MAX (4u << 20)

struct rec {
    struct dmp_auto_dom a;
    bool seen;
    bool paused;                        /* (this tick) nothing is started on a paused guest */
    const char *kind;                   /* "shadow", "hap", "pv" (this tick) */
    struct dmp_auto_settings eff;       /* file settings + overrides (this tick) */
    char skip_logged[96];               /* the skip reason last logged (logged once) */
    char ovr_sig[512];                  /* overrides seen last tick */
    uint64_t orphan_until;              /* wall ms: wait for a pre-restart patch child */
};

struct child {
    struct dmp_worker w;                /* w.pid 0: none */
    enum dmp_auto_action op;
    uint32_t domid;
    char uuid[DMP_AUTO_UUID_MAX];
    char name[DMP_AUTO_NAME_MAX];
    char out[600], err[600], hot[600];
};

struct svc {
    struct dmpd *d;
    bool enabled;
    char cfg_src[512];
    struct dmp_auto_config cfg;
    char workdir[512];
    struct rec g[MAX_DOMS];
    size_t n;
    struct child ch;
    FILE *decisions;
    bool dirty;
};

static void state_path(struct svc *s, const char *f, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", dmpd_state_dir(s->d), f);
}

static struct rec *find(struct svc *s, uint32_t domid, const char *uuid)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->g[i].a.domid == domid && (!uuid || strcmp(s->g[i].a.uuid, uuid) == 0))
            return &s->g[i];
    return NULL;
}

static void save_state(struct svc *s)
{
    struct dmp_auto_dom doms[MAX_DOMS];
    for (size_t i = 0; i < s->n; i++) {
        doms[i] = s->g[i].a;
        /* A running patch is recorded with its pid: a restarted daemon waits for it before
         * it runs the (idempotent) patch again. */
        doms[i].pid = s->ch.w.pid && s->ch.op == DMP_AUTO_ACT_PATCH &&
                      s->ch.domid == doms[i].domid && strcmp(s->ch.uuid, doms[i].uuid) == 0
                          ? (int32_t)s->ch.w.pid : 0;
    }
    char *buf = NULL, err[700];
    size_t len = 0;
    if (dmp_auto_state_format(doms, s->n, &buf, &len) < 0) {
        dmpd_log(s->d, SVC, "state-error", "cannot format the state: out of memory");
        return;
    }
    if (dmp_state_save(dmpd_state_dir(s->d), STATE_FILE, buf, len, err, sizeof(err)) < 0)
        dmpd_log(s->d, SVC, "state-error", "%s", err);
    else
        s->dirty = false;
    free(buf);
}

/* One decision: a daemon log line (human message) and a structured record with every number
 * in the decisions file. rate < 0: no rate in this record. */
static void decide_log(struct svc *s, const struct rec *r, const char *event, const char *decision,
                       double rate, const char *reason)
{
    const struct dmp_auto_settings *e = &r->eff;
    if (rate >= 0)
        dmpd_log(s->d, SVC, event, "domain %s (%u): %s: rate=%.1f/s threshold=%" PRIu64 "/s: %s",
                 r->a.name, r->a.domid, decision, rate, e->threshold, reason);
    else
        dmpd_log(s->d, SVC, event, "domain %s (%u): %s: threshold=%" PRIu64 "/s: %s", r->a.name,
                 r->a.domid, decision, e->threshold, reason);
    if (!s->decisions)
        return;
    struct dmp_json j;
    dmp_json_init(&j, s->decisions, false);
    dmp_json_obj_begin(&j);
    DMP_JSON_KV(&j, "t_ms", dmp_json_u64, dmp_wall_ms());
    DMP_JSON_KV(&j, "service", dmp_json_str, SVC);
    DMP_JSON_KV(&j, "event", dmp_json_str, event);
    DMP_JSON_KV(&j, "domid", dmp_json_u64, r->a.domid);
    DMP_JSON_KV(&j, "name", dmp_json_str, r->a.name);
    DMP_JSON_KV(&j, "uuid", dmp_json_str, r->a.uuid);
    DMP_JSON_KV(&j, "decision", dmp_json_str, decision);
    if (rate >= 0)
        DMP_JSON_KV(&j, "rate", dmp_json_double, rate);
    DMP_JSON_KV(&j, "threshold", dmp_json_u64, e->threshold);
    DMP_JSON_KV(&j, "window_s", dmp_json_u64, e->window_s);
    DMP_JSON_KV(&j, "above", dmp_json_u64, r->a.above);
    DMP_JSON_KV(&j, "sustain", dmp_json_u64, e->sustain);
    DMP_JSON_KV(&j, "mode", dmp_json_str, dmp_auto_mode_name(e->mode));
    DMP_JSON_KV(&j, "windows", dmp_json_u64, r->a.windows);
    DMP_JSON_KV(&j, "failures", dmp_json_u64, r->a.failures);
    if (r->a.phase == DMP_AUTO_PATCHED)
        DMP_JSON_KV(&j, "sites", dmp_json_u64, r->a.sites);
    DMP_JSON_KV(&j, "reason", dmp_json_str, reason);
    dmp_json_obj_end(&j);
    fputc('\n', s->decisions);
    fflush(s->decisions);
}

/* ---- child processes ---- */

static int spawn(struct svc *s, struct rec *r, enum dmp_auto_action op, uint64_t now,
                 char *err, size_t errlen)
{
    struct child *c = &s->ch;
    memset(c, 0, sizeof(*c));
    const char *opname = op == DMP_AUTO_ACT_PROFILE ? "profile" : "patch";
    snprintf(c->out, sizeof(c->out), "%s/%u-%s.json", s->workdir, r->a.domid, opname);
    snprintf(c->err, sizeof(c->err), "%s/%u-%s.err", s->workdir, r->a.domid, opname);
    if (op == DMP_AUTO_ACT_PATCH && r->eff.sites == DMP_AUTO_SITES_HOT)
        snprintf(c->hot, sizeof(c->hot), "%s/%s.hot", s->workdir, r->a.uuid);
    /* The hot site set needs the ranked RIPs, the decision only the totals. */
    struct dmp_worker_job job = {
        .op = op == DMP_AUTO_ACT_PROFILE ? DMP_WORKER_PROFILE : DMP_WORKER_PATCH,
        .domid = r->a.domid, .window_s = r->eff.window_s,
        .top = r->eff.sites == DMP_AUTO_SITES_HOT ? 256 : 16,
        .hot_file = c->hot[0] ? c->hot : NULL, .out_path = c->out, .err_path = c->err,
    };
    uint64_t deadline = now + (op == DMP_AUTO_ACT_PROFILE
                                   ? r->eff.window_s * 1000ull + PROFILE_GRACE_MS
                                   : s->cfg.patch_timeout_ms);
    int rc = dmp_worker_start(&c->w, &job, now, deadline, err, errlen);
    if (rc)
        return rc;
    c->op = op;
    c->domid = r->a.domid;
    snprintf(c->uuid, sizeof(c->uuid), "%s", r->a.uuid);
    snprintf(c->name, sizeof(c->name), "%s", r->a.name);
    dmpd_log(s->d, SVC, "started", "domain %s (%u): %s (pid %d, deadline %" PRIu64 " s)",
             r->a.name, r->a.domid, opname, (int)c->w.pid, (deadline - now) / 1000);
    return 0;
}

static void failed(struct svc *s, struct rec *r, const char *what)
{
    bool gave_up = dmp_auto_on_failure(&s->cfg, &r->a, dmp_wall_ms(), what);
    char reason[400];
    if (gave_up)
        snprintf(reason, sizeof(reason), "%s; %u consecutive failures: giving up on this domain",
                 what, r->a.failures);
    else
        snprintf(reason, sizeof(reason), "%s; failure %u of %u, retry in %" PRIu64 " s", what,
                 r->a.failures, s->cfg.max_failures, (r->a.next_ms - dmp_wall_ms() + 999) / 1000);
    decide_log(s, r, "failed", gave_up ? "give-up" : "retry", -1, reason);
}

static void child_done(struct svc *s, int status, uint64_t now)
{
    struct child *c = &s->ch;
    struct rec *r = find(s, c->domid, c->uuid);
    const char *opname = c->op == DMP_AUTO_ACT_PROFILE ? "profile" : "patch";
    uint64_t took = now - c->w.start;
    char why[400], last[256];
    dmp_worker_last_line(c->err, last, sizeof(last));
    uint8_t *out = NULL;
    size_t olen = 0;
    if (dmp_read_file(c->out, &out, &olen) < 0 || olen > OUTPUT_MAX) {
        free(out);
        out = NULL;
        olen = 0;
    }
    c->w.pid = 0;
    s->dirty = true;
    if (!r) {
        dmpd_log(s->d, SVC, "orphan-result", "%s of domain %s (%u) finished after the domain went "
                 "away; result dropped", opname, c->name, c->domid);
        free(out);
        return;
    }
    if (c->w.timed_out) {
        snprintf(why, sizeof(why), "%s timed out after %" PRIu64 " s and was killed", opname,
                 took / 1000);
        failed(s, r, why);
    } else if (WIFSIGNALED(status)) {
        snprintf(why, sizeof(why), "%s died of signal %d after %" PRIu64 " ms%s%s", opname,
                 WTERMSIG(status), took, last[0] ? ": " : "", last);
        failed(s, r, why);
    } else if (WEXITSTATUS(status) == DMP_EXIT_NOTHING) {
        dmp_auto_on_ignored(&r->a, last[0] ? last : "nothing to do");
        decide_log(s, r, "skipped", "nothing-to-do", -1, r->a.note);
    } else if (WEXITSTATUS(status) != DMP_EXIT_OK) {
        snprintf(why, sizeof(why), "%s exit %d: %s", opname, WEXITSTATUS(status),
                 last[0] ? last : "(no message)");
        failed(s, r, why);
    } else if (c->op == DMP_AUTO_ACT_PROFILE) {
        double rate, secs;
        uint64_t events;
        char err[1024];
        if (!out || dmp_report_profile_rate((const char *)out, olen, &rate, &events, &secs, err,
                                            sizeof(err)) < 0) {
            snprintf(why, sizeof(why), "profile report unusable: %.300s", out ? err : "no output");
            failed(s, r, why);
        } else {
            struct dmp_auto_verdict v;
            dmp_auto_on_profile(&s->cfg, &r->eff, &r->a, rate, dmp_wall_ms(), &v);
            char reason[400];
            snprintf(reason, sizeof(reason), "%" PRIu64 " page-table exits in %.1f s: %s", events,
                     secs, v.reason);
            char hot[600], what[300];
            snprintf(hot, sizeof(hot), "%s/%s.hot", s->workdir, r->a.uuid);
            snprintf(what, sizeof(what), "%s (%s), from dmpd's last profile", r->a.name,
                     r->a.uuid);
            if (r->a.phase == DMP_AUTO_PATCH_DUE && r->eff.sites == DMP_AUTO_SITES_HOT &&
                dmp_report_hot_file((const char *)out, olen, hot, what, err, sizeof(err)) < 0) {
                decide_log(s, r, "profiled", v.decision, rate, reason);
                snprintf(why, sizeof(why), "hot sites: %.300s", err);
                failed(s, r, why);
            } else {
                decide_log(s, r, "profiled", v.decision, rate, reason);
            }
        }
    } else {
        uint32_t sites;
        bool already;
        char err[1024];
        if (!out || dmp_report_patch_read((const char *)out, olen, &sites, &already, err,
                                          sizeof(err)) < 0) {
            snprintf(why, sizeof(why), "patch report unusable: %.300s", out ? err : "no output");
            failed(s, r, why);
        } else {
            dmp_auto_on_patched(&r->a, sites, dmp_wall_ms());
            char reason[400];
            snprintf(reason, sizeof(reason), "%s %u sites in %.1f s (last rate %.1f/s)",
                     already ? "was already patched:" : "patched", sites, took / 1000.0,
                     r->a.last_rate);
            decide_log(s, r, "patched", already ? "already-patched" : "patched", r->a.last_rate,
                       reason);
        }
    }
    free(out);
}

static void poll_child(struct svc *s, uint64_t now)
{
    struct child *c = &s->ch;
    if (!c->w.pid)
        return;
    int status;
    switch (dmp_worker_poll(&c->w, now, &status)) {
    case DMP_WORKER_EXITED:
        child_done(s, status, now);
        break;
    case DMP_WORKER_LOST:
        /* Cannot happen unless someone else reaped it: a failure of unknown cause. */
        dmpd_log(s->d, SVC, "error", "waitpid %d: %s", (int)c->w.pid, strerror(errno));
        c->w.timed_out = false;
        child_done(s, 0x7f00, now);   /* exit status 127 */
        break;
    case DMP_WORKER_DEADLINE:
        dmpd_log(s->d, SVC, "deadline", "domain %s (%u): %s pid %d over its deadline: SIGTERM",
                 c->name, c->domid, c->op == DMP_AUTO_ACT_PROFILE ? "profile" : "patch",
                 (int)c->w.pid);
        break;
    case DMP_WORKER_RUNNING:
        break;
    }
}

/* ---- domains ---- */

static void read_overrides(struct svc *s, struct rec *r)
{
    struct xs_handle *xs = dmpd_xs(s->d);
    r->eff = s->cfg.set;
    char dir[300], sig[sizeof(r->ovr_sig)] = "";
    size_t sl = 0;
    snprintf(dir, sizeof(dir), OVERRIDE_ROOT "/%s", r->a.name);
    unsigned int nk = 0;
    char **keys = xs_directory(xs, XBT_NULL, dir, &nk);
    for (unsigned int k = 0; keys && k < nk; k++) {
        char kp[400], src[420], err[400];
        unsigned int vl;
        snprintf(kp, sizeof(kp), "%s/%s", dir, keys[k]);
        char *val = xs_read(xs, XBT_NULL, kp, &vl);
        if (!val)
            continue;
        char probe[600];
        snprintf(probe, sizeof(probe), "%s=%s;", keys[k], val);
        bool same = strstr(r->ovr_sig, probe) != NULL;
        if (sl < sizeof(sig))
            sl += (size_t)snprintf(sig + sl, sizeof(sig) - sl, "%s", probe);
        snprintf(src, sizeof(src), "xenstore %s", kp);
        if (dmp_auto_settings_override(&r->eff, keys[k], val, src, err, sizeof(err)) < 0) {
            if (!same)
                dmpd_log(s->d, SVC, "override-rejected", "%s", err);
        } else if (!same) {
            dmpd_log(s->d, SVC, "override", "domain %s: %s = %s (%s)", r->a.name, keys[k], val, kp);
        }
        free(val);
    }
    free(keys);
    snprintf(r->ovr_sig, sizeof(r->ovr_sig), "%s", sig);
}

static void forget(struct svc *s, size_t i, const char *why)
{
    struct rec *r = &s->g[i];
    dmpd_log(s->d, SVC, "forgotten", "domain %s (%u, %s): %s; it was %s", r->a.name, r->a.domid,
             r->a.uuid, why, dmp_auto_phase_name(r->a.phase));
    char path[600];
    snprintf(path, sizeof(path), "%s/%s.hot", s->workdir, r->a.uuid);
    unlink(path);
    s->g[i] = s->g[--s->n];
    s->dirty = true;
}

static void format_uuid(const xen_domain_handle_t h, char *out, size_t len)
{
    snprintf(out, len,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1],
             h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14],
             h[15]);
}

/* Look at every domain: new ones get a record, gone ones are forgotten. Returns false if the
 * domain list could not be read (then nothing is forgotten). */
static bool scan(struct svc *s)
{
    struct xs_handle *xs = dmpd_xs(s->d);
    xc_interface *xch = (xc_interface *)dmpd_xch(s->d);
    uint32_t *ids;
    int nids = dmp_domain_list(xs, &ids);
    if (nids < 0) {
        dmpd_log(s->d, SVC, "error", "cannot list domains: %s", strerror(-nids));
        return false;
    }
    for (size_t i = 0; i < s->n; i++)
        s->g[i].seen = false;
    uint64_t now = dmp_wall_ms();
    for (int k = 0; k < nids; k++) {
        if (ids[k] == 0)
            continue;
        xc_dominfo_t info;
        if (xc_domain_getinfo(xch, ids[k], 1, &info) != 1 || info.domid != ids[k])
            continue;
        char uuid[DMP_AUTO_UUID_MAX];
        format_uuid(info.handle, uuid, sizeof(uuid));
        struct rec *r = find(s, ids[k], NULL);
        if (r && strcmp(r->a.uuid, uuid) != 0) {
            forget(s, (size_t)(r - s->g), "domid reused by a new domain");
            r = NULL;
        }
        if (info.dying || info.shutdown) {
            if (r)
                r->seen = true;   /* going away: keep it until it is gone */
            continue;
        }
        const char *kind = !info.hvm ? "pv" : info.hap ? "hap" : "shadow";
        if (!r) {
            char path[64];
            unsigned int len;
            snprintf(path, sizeof(path), "/local/domain/%u/name", ids[k]);
            char *name = xs_read(xs, XBT_NULL, path, &len);
            if (!name)
                continue;   /* still being built by the toolstack */
            if (s->n >= MAX_DOMS) {
                free(name);
                continue;
            }
            r = &s->g[s->n++];
            memset(r, 0, sizeof(*r));
            dmp_auto_dom_init(&r->a, &s->cfg, ids[k], uuid, name, now);
            free(name);
            s->dirty = true;
            if (!info.hvm || info.hap) {
                dmp_auto_on_ignored(&r->a, !info.hvm ? "PV: page-table updates are hypercalls, "
                                    "not shadow-paging exits" : "uses HAP: page-table updates do "
                                    "not exit");
                r->kind = kind;
                r->eff = s->cfg.set;
                decide_log(s, r, "skipped", "nothing-to-do", -1, r->a.note);
            } else {
                dmpd_log(s->d, SVC, "new", "domain %s (%u, %s): %s, first profile in %" PRIu64 " s",
                         r->a.name, r->a.domid, uuid, kind, s->cfg.delay_ms / 1000);
            }
        }
        r->seen = true;
        r->kind = kind;
        r->paused = info.paused;
        read_overrides(s, r);
    }
    free(ids);
    for (size_t i = s->n; i-- > 0;)
        if (!s->g[i].seen)
            forget(s, i, "destroyed");
    return true;
}

/* Start the most overdue operation, if any (one at a time). */
static void start_next(struct svc *s, uint64_t now_mono)
{
    uint64_t now = dmp_wall_ms();
    struct rec *best = NULL;
    enum dmp_auto_action best_op = DMP_AUTO_ACT_NONE;
    for (size_t i = 0; i < s->n; i++) {
        struct rec *r = &s->g[i];
        if (r->a.phase == DMP_AUTO_IGNORED || r->a.phase == DMP_AUTO_PATCHED ||
            r->a.phase == DMP_AUTO_GAVE_UP)
            continue;
        char skip[96] = "";
        if (dmp_auto_config_excludes(&s->cfg, r->a.name))
            snprintf(skip, sizeof(skip), "excluded by the configuration");
        else if (r->eff.mode == DMP_AUTO_OFF)
            snprintf(skip, sizeof(skip), "mode off for this domain");
        if (strcmp(skip, r->skip_logged) != 0) {
            if (skip[0])
                decide_log(s, r, "skipped", "skip", -1, skip);
            snprintf(r->skip_logged, sizeof(r->skip_logged), "%s", skip);
        }
        if (skip[0] || r->paused)
            continue;
        /* A patch child from before a restart may still run: never start a second one. */
        if (r->a.pid) {
            if (dmp_worker_alive(r->a.pid) && now < r->orphan_until)
                continue;
            r->a.pid = 0;
        }
        enum dmp_auto_action a = dmp_auto_due(&r->eff, &r->a, now);
        if (a != DMP_AUTO_ACT_NONE && (!best || r->a.next_ms < best->a.next_ms)) {
            best = r;
            best_op = a;
        }
    }
    if (!best)
        return;
    char err[300];
    int rc = spawn(s, best, best_op, now_mono, err, sizeof(err));
    if (rc < 0) {
        char why[360];
        snprintf(why, sizeof(why), "cannot start the %s: %s",
                 best_op == DMP_AUTO_ACT_PROFILE ? "profile" : "patch", err);
        dmp_auto_started(&best->a, best_op);
        failed(s, best, why);
    } else {
        dmp_auto_started(&best->a, best_op);
    }
    s->dirty = true;
}

/* ---- service interface ---- */

static int load_state(struct svc *s, char *err, size_t errlen)
{
    char *data;
    size_t len;
    int rrc = dmp_state_load(dmpd_state_dir(s->d), STATE_FILE, &data, &len, err, errlen);
    if (rrc <= 0)
        return rrc;     /* nothing saved yet, or unreadable */
    char path[600];
    state_path(s, STATE_FILE, path, sizeof(path));
    struct dmp_auto_dom doms[MAX_DOMS];
    size_t n, skipped;
    char perr[256];
    if (dmp_auto_state_parse(data, doms, MAX_DOMS, &n, &skipped, perr, sizeof(perr)) < 0) {
        snprintf(err, errlen, "%s: %s", path, perr);
        free(data);
        return -EINVAL;
    }
    free(data);
    uint64_t now = dmp_wall_ms();
    for (size_t i = 0; i < n; i++) {
        struct rec *r = &s->g[s->n++];
        memset(r, 0, sizeof(*r));
        r->a = doms[i];
        r->eff = s->cfg.set;
        if (r->a.pid)
            r->orphan_until = now + s->cfg.patch_timeout_ms;
        dmp_auto_after_restart(&r->a, now);
        /* HAP/PV "nothing to do" was logged by the previous run: once is enough. */
    }
    dmpd_log(s->d, SVC, "state-loaded", "%zu domains from %s (%zu malformed lines skipped)", n,
             path, skipped);
    return 0;
}

static int svc_init(struct dmpd *d, void **state, char *err, size_t errlen)
{
    struct svc *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->d = d;
    dmp_auto_config_init(&s->cfg);
    const char *cfgpath = dmpd_config_path(d);
    uint8_t *text;
    size_t len;
    int rrc = dmp_read_file(cfgpath, &text, &len);
    if (rrc == 0) {
        int rc = dmp_auto_config_parse(&s->cfg, (const char *)text, len, cfgpath, err, errlen);
        free(text);
        if (rc < 0) {
            free(s);
            return -1;
        }
        s->enabled = s->cfg.present;
    } else if (rrc != -ENOENT) {
        snprintf(err, errlen, "cannot read %s: %s", cfgpath, strerror(-rrc));
        free(s);
        return -1;
    }
    snprintf(s->cfg_src, sizeof(s->cfg_src), "%s", cfgpath);
    *state = s;
    if (!s->enabled) {
        dmpd_log(d, SVC, "disabled", "no [dmp] section in %s: automatic DMP is off", cfgpath);
        return 0;
    }
    snprintf(s->workdir, sizeof(s->workdir), "%s/" WORK_DIR, dmpd_state_dir(d));
    int mrc = dmp_mkdir_p(s->workdir);
    if (mrc < 0) {
        snprintf(err, errlen, "cannot create %s: %s", s->workdir, strerror(-mrc));
        free(s);
        *state = NULL;
        return -1;
    }
    if (load_state(s, err, errlen) < 0) {
        free(s);
        *state = NULL;
        return -1;
    }
    char path[600];
    state_path(s, DECISIONS_FILE, path, sizeof(path));
    s->decisions = fopen(path, "ae");
    if (!s->decisions)
        dmpd_log(d, SVC, "log-error", "cannot open %s: %s", path, strerror(errno));
    const struct dmp_auto_settings *e = &s->cfg.set;
    dmpd_log(d, SVC, "config",
             "%s: mode %s, threshold %" PRIu64 "/s, window %u s, sustain %u, recheck %" PRIu64
             " s, delay %" PRIu64 " s, sites %s, %zu excluded, backoff %" PRIu64 " s, max-failures "
             "%u", cfgpath, dmp_auto_mode_name(e->mode), e->threshold, e->window_s,
             e->sustain, s->cfg.recheck_ms / 1000, s->cfg.delay_ms / 1000,
             dmp_auto_sites_name(e->sites), s->cfg.n_exclude, s->cfg.backoff_ms / 1000,
             s->cfg.max_failures);
    return 0;
}

static void svc_tick(struct dmpd *d, void *state, uint64_t now)
{
    struct svc *s = state;
    if (!s || !s->enabled || !dmpd_xs(d) || !dmpd_xch(d))
        return;
    poll_child(s, now);
    if (scan(s) && !s->ch.w.pid)
        start_next(s, now);
    if (s->dirty)
        save_state(s);
}

static void print_text(struct svc *s, FILE *out)
{
    const struct dmp_auto_settings *e = &s->cfg.set;
    fprintf(out, "mode %s, threshold %" PRIu64 "/s, window %u s, sustain %u, recheck %" PRIu64
            " s, sites %s\n", dmp_auto_mode_name(e->mode), e->threshold, e->window_s, e->sustain,
            s->cfg.recheck_ms / 1000, dmp_auto_sites_name(e->sites));
    if (s->ch.w.pid)
        fprintf(out, "running: %s of %s (%u) for %" PRIu64 " s\n",
                s->ch.op == DMP_AUTO_ACT_PROFILE ? "profile" : "patch", s->ch.name, s->ch.domid,
                (dmp_mono_ms() - s->ch.w.start) / 1000);
    fprintf(out, "%-16s %5s %-6s %-10s %10s %6s %7s %8s %7s %s\n", "Name", "ID", "Kind", "Phase",
            "Rate(/s)", "Above", "Windows", "Failures", "Next(s)", "Note");
    uint64_t now = dmp_wall_ms();
    for (size_t i = 0; i < s->n; i++) {
        const struct rec *r = &s->g[i];
        char rate[24], next[24];
        if (r->a.last_rate >= 0)
            snprintf(rate, sizeof(rate), "%.1f", r->a.last_rate);
        else
            snprintf(rate, sizeof(rate), "-");
        if ((r->a.phase == DMP_AUTO_WATCHING || r->a.phase == DMP_AUTO_PATCH_DUE))
            snprintf(next, sizeof(next), "%" PRIu64, r->a.next_ms > now ? (r->a.next_ms - now) / 1000 : 0);
        else
            snprintf(next, sizeof(next), "-");
        char note[200];
        if (r->a.phase == DMP_AUTO_PATCHED)
            snprintf(note, sizeof(note), "%u sites", r->a.sites);
        else
            snprintf(note, sizeof(note), "%s%s%s", r->paused ? "paused (waiting); " : "",
                     r->a.would_patch ? "would patch; " : "", r->a.note);
        fprintf(out, "%-16s %5u %-6s %-10s %10s %6u %7u %8u %7s %s\n", r->a.name, r->a.domid,
                r->kind ? r->kind : "?", dmp_auto_phase_name(r->a.phase), rate, r->a.above,
                r->a.windows, r->a.failures, next, note);
    }
}

static int print_json(struct svc *s, FILE *out)
{
    struct dmp_json j;
    dmp_json_init(&j, out, true);
    dmp_json_obj_begin(&j);
    DMP_JSON_KV(&j, "enabled", dmp_json_bool, s->enabled);
    DMP_JSON_KV(&j, "config", dmp_json_str, s->cfg_src);
    const struct dmp_auto_settings *e = &s->cfg.set;
    DMP_JSON_KV(&j, "mode", dmp_json_str, dmp_auto_mode_name(e->mode));
    DMP_JSON_KV(&j, "threshold", dmp_json_u64, e->threshold);
    DMP_JSON_KV(&j, "window_s", dmp_json_u64, e->window_s);
    DMP_JSON_KV(&j, "sustain", dmp_json_u64, e->sustain);
    DMP_JSON_KV(&j, "recheck_s", dmp_json_u64, s->cfg.recheck_ms / 1000);
    DMP_JSON_KV(&j, "sites", dmp_json_str, dmp_auto_sites_name(e->sites));
    dmp_json_key(&j, "running");
    if (s->ch.w.pid) {
        dmp_json_obj_begin(&j);
        DMP_JSON_KV(&j, "op", dmp_json_str, s->ch.op == DMP_AUTO_ACT_PROFILE ? "profile" : "patch");
        DMP_JSON_KV(&j, "domid", dmp_json_u64, s->ch.domid);
        DMP_JSON_KV(&j, "pid", dmp_json_u64, (uint64_t)s->ch.w.pid);
        DMP_JSON_KV(&j, "secs", dmp_json_u64, (dmp_mono_ms() - s->ch.w.start) / 1000);
        dmp_json_obj_end(&j);
    } else {
        dmp_json_null(&j);
    }
    dmp_json_key(&j, "domains");
    dmp_json_arr_begin(&j);
    uint64_t now = dmp_wall_ms();
    for (size_t i = 0; i < s->n; i++) {
        const struct rec *r = &s->g[i];
        dmp_json_obj_begin(&j);
        DMP_JSON_KV(&j, "domid", dmp_json_u64, r->a.domid);
        DMP_JSON_KV(&j, "name", dmp_json_str, r->a.name);
        DMP_JSON_KV(&j, "uuid", dmp_json_str, r->a.uuid);
        DMP_JSON_KV(&j, "kind", dmp_json_str, r->kind ? r->kind : "unknown");
        DMP_JSON_KV(&j, "paused", dmp_json_bool, r->paused);
        DMP_JSON_KV(&j, "phase", dmp_json_str, dmp_auto_phase_name(r->a.phase));
        DMP_JSON_KV(&j, "mode", dmp_json_str, dmp_auto_mode_name(r->eff.mode));
        DMP_JSON_KV(&j, "threshold", dmp_json_u64, r->eff.threshold);
        dmp_json_key(&j, "rate");
        if (r->a.last_rate >= 0)
            dmp_json_double(&j, r->a.last_rate);
        else
            dmp_json_null(&j);
        DMP_JSON_KV(&j, "above", dmp_json_u64, r->a.above);
        DMP_JSON_KV(&j, "windows", dmp_json_u64, r->a.windows);
        DMP_JSON_KV(&j, "failures", dmp_json_u64, r->a.failures);
        DMP_JSON_KV(&j, "would_patch", dmp_json_bool, r->a.would_patch);
        DMP_JSON_KV(&j, "sites", dmp_json_u64, r->a.sites);
        DMP_JSON_KV(&j, "next_in_s", dmp_json_u64,
                    r->a.next_ms > now ? (r->a.next_ms - now) / 1000 : 0);
        DMP_JSON_KV(&j, "note", dmp_json_str, r->a.note);
        dmp_json_obj_end(&j);
    }
    dmp_json_arr_end(&j);
    dmp_json_obj_end(&j);
    int rc = dmp_json_finish(&j);
    fputc('\n', out);
    return rc == 0 ? DMP_EXIT_OK : DMP_EXIT_FAIL;
}

static int svc_request(struct dmpd *d, void *state, int argc, char **argv, FILE *out)
{
    struct svc *s = state;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else {
            fprintf(out, "dmp: unexpected argument '%s'\n", argv[i]);
            return DMP_EXIT_USAGE;
        }
    }
    if (strcmp(argv[0], "status") != 0) {
        fprintf(out, "dmp: unknown request '%s' (status [--json])\n", argv[0]);
        return DMP_EXIT_USAGE;
    }
    if (!s->enabled) {
        if (json) {
            fprintf(out, "{\"enabled\": false, \"config\": ");
            struct dmp_json j;
            dmp_json_init(&j, out, false);
            dmp_json_str(&j, s->cfg_src);
            fprintf(out, "}\n");
            return DMP_EXIT_OK;
        }
        fprintf(out, "automatic DMP is off: no [dmp] section in %s\n", s->cfg_src);
        return DMP_EXIT_OK;
    }
    if (json)
        return print_json(s, out);
    print_text(s, out);
    return DMP_EXIT_OK;
}

static void svc_fini(struct dmpd *d, void *state)
{
    struct svc *s = state;
    if (!s)
        return;
    struct child *c = &s->ch;
    if (c->w.pid && c->op == DMP_AUTO_ACT_PROFILE) {
        /* The profiler disables profiling on SIGTERM; a bounded wait, then SIGKILL. */
        dmp_worker_stop(&c->w);
        struct rec *r = find(s, c->domid, c->uuid);
        if (r)
            dmp_auto_after_restart(&r->a, dmp_wall_ms());
        s->dirty = true;
    } else if (c->w.pid) {
        /* A patch is never interrupted: it may hold the guest paused. Its pid goes into the
         * state so that the next dmpd waits for it. */
        dmpd_log(d, SVC, "patch-running", "leaving the patch of %s (%u), pid %d, to finish",
                 c->name, c->domid, (int)c->w.pid);
    }
    if (s->enabled)
        save_state(s);
    if (s->decisions)
        fclose(s->decisions);
    free(s);
}

const struct dmpd_service dmpd_service_dmp = {
    .name = SVC,
    .interval_ms = 1000,
    .init = svc_init,
    .tick = svc_tick,
    .request = svc_request,
    .fini = svc_fini,
};
