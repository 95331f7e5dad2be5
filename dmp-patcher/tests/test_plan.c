/* Planner, stub and equivalence tests on hand-made byte sequences: each tactic, each refusal
 * rule, and the Capstone 4.0.2 mistakes the decoder corrects. */
#include <capstone/capstone.h>
#include <stdlib.h>
#include <string.h>

#include "dmppatcher/classify.h"
#include "dmppatcher/decode.h"
#include "dmppatcher/equiv.h"
#include "dmppatcher/plan.h"
#include "dmppatcher/stub.h"
#include "dmpcommon/test.h"

/* Unicorn 2.0.1 leaks a translation-block bitmap when pages are unmapped
 * (tb_invalidate_phys_page_fast); it is not ours to free. LeakSanitizer reads this hook. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libunicorn.so\n";
}

#define TEXT 0xffffffff81000000ull
#define FN(i) (TEXT + 0x100ull * (i))

static uint8_t text[0x2000];
static struct dmp_func funcs[32];
static size_t nfuncs;

/* Place a function's bytes at slot i; the rest of its 0x100 bytes stay int3 padding. */
static uint64_t put(int i, const char *name, const uint8_t *b, size_t n)
{
    memcpy(text + 0x100 * i, b, n);
    funcs[nfuncs++] = (struct dmp_func){name, FN(i), n, 't'};
    return FN(i);
}

static void rel32_at(int slot, size_t off, uint64_t target)
{
    uint64_t end = FN(slot) + off + 4;
    int32_t d = (int32_t)(target - end);
    memcpy(text + 0x100 * slot + off, &d, 4);
}

static struct dmp_codeview cv;
static struct dmp_symtable tab;

static void build(void)
{
    memset(text, 0xcc, sizeof(text));
    nfuncs = 0;
    static const uint8_t set_pte[] = {0x0f, 0x1f, 0x44, 0x00, 0x00, 0x48, 0x89, 0x37, 0xc3};
    put(1, "native_set_pte", set_pte, sizeof(set_pte));
    static const uint8_t write_cr3[] = {0x0f, 0x1f, 0x44, 0x00, 0x00, 0x0f, 0x22, 0xdf, 0xc3};
    put(2, "native_write_cr3", write_cr3, sizeof(write_cr3));
    /* caller: push %rbp; call native_set_pte; pop %rbp; ret */
    static const uint8_t caller[] = {0x55, 0xe8, 0, 0, 0, 0, 0x5d, 0xc3};
    put(3, "caller_of_set_pte", caller, sizeof(caller));
    rel32_at(3, 2, FN(1));
    /* ptep_xchg_demo: mov %rsi,%rax; xchg %rax,(%rdi); add $1,%rax; ret */
    static const uint8_t xchg[] = {0x48, 0x89, 0xf0, 0x48, 0x87, 0x07, 0x48, 0x83, 0xc0, 0x01,
                                   0xc3};
    put(4, "ptep_xchg_demo", xchg, sizeof(xchg));
    /* pte_wrprotect_demo: lock andb $0xfd,(%rdi); jne +2; xor %eax,%eax; ret; ret */
    static const uint8_t andb[] = {0xf0, 0x80, 0x27, 0xfd, 0x75, 0x03, 0x31, 0xc0, 0xc3, 0xc3};
    put(5, "pte_wrprotect_demo", andb, sizeof(andb));
    /* pmd_cmpxchg_demo: mov %rsi,%rax; lock cmpxchg %rdx,(%rdi); sete %al; ret */
    static const uint8_t cx[] = {0x48, 0x89, 0xf0, 0xf0, 0x48, 0x0f, 0xb1, 0x17, 0x0f, 0x94,
                                 0xc0, 0xc3};
    put(6, "pmd_cmpxchg_demo", cx, sizeof(cx));
    /* branch_into_demo (pte): xchg %rax,(%rdi); add $1,%rax; jne back to the add; ret */
    static const uint8_t bi[] = {0x48, 0x87, 0x07, 0x48, 0x83, 0xc0, 0x01, 0x75, 0xfa, 0xc3};
    put(7, "pte_branch_into_demo", bi, sizeof(bi));
    /* indirect_demo (pte): xchg %rax,(%rdi); add $1,%rax; jmp *%rdx */
    static const uint8_t ij[] = {0x48, 0x87, 0x07, 0x48, 0x83, 0xc0, 0x01, 0xff, 0xe2};
    put(8, "pte_indirect_demo", ij, sizeof(ij));
    /* short_demo (pte): xchg %rax,(%rdi); ret  -- only 4 bytes to the end */
    static const uint8_t sh[] = {0x48, 0x87, 0x07, 0xc3};
    put(9, "pte_short_demo", sh, sizeof(sh));
    /* ftrace_demo (pte): nop5; xchg; add; ret -- the call itself never overlaps, but a window
     * starting 1 back would; ok. Use a 3-byte insn right after the nop with only ret after. */
    static const uint8_t ft[] = {0x0f, 0x1f, 0x44, 0x00, 0x00, 0x48, 0x87, 0x07, 0xc3};
    put(10, "pte_ftrace_demo", ft, sizeof(ft));
    /* invlpg_demo (tlb): invlpg (%rdi); mov %rsi,%rax; ret */
    static const uint8_t iv[] = {0x0f, 0x01, 0x3f, 0x48, 0x89, 0xf0, 0xc3};
    put(11, "flush_tlb_demo", iv, sizeof(iv));
    /* undecodable_demo (pte): xchg; add; .byte 0x06 (invalid in 64-bit mode); ret */
    static const uint8_t ud[] = {0x48, 0x87, 0x07, 0x48, 0x83, 0xc0, 0x01, 0x06, 0xc3};
    put(12, "pte_undecodable_demo", ud, sizeof(ud));
    /* rip-relative + rel8: xchg %rax,(%rdi); mov 0x10(%rip),%rcx; je +1; ret; ret */
    static const uint8_t rr[] = {0x48, 0x87, 0x07, 0x48, 0x8b, 0x0d, 0x10, 0, 0, 0, 0x74, 0x01,
                                 0xc3, 0xc3};
    put(13, "pte_reloc_demo", rr, sizeof(rr));
    /* a caller whose callee is not a single PT op (caller_of_caller -> caller_of_set_pte) */
    static const uint8_t cc[] = {0xe8, 0, 0, 0, 0, 0xc3};
    put(14, "pgd_call_impure", cc, sizeof(cc));
    rel32_at(14, 1, FN(3));
    /* mov %rdi,%cr3 inline followed by ret-less stuff: mov %rdi,%cr3; mov %rsi,%rax; ret */
    static const uint8_t c3[] = {0x0f, 0x22, 0xdf, 0x48, 0x89, 0xf0, 0x48, 0x89, 0xc2, 0xc3};
    put(15, "switch_mm_demo", c3, sizeof(c3));
    /* call native_write_cr3 */
    static const uint8_t cw[] = {0xe8, 0, 0, 0, 0, 0xc3};
    put(16, "load_cr3_demo", cw, sizeof(cw));
    rel32_at(16, 1, FN(2));
    tab.funcs = funcs;
    tab.n = nfuncs;
    dmp_cv_from_table(&cv, &tab, TEXT, text, sizeof(text));
}

