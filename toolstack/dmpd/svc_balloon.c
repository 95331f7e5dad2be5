/* dmpd service "balloon": the memory balancer.
 *
 * Every interval (config key `interval`), for every guest: harvest the working-set sample
 * armed one interval ago (XEN_DOMCTL_dmp_wss), feed the sampling estimator, arm a new sample,
 * then run dmp_policy_step over all guests and write the targets that moved through balloon
 * control (exactly as xl mem-set). Decisions go to stderr and to
 * <state>/balloon-decisions.jsonl, one JSON object per line; metrics to
 * <state>/balloon-metrics.json and .prom and over the control socket.
 *
 * Settings: the configuration file (dmpd --config, default /etc/dmp/dmpd.conf; absent = the
 * service stays idle, so a dmpd run for another service never balloons guests; an empty file
 * = defaults), overlaid every step by per-domain overrides in dom0's xenstore area
 * /local/domain/0/dmp/balloon/<domain name>/<key> = <value> (guests cannot write there).
 * The effective settings and each guest's policy memory and estimator state are saved
 * atomically under the state directory after every step and reloaded at start, so a daemon
 * restart neither forgets a stuck balloon nor restarts the estimates from nothing. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenctrl.h>
#include <xenstore.h>

#include "dmpballoon/balloon_config.h"
#include "dmpmem/balloon_ctl.h"
#include "dmpballoon/balloon_policy.h"
#include "dmpballoon/balloon_report.h"
#include "dmpballoon/balloon_rng.h"
#include "dmpballoon/balloon_state.h"
#include "dmpcli/cli.h"
#include "dmpcli/dmpd.h"
#include "dmpxen/domain.h"
#include "dmpcommon/clock.h"
#include "dmpcommon/util.h"
#include "dmpballoon/wss_sampling.h"
#include "dmpmem/wss_ctl.h"

#define SVC "balloon"
#define MAX_GUESTS 64
#define OVERRIDE_ROOT "/local/domain/0/dmp/balloon"
#define STATE_FILE "balloon-state.txt"
#define SETTINGS_FILE "balloon-settings.conf"
#define DECISIONS_FILE "balloon-decisions.jsonl"
#define METRICS_JSON "balloon-metrics.json"
#define METRICS_PROM "balloon-metrics.prom"

struct guest {
    uint32_t domid;
    char name[DMP_NAME_MAX];
    bool seen;                      /* present in this step */
    struct dmp_guest_track track;
    struct dmp_wss_sampling est;
    bool armed;                     /* a sample is armed since armed_at */
    uint64_t armed_at;
    bool wss_failed;                /* sampling refused for this guest (logged once) */
    uint32_t arm_failures;          /* consecutive transient ARM failures */
    uint64_t cost_us, cost_steps;   /* time spent in harvest + arm hypercalls */
    uint32_t last_armed, last_touched;
    enum dmp_guest_state last_state;
    struct dmp_decision last;
    bool have_last;
    uint64_t first_seen_ms;         /* dmpd's clock; a restarted dmpd starts it afresh */
};

struct svc {
    struct dmpd *d;
    char cfg_text_src[512];         /* where the file settings came from */
    char *file_cfg_text;            /* the file configuration, serialized */
    struct dmp_balloon_config cfg;  /* effective: file + xenstore overrides */
    bool enabled;                   /* a configuration file exists: balance (else stay idle) */
    char override_sig[4096];        /* overrides seen last step (to log changes once) */
    struct dmp_wss_ctl *wss;
    struct dmp_rng rng;
    struct guest g[MAX_GUESTS];
    size_t n;
    uint64_t next_step;
    bool stepped;
    struct dmp_policy_summary sum;
    FILE *decisions;
    uint64_t *sample;               /* DMP_WSS_CTL_MAX gfns */
    unsigned partial_skips;         /* consecutive steps skipped: a known guest was unreadable */
};

/* A step that cannot read a guest it knows does not decide: a guest missing from the input
 * holds memory the policy would hand to the others (lab run bb-7: one unreadable step gave
 * ga the whole budget while gc kept 309 MiB). Bounded, so a guest whose xenstore entries are
 * broken for good does not stop balancing for the rest. */
