/* dmpctl dmp analyze <dom>: look at the kernel a guest is running, from dom0, without touching
 * it: where it is (KASLR slide), its symbols (kallsyms from guest memory), the MMU helpers, and
 * the page-table-writing sites and direct helper calls of the live (boot-patched) text.
 *
 * The domain is paused only while its vCPU state is read and the kernel is located and its
 * symbols and text are copied; classification runs on that copy after the guest runs again. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#include "cmd_dmp.h"
#include "dmppatcher/classify.h"
#include "dmpcli/cli.h"
#include "dmppatcher/codeview.h"
#include "dmpxen/domain.h"
#include "dmpcommon/clock.h"
#include "dmpcommon/json.h"
#include "dmpintrospect/live.h"

#define CMD "dmp analyze"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dmpctl dmp analyze <dom> [--json] [--no-sites]\n"
            "  Pause the domain briefly, read its vCPU state, find the running kernel by\n"
            "  walking its page tables, recover its symbols from kallsyms in guest memory and\n"
            "  compute the KASLR slide; unpause; then classify the live kernel text.\n"
            "  --json      machine-readable report\n"
            "  --no-sites  skip classification (symbols and slide only)\n"
            "Exit status: 0 ok, 1 refused or failed (e.g. kernel not recognised), 2 bad usage\n"
            "or unknown domain.\n");
}

static const char *rights_str(unsigned f)
{
    static const char *const s[] = { "---", "--x", "-w-", "-wx", "r--", "r-x", "rw-", "rwx" };
    return s[f & 7];
}

struct report {
    const char *name;
    uint32_t domid;
    char type[16];
    const char *paging;
    struct dmp_live_kernel k;
    bool classified;
    struct dmp_sites sites;
    unsigned by_kind[DMP_SITE_KIND_MAX];
    unsigned direct[32];     /* per dmp_mmu_helpers[i] */
    uint64_t helper_va[32];
    bool helper_found[32];
    size_t nhelpers;
    double t_open, t_paused, t_classify, t_total;
    struct dmp_live_stats st;
};

static void print_human(const struct report *r, struct dmp_live *l)
{
    const struct dmp_live_kernel *k = &r->k;
    printf("domain %s (id %u, %s, %s paging)\n", r->name, r->domid, r->type, r->paging);
    printf("kernel:   %s\n", k->banner[0] ? k->banner : "(no linux_banner)");
    printf("slide:    %+lld (0x%llx; _text at 0x%llx, linked at 0x%llx)\n", (long long)k->slide,
           (unsigned long long)k->slide, (unsigned long long)k->kernel_start,
           (unsigned long long)k->link_base);
    printf("text:     0x%llx-0x%llx\n", (unsigned long long)k->text_start,
           (unsigned long long)k->text_end);
    printf("mapping:  0x%llx-0x%llx, %zu pages present, %zu absent; %s\n",
           (unsigned long long)k->map.start, (unsigned long long)k->map.end,
           k->map.pages_present, k->map.pages_absent,
           k->lstar_checked ? (k->lstar_ok ? "LSTAR = entry_SYSCALL_64" : "LSTAR != entry_SYSCALL_64!")
                            : "LSTAR not checked");
    for (size_t i = 0; i < k->map.nruns; i++)
        printf("  region 0x%llx-0x%llx %s\n", (unsigned long long)k->map.runs[i].start,
               (unsigned long long)k->map.runs[i].end, rights_str(k->map.runs[i].flags));
    printf("symbols:  %zu\n", k->nsyms);
    for (size_t i = 0; i < r->nhelpers; i++) {
        if (r->helper_found[i])
            printf("  %-28s 0x%llx", dmp_mmu_helpers[i], (unsigned long long)r->helper_va[i]);
        else
            printf("  %-28s (not found)", dmp_mmu_helpers[i]);
        if (r->classified)
            printf("  %u direct call sites", r->direct[i]);
        printf("\n");
    }
    if (r->classified) {
        printf("sites:    %zu in %zu functions (%zu instructions, %zu undecodable)\n", r->sites.n,
               r->sites.funcs_scanned, r->sites.insns_decoded, r->sites.undecodable);
        for (int kd = 1; kd < DMP_SITE_KIND_MAX; kd++)
            if (r->by_kind[kd])
                printf("  %-12s %u\n", dmp_site_kind_name(kd), r->by_kind[kd]);
    }
    printf("paused:   %.3f s (pauses %u, unpauses %u)\n", r->t_paused, r->st.pauses, r->st.unpauses);
    printf("time:     open %.3f s, page-table scan %.3f s, kallsyms %.3f s, classify %.3f s, "
           "total %.3f s\n", r->t_open, k->secs_scan, k->secs_ksyms, r->t_classify, r->t_total);
    (void)l;
}

