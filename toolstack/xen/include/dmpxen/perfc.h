/* Snapshots of the hypervisor's software performance counters (CONFIG_PERF_COUNTERS) and
 * deltas between two snapshots. The counters are host-wide, so a delta is attributable to a
 * guest only while that guest is the only busy domain: the lab arranges that. */
#ifndef DMP_PERFC_H
#define DMP_PERFC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dmpcommon/json.h"

struct dmp_perfc_counter {
    char name[80];
    bool is_array;       /* per-reason histogram (summed over CPUs by Xen) */
    uint32_t nr_vals;
    uint32_t *vals;      /* per CPU for scalars, per index for arrays */
};

/* Which hardware virtualization the counters come from: Xen's "vmexits" array is indexed by
 * the vendor's own exit codes (AMD SVM exit codes, Intel VMX basic exit reasons). */
enum dmp_hvm_vendor {
    DMP_HVM_UNKNOWN = 0,
    DMP_HVM_SVM,
    DMP_HVM_VMX,
};

struct dmp_perfc_snapshot {
    size_t n;
    struct dmp_perfc_counter *c;
    enum dmp_hvm_vendor vendor;   /* of the host (dmp_perfc_read); UNKNOWN from raw data */
};

/* The host CPU's vendor, as dom0 sees it (CPUID leaf 0). */
enum dmp_hvm_vendor dmp_hvm_vendor_of_host(void);
const char *dmp_hvm_vendor_name(enum dmp_hvm_vendor v);   /* "svm", "vmx", "unknown" */

struct xc_interface_core;
/* Read all counters. Returns 0, or -errno (e.g. -ENOSYS when Xen lacks perf counters). */
int dmp_perfc_read(struct xc_interface_core *xch, struct dmp_perfc_snapshot *out);
void dmp_perfc_free(struct dmp_perfc_snapshot *s);

/* Build a snapshot from raw query results (what the sysctl returns): for tests and replay. */
int dmp_perfc_from_raw(struct dmp_perfc_snapshot *out, size_t ndesc, const char (*names)[80],
                       const uint32_t *nr_vals, const uint32_t *vals, uint32_t nr_cpus);

/* Delta of one counter (sum over CPUs / indices). Xen's values are 32-bit per CPU: each is
 * differenced as a signed 32-bit quantity, which survives one wrap of a growing counter and
 * gives gauges (incremented on one CPU, decremented on another) their true sign. */
int64_t dmp_perfc_delta(const struct dmp_perfc_snapshot *a, const struct dmp_perfc_snapshot *b,
                        const char *name);
/* Delta of one index of an array counter. */
int64_t dmp_perfc_delta_at(const struct dmp_perfc_snapshot *a, const struct dmp_perfc_snapshot *b,
                           const char *name, uint32_t idx);

/* Write every non-zero delta as a JSON object: scalars as numbers; arrays as
 * {"total": N, "by_index": {"<idx>[:<name>]": N, ...}}, naming the exit reasons of "vmexits"
 * for the snapshots' vendor. Snapshots must come from the same hypervisor (same counter
 * layout), else -EINVAL. */
int dmp_perfc_delta_json(const struct dmp_perfc_snapshot *a, const struct dmp_perfc_snapshot *b,
                         struct dmp_json *j);

/* Name of an exit code as counted in Xen's "vmexits" array on that vendor, or NULL. */
const char *dmp_vmexit_name(enum dmp_hvm_vendor v, uint32_t idx);

/* VM exits of one kind over a window, whichever vendor the host is: on SVM each kind has its
 * exit code; on VMX a #PF is counted by vector ("cause vector" 14) and CR3 writes only among
 * all control-register accesses (exit reason 28: CR3 reads and CR0/CR4 writes too), so that
 * count is an upper bound there. 0 for an unknown vendor. */
enum dmp_exit_kind {
    DMP_EXIT_PF,
    DMP_EXIT_CR3_WRITE,
    DMP_EXIT_INVLPG,
};
int64_t dmp_perfc_exits(const struct dmp_perfc_snapshot *a, const struct dmp_perfc_snapshot *b,
                        enum dmp_exit_kind kind);

#endif
