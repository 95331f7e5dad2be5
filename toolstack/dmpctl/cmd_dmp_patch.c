/* dmpctl dmp patch / status / unpatch: option parsing and printing. The procedure itself
 * (journal, plan cache, pauses, log drain) is the library's: dmp/patch.h, with the JSON of the
 * results in dmp/report.h, so that dmpd runs the very same code. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cmd_dmp.h"
#include "dmp/patch.h"
#include "dmp/report.h"
#include "dmpcli/args.h"
#include "dmpcli/cli.h"

#define CMD_PATCH "dmp patch"
#define CMD_STATUS "dmp status"
#define CMD_UNPATCH "dmp unpatch"

/* ---- patch ---- */

static void usage_patch(FILE *f)
{
    fprintf(f,
            "usage: dmpctl dmp patch <dom> [--mode passthrough|fastpath|log] [--sites all-mmu|hot]\n"
            "                        [--hot-file F] [--kernel-image F] [--dry-run] [--json]\n"
            "  Patch the running kernel of an HVM/PVH shadow-paging guest so its MMU helper\n"
            "  calls go through DMP stubs (mode " DMP_LP_MODE ": the stubs' hv_update does the\n"
            "  original write; no exit is saved until the hypervisor fast path is plugged in).\n"
            "  --sites all-mmu  direct calls of the MMU helpers in the live text (default)\n"
            "  --sites hot      the addresses in --hot-file F (one per line, e.g. hot RIPs from\n"
            "                   'dmpctl dmp profile'); atomic RMW sites are skipped in " DMP_LP_MODE
            "\n"
            "  --mode fastpath  hv_update asks Xen to do each page-table store with one\n"
            "                   hypercall that also updates the shadows (Xen patch 0007; the\n"
            "                   fast path is turned on for the domain first, and unpatch turns it\n"
            "                   off); on any error the stub does the store itself\n"
            "  --mode log       8-byte page-table stores inside Linux's lazy MMU sections (fork,\n"
            "                   munmap, mprotect) go to a per-CPU log that one hypercall applies\n"
            "                   when the section ends (Xen patch 0009); other stores as\n"
            "                   passthrough. Needs --kernel-image: the guest's vmlinuz/vmlinux\n"
            "                   (its .parainstructions and BTF locate the lazy-MMU call sites)\n"
            "  --mode passthrough  the default: hv_update does the original write\n"
            "  --dry-run        plan only, change nothing\n"
            "Exit status: 0 patched or already patched, 1 refused/failed (guest unchanged),\n"
            "2 usage or unknown domain, 3 nothing to do (HAP guest).\n");
}

struct patch_cli {
    const char *dom;
    bool json, dry_run;
    int mode;                    /* enum dmp_patch_mode */
    int sites;                   /* 0 all-mmu, 1 hot */
    const char *hot_file, *kernel_image;
};

static const char *const mode_choices[] = { DMP_LP_MODE_PASSTHROUGH, DMP_LP_MODE_FASTPATH,
                                            DMP_LP_MODE_LOG, NULL };
_Static_assert(DMP_MODE_PASSTHROUGH == 0 && DMP_MODE_FASTPATH == 1 && DMP_MODE_LOG == 2,
               "mode_choices in enum dmp_patch_mode order");
static const char *const sites_choices[] = { "all-mmu", "hot", NULL };

#define PATCH_ARG(name, kind, field) { name, kind, offsetof(struct patch_cli, field), NULL, NULL, false }
static const struct dmp_cli_arg patch_args[] = {
    PATCH_ARG("--json", DMP_CLI_FLAG, json),
    PATCH_ARG("--dry-run", DMP_CLI_FLAG, dry_run),
    { "--sites", DMP_CLI_CHOICE, offsetof(struct patch_cli, sites), sites_choices,
      "'all-mmu' or 'hot'", true },
    { "--mode", DMP_CLI_CHOICE, offsetof(struct patch_cli, mode), mode_choices,
      "'passthrough', 'fastpath' or 'log'", false },
    PATCH_ARG("--hot-file", DMP_CLI_STRING, hot_file),
    PATCH_ARG("--kernel-image", DMP_CLI_STRING, kernel_image),
};
static const struct dmp_cli_args patch_spec = {
    CMD_PATCH, usage_patch, patch_args, sizeof(patch_args) / sizeof(patch_args[0]),
    offsetof(struct patch_cli, dom),
};

