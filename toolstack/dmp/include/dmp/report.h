/* The JSON reports of the DMP operations: what `dmpctl dmp patch|status|unpatch|profile
 * --json` print, what dmpd's worker (dmp/worker.h) writes for the same operations, and what
 * dmpd reads back. Writers and readers are side by side here so that the contract between
 * the commands, the daemon and the lab scenarios that parse the output is in one place.
 *
 * Writers print one pretty-printed object and a newline to f; 0, or -EIO when the document
 * could not be completed. Readers parse a whole report at once with dmpcommon's JSON reader
 * (a report that is not valid JSON is refused as a whole) and return 0 or -EINVAL with a
 * message naming what is missing (-ENOMEM when memory runs out). */
#ifndef DMP_REPORT_H
#define DMP_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dmp/patch.h"
#include "dmp/profile.h"

/* {domain, domid, mode, dry_run, already_patched, sites, stub_base, stub_len, hv_update,
 *  [candidates, planned, refused, refusals{reason: n}, skipped_atomic, skipped_vcpu_inside,
 *  skipped_bytes_changed, applied, plan_secs, paused_secs, total_secs: not when already
 *  patched], journal_xenstore, journal_file, plans_cached} */
int dmp_report_patch_json(FILE *f, const struct dmp_patch_result *r);
/* {domain, domid, patched, [mode, sites, sites_patched, sites_original, sites_other,
 *  stub_base, stub_len, stub_state, hv_update, journal_source, created, fastpath{...} or
 *  fastpath_error: when patched], journal_xenstore, journal_file} */
int dmp_report_status_json(FILE *f, const struct dmp_status_result *r);
/* {domain, sites, restored, journal_source, rip_waits, paused_sites_secs, paused_stubs_secs,
 *  total_secs, mode, fastpath{...}?} */
int dmp_report_unpatch_json(FILE *f, const struct dmp_unpatch_result *r);
/* {name, interrupted, kaslr_slide or symbols_error, domid, seconds, slots, vcpus, totals,
 *  total, pf_total, overflow, truncated, distinct, entries[the top: all if 0],
 *  perfc_window{...}?} */
int dmp_report_profile_json(FILE *f, const struct dmp_profile_result *r, size_t top);

/* A profile report: page-table exits (dmp_trap_kind_is_pt kinds of "totals") over
 * "seconds"; *rate = events / seconds. */
int dmp_report_profile_rate(const char *json, size_t len, double *rate, uint64_t *events,
                            double *seconds, char *err, size_t errlen);
/* Kernel RIPs of the page-table kinds in a profile report's entries, hottest first, each
 * once, at most max. Returns the count or -EINVAL. */
int dmp_report_profile_hot(const char *json, size_t len, uint64_t *rips, size_t max, char *err,
                           size_t errlen);
/* The hot-site file of `dmpctl dmp patch --sites hot --hot-file` (read by dmp_lp_parse_hot)
 * from a profile report: "# hot page-table RIPs of <what>", then the kernel RIPs of the
 * page-table kinds, hottest first, at most DMP_REPORT_HOT_MAX; written atomically.
 * -ENOENT when the profile has none. */
#define DMP_REPORT_HOT_MAX 256
int dmp_report_hot_file(const char *json, size_t len, const char *path, const char *what,
                        char *err, size_t errlen);
/* A patch report: "sites" and whether it was already patched. */
int dmp_report_patch_read(const char *json, size_t len, uint32_t *sites, bool *already,
                          char *err, size_t errlen);

#endif
