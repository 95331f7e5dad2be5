/* The reports of the DMP operations (dmp/report.h): reading them back as dmpd does, and each
 * writer's output for known results, byte for byte as the commands printed it before the
 * writers moved into the library (the lab scenarios parse it), read back where dmpd reads it. */
#include "dmp/report.h"
#include "dmpcommon/json.h"
#include "dmpcommon/json_read.h"
#include "dmpcommon/test.h"
#include "dmpcommon/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The report exactly as `dmpctl dmp profile --json` prints it (pretty, with perfc_window). */
static char *profile_report(double seconds)
{
    struct dmp_profile p;
    dmp_profile_init(&p);
    const struct dmp_trap_entry e[] = {
        { 0xffffffff8108b629ull, 590, DMP_TRAP_INVLPG, 0 },
        { 0xffffffff8107e5d0ull, 319, DMP_TRAP_PF_FIXED, 0 },
        { 0x00000000004471f0ull, 300, DMP_TRAP_PF_FIXED, 0 },   /* user RIP */
        { 0xffffffff8107e5d0ull, 250, DMP_TRAP_PF_GUEST, 0 },   /* not a page-table kind */
        { 0xffffffff8108a84eull, 230, DMP_TRAP_CR3_WRITE, 0 },
        { 0xffffffff8107e6efull, 214, DMP_TRAP_PT_WRITE, 0 },
    };
    uint64_t t[DMP_TRAP_KIND_NR] = { 0 };
    t[DMP_TRAP_INVLPG] = 590;
    t[DMP_TRAP_PF_FIXED] = 619 + 81;   /* 81 overflowed */
    t[DMP_TRAP_PF_GUEST] = 250 + 1000;
    t[DMP_TRAP_CR3_WRITE] = 230;
    t[DMP_TRAP_PT_WRITE] = 214;
    t[DMP_TRAP_PF_MMIO] = 7;
    CHECK(dmp_profile_merge(&p, e, 6, t, 81) == 0);
    dmp_profile_sort(&p);
    p.domid = 3;
    p.nr_vcpus = 1;
    struct dmp_json j;
    CHECK(dmp_json_init_mem(&j, true) == 0);
    dmp_json_obj_begin(&j);
    DMP_JSON_KV(&j, "name", dmp_json_str, "a \"quoted\" name [x]");
    DMP_JSON_KV(&j, "interrupted", dmp_json_bool, false);
    dmp_profile_json(&j, &p, 0, seconds, NULL, NULL);
    dmp_json_key(&j, "perfc_window");
    dmp_json_obj_begin(&j);
    DMP_JSON_KV(&j, "calls to shadow_fault", dmp_json_i64, 7564);
    dmp_json_obj_end(&j);
    dmp_json_obj_end(&j);
    CHECK(dmp_json_finish(&j) == 0);
    fputc('\n', j.out);   /* as the command ends its report */
    dmp_profile_free(&p);
    char *mem = dmp_json_mem_take(&j, NULL);
    CHECK(mem != NULL);
    return mem;
}