static void print_patch_text(const struct dmp_patch_result *r)
{
    if (r->already_patched) {
        printf("already patched: %zu sites (domain %s, mode %s, journal in %s)\n", r->sites,
               r->dom.name, r->mode, r->journal_source);
        return;
    }
    bool dry = r->dry_run;
    printf("%s domain %s (id %u): %zu sites, mode %s\n", dry ? "would patch" : "patched",
           r->dom.name, r->dom.domid, dry ? r->sites : r->applied, r->mode);
    if (strcmp(r->mode, DMP_LP_MODE_PASSTHROUGH) != 0)
        printf("  fast path: hypercall %u by %s (from the CPU vendor), fast path %s\n",
               DMP_FASTPATH_HYPERCALL, dmp_lp_hvcall_name(r->hvcall),
               dry ? "not enabled (dry run)" : "enabled");
    printf("  candidates %zu, planned %zu, refused %zu, skipped: atomic %zu, vCPU inside "
           "%zu, bytes changed %zu\n", r->candidates, r->planned, r->refused,
           r->skipped_atomic, r->skipped_busy, r->skipped_changed);
    printf("  stub area 0x%" PRIx64 "+%zu (int3 padding in the kernel text), hv_update "
           "0x%" PRIx64 "\n", r->stub_base, r->stub_len, r->hv_update);
    if (!dry)
        printf("  journal: xenstore %s, file %s\n", r->dom.xs_dir, r->dom.file);
    printf("  plans: %s\n", r->plans_cached ? "from the plan cache (same kernel text)" : "computed");
    printf("  time: plan %.3f s, paused %.3f s, total %.3f s\n", r->plan_secs, r->paused_secs,
           r->total_secs);
}

int dmp_cmd_patch(int argc, char **argv)
{
    struct patch_cli c = { .mode = DMP_MODE_PASSTHROUGH };
    int code;
    if (!dmp_cli_parse(&patch_spec, argc, argv, &c, &code))
        return code;
    if (c.sites == 1 && !c.hot_file)
        return dmp_cli_error(DMP_EXIT_USAGE, CMD_PATCH, "--sites hot needs --hot-file F");
    if (c.mode == DMP_MODE_LOG && !c.kernel_image)
        return dmp_cli_error(DMP_EXIT_USAGE, CMD_PATCH,
                             "--mode log needs --kernel-image F (the guest's kernel image)");
    if (c.kernel_image && c.mode != DMP_MODE_LOG)
        return dmp_cli_error(DMP_EXIT_USAGE, CMD_PATCH, "--kernel-image is for --mode log");
    struct dmp_patch_opts o = {
        .domain = c.dom, .mode = (enum dmp_patch_mode)c.mode, .hot_file = c.hot_file,
        .kernel_image = c.kernel_image, .dry_run = c.dry_run,
        .note = dmp_cmd_note, .note_ctx = (void *)CMD_PATCH,
    };
    struct dmp_patch_result r;
    char err[2048];
    if (dmp_patch(&o, &r, err, sizeof(err)) != 0)
        return dmp_cmd_failed(CMD_PATCH, r.outcome, err);
    if (c.json)
        dmp_report_patch_json(stdout, &r);
    else
        print_patch_text(&r);
    return DMP_EXIT_OK;
}

/* ---- status ---- */

static void usage_status(FILE *f)
{
    fprintf(f,
            "usage: dmpctl dmp status <dom> [--json] [--dump-text FILE]\n"
            "  Say whether the guest is live-patched (from the journal), check each patched\n"
            "  site's bytes in guest memory, and show the mode, stub area and journal location.\n"
            "  --dump-text FILE  also write the live kernel text [_stext, _etext) to FILE\n");
}

struct status_cli {
    const char *dom;
    bool json;
    const char *dump_text;
};

static const struct dmp_cli_arg status_args[] = {
    { "--json", DMP_CLI_FLAG, offsetof(struct status_cli, json), NULL, NULL, false },
    { "--dump-text", DMP_CLI_STRING, offsetof(struct status_cli, dump_text), NULL, NULL, false },
};
static const struct dmp_cli_args status_spec = {
    CMD_STATUS, usage_status, status_args, sizeof(status_args) / sizeof(status_args[0]),
    offsetof(struct status_cli, dom),
};

