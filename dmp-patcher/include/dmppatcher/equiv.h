/* Differential equivalence harness on Unicorn.
 *
 * For a plan, the original code (starting at plan->site) and the patched code (new site bytes
 * + trampoline/stub + COMMIT, with the hv slot pointing at a recorder) are run from the same
 * random register and memory states. The recorder applies each hv_update exactly as the
 * hypervisor would (a STORE writes `new` at the PTE address) and logs it as that memory write;
 * it then clobbers every caller-saved register and the flags, as any C implementation may.
 * Trapping instructions in the original run (mov to CR3, invlpg, invpcid) are logged as
 * events and skipped. The runs must agree on: all 16 GPRs, RIP, the flags the original
 * defines, and the sequence of memory writes and trap events. Writes that store the value
 * already present and writes to the dead stack below the final %rsp are not compared.
 * Memory is materialised page by page on first touch: text/stub pages from the images,
 * other kernel-image pages from the code view, everything else from a seeded PRNG, so any
 * pointer value a register holds is usable and both runs see identical memory.
 */
#ifndef DMP_EQUIV_H
#define DMP_EQUIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dmppatcher/codeview.h"
#include "dmppatcher/plan.h"

struct dmp_equiv_opts {
    unsigned states;      /* valid random states per plan (default 200) */
    uint64_t seed;        /* PRNG seed (default 1); results are reproducible */
    unsigned max_insns;   /* per run (default 20000) */
};

struct dmp_equiv_result {
    unsigned runs;        /* states where both runs were compared */
    unsigned skipped;     /* states where the original itself faulted (not comparable) */
    bool pass;
    char why[256];        /* first mismatch, or why the plan was inconclusive */
};

struct dmp_equiv;

/* stub_area/stub_len: the planner's stub area image at stub_base (hv slot at hv_slot_va). */
int  dmp_equiv_new(const struct dmp_codeview *cv, const uint8_t *stub_area, uint64_t stub_base,
                   size_t stub_len, uint64_t hv_slot_va, struct dmp_equiv **out);
void dmp_equiv_free(struct dmp_equiv *);
/* Returns 0 when the check ran (see res->pass), negative errno on harness failure. */
int  dmp_equiv_check(struct dmp_equiv *, const struct dmp_plan *plan,
                     const struct dmp_equiv_opts *opts, struct dmp_equiv_result *res);

#endif
