/* dmpctl mem-sample: a one-off working-set measurement of one guest by the hypervisor's access
 * sampling (XEN_DOMCTL_dmp_wss), without dmpd: each round arms a random sample of the guest's
 * frames, waits, and counts the touched ones. For an administrator sizing a guest by hand, and
 * for the lab, which uses it to sample a guest from its first instant (dmpd waits for the PV
 * drivers). The hypervisor keeps one armed set per domain, so dmpd must not sample the same
 * guest meanwhile (xenstore override estimator=none); a set re-armed by someone else is
 * detected and the round discarded. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dmpmem/balloon_ctl.h"
#include "dmpballoon/balloon_rng.h"
#include "dmpcli/cli.h"
#include "dmpcli/dmpd.h"
#include "dmpxen/domain.h"
#include "dmpcommon/clock.h"
#include "dmpcommon/json.h"
#include "dmpcommon/util.h"
#include "dmpmem/wss_ctl.h"
#include "dmpballoon/wss_sampling.h"
#include "cmd_mem.h"

int cmd_mem_sample(int argc, char **argv);

#define CMD "mem-sample"

struct opts {
    const char *dom;
    uint64_t pages, interval_ms, rounds;
    bool json;
};

static void usage(void)
{
    printf("usage: dmpctl mem-sample <dom> [--pages N] [--interval-ms MS] [--rounds K] [--json]\n"
           "Measure a guest's working set now, by the hypervisor's access sampling: each\n"
           "round revokes the guest's access to N random frames (default 2000, 50..%u),\n"
           "waits MS milliseconds (default 5000) and counts the frames the guest touched;\n"
           "touched/armed times the guest's allocation is that interval's working set,\n"
           "with a 95%% Wilson interval. K rounds (default 3), one line each.\n"
           "Needs the DMP hypervisor; HVM/PVH guests in shadow mode or with HAP on AMD NPT.\n"
           "dmpd must not sample the same guest meanwhile (per-guest estimator=none).\n",
           DMP_WSS_CTL_MAX);
}

static int parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){ .pages = 2000, .interval_ms = 5000, .rounds = 3 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t v;
        if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if ((strcmp(a, "--pages") == 0 || strcmp(a, "--rounds") == 0 ||
                    strcmp(a, "--interval-ms") == 0) && i + 1 < argc) {
            const char *val = argv[++i];
            bool pages = a[2] == 'p', rounds = a[2] == 'r';
            uint64_t lo = pages ? 50 : rounds ? 1 : 100;
            uint64_t hi = pages ? DMP_WSS_CTL_MAX : rounds ? 100000 : 3600000;
            if (dmp_parse_u64(val, &v) < 0 || v < lo || v > hi)
                return dmp_cli_error(DMP_EXIT_USAGE, CMD, "bad %s '%s' (%" PRIu64 "..%" PRIu64 ")",
                                     a, val, lo, hi);
            *(pages ? &o->pages : rounds ? &o->rounds : &o->interval_ms) = v;
        } else if (a[0] == '-' && a[1]) {
            return dmp_cli_error(DMP_EXIT_USAGE, CMD, "unknown option '%s'", a);
        } else if (!o->dom) {
            o->dom = a;
        } else {
            return dmp_cli_error(DMP_EXIT_USAGE, CMD, "unexpected argument '%s'", a);
        }
    }
    if (!o->dom)
        return dmp_cli_error(DMP_EXIT_USAGE, CMD, "need <dom> (see --help)");
    return 0;
}

struct round {
    uint32_t armed, touched;
    uint64_t pages;         /* the guest's allocation when harvested */
    uint64_t ms;
};

static double mib(double pages)
{
    return pages * 4096.0 / (1 << 20);
}

static void print_round(const struct opts *o, struct dmp_json *j, uint64_t i, const struct round *r)
{
    double lo, hi, p = r->armed ? (double)r->touched / r->armed : 0;
    dmp_wilson_interval(r->touched, r->armed, 1.96, &lo, &hi);
    if (o->json) {
        dmp_json_obj_begin(j);
        DMP_JSON_KV(j, "round", dmp_json_u64, i + 1);
        DMP_JSON_KV(j, "armed", dmp_json_u64, r->armed);
        DMP_JSON_KV(j, "touched", dmp_json_u64, r->touched);
        DMP_JSON_KV(j, "interval_ms", dmp_json_u64, r->ms);
        DMP_JSON_KV(j, "guest_kib", dmp_json_u64, r->pages * 4);
        DMP_JSON_KV(j, "wss_kib", dmp_json_u64, (uint64_t)(p * r->pages * 4));
        DMP_JSON_KV(j, "wss_lo_kib", dmp_json_u64, (uint64_t)(lo * r->pages * 4));
        DMP_JSON_KV(j, "wss_hi_kib", dmp_json_u64, (uint64_t)(hi * r->pages * 4));
        dmp_json_obj_end(j);
    } else {
        printf("round %" PRIu64 ": %u of %u sampled frames touched in %.1f s: working set "
               "%.0f MiB (95%%: %.0f..%.0f) of %.0f MiB\n", i + 1, r->touched, r->armed,
               r->ms / 1000.0, mib(p * r->pages), mib(lo * r->pages), mib(hi * r->pages),
               mib((double)r->pages));
        fflush(stdout);
    }
}

