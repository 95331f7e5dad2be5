/* Integration test on the installed Debian kernel: the MMU helpers' call sites are found and
 * decode to the helpers' addresses, plans are produced for them, every plan of the whole
 * analysis passes the equivalence harness, and plans survive the journal round trip and
 * apply/verify/undo on the image. SKIP without a kernel, unless DMP_REQUIRE_KERNEL=1. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "dmppatcher/journal.h"
#include "dmppatcher/report.h"
#include "dmpcommon/test.h"

/* Unicorn 2.0.1 leaks a translation-block bitmap when pages are unmapped
 * (tb_invalidate_phys_page_fast); it is not ours to free. LeakSanitizer reads this hook. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libunicorn.so\n";
}

static int find_kernel(char *out, size_t len)
{
    const char *env = getenv("DMP_KERNEL");
    if (env) {
        snprintf(out, len, "%s", env);
        return 0;
    }
    DIR *d = opendir("/boot");
    if (!d)
        return -1;
    struct dirent *e;
    int rc = -1;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "vmlinuz-6.1.", 12) == 0 && strstr(e->d_name, "amd64")) {
            snprintf(out, len, "/boot/%.200s", e->d_name);
            rc = 0;
            break;
        }
    closedir(d);
    return rc;
}

int main(void)
{
    char path[256];
    const char *req = getenv("DMP_REQUIRE_KERNEL");
    bool required = req && strcmp(req, "1") == 0;
    if (find_kernel(path, sizeof(path)) != 0) {
        if (required) {
            fprintf(stderr, "no Debian 6.1 kernel in /boot but DMP_REQUIRE_KERNEL=1\n");
            CHECK(0);
        } else {
            printf("SKIP: no /boot/vmlinuz-6.1.*-amd64\n");
        }
        return DMP_TEST_SUMMARY("patcher_kernel");
    }
    char err[512];
    struct dmp_kimage *ki;
    struct dmp_ksyms *ks;
    CHECK(dmp_kimage_open_file(path, &ki, err, sizeof(err)) == 0);
    CHECK(dmp_ksyms_recover(ki, &ks, err, sizeof(err)) == 0);
    struct dmp_codeview cv;
    CHECK(dmp_cv_from_kimage(&cv, ki, ks) == 0);

    /* The helpers exist and their call sites decode to their addresses. */
    static const char *const must[] = {"native_set_pte", "native_set_pmd", "native_write_cr3",
                                       "native_flush_tlb_one_user", NULL};
    uint64_t addr[4] = {0};
    for (int i = 0; must[i]; i++) {
        struct dmp_func f;
        CHECK(dmp_cv_by_name(&cv, must[i], &f) == 0);
        addr[i] = f.start;
    }
    /* Random states are reduced under sanitizers (slow emulation), never to zero. */
    const char *san = getenv("DMP_EQUIV_STATES");
    struct dmp_equiv_opts eo = {.states = san ? (unsigned)atoi(san) : 0, .seed = 1};
#if defined(__SANITIZE_ADDRESS__)
    if (!eo.states)
        eo.states = 24;
