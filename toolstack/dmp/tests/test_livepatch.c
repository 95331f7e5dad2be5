/* Tests of live patching's pure logic (dmp/livepatch.h) on a synthetic kernel text: stub area
 * placement in int3 padding, site selection and the refusal of an unrecognised kernel, the hot
 * file parser, the journal (round trip and every corruption it must refuse), the passthrough
 * hv_update executed on Unicorn, and the whole chain: classify -> plan into the found area ->
 * build the stub image -> apply to memory -> run the patched caller on Unicorn (the PTE write
 * lands through COMMIT and passthrough) -> undo restores every byte. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unicorn/unicorn.h>

#include "guest_cpu.h"
#include "dmppatcher/classify.h"
#include "dmppatcher/journal.h"
#include "dmp/livepatch.h"
#include "dmppatcher/plan.h"
#include "dmppatcher/stub.h"
#include "dmpcommon/test.h"

#define TEXT 0xffffffff81000000ull
#define TEXT_LEN (512u * 1024)
#define F_CALLER 0x0
#define F_SETPTE 0x40
#define F_OTHER 0x80
#define PAD_START 0x1000              /* int3 padding [PAD_START, PAD_END) */
#define PAD_END (PAD_START + 300 * 1024)
#define F_LAST (PAD_END + 0x100)

static uint8_t text[TEXT_LEN];
static struct dmp_func funcs[8];
static struct dmp_symtable tab;
static struct dmp_codeview cv;

static void rel32(size_t at, uint64_t target)
{
    int32_t d = (int32_t)(int64_t)(target - (TEXT + at + 4));
    memcpy(text + at, &d, 4);
}

/* caller: mov %rsi,%rsi (3 bytes: keeps the call off the entry); call native_set_pte; ret
 * native_set_pte: mov %rsi,(%rdi); ret
 * other: ret; a padding run; last: ret. */
static bool thunk_ret;          /* native_set_pte ends with jmp <other> instead of ret */
static const char *other_name = "other";

static void build_text(bool with_setpte, bool symbol_in_pad)
{
    memset(text, 0x90, sizeof(text));
    memset(text + PAD_START, 0xcc, PAD_END - PAD_START);
    static const uint8_t caller[] = {0x48, 0x89, 0xf6, 0xe8, 0, 0, 0, 0, 0xc3};
    memcpy(text + F_CALLER, caller, sizeof(caller));
    rel32(F_CALLER + 4, TEXT + F_SETPTE);
    static const uint8_t setpte[] = {0x48, 0x89, 0x37, 0xc3};
    memcpy(text + F_SETPTE, setpte, sizeof(setpte));
    size_t setpte_len = sizeof(setpte);
    if (thunk_ret) {   /* the boot-patched live form: jmp srso_return_thunk */
        text[F_SETPTE + 3] = 0xe9;
        rel32(F_SETPTE + 4, TEXT + F_OTHER);
        setpte_len = 8;
    }
    text[F_OTHER] = 0xc3;
    text[F_LAST] = 0xc3;
    size_t n = 0;
    funcs[n++] = (struct dmp_func){ "pte_caller_demo", TEXT + F_CALLER, sizeof(caller), 't' };
    funcs[n++] = (struct dmp_func){ with_setpte ? "native_set_pte" : "some_helper",
                                    TEXT + F_SETPTE, setpte_len, 't' };
    funcs[n++] = (struct dmp_func){ other_name, TEXT + F_OTHER, PAD_END - F_OTHER, 't' };
    if (symbol_in_pad)
        funcs[n++] = (struct dmp_func){ "inside_pad", TEXT + PAD_START + 100 * 1024, 1, 't' };
    funcs[n++] = (struct dmp_func){ "last", TEXT + F_LAST, 1, 't' };
    tab.funcs = funcs;
    tab.n = n;
    dmp_cv_from_table(&cv, &tab, TEXT, text, sizeof(text));
}

