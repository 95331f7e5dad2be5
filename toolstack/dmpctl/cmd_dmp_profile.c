/* dmpctl dmp profile <dom>: count the page-table-related exits of a shadow-paged guest per
 * guest instruction with the hypervisor's trap profiler (docs/PROFILER.md), for a bounded
 * window, and print the hottest RIPs with their kind. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xenctrl.h>
#include <xenstore.h>

#include "cmd_dmp.h"
#include "dmpcli/cli.h"
#include "dmpxen/domain.h"
#include "dmpcommon/json.h"
#include "dmppatcher/ksyms.h"
#include "dmpintrospect/live.h"
#include "dmpxen/perfc.h"
#include "dmp/profile.h"
#include "dmpcommon/util.h"

#define PROFILE_MAX_SECONDS 3600u
#define PROFILE_DEFAULT_SECONDS 5u
#define PROFILE_DEFAULT_TOP 20u

static volatile sig_atomic_t profile_interrupted;

static void profile_on_signal(int sig)
{
    (void)sig;
    profile_interrupted = 1;
}

static void profile_usage(FILE *f)
{
    fprintf(f,
            "usage: dmpctl dmp profile <domain> [--seconds N] [--top K] [--slots N] [--json]\n"
            "                          [--no-symbols]\n"
            "Count the page-table-related VM exits of a shadow-paged HVM/PVH guest per guest\n"
            "instruction (RIP) for N seconds (default %u, at most %u), then print the K hottest\n"
            "(default %u; 0 = all) with their kind:\n"
            "  pt_write   #PF on the shadow emulation path (a write to a guest page table)\n"
            "  pf_fixed   #PF fixed by the shadow code, never seen by the guest\n"
            "  pf_guest   #PF reflected to the guest as its own page fault\n"
            "  pf_mmio    #PF handled as MMIO (or a skipped write to read-only memory)\n"
            "  cr3_write, invlpg, invpcid\n"
            "--slots: per-vCPU table size (power of two, %u..%u, default %u).\n"
            "Kernel RIPs are named from the guest's own kallsyms (found in its memory, with\n"
            "the KASLR slide; the guest is paused briefly after the window); --no-symbols skips it.\n"
            "Needs the DMP hypervisor. Exit 3 if the domain is PV or uses HAP (no such exits).\n"
            "Ctrl-C ends the window early; profiling is always turned off before exiting.\n",
            PROFILE_DEFAULT_SECONDS, PROFILE_MAX_SECONDS, PROFILE_DEFAULT_TOP,
            DMP_TRAP_PROFILE_MIN_SLOTS, DMP_TRAP_PROFILE_MAX_SLOTS,
            DMP_TRAP_PROFILE_DEFAULT_SLOTS);
}

/* Hypervisor counters that the profile should agree with over the same window (host-wide:
 * meaningful when the profiled guest is the only busy domain). */
static const char *const profile_perfc_names[] = {
    "calls to shadow_fault",
    "shadow_fault emulates a write",
    "shadow_fault fast emulate",
    "shadow_fault fixed fault",
    "shadow_fault fast path n/p",
    "shadow_fault really guest fault",
    "shadow_fault handled as mmio",
    "shadow emulates invlpg",
};
static const struct { uint32_t idx; const char *name; } profile_vmexits[] = {
    { 0x13, "vmexit CR3 write" },
    { 0x4e, "vmexit #PF" },
    { 0x79, "vmexit INVLPG" },
};

