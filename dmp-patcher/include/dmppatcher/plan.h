/* Patch planning: for a hot instruction address, decide how to take its page-table write or
 * TLB/CR3 trap out of the trapping path, trying tactics in order of safety:
 *   (a) RETARGET:   a `call/jmp rel32` (or 6-byte `call *pv_ops+off(%rip)`) whose callee is a
 *                   single page-table operation is pointed at a generated helper stub;
 *   (b) TRAMPOLINE: whole instructions covering >= 5 bytes around the hot instruction are
 *                   moved into a trampoline (RIP-relative operands and branches relocated,
 *                   rel8 promoted to rel32) where the trapping instruction becomes a trap block;
 *   (c) REFUSED:    with one of the reasons below.
 * A plan is a self-contained record: applying it needs only the plan and the stub area image.
 */
#ifndef DMP_PLAN_H
#define DMP_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dmppatcher/classify.h"
#include "dmppatcher/codeview.h"

enum dmp_tactic { DMP_TACTIC_RETARGET = 1, DMP_TACTIC_TRAMPOLINE, DMP_TACTIC_REFUSED };

enum dmp_refusal {
    DMP_REFUSE_NONE = 0,
    DMP_REFUSE_NOT_A_SITE,        /* not a page-table/TLB/CR3 instruction or call to one */
    DMP_REFUSE_NO_FUNCTION,       /* no text symbol covers the address */
    DMP_REFUSE_NOT_BOUNDARY,      /* address is not an instruction start */
    DMP_REFUSE_UNDECODABLE,       /* undecodable bytes in the function */
    DMP_REFUSE_INDIRECT_JUMP,     /* function has indirect jumps / jump tables */
    DMP_REFUSE_BRANCH_INTO_RANGE, /* a branch targets the stolen range past its first byte */
    DMP_REFUSE_KNOWN_SITE,        /* overlaps alternatives/static-call/jump-label/extable */
    DMP_REFUSE_FTRACE,            /* overlaps the __fentry__ site at function entry */
    DMP_REFUSE_OUT_OF_REACH,      /* stub/trampoline not within rel32 reach */
    DMP_REFUSE_TOO_SHORT,         /* cannot gather 5 bytes of stealable instructions */
    DMP_REFUSE_UNSTEALABLE,       /* call/indirect/trap/rel8-only branch in the range */
    DMP_REFUSE_UNSUPPORTED,       /* operand form the trap block cannot express */
    DMP_REFUSE_CALLEE_NOT_PURE,   /* callee is more than one page-table operation */
    DMP_REFUSE_STUB_AREA_FULL,
    DMP_REFUSE_MAX
};

const char *dmp_tactic_name(enum dmp_tactic);
const char *dmp_refusal_name(enum dmp_refusal);
int dmp_tactic_from_name(const char *s, enum dmp_tactic *out);
int dmp_refusal_from_name(const char *s, enum dmp_refusal *out);

/* Sites that must never be overwritten, fed by whoever knows them (alternatives, static
 * calls, jump labels, exception table entries, ...). kind is a short static string. */
struct dmp_known_site {
    uint64_t start, end;   /* [start, end) */
    const char *kind;
};

#define DMP_PLAN_MAX_SITE 32
#define DMP_PLAN_MAX_TRAMP 384
#define DMP_PLAN_MAX_EXITS 4

struct dmp_plan {
    uint64_t site;                       /* first patched byte */
    uint8_t len;                         /* patched bytes at site */
    uint8_t old_bytes[DMP_PLAN_MAX_SITE];
    uint8_t new_bytes[DMP_PLAN_MAX_SITE];
    uint64_t hot;                        /* the hot instruction the plan was made for */
    uint64_t tramp_va;                   /* 0 when no trampoline */
    uint16_t tramp_len;
    uint8_t tramp[DMP_PLAN_MAX_TRAMP];
    int32_t stub_id;                     /* helper stub for RETARGET, -1 otherwise */
    uint64_t stub_va;                    /* helper stub, or the COMMIT stub for TRAMPOLINE */
    enum dmp_tactic tactic;
    enum dmp_refusal reason;
    enum dmp_site_kind kind;             /* 0 when unknown */
    char func[64];
    char detail[128];
    /* Where execution leaves [site, site+len) in the original code (for the harness). */
    uint64_t exits[DMP_PLAN_MAX_EXITS];
    uint8_t nexits;
};

struct dmp_planner_opts {
    uint64_t stub_base;                  /* 0: default = text_start + 0x3f000000 */
    size_t stub_size;                    /* 0: 1 MiB */
    const struct dmp_known_site *known;
    size_t nknown;
};

struct dmp_planner;

int  dmp_planner_new(const struct dmp_codeview *cv, const struct dmp_planner_opts *opts,
                     struct dmp_planner **out);
void dmp_planner_free(struct dmp_planner *);

/* Plan the instruction at va. Returns 0 when planned, 1 when refused (out->reason/detail say
 * why), negative errno on internal error. */
int  dmp_plan_site(struct dmp_planner *, uint64_t va, struct dmp_plan *out);

/* The stub area as generated so far: hv slot (zero; filled by whoever installs it), COMMIT,
 * helper stubs and every trampoline of the plans made. */
const uint8_t *dmp_planner_stub_area(const struct dmp_planner *, uint64_t *base, size_t *used);
uint64_t dmp_planner_commit_va(const struct dmp_planner *);
uint64_t dmp_planner_hv_slot_va(const struct dmp_planner *);

#endif