static int print_json(const struct report *r, struct dmp_live *l)
{
    const struct dmp_live_kernel *k = &r->k;
    struct dmp_json j;
    dmp_json_init(&j, stdout, true);
    dmp_json_obj_begin(&j);
    DMP_JSON_KV(&j, "domain", dmp_json_str, r->name);
    DMP_JSON_KV(&j, "domid", dmp_json_u64, r->domid);
    DMP_JSON_KV(&j, "type", dmp_json_str, r->type);
    DMP_JSON_KV(&j, "paging", dmp_json_str, r->paging);
    const struct dmp_live_vcpu *v;
    size_t nv = dmp_live_vcpus(l, &v);
    dmp_json_key(&j, "vcpus");
    dmp_json_arr_begin(&j);
    for (size_t i = 0; i < nv; i++) {
        dmp_json_obj_begin(&j);
        DMP_JSON_KV(&j, "id", dmp_json_u64, v[i].id);
        DMP_JSON_KV(&j, "online", dmp_json_bool, v[i].online);
        DMP_JSON_KV(&j, "long_mode", dmp_json_bool, v[i].long_mode);
        DMP_JSON_KV(&j, "rip", dmp_json_hex, v[i].rip);
        DMP_JSON_KV(&j, "rsp", dmp_json_hex, v[i].rsp);
        DMP_JSON_KV(&j, "cr0", dmp_json_hex, v[i].cr0);
        DMP_JSON_KV(&j, "cr3", dmp_json_hex, v[i].cr3);
        DMP_JSON_KV(&j, "cr4", dmp_json_hex, v[i].cr4);
        DMP_JSON_KV(&j, "efer", dmp_json_hex, v[i].efer);
        DMP_JSON_KV(&j, "lstar", dmp_json_hex, v[i].lstar);
        dmp_json_obj_end(&j);
    }
    dmp_json_arr_end(&j);
    dmp_json_key(&j, "kernel");
    dmp_json_obj_begin(&j);
    DMP_JSON_KV(&j, "banner", dmp_json_str, k->banner);
    DMP_JSON_KV(&j, "slide", dmp_json_i64, k->slide);
    DMP_JSON_KV(&j, "slide_hex", dmp_json_hex, (uint64_t)k->slide);
    DMP_JSON_KV(&j, "kernel_start", dmp_json_hex, k->kernel_start);
    DMP_JSON_KV(&j, "link_base", dmp_json_hex, k->link_base);
    DMP_JSON_KV(&j, "text_start", dmp_json_hex, k->text_start);
    DMP_JSON_KV(&j, "text_end", dmp_json_hex, k->text_end);
    DMP_JSON_KV(&j, "symbols", dmp_json_u64, k->nsyms);
    DMP_JSON_KV(&j, "cr3", dmp_json_hex, k->cr3);
    DMP_JSON_KV(&j, "cr3_vcpu", dmp_json_u64, k->cr3_vcpu);
    DMP_JSON_KV(&j, "la57", dmp_json_bool, (k->ptw_flags & DMP_PTW_LA57) != 0);
    DMP_JSON_KV(&j, "lstar", dmp_json_hex, k->lstar);
    DMP_JSON_KV(&j, "lstar_checked", dmp_json_bool, k->lstar_checked);
    DMP_JSON_KV(&j, "lstar_is_entry_syscall_64", dmp_json_bool, k->lstar_ok);
    DMP_JSON_KV(&j, "map_start", dmp_json_hex, k->map.start);
    DMP_JSON_KV(&j, "map_end", dmp_json_hex, k->map.end);
    DMP_JSON_KV(&j, "pages_present", dmp_json_u64, k->map.pages_present);
    DMP_JSON_KV(&j, "pages_absent", dmp_json_u64, k->map.pages_absent);
    dmp_json_key(&j, "regions");
    dmp_json_arr_begin(&j);
    for (size_t i = 0; i < k->map.nruns; i++) {
        dmp_json_obj_begin(&j);
        DMP_JSON_KV(&j, "start", dmp_json_hex, k->map.runs[i].start);
        DMP_JSON_KV(&j, "end", dmp_json_hex, k->map.runs[i].end);
        DMP_JSON_KV(&j, "rights", dmp_json_str, rights_str(k->map.runs[i].flags));
        dmp_json_obj_end(&j);
    }
    dmp_json_arr_end(&j);
    dmp_json_obj_end(&j);
    /* One key per helper: "native_set_pte": "0x...", easy to pick out of the report. */
    dmp_json_key(&j, "helpers");
    dmp_json_obj_begin(&j);
    for (size_t i = 0; i < r->nhelpers; i++) {
        dmp_json_key(&j, dmp_mmu_helpers[i]);
        if (r->helper_found[i])
            dmp_json_hex(&j, r->helper_va[i]);
        else
            dmp_json_null(&j);
    }
    dmp_json_obj_end(&j);
    if (r->classified) {
        dmp_json_key(&j, "direct_calls");
        dmp_json_obj_begin(&j);
        for (size_t i = 0; i < r->nhelpers; i++)
            DMP_JSON_KV(&j, dmp_mmu_helpers[i], dmp_json_u64, r->direct[i]);
        dmp_json_obj_end(&j);
        dmp_json_key(&j, "site_counts");
        dmp_json_obj_begin(&j);
        DMP_JSON_KV(&j, "total", dmp_json_u64, r->sites.n);
        for (int kd = 1; kd < DMP_SITE_KIND_MAX; kd++)
            DMP_JSON_KV(&j, dmp_site_kind_name(kd), dmp_json_u64, r->by_kind[kd]);
        DMP_JSON_KV(&j, "functions", dmp_json_u64, r->sites.funcs_scanned);
        DMP_JSON_KV(&j, "instructions", dmp_json_u64, r->sites.insns_decoded);
        DMP_JSON_KV(&j, "undecodable", dmp_json_u64, r->sites.undecodable);
        dmp_json_obj_end(&j);
        dmp_json_key(&j, "sites");
        dmp_json_arr_begin(&j);
        for (size_t i = 0; i < r->sites.n; i++) {
            const struct dmp_site *s = &r->sites.v[i];
            dmp_json_obj_begin(&j);
            DMP_JSON_KV(&j, "va", dmp_json_hex, s->va);
            DMP_JSON_KV(&j, "kind", dmp_json_str, dmp_site_kind_name(s->kind));
            DMP_JSON_KV(&j, "func", dmp_json_str, s->func);
            DMP_JSON_KV(&j, "insn", dmp_json_str, s->text);
            if (s->callee[0])
                DMP_JSON_KV(&j, "callee", dmp_json_str, s->callee);
            dmp_json_obj_end(&j);
        }
        dmp_json_arr_end(&j);
    }
    dmp_json_key(&j, "pause");
    dmp_json_obj_begin(&j);
    DMP_JSON_KV(&j, "pauses", dmp_json_u64, r->st.pauses);
    DMP_JSON_KV(&j, "unpauses", dmp_json_u64, r->st.unpauses);
    DMP_JSON_KV(&j, "paused_secs", dmp_json_double, r->t_paused);
    dmp_json_obj_end(&j);
    dmp_json_key(&j, "times");
    dmp_json_obj_begin(&j);
    DMP_JSON_KV(&j, "open_secs", dmp_json_double, r->t_open);
    DMP_JSON_KV(&j, "scan_secs", dmp_json_double, k->secs_scan);
    DMP_JSON_KV(&j, "kallsyms_secs", dmp_json_double, k->secs_ksyms);
    DMP_JSON_KV(&j, "classify_secs", dmp_json_double, r->t_classify);
    DMP_JSON_KV(&j, "total_secs", dmp_json_double, r->t_total);
    dmp_json_obj_end(&j);
    dmp_json_key(&j, "memory");
    dmp_json_obj_begin(&j);
    DMP_JSON_KV(&j, "reads", dmp_json_u64, r->st.reads);
    DMP_JSON_KV(&j, "walks", dmp_json_u64, r->st.walks);
    DMP_JSON_KV(&j, "window_maps", dmp_json_u64, r->st.fc.window_maps);
    DMP_JSON_KV(&j, "window_hits", dmp_json_u64, r->st.fc.hits);
    DMP_JSON_KV(&j, "window_misses", dmp_json_u64, r->st.fc.misses);
    dmp_json_obj_end(&j);
    dmp_json_obj_end(&j);
    int rc = dmp_json_finish(&j);
    fputc('\n', stdout);
    return rc;
}