/* Reading back what dmpd reads, on a report made as dmpctl made it before the writer moved. */
static void test_read(void)
{
    char *r = profile_report(10.0);
    double rate, secs;
    uint64_t ev;
    char err[256];
    CHECK(dmp_report_profile_rate(r, strlen(r), &rate, &ev, &secs, err, sizeof(err)) == 0);
    /* pt_write 214 + pf_fixed 700 + cr3 230 + invlpg 590 (+ invpcid 0); not pf_guest/mmio. */
    CHECK_EQ_U64(ev, 214 + 700 + 230 + 590);
    CHECK(rate > 173.39 && rate < 173.41);
    CHECK(secs == 10.0);

    uint64_t rips[8];
    int n = dmp_report_profile_hot(r, strlen(r), rips, 8, err, sizeof(err));
    /* Kernel RIPs of page-table kinds, hottest first, each once; no user RIP, no pf_guest-only. */
    CHECK_EQ_U64(n, 4);
    CHECK_EQ_U64(rips[0], 0xffffffff8108b629ull);
    CHECK_EQ_U64(rips[1], 0xffffffff8107e5d0ull);
    CHECK_EQ_U64(rips[2], 0xffffffff8108a84eull);
    CHECK_EQ_U64(rips[3], 0xffffffff8107e6efull);
    CHECK_EQ_U64(dmp_report_profile_hot(r, strlen(r), rips, 2, err, sizeof(err)), 2);

    /* The reader dmpd uses (dmpcommon/json_read.h), on the same document. */
    struct dmp_jdoc *doc = NULL;
    CHECK(dmp_jdoc_parse(r, strlen(r), &doc, err, sizeof(err)) == 0);
    const struct dmp_jval *root = dmp_jroot(doc);
    CHECK_STREQ(dmp_jnum_text(dmp_jpath(root, "perfc_window.calls to shadow_fault")), "7564");
    char s[64];
    CHECK(dmp_jstr_copy(dmp_jpath(root, "entries[0].kind"), s, sizeof(s)) == 6);
    CHECK_STREQ(s, "invlpg");
    /* Escapes come back unescaped: the name as the writer was given it. */
    CHECK(dmp_jstr_copy(dmp_jget(root, "name"), s, sizeof(s)) == 19);
    CHECK_STREQ(s, "a \"quoted\" name [x]");
    CHECK(dmp_jstr_copy(dmp_jget(root, "name"), s, 19) == -ERANGE);   /* no room for the NUL */
    CHECK(dmp_jpath(root, "entries[6]") == NULL);
    CHECK(dmp_jtype(dmp_jget(root, "entries")) == DMP_JARR);
    CHECK_EQ_U64(dmp_jcount(dmp_jget(root, "entries")), 6);
    CHECK(dmp_jpath(root, "totals.nope") == NULL);
    CHECK(dmp_jpath(root, "name.x") == NULL);
    bool b = true;
    CHECK(dmp_jbool(dmp_jget(root, "interrupted"), &b) == 0 && !b);
    uint64_t u;
    CHECK(dmp_ju64(dmp_jget(root, "domid"), &u) == 0 && u == 3);
    CHECK(dmp_ju64(dmp_jget(root, "name"), &u) == -EINVAL);   /* a string is not a number */
    dmp_jdoc_free(doc);
    free(r);

    /* Zero-length window and broken documents are refused with a reason. */
    r = profile_report(0.0);
    CHECK(dmp_report_profile_rate(r, strlen(r), &rate, &ev, &secs, err, sizeof(err)) == -EINVAL);
    CHECK(strstr(err, "seconds") != NULL);
    free(r);
    const char *trunc = "{\"seconds\": 5.0, \"totals\": {\"pt_write\": 3";
    CHECK(dmp_report_profile_rate(trunc, strlen(trunc), &rate, &ev, &secs, err, sizeof(err)) == -EINVAL);
    CHECK(strstr(err, "not valid JSON") != NULL);
    const char *nokind = "{\"seconds\": 5.0, \"totals\": {\"pt_write\": 3}}";
    CHECK(dmp_report_profile_rate(nokind, strlen(nokind), &rate, &ev, &secs, err, sizeof(err)) == -EINVAL);
    CHECK(strstr(err, "totals.pf_fixed") != NULL);
    /* Unterminated input does not make the reader run off the buffer: it is refused whole. */
    const char *cut = "{\"a\": [1, 2, {\"b\": \"x";
    doc = (struct dmp_jdoc *)1;
    CHECK(dmp_jdoc_parse(cut, strlen(cut), &doc, err, sizeof(err)) == -EINVAL && doc == NULL);
    CHECK(dmp_jdoc_parse(cut, 5, &doc, err, sizeof(err)) == -EINVAL && doc == NULL);
    CHECK(dmp_report_profile_hot(cut, strlen(cut), rips, 8, err, sizeof(err)) == -EINVAL);
    CHECK(strstr(err, "not valid JSON") != NULL);

    /* patch --json */
    const char *p1 = "{\n  \"domain\": \"lp\",\n  \"domid\": 3,\n  \"mode\": \"passthrough\",\n"
                     "  \"dry_run\": false,\n  \"already_patched\": false,\n  \"sites\": 171,\n"
                     "  \"stub_base\": \"0xffffffff81a5c000\",\n  \"refusals\": {\"callee-not-pure\": 56},\n"
                     "  \"applied\": 171\n}\n";
    uint32_t sites;
    bool already = true;
    CHECK(dmp_report_patch_read(p1, strlen(p1), &sites, &already, err, sizeof(err)) == 0);
    CHECK_EQ_U64(sites, 171);
    CHECK(!already);
    const char *p2 = "{\"domain\": \"lp\", \"already_patched\": true, \"sites\": 171}";
    CHECK(dmp_report_patch_read(p2, strlen(p2), &sites, &already, err, sizeof(err)) == 0);
    CHECK(already);
    const char *p3 = "{\"domain\": \"lp\"}";
    CHECK(dmp_report_patch_read(p3, strlen(p3), &sites, &already, err, sizeof(err)) == -EINVAL);
    CHECK(strstr(err, "sites") != NULL);
}