static int plan(struct dmp_planner *p, uint64_t va, struct dmp_plan *pl)
{
    return dmp_plan_site(p, va, pl);
}

static void check_equiv(struct dmp_planner *p, const struct dmp_plan *pl, unsigned states)
{
    uint64_t base;
    size_t used;
    const uint8_t *area = dmp_planner_stub_area(p, &base, &used);
    struct dmp_equiv *h;
    CHECK(dmp_equiv_new(&cv, area, base, used, dmp_planner_hv_slot_va(p), &h) == 0);
    struct dmp_equiv_result r;
    struct dmp_equiv_opts o = {.states = states, .seed = 7};
    CHECK(dmp_equiv_check(h, pl, &o, &r) == 0);
    if (!r.pass)
        fprintf(stderr, "equiv 0x%llx (%s): %s\n", (unsigned long long)pl->site, pl->func, r.why);
    CHECK(r.pass);
    CHECK_EQ_U64(r.runs, states);
    dmp_equiv_free(h);
}

static void test_tactics(void)
{
    struct dmp_planner *p;
    CHECK(dmp_planner_new(&cv, NULL, &p) == 0);
    struct dmp_plan pl;

    /* (a) retarget a call rel32 to native_set_pte */
    CHECK(plan(p, FN(3) + 1, &pl) == 0);
    CHECK_EQ_U64(pl.tactic, DMP_TACTIC_RETARGET);
    CHECK_EQ_U64(pl.new_bytes[0], 0xe8);
    CHECK(pl.stub_id >= 0);
    check_equiv(p, &pl, 200);
    /* (a) for write_cr3 */
    CHECK(plan(p, FN(16), &pl) == 0);
    CHECK_EQ_U64(pl.tactic, DMP_TACTIC_RETARGET);
    check_equiv(p, &pl, 100);

    /* (b) xchg: window starts at the xchg (3) + add (4) = 7 bytes */
    CHECK(plan(p, FN(4) + 3, &pl) == 0);
    CHECK_EQ_U64(pl.tactic, DMP_TACTIC_TRAMPOLINE);
    CHECK_EQ_U64(pl.kind, DMP_SITE_XCHG);
    CHECK_EQ_U64(pl.len, 7);
    CHECK_EQ_U64(pl.new_bytes[0], 0xe9);
    CHECK_EQ_U64(pl.new_bytes[5], 0xcc);
    check_equiv(p, &pl, 200);
    /* The harness must be able to fail: a "patch" that jumps over the xchg drops a write. */
    {
        struct dmp_plan bad = pl;
        int32_t d = (int32_t)((bad.site + bad.len) - (bad.site + 5));
        memcpy(bad.new_bytes + 1, &d, 4);
        uint64_t base;
        size_t used;
        const uint8_t *area = dmp_planner_stub_area(p, &base, &used);
        struct dmp_equiv *h;
        struct dmp_equiv_result r;
        struct dmp_equiv_opts o = {.states = 50, .seed = 3};
        CHECK(dmp_equiv_new(&cv, area, base, used, dmp_planner_hv_slot_va(p), &h) == 0);
        CHECK(dmp_equiv_check(h, &bad, &o, &r) == 0);
        CHECK(!r.pass);
        CHECK(strstr(r.why, "differs") || strstr(r.why, "events"));
        /* One harness keeps its engines' pages and translations from plan to plan: the good
         * and the bad patch of the same site, checked alternately, must each get their own
         * verdict (a translation kept from the other would make them agree). */
        for (int round = 0; round < 2; round++) {
            CHECK(dmp_equiv_check(h, &pl, &o, &r) == 0);
            CHECK(r.pass);
            CHECK(dmp_equiv_check(h, &bad, &o, &r) == 0);
            CHECK(!r.pass);
        }
        dmp_equiv_free(h);
    }
    /* (b) lock andb followed by a rel8 jne that must be promoted to rel32 */
    CHECK(plan(p, FN(5), &pl) == 0);
    CHECK_EQ_U64(pl.tactic, DMP_TACTIC_TRAMPOLINE);
    CHECK_EQ_U64(pl.kind, DMP_SITE_LOCK_RMW);
    CHECK_EQ_U64(pl.nexits, 2);
    check_equiv(p, &pl, 200);
    /* (b) lock cmpxchg: Capstone says READ-only; the id-based classifier must still see a write */
    CHECK(plan(p, FN(6) + 3, &pl) == 0);
    CHECK_EQ_U64(pl.kind, DMP_SITE_CMPXCHG);
    check_equiv(p, &pl, 200);
    /* (b) invlpg */
    CHECK(plan(p, FN(11), &pl) == 0);
    CHECK_EQ_U64(pl.kind, DMP_SITE_INVLPG);
    check_equiv(p, &pl, 100);
    /* (b) RIP-relative operand and rel8 branch relocated */
    CHECK(plan(p, FN(13), &pl) == 0);
    CHECK_EQ_U64(pl.tactic, DMP_TACTIC_TRAMPOLINE);
    CHECK_EQ_U64(pl.len, 10);
    check_equiv(p, &pl, 200);
    /* (b) inline mov to cr3 */
    CHECK(plan(p, FN(15), &pl) == 0);
    CHECK_EQ_U64(pl.kind, DMP_SITE_CR3_WRITE);
    check_equiv(p, &pl, 100);
    dmp_planner_free(p);
}

