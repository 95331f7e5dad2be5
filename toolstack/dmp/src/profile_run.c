/* One profiling window on a domain (dmp/profile.h, dmp_profile_run): what `dmpctl dmp
 * profile` and dmpd's automatic DMP run. Docs: docs/PROFILER.md. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xenctrl.h>
#include <xenstore.h>

#include "dmp/profile.h"
#include "dmpcommon/util.h"
#include "dmpintrospect/live.h"
#include "dmppatcher/ksyms.h"
#include "dmpxen/domain.h"
#include "dmpcommon/clock.h"

/* Set by SIGINT/SIGTERM while profiling is on (catch_signals). */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}


/* Sleep for the window in steps of at most one second (a bounded loop: the window is at most
 * DMP_PROFILE_MAX_SECONDS); returns the time it took. */
static double wait_window(const struct dmp_profile_opts *o, struct dmp_profile_result *r)
{
    unsigned seconds = o->seconds;
    double start = dmp_mono_s(), end = start + seconds;
    for (unsigned step = 0; step <= seconds * 2u + 2u && !interrupted; step++) {
        double left = end - dmp_mono_s();
        if (left <= 0)
            break;
        if (o->progress)
            o->progress(o->progress_ctx, r, seconds - left, false);
        struct timespec ts = { .tv_sec = left >= 1.0 ? 1 : 0,
                               .tv_nsec = left >= 1.0 ? 0 : (long)(left * 1e9) };
        nanosleep(&ts, NULL);   /* EINTR from a signal just ends this step */
    }
    r->interrupted = interrupted != 0;
    if (o->progress)
        o->progress(o->progress_ctx, r, dmp_mono_s() - start, true);
    return dmp_mono_s() - start;
}

/* The running guest kernel's symbols (kallsyms recovered from guest memory by the live
 * backend, at their KASLR-slid addresses). The domain is paused only while the kernel is
 * located and kallsyms is read: after the window, so the pause does not distort it. */
static int open_symbols(struct dmp_profile_result *r)
{
    struct dmp_live_kernel k;
    char *err = r->sym_err;
    size_t errlen = sizeof(r->sym_err);
    int rc = dmp_live_open(r->domid, DMP_LIVE_PAUSE, &r->live, err, errlen);
    if (rc)
        return rc;
    rc = dmp_live_find_kernel(r->live, &k, err, errlen);
    int urc = dmp_live_unpause(r->live);
    if (rc == 0 && urc != 0)
        rc = dmp_errf(err, errlen, urc, "cannot unpause domain %u: %s", r->domid, strerror(-urc));
    /* Only names from the kernel's own tables: with the heuristic fallback's made-up
     * "fn_<addr>" names the column stays empty. */
    const struct dmp_ksyms *ks = rc == 0 ? dmp_live_ksyms(r->live) : NULL;
    if (rc == 0 && (!ks || !dmp_ksyms_from_tables(ks)))
        rc = dmp_errf(err, errlen, -ENOENT, "no kallsyms tables in the guest kernel");
    if (rc) {
        dmp_live_close(r->live);
        r->live = NULL;
        return rc;
    }
    r->slide = k.slide;
    return 0;
}

static int symbolize(void *ctx, uint64_t rip, char *buf, size_t len)
{
    const struct dmp_profile_result *r = ctx;
    /* User-space RIPs (demand faults of the guest's processes) are not kernel symbols, even
     * where an absolute kallsyms entry (the per-CPU area) happens to sit below them. */
    if (rip < 0xffff800000000000ull)
        return -1;
    const struct dmp_ksym *s = dmp_ksyms_by_addr(dmp_live_ksyms(r->live), rip);
    if (!s)
        return -1;
    snprintf(buf, len, "%s+0x%llx", s->name, (unsigned long long)(rip - s->addr));
    return 0;
}

dmp_profile_symbolizer dmp_profile_result_symbolizer(const struct dmp_profile_result *r)
{
    return r->have_syms ? symbolize : NULL;
}

void dmp_profile_result_free(struct dmp_profile_result *r)
{
    if (r->live)
        dmp_live_close(r->live);
    r->live = NULL;
    r->have_syms = false;
    dmp_profile_free(&r->prof);
    if (r->have_perfc) {
        dmp_perfc_free(&r->perfc_before);
        dmp_perfc_free(&r->perfc_after);
    }
    r->have_perfc = false;
}

/* The domain must be a running shadow-paged HVM/PVH guest. */
static int check_domain(xc_interface *xch, const struct dmp_profile_opts *o,
                        struct dmp_profile_result *r, xc_dominfo_t *info, char *err,
                        size_t errlen)
{
    const char *name = r->name;
    uint32_t domid = r->domid;
    if (xc_domain_getinfo(xch, domid, 1, info) != 1 || info->domid != domid) {
        r->outcome = DMP_BAD_INPUT;
        return dmp_errf(err, errlen, -ESRCH, "domain '%s' (%u) does not exist", o->domain, domid);
    }
    if (!info->hvm) {
        r->outcome = DMP_NOTHING_TO_DO;
        return dmp_errf(err, errlen, -EOPNOTSUPP, "nothing to profile: domain '%s' (%u) is PV "
                        "(its page-table updates are hypercalls, not shadow-paging exits)",
                        name, domid);
    }
    if (info->hap) {
        r->outcome = DMP_NOTHING_TO_DO;
        return dmp_errf(err, errlen, -EOPNOTSUPP, "nothing to profile: domain '%s' (%u) uses HAP "
                        "(hardware paging: its page-table updates do not exit)", name, domid);
    }
    if (info->dying || info->shutdown)
        return dmp_errf(err, errlen, -ESRCH, "domain '%s' (%u) is shutting down", name, domid);
    return 0;
}

