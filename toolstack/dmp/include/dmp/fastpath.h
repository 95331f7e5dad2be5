/* The hypervisor fast path for patched page-table stores (our Xen patch 0007): dom0's switch
 * and counters (XEN_DOMCTL_dmp_fastpath, issued with the domctl helper of dmpxen/domctl.h since
 * Debian's headers do not know it), and the guest-side ABI constants the hv_update code
 * generator needs (numbers and layouts: dmpxen/abi.h; docs/INTERFACES.md).
 *
 * Guest ABI (public/arch-x86/dmp.h in the patch): hypercall 54 (__HYPERVISOR_arch_6),
 * rdi = op (DMP_HV_OP encoding: kind bits 0-7, size 8-15, site kind 16-23), rsi = entry's
 * linear address, rdx = old, r10 = new; rax = 0 or -errno. STORE does one store; FLUSH (patch
 * 0009: rsi = log address, rdx = entries) applies a guest-side log of 8-byte stores and
 * returns how many it applied. While the fast path is off for the domain the call returns
 * -EPERM and the stub stores itself. */
#ifndef DMP_FASTPATH_H
#define DMP_FASTPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dmpxen/abi.h"   /* the domctl, its ops and rejection reasons, the hypercall */

struct dmp_json;

#define DMP_FASTPATH_HYPERCALL DMP_XEN_HYPERCALL_DMP_OP

struct dmp_fastpath_stats {
    bool enabled;
    uint64_t stores;           /* by STORE calls and by FLUSH log entries */
    uint64_t rejected[DMP_FP_REJ_NR];
    uint64_t flushes;          /* FLUSH calls that applied at least one entry */
};

/* Name of a rejection reason ("disabled", "op", ...) or NULL for an unused index. */
const char *dmp_fastpath_reject_name(unsigned i);

/* Sum of all rejections. */
uint64_t dmp_fastpath_rejected_total(const struct dmp_fastpath_stats *st);

/* Issue one operation for domid and return the state after it in *st. Checks first that the
 * running hypervisor is our build ("-dmp" in xen_extra): -ENOTSUP with a message otherwise.
 * -EOPNOTSUPP: the domain is PV or uses HAP. Other -errno from Xen, with a message. */
int dmp_fastpath_ctl(uint32_t domid, enum dmp_fastpath_op op, struct dmp_fastpath_stats *st,
                     char *err, size_t errlen);

/* The state as a JSON object value (enabled, stores, flushes, rejected_total,
 * rejected{name: n}). */
void dmp_fastpath_stats_json(struct dmp_json *js, const struct dmp_fastpath_stats *st);
/* One line: "fast path on: N stores applied, F log flushes, M calls rejected (disabled a,
 * op b, ...)". */
void dmp_fastpath_stats_text(FILE *f, const struct dmp_fastpath_stats *st);

#endif
