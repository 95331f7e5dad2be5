/* Robust x86-64 instruction decoding on top of Capstone 4.0.2 (detail mode).
 *
 * Capstone 4.0.2 has known mistakes on kernel text; this module is the one place that works
 * around them so every caller sees corrected facts:
 *  - `serialize` (0f 01 e8, used by sync_core) is not decoded: we synthesise it (3 bytes).
 *  - `ud1` (0f b9 /r, Capstone's "ud2b") decodes with a wrong length: we recompute the length
 *    from the ModRM/SIB/displacement bytes.
 *  - `lock cmpxchg`, `cmpxchg16b`, `movnti` report their memory operand as READ only: callers
 *    must use dmp_insn.mem_write, which is derived from the instruction id, not from the flags.
 *  - Anything else Capstone cannot decode becomes a 1-byte invalid instruction so a linear
 *    sweep resynchronises at the next byte instead of stopping.
 */
#ifndef DMP_DECODE_H
#define DMP_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Control-flow class of an instruction. */
enum dmp_flow {
    DMP_FLOW_NONE = 0,
    DMP_FLOW_JMP,       /* direct jmp rel8/rel32 */
    DMP_FLOW_JCC,       /* conditional rel8/rel32 (incl. jrcxz/loop) */
    DMP_FLOW_CALL,      /* direct call rel32 */
    DMP_FLOW_RET,
    DMP_FLOW_JMP_IND,   /* jmp *reg / jmp *mem */
    DMP_FLOW_CALL_IND,  /* call *reg / call *mem */
    DMP_FLOW_TRAP,      /* int3, ud2, ud1, hlt-like stops */
};

/* Synthetic instruction ids for what Capstone 4.0.2 cannot name. */
#define DMP_INS_SERIALIZE 100000u

/* The memory operand of an instruction, in Capstone register ids. */
struct dmp_memop {
    unsigned base, index, segment;   /* X86_REG_*, 0 when absent */
    int scale;
    int64_t disp;
    uint8_t size;                    /* operand size in bytes */
};

struct dmp_insn {
    uint64_t va;
    uint8_t len;
    bool valid;                      /* false: undecodable byte, len == 1 */
    unsigned id;                     /* X86_INS_* or DMP_INS_*; 0 when invalid */
    uint8_t bytes[16];
    enum dmp_flow flow;
    bool has_target;                 /* direct branch/call: target below */
    uint64_t target;
    bool has_mem;                    /* has an explicit memory operand */
    struct dmp_memop mem;
    bool rip_rel;                    /* memory operand is RIP-relative; rip_addr = its address */
    uint64_t rip_addr;
    bool mem_write;                  /* writes its memory operand (by id, corrected) */
    bool lock;                       /* LOCK prefix present */
    bool reads_rsp_reg;              /* uses %rsp as a register operand (not as a base) */
    unsigned regs[4];                /* register operands in Intel order (X86_REG_*) */
    uint8_t nregs;
    uint64_t eflags;                 /* Capstone X86_EFLAGS_* bits */
    char text[200];                  /* "mnemonic operands" (Intel syntax) */
};

struct dmp_decoder;

int  dmp_decoder_open(struct dmp_decoder **out);
void dmp_decoder_close(struct dmp_decoder *);

/* Decode one instruction at code[0..avail) located at va. Always fills *out and returns
 * its length (>= 1) so a sweep can continue; out->valid says whether it was understood. */
size_t dmp_decode(struct dmp_decoder *, const uint8_t *code, size_t avail, uint64_t va,
                  struct dmp_insn *out);

/* Decode [va, va+len) linearly into a malloc'd array. Returns 0 or -ENOMEM. */
int  dmp_decode_range(struct dmp_decoder *, const uint8_t *code, size_t len, uint64_t va,
                      struct dmp_insn **out, size_t *n);

/* Byte layout of a legacy-encoded (non-VEX) ModRM instruction. */
struct dmp_x86_layout {
    uint8_t nprefix;       /* legacy prefixes before REX/opcode */
    int rex_off;           /* -1 if no REX */
    uint8_t op_off, op_len;
    uint8_t modrm_off;
    int sib_off;           /* -1 if none */
    uint8_t disp_off, disp_len;
    uint8_t imm_off;       /* first byte after the displacement */
};

/* Parse the layout of a ModRM instruction (the caller knows it has one). -1 when the
 * bytes are VEX/EVEX/XOP encoded or truncated. */
int  dmp_x86_layout(const uint8_t *b, size_t len, struct dmp_x86_layout *out);

/* The hardware number (0 rax, 1 rcx, ... 4 rsp, ... 15 r15: the ModRM/REX encoding) of a
 * Capstone 64-bit general register (X86_REG_RAX ...), or -1 for any other register. The stub
 * emitter encodes with it, the harness indexes its register file with it. */
int  dmp_x86_gpr_num(unsigned cs_reg);

/* True when the instruction is a 5-byte nop (0f 1f 44 00 00), the form of an ftrace
 * __fentry__ site in a live kernel. */
bool dmp_insn_is_nop5(const struct dmp_insn *);

/* Privileged instructions that change CPU mode or system state other than CR3/TLB (CR0/CR4,
 * MSRs, descriptor tables, mode switches, iret/sysret ...): never moved by the planner and
 * not modelled by the harness. */
bool dmp_insn_changes_cpu_mode(const struct dmp_insn *);

#endif
