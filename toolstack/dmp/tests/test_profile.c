/* Pure parts of the trap profiler: merging per-vCPU tables, ranking, text and JSON output. */
#include "dmp/profile.h"
#include "dmpcommon/test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const uint64_t no_totals[DMP_TRAP_KIND_NR];

static char *render_json(const struct dmp_profile *p, size_t top, dmp_profile_symbolizer sym)
{
    struct dmp_json j;
    CHECK(dmp_json_init_mem(&j, false) == 0);
    dmp_json_obj_begin(&j);
    dmp_profile_json(&j, p, top, 2.0, sym, NULL);
    dmp_json_obj_end(&j);
    CHECK(dmp_json_finish(&j) == 0);
    size_t len;
    char *mem = dmp_json_mem_take(&j, &len);
    CHECK(mem != NULL && len == strlen(mem));
    CHECK(dmp_json_validate(mem, len) == 0);
    return mem;
}

static char *render_text(const struct dmp_profile *p, size_t top, dmp_profile_symbolizer sym)
{
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    dmp_profile_print(f, p, top, 2.0, sym, NULL);
    fclose(f);
    return mem;
}

static int fake_sym(void *ctx, uint64_t rip, char *buf, size_t len)
{
    (void)ctx;
    if (rip != 0xffffffff81071234ull)
        return -1;
    snprintf(buf, len, "native_set_pte+0x4");
    return 0;
}

static void test_kinds(void)
{
    CHECK_STREQ(dmp_trap_kind_name(DMP_TRAP_PT_WRITE), "pt_write");
    CHECK_STREQ(dmp_trap_kind_name(DMP_TRAP_INVPCID), "invpcid");
    CHECK(dmp_trap_kind_name(0) == NULL);
    CHECK(dmp_trap_kind_name(DMP_TRAP_KIND_NR) == NULL);
    CHECK(dmp_trap_kind_name(0xffffffffu) == NULL);
    CHECK(dmp_trap_kind_is_pf(DMP_TRAP_PT_WRITE) && dmp_trap_kind_is_pf(DMP_TRAP_PF_MMIO));
    CHECK(!dmp_trap_kind_is_pf(DMP_TRAP_CR3_WRITE) && !dmp_trap_kind_is_pf(0));
}

static void test_merge_sort(void)
{
    struct dmp_profile p;
    dmp_profile_init(&p);
    /* vCPU 0 and vCPU 1 share one (rip, kind); the same rip with another kind stays apart. */
    const struct dmp_trap_entry v0[] = {
        { 0xffffffff81071234ull, 10, DMP_TRAP_PT_WRITE, 0 },
        { 0xffffffff81071234ull, 3, DMP_TRAP_PF_FIXED, 0 },
        { 0xffffffff81aa0000ull, 7, DMP_TRAP_CR3_WRITE, 0 },
    };
    const struct dmp_trap_entry v1[] = {
        { 0xffffffff81071234ull, 5, DMP_TRAP_PT_WRITE, 1 },
        { 0x00007f0000001000ull, 7, DMP_TRAP_PF_GUEST, 1 },
    };
    uint64_t t0[DMP_TRAP_KIND_NR] = { 0 }, t1[DMP_TRAP_KIND_NR] = { 0 };
    t0[DMP_TRAP_PT_WRITE] = 10; t0[DMP_TRAP_PF_FIXED] = 3 + 2; t0[DMP_TRAP_CR3_WRITE] = 7;
    t1[DMP_TRAP_PT_WRITE] = 5; t1[DMP_TRAP_PF_GUEST] = 7;
    CHECK(dmp_profile_merge(&p, v0, 3, t0, 2) == 0);
    CHECK(dmp_profile_merge(&p, v1, 2, t1, 0) == 0);
    CHECK_EQ_U64(p.n, 4);
    CHECK_EQ_U64(p.overflow, 2);
    CHECK_EQ_U64(dmp_profile_total(&p), 34);
    CHECK_EQ_U64(dmp_profile_pf_total(&p), 27);
    CHECK_EQ_U64(dmp_profile_entries_total(&p), 34 - 2);   /* overflowed events not in entries */

    dmp_profile_sort(&p);
    CHECK_EQ_U64(p.e[0].count, 15);
    CHECK_EQ_U64(p.e[0].kind, DMP_TRAP_PT_WRITE);
    CHECK_EQ_U64(p.e[0].vcpu, DMP_TRAP_VCPU_MERGED);
    /* Equal counts (7, 7) are ordered by rip: the user address first. */
    CHECK_EQ_U64(p.e[1].rip, 0x00007f0000001000ull);
    CHECK_EQ_U64(p.e[1].vcpu, 1);
    CHECK_EQ_U64(p.e[2].rip, 0xffffffff81aa0000ull);
    CHECK_EQ_U64(p.e[3].count, 3);

    /* Text: kinds summary, top-K cut with a "more" line, symbol column when given. */
    p.domid = 7;
    p.nr_vcpus = 2;
    char *txt = render_text(&p, 2, fake_sym);
    CHECK(strstr(txt, "domain 7: 34 page-table-related exits in 2.0 s (17/s)") != NULL);
    CHECK(strstr(txt, "pt_write 15 (44.1%)") != NULL);
    CHECK(strstr(txt, "0xffffffff81071234  pt_write") != NULL);
    CHECK(strstr(txt, "native_set_pte+0x4") != NULL);
    CHECK(strstr(txt, "(2 more; --top 0 shows all)") != NULL);
    CHECK(strstr(txt, "2 events found no table slot") != NULL);
    CHECK(strstr(txt, "0xffffffff81aa0000") == NULL);     /* third entry cut by --top 2 */
    free(txt);
    txt = render_text(&p, 0, NULL);
    CHECK(strstr(txt, "0xffffffff81aa0000  cr3_write") != NULL);
    CHECK(strstr(txt, "more;") == NULL);
    CHECK(strstr(txt, "native_set_pte") == NULL);
    free(txt);

    /* JSON: RIPs as hex strings, totals per kind, symbol only where known. */
    char *js = render_json(&p, 2, fake_sym);
    CHECK(strstr(js, "\"totals\":{\"pt_write\":15,\"pf_fixed\":5,\"pf_guest\":7,\"pf_mmio\":0,"
                     "\"cr3_write\":7,\"invlpg\":0,\"invpcid\":0}") != NULL);
    CHECK(strstr(js, "\"total\":34,\"pf_total\":27,\"overflow\":2") != NULL);
    CHECK(strstr(js, "{\"rip\":\"0xffffffff81071234\",\"kind\":\"pt_write\",\"count\":15,"
                     "\"share\":0.441176,\"symbol\":\"native_set_pte+0x4\"}") != NULL);
    CHECK(strstr(js, "\"rip\":\"0x7f0000001000\",\"kind\":\"pf_guest\",\"count\":7,"
                     "\"share\":0.205882,\"vcpu\":1}") != NULL);
    CHECK(strstr(js, "cr3_write\",\"count\"") == NULL);
    free(js);
    dmp_profile_free(&p);
    CHECK(p.e == NULL && p.n == 0);
}

