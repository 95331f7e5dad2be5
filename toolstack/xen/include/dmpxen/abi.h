/* The hypervisor interfaces that our Xen patches add (xen-patches/0002..0009), mirrored for
 * dom0: Debian's libxen-dev headers do not know them. One header, so that every dom0 user
 * (trap profiler, fast path switch, access sampling, the stub generators) takes numbers and
 * layouts from the same place, and every layout is checked at compile time against the
 * patches' public headers (sizes and offsets below, copied from xen/include/public/domctl.h
 * and public/arch-x86/dmp.h as the series leaves them). docs/INTERFACES.md describes each
 * operation: inputs, outputs and errors.
 *
 * Naming: DMP_XEN_* for numbers of the interface; the structures keep the names the dom0
 * code has always used (dmp_trap_entry, dmp_fastpath_op_arg, ...). */
#ifndef DMP_XEN_ABI_H
#define DMP_XEN_ABI_H

#include <stddef.h>
#include <stdint.h>

/* ---- domctl numbers (struct xen_domctl.cmd) ---- */
#define DMP_XEN_DOMCTL_WSS 0x4d57u           /* XEN_DOMCTL_dmp_wss, patch 0002 */
#define DMP_XEN_DOMCTL_TRAP_PROFILE 4000u    /* XEN_DOMCTL_dmp_trap_profile, patch 0003 */
#define DMP_XEN_DOMCTL_FASTPATH 4001u        /* XEN_DOMCTL_dmp_fastpath, patch 0007 */

/* ---- hypercall (guest ABI), patch 0007 + 0009: public/arch-x86/dmp.h ---- */
#define DMP_XEN_HYPERCALL_DMP_OP 54u         /* __HYPERVISOR_dmp_op = __HYPERVISOR_arch_6 */
#define DMP_XEN_OP_STORE 1u
#define DMP_XEN_OP_CR3 2u
#define DMP_XEN_OP_INVLPG 3u
#define DMP_XEN_OP_INVPCID 4u
#define DMP_XEN_OP_FLUSH 5u                  /* patch 0009 */
#define DMP_XEN_OP_RESERVED_SHIFT 24         /* bits 24-63 of op must be zero */
#define DMP_XEN_LOG_MAX 512u                 /* XEN_DMP_LOG_MAX: entries of one FLUSH */

/* struct xen_dmp_log_entry: one logged 8-byte store. */
struct dmp_xen_log_entry {
    uint64_t va;
    uint64_t val;
};
_Static_assert(sizeof(struct dmp_xen_log_entry) == 16, "xen_dmp_log_entry size");
_Static_assert(offsetof(struct dmp_xen_log_entry, val) == 8, "xen_dmp_log_entry.val");

/* ---- XEN_DOMCTL_dmp_wss (access sampling), patch 0002 ---- */
enum dmp_wss_opcode { DMP_WSS_ARM = 1, DMP_WSS_HARVEST = 2, DMP_WSS_DISABLE = 3 };
#define DMP_WSS_MAX 8192u                    /* XEN_DOMCTL_DMP_WSS_MAX */
/* HARVEST's state bytes. */
#define DMP_WSS_STATE_UNTOUCHED 0
#define DMP_WSS_STATE_TOUCHED 1
#define DMP_WSS_STATE_NOT_ARMED 2

/* struct xen_domctl_dmp_wss: handles are 64-bit guest addresses (XEN_GUEST_HANDLE_64). */
struct dmp_wss_op {
    uint32_t op;
    uint32_t nr;            /* IN: frames (ARM) or room (HARVEST); OUT (HARVEST): frames */
    uint32_t armed;         /* OUT */
    uint32_t touched;       /* OUT (HARVEST) */
    uint64_t gfns;          /* IN (ARM): nr strictly ascending gfns */
    uint64_t state;         /* OUT (ARM, HARVEST): nr bytes */
};
_Static_assert(sizeof(struct dmp_wss_op) == 32, "xen_domctl_dmp_wss size");
_Static_assert(offsetof(struct dmp_wss_op, nr) == 4, "xen_domctl_dmp_wss.nr");
_Static_assert(offsetof(struct dmp_wss_op, armed) == 8, "xen_domctl_dmp_wss.armed");
_Static_assert(offsetof(struct dmp_wss_op, touched) == 12, "xen_domctl_dmp_wss.touched");
_Static_assert(offsetof(struct dmp_wss_op, gfns) == 16, "xen_domctl_dmp_wss.gfns");
_Static_assert(offsetof(struct dmp_wss_op, state) == 24, "xen_domctl_dmp_wss.state");

/* ---- XEN_DOMCTL_dmp_trap_profile (trap profiler), patches 0003-0005 ---- */
enum dmp_trap_profile_opcode {
    DMP_TRAP_PROFILE_ENABLE = 1,
    DMP_TRAP_PROFILE_DISABLE = 2,
    DMP_TRAP_PROFILE_READ = 3,
    DMP_TRAP_PROFILE_RESET = 4,
};
#define DMP_TRAP_PROFILE_MIN_SLOTS 64u
#define DMP_TRAP_PROFILE_MAX_SLOTS 16384u
#define DMP_TRAP_PROFILE_DEFAULT_SLOTS 4096u   /* ours, not the hypervisor's */

