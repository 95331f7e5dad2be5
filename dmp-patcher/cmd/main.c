/* dmp-patcher: analyse a guest kernel's page-table-trapping code, plan rewrites, and prove
 * them equivalent. Exit codes: 0 ok, 1 failure/refusal, 2 usage or bad input. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmppatcher/codeview.h"
#include "dmppatcher/equiv.h"
#include "dmppatcher/journal.h"
#include "dmpcommon/json.h"
#include "dmppatcher/plan.h"
#include "dmppatcher/pvsites.h"
#include "dmppatcher/report.h"
#include "dmpcommon/util.h"

#define CLI_MAX_PERCPU 32

struct cli {
    bool json, quiet;
    const char *percpu[CLI_MAX_PERCPU];   /* pvsites --percpu NAME... */
    size_t npercpu;
    const char *hot;
    uint64_t stub_base;
    unsigned states;
    uint64_t seed;
};

static void usage_top(FILE *o)
{
    fprintf(o,
            "usage: dmp-patcher <command> [options] <kernel image>\n"
            "commands:\n"
            "  analyze   list page-table-writing sites, pv-op call sites, plans and refusals\n"
            "  plan      plan rewrites for the hot addresses listed in --hot <file>\n"
            "  verify    run the Unicorn equivalence harness over every plan\n"
            "  pvsites   lazy-MMU pv-op call sites and per-CPU variable offsets\n"
            "Run 'dmp-patcher <command> --help' for the options of a command.\n"
            "Exit codes: 0 ok, 1 failure or refusal, 2 usage or bad input.\n");
}

static void usage_cmd(const char *cmd, FILE *o)
{
    if (strcmp(cmd, "analyze") == 0)
        fprintf(o, "usage: dmp-patcher analyze [--json] [--summary] [--stub-base VA] <image>\n"
                   "  Classify every instruction of the kernel text that writes a page table\n"
                   "  or traps under shadow paging, list pv-op/direct call sites of the MMU\n"
                   "  helpers, and plan a rewrite for each candidate.\n"
                   "  --json        machine-readable report\n"
                   "  --summary     counts only (human output)\n"
                   "  --stub-base   stub area address (default: text start + 0x3f000000)\n");
    else if (strcmp(cmd, "plan") == 0)
        fprintf(o, "usage: dmp-patcher plan --hot <file> [--json] [--stub-base VA] <image>\n"
                   "  <file>: one hex virtual address per line; '#' starts a comment.\n"
                   "  Prints one plan per address (JSON, or the journal line form).\n"
                   "  Exit 1 when any address was refused.\n");
    else if (strcmp(cmd, "pvsites") == 0)
        fprintf(o, "usage: dmp-patcher pvsites [--json] [--percpu NAME]... <image>\n"
                   "  List the call sites of the lazy-MMU pv-ops (arch_enter/leave/flush_\n"
                   "  lazy_mmu_mode) recorded in .parainstructions, with their pv-op types read\n"
                   "  from the image's BTF, and the offset and size of each per-CPU variable\n"
                   "  asked for. Needs the image file (the running kernel frees\n"
                   "  .parainstructions) of a kernel built with CONFIG_DEBUG_INFO_BTF.\n"
                   "  --json          machine-readable output\n"
                   "  --percpu NAME   a per-CPU variable to look up (repeatable, up to %d)\n"
                   "  Exit 1 when the sites cannot be read or a variable is not found.\n",
                CLI_MAX_PERCPU);
    else
        fprintf(o, "usage: dmp-patcher verify [--json] [--states N] [--seed N] <image>\n"
                   "  Plan every candidate site, then run original and patched code from N\n"
                   "  random states each (default 200) and compare. Exit 1 on any mismatch.\n");
}

struct kernel {
    struct dmp_kimage *ki;
    struct dmp_ksyms *ks;
    struct dmp_codeview cv;
};