static void test_bad_and_large(void)
{
    struct dmp_profile p;
    dmp_profile_init(&p);
    /* A kind no hypervisor produces is refused, and nothing of that batch is taken. */
    const struct dmp_trap_entry bad[] = {
        { 0xffffffff81000000ull, 1, DMP_TRAP_PT_WRITE, 0 },
        { 0xffffffff81000010ull, 1, 99, 0 },
    };
    CHECK(dmp_profile_merge(&p, bad, 2, no_totals, 0) == -EINVAL);
    CHECK_EQ_U64(p.n, 0);
    const struct dmp_trap_entry zero = { 0xffffffff81000000ull, 1, 0, 0 };
    CHECK(dmp_profile_merge(&p, &zero, 1, no_totals, 0) == -EINVAL);

    /* Many vCPUs of full tables: every key merged once, counts summed exactly. */
    enum { VCPUS = 8, PER = 3000 };
    struct dmp_trap_entry *e = calloc(PER, sizeof(*e));
    CHECK(e != NULL);
    for (unsigned v = 0; v < VCPUS && e; v++) {
        for (unsigned i = 0; i < PER; i++)
            e[i] = (struct dmp_trap_entry){ 0xffffffff81000000ull + 16ull * i, i + 1,
                                            DMP_TRAP_PF_FIXED + (i % 2) * 4, v };
        CHECK(dmp_profile_merge(&p, e, PER, no_totals, 0) == 0);
    }
    CHECK_EQ_U64(p.n, PER);
    uint64_t want = 0;
    for (unsigned i = 0; i < PER; i++)
        want += (uint64_t)(i + 1) * VCPUS;
    CHECK_EQ_U64(dmp_profile_entries_total(&p), want);
    dmp_profile_sort(&p);
    CHECK_EQ_U64(p.e[0].count, (uint64_t)PER * VCPUS);
    CHECK_EQ_U64(p.e[PER - 1].count, VCPUS);
    bool sorted = true;
    for (size_t i = 1; i < p.n; i++)
        sorted &= p.e[i - 1].count >= p.e[i].count;
    CHECK(sorted);
    free(e);
    dmp_profile_free(&p);

    /* An empty profile prints a summary without a table, and valid JSON. */
    dmp_profile_init(&p);
    char *txt = render_text(&p, 10, NULL);
    CHECK(strstr(txt, "0 page-table-related exits") != NULL && strstr(txt, "(none)") != NULL);
    CHECK(strstr(txt, "rank") == NULL);
    free(txt);
    char *js = render_json(&p, 10, NULL);
    CHECK(strstr(js, "\"entries\":[]") != NULL);
    free(js);
}

int main(void)
{
    test_kinds();
    test_merge_sort();
    test_bad_and_large();
    return DMP_TEST_SUMMARY("profile");
}
