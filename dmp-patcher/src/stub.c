/* Stub and trap-block code generation; the ABI is documented in stub.h and docs/DMP.md. */
#include "dmppatcher/stub.h"

#include <capstone/capstone.h>
#include <stdio.h>
#include <string.h>

void dmp_cb_init(struct dmp_code_buf *cb, uint8_t *mem, size_t cap, uint64_t va)
{
    memset(cb, 0, sizeof(*cb));
    cb->b = mem;
    cb->cap = cap;
    cb->va = va;
}

void dmp_cb_bytes(struct dmp_code_buf *cb, const void *p, size_t n)
{
    if (cb->len + n > cb->cap) {
        cb->overflow = true;
        return;
    }
    memcpy(cb->b + cb->len, p, n);
    cb->len += n;
}

static void cb_u8(struct dmp_code_buf *cb, uint8_t v)
{
    dmp_cb_bytes(cb, &v, 1);
}

static void cb_u32(struct dmp_code_buf *cb, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    dmp_cb_bytes(cb, b, 4);
}

/* rel32 displacement from the end of an instruction ending at `end` to target. */
static uint32_t rel32_to(struct dmp_code_buf *cb, uint64_t end, uint64_t target)
{
    int64_t d = (int64_t)(target - end);
    if (d < INT32_MIN || d > INT32_MAX) {
        cb->out_of_reach = true;
        return 0;
    }
    return (uint32_t)(int32_t)d;
}

void dmp_cb_rel32(struct dmp_code_buf *cb, uint8_t op, uint64_t target)
{
    uint64_t end = dmp_cb_pc(cb) + 5;
    cb_u8(cb, op);
    cb_u32(cb, rel32_to(cb, end, target));
}

void dmp_cb_jcc32(struct dmp_code_buf *cb, unsigned cc, uint64_t target)
{
    uint64_t end = dmp_cb_pc(cb) + 6;
    cb_u8(cb, 0x0f);
    cb_u8(cb, (uint8_t)(0x80 | (cc & 0xf)));
    cb_u32(cb, rel32_to(cb, end, target));
}

/* mov %reg64, disp8(%rsp) */
static void emit_store_rsp(struct dmp_code_buf *cb, int reg, int8_t disp)
{
    uint8_t b[5] = {(uint8_t)(0x48 | (reg >= 8 ? 4 : 0)), 0x89,
                    (uint8_t)(0x44 | ((reg & 7) << 3)), 0x24, (uint8_t)disp};
    dmp_cb_bytes(cb, b, 5);
}

/* mov disp8(%rsp), %reg64 */
static void emit_load_rsp(struct dmp_code_buf *cb, int reg, int8_t disp)
{
    uint8_t b[5] = {(uint8_t)(0x48 | (reg >= 8 ? 4 : 0)), 0x8b,
                    (uint8_t)(0x44 | ((reg & 7) << 3)), 0x24, (uint8_t)disp};
    dmp_cb_bytes(cb, b, 5);
}

/* lea disp8(%rsp), %rsp: moves the stack pointer without touching flags. */
static void emit_rsp_adjust(struct dmp_code_buf *cb, int8_t disp)
{
    uint8_t b[5] = {0x48, 0x8d, 0x64, 0x24, (uint8_t)disp};
    dmp_cb_bytes(cb, b, 5);
}

/* lea <mem>, %rdi where mem is I's memory operand; %rsp-based operands are adjusted by the
 * frame the block has already opened. */