static void test_area(void)
{
    char err[256];
    uint64_t base;
    size_t size;
    build_text(true, false);
    CHECK(dmp_lp_find_area(&cv, &base, &size, err, sizeof(err)) == 0);
    CHECK(base >= TEXT + PAD_START + DMP_LP_GUARD);
    CHECK_EQ_U64(base & 4095, 0);
    CHECK(size <= DMP_LP_MAX_AREA && size >= DMP_LP_MIN_AREA);
    CHECK(base + size <= TEXT + PAD_END - DMP_LP_GUARD);
    for (size_t i = 0; i < size; i++)
        if (text[base - TEXT + i] != 0xcc) {
            CHECK(!"area holds non-padding bytes");
            break;
        }
    /* A symbol starting inside the run: the run splits into ~96 KiB and ~196 KiB parts, the
     * area must not contain the symbol. */
    build_text(true, true);
    CHECK(dmp_lp_find_area(&cv, &base, &size, err, sizeof(err)) == 0);
    CHECK(!(TEXT + PAD_START + 100 * 1024 >= base && TEXT + PAD_START + 100 * 1024 < base + size));
    /* Too little padding: refused with a reason. */
    build_text(true, false);
    memset(text + PAD_START + 40 * 1024, 0x90, 1);
    memset(text + PAD_START + 100 * 1024, 0x90, 1);
    memset(text + PAD_START + 160 * 1024, 0x90, 1);
    memset(text + PAD_START + 220 * 1024, 0x90, 1);
    memset(text + PAD_START + 280 * 1024, 0x90, 1);
    CHECK(dmp_lp_find_area(&cv, &base, &size, err, sizeof(err)) == -ENOSPC);
    CHECK(strstr(err, "int3 padding") != NULL);
    /* Zero bytes are not padding (pages the kernel unmapped read as zero). */
    build_text(true, false);
    memset(text + PAD_START, 0, PAD_END - PAD_START);
    CHECK(dmp_lp_find_area(&cv, &base, &size, err, sizeof(err)) == -ENOSPC);
}

static void test_select(void)
{
    char err[256];
    uint64_t *vas;
    size_t n;
    struct dmp_sites sites = { 0 };
    build_text(true, false);
    CHECK(dmp_classify_all(&cv, &sites) == 0);
    CHECK(dmp_lp_select_mmu_sites(&cv, &sites, &vas, &n, err, sizeof(err)) == 0);
    CHECK_EQ_U64(n, 1);
    if (n == 1)
        CHECK_EQ_U64(vas[0], TEXT + F_CALLER + 3);
    free(vas);
    dmp_sites_free(&sites);
    /* Unrecognised kernel: no native_set_pte symbol -> refused, nothing selected. */
    build_text(false, false);
    memset(&sites, 0, sizeof(sites));
    CHECK(dmp_classify_all(&cv, &sites) == 0);
    vas = (uint64_t *)&n;   /* must be reset by the call */
    CHECK(dmp_lp_select_mmu_sites(&cv, &sites, &vas, &n, err, sizeof(err)) == -ENOENT);
    CHECK(vas == NULL && n == 0);
    CHECK(strstr(err, "not recognised") != NULL);
    dmp_sites_free(&sites);
}

static void test_hot(void)
{
    char err[256];
    uint64_t *v;
    size_t n;
    CHECK(dmp_lp_parse_hot("# hot RIPs\n0xffffffff81000003 120\n\n  0x10 # c\n42\n", &v, &n, err,
                           sizeof(err)) == 0);
    CHECK_EQ_U64(n, 3);
    if (n == 3) {
        CHECK_EQ_U64(v[0], 0xffffffff81000003ull);
        CHECK_EQ_U64(v[1], 0x10);
        CHECK_EQ_U64(v[2], 42);
    }
    free(v);
    CHECK(dmp_lp_parse_hot("0x10\nzzz\n", &v, &n, err, sizeof(err)) == -EINVAL);
    CHECK(strstr(err, "line 2") != NULL && strstr(err, "zzz") != NULL);
    CHECK(dmp_lp_parse_hot("0\n", &v, &n, err, sizeof(err)) == -EINVAL);
}

static void test_any_in(void)
{
    uint64_t r[] = { 100, 200 };
    CHECK(dmp_lp_any_in(r, 2, 100, 1));
    CHECK(!dmp_lp_any_in(r, 2, 101, 99));
    CHECK(dmp_lp_any_in(r, 2, 195, 6));
    CHECK(!dmp_lp_any_in(r, 2, 195, 5));
    CHECK(!dmp_lp_any_in(r, 0, 0, ~0ull));
    CHECK(dmp_lp_kind_is_atomic(DMP_SITE_XCHG) && !dmp_lp_kind_is_atomic(DMP_SITE_CALL_DIRECT));
}

/* ---- Unicorn ---- */

/* Call fn(rdi, rsi, rdx, rcx) in the text mapped at TEXT; 0 with *rax, or -1 when it did not
 * return normally. */
static int uc_call(uc_engine *uc, uint64_t fn, uint64_t rdi, uint64_t rsi, uint64_t rdx,
                   uint64_t rcx, uint64_t *rax)
{
    static const int regs[] = { UC_X86_REG_RDI, UC_X86_REG_RSI, UC_X86_REG_RDX, UC_X86_REG_RCX,
                                UC_X86_REG_RAX };
    const uint64_t in[5] = { rdi, rsi, rdx, rcx, 0x5555 };
    uint64_t out[5] = { 0 };
    int rc = guest_cpu_call(uc, fn, regs, in, out, 5);
    *rax = out[4];
    return rc;
}