/* Profiling is on: the window, the tables, off again. */
static int window(struct dmp_profiler *pr, xc_interface *xch, const struct dmp_profile_opts *o,
                  struct dmp_profile_result *r, uint32_t nr_vcpus, bool *enabled, char *err,
                  size_t errlen)
{
    r->have_perfc = dmp_perfc_read(xch, &r->perfc_before) == 0;
    r->seconds = wait_window(o, r);
    if (r->have_perfc && dmp_perfc_read(xch, &r->perfc_after) != 0) {
        dmp_perfc_free(&r->perfc_before);
        r->have_perfc = false;
    }
    int rc = dmp_profiler_read(pr, r->domid, nr_vcpus, &r->prof);
    if (rc)
        return dmp_errf(err, errlen, rc, "cannot read the profile of '%s' (%u): %s", r->name,
                        r->domid, strerror(-rc));
    dmp_profile_sort(&r->prof);
    /* The window is over: stop counting before the symbol lookup pauses the guest. */
    *enabled = false;
    rc = dmp_profiler_disable(pr, r->domid);
    if (rc && rc != -ESRCH)
        return dmp_errf(err, errlen, rc, "cannot disable profiling of '%s' (%u): %s", r->name,
                        r->domid, strerror(-rc));
    return 0;
}

static int run(struct dmp_profiler *pr, xc_interface *xch, const struct dmp_profile_opts *o,
               struct dmp_profile_result *r, char *err, size_t errlen)
{
    xc_dominfo_t info;
    int rc = check_domain(xch, o, r, &info, err, errlen);
    if (rc)
        return rc;
    rc = dmp_profiler_enable(pr, r->domid, o->slots);
    if (rc == -EBUSY)
        return dmp_errf(err, errlen, rc, "domain '%s' (%u) is already being profiled (another "
                        "dmpctl or dmpd holds it)", r->name, r->domid);
    if (rc)
        return dmp_errf(err, errlen, rc, "cannot enable profiling of '%s' (%u): %s", r->name,
                        r->domid, strerror(-rc));
    bool enabled = true;
    /* From here on profiling is on in the hypervisor: leave only through a disable. */
    struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    if (o->catch_signals) {
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
    }
    rc = window(pr, xch, o, r, info.max_vcpu_id + 1, &enabled, err, errlen);
    if (enabled) {
        int drc = dmp_profiler_disable(pr, r->domid);
        if (drc && drc != -ESRCH)   /* a domain that went away took its tables along */
            dmp_notef(o->note, o->note_ctx, "cannot disable profiling of '%s' (%u): %s",
                      r->name, r->domid, strerror(-drc));
    }
    if (o->catch_signals) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    if (rc)
        return rc;
    if (o->symbols && r->prof.n) {
        r->have_syms = open_symbols(r) == 0;
        if (!r->have_syms)
            dmp_notef(o->note, o->note_ctx, "no symbols, printing raw RIPs: %s", r->sym_err);
    }
    return 0;
}

int dmp_profile_run(const struct dmp_profile_opts *o, struct dmp_profile_result *r, char *err,
                    size_t errlen)
{
    memset(r, 0, sizeof(*r));
    dmp_profile_init(&r->prof);
    r->outcome = DMP_FAILED;
    r->window = o->seconds;
    r->symbols_wanted = o->symbols;
    interrupted = 0;
    if (o->seconds < 1 || o->seconds > DMP_PROFILE_MAX_SECONDS) {
        r->outcome = DMP_BAD_INPUT;
        return dmp_errf(err, errlen, -EINVAL, "a window of %u s is not 1..%u", o->seconds,
                        DMP_PROFILE_MAX_SECONDS);
    }
    struct xs_handle *xs = xs_open(XS_OPEN_READONLY);
    if (!xs)
        return dmp_errf(err, errlen, -(errno ? errno : EIO), "cannot reach xenstore: %s",
                        strerror(errno));
    int rc = dmp_domain_resolve(xs, o->domain, &r->domid, r->name, sizeof(r->name), err, errlen);
    xs_close(xs);
    if (rc) {
        r->outcome = DMP_BAD_INPUT;
        return rc;
    }
    struct dmp_profiler *pr;
    rc = dmp_profiler_open(&pr, err, errlen);
    if (rc)
        return rc;
    xc_interface *xch = xc_interface_open(NULL, NULL, 0);
    if (!xch) {
        rc = dmp_errf(err, errlen, -(errno ? errno : EIO), "cannot open the Xen control "
                      "interface: %s", strerror(errno));
        dmp_profiler_close(pr);
        return rc;
    }
    rc = run(pr, xch, o, r, err, errlen);
    xc_interface_close(xch);
    dmp_profiler_close(pr);
    if (rc == 0)
        r->outcome = DMP_DONE;
    return rc;
}