static int emit_lea_rdi(struct dmp_code_buf *cb, const struct dmp_insn *I, char *why,
                        size_t wl)
{
    const struct dmp_memop *m = &I->mem;
    if (m->segment != 0 && m->segment != X86_REG_INVALID) {
        snprintf(why, wl, "segment-prefixed memory operand");
        return -1;
    }
    if (I->rip_rel) {
        uint64_t end = dmp_cb_pc(cb) + 7;
        uint8_t b[3] = {0x48, 0x8d, 0x3d};
        dmp_cb_bytes(cb, b, 3);
        cb_u32(cb, rel32_to(cb, end, I->rip_addr));
        return 0;
    }
    int base = m->base ? dmp_x86_gpr_num(m->base) : -1;
    int index = m->index ? dmp_x86_gpr_num(m->index) : -1;
    if ((m->base && base < 0) || (m->index && index < 0) || index == 4) {
        snprintf(why, wl, "memory operand with non-64-bit address registers");
        return -1;
    }
    int64_t disp = m->disp + (base == 4 ? DMP_STUB_FRAME : 0);
    if (disp < INT32_MIN || disp > INT32_MAX) {
        snprintf(why, wl, "displacement out of range");
        return -1;
    }
    unsigned scale_bits = m->scale == 8 ? 3 : m->scale == 4 ? 2 : m->scale == 2 ? 1 : 0;
    uint8_t rex = (uint8_t)(0x48 | (index >= 8 ? 2 : 0) | (base >= 8 ? 1 : 0));
    uint8_t sib = (uint8_t)((scale_bits << 6) | ((index < 0 ? 4 : index & 7) << 3) |
                            (base < 0 ? 5 : base & 7));
    uint8_t modrm = base < 0 ? 0x3c : 0xbc;   /* reg=rdi, rm=SIB; mod 00 (no base) or 10 */
    uint8_t b[4] = {rex, 0x8d, modrm, sib};
    dmp_cb_bytes(cb, b, 4);
    cb_u32(cb, (uint32_t)(int32_t)disp);
    return 0;
}

/* I re-encoded with its memory operand replaced by 24(%rsp) (the private copy), LOCK dropped. */
static int emit_on_copy(struct dmp_code_buf *cb, const struct dmp_insn *I, char *why, size_t wl)
{
    struct dmp_x86_layout l;
    if (dmp_x86_layout(I->bytes, I->len, &l) != 0) {
        snprintf(why, wl, "unsupported encoding (VEX/EVEX)");
        return -1;
    }
    for (unsigned i = 0; i < l.nprefix; i++) {
        uint8_t p = I->bytes[i];
        if (p == 0xf0)
            continue;
        if (p == 0x64 || p == 0x65 || p == 0x67) {
            snprintf(why, wl, "segment or address-size prefix");
            return -1;
        }
        cb_u8(cb, p);
    }
    if (l.rex_off >= 0)
        cb_u8(cb, (uint8_t)(I->bytes[l.rex_off] & ~0x03));   /* base/index now %rsp */
    dmp_cb_bytes(cb, I->bytes + l.op_off, l.op_len);
    uint8_t modrm = I->bytes[l.modrm_off];
    uint8_t tail[3] = {(uint8_t)(0x44 | (modrm & 0x38)), 0x24, 24};
    dmp_cb_bytes(cb, tail, 3);
    dmp_cb_bytes(cb, I->bytes + l.imm_off, (size_t)(I->len - l.imm_off));
    return 0;
}

unsigned dmp_trap_kind(const struct dmp_insn *I)
{
    if (!I->valid)
        return 0;
    switch (I->id) {
    case X86_INS_MOV:
        if (I->nregs >= 1 && I->regs[0] == X86_REG_CR3)
            return DMP_HV_CR3;
        return I->mem_write ? DMP_HV_STORE : 0;
    case X86_INS_INVLPG:
        return DMP_HV_INVLPG;
    case X86_INS_INVPCID:
        return DMP_HV_INVPCID;
    case X86_INS_MOVNTI: case X86_INS_XCHG: case X86_INS_CMPXCHG: case X86_INS_AND:
    case X86_INS_OR: case X86_INS_XOR: case X86_INS_ADD: case X86_INS_SUB: case X86_INS_BTR:
    case X86_INS_BTS: case X86_INS_BTC: case X86_INS_INC: case X86_INS_DEC: case X86_INS_XADD:
        return I->mem_write ? DMP_HV_STORE : 0;
    default:
        return 0;
    }
}