/* Everything that needs the guest paused; returns a DMP_EXIT_* code. */
static int analyze_paused(struct dmp_live *l, struct report *r)
{
    char err[768];
    int rc = dmp_live_find_kernel(l, &r->k, err, sizeof(err));
    if (rc)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD, "%s", err);
    struct dmp_ksyms *ks = dmp_live_ksyms(l);
    for (size_t i = 0; dmp_mmu_helpers[i] && i < 32; i++) {
        const struct dmp_ksym *s = dmp_ksyms_by_name(ks, dmp_mmu_helpers[i]);
        r->helper_found[i] = s != NULL;
        r->helper_va[i] = s ? s->addr : 0;
        r->nhelpers = i + 1;
    }
    return DMP_EXIT_OK;
}

static int classify(struct dmp_live *l, struct report *r)
{
    struct dmp_codeview cv;
    int rc = dmp_live_codeview(&cv, dmp_live_kimage(l), dmp_live_ksyms(l));
    if (rc)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD, "domain %s: no kernel text to classify: %s",
                             r->name, strerror(-rc));
    double t0 = dmp_mono_s();
    rc = dmp_classify_all(&cv, &r->sites);
    r->t_classify = dmp_mono_s() - t0;
    dmp_cv_release(&cv);
    if (rc)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD, "domain %s: classification failed: %s", r->name,
                             strerror(-rc));
    r->classified = true;
    for (size_t i = 0; i < r->sites.n; i++) {
        const struct dmp_site *s = &r->sites.v[i];
        r->by_kind[s->kind]++;
        if (s->kind == DMP_SITE_CALL_DIRECT)
            for (size_t h = 0; h < r->nhelpers; h++)
                if (strcmp(s->callee, dmp_mmu_helpers[h]) == 0)
                    r->direct[h]++;
    }
    return DMP_EXIT_OK;
}