#define MAX_PARTIAL_SKIPS 6

static void path_in_state(struct svc *s, const char *file, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", dmpd_state_dir(s->d), file);
}

/* --- persistence ---------------------------------------------------------------------- */

/* The guests' policy and estimator state, then the effective settings. 0 or -errno. */
static int save_state(struct svc *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -ENOMEM;
    fprintf(f, DMP_BALLOON_STATE_HEADER "\n");
    for (size_t i = 0; i < s->n; i++) {
        const struct guest *g = &s->g[i];
        struct dmp_balloon_saved sv = { .domid = g->domid, .track = g->track,
                                        .smooth = g->est.smooth, .est = g->est.last };
        snprintf(sv.name, sizeof(sv.name), "%s", g->name);
        dmp_balloon_state_write(f, &sv);
    }
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    int rc = dmp_state_save(dmpd_state_dir(s->d), STATE_FILE, buf, len, NULL, 0);
    free(buf);
    if (rc < 0)
        return rc;
    char *text;
    size_t tlen;
    if (dmp_balloon_config_serialize(&s->cfg, &text, &tlen) < 0)
        return -ENOMEM;
    rc = dmp_state_save(dmpd_state_dir(s->d), SETTINGS_FILE, text, tlen, NULL, 0);
    free(text);
    return rc;
}

static void init_guest(struct svc *s, struct guest *g, uint32_t domid, const char *name)
{
    memset(g, 0, sizeof(*g));
    g->domid = domid;
    snprintf(g->name, sizeof(g->name), "%s", name);
    g->track.domid = domid;
    struct dmp_wss_sampling_params p;
    dmp_wss_sampling_params_default(&p, s->cfg.interval_ms);
    p.sample_pages = s->cfg.sample_pages;
    dmp_wss_sampling_init(&g->est, &p);
}

/* A guest as saved, with the estimator's parameters of this configuration. */
static void restore_guest(struct svc *s, struct guest *g, const struct dmp_balloon_saved *sv)
{
    init_guest(s, g, sv->domid, sv->name);
    g->track = sv->track;
    struct dmp_wss_smoother sm = sv->smooth;
    sm.fast_halflife_ms = g->est.smooth.fast_halflife_ms;
    sm.slow_halflife_ms = g->est.smooth.slow_halflife_ms;
    g->est.smooth = sm;
    g->est.last = sv->est;
    g->est.last.method = DMP_WSS_SAMPLING;
    g->last_state = dmp_guest_track_state(&sv->track);
}

static int load_state(struct svc *s, char *err, size_t errlen)
{
    char *data, path[512];
    size_t len;
    int rc = dmp_state_load(dmpd_state_dir(s->d), STATE_FILE, &data, &len, err, errlen);
    if (rc <= 0)
        return rc;      /* nothing saved yet, or unreadable */
    path_in_state(s, STATE_FILE, path, sizeof(path));
    char *save = NULL;
    int lineno = 0, loaded = 0;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (lineno == 1) {
            if (!dmp_balloon_state_header_ok(line)) {
                rc = dmp_errf(err, errlen, -EINVAL, "%s: not a balloon state file (first line '%.40s')",
                              path, line);
                free(data);
                return rc;
            }
            continue;
        }
        struct dmp_balloon_saved sv;
        if (strncmp(line, "guest ", 6) != 0 || s->n >= MAX_GUESTS)
            continue;
        if (dmp_balloon_state_parse(line, &sv) < 0) {
            dmpd_log(s->d, SVC, "state-skipped", "%s:%d: malformed guest line ignored", path, lineno);
            continue;
        }
        restore_guest(s, &s->g[s->n++], &sv);
        loaded++;
    }
    free(data);
    dmpd_log(s->d, SVC, "state-loaded", "%d guests' policy and estimator state from %s", loaded, path);
    return 0;
}

/* --- configuration -------------------------------------------------------------------- */

/* Effective configuration for this step: the file's, then every override under
 * OVERRIDE_ROOT/<name>/<key>. A rejected override is logged (once per change) and ignored. */
