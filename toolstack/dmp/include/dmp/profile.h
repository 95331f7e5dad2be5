/* The DMP trap profiler seen from dom0: per guest RIP counts of the page-table-related exits
 * of a shadow-paged HVM/PVH domain, kept by our hypervisor patch
 * (xen-patches/ 0003..0005, XEN_DOMCTL_dmp_trap_profile; see docs/PROFILER.md and
 * docs/INTERFACES.md).
 *
 * Two layers: the control operation itself (dmp_profiler_*, through libxencall), and pure
 * functions that merge the per-vCPU tables Xen returns, rank them and print them
 * (dmp_profile_*; no Xen needed, unit-tested). */
#ifndef DMP_PROFILE_H
#define DMP_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dmpcommon/json.h"
#include "dmpxen/abi.h"

/* The domctl, its opcodes, the kinds and the entry layout: dmpxen/abi.h (mirrors the patch's
 * public header, with compile-time layout checks). */

/* "pt_write", "pf_fixed", ... or NULL for a number that is not a kind. */
const char *dmp_trap_kind_name(uint32_t kind);
/* Kinds that are #PF intercepts (what Xen's "calls to shadow_fault" counts). */
bool dmp_trap_kind_is_pf(uint32_t kind);

/* A whole-domain profile: per-vCPU tables merged by (rip, kind). */
struct dmp_profile {
    uint32_t domid;
    uint32_t slots;             /* per vCPU */
    uint32_t nr_vcpus;
    uint64_t totals[DMP_TRAP_KIND_NR];   /* all events, including overflowed ones */
    uint64_t overflow;          /* events that found no table slot (not in entries) */
    bool truncated;             /* a vCPU reported more entries than were copied */
    size_t n, cap;
    struct dmp_trap_entry *e;
};

void dmp_profile_init(struct dmp_profile *p);
void dmp_profile_free(struct dmp_profile *p);
/* Add one vCPU's table (entries in any order, counts added for equal (rip, kind)) and its
 * totals. Returns 0 or -ENOMEM. Entries with kind 0 or >= DMP_TRAP_KIND_NR are rejected
 * with -EINVAL (they cannot come from a correct hypervisor). */
int dmp_profile_merge(struct dmp_profile *p, const struct dmp_trap_entry *e, size_t n,
                      const uint64_t totals[DMP_TRAP_KIND_NR], uint64_t overflow);
/* Sort by count (descending), then rip, then kind: a total order, so output is stable. */
void dmp_profile_sort(struct dmp_profile *p);
/* Sum of totals over the #PF kinds / over all kinds. */
uint64_t dmp_profile_pf_total(const struct dmp_profile *p);
uint64_t dmp_profile_total(const struct dmp_profile *p);
/* Counted in entries (as opposed to totals, which include overflow). */
uint64_t dmp_profile_entries_total(const struct dmp_profile *p);

/* Optional symbol column: fills buf with "name+0xoff" and returns 0, or -1 if unknown. */
typedef int (*dmp_profile_symbolizer)(void *ctx, uint64_t rip, char *buf, size_t len);

/* Print the first top entries (all if top == 0) of a sorted profile as a table with a kinds
 * summary; seconds is the window length (for rates; 0 = unknown). */
void dmp_profile_print(FILE *f, const struct dmp_profile *p, size_t top, double seconds,
                       dmp_profile_symbolizer sym, void *sym_ctx);
/* The same as members of the current JSON object: "domid", "seconds", "slots", "vcpus",
 * "totals" {kind: n}, "pf_total", "overflow", "truncated", "entries": [{rip (hex string),
 * kind, count, share, symbol?}...]. */
void dmp_profile_json(struct dmp_json *j, const struct dmp_profile *p, size_t top,
                      double seconds, dmp_profile_symbolizer sym, void *sym_ctx);

/* ---- the control operation (needs our hypervisor) ---- */
struct dmp_profiler;
/* Open libxencall/libxenctrl and check that the hypervisor carries the DMP series ("-dmp"
 * in xen_extra). Returns 0, -ENOTSUP (with err naming the running version) or -errno. */
int dmp_profiler_open(struct dmp_profiler **out, char *err, size_t errlen);
void dmp_profiler_close(struct dmp_profiler *pr);

/* Each returns 0 or -errno as Xen reports it (see docs/PROFILER.md for the meanings). */
int dmp_profiler_enable(struct dmp_profiler *pr, uint32_t domid, uint32_t slots);
int dmp_profiler_disable(struct dmp_profiler *pr, uint32_t domid);
int dmp_profiler_reset(struct dmp_profiler *pr, uint32_t domid);
/* Read and merge every vCPU's table into out (initialised here). */
int dmp_profiler_read(struct dmp_profiler *pr, uint32_t domid, uint32_t nr_vcpus,
                      struct dmp_profile *out);

/* Issue the domctl with op as given (in/out), for tests of the hypervisor's argument checks.
 * op->buffer is passed through untouched: 0, a bogus address, or dmp_profiler_buffer(). */
int dmp_profiler_raw(struct dmp_profiler *pr, uint32_t domid, struct dmp_trap_profile_op *op);
/* A hypercall-safe buffer of nr entries owned by pr (reallocated on demand; NULL on ENOMEM). */
struct dmp_trap_entry *dmp_profiler_buffer(struct dmp_profiler *pr, size_t nr);

#endif