/* The text a writer prints for r, malloc'd. */
#define WRITE(fn, ...) ({                                                                  \
    char *mem_ = NULL;                                                                      \
    size_t len_ = 0;                                                                        \
    FILE *f_ = open_memstream(&mem_, &len_);                                                \
    CHECK(fn(f_, __VA_ARGS__) == 0);                                                        \
    fclose(f_);                                                                             \
    mem_;                                                                                   \
})

static void patch_result(struct dmp_patch_result *r, bool already)
{
    memset(r, 0, sizeof(*r));
    r->outcome = DMP_DONE;
    dmp_patch_target_init(&r->dom, 7, "lp-shadow", "5d0c-uuid", NULL);
    snprintf(r->mode, sizeof(r->mode), "passthrough");
    r->already_patched = already;
    snprintf(r->journal_source, sizeof(r->journal_source), already ? "file" : "");
    r->sites = 171;
    r->stub_base = 0xffffffff81a5c000ull;
    r->stub_len = 416;
    r->hv_update = 0xffffffff81a5c140ull;
    if (already)
        return;
    r->plans_cached = true;
    r->candidates = 227;
    r->planned = 171;
    r->refused = 56;
    r->refusals[DMP_REFUSE_CALLEE_NOT_PURE] = 56;
    r->applied = 171;
    r->plan_secs = 26.123456;
    r->paused_secs = 0.1534;
    r->total_secs = 27.9;
}

/* dmp patch --json, as `dmpctl dmp patch --json` printed it and dmpd read it. */
static void test_patch(void)
{
    struct dmp_patch_result r;
    patch_result(&r, false);
    char *t = WRITE(dmp_report_patch_json, &r);
    CHECK_STREQ(t, "{\n"
                   "  \"domain\": \"lp-shadow\",\n"
                   "  \"domid\": 7,\n"
                   "  \"mode\": \"passthrough\",\n"
                   "  \"dry_run\": false,\n"
                   "  \"already_patched\": false,\n"
                   "  \"sites\": 171,\n"
                   "  \"stub_base\": \"0xffffffff81a5c000\",\n"
                   "  \"stub_len\": 416,\n"
                   "  \"hv_update\": \"0xffffffff81a5c140\",\n"
                   "  \"candidates\": 227,\n"
                   "  \"planned\": 171,\n"
                   "  \"refused\": 56,\n"
                   "  \"refusals\": {\n"
                   "    \"callee-not-pure\": 56\n"
                   "  },\n"
                   "  \"skipped_atomic\": 0,\n"
                   "  \"skipped_vcpu_inside\": 0,\n"
                   "  \"skipped_bytes_changed\": 0,\n"
                   "  \"applied\": 171,\n"
                   "  \"plan_secs\": 26.1235,\n"
                   "  \"paused_secs\": 0.1534,\n"
                   "  \"total_secs\": 27.9,\n"
                   "  \"journal_xenstore\": \"/local/domain/0/dmp/7/journal\",\n"
                   "  \"journal_file\": \"/var/lib/dmp/dmp/5d0c-uuid.journal\",\n"
                   "  \"plans_cached\": true\n"
                   "}\n\n");
    uint32_t sites = 0;
    bool already = true;
    char err[256];
    CHECK(dmp_report_patch_read(t, strlen(t), &sites, &already, err, sizeof(err)) == 0);
    CHECK_EQ_U64(sites, 171);
    CHECK(!already);
    free(t);

    /* Already patched: no counts, and dmpd sees "already". */
    patch_result(&r, true);
    t = WRITE(dmp_report_patch_json, &r);
    CHECK(strstr(t, "\"already_patched\": true") != NULL);
    CHECK(strstr(t, "candidates") == NULL && strstr(t, "total_secs") == NULL);
    CHECK(strstr(t, "\"plans_cached\": false\n}\n\n") != NULL);
    CHECK(dmp_report_patch_read(t, strlen(t), &sites, &already, err, sizeof(err)) == 0);
    CHECK_EQ_U64(sites, 171);
    CHECK(already);
    free(t);
}

