/* Tests of log mode's guest code (stub_log.S) on Unicorn, with a per-CPU area behind %gs and
 * the FLUSH hypercall played by a hook: stores inside a logged lazy-MMU section are logged,
 * not made; the section's end hands the log to "Xen" in one call and stores itself whatever
 * Xen did not apply, in order; interrupt context, preemptible sections, other sizes and kinds
 * store directly; a full log is flushed; a log shorter than the configured minimum is stored
 * by the guest without a hypercall; draining (log mode switched off by dom0) empties the log. Also the configuration of the blob, the pv-op site plans and the journal round trip. */
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
#define PCPU 0x8000000ull
#define OFF_THIS_CPU 0x100ull
#define OFF_PREEMPT 0x200ull
#define OFF_LOG 0x1000ull
#define LOG (PCPU + OFF_LOG)

struct hv {
    int64_t answer;          /* < 0: errno; else entries "Xen" applies (capped at count) */
    bool all;                /* apply the whole log, return its length */
    struct guest_hypercall hc;
};

struct env {
    uc_engine *uc;
    struct hv hv;
    struct dmp_lp_journal j;
    uint64_t enter, leave, cfg_on;
};

/* The FLUSH hypercall played as Xen: apply the first entries of the log, answer how many. */
static bool on_invalid(uc_engine *uc, void *user)
{
    struct hv *hv = user;
    if (!guest_hypercall_enter(uc, &hv->hc))
        return false;
    int64_t ret = hv->answer;
    if (hv->all || ret > (int64_t)hv->hc.rdx)
        ret = (int64_t)hv->hc.rdx;
    for (int64_t i = 0; i < ret; i++) {
        uint64_t e[2];
        uc_mem_read(uc, hv->hc.rsi + 16 * (uint64_t)i, e, 16);
        uc_mem_write(uc, e[0], &e[1], 8);
    }
    guest_hypercall_return(uc, (uint64_t)ret);
    return true;
}

static int env_setup_min(struct env *e, enum dmp_lp_hvcall insn, uint64_t log_size,
                         uint64_t min_flush)
{
    memset(e, 0, sizeof(*e));
    uint8_t img[64];
    memset(img, 0x90, sizeof(img));
    snprintf(e->j.mode, sizeof(e->j.mode), "%s", DMP_LP_MODE);
    if (dmp_lp_build_stub(img, CODE, sizeof(img), CODE, 64 * 1024, &e->j) != 0)
        return -1;
    struct dmp_lp_log_cfg cfg = { OFF_THIS_CPU, OFF_PREEMPT, OFF_LOG, log_size, min_flush };
    if (dmp_lp_use_log(&e->j, insn, &cfg, &e->enter, &e->leave) != 0)
        return -1;
    uint64_t log_off;
    if (dmp_lp_log_info(&e->j, &e->cfg_on, &log_off) != 0 || log_off != OFF_LOG)
        return -1;
    if (!(e->uc = guest_cpu_open(CODE, 0x2000)))
        return -1;
    uc_mem_map(e->uc, PCPU, 0x2000, UC_PROT_READ | UC_PROT_WRITE);
    uc_mem_write(e->uc, CODE, e->j.stub_new, e->j.stub_len);
    uint64_t base = PCPU, gs = PCPU;
    uc_mem_write(e->uc, PCPU + OFF_THIS_CPU, &base, 8);
    uc_reg_write(e->uc, UC_X86_REG_GS_BASE, &gs);
    uc_hook hk;
    uc_hook_add(e->uc, &hk, UC_HOOK_INSN_INVALID, (void *)on_invalid, &e->hv, 1, 0);
    return 0;
}

static int env_setup(struct env *e, enum dmp_lp_hvcall insn, uint64_t log_size)
{
    return env_setup_min(e, insn, log_size, 0);
}

static void env_free(struct env *e)
{
    if (e->uc)
        uc_close(e->uc);
    dmp_lp_journal_free(&e->j);
}

static void set_preempt(struct env *e, uint32_t pc)
{
    uc_mem_write(e->uc, PCPU + OFF_PREEMPT, &pc, 4);
}

static void set_log(struct env *e, uint32_t count, uint32_t active)
{
    uc_mem_write(e->uc, LOG, &count, 4);
    uc_mem_write(e->uc, LOG + 4, &active, 4);
}