static void apply_overrides(struct svc *s)
{
    struct dmp_balloon_config c;
    char err[512];
    dmp_balloon_config_init(&c);
    if (dmp_balloon_config_parse(&c, s->file_cfg_text, strlen(s->file_cfg_text), s->cfg_text_src,
                                 err, sizeof(err)) < 0) {
        /* Cannot happen: the text is our own serialization of a valid configuration. */
        dmpd_log(s->d, SVC, "internal-error", "re-parsing the configuration: %s", err);
        dmp_balloon_config_free(&c);
        return;
    }
    struct xs_handle *xs = dmpd_xs(s->d);
    char sig[sizeof(s->override_sig)] = "";
    size_t sl = 0;
    unsigned int nd = 0;
    char **doms = xs ? xs_directory(xs, XBT_NULL, OVERRIDE_ROOT, &nd) : NULL;
    for (unsigned int i = 0; doms && i < nd; i++) {
        char path[256];
        unsigned int nk = 0;
        snprintf(path, sizeof(path), OVERRIDE_ROOT "/%s", doms[i]);
        char **keys = xs_directory(xs, XBT_NULL, path, &nk);
        for (unsigned int k = 0; keys && k < nk; k++) {
            char kp[384], kv[512], src[512];
            unsigned int vl;
            snprintf(kp, sizeof(kp), "%s/%s", path, keys[k]);
            char *val = xs_read(xs, XBT_NULL, kp, &vl);
            if (!val)
                continue;
            snprintf(kv, sizeof(kv), "%s=%s", keys[k], val);
            snprintf(src, sizeof(src), "xenstore %s", kp);
            bool seen_before = strstr(s->override_sig, kp) != NULL;
            if (sl < sizeof(sig))
                sl += (size_t)snprintf(sig + sl, sizeof(sig) - sl, "%s=%s;", kp, val);
            bool seen_same = false;
            {
                char probe[512];
                snprintf(probe, sizeof(probe), "%s=%s;", kp, val);
                seen_same = strstr(s->override_sig, probe) != NULL;
            }
            if (dmp_balloon_config_override(&c, doms[i], kv, src, err, sizeof(err)) < 0) {
                if (!seen_same)
                    dmpd_log(s->d, SVC, "override-rejected", "%s", err);
            } else if (!seen_same) {
                dmpd_log(s->d, SVC, seen_before ? "override-changed" : "override", "%s: %s", src, kv);
            }
            free(val);
        }
        free(keys);
    }
    free(doms);
    snprintf(s->override_sig, sizeof(s->override_sig), "%s", sig);
    dmp_balloon_config_free(&s->cfg);
    s->cfg = c;
}

/* --- one balancing step --------------------------------------------------------------- */

static struct guest *find_guest(struct svc *s, uint32_t domid)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->g[i].domid == domid)
            return &s->g[i];
    return NULL;
}

static void drop_unseen(struct svc *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->g[i].seen)
            s->g[k++] = s->g[i];
        else
            dmpd_log(s->d, SVC, "guest-gone", "domain %u (%s) left", s->g[i].domid, s->g[i].name);
    }
    s->n = k;
}

