#include "dmpballoon/balloon_report.h"

#include "dmpcommon/json.h"

#include <errno.h>
#include <inttypes.h>

static const struct {
    uint32_t bit;
    const char *name;
} limit_names[] = {
    { DMP_DF_FLOOR, "floor" }, { DMP_DF_CEILING, "ceiling" }, { DMP_DF_RATE, "rate-limit" },
    { DMP_DF_BUDGET, "budget" }, { DMP_DF_HOST_FREE, "host-free" },
    { DMP_DF_HYSTERESIS, "hysteresis" }, { DMP_DF_MIN_INTERVAL, "min-interval" },
    { DMP_DF_PRESSURE, "pressure" }, { DMP_DF_OVERCOMMIT, "overcommitted" },
    { DMP_DF_STUCK_RETRY, "stuck-retry" }, { DMP_DF_FLOOR_ABOVE_MAX, "floor-above-max" },
};

static void decision_fields(struct dmp_json *j, const struct dmp_decision *d)
{
    DMP_JSON_KV(j, "time_ms", dmp_json_u64, d->time_ms);
    DMP_JSON_KV(j, "domid", dmp_json_u64, d->domid);
    DMP_JSON_KV(j, "domain", dmp_json_str, d->name);
    DMP_JSON_KV(j, "policy", dmp_json_str, dmp_policy_kind_name(d->policy));
    DMP_JSON_KV(j, "old_target_kib", dmp_json_u64, d->old_target_kib);
    DMP_JSON_KV(j, "new_target_kib", dmp_json_u64, d->new_target_kib);
    DMP_JSON_KV(j, "actual_kib", dmp_json_u64, d->actual_kib);
    dmp_json_key(j, "estimate_bytes");
    if (d->wss.valid)
        dmp_json_u64(j, d->wss.bytes);
    else
        dmp_json_null(j);
    dmp_json_key(j, "estimate_lower_bytes");
    if (d->wss.valid)
        dmp_json_u64(j, d->wss.lower);
    else
        dmp_json_null(j);
    dmp_json_key(j, "estimate_upper_bytes");
    if (d->wss.valid)
        dmp_json_u64(j, d->wss.upper);
    else
        dmp_json_null(j);
    DMP_JSON_KV(j, "estimator", dmp_json_str,
                d->wss.valid ? dmp_wss_method_name(d->wss.method) : "none");
    DMP_JSON_KV(j, "estimate_saturated", dmp_json_bool, d->wss.valid && d->wss.saturated);
    DMP_JSON_KV(j, "floor_kib", dmp_json_u64, d->floor_kib);
    DMP_JSON_KV(j, "ceiling_kib", dmp_json_u64, d->ceiling_kib);
    DMP_JSON_KV(j, "desired_kib", dmp_json_u64, d->desired_kib);
    DMP_JSON_KV(j, "state", dmp_json_str, dmp_guest_state_name(d->state));
    DMP_JSON_KV(j, "reason", dmp_json_str, dmp_reason_name(d->reason));
    dmp_json_key(j, "limits");
    dmp_json_arr_begin(j);
    for (size_t i = 0; i < sizeof(limit_names) / sizeof(limit_names[0]); i++)
        if (d->flags & limit_names[i].bit)
            dmp_json_str(j, limit_names[i].name);
    dmp_json_arr_end(j);
    DMP_JSON_KV(j, "text", dmp_json_str, d->text);
}

int dmp_balloon_log_decision(FILE *f, const struct dmp_decision *d)
{
    struct dmp_json j;
    dmp_json_init(&j, f, false);
    dmp_json_obj_begin(&j);
    decision_fields(&j, d);
    dmp_json_obj_end(&j);
    if (dmp_json_finish(&j) < 0)
        return -EINVAL;
    fputc('\n', f);
    return ferror(f) ? -EIO : 0;
}

int dmp_balloon_metrics_json(FILE *f, const struct dmp_policy_summary *s,
                             const struct dmp_decision *d, size_t n, bool pretty)
{
    struct dmp_json j;
    dmp_json_init(&j, f, pretty);
    dmp_json_obj_begin(&j);
    dmp_json_key(&j, "host");
    dmp_json_obj_begin(&j);
    DMP_JSON_KV(&j, "time_ms", dmp_json_u64, s->now_ms);
    DMP_JSON_KV(&j, "budget_kib", dmp_json_u64, s->budget_kib);
    DMP_JSON_KV(&j, "reserve_kib", dmp_json_u64, s->reserve_kib);
    DMP_JSON_KV(&j, "free_kib", dmp_json_u64, s->free_kib);
    DMP_JSON_KV(&j, "sum_targets_kib", dmp_json_u64, s->sum_new_kib);
    DMP_JSON_KV(&j, "sum_actual_kib", dmp_json_u64, s->sum_actual_kib);
    DMP_JSON_KV(&j, "overcommitted", dmp_json_bool, s->overcommitted);
    DMP_JSON_KV(&j, "guests", dmp_json_u64, s->n_guests);
    DMP_JSON_KV(&j, "changed", dmp_json_u64, s->n_changed);
    DMP_JSON_KV(&j, "stuck", dmp_json_u64, s->n_stuck);
    DMP_JSON_KV(&j, "no_balloon", dmp_json_u64, s->n_no_balloon);
    dmp_json_obj_end(&j);
    dmp_json_key(&j, "domains");
    dmp_json_arr_begin(&j);
    for (size_t i = 0; i < n; i++) {
        dmp_json_obj_begin(&j);
        decision_fields(&j, &d[i]);
        dmp_json_obj_end(&j);
    }
    dmp_json_arr_end(&j);
    dmp_json_obj_end(&j);
    if (dmp_json_finish(&j) < 0)
        return -EINVAL;
    fputc('\n', f);
    return ferror(f) ? -EIO : 0;
}