static uint32_t log_count(struct env *e)
{
    uint32_t v = 0;
    uc_mem_read(e->uc, LOG, &v, 4);
    return v;
}

static uint32_t log_active(struct env *e)
{
    uint32_t v = 0;
    uc_mem_read(e->uc, LOG + 4, &v, 4);
    return v;
}

static uint64_t mem64(struct env *e, uint64_t va)
{
    uint64_t v = 0;
    uc_mem_read(e->uc, va, &v, 8);
    return v;
}

static const int regs[] = { UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDX,
                            UC_X86_REG_RSI, UC_X86_REG_RDI, UC_X86_REG_RBP, UC_X86_REG_R8,
                            UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11, UC_X86_REG_R12,
                            UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15 };
#define NREGS (sizeof(regs) / sizeof(regs[0]))

/* Call entry with in[] (in regs[] order); out[] gets the registers after. 0, or -1 if it did
 * not return to the caller with the stack balanced. */
static int run(struct env *e, uint64_t entry, const uint64_t *in, uint64_t *out)
{
    return guest_cpu_call(e->uc, entry, regs, in, out, NREGS);
}

static void fill_regs(uint64_t *r)
{
    for (size_t i = 0; i < NREGS; i++)
        r[i] = 0x1000000000000000ull * (i + 1) + i;
}

/* enter / leave preserve every general register. */
static int call_hook(struct env *e, uint64_t entry)
{
    uint64_t in[NREGS], out[NREGS];
    fill_regs(in);
    if (run(e, entry, in, out))
        return -1;
    return memcmp(in, out, sizeof(in)) == 0 ? 0 : -2;
}

/* hv_update(arg, old, new, op): 0 and rax, callee-saved registers kept. */
static int store(struct env *e, uint64_t va, uint64_t old, uint64_t val, uint64_t op,
                 uint64_t *rax)
{
    uint64_t in[NREGS], out[NREGS];
    fill_regs(in);
    in[5] = va;     /* rdi */
    in[4] = old;    /* rsi */
    in[3] = val;    /* rdx */
    in[2] = op;     /* rcx */
    if (run(e, e->j.hv_update, in, out))
        return -1;
    *rax = out[0];
    /* rbx rbp r12-r15 */
    static const size_t saved[] = { 1, 6, 11, 12, 13, 14 };
    for (size_t i = 0; i < sizeof(saved) / sizeof(saved[0]); i++)
        if (in[saved[i]] != out[saved[i]])
            return -2;
    return 0;
}

#define OP8 DMP_HV_OP(DMP_HV_STORE, 8, DMP_SITE_PTE_STORE)

