/* Capstone wrapper with the 4.0.2 workarounds described in decode.h. */
#include "dmppatcher/decode.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dmp_decoder {
    csh cs;
    cs_insn *ci;
};

int dmp_decoder_open(struct dmp_decoder **out)
{
    struct dmp_decoder *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &d->cs) != CS_ERR_OK) {
        free(d);
        return -EINVAL;
    }
    if (cs_option(d->cs, CS_OPT_DETAIL, CS_OPT_ON) != CS_ERR_OK) {
        cs_close(&d->cs);
        free(d);
        return -EINVAL;
    }
    d->ci = cs_malloc(d->cs);
    if (!d->ci) {
        cs_close(&d->cs);
        free(d);
        return -ENOMEM;
    }
    *out = d;
    return 0;
}

void dmp_decoder_close(struct dmp_decoder *d)
{
    if (!d)
        return;
    cs_free(d->ci, 1);
    cs_close(&d->cs);
    free(d);
}

static bool is_legacy_prefix(uint8_t b)
{
    return b == 0x66 || b == 0x67 || b == 0xf0 || b == 0xf2 || b == 0xf3 || b == 0x2e ||
           b == 0x36 || b == 0x3e || b == 0x26 || b == 0x64 || b == 0x65;
}

int dmp_x86_layout(const uint8_t *b, size_t len, struct dmp_x86_layout *o)
{
    size_t i = 0;
    memset(o, 0, sizeof(*o));
    o->rex_off = -1;
    o->sib_off = -1;
    while (i < len && i < 14 && is_legacy_prefix(b[i]))
        i++;
    o->nprefix = (uint8_t)i;
    if (i < len && (b[i] & 0xf0) == 0x40)
        o->rex_off = (int)i++;
    if (i >= len)
        return -1;
    if (b[i] == 0xc4 || b[i] == 0xc5 || b[i] == 0x62 || b[i] == 0x8f)
        return -1;   /* VEX/EVEX/XOP (0x8f /0 is pop, but never a PTE or branch site) */
    o->op_off = (uint8_t)i;
    if (b[i] == 0x0f) {
        if (i + 1 >= len)
            return -1;
        o->op_len = (b[i + 1] == 0x38 || b[i + 1] == 0x3a) ? 3 : 2;
    } else {
        o->op_len = 1;
    }
    i += o->op_len;
    if (i >= len)
        return -1;
    o->modrm_off = (uint8_t)i;
    uint8_t modrm = b[i++];
    unsigned mod = modrm >> 6, rm = modrm & 7;
    if (mod != 3 && rm == 4) {
        if (i >= len)
            return -1;
        o->sib_off = (int)i;
        uint8_t sib = b[i++];
        if (mod == 0 && (sib & 7) == 5)
            o->disp_len = 4;
    }
    if (mod == 1)
        o->disp_len = 1;
    else if (mod == 2)
        o->disp_len = 4;
    else if (mod == 0 && rm == 5)
        o->disp_len = 4;   /* RIP-relative */
    o->disp_off = (uint8_t)i;
    i += o->disp_len;
    if (i > len)
        return -1;
    o->imm_off = (uint8_t)i;
    return 0;
}

int dmp_x86_gpr_num(unsigned cs_reg)
{
    static const unsigned by_num[16] = {
        X86_REG_RAX, X86_REG_RCX, X86_REG_RDX, X86_REG_RBX, X86_REG_RSP, X86_REG_RBP,
        X86_REG_RSI, X86_REG_RDI, X86_REG_R8, X86_REG_R9, X86_REG_R10, X86_REG_R11,
        X86_REG_R12, X86_REG_R13, X86_REG_R14, X86_REG_R15};
    for (int i = 0; i < 16; i++)
        if (by_num[i] == cs_reg)
            return i;
    return -1;
}

bool dmp_insn_is_nop5(const struct dmp_insn *in)
{
    static const uint8_t nop5[5] = {0x0f, 0x1f, 0x44, 0x00, 0x00};
    return in->valid && in->len == 5 && memcmp(in->bytes, nop5, 5) == 0;
}

