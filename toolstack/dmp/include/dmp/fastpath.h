/* The hypervisor fast path for patched page-table stores (our Xen patch 0007): dom0's switch
 * and counters (XEN_DOMCTL_dmp_fastpath, issued through libxencall with our own struct
 * definitions, since Debian's headers do not know it), and the guest-side ABI constants the
 * hv_update code generator needs.
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

struct dmp_json;

#define DMP_FASTPATH_HYPERCALL 54u      /* __HYPERVISOR_dmp_op */
#define DMP_DOMCTL_FASTPATH 4001u       /* XEN_DOMCTL_dmp_fastpath */

enum dmp_fastpath_op { DMP_FASTPATH_ENABLE = 1, DMP_FASTPATH_DISABLE = 2, DMP_FASTPATH_GET_STATS = 3 };

/* Why a guest call was refused (XEN_DMP_FASTPATH_REJ_*). */
enum dmp_fastpath_reject {
    DMP_FP_REJ_DISABLED = 0,   /* -EPERM: fast path off for the domain */
    DMP_FP_REJ_OP = 1,         /* -EOPNOTSUPP: kind not handled (CR3, INVLPG, unknown) */
    DMP_FP_REJ_ARG = 2,        /* -EINVAL: size, alignment, reserved bits, value width */
    DMP_FP_REJ_FAULT = 3,      /* -EFAULT: address not a supervisor-writable mapping */
    DMP_FP_REJ_MEMTYPE = 4,    /* -EPERM: target not the domain's ordinary RAM */
    DMP_FP_REJ_MISMATCH = 5,   /* -EAGAIN: entry did not hold old */
    DMP_FP_REJ_NR = 8,         /* array size in the interface (6..7 unused) */
};

/* The op's argument in struct xen_domctl's union, laid out as in the hypervisor's header. */
struct dmp_fastpath_op_arg {
    uint32_t op;
    uint32_t enabled;
    uint64_t stores;
    uint64_t rejected[DMP_FP_REJ_NR];
    uint64_t flushes;          /* patch 0009 */
};

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