/* Harvest the sample armed last step and arm the next one. */
static void sample_guest(struct svc *s, struct guest *g, const struct dmp_balloon_info *bi,
                         uint64_t now)
{
    /* A paused guest touches nothing (and may still be under construction by libxl): its
     * last sample stays armed until it runs again. */
    if (!s->wss || g->wss_failed || bi->paused)
        return;
    uint64_t guest_pages = bi->actual_kib / 4;
    uint64_t t0 = dmp_mono_us();
    if (g->armed) {
        uint32_t armed = 0, touched = 0;
        if (dmp_wss_ctl_harvest(s->wss, g->domid, NULL, 0, &armed, &touched) == 0 && armed > 0 &&
            armed <= guest_pages && now > g->armed_at) {
            g->last_armed = armed;
            g->last_touched = touched;
            int rc = dmp_wss_sampling_add(&g->est, armed, touched, guest_pages, now, now - g->armed_at);
            if (rc < 0)
                dmpd_log(s->d, SVC, "estimator-error", "domain %u: %s", g->domid, strerror(-rc));
        }
        g->armed = false;
    }
    uint64_t smax = bi->static_max_kib / 4;
    if (!smax || !guest_pages)
        return;
    xen_pfn_t maxgpfn = 0;
    if (xc_domain_maximum_gpfn((xc_interface *)dmpd_xch(s->d), g->domid, &maxgpfn) < 0)
        return;
    struct dmp_gfn_range r[2];
    size_t nr = dmp_wss_guest_ranges(smax, maxgpfn, r);
    /* Ballooned-out frames are not armed: ask for more so about sample_pages are. */
    uint64_t want = (uint64_t)s->cfg.sample_pages * smax / guest_pages;
    if (want < s->cfg.sample_pages)
        want = s->cfg.sample_pages;
    if (want > DMP_WSS_CTL_MAX)
        want = DMP_WSS_CTL_MAX;
    long n = dmp_wss_select_sample(&s->rng, r, nr, NULL, NULL, s->sample, (size_t)want);
    if (n <= 0)
        return;
    uint32_t armed = 0;
    if (dmp_wss_ctl_arm(s->wss, g->domid, s->sample, (uint32_t)n, &armed) < 0) {
        int e = errno;
        /* Not supported for this guest (PV, HAP on EPT) or not allowed: stop asking. Anything
         * else (a guest ballooning under us, no memory for a p2m split) is retried next step,
         * up to a bound. */
        bool permanent = e == EOPNOTSUPP || e == ENOSYS || e == EPERM || e == EACCES ||
                         ++g->arm_failures >= 10;
        if (permanent)
            g->wss_failed = true;
        dmpd_log(s->d, SVC, permanent ? "estimator-unavailable" : "estimator-retry",
                 "domain %u (%s): arming %ld sample frames failed (%s)%s", g->domid, g->name, n,
                 strerror(e), permanent ? "; no working-set estimate for it" : "; retrying next step");
        return;
    }
    g->arm_failures = 0;
    g->armed = true;
    g->armed_at = now;
    uint64_t us = dmp_mono_us() - t0;
    g->cost_us += us;
    g->cost_steps++;
    /* The estimator's own cost, for the overhead figures in docs/BALLOON.md. */
    dmpd_log(s->d, SVC, "sampling",
             "domain %u (%s): harvest %u/%u touched, armed %u of %ld frames, %" PRIu64
             " us in hypercalls (mean %" PRIu64 " us over %" PRIu64 " steps)",
             g->domid, g->name, g->last_touched, g->last_armed, armed, n, us,
             g->cost_us / g->cost_steps, g->cost_steps);
}

/* Metrics for scrapers and the lab, JSON and Prometheus text, replaced whole after a step. */
static void write_metrics(struct svc *s, const struct dmp_decision *dec, size_t n)
{
    static const char *const files[] = { METRICS_JSON, METRICS_PROM };
    for (size_t k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
        char *buf = NULL, err[640];
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
            continue;
        int rc = k == 0 ? dmp_balloon_metrics_json(f, &s->sum, dec, n, true)
                        : dmp_balloon_metrics_prometheus(f, &s->sum, dec, n);
        if (fclose(f) == 0 && rc == 0 &&
            dmp_state_save(dmpd_state_dir(s->d), files[k], buf, len, err, sizeof(err)) < 0)
            dmpd_log(s->d, SVC, "metrics-error", "%s", err);
        free(buf);
    }
}

