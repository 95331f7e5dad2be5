/* Linux's lazy-MMU pv-op call sites, found in a kernel image file.
 *
 * arch_enter_lazy_mmu_mode() / arch_leave_lazy_mmu_mode() / arch_flush_lazy_mmu_mode() are
 * paravirt calls (`call *pv_ops+off(%rip)`) that the kernel records in .parainstructions, an
 * array of struct paravirt_patch_site { u64 instr; u8 type; u8 len; } (16 bytes with padding),
 * where type is the op's index, in 8-byte pointers, inside struct paravirt_patch_template. On
 * HVM/PVH the ops are no-ops and the kernel NOPs the sites at boot, then frees the table, so
 * the sites can only be found in the image file.
 *
 * The op indices are not hard-coded: they come from the image's own BTF (the member offsets
 * of paravirt_patch_template.mmu.lazy_mode.{enter,leave,flush}), so a kernel with a different
 * pv_ops layout gives its own, correct, answer. Valid for kernels that still have
 * .parainstructions (Linux up to 6.7; 6.8 turned pv-op patching into alternatives).
 */
#ifndef DMP_PVSITES_H
#define DMP_PVSITES_H

#include <stddef.h>
#include <stdint.h>

#include "dmppatcher/btf_layout.h"   /* struct dmp_percpu_var, dmp_btf_percpu_var */
#include "dmppatcher/kimage.h"

#ifdef __cplusplus
extern "C" {
#endif

enum dmp_pv_lazy_op { DMP_PV_LAZY_ENTER, DMP_PV_LAZY_LEAVE, DMP_PV_LAZY_FLUSH, DMP_PV_LAZY_NR };

struct dmp_pv_site {
    uint64_t va;               /* link-time address of the call site */
    uint8_t len;               /* bytes the kernel may patch there (6 for call *rel32(%rip)) */
    enum dmp_pv_lazy_op op;
};

struct dmp_pv_layout {
    unsigned type[DMP_PV_LAZY_NR];   /* .parainstructions type of each op */
    struct dmp_pv_site *sites;       /* sorted by va, non-overlapping */
    size_t nsites;
    size_t count[DMP_PV_LAZY_NR];    /* sites per op */
};

/* "enter", "leave", "flush" ("?" out of range). */
const char *dmp_pv_lazy_op_name(enum dmp_pv_lazy_op);

/* Find every lazy-MMU site of a file image (vmlinux or bzImage). Every entry of a lazy-MMU type
 * is validated and any bad one refuses the whole table (-EINVAL, naming the entry): a length
 * outside 5..16, a site not wholly inside the file-backed part of an executable region, or two
 * sites that overlap. A table that breaks these rules is not laid out as we believe, and
 * patching from a misread table is worse than not patching. Entries of other types are not
 * inspected. -ENOENT: no .BTF, no .parainstructions, or a struct/member missing from BTF.
 * On success free with dmp_pv_layout_free; on error *out holds nothing to free. */
int  dmp_pv_lazy_sites(struct dmp_kimage *img, struct dmp_pv_layout *out, char *err,
                       size_t errlen);
void dmp_pv_layout_free(struct dmp_pv_layout *);

#ifdef __cplusplus
}
#endif
#endif