static int open_kernel(const char *path, struct kernel *k)
{
    char err[512] = "";
    memset(k, 0, sizeof(*k));
    if (dmp_kimage_open_file(path, &k->ki, err, sizeof(err)) != 0) {
        fprintf(stderr, "dmp-patcher: %s\n", err[0] ? err : path);
        return 2;
    }
    if (dmp_ksyms_recover(k->ki, &k->ks, err, sizeof(err)) != 0) {
        fprintf(stderr, "dmp-patcher: %s: no kallsyms (%s); using the int3-padding heuristic "
                        "for function boundaries\n", path, err);
        char err2[512] = "";
        if (dmp_ksyms_heuristic(k->ki, &k->ks, err2, sizeof(err2)) != 0) {
            fprintf(stderr, "dmp-patcher: %s: %s\n", path, err2);
            dmp_kimage_close(k->ki);
            return 2;
        }
    }
    int rc = dmp_cv_from_kimage(&k->cv, k->ki, k->ks);
    if (rc) {
        fprintf(stderr, "dmp-patcher: %s: no kernel text (%s)\n", path, strerror(-rc));
        dmp_ksyms_free(k->ks);
        dmp_kimage_close(k->ki);
        return 2;
    }
    return 0;
}

static void close_kernel(struct kernel *k)
{
    dmp_cv_release(&k->cv);
    dmp_ksyms_free(k->ks);
    dmp_kimage_close(k->ki);
}

/* Parse the hot-address file; bad lines are named with their number. */
static int read_hot(const char *path, uint64_t **out, size_t *n)
{
    uint8_t *data;
    size_t len;
    int rrc = dmp_read_file(path, &data, &len);
    if (rrc != 0) {
        fprintf(stderr, "dmp-patcher: %s: %s\n", path, strerror(-rrc));
        return 2;
    }
    size_t cap = 16, cnt = 0;
    uint64_t *v = malloc(cap * sizeof(*v));
    int rc = v ? 0 : 2;
    char *save = NULL, *text = (char *)data;
    unsigned lineno = 0;
    for (char *line = text; line && !rc; line = save) {
        char *nl = strchr(line, '\n');
        save = nl ? nl + 1 : NULL;
        if (nl)
            *nl = 0;
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *s = line;
        while (*s == ' ' || *s == '\t' || *s == '\r')
            s++;
        char *e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            *--e = 0;
        if (!*s)
            continue;
        char buf[32];
        snprintf(buf, sizeof(buf), "%s%s", strncmp(s, "0x", 2) ? "0x" : "", s);
        uint64_t va;
        if (strlen(s) > 18 || dmp_parse_u64(buf, &va) != 0) {
            fprintf(stderr, "dmp-patcher: %s:%u: not a hex address: '%s'\n", path, lineno, s);
            rc = 2;
            break;
        }
        if (cnt == cap) {
            uint64_t *nv = realloc(v, (cap *= 2) * sizeof(*v));
            if (!nv) {
                rc = 2;
                break;
            }
            v = nv;
        }
        v[cnt++] = va;
    }
    free(data);
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}

static int cmd_analyze(struct kernel *k, const struct cli *c, bool verify)
{
    struct dmp_planner_opts po = {.stub_base = c->stub_base};
    struct dmp_equiv_opts eo = {.states = c->states, .seed = c->seed};
    struct dmp_analysis a;
    int rc = dmp_analysis_run(&k->cv, &po, verify, &eo, &a);
    if (rc) {
        fprintf(stderr, "dmp-patcher: analysis failed: %s\n", strerror(-rc));
        dmp_analysis_free(&a);
        return 1;
    }
    if (c->json) {
        struct dmp_json j;
        dmp_json_init(&j, stdout, true);
        dmp_analysis_json(&a, &j);
        if (dmp_json_finish(&j) != 0)
            rc = 1;
        fputc('\n', stdout);
    } else {
        dmp_analysis_print(&a, stdout, !c->quiet && !verify);
        if (verify)
            for (size_t i = 0; i < a.nplans; i++)
                if (a.plans[i].tactic != DMP_TACTIC_REFUSED && !a.equiv[i].pass)
                    printf("FAIL %#llx %s: %s\n", (unsigned long long)a.plans[i].site,
                           a.plans[i].func, a.equiv[i].why);
    }
    if (verify && a.equiv_fail)
        rc = 1;
    dmp_analysis_free(&a);
    return rc;
}