static void step(struct svc *s, uint64_t now)
{
    struct xs_handle *xs = dmpd_xs(s->d);
    xc_interface *xch = (xc_interface *)dmpd_xch(s->d);
    char err[512];
    apply_overrides(s);

    uint32_t *ids;
    int nids = dmp_domain_list(xs, &ids);
    if (nids < 0) {
        dmpd_log(s->d, SVC, "error", "cannot list domains: %s", strerror(-nids));
        return;
    }
    for (size_t i = 0; i < s->n; i++)
        s->g[i].seen = false;

    static struct dmp_guest_input in[MAX_GUESTS];
    static struct dmp_guest_track tr[MAX_GUESTS];
    static struct dmp_decision dec[MAX_GUESTS];
    struct guest *gp[MAX_GUESTS];
    uint64_t vram[MAX_GUESTS];
    size_t n = 0, unreadable = 0;
    char unreadable_why[600] = "";
    for (int i = 0; i < nids && n < MAX_GUESTS; i++) {
        if (ids[i] == 0)
            continue;   /* dom0 is not balanced */
        struct dmp_balloon_info bi;
        char path[64], *name = NULL;
        unsigned int len;
        int rrc = dmp_balloon_read(xs, dmpd_xch(s->d), ids[i], &bi, err, sizeof(err));
        if (rrc >= 0 && bi.dying)
            continue;   /* torn down */
        if (rrc >= 0) {
            snprintf(path, sizeof(path), "/local/domain/%u/name", ids[i]);
            name = xs_read(xs, XBT_NULL, path, &len);
            if (!name)
                snprintf(err, sizeof(err), "cannot read %s: %s", path, strerror(errno));
        }
        if (!name) {
            /* A domain being built is not ours yet; one we balanced a step ago must be. */
            if (find_guest(s, ids[i]) && !unreadable++)
                snprintf(unreadable_why, sizeof(unreadable_why), "domain %u: %s", ids[i], err);
            continue;
        }
        struct guest *g = find_guest(s, ids[i]);
        if (g && strcmp(g->name, name) != 0)
            g = NULL;   /* domid reused by another guest */
        if (!g) {
            if (s->n >= MAX_GUESTS) {
                free(name);
                continue;
            }
            /* A stale entry with this domid (renamed guest) is replaced. */
            struct guest *old = find_guest(s, ids[i]);
            g = old ? old : &s->g[s->n++];
            init_guest(s, g, ids[i], name);
            g->first_seen_ms = now;
            dmpd_log(s->d, SVC, "guest-new", "domain %u (%s): %s, target %" PRIu64 " KiB, max %" PRIu64 " KiB",
                     ids[i], name, bi.hvm ? (bi.hap ? "hap" : "shadow") : "pv", bi.target_kib,
                     bi.static_max_kib);
        }
        free(name);
        g->seen = true;
        struct dmp_guest_settings set;
        dmp_balloon_config_domain(&s->cfg, g->name, &set);
        /* Not while the guest boots: its estimate is not used then (the booting rule), and
         * HAP guests sampled from their first seconds triple-faulted in the lab (runs bc-1,
         * bb-7; docs/BALLOON.md). */
        bool sampled = set.estimator == DMP_WSS_SAMPLING && (!bi.hap || s->cfg.hap_sampling);
        if (sampled && bi.pv_drivers_up)
            sample_guest(s, g, &bi, now);
        struct dmp_guest_input *x = &in[n];
        memset(x, 0, sizeof(*x));
        x->domid = g->domid;
        snprintf(x->name, sizeof(x->name), "%s", g->name);
        x->target_kib = bi.target_kib;
        x->actual_kib = bi.actual_kib;
        /* The guest cannot hold more than static-max through its balloon; Xen's max_pages is
         * ours to raise (we set it with every target, like xl). */
        x->maxmem_kib = bi.static_max_kib;
        x->set = set;
        if (sampled)
            dmp_wss_sampling_estimate(&g->est, &x->wss);
        x->pv_drivers_pending = !bi.pv_drivers_up;
        x->age_ms = now - g->first_seen_ms;
        x->balloon = bi.feature_balloon == DMP_FEATURE_PRESENT  ? DMP_BALLOON_PRESENT
                   : bi.feature_balloon == DMP_FEATURE_ABSENT ? DMP_BALLOON_ABSENT
                                                              : DMP_BALLOON_UNKNOWN;
        tr[n] = g->track;
        gp[n] = g;
        vram[n] = bi.videoram_kib;
        n++;
    }
    free(ids);
    if (unreadable && s->partial_skips < MAX_PARTIAL_SKIPS) {
        s->partial_skips++;
        dmpd_log(s->d, SVC, "step-skipped", "%zu known guest(s) unreadable, nothing moved (%u in a "
                 "row): %s", unreadable, s->partial_skips, unreadable_why);
        return;
    }
    s->partial_skips = 0;
    drop_unseen(s);
    /* drop_unseen moved entries: re-find the pointers. */
    for (size_t i = 0; i < n; i++)
        gp[i] = find_guest(s, in[i].domid);

    xc_physinfo_t pi = { 0 };
    if (xc_physinfo(xch, &pi) < 0) {
        dmpd_log(s->d, SVC, "error", "xc_physinfo: %s", strerror(errno));
        return;
    }
    uint64_t free_kib = (uint64_t)pi.free_pages * 4, sum_actual = 0;
    for (size_t i = 0; i < n; i++)
        sum_actual += in[i].actual_kib;
    struct dmp_host_input host = {
        .now_ms = now,
        .budget_kib = s->cfg.budget_kib ? s->cfg.budget_kib : sum_actual + free_kib,
        .reserve_kib = s->cfg.reserve_kib,
        .free_kib = free_kib,
    };
    if (host.reserve_kib > host.budget_kib)
        host.reserve_kib = host.budget_kib;
    if (n == 0) {
        memset(&s->sum, 0, sizeof(s->sum));
        s->sum.now_ms = now;
        s->sum.budget_kib = host.budget_kib;
        s->sum.reserve_kib = host.reserve_kib;
        s->sum.free_kib = free_kib;
        write_metrics(s, dec, 0);
        s->stepped = true;
        return;
    }
    int prc = dmp_policy_step(&s->cfg.params, &host, in, tr, n, dec, &s->sum);
    if (prc < 0) {
        dmpd_log(s->d, SVC, "error", "policy step refused its input: %s", strerror(-prc));
        return;
    }
    s->stepped = true;
    for (size_t i = 0; i < n; i++) {
        struct guest *g = gp[i];
        g->track = tr[i];
        g->last = dec[i];
        g->have_last = true;
        enum dmp_guest_state st_now = dmp_guest_track_state(&g->track);
        if (st_now != g->last_state) {
            dmpd_log(s->d, SVC, dmp_guest_state_name(st_now),
                     "domain %u (%s) is now %s (was %s): %s", g->domid, g->name,
                     dmp_guest_state_name(st_now), dmp_guest_state_name(g->last_state),
                     dec[i].text);
            g->last_state = st_now;
        }
        dmp_balloon_log_decision(stderr, &dec[i]);
        if (s->decisions) {
            dmp_balloon_log_decision(s->decisions, &dec[i]);
            fflush(s->decisions);
        }
        if (dec[i].new_target_kib == dec[i].old_target_kib)
            continue;
        if (dmp_balloon_set_target(xs, dmpd_xch(s->d), g->domid, dec[i].new_target_kib + vram[i], 0,
                                   err, sizeof(err)) < 0)
            dmpd_log(s->d, SVC, "set-target-failed", "domain %u (%s): %s", g->domid, g->name, err);
    }
    write_metrics(s, dec, n);
    int src = save_state(s);
    if (src < 0)
        dmpd_log(s->d, SVC, "state-error", "cannot save state in %s: %s", dmpd_state_dir(s->d),
                 strerror(-src));
}