static void print_status_text(const struct dmp_status_result *r)
{
    if (!r->patched) {
        printf("domain %s (id %u): not patched\n", r->dom.name, r->dom.domid);
        return;
    }
    printf("domain %s (id %u): patched, %zu sites, mode %s\n", r->dom.name, r->dom.domid,
           r->sites, r->mode);
    printf("  in guest memory: %zu patched, %zu original, %zu other; stub area "
           "0x%" PRIx64 "+%zu %s, hv_update 0x%" PRIx64 "\n", r->sites_patched,
           r->sites_original, r->sites_other, r->stub_base, r->stub_len, r->stub_state,
           r->hv_update);
    printf("  journal: xenstore %s, file %s (read from %s)\n", r->dom.xs_dir, r->dom.file,
           r->journal_source);
    if (r->fastpath_rc == 0) {
        printf("  ");
        dmp_fastpath_stats_text(stdout, &r->fastpath);
    } else if (r->fastpath_rc != 1) {
        printf("  fast path: %s\n", r->fastpath_err);
    }
}

int dmp_cmd_status(int argc, char **argv)
{
    struct status_cli c = { 0 };
    int code;
    if (!dmp_cli_parse(&status_spec, argc, argv, &c, &code))
        return code;
    struct dmp_status_opts o = { .domain = c.dom, .dump_text = c.dump_text };
    struct dmp_status_result r;
    char err[2048];
    if (dmp_patch_status(&o, &r, err, sizeof(err)) != 0)
        return dmp_cmd_failed(CMD_STATUS, r.outcome, err);
    if (c.json)
        dmp_report_status_json(stdout, &r);
    else
        print_status_text(&r);
    return DMP_EXIT_OK;
}

/* ---- unpatch ---- */

static void usage_unpatch(FILE *f)
{
    fprintf(f,
            "usage: dmpctl dmp unpatch <dom> [--json]\n"
            "  Undo 'dmpctl dmp patch' from its journal: with the domain paused and no vCPU in\n"
            "  a site, check every site holds the patched (or original) bytes, restore the\n"
            "  original bytes and read back; let the guest run briefly so no code is left\n"
            "  inside a stub, pause again and restore the stub area's padding; delete the\n"
            "  journal. Works from a new process (after a toolstack restart).\n"
            "Exit status: 0 restored, 1 refused/failed, 2 usage, 3 not patched.\n");
}

struct unpatch_cli {
    const char *dom;
    bool json;
};

static const struct dmp_cli_arg unpatch_args[] = {
    { "--json", DMP_CLI_FLAG, offsetof(struct unpatch_cli, json), NULL, NULL, false },
};
static const struct dmp_cli_args unpatch_spec = {
    CMD_UNPATCH, usage_unpatch, unpatch_args, sizeof(unpatch_args) / sizeof(unpatch_args[0]),
    offsetof(struct unpatch_cli, dom),
};

static void print_unpatch_text(const struct dmp_unpatch_result *r)
{
    printf("unpatched domain %s: %zu sites restored (%zu already original), stub area "
           "0x%" PRIx64 "+%zu back to padding; journal (from %s) removed\n", r->dom.name,
           r->restored, r->sites - r->restored, r->stub_base, r->stub_len, r->journal_source);
    printf("  paused %.3f s (sites) + %.3f s (stub area), vCPU waits %u, total %.3f s\n",
           r->paused_sites_secs, r->paused_stubs_secs, r->rip_waits, r->total_secs);
    if (r->fastpath_rc == 0) {
        printf("  turned off: ");
        dmp_fastpath_stats_text(stdout, &r->fastpath);
    }
}

int dmp_cmd_unpatch(int argc, char **argv)
{
    struct unpatch_cli c = { 0 };
    int code;
    if (!dmp_cli_parse(&unpatch_spec, argc, argv, &c, &code))
        return code;
    struct dmp_unpatch_opts o = { .domain = c.dom, .note = dmp_cmd_note,
                                  .note_ctx = (void *)CMD_UNPATCH };
    struct dmp_unpatch_result r;
    char err[2048];
    if (dmp_unpatch(&o, &r, err, sizeof(err)) != 0)
        return dmp_cmd_failed(CMD_UNPATCH, r.outcome, err);
    if (c.json)
        dmp_report_unpatch_json(stdout, &r);
    else
        print_unpatch_text(&r);
    return DMP_EXIT_OK;
}