/* One round: choose and arm a sample, wait, harvest. Returns 0, or a dmpctl exit code. */
static int one_round(const struct opts *o, struct xs_handle *xs, xc_interface *xch,
                     struct dmp_wss_ctl *c, struct dmp_rng *rng, uint64_t *gfns, uint32_t domid,
                     const char *name, struct round *r)
{
    char err[256];
    struct dmp_balloon_info bi;
    xen_pfn_t maxgpfn = 0;
    if (dmp_balloon_read(xs, (struct xc_interface_core *)xch, domid, &bi, err, sizeof(err)) < 0)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD, "domain %s: %s", name, err);
    if (bi.dying)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD, "domain %s is shutting down", name);
    if (xc_domain_maximum_gpfn(xch, domid, &maxgpfn) < 0)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD, "domain %s: cannot read its highest frame: %s",
                             name, strerror(errno));
    uint64_t smax = (bi.static_max_kib ? bi.static_max_kib : bi.maxmem_kib) / 4;
    struct dmp_gfn_range rg[2];
    size_t nr = dmp_wss_guest_ranges(smax, maxgpfn, rg);
    long n = dmp_wss_select_sample(rng, rg, nr, NULL, NULL, gfns, (size_t)o->pages);
    if (n <= 0)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD, "domain %s: no frames to sample", name);
    uint32_t armed = 0, harmed = 0, touched = 0;
    if (dmp_wss_ctl_arm(c, domid, gfns, (uint32_t)n, &armed) < 0)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD, "domain %s: arming %ld frames failed: %s%s", name,
                             n, strerror(errno), errno == EOPNOTSUPP ?
                             " (PV guest, or HAP on Intel EPT: not supported)" : "");
    uint64_t t0 = dmp_mono_ms();
    dmp_sleep_ms(o->interval_ms);
    if (dmp_wss_ctl_harvest(c, domid, NULL, (uint32_t)n, &harmed, &touched) < 0) {
        int e = errno;
        return dmp_cli_error(DMP_EXIT_FAIL, CMD, "domain %s: harvest failed: %s%s", name,
                             strerror(e), e == ENOBUFS || e == ENODATA ?
                             " (another sampler, dmpd?, re-armed or dropped the set)" : "");
    }
    /* The hypervisor only lowers the armed count (a frame ballooned out meanwhile); more
     * armed frames than ours means another sampler's set. */
    if (harmed > armed)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD, "domain %s: the armed set changed under us "
                             "(%u armed, %u now): is dmpd sampling it? (xenstore "
                             "/local/domain/0/dmp/balloon/%s/estimator none)", name, armed,
                             harmed, name);
    if (dmp_balloon_read(xs, (struct xc_interface_core *)xch, domid, &bi, err, sizeof(err)) < 0)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD, "domain %s: %s", name, err);
    *r = (struct round){ harmed, touched, bi.actual_kib / 4, dmp_mono_ms() - t0 };
    return 0;
}

int cmd_mem_sample(int argc, char **argv)
{
    if (dmp_cli_wants_help(argc, argv)) {
        usage();
        return DMP_EXIT_OK;
    }
    struct opts o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc;
    struct xs_handle *xs;
    xc_interface *xch;
    rc = dmpctl_open_xen(CMD, &xs, &xch);
    if (rc)
        return rc;
    struct dmp_wss_ctl *c = NULL;
    uint64_t *gfns = malloc(o.pages * sizeof(*gfns));
    char err[256], name[DMP_DOMAIN_NAME_MAX];
    uint32_t domid;
    if (!gfns) {
        rc = dmp_cli_error(DMP_EXIT_FAIL, CMD, "out of memory");
        goto out;
    }
    if (dmp_domain_resolve(xs, o.dom, &domid, name, sizeof(name), err, sizeof(err)) < 0) {
        rc = dmp_cli_error(DMP_EXIT_USAGE, CMD, "%s", err);
        goto out;
    }
    if (domid == 0) {
        rc = dmp_cli_error(DMP_EXIT_USAGE, CMD, "dom0 cannot be sampled (it runs this command)");
        goto out;
    }
    if (dmp_wss_ctl_open(&c, (struct xc_interface_core *)xch, err, sizeof(err)) < 0) {
        rc = dmp_cli_error(DMP_EXIT_FAIL, CMD, "%s", err);
        goto out;
    }
    struct dmp_rng rng;
    dmp_rng_seed(&rng, (uint64_t)time(NULL) ^ ((uint64_t)domid << 32));
    struct dmp_json j;
    if (o.json) {
        dmp_json_init(&j, stdout, true);
        dmp_json_obj_begin(&j);
        DMP_JSON_KV(&j, "name", dmp_json_str, name);
        DMP_JSON_KV(&j, "domid", dmp_json_u64, domid);
        dmp_json_key(&j, "rounds");
        dmp_json_arr_begin(&j);
    }
    uint64_t done = 0;
    for (; done < o.rounds && !rc; done++) {
        struct round r = { 0 };
        rc = one_round(&o, xs, xch, c, &rng, gfns, domid, name, &r);
        if (!rc)
            print_round(&o, &j, done, &r);
    }
    /* Leave nothing armed behind; not after a conflict (the set is someone else's). */
    if (!rc && dmp_wss_ctl_disable(c, domid) < 0 && errno != ESRCH)
        rc = dmp_cli_error(DMP_EXIT_FAIL, CMD, "domain %s: cannot drop the sample: %s", name,
                           strerror(errno));
    if (o.json) {
        dmp_json_arr_end(&j);
        DMP_JSON_KV(&j, "complete", dmp_json_bool, rc == 0);
        dmp_json_obj_end(&j);
        if (dmp_json_finish(&j) != 0 && !rc)
            rc = DMP_EXIT_FAIL;
    }
out:
    dmp_wss_ctl_close(c);
    free(gfns);
    xc_interface_close(xch);
    xs_close(xs);
    return rc;
}