/* --- service interface ---------------------------------------------------------------- */

static int balloon_init(struct dmpd *d, void **state, char *err, size_t errlen)
{
    struct svc *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->d = d;
    s->sample = calloc(DMP_WSS_CTL_MAX, sizeof(*s->sample));
    if (!s->sample) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *cfgpath = dmpd_config_path(d);
    struct dmp_balloon_config fc;
    dmp_balloon_config_init(&fc);
    FILE *probe = fopen(cfgpath, "r");
    if (probe) {
        fclose(probe);
        /* The library's message names the file, the line and the key. */
        if (dmp_balloon_config_load(&fc, cfgpath, err, errlen) < 0) {
            dmp_balloon_config_free(&fc);
            free(s->sample);
            free(s);
            return -1;
        }
        snprintf(s->cfg_text_src, sizeof(s->cfg_text_src), "%s", cfgpath);
        s->enabled = true;
    } else if (errno != ENOENT) {
        snprintf(err, errlen, "cannot open %s: %s", cfgpath, strerror(errno));
        dmp_balloon_config_free(&fc);
        free(s->sample);
        free(s);
        return -1;
    } else {
        snprintf(s->cfg_text_src, sizeof(s->cfg_text_src), "%s (absent)", cfgpath);
    }
    size_t tl;
    if (dmp_balloon_config_serialize(&fc, &s->file_cfg_text, &tl) < 0) {
        snprintf(err, errlen, "out of memory");
        dmp_balloon_config_free(&fc);
        free(s->sample);
        free(s);
        return -1;
    }
    s->cfg = fc;
    /* Compare with what the last run used: a restart must not silently change behaviour. */
    char path[512];
    path_in_state(s, SETTINGS_FILE, path, sizeof(path));
    struct dmp_balloon_config prev;
    dmp_balloon_config_init(&prev);
    char perr[512];
    if (dmp_balloon_config_load(&prev, path, perr, sizeof(perr)) == 0) {
        dmpd_log(d, SVC, "settings-reloaded", "previous effective settings in %s", path);
    }
    dmp_balloon_config_free(&prev);
    if (load_state(s, err, errlen) < 0) {
        dmp_balloon_config_free(&s->cfg);
        free(s->file_cfg_text);
        free(s->sample);
        free(s);
        return -1;
    }
    dmp_rng_seed(&s->rng, dmp_mono_ms() ^ 0x5eed);
    if (dmpd_xch(d)) {
        char werr[256];
        if (dmp_wss_ctl_open(&s->wss, dmpd_xch(d), werr, sizeof(werr)) < 0) {
            s->wss = NULL;
            dmpd_log(d, SVC, "estimator-unavailable", "%s", werr);
        }
    }
    path_in_state(s, DECISIONS_FILE, path, sizeof(path));
    s->decisions = fopen(path, "a");
    if (!s->decisions)
        dmpd_log(d, SVC, "log-error", "cannot open %s: %s", path, strerror(errno));
    char a[24];
    if (!s->enabled)
        dmpd_log(d, SVC, "disabled", "no configuration file at %s: not balancing (create one, even "
                 "empty, to balance with the defaults)", cfgpath);
    dmpd_log(d, SVC, "config", "%s: policy %s, interval %s, budget %s, %zu domain sections",
             s->cfg_text_src, dmp_policy_kind_name(s->cfg.params.kind),
             dmp_cfg_fmt_ms(s->cfg.interval_ms, a, sizeof(a)),
             s->cfg.budget_kib ? "fixed" : "computed", s->cfg.n_domains);
    s->next_step = dmp_mono_ms();
    *state = s;
    return 0;
}