static bool is_rsp(unsigned r)
{
    return r == X86_REG_RSP || r == X86_REG_ESP || r == X86_REG_SP || r == X86_REG_SPL;
}

/* Instructions whose memory destination Capstone 4.0.2 under-reports, or that always write
 * their memory operand regardless of what the access flags say. */
static bool id_writes_mem(unsigned id)
{
    switch (id) {
    case X86_INS_CMPXCHG: case X86_INS_CMPXCHG8B: case X86_INS_CMPXCHG16B:
    case X86_INS_MOVNTI: case X86_INS_XCHG: case X86_INS_XADD:
        return true;
    default:
        return false;
    }
}

static void fill_invalid(struct dmp_insn *o, const uint8_t *code, size_t avail, uint64_t va)
{
    memset(o, 0, sizeof(*o));
    o->va = va;
    o->len = 1;
    o->bytes[0] = avail ? code[0] : 0;
    snprintf(o->text, sizeof(o->text), "(bad) %02x", o->bytes[0]);
}

size_t dmp_decode(struct dmp_decoder *d, const uint8_t *code, size_t avail, uint64_t va,
                  struct dmp_insn *o)
{
    if (avail == 0) {
        fill_invalid(o, code, avail, va);
        return 1;
    }
    const uint8_t *p = code;
    size_t sz = avail > 15 ? 15 : avail;
    uint64_t addr = va;
    if (!cs_disasm_iter(d->cs, &p, &sz, &addr, d->ci)) {
        /* serialize (0f 01 e8) is unknown to Capstone 4.0.2 and must not derail the sweep. */
        if (avail >= 3 && code[0] == 0x0f && code[1] == 0x01 && code[2] == 0xe8) {
            memset(o, 0, sizeof(*o));
            o->va = va;
            o->len = 3;
            o->valid = true;
            o->id = DMP_INS_SERIALIZE;
            memcpy(o->bytes, code, 3);
            snprintf(o->text, sizeof(o->text), "serialize");
            return 3;
        }
        fill_invalid(o, code, avail, va);
        return 1;
    }
    const cs_insn *ci = d->ci;
    const cs_x86 *x = &ci->detail->x86;
    memset(o, 0, sizeof(*o));
    o->va = va;
    o->valid = true;
    o->id = ci->id;
    o->len = (uint8_t)ci->size;
    if (ci->id == X86_INS_UD2B) {
        /* ud1 r, r/m: Capstone 4.0.2 gets the length wrong; recompute from ModRM. */
        struct dmp_x86_layout l;
        if (dmp_x86_layout(code, avail > 15 ? 15 : avail, &l) != 0) {
            fill_invalid(o, code, avail, va);
            return 1;
        }
        o->len = l.imm_off;
    }
    memcpy(o->bytes, code, o->len);
    snprintf(o->text, sizeof(o->text), "%s%s%s", ci->mnemonic, ci->op_str[0] ? " " : "",
             ci->op_str);
    o->eflags = x->eflags;
    o->lock = x->prefix[0] == X86_PREFIX_LOCK;

    bool write_flag = false;
    for (int i = 0; i < x->op_count; i++) {
        const cs_x86_op *op = &x->operands[i];
        if (op->type == X86_OP_MEM) {
            o->has_mem = true;
            o->mem.base = op->mem.base;
            o->mem.index = op->mem.index;
            o->mem.segment = op->mem.segment;
            o->mem.scale = op->mem.scale;
            o->mem.disp = op->mem.disp;
            o->mem.size = op->size;
            if (op->access & CS_AC_WRITE)
                write_flag = true;
            if (op->mem.base == X86_REG_RIP) {
                o->rip_rel = true;
                o->rip_addr = va + o->len + (uint64_t)op->mem.disp;
            }
        } else if (op->type == X86_OP_REG) {
            if (o->nregs < 4)
                o->regs[o->nregs++] = op->reg;
            if (is_rsp(op->reg))
                o->reads_rsp_reg = true;
        }
    }
    /* lea/nop-with-memory do not touch memory at all. */
    if (ci->id == X86_INS_LEA || ci->id == X86_INS_NOP)
        o->has_mem = false;
    o->mem_write = o->has_mem && (write_flag || id_writes_mem(ci->id));