/* Label values escape backslash, double quote and newline (exposition format). */
static void label(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(f, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

struct gauge {
    const char *name, *help;
    uint64_t (*get)(const struct dmp_decision *d);
};

static uint64_t g_target(const struct dmp_decision *d) { return d->new_target_kib * 1024; }
static uint64_t g_actual(const struct dmp_decision *d) { return d->actual_kib * 1024; }
static uint64_t g_floor(const struct dmp_decision *d) { return d->floor_kib * 1024; }
static uint64_t g_ceiling(const struct dmp_decision *d) { return d->ceiling_kib * 1024; }
static uint64_t g_est(const struct dmp_decision *d) { return d->wss.bytes; }
static uint64_t g_est_lo(const struct dmp_decision *d) { return d->wss.lower; }
static uint64_t g_est_hi(const struct dmp_decision *d) { return d->wss.upper; }
static uint64_t g_stuck(const struct dmp_decision *d) { return d->state == DMP_GUEST_STUCK; }
static uint64_t g_nob(const struct dmp_decision *d) { return d->state == DMP_GUEST_NO_BALLOON; }

int dmp_balloon_metrics_prometheus(FILE *f, const struct dmp_policy_summary *s,
                                   const struct dmp_decision *d, size_t n)
{
    static const struct { const char *name, *help; } host[] = {
        { "dmp_balloon_host_budget_bytes", "Memory the guests may have in total." },
        { "dmp_balloon_host_reserve_bytes", "Memory kept free inside the budget." },
        { "dmp_balloon_host_free_bytes", "Host free memory at the last step." },
        { "dmp_balloon_host_targets_bytes", "Sum of the guests' targets." },
        { "dmp_balloon_host_overcommitted", "1 when the guests' floors do not fit the budget." },
    };
    uint64_t hv[] = { s->budget_kib * 1024, s->reserve_kib * 1024, s->free_kib * 1024,
                      s->sum_new_kib * 1024, s->overcommitted };
    for (size_t i = 0; i < sizeof(host) / sizeof(host[0]); i++)
        fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRIu64 "\n", host[i].name, host[i].help,
                host[i].name, host[i].name, hv[i]);
    static const struct gauge gauges[] = {
        { "dmp_balloon_target_bytes", "Memory target set for the guest.", g_target },
        { "dmp_balloon_actual_bytes", "Memory the guest's balloon has reached.", g_actual },
        { "dmp_balloon_floor_bytes", "Lowest target the policy may set.", g_floor },
        { "dmp_balloon_ceiling_bytes", "Highest target the policy may set.", g_ceiling },
        { "dmp_balloon_wss_bytes", "Estimated working set.", g_est },
        { "dmp_balloon_wss_lower_bytes", "Lower confidence bound of the working set.", g_est_lo },
        { "dmp_balloon_wss_upper_bytes", "Upper confidence bound of the working set.", g_est_hi },
        { "dmp_balloon_stuck", "1 when the guest's balloon is stuck.", g_stuck },
        { "dmp_balloon_no_balloon", "1 when the guest has no working balloon driver.", g_nob },
    };
    for (size_t k = 0; k < sizeof(gauges) / sizeof(gauges[0]); k++) {
        fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", gauges[k].name, gauges[k].help,
                gauges[k].name);
        for (size_t i = 0; i < n; i++) {
            if ((gauges[k].get == g_est || gauges[k].get == g_est_lo || gauges[k].get == g_est_hi) &&
                !d[i].wss.valid)
                continue;   /* absent rather than a misleading 0 */
            fprintf(f, "%s{domain=\"", gauges[k].name);
            label(f, d[i].name);
            fprintf(f, "\",domid=\"%" PRIu32 "\"} %" PRIu64 "\n", d[i].domid, gauges[k].get(&d[i]));
        }
    }
    return ferror(f) ? -1 : 0;
}