/* "function+0xoff" of va for the listing, or "" when the image's symbols are unknown. */
static void site_func(const struct dmp_ksyms *ks, uint64_t va, char *buf, size_t len)
{
    const struct dmp_ksym *s = ks ? dmp_ksyms_by_addr(ks, va) : NULL;
    if (s)
        snprintf(buf, len, "%s+0x%llx", s->name, (unsigned long long)(va - s->addr));
    else
        buf[0] = 0;
}

/* pvsites needs only the image's sections; symbols (when kallsyms can be recovered) just
 * name the function of each site. */
static int cmd_pvsites(const char *path, const struct cli *c)
{
    char err[512] = "";
    struct dmp_kimage *ki;
    if (dmp_kimage_open_file(path, &ki, err, sizeof(err)) != 0) {
        fprintf(stderr, "dmp-patcher: %s\n", err[0] ? err : path);
        return 2;
    }
    struct dmp_pv_layout l;
    if (dmp_pv_lazy_sites(ki, &l, err, sizeof(err)) != 0) {
        fprintf(stderr, "dmp-patcher: %s: %s\n", path, err);
        dmp_kimage_close(ki);
        return 1;
    }
    int rc = 0;
    struct dmp_ksyms *ks = NULL;
    char kerr[256], fn[160];
    if (dmp_ksyms_recover(ki, &ks, kerr, sizeof(kerr)) != 0)
        ks = NULL;
    struct dmp_percpu_var vars[CLI_MAX_PERCPU];
    char verr[CLI_MAX_PERCPU][sizeof(err)];
    int vrc[CLI_MAX_PERCPU];
    struct btf *btf = NULL;
    int brc = c->npercpu ? dmp_btf_load(ki, &btf, err, sizeof(err)) : 0;
    for (size_t i = 0; i < c->npercpu; i++) {
        if (brc)
            snprintf(verr[i], sizeof(verr[i]), "%s", err);
        vrc[i] = brc ? brc
                     : dmp_btf_percpu_lookup(btf, c->percpu[i], &vars[i], verr[i],
                                             sizeof(verr[i]));
        if (vrc[i]) {
            fprintf(stderr, "dmp-patcher: %s: %s\n", path, verr[i]);
            rc = 1;
        }
    }
    dmp_btf_free(btf);

    if (c->json) {
        struct dmp_json j;
        dmp_json_init(&j, stdout, true);
        dmp_json_obj_begin(&j);
        DMP_JSON_KV(&j, "image", dmp_json_str, path);
        DMP_JSON_KV(&j, "format", dmp_json_str, dmp_kimage_format(ki));
        dmp_json_key(&j, "types");
        dmp_json_obj_begin(&j);
        for (int op = 0; op < DMP_PV_LAZY_NR; op++)
            DMP_JSON_KV(&j, dmp_pv_lazy_op_name(op), dmp_json_u64, l.type[op]);
        dmp_json_obj_end(&j);
        dmp_json_key(&j, "counts");
        dmp_json_obj_begin(&j);
        for (int op = 0; op < DMP_PV_LAZY_NR; op++)
            DMP_JSON_KV(&j, dmp_pv_lazy_op_name(op), dmp_json_u64, l.count[op]);
        dmp_json_obj_end(&j);
        dmp_json_key(&j, "sites");
        dmp_json_arr_begin(&j);
        for (size_t i = 0; i < l.nsites; i++) {
            dmp_json_obj_begin(&j);
            DMP_JSON_KV(&j, "va", dmp_json_hex, l.sites[i].va);
            DMP_JSON_KV(&j, "len", dmp_json_u64, l.sites[i].len);
            DMP_JSON_KV(&j, "op", dmp_json_str, dmp_pv_lazy_op_name(l.sites[i].op));
            site_func(ks, l.sites[i].va, fn, sizeof(fn));
            if (fn[0])
                DMP_JSON_KV(&j, "function", dmp_json_str, fn);
            dmp_json_obj_end(&j);
        }
        dmp_json_arr_end(&j);
        if (c->npercpu) {
            dmp_json_key(&j, "percpu");
            dmp_json_arr_begin(&j);
            for (size_t i = 0; i < c->npercpu; i++) {
                dmp_json_obj_begin(&j);
                DMP_JSON_KV(&j, "name", dmp_json_str, c->percpu[i]);
                if (vrc[i]) {
                    DMP_JSON_KV(&j, "error", dmp_json_str, verr[i]);
                } else {
                    DMP_JSON_KV(&j, "offset", dmp_json_u64, vars[i].offset);
                    DMP_JSON_KV(&j, "size", dmp_json_u64, vars[i].size);
                }
                dmp_json_obj_end(&j);
            }
            dmp_json_arr_end(&j);
        }
        dmp_json_obj_end(&j);
        if (dmp_json_finish(&j) != 0)
            rc = 1;
        fputc('\n', stdout);
    } else {
        printf("image: %s (%s)\n", path, dmp_kimage_format(ki));
        printf("pv-op types: enter %u, leave %u, flush %u\n", l.type[DMP_PV_LAZY_ENTER],
               l.type[DMP_PV_LAZY_LEAVE], l.type[DMP_PV_LAZY_FLUSH]);
        printf("lazy-MMU sites: %zu (enter %zu, leave %zu, flush %zu)\n", l.nsites,
               l.count[DMP_PV_LAZY_ENTER], l.count[DMP_PV_LAZY_LEAVE],
               l.count[DMP_PV_LAZY_FLUSH]);
        for (size_t i = 0; i < l.nsites; i++) {
            site_func(ks, l.sites[i].va, fn, sizeof(fn));
            printf("  0x%llx  %2u  %-5s  %s\n", (unsigned long long)l.sites[i].va,
                   l.sites[i].len, dmp_pv_lazy_op_name(l.sites[i].op), fn);
        }
        for (size_t i = 0; i < c->npercpu; i++)
            if (!vrc[i])
                printf("per-CPU %s: offset %llu (0x%llx), %llu bytes\n", c->percpu[i],
                       (unsigned long long)vars[i].offset, (unsigned long long)vars[i].offset,
                       (unsigned long long)vars[i].size);
    }
    dmp_pv_layout_free(&l);
    dmp_ksyms_free(ks);
    dmp_kimage_close(ki);
    return rc;
}