static void test_passthrough(void)
{
    uc_engine *uc = guest_cpu_open(TEXT, TEXT_LEN);
    CHECK(uc != NULL);
    if (!uc)
        return;
    size_t len;
    const uint8_t *code = dmp_lp_passthrough_code(&len);
    uc_mem_write(uc, TEXT, code, len);
    static const struct { unsigned size; uint64_t expect; } cases[] = {
        { 8, 0x1122334455667788ull }, { 4, 0xaaaaaaaa55667788ull },
        { 2, 0xaaaaaaaaaaaa7788ull }, { 1, 0xaaaaaaaaaaaaaa88ull } };
    for (size_t i = 0; i < 4; i++) {
        uint64_t fill = 0xaaaaaaaaaaaaaaaaull, got, rax;
        uc_mem_write(uc, DATA, &fill, 8);
        CHECK(uc_call(uc, TEXT, DATA, fill, 0x1122334455667788ull,
                      DMP_HV_OP(DMP_HV_STORE, cases[i].size, DMP_SITE_PTE_STORE), &rax) == 0);
        uc_mem_read(uc, DATA, &got, 8);
        CHECK_EQ_U64(got, cases[i].expect);
        CHECK_EQ_U64(rax, 0);
    }
    /* Unknown kind and bad store size: -EINVAL, memory untouched. */
    uint64_t fill = 0xaaaaaaaaaaaaaaaaull, got, rax;
    uc_mem_write(uc, DATA, &fill, 8);
    CHECK(uc_call(uc, TEXT, DATA, 0, 1, DMP_HV_OP(9, 8, 0), &rax) == 0);
    CHECK_EQ_U64(rax, (uint64_t)-EINVAL);
    CHECK(uc_call(uc, TEXT, DATA, 0, 1, DMP_HV_OP(DMP_HV_STORE, 3, 0), &rax) == 0);
    CHECK_EQ_U64(rax, (uint64_t)-EINVAL);
    uc_mem_read(uc, DATA, &got, 8);
    CHECK_EQ_U64(got, fill);
    uc_close(uc);
}

/* ---- whole chain ---- */

struct bufmem {
    uint8_t *b;
};
static int bm_read(void *ctx, uint64_t va, void *buf, size_t len)
{
    struct bufmem *m = ctx;
    if (va < TEXT || va + len > TEXT + TEXT_LEN)
        return -EFAULT;
    memcpy(buf, m->b + (va - TEXT), len);
    return 0;
}
static int bm_write(void *ctx, uint64_t va, const void *buf, size_t len)
{
    struct bufmem *m = ctx;
    if (va < TEXT || va + len > TEXT + TEXT_LEN)
        return -EFAULT;
    memcpy(m->b + (va - TEXT), buf, len);
    return 0;
}

