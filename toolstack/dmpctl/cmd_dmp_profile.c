/* dmpctl dmp profile <dom>: count the page-table-related exits of a shadow-paged guest per
 * guest instruction with the hypervisor's trap profiler (docs/PROFILER.md), for a bounded
 * window, and print the hottest RIPs with their kind. The window itself is the library's
 * (dmp_profile_run, dmp/profile.h), its JSON dmp/report.h's: dmpd runs the same. */
#include <stdio.h>
#include <string.h>

#include "cmd_dmp.h"
#include "dmp/profile.h"
#include "dmp/report.h"
#include "dmpcli/cli.h"
#include "dmpcommon/util.h"

#define PROFILE_DEFAULT_SECONDS 5u
#define PROFILE_DEFAULT_TOP 20u

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
            PROFILE_DEFAULT_SECONDS, DMP_PROFILE_MAX_SECONDS, PROFILE_DEFAULT_TOP,
            DMP_TRAP_PROFILE_MIN_SLOTS, DMP_TRAP_PROFILE_MAX_SLOTS,
            DMP_TRAP_PROFILE_DEFAULT_SLOTS);
}

/* "dmpctl dmp profile: <name> (<id>):  n/N s" on stderr, rewritten in place. */
static void progress(void *ctx, const struct dmp_profile_result *r, double done, bool final)
{
    if (!final)
        fprintf(stderr, "\rdmpctl dmp profile: %s (%u): %3.0f/%u s", r->name, r->domid, done,
                r->window);
    else
        fprintf(stderr, "\rdmpctl dmp profile: %s (%u): %3.0f/%u s%s\n", r->name, r->domid,
                done, r->window, r->interrupted ? " (interrupted)" : "");
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
                if (v < 1 || v > DMP_PROFILE_MAX_SECONDS)
                    return dmp_cli_error(DMP_EXIT_USAGE, cmd, "--seconds %s: must be 1..%u",
                                         argv[i], DMP_PROFILE_MAX_SECONDS);
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

    struct dmp_profile_opts o = {
        .domain = dom, .seconds = (unsigned)seconds, .slots = (uint32_t)slots,
        .symbols = symbols, .catch_signals = true, .progress = progress,
        .note = dmp_cmd_note, .note_ctx = (void *)cmd,
    };
    struct dmp_profile_result r;
    char err[1024];
    int ret = DMP_EXIT_OK;
    if (dmp_profile_run(&o, &r, err, sizeof(err)) != 0) {
        ret = dmp_cmd_failed(cmd, r.outcome, err);
    } else if (json) {
        ret = dmp_report_profile_json(stdout, &r, (size_t)top) == 0 ? DMP_EXIT_OK : DMP_EXIT_FAIL;
    } else {
        printf("profile of '%s' ", r.name);
        dmp_profile_print(stdout, &r.prof, (size_t)top, r.seconds,
                          dmp_profile_result_symbolizer(&r), &r);
    }
    dmp_profile_result_free(&r);
    return ret;
}