static void test_refusals(void)
{
    struct dmp_planner *p;
    struct dmp_known_site known[] = {{FN(4) + 3, FN(4) + 6, "alternative"}};
    struct dmp_planner_opts o = {.known = known, .nknown = 1};
    CHECK(dmp_planner_new(&cv, &o, &p) == 0);
    struct dmp_plan pl;
    CHECK(plan(p, FN(7), &pl) == 1);
    CHECK_EQ_U64(pl.reason, DMP_REFUSE_BRANCH_INTO_RANGE);
    CHECK(plan(p, FN(8), &pl) == 1);
    CHECK_EQ_U64(pl.reason, DMP_REFUSE_INDIRECT_JUMP);
    CHECK(plan(p, FN(9), &pl) == 1);
    CHECK_EQ_U64(pl.reason, DMP_REFUSE_TOO_SHORT);
    CHECK(plan(p, FN(10) + 5, &pl) == 1);   /* only way to 5 bytes is backwards into ftrace */
    CHECK(pl.reason == DMP_REFUSE_TOO_SHORT || pl.reason == DMP_REFUSE_FTRACE);
    CHECK(plan(p, FN(12), &pl) == 1);
    CHECK_EQ_U64(pl.reason, DMP_REFUSE_UNDECODABLE);
    CHECK(plan(p, FN(4) + 3, &pl) == 1);
    CHECK_EQ_U64(pl.reason, DMP_REFUSE_KNOWN_SITE);
    CHECK(plan(p, FN(14), &pl) == 1);
    CHECK_EQ_U64(pl.reason, DMP_REFUSE_CALLEE_NOT_PURE);
    CHECK(plan(p, FN(4), &pl) == 1);     /* mov %rsi,%rax is not a page-table write */
    CHECK_EQ_U64(pl.reason, DMP_REFUSE_NOT_A_SITE);
    CHECK(plan(p, FN(4) + 4, &pl) == 1);
    CHECK_EQ_U64(pl.reason, DMP_REFUSE_NOT_BOUNDARY);
    CHECK(plan(p, TEXT + 0x1f00, &pl) == 1);
    CHECK_EQ_U64(pl.reason, DMP_REFUSE_NO_FUNCTION);
    dmp_planner_free(p);

    /* Stub area beyond rel32 reach. */
    struct dmp_planner_opts far = {.stub_base = 0xffff888000000000ull};
    CHECK(dmp_planner_new(&cv, &far, &p) == 0);
    CHECK(plan(p, FN(3) + 1, &pl) == 1);
    CHECK_EQ_U64(pl.reason, DMP_REFUSE_OUT_OF_REACH);
    CHECK(plan(p, FN(4) + 3, &pl) == 1);
    CHECK_EQ_U64(pl.reason, DMP_REFUSE_OUT_OF_REACH);
    dmp_planner_free(p);
    /* The ftrace entry site itself (a call rel32 to an MMU helper at function entry). */
    static const uint8_t ent[] = {0xe8, 0, 0, 0, 0, 0xc3};
    put(17, "entry_call", ent, sizeof(ent));
    (void)ent;
}

