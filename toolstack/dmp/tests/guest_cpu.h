/* A guest vCPU on Unicorn for the tests of the code dom0 puts into a guest (the hv_update
 * modes, the stubs, log mode's stub_log.S): the memory every test maps, a call into guest code
 * that returns to a sentinel address, and the hypercall instruction played by the test, since
 * Unicorn runs neither SVM nor VMX (vmmcall and vmcall are invalid instructions to it).
 * Static functions in a header: each user is a single translation unit. */
#ifndef DMP_TESTS_GUEST_CPU_H
#define DMP_TESTS_GUEST_CPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unicorn/unicorn.h>

#define STACK 0x7000000ull              /* the stack grows down from here (64 KiB mapped) */
#define DATA 0x6000000ull               /* one page the code under test writes */
#define RET_SENTINEL 0x5000000ull       /* the return address: reaching it ends a call */

/* An x86-64 engine with code [code, code + code_len) mapped read-write-execute, the stack,
 * DATA and the sentinel page; NULL if Unicorn cannot open one. */
static inline uc_engine *guest_cpu_open(uint64_t code, size_t code_len)
{
    uc_engine *uc;
    if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK)
        return NULL;
    uc_mem_map(uc, code, code_len, UC_PROT_ALL);
    uc_mem_map(uc, STACK - 0x10000, 0x20000, UC_PROT_READ | UC_PROT_WRITE);
    uc_mem_map(uc, DATA, 0x1000, UC_PROT_READ | UC_PROT_WRITE);
    uc_mem_map(uc, RET_SENTINEL, 0x1000, UC_PROT_ALL);
    return uc;
}

/* Call entry with regs[i] = in[i] (i < n) and RET_SENTINEL as the return address; out[i] gets
 * regs[i] back afterwards. Unicorn ends a run after an invalid-instruction hook even when the
 * hook handled it (a hypercall), so runs resume where the hook left RIP, a bounded number of
 * times. 0, or -1 if the code did not return to its caller with the stack balanced. */
static inline int guest_cpu_call(uc_engine *uc, uint64_t entry, const int *regs,
                                 const uint64_t *in, uint64_t *out, size_t n)
{
    uint64_t rsp = STACK - 8, ret = RET_SENTINEL;
    uc_mem_write(uc, rsp, &ret, 8);
    uc_reg_write(uc, UC_X86_REG_RSP, &rsp);
    for (size_t i = 0; i < n; i++)
        uc_reg_write(uc, regs[i], &in[i]);
    uint64_t rip = entry, sp;
    for (int run = 0; run < 8 && rip != RET_SENTINEL; run++) {
        if (uc_emu_start(uc, rip, RET_SENTINEL, 0, 100000) != UC_ERR_OK)
            return -1;
        uc_reg_read(uc, UC_X86_REG_RIP, &rip);
    }
    uc_reg_read(uc, UC_X86_REG_RSP, &sp);
    for (size_t i = 0; i < n; i++)
        uc_reg_read(uc, regs[i], &out[i]);
    return rip == RET_SENTINEL && sp == STACK ? 0 : -1;
}

/* The hypercalls the guest code made: how many, and the registers of the last one. */
struct guest_hypercall {
    unsigned calls;
    uint64_t rax, rdi, rsi, rdx, r10;
};

/* For an invalid-instruction hook: true when the instruction at RIP is vmmcall or vmcall, with
 * the call counted and its registers in *hc; the hook then plays Xen and ends the call with
 * guest_hypercall_return. Anything else invalid: false, which stops the emulation. */
static inline bool guest_hypercall_enter(uc_engine *uc, struct guest_hypercall *hc)
{
    uint64_t rip;
    uint8_t b[3];
    uc_reg_read(uc, UC_X86_REG_RIP, &rip);
    if (uc_mem_read(uc, rip, b, 3) != UC_ERR_OK || b[0] != 0x0f || b[1] != 0x01 ||
        (b[2] != 0xd9 && b[2] != 0xc1))
        return false;
    hc->calls++;
    uc_reg_read(uc, UC_X86_REG_RAX, &hc->rax);
    uc_reg_read(uc, UC_X86_REG_RDI, &hc->rdi);
    uc_reg_read(uc, UC_X86_REG_RSI, &hc->rsi);
    uc_reg_read(uc, UC_X86_REG_RDX, &hc->rdx);
    uc_reg_read(uc, UC_X86_REG_R10, &hc->r10);
    return true;
}

/* Xen's return: ret in rax, the argument registers clobbered (a debug Xen does that, so the
 * guest code must not rely on them), RIP past the 3-byte instruction. */
static inline void guest_hypercall_return(uc_engine *uc, uint64_t ret)
{
    uint64_t junk = 0xdeadbeefdeadbeefull, rip;
    uc_reg_write(uc, UC_X86_REG_RDI, &junk);
    uc_reg_write(uc, UC_X86_REG_RSI, &junk);
    uc_reg_write(uc, UC_X86_REG_RDX, &junk);
    uc_reg_write(uc, UC_X86_REG_R10, &junk);
    uc_reg_write(uc, UC_X86_REG_RAX, &ret);
    uc_reg_read(uc, UC_X86_REG_RIP, &rip);
    rip += 3;
    uc_reg_write(uc, UC_X86_REG_RIP, &rip);
}

#endif