static void balloon_tick(struct dmpd *d, void *state, uint64_t now)
{
    struct svc *s = state;
    /* Off unless configured: a dmpd started for another service must not start ballooning
     * (and sampling) every guest on the host with default settings. */
    if (!s->enabled || !dmpd_xs(d) || !dmpd_xch(d) || now < s->next_step)
        return;
    s->next_step = now + s->cfg.interval_ms;
    step(s, now);
}

static void print_status_text(struct svc *s, FILE *out)
{
    char a[24], b[24];
    fprintf(out, "policy %s, budget %s, reserve %s, free %s, targets %s\n",
            dmp_policy_kind_name(s->cfg.params.kind),
            dmp_cfg_fmt_kib(s->sum.budget_kib, a, sizeof(a)),
            dmp_cfg_fmt_kib(s->sum.reserve_kib, b, sizeof(b)),
            dmp_cfg_fmt_kib(s->sum.free_kib, a, sizeof(a)),
            dmp_cfg_fmt_kib(s->sum.sum_new_kib, b, sizeof(b)));
    fprintf(out, "%-16s %5s %10s %10s %10s %10s %10s %-10s %s\n", "Name", "ID", "Target(M)",
            "Actual(M)", "WSS(M)", "Floor(M)", "Ceil(M)", "State", "Reason");
    for (size_t i = 0; i < s->n; i++) {
        const struct guest *g = &s->g[i];
        if (!g->have_last)
            continue;
        const struct dmp_decision *x = &g->last;
        char wss[24];
        if (x->wss.valid)
            snprintf(wss, sizeof(wss), "%" PRIu64, x->wss.bytes >> 20);
        else
            snprintf(wss, sizeof(wss), "unknown");
        fprintf(out, "%-16s %5u %10" PRIu64 " %10" PRIu64 " %10s %10" PRIu64 " %10" PRIu64 " %-10s %s\n",
                g->name, g->domid, x->new_target_kib >> 10, x->actual_kib >> 10, wss,
                x->floor_kib >> 10, x->ceiling_kib >> 10, dmp_guest_state_name(x->state),
                dmp_reason_name(x->reason));
    }
}