static void emit_op(struct dmp_code_buf *cb, uint64_t op)
{
    uint8_t b[4] = {0x48, 0xc7, 0x04, 0x24};   /* movq $imm32, (%rsp) */
    dmp_cb_bytes(cb, b, 4);
    cb_u32(cb, (uint32_t)op);
}

int dmp_stub_emit_trap_block(struct dmp_code_buf *cb, const struct dmp_insn *I,
                             uint64_t commit_va, unsigned site_kind, char *why, size_t wl)
{
    unsigned kind = dmp_trap_kind(I);
    if (!kind) {
        snprintf(why, wl, "not a page-table or TLB instruction: %s", I->text);
        return -1;
    }
    const int RDI = 7;
    if (kind == DMP_HV_CR3) {
        int r = I->nregs >= 2 ? dmp_x86_gpr_num(I->regs[1]) : -1;
        if (r < 0 || r == 4) {
            snprintf(why, wl, "unsupported CR3 source operand");
            return -1;
        }
        emit_rsp_adjust(cb, -DMP_STUB_FRAME);
        emit_store_rsp(cb, r, 8);
        emit_op(cb, DMP_HV_OP(kind, 8, site_kind));
    } else {
        unsigned size = kind == DMP_HV_STORE ? I->mem.size : 8;
        if (!I->has_mem || (kind == DMP_HV_STORE && size != 1 && size != 2 && size != 4 &&
                            size != 8)) {
            snprintf(why, wl, "unsupported memory operand size %u", (unsigned)I->mem.size);
            return -1;
        }
        /* bt/btr/bts/btc with a register bit offset address a bit string that may lie
         * outside the operand: running them on an 8-byte copy would change their meaning. */
        if ((I->id == X86_INS_BT || I->id == X86_INS_BTR || I->id == X86_INS_BTS ||
             I->id == X86_INS_BTC) && I->nregs > 0) {
            snprintf(why, wl, "bit-string instruction with a register bit offset");
            return -1;
        }
        if (I->reads_rsp_reg) {
            snprintf(why, wl, "instruction uses %%rsp as a register operand");
            return -1;
        }
        emit_rsp_adjust(cb, -DMP_STUB_FRAME);
        if (kind == DMP_HV_INVPCID) {
            int r = I->nregs >= 1 ? dmp_x86_gpr_num(I->regs[0]) : -1;
            if (r < 0) {
                snprintf(why, wl, "unsupported invpcid type operand");
                return -1;
            }
            emit_store_rsp(cb, r, 16);
        }
        emit_store_rsp(cb, RDI, 32);
        if (emit_lea_rdi(cb, I, why, wl) != 0)
            return -1;
        emit_store_rsp(cb, RDI, 8);
        if (kind == DMP_HV_STORE) {
            static const uint8_t ld1[] = {0x0f, 0xb6, 0x3f}, ld2[] = {0x0f, 0xb7, 0x3f},
                                 ld4[] = {0x8b, 0x3f}, ld8[] = {0x48, 0x8b, 0x3f};
            if (size == 1)
                dmp_cb_bytes(cb, ld1, sizeof(ld1));
            else if (size == 2)
                dmp_cb_bytes(cb, ld2, sizeof(ld2));
            else if (size == 4)
                dmp_cb_bytes(cb, ld4, sizeof(ld4));
            else
                dmp_cb_bytes(cb, ld8, sizeof(ld8));
            emit_store_rsp(cb, RDI, 16);
            emit_store_rsp(cb, RDI, 24);
        }
        emit_load_rsp(cb, RDI, 32);
        emit_op(cb, DMP_HV_OP(kind, size, site_kind));
        if (kind == DMP_HV_STORE && emit_on_copy(cb, I, why, wl) != 0)
            return -1;
    }
    dmp_cb_rel32(cb, 0xe8, commit_va);
    emit_rsp_adjust(cb, DMP_STUB_FRAME);
    if (cb->overflow || cb->out_of_reach) {
        snprintf(why, wl, cb->overflow ? "stub area full" : "stub out of rel32 reach");
        return -1;
    }
    return 0;
}