int dmp_cmd_analyze(int argc, char **argv)
{
    bool json = false, sites = true;
    const char *dom = NULL;
    if (dmp_cli_wants_help(argc, argv)) {
        usage(stdout);
        return DMP_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--no-sites") == 0)
            sites = false;
        else if (argv[i][0] == '-' || dom) {
            dmp_cli_error(DMP_EXIT_USAGE, CMD, "unexpected argument '%s'", argv[i]);
            usage(stderr);
            return DMP_EXIT_USAGE;
        } else
            dom = argv[i];
    }
    if (!dom) {
        usage(stderr);
        return dmp_cli_error(DMP_EXIT_USAGE, CMD, "missing domain name or id");
    }
    double t_start = dmp_mono_s();
    struct xs_handle *xs = xs_open(XS_OPEN_READONLY);
    if (!xs)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD, "cannot reach xenstore: %s", strerror(errno));
    struct report r;
    memset(&r, 0, sizeof(r));
    char name[DMP_DOMAIN_NAME_MAX], err[512];
    if (dmp_domain_resolve(xs, dom, &r.domid, name, sizeof(name), err, sizeof(err)) != 0) {
        xs_close(xs);
        return dmp_cli_error(DMP_EXIT_USAGE, CMD, "%s", err);
    }
    r.name = name;
    char path[64];
    unsigned int len;
    snprintf(path, sizeof(path), "/libxl/%u/type", r.domid);
    char *ltype = xs_read(xs, XBT_NULL, path, &len);
    snprintf(r.type, sizeof(r.type), "%s", ltype ? ltype : "");
    free(ltype);
    xs_close(xs);

    struct dmp_live *l;
    double t0 = dmp_mono_s();
    int rc = dmp_live_open(r.domid, DMP_LIVE_PAUSE, &l, err, sizeof(err));
    if (rc)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD, "%s", err);
    r.t_open = dmp_mono_s() - t0;
    if (!r.type[0])
        snprintf(r.type, sizeof(r.type), "%s", dmp_live_is_hvm(l) ? "hvm" : "pv");
    r.paging = !dmp_live_is_hvm(l) ? "pv" : dmp_live_is_hap(l) ? "hap" : "shadow";
    int code = analyze_paused(l, &r);
    /* Let the guest run again before the slow part: classification works on the text copy. */
    int urc = dmp_live_unpause(l);
    r.t_paused = dmp_mono_s() - t0;
    if (urc && code == DMP_EXIT_OK)
        code = dmp_cli_error(DMP_EXIT_FAIL, CMD, "cannot unpause domain %s: %s", r.name,
                             strerror(-urc));
    if (code == DMP_EXIT_OK && sites)
        code = classify(l, &r);
    r.t_total = dmp_mono_s() - t_start;
    dmp_live_get_stats(l, &r.st);
    if (code == DMP_EXIT_OK) {
        if (json) {
            if (print_json(&r, l) != 0)
                code = DMP_EXIT_FAIL;
        } else {
            print_human(&r, l);
        }
    }
    dmp_sites_free(&r.sites);
    dmp_live_close(l);
    return code;
}