static void test_capstone_mistakes(void)
{
    struct dmp_decoder *d;
    CHECK(dmp_decoder_open(&d) == 0);
    struct dmp_insn in;
    /* lock cmpxchg %rdx,(%rdi): a memory write although Capstone reports READ */
    static const uint8_t cx[] = {0xf0, 0x48, 0x0f, 0xb1, 0x17};
    CHECK_EQ_U64(dmp_decode(d, cx, sizeof(cx), TEXT, &in), 5);
    CHECK(in.mem_write);
    CHECK(in.lock);
    CHECK_EQ_U64(dmp_classify_inline(&in, "ptep_set_access_flags", false), DMP_SITE_CMPXCHG);
    static const uint8_t c16[] = {0xf0, 0x48, 0x0f, 0xc7, 0x0f};   /* lock cmpxchg16b (%rdi) */
    CHECK_EQ_U64(dmp_decode(d, c16, sizeof(c16), TEXT, &in), 5);
    CHECK(in.mem_write);
    static const uint8_t mn[] = {0x48, 0x0f, 0xc3, 0x37};           /* movnti %rsi,(%rdi) */
    CHECK_EQ_U64(dmp_decode(d, mn, sizeof(mn), TEXT, &in), 4);
    CHECK(in.mem_write);
    /* serialize; then a nop: a sweep must see both */
    static const uint8_t se[] = {0x0f, 0x01, 0xe8, 0x90, 0xc3};
    struct dmp_insn *v;
    size_t n;
    CHECK(dmp_decode_range(d, se, sizeof(se), TEXT, &v, &n) == 0);
    CHECK_EQ_U64(n, 3);
    CHECK_EQ_U64(v[0].id, DMP_INS_SERIALIZE);
    CHECK_EQ_U64(v[0].len, 3);
    CHECK_EQ_U64(v[1].id, X86_INS_NOP);
    free(v);
    /* ud1 0x10(%rax),%eax = 0f b9 40 10 (4 bytes), then ret */
    static const uint8_t u1[] = {0x0f, 0xb9, 0x40, 0x10, 0xc3};
    CHECK(dmp_decode_range(d, u1, sizeof(u1), TEXT, &v, &n) == 0);
    CHECK_EQ_U64(n, 2);
    CHECK_EQ_U64(v[0].len, 4);
    CHECK_EQ_U64(v[1].flow, DMP_FLOW_RET);
    free(v);
    /* undecodable bytes do not stop the sweep */
    static const uint8_t bad[] = {0x06, 0x90, 0xc3};
    CHECK(dmp_decode_range(d, bad, sizeof(bad), TEXT, &v, &n) == 0);
    CHECK(n >= 3);
    CHECK(!v[0].valid);
    CHECK_EQ_U64(v[n - 1].flow, DMP_FLOW_RET);
    free(v);
    dmp_decoder_close(d);
}

int main(void)
{
    build();
    test_capstone_mistakes();
    test_tactics();
    test_refusals();
    return DMP_TEST_SUMMARY("plan");
}
