/* Tests of the fast path's pure parts: the hv_update code for fast path mode decodes (Capstone)
 * as the instruction sequence intended, for vmmcall and vmcall; executed on Unicorn with the
 * hypercall emulated by a hook it passes the right registers to Xen, returns 0 when Xen
 * applied the store, and falls back to the passthrough store (same memory result as
 * passthrough) whenever Xen refuses; other kinds go to passthrough without a hypercall.
 * The conversion of a passthrough stub image into fast path mode, vendor selection, and the
 * rejection-reason names are checked too. */
#include <capstone/capstone.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unicorn/unicorn.h>

#include "guest_cpu.h"
#include "dmp/fastpath.h"
#include "dmp/livepatch.h"
#include "dmppatcher/stub.h"
#include "dmpcommon/test.h"

#define CODE 0xffffffff81a00000ull

/* ---- decoding ---- */

static void test_decode(enum dmp_lp_hvcall insn)
{
    static const unsigned want[] = {
        X86_INS_ENDBR64, X86_INS_MOVZX, X86_INS_CMP, X86_INS_JNE,
        X86_INS_PUSH, X86_INS_PUSH, X86_INS_PUSH, X86_INS_PUSH,
        X86_INS_MOV, X86_INS_MOV, X86_INS_MOV, X86_INS_MOV, X86_INS_MOV,
        0 /* vmmcall / vmcall */,
        X86_INS_POP, X86_INS_POP, X86_INS_POP, X86_INS_POP,
        X86_INS_TEST, X86_INS_JNE, X86_INS_RET };
    size_t n = sizeof(want) / sizeof(want[0]);
    size_t len;
    const uint8_t *code = dmp_lp_fastpath_code(insn, &len);
    csh h;
    CHECK(cs_open(CS_ARCH_X86, CS_MODE_64, &h) == CS_ERR_OK);
    cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
    cs_insn *ins;
    size_t got = cs_disasm(h, code, len, CODE, 0, &ins);
    CHECK_EQ_U64(got, n);
    size_t covered = 0;
    for (size_t i = 0; i < got && i < n; i++) {
        unsigned w = want[i] ? want[i] : (insn == DMP_LP_VMMCALL ? X86_INS_VMMCALL : X86_INS_VMCALL);
        if (ins[i].id != w)
            printf("  insn %zu: %s %s (id %u, want %u)\n", i, ins[i].mnemonic, ins[i].op_str,
                   ins[i].id, w);
        CHECK(ins[i].id == w);
        covered += ins[i].size;
    }
    CHECK_EQ_U64(covered, len);   /* every byte is part of an instruction: no gap, no tail */
    if (got == n) {
        /* Operands: the four moves build the hypercall registers, eax = 54, both branches
         * land exactly at the end (where passthrough is placed). */
        CHECK_STREQ(ins[2].op_str, "eax, 1");
        CHECK_STREQ(ins[8].op_str, "r10, rdx");
        CHECK_STREQ(ins[9].op_str, "rdx, rsi");
        CHECK_STREQ(ins[10].op_str, "rsi, rdi");
        CHECK_STREQ(ins[11].op_str, "rdi, rcx");
        CHECK_STREQ(ins[12].op_str, "eax, 0x36");
        CHECK_EQ_U64(ins[3].detail->x86.operands[0].imm, CODE + len);
        CHECK_EQ_U64(ins[19].detail->x86.operands[0].imm, CODE + len);
        /* Pops restore in the reverse order of the pushes. */
        CHECK_STREQ(ins[4].op_str, "rdi");
        CHECK_STREQ(ins[17].op_str, "rdi");
        CHECK_STREQ(ins[7].op_str, "rcx");
        CHECK_STREQ(ins[14].op_str, "rcx");
    }
    if (got)
        cs_free(ins, got);
    cs_close(&h);
}

/* ---- execution with an emulated hypercall ---- */

struct hv {
    int64_t answer;          /* what "Xen" returns */
    bool apply;              /* "Xen" performs the store when answering 0 */
    struct guest_hypercall hc;
};

/* The hypercall played as Xen: perform the store when told to, answer. */
static bool on_invalid(uc_engine *uc, void *user)
{
    struct hv *hv = user;
    if (!guest_hypercall_enter(uc, &hv->hc))
        return false;
    if (hv->answer == 0 && hv->apply) {
        unsigned size = DMP_HV_OP_SIZE(hv->hc.rdi);
        uint64_t v = hv->hc.r10;
        uc_mem_write(uc, hv->hc.rsi, &v, size);
    }
    guest_hypercall_return(uc, (uint64_t)hv->answer);
    return true;
}

static uc_engine *uc_setup(enum dmp_lp_hvcall insn, struct hv *hv)
{
    uc_engine *uc = guest_cpu_open(CODE, 0x1000);
    if (!uc)
        return NULL;
    size_t fl, pl;
    const uint8_t *f = dmp_lp_fastpath_code(insn, &fl);
    const uint8_t *p = dmp_lp_passthrough_code(&pl);
    uc_mem_write(uc, CODE, f, fl);
    uc_mem_write(uc, CODE + fl, p, pl);
    uc_hook hk;
    uc_hook_add(uc, &hk, UC_HOOK_INSN_INVALID, (void *)on_invalid, hv, 1, 0);
    return uc;
}