static int cmd_plan(struct kernel *k, const struct cli *c)
{
    uint64_t *hot;
    size_t n;
    int rc = read_hot(c->hot, &hot, &n);
    if (rc)
        return rc;
    struct dmp_planner_opts po = {.stub_base = c->stub_base};
    struct dmp_planner *p;
    if ((rc = dmp_planner_new(&k->cv, &po, &p)) != 0) {
        fprintf(stderr, "dmp-patcher: planner: %s\n", strerror(-rc));
        free(hot);
        return 1;
    }
    struct dmp_json j;
    if (c->json) {
        dmp_json_init(&j, stdout, true);
        dmp_json_obj_begin(&j);
        dmp_json_key(&j, "plans");
        dmp_json_arr_begin(&j);
    }
    unsigned refused = 0;
    for (size_t i = 0; i < n; i++) {
        struct dmp_plan pl;
        int r = dmp_plan_site(p, hot[i], &pl);
        if (r < 0) {
            fprintf(stderr, "dmp-patcher: planning 0x%llx: %s\n", (unsigned long long)hot[i],
                    strerror(-r));
            rc = 1;
            break;
        }
        refused += r == 1;
        if (c->json) {
            dmp_plan_json(&j, &pl);
        } else {
            char line[2048];
            if (dmp_plan_format(&pl, line, sizeof(line)) == 0)
                printf("%s\n", line);
        }
    }
    uint64_t base;
    size_t used;
    const uint8_t *area = dmp_planner_stub_area(p, &base, &used);
    if (c->json) {
        dmp_json_arr_end(&j);
        dmp_json_key(&j, "stub_area");
        dmp_json_obj_begin(&j);
        DMP_JSON_KV(&j, "base", dmp_json_hex, base);
        DMP_JSON_KV(&j, "hv_slot", dmp_json_hex, dmp_planner_hv_slot_va(p));
        dmp_json_key(&j, "bytes");
        dmp_json_bytes(&j, area, used);
        dmp_json_obj_end(&j);
        DMP_JSON_KV(&j, "refused", dmp_json_u64, refused);
        dmp_json_obj_end(&j);
        if (dmp_json_finish(&j) != 0)
            rc = 1;
        fputc('\n', stdout);
    } else {
        printf("# %zu addresses, %u refused; stub area 0x%llx, %zu bytes\n", n, refused,
               (unsigned long long)base, used);
    }
    dmp_planner_free(p);
    free(hot);
    if (!rc && refused)
        rc = 1;
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage_top(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "analyze") && strcmp(cmd, "plan") && strcmp(cmd, "verify") &&
        strcmp(cmd, "pvsites")) {
        fprintf(stderr, "dmp-patcher: unknown command '%s'\n", cmd);
        usage_top(stderr);
        return 2;
    }
    struct cli c = {.states = 0, .seed = 1};
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'},       {"json", no_argument, 0, 'j'},
        {"summary", no_argument, 0, 'q'},    {"hot", required_argument, 0, 'H'},
        {"stub-base", required_argument, 0, 'b'}, {"states", required_argument, 0, 's'},
        {"seed", required_argument, 0, 'S'}, {"percpu", required_argument, 0, 'P'},
        {0, 0, 0, 0}};
    optind = 2;
    int o;
    while ((o = getopt_long(argc, argv, "hjqH:b:s:S:P:", opts, NULL)) != -1) {
        uint64_t v;
        switch (o) {
        case 'h':
            usage_cmd(cmd, stdout);
            return 0;
        case 'j': c.json = true; break;
        case 'q': c.quiet = true; break;
        case 'H': c.hot = optarg; break;
        case 'b':
            if (dmp_parse_u64(optarg, &c.stub_base) != 0) {
                fprintf(stderr, "dmp-patcher: --stub-base: bad address '%s'\n", optarg);
                return 2;
            }
            break;
        case 's':
            if (dmp_parse_u64(optarg, &v) != 0 || v == 0 || v > 100000) {
                fprintf(stderr, "dmp-patcher: --states: need 1..100000, got '%s'\n", optarg);
                return 2;
            }
            c.states = (unsigned)v;
            break;
        case 'S':
            if (dmp_parse_u64(optarg, &c.seed) != 0) {
                fprintf(stderr, "dmp-patcher: --seed: bad number '%s'\n", optarg);
                return 2;
            }
            break;
        case 'P':
            if (strcmp(cmd, "pvsites") != 0) {
                fprintf(stderr, "dmp-patcher %s: --percpu belongs to pvsites\n", cmd);
                return 2;
            }
            if (c.npercpu == CLI_MAX_PERCPU) {
                fprintf(stderr, "dmp-patcher: at most %d --percpu names\n", CLI_MAX_PERCPU);
                return 2;
            }
            c.percpu[c.npercpu++] = optarg;
            break;
        default:
            usage_cmd(cmd, stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "dmp-patcher %s: expected exactly one kernel image\n", cmd);
        usage_cmd(cmd, stderr);
        return 2;
    }
    if (strcmp(cmd, "plan") == 0 && !c.hot) {
        fprintf(stderr, "dmp-patcher plan: --hot <file> is required\n");
        return 2;
    }
    if (strcmp(cmd, "pvsites") == 0)
        return cmd_pvsites(argv[optind], &c);
    struct kernel k;
    int rc = open_kernel(argv[optind], &k);
    if (rc)
        return rc;
    if (strcmp(cmd, "plan") == 0)
        rc = cmd_plan(&k, &c);
    else
        rc = cmd_analyze(&k, &c, strcmp(cmd, "verify") == 0);
    close_kernel(&k);
    return rc;
}