static void test_status_unpatch(void)
{
    struct dmp_status_result s;
    memset(&s, 0, sizeof(s));
    dmp_patch_target_init(&s.dom, 7, "lp", "", "/tmp/st");
    s.fastpath_rc = 1;
    char *t = WRITE(dmp_report_status_json, &s);
    CHECK_STREQ(t, "{\n  \"domain\": \"lp\",\n  \"domid\": 7,\n  \"patched\": false,\n"
                   "  \"journal_xenstore\": \"/local/domain/0/dmp/7/journal\",\n"
                   "  \"journal_file\": \"/tmp/st/lp.journal\"\n}\n\n");
    free(t);
    s.patched = true;
    snprintf(s.mode, sizeof(s.mode), "log");
    s.sites = 5;
    s.sites_patched = 4;
    s.sites_other = 1;
    s.stub_base = 0x1000;
    s.stub_len = 32;
    snprintf(s.stub_state, sizeof(s.stub_state), "installed");
    s.hv_update = 0x1010;
    snprintf(s.journal_source, sizeof(s.journal_source), "xenstore");
    s.created = 1700000000;
    s.fastpath_rc = -EOPNOTSUPP;
    snprintf(s.fastpath_err, sizeof(s.fastpath_err), "domain 7: no fast path");
    t = WRITE(dmp_report_status_json, &s);
    CHECK_STREQ(t, "{\n  \"domain\": \"lp\",\n  \"domid\": 7,\n  \"patched\": true,\n"
                   "  \"mode\": \"log\",\n  \"sites\": 5,\n  \"sites_patched\": 4,\n"
                   "  \"sites_original\": 0,\n  \"sites_other\": 1,\n"
                   "  \"stub_base\": \"0x1000\",\n  \"stub_len\": 32,\n"
                   "  \"stub_state\": \"installed\",\n  \"hv_update\": \"0x1010\",\n"
                   "  \"journal_source\": \"xenstore\",\n  \"created\": 1700000000,\n"
                   "  \"fastpath_error\": \"domain 7: no fast path\",\n"
                   "  \"journal_xenstore\": \"/local/domain/0/dmp/7/journal\",\n"
                   "  \"journal_file\": \"/tmp/st/lp.journal\"\n}\n\n");
    free(t);
    s.fastpath_rc = 0;
    s.fastpath.enabled = true;
    s.fastpath.stores = 12;
    s.fastpath.flushes = 3;
    t = WRITE(dmp_report_status_json, &s);
    CHECK(strstr(t, "  \"fastpath\": {\n    \"enabled\": true,\n    \"stores\": 12,\n"
                    "    \"flushes\": 3,\n") != NULL);
    CHECK(strstr(t, "fastpath_error") == NULL);
    free(t);

    struct dmp_unpatch_result u = {
        .mode = "passthrough", .journal_source = "file", .sites = 171, .restored = 170,
        .rip_waits = 2, .paused_sites_secs = 0.05, .paused_stubs_secs = 0.002, .total_secs = 0.4,
        .fastpath_rc = 1,
    };
    dmp_patch_target_init(&u.dom, 7, "lp", "", NULL);
    t = WRITE(dmp_report_unpatch_json, &u);
    CHECK_STREQ(t, "{\n  \"domain\": \"lp\",\n  \"sites\": 171,\n  \"restored\": 170,\n"
                   "  \"journal_source\": \"file\",\n  \"rip_waits\": 2,\n"
                   "  \"paused_sites_secs\": 0.05,\n  \"paused_stubs_secs\": 0.002,\n"
                   "  \"total_secs\": 0.4,\n  \"mode\": \"passthrough\"\n}\n\n");
    free(t);
}