static void test_chain(void)
{
    char err[256];
    build_text(true, false);
    static uint8_t orig[TEXT_LEN], live[TEXT_LEN];
    memcpy(orig, text, TEXT_LEN);
    memcpy(live, text, TEXT_LEN);
    uint64_t base, *vas;
    size_t area, n;
    struct dmp_sites sites = { 0 };
    CHECK(dmp_lp_find_area(&cv, &base, &area, err, sizeof(err)) == 0);
    CHECK(dmp_classify_all(&cv, &sites) == 0);
    CHECK(dmp_lp_select_mmu_sites(&cv, &sites, &vas, &n, err, sizeof(err)) == 0 && n == 1);
    struct dmp_planner_opts po = { .stub_base = base, .stub_size = area };
    struct dmp_planner *pl;
    CHECK(dmp_planner_new(&cv, &po, &pl) == 0);
    struct dmp_plan plan;
    CHECK(dmp_plan_site(pl, vas[0], &plan) == 0);
    CHECK(plan.tactic == DMP_TACTIC_RETARGET);
    uint64_t ibase;
    size_t used;
    const uint8_t *img = dmp_planner_stub_area(pl, &ibase, &used);
    CHECK_EQ_U64(ibase, base);
    struct dmp_lp_journal j;
    memset(&j, 0, sizeof(j));
    snprintf(j.mode, sizeof(j.mode), "%s", DMP_LP_MODE);
    CHECK(dmp_lp_build_stub(img, base, used, dmp_planner_hv_slot_va(pl), area, &j) == 0);
    CHECK(dmp_lp_build_stub(img, base, used, dmp_planner_hv_slot_va(pl), used, &j) == -ENOSPC);
    CHECK(dmp_lp_build_stub(img, base, used, base + used, area, &j) == -EINVAL);
    j.plans = &plan;
    j.nplans = 1;
    /* Apply to memory: stub area, then the site. */
    struct bufmem bm = { live };
    struct dmp_patch_mem pm = { &bm, bm_read, bm_write };
    CHECK(bm_write(&bm, j.stub_base, j.stub_new, j.stub_len) == 0);
    CHECK(dmp_plan_apply(&plan, &pm, err, sizeof(err)) == 0);
    CHECK(memcmp(live + (plan.site - TEXT), plan.new_bytes, plan.len) == 0);
    /* Run the patched caller: the store must land through COMMIT -> passthrough. */
    uc_engine *uc = guest_cpu_open(TEXT, TEXT_LEN);
    CHECK(uc != NULL);
    if (uc) {
        uc_mem_write(uc, TEXT, live, TEXT_LEN);
        uint64_t fill = 0, got, rax;
        uc_mem_write(uc, DATA, &fill, 8);
        CHECK(uc_call(uc, TEXT + F_CALLER, DATA + 8 * 3, 0x80000000deadb067ull, 7, 9, &rax) == 0);
        uc_mem_read(uc, DATA + 24, &got, 8);
        CHECK_EQ_U64(got, 0x80000000deadb067ull);
        /* The hv slot was used: point it at a ret and the store must not happen. */
        uint64_t slot = dmp_planner_hv_slot_va(pl), retva = TEXT + F_OTHER;
        uc_mem_write(uc, slot, &retva, 8);
        uc_mem_write(uc, DATA + 24, &fill, 8);
        CHECK(uc_call(uc, TEXT + F_CALLER, DATA + 24, 0x1234, 7, 9, &rax) == 0);
        uc_mem_read(uc, DATA + 24, &got, 8);
        CHECK_EQ_U64(got, 0);
        uc_close(uc);
    }
    /* Journal round trip of this patch, then undo from the parsed journal. */
    char *jt;
    CHECK(dmp_lp_journal_format(&j, &jt) == 0);
    struct dmp_lp_journal back;
    CHECK(dmp_lp_journal_parse(jt, &back, err, sizeof(err)) == 0);
    CHECK_EQ_U64(back.nplans, 1);
    CHECK_EQ_U64(back.stub_len, j.stub_len);
    CHECK(back.stub_new && memcmp(back.stub_new, j.stub_new, j.stub_len) == 0);
    CHECK(back.stub_old && memcmp(back.stub_old, j.stub_old, j.stub_len) == 0);
    if (back.nplans == 1) {
        CHECK(dmp_plan_undo(&back.plans[0], &pm, err, sizeof(err)) == 0);
        CHECK(dmp_plan_undo(&back.plans[0], &pm, err, sizeof(err)) != 0);   /* not patched now */
    }
    CHECK(bm_write(&bm, back.stub_base, back.stub_old, back.stub_len) == 0);
    CHECK(memcmp(live, orig, TEXT_LEN) == 0);   /* byte for byte */
    dmp_lp_journal_free(&back);
    free(jt);
    j.plans = NULL;
    j.nplans = 0;
    dmp_lp_journal_free(&j);
    dmp_planner_free(pl);
    dmp_sites_free(&sites);
    free(vas);
}

/* Live text: the kernel rewrote `jmp __x86_return_thunk` to its chosen thunk at boot. */
static void test_return_thunk(void)
{
    static const char *const names[] = { "srso_return_thunk", "other" };
    for (int k = 0; k < 2; k++) {
        thunk_ret = true;
        other_name = names[k];
        build_text(true, false);
        struct dmp_planner_opts po = { .stub_base = TEXT + 0x10000, .stub_size = 0x10000 };
        struct dmp_planner *pl;
        struct dmp_plan plan;
        CHECK(dmp_planner_new(&cv, &po, &pl) == 0);
        int rc = dmp_plan_site(pl, TEXT + F_CALLER + 3, &plan);
        if (k == 0)
            CHECK(rc == 0 && plan.tactic == DMP_TACTIC_RETARGET);
        else
            CHECK(rc == 1 && plan.reason == DMP_REFUSE_CALLEE_NOT_PURE);
        dmp_planner_free(pl);
    }
    thunk_ret = false;
    other_name = "other";
}