static void test_section(enum dmp_lp_hvcall insn, int64_t answer, bool all)
{
    struct env e;
    CHECK(env_setup(&e, insn, 3088) == 0);
    uint64_t rax, zero = 0;
    for (int i = 0; i < 4; i++)
        uc_mem_write(e.uc, DATA + 8 * (uint64_t)i, &zero, 8);
    /* Outside a section: stored right away, nothing logged, no hypercall. */
    set_preempt(&e, 1);
    CHECK(store(&e, DATA, 0, 0x11, OP8, &rax) == 0 && rax == 0);
    CHECK_EQ_U64(mem64(&e, DATA), 0x11);
    CHECK_EQ_U64(log_count(&e), 0);
    /* enter with preemption disabled: a logged section. */
    CHECK(call_hook(&e, e.enter) == 0);
    CHECK_EQ_U64(log_active(&e), 1);
    CHECK(store(&e, DATA + 8, 0, 0x22, OP8, &rax) == 0 && rax == 0);
    CHECK(store(&e, DATA + 16, 0, 0x33, OP8, &rax) == 0 && rax == 0);
    CHECK(store(&e, DATA + 8, 0x22, 0x44, OP8, &rax) == 0 && rax == 0);   /* same entry again */
    CHECK_EQ_U64(mem64(&e, DATA + 8), 0);       /* logged, not made */
    CHECK_EQ_U64(mem64(&e, DATA + 16), 0);
    CHECK_EQ_U64(log_count(&e), 3);
    CHECK_EQ_U64(mem64(&e, LOG + 16), DATA + 8);
    CHECK_EQ_U64(mem64(&e, LOG + 24), 0x22);
    CHECK_EQ_U64(mem64(&e, LOG + 48), DATA + 8);
    CHECK_EQ_U64(mem64(&e, LOG + 56), 0x44);
    /* A 4-byte store and an unknown kind are not logged. */
    CHECK(store(&e, DATA + 24, 0, 0x55, DMP_HV_OP(DMP_HV_STORE, 4, 0), &rax) == 0 && rax == 0);
    CHECK_EQ_U64(mem64(&e, DATA + 24), 0x55);
    CHECK(store(&e, DATA + 24, 0, 0x66, DMP_HV_OP(9, 8, 0), &rax) == 0);
    CHECK_EQ_U64(rax, (uint64_t)-EINVAL);
    CHECK_EQ_U64(log_count(&e), 3);
    CHECK_EQ_U64(e.hv.hc.calls, 0);
    /* leave: one FLUSH with the log; whatever Xen leaves is stored in order. */
    e.hv = (struct hv){ .answer = answer, .all = all };
    CHECK(call_hook(&e, e.leave) == 0);
    CHECK_EQ_U64(e.hv.hc.calls, 1);
    CHECK_EQ_U64(e.hv.hc.rax, DMP_FASTPATH_HYPERCALL);
    CHECK_EQ_U64(e.hv.hc.rdi, DMP_XEN_OP_FLUSH);   /* dmpxen/abi.h: what stub_log.S hard-codes */
    CHECK_EQ_U64(e.hv.hc.rsi, LOG + 16);
    CHECK_EQ_U64(e.hv.hc.rdx, 3);
    CHECK_EQ_U64(e.hv.hc.r10, 0);
    CHECK_EQ_U64(mem64(&e, DATA + 8), 0x44);    /* the later store wins */
    CHECK_EQ_U64(mem64(&e, DATA + 16), 0x33);
    CHECK_EQ_U64(log_count(&e), 0);
    CHECK_EQ_U64(log_active(&e), 0);
    /* After the section stores are made directly again. */
    CHECK(store(&e, DATA, 0x11, 0x77, OP8, &rax) == 0 && rax == 0);
    CHECK_EQ_U64(mem64(&e, DATA), 0x77);
    CHECK_EQ_U64(e.hv.hc.calls, 1);
    env_free(&e);
}

static void test_contexts(void)
{
    struct env e;
    CHECK(env_setup(&e, DMP_LP_VMMCALL, 3088) == 0);
    uint64_t rax;
    /* Preemptible: the section could migrate, so it is not logged. */
    set_preempt(&e, 0);
    CHECK(call_hook(&e, e.enter) == 0);
    CHECK_EQ_U64(log_active(&e), 0);
    /* Hard interrupt inside someone's logged section: stores direct, enter/leave do nothing,
     * the section's log is left for its owner. */
    set_log(&e, 0, 1);
    set_preempt(&e, 1);
    CHECK(store(&e, DATA, 0, 0x1, OP8, &rax) == 0);
    CHECK_EQ_U64(log_count(&e), 1);
    static const uint32_t irq[] = { 0x10001, 0x100, 0x100000 };   /* hardirq, softirq, NMI */
    for (size_t i = 0; i < 3; i++) {
        set_preempt(&e, irq[i]);
        CHECK(store(&e, DATA + 8, 0, 0x100 + i, OP8, &rax) == 0 && rax == 0);
        CHECK_EQ_U64(mem64(&e, DATA + 8), 0x100 + i);
        CHECK(call_hook(&e, e.enter) == 0);
        CHECK(call_hook(&e, e.leave) == 0);
        CHECK_EQ_U64(log_count(&e), 1);
        CHECK_EQ_U64(log_active(&e), 1);
    }
    CHECK_EQ_U64(e.hv.hc.calls, 0);
    /* Back in the owner's context the section ends normally. */
    set_preempt(&e, 1);
    e.hv = (struct hv){ .all = true };
    CHECK(call_hook(&e, e.leave) == 0);
    CHECK_EQ_U64(e.hv.hc.calls, 1);
    CHECK_EQ_U64(mem64(&e, DATA), 0x1);
    env_free(&e);
}