/* Kinds of exit, numbered as in the hypervisor (XEN_DMP_TRAP_KIND_*). 0 is never an event. */
enum dmp_trap_kind {
    DMP_TRAP_PT_WRITE = 1,   /* #PF on the shadow emulation path: guest page-table write */
    DMP_TRAP_PF_FIXED = 2,   /* #PF fixed by the shadow code, invisible to the guest */
    DMP_TRAP_PF_GUEST = 3,   /* #PF reflected to the guest as its own fault */
    DMP_TRAP_PF_MMIO = 4,    /* #PF handled as MMIO / skipped write to read-only memory */
    DMP_TRAP_CR3_WRITE = 5,
    DMP_TRAP_INVLPG = 6,
    DMP_TRAP_INVPCID = 7,
    DMP_TRAP_KIND_NR = 8,
};

/* struct xen_dmp_trap_entry: one (rip, kind) counter. */
struct dmp_trap_entry {
    uint64_t rip;
    uint64_t count;
    uint32_t kind;
    uint32_t vcpu;          /* after merging: DMP_TRAP_VCPU_MERGED when seen on several vCPUs */
};
#define DMP_TRAP_VCPU_MERGED UINT32_MAX
_Static_assert(sizeof(struct dmp_trap_entry) == 24, "xen_dmp_trap_entry size");
_Static_assert(offsetof(struct dmp_trap_entry, count) == 8, "xen_dmp_trap_entry.count");
_Static_assert(offsetof(struct dmp_trap_entry, kind) == 16, "xen_dmp_trap_entry.kind");
_Static_assert(offsetof(struct dmp_trap_entry, vcpu) == 20, "xen_dmp_trap_entry.vcpu");

/* struct xen_domctl_dmp_trap_profile. */
struct dmp_trap_profile_op {
    uint32_t op;
    uint32_t slots;         /* IN (ENABLE), OUT (READ) */
    uint32_t vcpu;          /* IN (READ) */
    uint32_t nr_entries;    /* IN/OUT (READ) */
    uint64_t buffer;        /* IN (READ): guest handle of nr_entries entries, or 0 */
    uint64_t overflow;      /* OUT (READ) */
    uint64_t totals[DMP_TRAP_KIND_NR];   /* OUT (READ) */
};
_Static_assert(sizeof(struct dmp_trap_profile_op) == 96, "xen_domctl_dmp_trap_profile size");
_Static_assert(offsetof(struct dmp_trap_profile_op, slots) == 4, "trap_profile.slots");
_Static_assert(offsetof(struct dmp_trap_profile_op, vcpu) == 8, "trap_profile.vcpu");
_Static_assert(offsetof(struct dmp_trap_profile_op, nr_entries) == 12, "trap_profile.nr_entries");
_Static_assert(offsetof(struct dmp_trap_profile_op, buffer) == 16, "trap_profile.buffer");
_Static_assert(offsetof(struct dmp_trap_profile_op, overflow) == 24, "trap_profile.overflow");
_Static_assert(offsetof(struct dmp_trap_profile_op, totals) == 32, "trap_profile.totals");

/* ---- XEN_DOMCTL_dmp_fastpath (the guest hypercall's switch), patches 0007 + 0009 ---- */
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

/* struct xen_domctl_dmp_fastpath (flushes: patch 0009, inside the union's padding). */
struct dmp_fastpath_op_arg {
    uint32_t op;
    uint32_t enabled;          /* OUT */
    uint64_t stores;           /* OUT */
    uint64_t rejected[DMP_FP_REJ_NR];    /* OUT */
    uint64_t flushes;          /* OUT */
};
_Static_assert(sizeof(struct dmp_fastpath_op_arg) == 88, "xen_domctl_dmp_fastpath size");
_Static_assert(offsetof(struct dmp_fastpath_op_arg, enabled) == 4, "fastpath.enabled");
_Static_assert(offsetof(struct dmp_fastpath_op_arg, stores) == 8, "fastpath.stores");
_Static_assert(offsetof(struct dmp_fastpath_op_arg, rejected) == 16, "fastpath.rejected");
_Static_assert(offsetof(struct dmp_fastpath_op_arg, flushes) == 80, "fastpath.flushes");

/* ---- struct xen_domctl with our members in its union ---- */
#define DMP_XEN_DOMCTL_UNION_SIZE 128   /* xen_domctl.u.pad */
struct dmp_xen_domctl {
    uint32_t cmd;
    uint32_t interface_version;     /* XEN_DOMCTL_INTERFACE_VERSION */
    uint16_t domain;
    uint16_t pad[3];
    union {
        struct dmp_wss_op wss;
        struct dmp_trap_profile_op trap_profile;
        struct dmp_fastpath_op_arg fastpath;
        uint8_t pad[DMP_XEN_DOMCTL_UNION_SIZE];
    } u;
};
_Static_assert(offsetof(struct dmp_xen_domctl, interface_version) == 4, "xen_domctl.version");
_Static_assert(offsetof(struct dmp_xen_domctl, domain) == 8, "xen_domctl.domain");
_Static_assert(offsetof(struct dmp_xen_domctl, u) == 16, "xen_domctl.u");
_Static_assert(sizeof(struct dmp_xen_domctl) == 16 + DMP_XEN_DOMCTL_UNION_SIZE, "xen_domctl size");

#endif
