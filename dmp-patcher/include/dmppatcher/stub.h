/* Stub ABI and code generation.
 *
 * A patched site never writes a page-table entry or touches CR3/TLB itself. It reaches the
 * hypervisor's exposed update interface ("hv_update") through generated code in a stub area
 * that lies within rel32 reach of the kernel text:
 *
 *   stub area + 0  : hv slot, 8 bytes: address of the hv_update implementation. The harness
 *                    puts a recorder there; the DMP runtime (later issue) puts the per-vCPU
 *                    update-log writer / batched hypercall there. Nothing else changes.
 *   stub area + 16 : the COMMIT stub (shared), then helper stubs and trampolines.
 *
 * hv_update(rdi = arg, rsi = old, rdx = new, rcx = op) follows the SysV C convention (it may
 * clobber rax rcx rdx rsi rdi r8-r11 and flags); it returns rax = 0 when applied. op is
 * DMP_HV_OP(kind, size, site_kind):
 *   DMP_HV_STORE  : memory at arg (ptep), `size` bytes, changes from old to new
 *   DMP_HV_CR3    : load CR3 with arg
 *   DMP_HV_INVLPG : flush the TLB entry for linear address arg
 *   DMP_HV_INVPCID: invpcid type old, descriptor at arg
 *
 * How a trapping instruction I is replaced (the "trap block", used in trampolines and in
 * helper stubs): the block opens a 64-byte frame below %rsp (the kernel has no red zone),
 * computes I's effective address, copies the current memory value into the frame, executes
 * I itself (without LOCK) on that private copy -- so every register and flag result is the
 * CPU's own -- and then calls COMMIT, which hands {address, old, new, op} to hv_update. COMMIT
 * saves and restores every caller-saved register and RFLAGS, so the whole block changes
 * exactly what I changes. Frame layout (offsets from %rsp inside the block):
 *   0: op   8: arg/ptep   16: old   24: new (the private copy I operates on)   32: saved %rdi
 *
 * Helper stubs (tactic a): a `call native_set_pte` site is retargeted to a stub that is the
 * helper's own body, relocated, with its single page-table instruction replaced by a trap
 * block. So a set_pte stub receives ptep in %rdi and the value in %rsi exactly like
 * native_set_pte, and preserves every register and flag native_set_pte preserves.
 */
#ifndef DMP_STUB_H
#define DMP_STUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dmppatcher/decode.h"

enum dmp_hv_kind { DMP_HV_STORE = 1, DMP_HV_CR3 = 2, DMP_HV_INVLPG = 3, DMP_HV_INVPCID = 4 };
#define DMP_HV_OP(kind, size, site_kind) \
    ((uint64_t)(kind) | ((uint64_t)(size) << 8) | ((uint64_t)(site_kind) << 16))
#define DMP_HV_OP_KIND(op) ((unsigned)((op) & 0xff))
#define DMP_HV_OP_SIZE(op) ((unsigned)(((op) >> 8) & 0xff))
#define DMP_HV_OP_SITE(op) ((unsigned)(((op) >> 16) & 0xff))

#define DMP_STUB_FRAME 64
#define DMP_STUB_HV_SLOT_OFF 0
#define DMP_STUB_COMMIT_OFF 16

/* Growable code buffer positioned at a virtual address. */
struct dmp_code_buf {
    uint8_t *b;
    size_t len, cap;
    uint64_t va;          /* address of b[0] */
    bool overflow;
    bool out_of_reach;    /* a rel32 could not reach its target */
};

/* Emit helpers (all set overflow/out_of_reach on failure instead of returning). */
void dmp_cb_init(struct dmp_code_buf *cb, uint8_t *mem, size_t cap, uint64_t va);
void dmp_cb_bytes(struct dmp_code_buf *cb, const void *p, size_t n);
void dmp_cb_rel32(struct dmp_code_buf *cb, uint8_t op, uint64_t target);   /* e8 / e9 */
void dmp_cb_jcc32(struct dmp_code_buf *cb, unsigned cc, uint64_t target); /* 0f 8x */
static inline uint64_t dmp_cb_pc(const struct dmp_code_buf *cb) { return cb->va + cb->len; }

/* The op kind of a trapping instruction (DMP_HV_*), or 0 if it is not one we replace. */
unsigned dmp_trap_kind(const struct dmp_insn *I);

/* Emit the trap block replacing I (I keeps its original va for RIP-relative operands).
 * commit_va is the COMMIT stub. site_kind is recorded in op bits 16..23.
 * Returns 0, or -1 with the reason in why (unsupported operand form). */
int dmp_stub_emit_trap_block(struct dmp_code_buf *cb, const struct dmp_insn *I,
                             uint64_t commit_va, unsigned site_kind, char *why, size_t whylen);

/* Emit the shared COMMIT stub at cb's current position; hv_slot_va is the hv slot. */
void dmp_stub_emit_commit(struct dmp_code_buf *cb, uint64_t hv_slot_va);

/* Copy instruction `in` (originally at in->va) to cb's current position, relocating
 * RIP-relative operands and relative branches (rel8 becomes rel32). Returns 0, or -1 with
 * the reason (e.g. jrcxz/loop have no rel32 form). */
int dmp_stub_relocate(struct dmp_code_buf *cb, const struct dmp_insn *in, char *why,
                      size_t whylen);

#endif