static void test_full_and_drain(void)
{
    struct env e;
    /* Room for 4 entries. */
    CHECK(env_setup(&e, DMP_LP_VMMCALL, DMP_LP_LOG_HDR + 4 * 16 + 8) == 0);
    uint64_t rax;
    set_preempt(&e, 2);
    CHECK(call_hook(&e, e.enter) == 0);
    e.hv = (struct hv){ .all = true };
    for (uint64_t i = 0; i < 5; i++)
        CHECK(store(&e, DATA + 8 * i, 0, 0x10 + i, OP8, &rax) == 0 && rax == 0);
    CHECK_EQ_U64(e.hv.hc.calls, 1);                /* the fifth store flushed the full log */
    CHECK_EQ_U64(e.hv.hc.rdx, 4);
    CHECK_EQ_U64(log_count(&e), 1);
    CHECK_EQ_U64(mem64(&e, LOG + 16), DATA + 32);
    for (uint64_t i = 0; i < 4; i++)
        CHECK_EQ_U64(mem64(&e, DATA + 8 * i), 0x10 + i);
    /* dom0 switches log mode off: the next store empties the log, ends the section, and is
     * made directly; enter no longer starts a logged section. */
    uint64_t off = 0;
    uc_mem_write(e.uc, e.cfg_on, &off, 8);
    CHECK(store(&e, DATA + 40, 0, 0x99, OP8, &rax) == 0 && rax == 0);
    CHECK_EQ_U64(e.hv.hc.calls, 2);
    CHECK_EQ_U64(e.hv.hc.rdx, 1);
    CHECK_EQ_U64(mem64(&e, DATA + 32), 0x14);
    CHECK_EQ_U64(mem64(&e, DATA + 40), 0x99);
    CHECK_EQ_U64(log_count(&e), 0);
    CHECK_EQ_U64(log_active(&e), 0);
    CHECK(call_hook(&e, e.enter) == 0);
    CHECK_EQ_U64(log_active(&e), 0);
    env_free(&e);
}

/* Logs shorter than min_flush are stored by the guest at the section's end, in order, with
 * no hypercall; longer ones go to Xen. */
static void test_min_flush(void)
{
    struct env e;
    CHECK(env_setup_min(&e, DMP_LP_VMMCALL, 3088, 4) == 0);
    uint64_t rax, zero = 0;
    for (int i = 0; i < 8; i++)
        uc_mem_write(e.uc, DATA + 8 * (uint64_t)i, &zero, 8);
    set_preempt(&e, 1);
    e.hv = (struct hv){ .all = true };
    for (int round = 0; round < 2; round++) {
        uint64_t n = round ? 5 : 2;
        CHECK(call_hook(&e, e.enter) == 0);
        for (uint64_t i = 0; i < n; i++)
            CHECK(store(&e, DATA + 8 * i, 0, 0x100 * (round + 1) + i, OP8, &rax) == 0 && rax == 0);
        CHECK(store(&e, DATA, 0, 0x999 + (uint64_t)round, OP8, &rax) == 0);   /* same word again */
        CHECK_EQ_U64(mem64(&e, DATA + 8), 0);
        CHECK(call_hook(&e, e.leave) == 0);
        CHECK_EQ_U64(e.hv.hc.calls, (uint64_t)round);    /* 2+1 entries: none; 5+1: one */
        CHECK_EQ_U64(mem64(&e, DATA), 0x999 + (uint64_t)round);
        for (uint64_t i = 1; i < n; i++)
            CHECK_EQ_U64(mem64(&e, DATA + 8 * i), 0x100 * (round + 1) + i);
        CHECK_EQ_U64(log_count(&e), 0);
        CHECK_EQ_U64(log_active(&e), 0);
        for (int i = 0; i < 8; i++)
            uc_mem_write(e.uc, DATA + 8 * (uint64_t)i, &zero, 8);
    }
    env_free(&e);
}