void dmp_stub_emit_commit(struct dmp_code_buf *cb, uint64_t hv_slot_va)
{
    /* Frame of the calling block: 10 saved words + return address above %rsp. */
    static const uint8_t save[] = {0x9c, 0x50, 0x51, 0x52, 0x56, 0x57,
                                   0x41, 0x50, 0x41, 0x51, 0x41, 0x52, 0x41, 0x53};
    static const uint8_t args[] = {
        0x48, 0x8b, 0x7c, 0x24, 88 + 8,    /* mov frame+8(%rsp),%rdi   arg/ptep */
        0x48, 0x8b, 0x74, 0x24, 88 + 16,   /* mov frame+16(%rsp),%rsi  old */
        0x48, 0x8b, 0x54, 0x24, 88 + 24,   /* mov frame+24(%rsp),%rdx  new */
        0x48, 0x8b, 0x4c, 0x24, 88 + 0,    /* mov frame+0(%rsp),%rcx   op */
    };
    static const uint8_t restore[] = {0x41, 0x5b, 0x41, 0x5a, 0x41, 0x59, 0x41, 0x58,
                                      0x5f, 0x5e, 0x5a, 0x59, 0x58, 0x9d, 0xc3};
    dmp_cb_bytes(cb, save, sizeof(save));
    dmp_cb_bytes(cb, args, sizeof(args));
    uint64_t end = dmp_cb_pc(cb) + 6;
    uint8_t call[2] = {0xff, 0x15};   /* call *hv_slot(%rip) */
    dmp_cb_bytes(cb, call, 2);
    cb_u32(cb, rel32_to(cb, end, hv_slot_va));
    dmp_cb_bytes(cb, restore, sizeof(restore));
}

int dmp_stub_relocate(struct dmp_code_buf *cb, const struct dmp_insn *in, char *why, size_t wl)
{
    if (!in->valid) {
        snprintf(why, wl, "undecodable instruction at 0x%llx", (unsigned long long)in->va);
        return -1;
    }
    if (in->has_target) {
        size_t i = 0;
        while (i < in->len && (in->bytes[i] == 0x2e || in->bytes[i] == 0x3e ||
                               in->bytes[i] == 0xf2))
            i++;   /* branch hints / bnd prefix carry no meaning once relocated */
        uint8_t op = i < in->len ? in->bytes[i] : 0;
        if (in->flow == DMP_FLOW_CALL)
            dmp_cb_rel32(cb, 0xe8, in->target);
        else if (in->flow == DMP_FLOW_JMP)
            dmp_cb_rel32(cb, 0xe9, in->target);
        else if (in->flow == DMP_FLOW_JCC && op >= 0x70 && op <= 0x7f)
            dmp_cb_jcc32(cb, op & 0xf, in->target);
        else if (in->flow == DMP_FLOW_JCC && op == 0x0f && i + 1 < in->len &&
                 (in->bytes[i + 1] & 0xf0) == 0x80)
            dmp_cb_jcc32(cb, in->bytes[i + 1] & 0xf, in->target);
        else {
            snprintf(why, wl, "branch without a rel32 form: %s", in->text);
            return -1;
        }
    } else if (in->rip_rel) {
        struct dmp_x86_layout l;
        if (dmp_x86_layout(in->bytes, in->len, &l) != 0 || l.disp_len != 4) {
            snprintf(why, wl, "RIP-relative operand in unsupported encoding: %s", in->text);
            return -1;
        }
        uint8_t tmp[16];
        memcpy(tmp, in->bytes, in->len);
        uint32_t d = rel32_to(cb, dmp_cb_pc(cb) + in->len, in->rip_addr);
        for (int k = 0; k < 4; k++)
            tmp[l.disp_off + k] = (uint8_t)(d >> (8 * k));
        dmp_cb_bytes(cb, tmp, in->len);
    } else {
        dmp_cb_bytes(cb, in->bytes, in->len);
    }
    if (cb->overflow || cb->out_of_reach) {
        snprintf(why, wl, cb->overflow ? "stub area full" : "stub out of rel32 reach");
        return -1;
    }
    return 0;
}