static void profile_perfc_json(struct dmp_json *j, const struct dmp_perfc_snapshot *a,
                               const struct dmp_perfc_snapshot *b)
{
    dmp_json_key(j, "perfc_window");
    dmp_json_obj_begin(j);
    for (size_t i = 0; i < sizeof(profile_perfc_names) / sizeof(profile_perfc_names[0]); i++)
        DMP_JSON_KV(j, profile_perfc_names[i], dmp_json_i64,
                    dmp_perfc_delta(a, b, profile_perfc_names[i]));
    for (size_t i = 0; i < sizeof(profile_vmexits) / sizeof(profile_vmexits[0]); i++)
        DMP_JSON_KV(j, profile_vmexits[i].name, dmp_json_i64,
                    dmp_perfc_delta_at(a, b, "vmexits", profile_vmexits[i].idx));
    DMP_JSON_KV(j, "vmexits", dmp_json_i64, dmp_perfc_delta(a, b, "vmexits"));
    dmp_json_obj_end(j);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleep for the window in steps of at most one second, with progress on stderr (a
 * bounded loop: seconds is at most PROFILE_MAX_SECONDS). */
static double profile_wait(unsigned seconds, const char *name, uint32_t domid, bool progress)
{
    double start = now_seconds(), end = start + seconds;
    for (unsigned step = 0; step <= seconds * 2u + 2u && !profile_interrupted; step++) {
        double left = end - now_seconds();
        if (left <= 0)
            break;
        if (progress)
            fprintf(stderr, "\rdmpctl dmp profile: %s (%u): %3.0f/%u s", name, domid,
                    seconds - left, seconds);
        struct timespec ts = { .tv_sec = left >= 1.0 ? 1 : 0,
                               .tv_nsec = left >= 1.0 ? 0 : (long)(left * 1e9) };
        nanosleep(&ts, NULL);   /* EINTR from Ctrl-C just ends this step */
    }
    if (progress)
        fprintf(stderr, "\rdmpctl dmp profile: %s (%u): %3.0f/%u s%s\n", name, domid,
                now_seconds() - start, seconds, profile_interrupted ? " (interrupted)" : "");
    return now_seconds() - start;
}

/* Symbols of the running guest kernel (kallsyms recovered from guest memory by the live
 * backend, at their KASLR-slid addresses). Only names from the kernel's own tables are shown:
 * with the heuristic fallback's made-up "fn_<addr>" names the column stays empty. */
struct profile_syms {
    struct dmp_live *live;
    struct dmp_ksyms *ks;
    int64_t slide;
};

static int profile_symbolize(void *ctx, uint64_t rip, char *buf, size_t len)
{
    const struct profile_syms *ps = ctx;
    /* User-space RIPs (demand faults of the guest's processes) are not kernel symbols, even
     * where an absolute kallsyms entry (the per-CPU area) happens to sit below them. */
    if (rip < 0xffff800000000000ull)
        return -1;
    const struct dmp_ksym *s = dmp_ksyms_by_addr(ps->ks, rip);
    if (!s)
        return -1;
    snprintf(buf, len, "%s+0x%llx", s->name, (unsigned long long)(rip - s->addr));
    return 0;
}

/* Find the guest kernel's symbols. The domain is paused only while the kernel is located and
 * kallsyms is read (after the profiling window, so the pause does not distort it). Returns 0,
 * or -1 with a message in err; the profile is then printed with raw RIPs. */
static int profile_syms_open(uint32_t domid, struct profile_syms *ps, char *err, size_t errlen)
{
    struct dmp_live_kernel k;
    memset(ps, 0, sizeof(*ps));
    if (dmp_live_open(domid, DMP_LIVE_PAUSE, &ps->live, err, errlen) != 0)
        return -1;
    int rc = dmp_live_find_kernel(ps->live, &k, err, errlen);
    int urc = dmp_live_unpause(ps->live);
    if (rc == 0 && urc != 0) {
        snprintf(err, errlen, "cannot unpause domain %u: %s", domid, strerror(-urc));
        rc = urc;
    }
    if (rc == 0) {
        ps->ks = dmp_live_ksyms(ps->live);
        ps->slide = k.slide;
        if (!ps->ks || !dmp_ksyms_from_tables(ps->ks)) {
            snprintf(err, errlen, "no kallsyms tables in the guest kernel");
            rc = -ENOENT;
        }
    }
    if (rc != 0) {
        dmp_live_close(ps->live);
        memset(ps, 0, sizeof(*ps));
        return -1;
    }
    return 0;
}

int dmp_cmd_profile(int argc, char **argv)
{
    const char *cmd = "dmp profile";
    const char *dom = NULL;
    uint64_t seconds = PROFILE_DEFAULT_SECONDS, top = PROFILE_DEFAULT_TOP;
    uint64_t slots = DMP_TRAP_PROFILE_DEFAULT_SLOTS;
    bool json = false, symbols = true;

    if (dmp_cli_wants_help(argc, argv)) {
        profile_usage(stdout);
        return DMP_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--no-symbols") == 0) {
            symbols = false;
        } else if (strcmp(a, "--seconds") == 0 || strcmp(a, "--top") == 0 ||
                   strcmp(a, "--slots") == 0) {
            if (i + 1 >= argc)
                return dmp_cli_error(DMP_EXIT_USAGE, cmd, "%s needs a value", a);
            uint64_t v;
            if (dmp_parse_u64(argv[++i], &v) != 0)
                return dmp_cli_error(DMP_EXIT_USAGE, cmd, "%s: '%s' is not a number", a, argv[i]);
            if (strcmp(a, "--seconds") == 0) {
                if (v < 1 || v > PROFILE_MAX_SECONDS)
                    return dmp_cli_error(DMP_EXIT_USAGE, cmd, "--seconds %s: must be 1..%u",
                                         argv[i], PROFILE_MAX_SECONDS);
                seconds = v;
            } else if (strcmp(a, "--top") == 0) {
                if (v > DMP_TRAP_PROFILE_MAX_SLOTS * 1024ull)
                    return dmp_cli_error(DMP_EXIT_USAGE, cmd, "--top %s: too large", argv[i]);
                top = v;
            } else {
                if (v < DMP_TRAP_PROFILE_MIN_SLOTS || v > DMP_TRAP_PROFILE_MAX_SLOTS ||
                    (v & (v - 1)))
                    return dmp_cli_error(DMP_EXIT_USAGE, cmd,
                                         "--slots %s: must be a power of two in %u..%u",
                                         argv[i], DMP_TRAP_PROFILE_MIN_SLOTS,
                                         DMP_TRAP_PROFILE_MAX_SLOTS);
                slots = v;
            }
        } else if (a[0] == '-' && a[1]) {
            return dmp_cli_error(DMP_EXIT_USAGE, cmd, "unknown option '%s' (try --help)", a);
        } else if (!dom) {
            dom = a;
        } else {
            return dmp_cli_error(DMP_EXIT_USAGE, cmd, "unexpected argument '%s'", a);
        }
    }
    if (!dom) {
        profile_usage(stderr);
        return DMP_EXIT_USAGE;
    }

    struct xs_handle *xs = xs_open(XS_OPEN_READONLY);
    if (!xs)
        return dmp_cli_error(DMP_EXIT_FAIL, cmd, "cannot reach xenstore: %s", strerror(errno));
    uint32_t domid;
    char name[DMP_DOMAIN_NAME_MAX], err[256];
    if (dmp_domain_resolve(xs, dom, &domid, name, sizeof(name), err, sizeof(err)) != 0) {
        xs_close(xs);
        return dmp_cli_error(DMP_EXIT_USAGE, cmd, "%s", err);
    }
    xs_close(xs);

    struct dmp_profiler *pr;
    int rc = dmp_profiler_open(&pr, err, sizeof(err));
    if (rc != 0)
        return dmp_cli_error(DMP_EXIT_FAIL, cmd, "%s", err);

    xc_interface *xch = xc_interface_open(NULL, NULL, 0);
    if (!xch) {
        dmp_profiler_close(pr);
        return dmp_cli_error(DMP_EXIT_FAIL, cmd, "cannot open the Xen control interface: %s",
                             strerror(errno));
    }
    int ret = DMP_EXIT_FAIL;
    bool enabled = false, have_perfc = false;
    struct dmp_perfc_snapshot pa = { 0 }, pb = { 0 };
    struct dmp_profile prof;
    dmp_profile_init(&prof);
    struct profile_syms syms = { 0 };
    char sym_err[512] = "";

    xc_dominfo_t info;
    if (xc_domain_getinfo(xch, domid, 1, &info) != 1 || info.domid != domid) {
        ret = dmp_cli_error(DMP_EXIT_USAGE, cmd, "domain '%s' (%u) does not exist", dom, domid);
        goto out;
    }
    if (!info.hvm) {
        ret = dmp_cli_error(DMP_EXIT_NOTHING, cmd,
                            "nothing to profile: domain '%s' (%u) is PV (its page-table "
                            "updates are hypercalls, not shadow-paging exits)", name, domid);
        goto out;
    }
    if (info.hap) {
        ret = dmp_cli_error(DMP_EXIT_NOTHING, cmd,
                            "nothing to profile: domain '%s' (%u) uses HAP (hardware paging: "
                            "its page-table updates do not exit)", name, domid);
        goto out;
    }
    if (info.dying || info.shutdown) {
        ret = dmp_cli_error(DMP_EXIT_FAIL, cmd, "domain '%s' (%u) is shutting down", name, domid);
        goto out;
    }

    rc = dmp_profiler_enable(pr, domid, (uint32_t)slots);
    if (rc == -EBUSY) {
        ret = dmp_cli_error(DMP_EXIT_FAIL, cmd,
                            "domain '%s' (%u) is already being profiled (another dmpctl or dmpd "
                            "holds it)", name, domid);
        goto out;
    }
    if (rc != 0) {
        ret = dmp_cli_error(DMP_EXIT_FAIL, cmd, "cannot enable profiling of '%s' (%u): %s",
                            name, domid, strerror(-rc));
        goto out;
    }
    enabled = true;

    /* From here on profiling is on in the hypervisor: leave only through the disable below,
     * also on Ctrl-C / SIGTERM. */
    struct sigaction sa = { .sa_handler = profile_on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    have_perfc = dmp_perfc_read(xch, &pa) == 0;
    double took = profile_wait((unsigned)seconds, name, domid, true);
    if (have_perfc && dmp_perfc_read(xch, &pb) != 0) {
        dmp_perfc_free(&pa);
        have_perfc = false;
    }
    rc = dmp_profiler_read(pr, domid, info.max_vcpu_id + 1, &prof);
    if (rc != 0) {
        ret = dmp_cli_error(DMP_EXIT_FAIL, cmd, "cannot read the profile of '%s' (%u): %s",
                            name, domid, strerror(-rc));
        goto out;
    }
    dmp_profile_sort(&prof);
    /* The window is over: stop counting before the symbol lookup pauses the guest. */
    enabled = false;
    rc = dmp_profiler_disable(pr, domid);
    if (rc != 0 && rc != -ESRCH) {
        ret = dmp_cli_error(DMP_EXIT_FAIL, cmd, "cannot disable profiling of '%s' (%u): %s",
                            name, domid, strerror(-rc));
        goto out;
    }
    bool have_syms = false;
    if (symbols && prof.n) {
        have_syms = profile_syms_open(domid, &syms, sym_err, sizeof(sym_err)) == 0;
        if (!have_syms)
            fprintf(stderr, "dmpctl %s: no symbols, printing raw RIPs: %s\n", cmd, sym_err);
    }
    dmp_profile_symbolizer symf = have_syms ? profile_symbolize : NULL;

    if (json) {
        struct dmp_json j;
        dmp_json_init(&j, stdout, true);
        dmp_json_obj_begin(&j);
        DMP_JSON_KV(&j, "name", dmp_json_str, name);
        DMP_JSON_KV(&j, "interrupted", dmp_json_bool, profile_interrupted != 0);
        if (have_syms)
            DMP_JSON_KV(&j, "kaslr_slide", dmp_json_hex, (uint64_t)syms.slide);
        else if (symbols)
            DMP_JSON_KV(&j, "symbols_error", dmp_json_str, sym_err);
        dmp_profile_json(&j, &prof, (size_t)top, took, symf, &syms);
        if (have_perfc)
            profile_perfc_json(&j, &pa, &pb);
        dmp_json_obj_end(&j);
        ret = dmp_json_finish(&j) == 0 ? DMP_EXIT_OK : DMP_EXIT_FAIL;
        fputc('\n', stdout);
    } else {
        printf("profile of '%s' ", name);
        dmp_profile_print(stdout, &prof, (size_t)top, took, symf, &syms);
        ret = DMP_EXIT_OK;
    }

out:
    if (enabled) {
        rc = dmp_profiler_disable(pr, domid);
        if (rc != 0 && rc != -ESRCH) {   /* a domain that went away took its tables along */
            dmp_cli_error(DMP_EXIT_FAIL, cmd, "cannot disable profiling of '%s' (%u): %s",
                          name, domid, strerror(-rc));
            ret = DMP_EXIT_FAIL;
        }
    }
    if (syms.live)
        dmp_live_close(syms.live);
    dmp_profile_free(&prof);
    if (have_perfc) {
        dmp_perfc_free(&pa);
        dmp_perfc_free(&pb);
    }
    xc_interface_close(xch);
    dmp_profiler_close(pr);
    return ret;
}