#endif
    struct dmp_analysis a;
    CHECK(dmp_analysis_run(&cv, NULL, true, &eo, &a) == 0);
    unsigned calls_to[4] = {0}, planned_to[4] = {0};
    for (size_t i = 0; i < a.sites.n; i++) {
        const struct dmp_site *s = &a.sites.v[i];
        if (s->kind != DMP_SITE_CALL_PVOP && s->kind != DMP_SITE_CALL_DIRECT)
            continue;
        for (int k = 0; k < 4; k++)
            if (strcmp(s->callee, must[k]) == 0) {
                calls_to[k]++;
                if (s->callee_va != addr[k])
                    CHECK_EQ_U64(s->callee_va, addr[k]);
            }
    }
    for (size_t i = 0; i < a.nplans; i++)
        for (int k = 0; k < 4; k++)
            if (a.plans[i].tactic == DMP_TACTIC_RETARGET && strstr(a.plans[i].detail, must[k]) &&
                strstr(a.plans[i].detail, must[k])[strlen(must[k])] == ' ')
                planned_to[k]++;
    printf("call sites: set_pte %u set_pmd %u write_cr3 %u flush_tlb_one_user %u\n",
           calls_to[0], calls_to[1], calls_to[2], calls_to[3]);
    printf("retarget plans: set_pte %u set_pmd %u write_cr3 %u\n", planned_to[0],
           planned_to[1], planned_to[2]);
    CHECK(calls_to[0] > 10);
    CHECK(calls_to[1] > 10);
    CHECK(calls_to[2] > 0);
    CHECK_EQ_U64(planned_to[0], calls_to[0]);
    CHECK_EQ_U64(planned_to[1], calls_to[1]);
    CHECK(planned_to[2] > 0);
    printf("plans %zu planned %u refused %u; equivalence %u pass %u fail (%llu runs)\n",
           a.nplans, a.planned, a.refused, a.equiv_pass, a.equiv_fail, a.equiv_runs);
    CHECK(a.planned > 100);
    CHECK_EQ_U64(a.equiv_fail, 0);
    CHECK_EQ_U64(a.equiv_pass, a.planned);
    for (size_t i = 0; i < a.nplans; i++)
        if (a.plans[i].tactic != DMP_TACTIC_REFUSED && !a.equiv[i].pass)
            fprintf(stderr, "FAIL 0x%llx %s: %s\n", (unsigned long long)a.plans[i].site,
                    a.plans[i].func, a.equiv[i].why);

    /* Journal round trip, and apply / verify / undo on the in-memory image. */
    struct dmp_patch_mem m;
    dmp_patch_mem_from_kimage(&m, ki);
    unsigned roundtrip_ok = 0, applied = 0;
    for (size_t i = 0; i < a.nplans; i++) {
        const struct dmp_plan *pl = &a.plans[i];
        char line[2048];
        struct dmp_plan back;
        if (dmp_plan_format(pl, line, sizeof(line)) == 0 && dmp_plan_parse(line, &back) == 0 &&
            back.site == pl->site && back.len == pl->len && back.tactic == pl->tactic &&
            back.reason == pl->reason && back.tramp_len == pl->tramp_len &&
            memcmp(back.new_bytes, pl->new_bytes, pl->len) == 0 &&
            memcmp(back.tramp, pl->tramp, pl->tramp_len) == 0 && back.nexits == pl->nexits)
            roundtrip_ok++;
        if (pl->tactic == DMP_TACTIC_RETARGET && applied < 20) {
            uint8_t before[DMP_PLAN_MAX_SITE];
            CHECK(m.read(m.ctx, pl->site, before, pl->len) == 0);
            CHECK(dmp_plan_apply(pl, &m, err, sizeof(err)) == 0);
            CHECK(dmp_plan_verify(pl, &m, err, sizeof(err)) == 0);
            CHECK(dmp_plan_apply(pl, &m, err, sizeof(err)) != 0);   /* old bytes gone */
            CHECK(dmp_plan_undo(pl, &m, err, sizeof(err)) == 0);
            uint8_t after[DMP_PLAN_MAX_SITE];
            CHECK(m.read(m.ctx, pl->site, after, pl->len) == 0);
            CHECK(memcmp(before, after, pl->len) == 0);
            CHECK(dmp_plan_undo(pl, &m, err, sizeof(err)) != 0);    /* nothing to undo */
            applied++;
        }
    }
    CHECK_EQ_U64(roundtrip_ok, a.nplans);
    dmp_analysis_free(&a);
    dmp_cv_release(&cv);
    dmp_ksyms_free(ks);
    dmp_kimage_close(ki);
    return DMP_TEST_SUMMARY("patcher_kernel");
}
