/* Classification of page-table-writing and shadow-paging-trapping instructions in kernel text,
 * and of the call sites (direct calls and pv-op indirect calls) that reach the MMU helpers. */
#ifndef DMP_CLASSIFY_H
#define DMP_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dmppatcher/codeview.h"
#include "dmppatcher/decode.h"

enum dmp_site_kind {
    DMP_SITE_PTE_STORE = 1,  /* memory store inside an MMU helper (native_set_pte ...) */
    DMP_SITE_XCHG,           /* xchg with memory (ptep_get_and_clear) */
    DMP_SITE_CMPXCHG,        /* (lock) cmpxchg on memory (PTE updates) */
    DMP_SITE_LOCK_RMW,       /* lock and/or/btr/bts/... on memory (wrprotect, clear_young) */
    DMP_SITE_CR3_WRITE,      /* mov %reg,%cr3 */
    DMP_SITE_INVLPG,
    DMP_SITE_INVPCID,
    DMP_SITE_CALL_DIRECT,    /* call/jmp rel32 to an MMU helper (the live, boot-patched form) */
    DMP_SITE_CALL_PVOP,      /* call *pv_ops+off(%rip) (the file form) */
    DMP_SITE_KIND_MAX
};

const char *dmp_site_kind_name(enum dmp_site_kind k);

struct dmp_site {
    uint64_t va;
    uint8_t len;
    enum dmp_site_kind kind;
    uint64_t func_start;
    char func[64];
    char callee[64];        /* call sites: helper reached ("" if none) */
    uint64_t callee_va;
    int64_t pv_off;         /* pv-op call sites: offset into pv_ops, else -1 */
    bool mmu;               /* pv-op sites: slot holds an MMU helper */
    char text[64];
};

/* The MMU helpers whose call sites DMP retargets (NULL-terminated). */
extern const char *const dmp_mmu_helpers[];

struct dmp_sites {
    struct dmp_site *v;
    size_t n, cap;
    size_t funcs_scanned, insns_decoded, undecodable;
};

/* Classify one already-decoded instruction at its function. Returns the kind or 0.
 * Call sites need the context (helper addresses), so this covers inline kinds only. */
enum dmp_site_kind dmp_classify_inline(const struct dmp_insn *in, const char *func_name,
                                       bool in_mmu_helper);

/* Scan every text function in the view. Returns 0 or -errno. */
int dmp_classify_all(const struct dmp_codeview *cv, struct dmp_sites *out);
void dmp_sites_free(struct dmp_sites *);

/* Does this function name look like page-table code (the heuristic scope for inline RMW)? */
bool dmp_func_is_pgtable_code(const char *name);

#endif
