/* What the modules of the live-patch procedure share (patch.c, patch_status.c, unpatch.c and
 * their helpers); not a public interface. */
#ifndef DMP_PATCH_INTERNAL_H
#define DMP_PATCH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dmp/patch.h"
#include "dmpintrospect/live.h"
#include "dmpcommon/clock.h"

/* The start of every operation (patch_journal.c): xenstore opened (read-only or not) and the
 * domain resolved. On failure *xs is NULL and *oc says DMP_BAD_INPUT for a domain that is not
 * there, DMP_FAILED for no xenstore. */
int dmp_patch_target_open(const char *spec, const char *state_dir, bool readonly,
                          struct xs_handle **xs, struct dmp_patch_target *t, enum dmp_outcome *oc,
                          char *err, size_t errlen);

/* ---- the guest (patch_guest.c) ---- */

/* Open the domain's live handle without pausing it. PV: refused (DMP_FAILED); HAP with
 * need_shadow: DMP_NOTHING_TO_DO; with find, the kernel is located too (slow: the guest runs
 * meanwhile), a kernel not recognised being refused. *oc says how a failure reads. */
int dmp_patch_open_guest(const struct dmp_patch_target *d, bool need_shadow, bool find,
                         struct dmp_live **out, struct dmp_live_kernel *k,
                         enum dmp_outcome *oc, char *err, size_t errlen);
/* Locate the kernel and its symbols; "refused: kernel of domain ... not recognised". */
int dmp_patch_find_kernel(const struct dmp_patch_target *d, struct dmp_live *l,
                          struct dmp_live_kernel *k, char *err, size_t errlen);
/* Reach known kernel addresses (journal sites) without the slow kernel discovery. */
int dmp_patch_root_for(const struct dmp_patch_target *d, struct dmp_live *l, uint64_t va,
                       char *err, size_t errlen);

/* Write page by page and read back. */
int dmp_patch_write_region(struct dmp_live *l, uint64_t va, const uint8_t *b, size_t len,
                           char *err, size_t errlen);
/* Drop every pause this process holds; stops at the first unpause that fails. */
void dmp_patch_unpause_all(struct dmp_live *l);
/* RIPs of the online vCPUs (as last read). */
size_t dmp_patch_vcpu_rips(struct dmp_live *l, uint64_t *rips, size_t max);
/* A vCPU inside the plan's site or trampoline. */
bool dmp_patch_plan_busy(const struct dmp_plan *p, const uint64_t *rips, size_t nr);
/* Pause and re-read vCPU states until none is in any range busy() names (bounded); on
 * success the domain stays paused. On failure it may still be paused: the caller unpauses. */
int dmp_patch_pause_clear(struct dmp_live *l,
                          bool (*busy)(const void *, const uint64_t *, size_t), const void *arg,
                          uint64_t root_va, unsigned *waits, char *err, size_t errlen);

/* ---- planning (patch_plan.c) ---- */

/* Counts of the planning, for the report. */
struct dmp_patch_counts {
    char first_refusal[200];
    size_t candidates, planned, refused, skipped_atomic;
    unsigned refusals[DMP_REFUSE_MAX];
};
/* Build the plans and the stub area image of j (plans, stub_new, hv_update): the sites in
 * hot_file, or all-mmu without one. *oc: DMP_BAD_INPUT for an unusable hot file. */
int dmp_patch_plan_all(struct dmp_live *l, const struct dmp_patch_target *d,
                       const char *hot_file, struct dmp_lp_journal *j,
                       struct dmp_patch_counts *c, enum dmp_outcome *oc, char *err,
                       size_t errlen);
/* The guest's hypercall instruction, from dom0's CPU vendor (Xen 4.17 gives an HVM guest the
 * host's vendor). vendor gets the CPUID string. */
int dmp_patch_guest_hvcall(enum dmp_lp_hvcall *insn, char vendor[13]);

/* ---- the plan cache (patch_cache.c) ---- */

/* The last all-mmu plan set of the domain if it was planned for the kernel text now live. */
bool dmp_plan_cache_load(struct dmp_live *l, const struct dmp_patch_target *d,
                         struct dmp_lp_journal *j);
/* Keep j's plans (passthrough layout) for the next patch of the same kernel text. */
int dmp_plan_cache_save(const struct dmp_patch_target *d, const struct dmp_lp_journal *j,
                        char *err, size_t errlen);

/* ---- log mode (patch_log.c) ---- */

/* Configure the log blob for this kernel (per-CPU offsets from the image's BTF) and add the
 * lazy-MMU pv-op sites to the plans. *oc: DMP_BAD_INPUT for an image that cannot be read. */
int dmp_patch_log_setup(struct dmp_live *l, const struct dmp_patch_target *d, const char *image,
                        enum dmp_lp_hvcall insn, struct dmp_lp_journal *j, enum dmp_outcome *oc,
                        char *err, size_t errlen);
/* Patch time, guest paused: the log's per-CPU memory must be unused. */
int dmp_patch_log_check_unused(struct dmp_live *l, const struct dmp_lp_journal *j, char *err,
                               size_t errlen);
/* Unpatch, before any byte is restored: switch logging off and wait until no CPU holds
 * logged stores. Leaves the domain unpaused. */
int dmp_patch_log_drain(struct dmp_live *l, struct dmp_lp_journal *j, unsigned *waits,
                        char *err, size_t errlen);

#endif