static void test_config_and_plans(void)
{
    CHECK_EQ_U64(dmp_lp_log_capacity(3088), 192);
    CHECK_EQ_U64(dmp_lp_log_capacity(1 << 20), DMP_LP_LOG_MAX);
    CHECK_EQ_U64(dmp_lp_log_capacity(DMP_LP_LOG_HDR + 15), 0);
    struct env e;
    CHECK(env_setup(&e, DMP_LP_VMCALL, 3088) == 0);
    CHECK_STREQ(e.j.mode, DMP_LP_MODE_LOG);
    const struct dmp_lp_log_layout *lay;
    dmp_lp_log_code(&lay);
    size_t blob = (size_t)(e.j.hv_update - lay->hv_log - CODE);
    const uint8_t *b = e.j.stub_new + blob;
    CHECK(b[lay->hvcall] == 0x0f && b[lay->hvcall + 1] == 0x01 && b[lay->hvcall + 2] == 0xc1);
    CHECK_EQ_U64(e.enter, CODE + blob + lay->enter);
    CHECK_EQ_U64(e.cfg_on, CODE + blob + lay->cfg_on);
    uint64_t slot;
    memcpy(&slot, e.j.stub_new, 8);
    CHECK_EQ_U64(slot, e.j.hv_update);
    /* A log mode journal is not converted again; a fast path one gives no log info. */
    uint64_t a, c;
    struct dmp_lp_log_cfg cfg = { 1, 2, 3, 3088, 0 };
    CHECK(dmp_lp_use_log(&e.j, DMP_LP_VMMCALL, &cfg, &a, &c) == -EINVAL);
    /* Pv-op site plans: NOPs then a call ending at the site's end. */
    static const uint8_t nop6[] = { 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 };
    struct dmp_plan p[2];
    char err[256];
    uint64_t site = CODE + 0x1000;
    CHECK(dmp_lp_pv_site_plan(site, nop6, 6, e.enter, "enter", &p[0], err, sizeof(err)) == 0);
    CHECK(p[0].new_bytes[0] == 0x90 && p[0].new_bytes[1] == 0xe8);
    int32_t rel;
    memcpy(&rel, p[0].new_bytes + 2, 4);
    CHECK_EQ_U64(site + 6 + (uint64_t)(int64_t)rel, e.enter);
    CHECK(memcmp(p[0].old_bytes, nop6, 6) == 0 && p[0].tactic == DMP_TACTIC_RETARGET);
    uint8_t call6[] = { 0xff, 0x15, 0, 0, 0, 0 };   /* a PV kernel keeps its pv-op calls */
    CHECK(dmp_lp_pv_site_plan(site, call6, 6, e.enter, "enter", &p[1], err, sizeof(err)) ==
          -EINVAL);
    CHECK(strstr(err, "does not hold the NOP") != NULL);
    CHECK(dmp_lp_pv_site_plan(site, nop6, 4, e.enter, "enter", &p[1], err, sizeof(err)) == -EINVAL);
    CHECK(dmp_lp_pv_site_plan(site, nop6, 6, site + (1ull << 32), "leave", &p[1], err,
                              sizeof(err)) == -EINVAL);
    static const uint8_t nop5[] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
    CHECK(dmp_lp_pv_site_plan(site, nop5, 5, e.leave, "leave", &p[1], err, sizeof(err)) == 0);
    CHECK(p[1].new_bytes[0] == 0xe8);
    /* Journal round trip: mode, the blob and the site plans. */
    e.j.plans = p;
    e.j.nplans = 2;
    char *text;
    CHECK(dmp_lp_journal_format(&e.j, &text) == 0);
    e.j.plans = NULL;
    e.j.nplans = 0;
    struct dmp_lp_journal back;
    CHECK(dmp_lp_journal_parse(text, &back, err, sizeof(err)) == 0);
    CHECK_STREQ(back.mode, DMP_LP_MODE_LOG);
    CHECK_EQ_U64(back.nplans, 2);
    if (back.nplans == 2)
        CHECK(memcmp(back.plans[0].new_bytes, p[0].new_bytes, 6) == 0);
    uint64_t on_va, log_off;
    CHECK(dmp_lp_log_info(&back, &on_va, &log_off) == 0);
    CHECK_EQ_U64(on_va, e.cfg_on);
    CHECK_EQ_U64(log_off, OFF_LOG);
    free(text);
    dmp_lp_journal_free(&back);
    env_free(&e);
}

int main(void)
{
    test_section(DMP_LP_VMMCALL, 0, true);       /* Xen applies everything */
    test_section(DMP_LP_VMCALL, 0, true);
    test_section(DMP_LP_VMMCALL, -EPERM, false); /* fast path off: the guest stores all */
    test_section(DMP_LP_VMMCALL, 1, false);      /* Xen refuses the second entry */
    test_section(DMP_LP_VMMCALL, 0, false);      /* applies none, returns 0 */
    test_contexts();
    test_full_and_drain();
    test_min_flush();
    test_config_and_plans();
    return DMP_TEST_SUMMARY("logstub");
}