/* Call hv_update(rdi, rsi, rdx, rcx); 0 and *rax, or -1 if it did not return normally or
 * changed a callee-saved register. */
static int call(uc_engine *uc, uint64_t rdi, uint64_t rsi, uint64_t rdx, uint64_t rcx,
                uint64_t *rax)
{
    static const int regs[] = { UC_X86_REG_RDI, UC_X86_REG_RSI, UC_X86_REG_RDX, UC_X86_REG_RCX,
                                UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RBP, UC_X86_REG_R12,
                                UC_X86_REG_R15 };
    enum { NREGS = sizeof(regs) / sizeof(regs[0]), SAVED = 5 /* rbx rbp r12 r15 from here */ };
    const uint64_t in[NREGS] = { rdi, rsi, rdx, rcx, 0x5555, 0x1111, 0x2222, 0x3333, 0x4444 };
    uint64_t out[NREGS] = { 0 };
    int rc = guest_cpu_call(uc, CODE, regs, in, out, NREGS);
    *rax = out[4];
    return rc == 0 && memcmp(in + SAVED, out + SAVED, sizeof(in) - SAVED * sizeof(in[0])) == 0
               ? 0 : -1;
}

static void test_exec(enum dmp_lp_hvcall insn)
{
    struct hv hv = { 0 };
    uc_engine *uc = uc_setup(insn, &hv);
    CHECK(uc != NULL);
    if (!uc)
        return;
    static const struct { unsigned size; uint64_t expect; } sz[] = {
        { 8, 0x1122334455667788ull }, { 4, 0xaaaaaaaa55667788ull },
        { 2, 0xaaaaaaaaaaaa7788ull }, { 1, 0xaaaaaaaaaaaaaa88ull } };
    const uint64_t fill = 0xaaaaaaaaaaaaaaaaull, val = 0x1122334455667788ull;
    /* Xen's answers: applied; fast path off; old changed; bad memory; no such hypercall. */
    static const int64_t answers[] = { 0, -EPERM, -EAGAIN, -EFAULT, -ENOSYS };
    for (size_t a = 0; a < sizeof(answers) / sizeof(answers[0]); a++) {
        for (size_t i = 0; i < 4; i++) {
            uint64_t got, rax, op = DMP_HV_OP(DMP_HV_STORE, sz[i].size, DMP_SITE_PTE_STORE);
            uint64_t vmask = sz[i].size == 8 ? ~0ull : ((1ull << (8 * sz[i].size)) - 1);
            uc_mem_write(uc, DATA, &fill, 8);
            hv = (struct hv){ .answer = answers[a], .apply = true };
            CHECK(call(uc, DATA, fill & vmask, val & vmask, op, &rax) == 0);
            uc_mem_read(uc, DATA, &got, 8);
            CHECK_EQ_U64(got, sz[i].expect);   /* same result as passthrough, either way */
            CHECK_EQ_U64(rax, 0);
            CHECK_EQ_U64(hv.hc.calls, 1);
            CHECK_EQ_U64(hv.hc.rax, DMP_FASTPATH_HYPERCALL);
            CHECK_EQ_U64(hv.hc.rdi, op);
            CHECK_EQ_U64(hv.hc.rsi, DATA);
            CHECK_EQ_U64(hv.hc.rdx, fill & vmask);
            CHECK_EQ_U64(hv.hc.r10, val & vmask);
        }
    }
    /* "Xen" answers 0 without storing: the code must not store again (no double write). */
    uint64_t got, rax, fill2 = 0x7777777777777777ull;
    uc_mem_write(uc, DATA, &fill2, 8);
    hv = (struct hv){ .answer = 0, .apply = false };
    CHECK(call(uc, DATA, fill2, val, DMP_HV_OP(DMP_HV_STORE, 8, 0), &rax) == 0);
    uc_mem_read(uc, DATA, &got, 8);
    CHECK_EQ_U64(got, fill2);
    CHECK_EQ_U64(rax, 0);
    /* Other kinds: no hypercall; unknown kind -EINVAL, memory untouched (passthrough). */
    hv = (struct hv){ .answer = 0, .apply = true };
    CHECK(call(uc, DATA, 0, 1, DMP_HV_OP(9, 8, 0), &rax) == 0);
    CHECK_EQ_U64(rax, (uint64_t)-EINVAL);
    CHECK_EQ_U64(hv.hc.calls, 0);
    uc_mem_read(uc, DATA, &got, 8);
    CHECK_EQ_U64(got, fill2);
    uc_close(uc);
}

/* ---- stub image conversion ---- */