static void test_journal(void)
{
    char err[256];
    struct dmp_plan p;
    memset(&p, 0, sizeof(p));
    p.site = TEXT + 3;
    p.len = 5;
    memcpy(p.old_bytes, "\xe8\x01\x02\x03\x04", 5);
    memcpy(p.new_bytes, "\xe8\x05\x06\x07\x08", 5);
    p.hot = p.site;
    p.tactic = DMP_TACTIC_RETARGET;
    p.stub_id = 0;
    p.stub_va = TEXT + 0x2000;
    p.kind = DMP_SITE_CALL_DIRECT;
    snprintf(p.func, sizeof(p.func), "pte_caller_demo");
    uint8_t o[4] = { 0xcc, 0xcc, 0xcc, 0xcc }, nw[4] = { 1, 2, 3, 4 };
    struct dmp_lp_journal j = { .domid = 7, .uuid = "0123-abcd", .name = "g1", .mode = DMP_LP_MODE,
                                .stub_base = TEXT + 0x2000, .stub_len = 4, .stub_old = o,
                                .stub_new = nw, .hv_update = TEXT + 0x2010, .text_start = TEXT,
                                .text_end = TEXT + TEXT_LEN, .plans = &p, .nplans = 1,
                                .created = 1700000000, .text_hash = 0x0123456789abcdefull };
    char *t;
    CHECK(dmp_lp_journal_format(&j, &t) == 0);
    struct dmp_lp_journal b;
    CHECK(dmp_lp_journal_parse(t, &b, err, sizeof(err)) == 0);
    CHECK_EQ_U64(b.domid, 7);
    CHECK_STREQ(b.uuid, "0123-abcd");
    CHECK_STREQ(b.name, "g1");
    CHECK_STREQ(b.mode, "passthrough");
    CHECK_EQ_U64(b.hv_update, TEXT + 0x2010);
    CHECK_EQ_U64(b.created, 1700000000);
    CHECK_EQ_U64(b.text_hash, 0x0123456789abcdefull);
    /* FNV-1a 64 reference values; any byte change changes the hash. */
    CHECK_EQ_U64(dmp_lp_text_hash((const uint8_t *)"", 0), 0xcbf29ce484222325ull);
    CHECK_EQ_U64(dmp_lp_text_hash((const uint8_t *)"a", 1), 0xaf63dc4c8601ec8cull);
    CHECK(dmp_lp_text_hash((const uint8_t *)"\xe8\x01", 2) !=
          dmp_lp_text_hash((const uint8_t *)"\xe8\x02", 2));
    CHECK(b.nplans == 1 && b.plans[0].site == p.site &&
          memcmp(b.plans[0].new_bytes, p.new_bytes, 5) == 0 && b.plans[0].len == 5);
    dmp_lp_journal_free(&b);
    /* Truncations: every prefix that drops the end line is refused. */
    size_t tl = strlen(t);
    char *cut = strdup(t);
    int refused = 0, tries = 0;
    for (size_t k = 0; k + 1 < tl; k += 7) {
        memcpy(cut, t, k);
        cut[k] = 0;
        tries++;
        if (dmp_lp_journal_parse(cut, &b, err, sizeof(err)) != 0)
            refused++;
        else
            dmp_lp_journal_free(&b);
    }
    CHECK_EQ_U64(refused, tries);
    /* Plan count mismatch, corrupt hex, unknown line, wrong header. */
    char *bad = malloc(tl + 64);
    snprintf(bad, tl + 64, "%s", t);
    char *e = strstr(bad, "end 1");
    e[4] = '2';
    CHECK(dmp_lp_journal_parse(bad, &b, err, sizeof(err)) == -EINVAL);
    snprintf(bad, tl + 64, "%s", t);
    e = strstr(bad, "stub_new 01020304");
    e[9] = 'z';
    CHECK(dmp_lp_journal_parse(bad, &b, err, sizeof(err)) == -EINVAL);
    snprintf(bad, tl + 64, "%s", t);
    e = strstr(bad, "hv_update");
    e[0] = 'X';
    CHECK(dmp_lp_journal_parse(bad, &b, err, sizeof(err)) == -EINVAL);
    CHECK(dmp_lp_journal_parse("dmplive2\nend 0\n", &b, err, sizeof(err)) == -EINVAL);
    snprintf(bad, tl + 64, "%sextra 1\n", t);
    CHECK(dmp_lp_journal_parse(bad, &b, err, sizeof(err)) == -EINVAL);
    free(bad);
    free(cut);
    free(t);
}

int main(void)
{
    test_area();
    test_select();
    test_hot();
    test_any_in();
    test_passthrough();
    test_chain();
    test_return_thunk();
    test_journal();
    return DMP_TEST_SUMMARY("livepatch");
}