static int balloon_request(struct dmpd *d, void *state, int argc, char **argv, FILE *out)
{
    struct svc *s = state;
    bool json = false, prom = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--prom") == 0)
            prom = true;
    }
    size_t n = 0;
    static struct dmp_decision dec[MAX_GUESTS];
    for (size_t i = 0; i < s->n; i++)
        if (s->g[i].have_last)
            dec[n++] = s->g[i].last;
    if (strcmp(argv[0], "status") == 0) {
        if (!s->enabled && !json) {
            fprintf(out, "balancing disabled: no configuration file (%s)\n", s->cfg_text_src);
            return DMP_EXIT_OK;
        }
        if (!s->stepped && !json) {
            fprintf(out, "no balancing step yet (interval %" PRIu64 " ms)\n", s->cfg.interval_ms);
            return DMP_EXIT_OK;
        }
        if (json)
            return dmp_balloon_metrics_json(out, &s->sum, dec, n, true) == 0 ? DMP_EXIT_OK : DMP_EXIT_FAIL;
        print_status_text(s, out);
        return DMP_EXIT_OK;
    }
    if (strcmp(argv[0], "metrics") == 0) {
        if (prom)
            return dmp_balloon_metrics_prometheus(out, &s->sum, dec, n) == 0 ? DMP_EXIT_OK : DMP_EXIT_FAIL;
        (void)json;
        return dmp_balloon_metrics_json(out, &s->sum, dec, n, true) == 0 ? DMP_EXIT_OK : DMP_EXIT_FAIL;
    }
    if (strcmp(argv[0], "est") == 0 && argc == 2) {
        uint64_t id;
        if (dmp_parse_u64(argv[1], &id) < 0) {
            fprintf(out, "bad domain id '%s'\n", argv[1]);
            return DMP_EXIT_USAGE;
        }
        const struct guest *g = id < 0x7ff0 ? find_guest(s, (uint32_t)id) : NULL;
        if (!g || !g->have_last) {
            fprintf(out, "domain %s is not balanced (yet)\n", argv[1]);
            return DMP_EXIT_NOTHING;
        }
        if (g->last.wss.valid)
            fprintf(out, "estimate_kib=%" PRIu64 " ", g->last.wss.bytes / 1024);
        fprintf(out, "floor_kib=%" PRIu64 " ceiling_kib=%" PRIu64 " state=%s reason=%s\n",
                g->last.floor_kib, g->last.ceiling_kib, dmp_guest_state_name(g->last.state),
                dmp_reason_name(g->last.reason));
        return DMP_EXIT_OK;
    }
    if (strcmp(argv[0], "settings") == 0) {
        char *text;
        size_t tl;
        if (dmp_balloon_config_serialize(&s->cfg, &text, &tl) < 0)
            return DMP_EXIT_FAIL;
        fwrite(text, 1, tl, out);
        free(text);
        return DMP_EXIT_OK;
    }
    fprintf(out, "balloon: unknown request '%s' (status [--json], metrics [--json|--prom], est <domid>, settings)\n",
            argv[0]);
    return DMP_EXIT_USAGE;
}

static void balloon_fini(struct dmpd *d, void *state)
{
    struct svc *s = state;
    if (!s)
        return;
    int src = s->stepped ? save_state(s) : 0;
    if (src < 0)
        dmpd_log(d, SVC, "state-error", "cannot save state: %s", strerror(-src));
    /* Leave no trapping behind: sampling is off unless we drive it. */
    for (size_t i = 0; s->wss && i < s->n; i++)
        if (s->g[i].armed)
            dmp_wss_ctl_disable(s->wss, s->g[i].domid);
    dmp_wss_ctl_close(s->wss);
    if (s->decisions)
        fclose(s->decisions);
    dmp_balloon_config_free(&s->cfg);
    free(s->file_cfg_text);
    free(s->sample);
    free(s);
}

const struct dmpd_service dmpd_service_balloon = {
    .name = SVC,
    .interval_ms = 500,
    .init = balloon_init,
    .tick = balloon_tick,
    .request = balloon_request,
    .fini = balloon_fini,
};
