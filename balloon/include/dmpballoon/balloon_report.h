/* Observability of the balancer: one JSON object per line for every decision (the daemon's
 * log), and the current state as a JSON document or in the Prometheus text exposition
 * format (metric names dmp_balloon_*, sizes in bytes, label domain="<name>"). */
#ifndef DMP_BALLOON_REPORT_H
#define DMP_BALLOON_REPORT_H

#include "dmpballoon/balloon_policy.h"

#include <stdio.h>

/* {"time_ms":..,"domid":..,"domain":"web","policy":"balance","old_target_kib":..,
 *  "new_target_kib":..,"actual_kib":..,"estimate_bytes":..,"estimate_lower_bytes":..,
 *  "estimate_upper_bytes":..,"estimator":"sampling","floor_kib":..,"ceiling_kib":..,
 *  "desired_kib":..,"state":"ok","reason":"grow","limits":[..],"text":".."}\n
 * Returns 0, or -EIO if the stream failed (-EINVAL: the document came out malformed). */
int dmp_balloon_log_decision(FILE *f, const struct dmp_decision *d);

int dmp_balloon_metrics_json(FILE *f, const struct dmp_policy_summary *s,
                             const struct dmp_decision *d, size_t n, bool pretty);

int dmp_balloon_metrics_prometheus(FILE *f, const struct dmp_policy_summary *s,
                                   const struct dmp_decision *d, size_t n);

#endif