/* A profile result through the writer dmpctl and dmpd's worker share, read back by dmpd. */
static void test_profile_round_trip(void)
{
    struct dmp_profile_result r;
    memset(&r, 0, sizeof(r));
    dmp_profile_init(&r.prof);
    snprintf(r.name, sizeof(r.name), "shadow-1");
    r.domid = 3;
    r.seconds = 5.0;
    r.symbols_wanted = true;
    snprintf(r.sym_err, sizeof(r.sym_err), "no kallsyms tables in the guest kernel");
    const struct dmp_trap_entry e[] = {
        { 0xffffffff81000010ull, 900, DMP_TRAP_PT_WRITE, 0 },
        { 0xffffffff81000020ull, 400, DMP_TRAP_PF_GUEST, 0 },
        { 0x0000000000401000ull, 300, DMP_TRAP_PF_FIXED, 0 },
        { 0xffffffff81000030ull, 100, DMP_TRAP_INVLPG, 0 },
    };
    uint64_t tot[DMP_TRAP_KIND_NR] = { 0 };
    tot[DMP_TRAP_PT_WRITE] = 900;
    tot[DMP_TRAP_PF_GUEST] = 400;
    tot[DMP_TRAP_PF_FIXED] = 300;
    tot[DMP_TRAP_INVLPG] = 100;
    CHECK(dmp_profile_merge(&r.prof, e, 4, tot, 0) == 0);
    dmp_profile_sort(&r.prof);
    r.prof.domid = 3;   /* as dmp_profiler_read sets it */
    char *t = WRITE(dmp_report_profile_json, &r, (size_t)16);
    static const char head[] = "{\n  \"name\": \"shadow-1\",\n  \"interrupted\": false,\n"
                               "  \"symbols_error\": \"no kallsyms tables in the guest kernel\",\n"
                               "  \"domid\": 3,\n  \"seconds\": 5,\n";
    CHECK(strncmp(t, head, strlen(head)) == 0);
    CHECK(strstr(t, "kaslr_slide") == NULL && strstr(t, "perfc_window") == NULL);
    double rate, secs;
    uint64_t ev, rips[4];
    char err[256];
    CHECK(dmp_report_profile_rate(t, strlen(t), &rate, &ev, &secs, err, sizeof(err)) == 0);
    CHECK_EQ_U64(ev, 900 + 300 + 100);
    CHECK(secs == 5.0 && rate > 259.99 && rate < 260.01);
    CHECK_EQ_U64(dmp_report_profile_hot(t, strlen(t), rips, 4, err, sizeof(err)), 2);
    CHECK_EQ_U64(rips[0], 0xffffffff81000010ull);
    CHECK_EQ_U64(rips[1], 0xffffffff81000030ull);
    free(t);
    /* The top limits the entries, not the totals. */
    t = WRITE(dmp_report_profile_json, &r, (size_t)1);
    CHECK(dmp_report_profile_rate(t, strlen(t), &rate, &ev, &secs, err, sizeof(err)) == 0);
    CHECK_EQ_U64(ev, 1300);
    CHECK_EQ_U64(dmp_report_profile_hot(t, strlen(t), rips, 4, err, sizeof(err)), 1);
    free(t);
    dmp_profile_result_free(&r);
}

/* The hot-site file dmpd writes from a profile is what `dmp patch --sites hot` reads. */
static void test_hot_file(void)
{
    char *r = profile_report(10.0);
    char path[] = "/tmp/test_report.hot.XXXXXX", err[256];
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK(dmp_report_hot_file(r, strlen(r), path, "g (u-1), from dmpd's last profile", err,
                              sizeof(err)) == 0);
    uint8_t *text;
    size_t len;
    CHECK(dmp_read_file(path, &text, &len) == 0);
    CHECK_STREQ((const char *)text, "# hot page-table RIPs of g (u-1), from dmpd's last profile\n"
                                    "0xffffffff8108b629\n0xffffffff8107e5d0\n"
                                    "0xffffffff8108a84e\n0xffffffff8107e6ef\n");
    uint64_t *vas;
    size_t n;
    CHECK(dmp_lp_parse_hot((const char *)text, &vas, &n, err, sizeof(err)) == 0);
    CHECK_EQ_U64(n, 4);
    CHECK_EQ_U64(vas[0], 0xffffffff8108b629ull);
    free(vas);
    free(text);
    /* Nothing hot: an error with its reason, the file left as it was. */
    const char *none = "{\"seconds\": 1, \"entries\": []}";
    CHECK(dmp_report_hot_file(none, strlen(none), path, "g", err, sizeof(err)) == -ENOENT);
    CHECK_STREQ(err, "no kernel page-table RIP in the profile");
    /* A file that cannot be written says why. */
    CHECK(dmp_report_hot_file(r, strlen(r), "/nonexistent/dir/x.hot", "g", err, sizeof(err)) ==
          -ENOENT);
    CHECK(strstr(err, "cannot write /nonexistent/dir/x.hot: No such file or directory") == err);
    unlink(path);
    free(r);
}

static void test_outcomes(void)
{
    CHECK_EQ_U64(dmp_outcome_exit(DMP_DONE), 0);
    CHECK_EQ_U64(dmp_outcome_exit(DMP_FAILED), 1);
    CHECK_EQ_U64(dmp_outcome_exit(DMP_BAD_INPUT), 2);
    CHECK_EQ_U64(dmp_outcome_exit(DMP_NOTHING_TO_DO), 3);
}

int main(void)
{
    test_read();
    test_patch();
    test_status_unpatch();
    test_profile_round_trip();
    test_hot_file();
    test_outcomes();
    return DMP_TEST_SUMMARY("report");
}
