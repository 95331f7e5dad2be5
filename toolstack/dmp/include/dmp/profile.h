/* The DMP trap profiler seen from dom0: per guest RIP counts of the page-table-related exits
 * of a shadow-paged HVM/PVH domain, kept by our hypervisor patch
 * (xen-patches/ 0003..0005, XEN_DOMCTL_dmp_trap_profile; see docs/PROFILER.md and
 * docs/INTERFACES.md).
 *
 * Three layers: the control operation itself (dmp_profiler_*, through the domctl helper);
 * pure functions that merge the per-vCPU tables Xen returns, rank them and print them
 * (dmp_profile_*; no Xen needed, unit-tested); and one profiling window on a domain, start to
 * end (dmp_profile_run), whose JSON report is dmp/report.h's. */
#ifndef DMP_PROFILE_H
#define DMP_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dmp/outcome.h"
#include "dmpcommon/json.h"
#include "dmpxen/abi.h"
#include "dmpxen/perfc.h"

struct dmp_live;

/* The domctl, its opcodes, the kinds and the entry layout: dmpxen/abi.h (mirrors the patch's
 * public header, with compile-time layout checks). */

/* "pt_write", "pf_fixed", ... or NULL for a number that is not a kind. */
const char *dmp_trap_kind_name(uint32_t kind);
/* Kinds that are #PF intercepts (what Xen's "calls to shadow_fault" counts). */
bool dmp_trap_kind_is_pf(uint32_t kind);
/* The page-table kinds, what patching (and the fast path behind it) is meant to remove:
 * pt_write, pf_fixed, cr3_write, invlpg, invpcid. Not pf_guest (the guest's own demand paging)
 * nor pf_mmio (device access): neither goes away by patching the MMU sites. */
bool dmp_trap_kind_is_pt(uint32_t kind);

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

/* ---- one profiling window on a domain (`dmpctl dmp profile`, dmpd's automatic DMP) ---- */

#define DMP_PROFILE_MAX_SECONDS 3600u

struct dmp_profile_result;

struct dmp_profile_opts {
    const char *domain;          /* name or id */
    unsigned seconds;            /* the window, 1..DMP_PROFILE_MAX_SECONDS */
    uint32_t slots;              /* per-vCPU table size (DMP_TRAP_PROFILE_*_SLOTS) */
    bool symbols;                /* name kernel RIPs from the guest's own kallsyms: the guest is
                                    paused briefly after the window */
    /* While profiling is on in the hypervisor, SIGINT and SIGTERM end the window early
     * instead of the process (the handlers before are restored at the end), so that
     * profiling is always turned off again. */
    bool catch_signals;
    /* Called about once a second during the window, and once after it (final). */
    void (*progress)(void *ctx, const struct dmp_profile_result *r, double done, bool final);
    void *progress_ctx;
    dmp_note_fn note;            /* "no symbols, printing raw RIPs: ...", a failed disable */
    void *note_ctx;
};

struct dmp_profile_result {
    enum dmp_outcome outcome;
    char name[128];
    uint32_t domid;
    unsigned window;             /* the window asked for, seconds */
    double seconds;              /* the window measured */
    bool interrupted;            /* a signal ended it early */
    struct dmp_profile prof;     /* merged and sorted */
    bool symbols_wanted, have_syms;
    int64_t slide;               /* KASLR slide, with symbols */
    char sym_err[512];           /* why there are none, when they were wanted */
    bool have_perfc;             /* Xen's perf counters before and after the window */
    struct dmp_perfc_snapshot perfc_before, perfc_after;
    struct dmp_live *live;       /* the symbols' owner */
};

/* Check the domain (PV or HAP: -EOPNOTSUPP, DMP_NOTHING_TO_DO; unknown: DMP_BAD_INPUT),
 * enable profiling, wait the window, read and merge every vCPU's table, disable, and look the
 * guest's symbols up. Profiling is turned off on every path. Free r with
 * dmp_profile_result_free (also after a failure). */
int dmp_profile_run(const struct dmp_profile_opts *o, struct dmp_profile_result *r, char *err,
                    size_t errlen);
void dmp_profile_result_free(struct dmp_profile_result *r);
/* The symbol column for dmp_profile_print/json over r's symbols; NULL without symbols. */
dmp_profile_symbolizer dmp_profile_result_symbolizer(const struct dmp_profile_result *r);

#endif