    bool is_jump = cs_insn_group(d->cs, ci, CS_GRP_JUMP);
    bool is_call = cs_insn_group(d->cs, ci, CS_GRP_CALL);
    bool imm_target = x->op_count == 1 && x->operands[0].type == X86_OP_IMM;
    if (cs_insn_group(d->cs, ci, CS_GRP_RET) || ci->id == X86_INS_IRETQ) {
        o->flow = DMP_FLOW_RET;
    } else if (is_call) {
        o->flow = imm_target ? DMP_FLOW_CALL : DMP_FLOW_CALL_IND;
    } else if (is_jump) {
        if (!imm_target)
            o->flow = DMP_FLOW_JMP_IND;
        else
            o->flow = ci->id == X86_INS_JMP ? DMP_FLOW_JMP : DMP_FLOW_JCC;
    } else if (ci->id == X86_INS_INT3 || ci->id == X86_INS_UD2 || ci->id == X86_INS_UD2B ||
               ci->id == X86_INS_UD0 || ci->id == X86_INS_HLT) {
        o->flow = DMP_FLOW_TRAP;
    }
    if (imm_target && (is_call || is_jump)) {
        o->has_target = true;
        o->target = (uint64_t)x->operands[0].imm;
    }
    return o->len;
}

int dmp_decode_range(struct dmp_decoder *d, const uint8_t *code, size_t len, uint64_t va,
                     struct dmp_insn **out, size_t *n)
{
    size_t cap = len / 3 + 8, cnt = 0, off = 0;
    struct dmp_insn *v = malloc(cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    while (off < len) {
        if (cnt == cap) {
            cap *= 2;
            struct dmp_insn *nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                free(v);
                return -ENOMEM;
            }
            v = nv;
        }
        size_t l = dmp_decode(d, code + off, len - off, va + off, &v[cnt]);
        if (off + l > len) {   /* instruction runs past the range: treat as undecodable */
            fill_invalid(&v[cnt], code + off, len - off, va + off);
            l = 1;
        }
        off += l;
        cnt++;
    }
    *out = v;
    *n = cnt;
    return 0;
}

/* Privileged instructions other than the ones modelled as trap events would change the
 * emulated CPU mode (CR0/CR4, MSRs, descriptor tables, mode switches): the state is not
 * comparable, so the run is abandoned. */
bool dmp_insn_changes_cpu_mode(const struct dmp_insn *in)
{
    if (!in->valid)
        return false;
    switch (in->id) {
    case X86_INS_MOV:
        return in->nregs >= 1 && in->regs[0] != X86_REG_CR3 &&
               ((in->regs[0] >= X86_REG_CR0 && in->regs[0] <= X86_REG_CR15) ||
                (in->regs[0] >= X86_REG_DR0 && in->regs[0] <= X86_REG_DR15));
    case X86_INS_WRMSR: case X86_INS_LGDT: case X86_INS_LIDT: case X86_INS_LTR:
    case X86_INS_LLDT: case X86_INS_IRETQ: case X86_INS_IRET: case X86_INS_SYSRET:
    case X86_INS_SYSEXIT: case X86_INS_SWAPGS: case X86_INS_HLT: case X86_INS_RETF:
    case X86_INS_LJMP: case X86_INS_LCALL: case X86_INS_WBINVD: case X86_INS_XSETBV:
    case X86_INS_WRFSBASE: case X86_INS_WRGSBASE: case X86_INS_SYSCALL: case X86_INS_SYSENTER:
    case X86_INS_INT: case X86_INS_INT1: case X86_INS_INTO: case X86_INS_CLTS:
    case X86_INS_LMSW: case X86_INS_XRSTORS: case X86_INS_XRSTOR: case X86_INS_XRSTOR64:
    case X86_INS_XRSTORS64: case X86_INS_RSM: case X86_INS_VMCALL: case X86_INS_VMMCALL:
        return true;
    default:
        return false;
    }
}