static void test_convert(void)
{
    uint8_t img[64];
    memset(img, 0x90, sizeof(img));
    const uint64_t base = CODE;
    struct dmp_lp_journal j;
    memset(&j, 0, sizeof(j));
    snprintf(j.mode, sizeof(j.mode), "%s", DMP_LP_MODE);
    CHECK(dmp_lp_build_stub(img, base, sizeof(img), base, 64 * 1024, &j) == 0);
    uint64_t pt_at = j.hv_update;
    size_t old_len = j.stub_len, fl, pl;
    dmp_lp_fastpath_code(DMP_LP_VMMCALL, &fl);
    const uint8_t *pt = dmp_lp_passthrough_code(&pl);
    CHECK(dmp_lp_use_fastpath(&j, DMP_LP_VMMCALL) == 0);
    CHECK_STREQ(j.mode, DMP_LP_MODE_FASTPATH);
    CHECK_EQ_U64(j.hv_update, pt_at);              /* fast path where passthrough was */
    CHECK_EQ_U64(j.stub_len, old_len + fl);
    uint64_t slot;
    memcpy(&slot, j.stub_new, 8);
    CHECK_EQ_U64(slot, j.hv_update);
    CHECK(memcmp(j.stub_new + (pt_at - base) + fl, pt, pl) == 0);
    CHECK(memcmp(j.stub_new + 8, img + 8, sizeof(img) - 8) == 0);   /* planner image kept */
    for (size_t i = 0; i < j.stub_len; i++)
        if (j.stub_old[i] != DMP_LP_PAD) {
            CHECK(!"stub_old is all padding");
            break;
        }
    /* Twice, or on anything not in passthrough layout: refused, journal unchanged. */
    CHECK(dmp_lp_use_fastpath(&j, DMP_LP_VMMCALL) == -EINVAL);
    CHECK_STREQ(j.mode, DMP_LP_MODE_FASTPATH);
    struct dmp_lp_journal k;
    memset(&k, 0, sizeof(k));
    snprintf(k.mode, sizeof(k.mode), "%s", DMP_LP_MODE);
    CHECK(dmp_lp_build_stub(img, base, sizeof(img), base, 64 * 1024, &k) == 0);
    k.stub_new[k.hv_update - base] ^= 0xff;   /* not the passthrough code any more */
    CHECK(dmp_lp_use_fastpath(&k, DMP_LP_VMMCALL) == -EINVAL);
    CHECK_STREQ(k.mode, DMP_LP_MODE);
    /* The journal round trip keeps the mode. */
    char *text, err[128];
    CHECK(dmp_lp_journal_format(&j, &text) == 0);
    struct dmp_lp_journal back;
    CHECK(dmp_lp_journal_parse(text, &back, err, sizeof(err)) == 0);
    CHECK_STREQ(back.mode, DMP_LP_MODE_FASTPATH);
    CHECK_EQ_U64(back.hv_update, j.hv_update);
    CHECK_EQ_U64(back.stub_len, j.stub_len);
    free(text);
    dmp_lp_journal_free(&back);
    dmp_lp_journal_free(&j);
    dmp_lp_journal_free(&k);
}

static void test_small_parts(void)
{
    enum dmp_lp_hvcall h = DMP_LP_VMCALL;
    CHECK(dmp_lp_hvcall_for_vendor("AuthenticAMD", &h) == 0 && h == DMP_LP_VMMCALL);
    CHECK(dmp_lp_hvcall_for_vendor("GenuineIntel", &h) == 0 && h == DMP_LP_VMCALL);
    CHECK(dmp_lp_hvcall_for_vendor("HygonGenuine", &h) == 0 && h == DMP_LP_VMMCALL);
    CHECK(dmp_lp_hvcall_for_vendor("WeirdCPU", &h) == -ENOTSUP);
    CHECK_STREQ(dmp_lp_hvcall_name(DMP_LP_VMMCALL), "vmmcall");
    CHECK_STREQ(dmp_lp_hvcall_name(DMP_LP_VMCALL), "vmcall");
    CHECK_STREQ(dmp_fastpath_reject_name(DMP_FP_REJ_DISABLED), "disabled");
    CHECK_STREQ(dmp_fastpath_reject_name(DMP_FP_REJ_MISMATCH), "mismatch");
    CHECK(dmp_fastpath_reject_name(6) == NULL);
    CHECK(dmp_fastpath_reject_name(99) == NULL);
    struct dmp_fastpath_stats st = { .rejected = { 1, 2, 3, 4, 5, 6, 0, 0 } };
    CHECK_EQ_U64(dmp_fastpath_rejected_total(&st), 21);
    /* The op encoding shared with Xen: kind in 0-7, size in 8-15, nothing above 23. */
    CHECK_EQ_U64(DMP_HV_OP(DMP_HV_STORE, 8, 0xff) >> 24, 0);
    CHECK_EQ_U64(DMP_HV_OP(DMP_HV_STORE, 8, 0) , 0x801);
}

int main(void)
{
    test_decode(DMP_LP_VMMCALL);
    test_decode(DMP_LP_VMCALL);
    test_exec(DMP_LP_VMMCALL);
    test_exec(DMP_LP_VMCALL);
    test_convert();
    test_small_parts();
    return DMP_TEST_SUMMARY("fastpath");
}
