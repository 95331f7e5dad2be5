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

struct dmp_perfc_snapshot {
    size_t n;
    struct dmp_perfc_counter *c;
};

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
 * {"total": N, "by_index": {"<idx>[:<name>]": N, ...}}, naming SVM exit reasons for "vmexits".
 * Snapshots must come from the same hypervisor (same counter layout), else -EINVAL. */
int dmp_perfc_delta_json(const struct dmp_perfc_snapshot *a, const struct dmp_perfc_snapshot *b,
                         struct dmp_json *j);

/* Name of an AMD SVM exit code as counted in Xen's "vmexits" array, or NULL. */
const char *dmp_svm_exit_name(uint32_t idx);

#endif
