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

#include "dmp/fastpath.h"
#include "dmp/livepatch.h"
#include "dmppatcher/stub.h"
#include "dmpcommon/test.h"

#define CODE 0xffffffff81a00000ull
#define STACK 0x7000000ull
#define DATA 0x6000000ull
#define RET_SENTINEL 0x5000000ull

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
    unsigned calls;
    uint64_t rax, rdi, rsi, rdx, r10;
};

/* Unicorn does not run SVM/VMX: vmmcall and vmcall are invalid instructions to it. The hook
 * plays Xen; anything else invalid stops the emulation (and fails the call). */
static bool on_invalid(uc_engine *uc, void *user)
{
    struct hv *hv = user;
    uint64_t rip;
    uint8_t b[3];
    uc_reg_read(uc, UC_X86_REG_RIP, &rip);
    if (uc_mem_read(uc, rip, b, 3) != UC_ERR_OK || b[0] != 0x0f || b[1] != 0x01 ||
        (b[2] != 0xd9 && b[2] != 0xc1))
        return false;
    hv->calls++;
    uc_reg_read(uc, UC_X86_REG_RAX, &hv->rax);
    uc_reg_read(uc, UC_X86_REG_RDI, &hv->rdi);
    uc_reg_read(uc, UC_X86_REG_RSI, &hv->rsi);
    uc_reg_read(uc, UC_X86_REG_RDX, &hv->rdx);
    uc_reg_read(uc, UC_X86_REG_R10, &hv->r10);
    if (hv->answer == 0 && hv->apply) {
        unsigned size = DMP_HV_OP_SIZE(hv->rdi);
        uint64_t v = hv->r10;
        uc_mem_write(uc, hv->rsi, &v, size);
    }
    /* A debug Xen clobbers the argument registers: the code must not rely on them. */
    uint64_t junk = 0xdeadbeefdeadbeefull, ret = (uint64_t)hv->answer;
    uc_reg_write(uc, UC_X86_REG_RDI, &junk);
    uc_reg_write(uc, UC_X86_REG_RSI, &junk);
    uc_reg_write(uc, UC_X86_REG_RDX, &junk);
    uc_reg_write(uc, UC_X86_REG_R10, &junk);
    uc_reg_write(uc, UC_X86_REG_RAX, &ret);
    rip += 3;
    uc_reg_write(uc, UC_X86_REG_RIP, &rip);
    return true;
}

static uc_engine *uc_setup(enum dmp_lp_hvcall insn, struct hv *hv)
{
    uc_engine *uc;
    if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK)
        return NULL;
    uc_mem_map(uc, CODE, 0x1000, UC_PROT_ALL);
    uc_mem_map(uc, STACK - 0x10000, 0x20000, UC_PROT_READ | UC_PROT_WRITE);
    uc_mem_map(uc, DATA, 0x1000, UC_PROT_READ | UC_PROT_WRITE);
    uc_mem_map(uc, RET_SENTINEL, 0x1000, UC_PROT_ALL);
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
    uint64_t rsp = STACK - 8, ret = RET_SENTINEL, junk = 0x5555, rbx = 0x1111, rbp = 0x2222;
    uint64_t r12 = 0x3333, r15 = 0x4444;
    uc_mem_write(uc, rsp, &ret, 8);
    uc_reg_write(uc, UC_X86_REG_RSP, &rsp);
    uc_reg_write(uc, UC_X86_REG_RDI, &rdi);
    uc_reg_write(uc, UC_X86_REG_RSI, &rsi);
    uc_reg_write(uc, UC_X86_REG_RDX, &rdx);
    uc_reg_write(uc, UC_X86_REG_RCX, &rcx);
    uc_reg_write(uc, UC_X86_REG_RAX, &junk);
    uc_reg_write(uc, UC_X86_REG_RBX, &rbx);
    uc_reg_write(uc, UC_X86_REG_RBP, &rbp);
    uc_reg_write(uc, UC_X86_REG_R12, &r12);
    uc_reg_write(uc, UC_X86_REG_R15, &r15);
    /* Unicorn ends the run after an invalid-instruction hook, even one that handled it:
     * resume from where the hook left RIP (a bounded number of times). */
    uint64_t rip = CODE, sp;
    for (int run = 0; run < 4 && rip != RET_SENTINEL; run++) {
        if (uc_emu_start(uc, rip, RET_SENTINEL, 0, 10000) != UC_ERR_OK)
            return -1;
        uc_reg_read(uc, UC_X86_REG_RIP, &rip);
    }
    uc_reg_read(uc, UC_X86_REG_RSP, &sp);
    uc_reg_read(uc, UC_X86_REG_RAX, rax);
    uc_reg_read(uc, UC_X86_REG_RBX, &rbx);
    uc_reg_read(uc, UC_X86_REG_RBP, &rbp);
    uc_reg_read(uc, UC_X86_REG_R12, &r12);
    uc_reg_read(uc, UC_X86_REG_R15, &r15);
    return rip == RET_SENTINEL && sp == STACK && rbx == 0x1111 && rbp == 0x2222 &&
           r12 == 0x3333 && r15 == 0x4444 ? 0 : -1;
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
            CHECK_EQ_U64(hv.calls, 1);
            CHECK_EQ_U64(hv.rax, DMP_FASTPATH_HYPERCALL);
            CHECK_EQ_U64(hv.rdi, op);
            CHECK_EQ_U64(hv.rsi, DATA);
            CHECK_EQ_U64(hv.rdx, fill & vmask);
            CHECK_EQ_U64(hv.r10, val & vmask);
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
    CHECK_EQ_U64(hv.calls, 0);
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
