/* The JSON reports of the DMP operations, written and read back (dmp/report.h). */
#include "dmp/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dmpcommon/json.h"
#include "dmpcommon/json_read.h"
#include "dmpcommon/util.h"

static int finish(struct dmp_json *js, FILE *f)
{
    int rc = dmp_json_finish(js);
    fputc('\n', f);
    return rc == 0 ? 0 : -EIO;
}

static void journal_places(struct dmp_json *js, const struct dmp_patch_target *d)
{
    DMP_JSON_KV(js, "journal_xenstore", dmp_json_str, d->xs_dir);
    DMP_JSON_KV(js, "journal_file", dmp_json_str, d->file);
}

int dmp_report_patch_json(FILE *f, const struct dmp_patch_result *r)
{
    struct dmp_json js;
    dmp_json_init(&js, f, true);
    dmp_json_obj_begin(&js);
    DMP_JSON_KV(&js, "domain", dmp_json_str, r->dom.name);
    DMP_JSON_KV(&js, "domid", dmp_json_u64, r->dom.domid);
    DMP_JSON_KV(&js, "mode", dmp_json_str, r->mode[0] ? r->mode : DMP_LP_MODE);
    DMP_JSON_KV(&js, "dry_run", dmp_json_bool, r->dry_run);
    DMP_JSON_KV(&js, "already_patched", dmp_json_bool, r->already_patched);
    DMP_JSON_KV(&js, "sites", dmp_json_u64, r->sites);
    DMP_JSON_KV(&js, "stub_base", dmp_json_hex, r->stub_base);
    DMP_JSON_KV(&js, "stub_len", dmp_json_u64, r->stub_len);
    DMP_JSON_KV(&js, "hv_update", dmp_json_hex, r->hv_update);
    if (!r->already_patched) {
        DMP_JSON_KV(&js, "candidates", dmp_json_u64, r->candidates);
        DMP_JSON_KV(&js, "planned", dmp_json_u64, r->planned);
        DMP_JSON_KV(&js, "refused", dmp_json_u64, r->refused);
        dmp_json_key(&js, "refusals");
        dmp_json_obj_begin(&js);
        for (int i = 1; i < DMP_REFUSE_MAX; i++)
            if (r->refusals[i])
                DMP_JSON_KV(&js, dmp_refusal_name(i), dmp_json_u64, r->refusals[i]);
        dmp_json_obj_end(&js);
        DMP_JSON_KV(&js, "skipped_atomic", dmp_json_u64, r->skipped_atomic);
        DMP_JSON_KV(&js, "skipped_vcpu_inside", dmp_json_u64, r->skipped_busy);
        DMP_JSON_KV(&js, "skipped_bytes_changed", dmp_json_u64, r->skipped_changed);
        DMP_JSON_KV(&js, "applied", dmp_json_u64, r->applied);
        DMP_JSON_KV(&js, "plan_secs", dmp_json_double, r->plan_secs);
        DMP_JSON_KV(&js, "paused_secs", dmp_json_double, r->paused_secs);
        DMP_JSON_KV(&js, "total_secs", dmp_json_double, r->total_secs);
    }
    journal_places(&js, &r->dom);
    DMP_JSON_KV(&js, "plans_cached", dmp_json_bool, r->plans_cached);
    dmp_json_obj_end(&js);
    return finish(&js, f);
}

int dmp_report_status_json(FILE *f, const struct dmp_status_result *r)
{
    struct dmp_json js;
    dmp_json_init(&js, f, true);
    dmp_json_obj_begin(&js);
    DMP_JSON_KV(&js, "domain", dmp_json_str, r->dom.name);
    DMP_JSON_KV(&js, "domid", dmp_json_u64, r->dom.domid);
    DMP_JSON_KV(&js, "patched", dmp_json_bool, r->patched);
    if (r->patched) {
        DMP_JSON_KV(&js, "mode", dmp_json_str, r->mode);
        DMP_JSON_KV(&js, "sites", dmp_json_u64, r->sites);
        DMP_JSON_KV(&js, "sites_patched", dmp_json_u64, r->sites_patched);
        DMP_JSON_KV(&js, "sites_original", dmp_json_u64, r->sites_original);
        DMP_JSON_KV(&js, "sites_other", dmp_json_u64, r->sites_other);
        DMP_JSON_KV(&js, "stub_base", dmp_json_hex, r->stub_base);
        DMP_JSON_KV(&js, "stub_len", dmp_json_u64, r->stub_len);
        DMP_JSON_KV(&js, "stub_state", dmp_json_str, r->stub_state);
        DMP_JSON_KV(&js, "hv_update", dmp_json_hex, r->hv_update);
        DMP_JSON_KV(&js, "journal_source", dmp_json_str, r->journal_source);
        DMP_JSON_KV(&js, "created", dmp_json_u64, r->created);
        if (r->fastpath_rc == 0) {
            dmp_json_key(&js, "fastpath");
            dmp_fastpath_stats_json(&js, &r->fastpath);
        } else if (r->fastpath_rc != 1) {
            DMP_JSON_KV(&js, "fastpath_error", dmp_json_str, r->fastpath_err);
        }
    }
    journal_places(&js, &r->dom);
    dmp_json_obj_end(&js);
    return finish(&js, f);
}

int dmp_report_unpatch_json(FILE *f, const struct dmp_unpatch_result *r)
{
    struct dmp_json js;
    dmp_json_init(&js, f, true);
    dmp_json_obj_begin(&js);
    DMP_JSON_KV(&js, "domain", dmp_json_str, r->dom.name);
    DMP_JSON_KV(&js, "sites", dmp_json_u64, r->sites);
    DMP_JSON_KV(&js, "restored", dmp_json_u64, r->restored);
    DMP_JSON_KV(&js, "journal_source", dmp_json_str, r->journal_source);
    DMP_JSON_KV(&js, "rip_waits", dmp_json_u64, r->rip_waits);
    DMP_JSON_KV(&js, "paused_sites_secs", dmp_json_double, r->paused_sites_secs);
    DMP_JSON_KV(&js, "paused_stubs_secs", dmp_json_double, r->paused_stubs_secs);
    DMP_JSON_KV(&js, "total_secs", dmp_json_double, r->total_secs);
    DMP_JSON_KV(&js, "mode", dmp_json_str, r->mode);
    if (r->fastpath_rc == 0) {
        dmp_json_key(&js, "fastpath");
        dmp_fastpath_stats_json(&js, &r->fastpath);
    }
    dmp_json_obj_end(&js);
    return finish(&js, f);
}

/* Hypervisor counters that the profile should agree with over the same window (host-wide:
 * meaningful when the profiled guest is the only busy domain). */
static const char *const perfc_names[] = {
    "calls to shadow_fault",
    "shadow_fault emulates a write",
    "shadow_fault fast emulate",
    "shadow_fault fixed fault",
    "shadow_fault fast path n/p",
    "shadow_fault really guest fault",
    "shadow_fault handled as mmio",
    "shadow emulates invlpg",
};
/* VMX counts CR3 writes only among all control-register accesses: there the value is an
 * upper bound (dmpxen/perfc.h). */
static const struct { enum dmp_exit_kind kind; const char *name; } vmexits[] = {
    { DMP_EXIT_CR3_WRITE, "vmexit CR3 write" },
    { DMP_EXIT_PF, "vmexit #PF" },
    { DMP_EXIT_INVLPG, "vmexit INVLPG" },
};

static void perfc_window(struct dmp_json *j, const struct dmp_perfc_snapshot *a,
                         const struct dmp_perfc_snapshot *b)
{
    dmp_json_key(j, "perfc_window");
    dmp_json_obj_begin(j);
    DMP_JSON_KV(j, "vendor", dmp_json_str, dmp_hvm_vendor_name(a->vendor));
    for (size_t i = 0; i < sizeof(perfc_names) / sizeof(perfc_names[0]); i++)
        DMP_JSON_KV(j, perfc_names[i], dmp_json_i64, dmp_perfc_delta(a, b, perfc_names[i]));
    for (size_t i = 0; i < sizeof(vmexits) / sizeof(vmexits[0]); i++)
        DMP_JSON_KV(j, vmexits[i].name, dmp_json_i64, dmp_perfc_exits(a, b, vmexits[i].kind));
    DMP_JSON_KV(j, "vmexits", dmp_json_i64, dmp_perfc_delta(a, b, "vmexits"));
    dmp_json_obj_end(j);
}

int dmp_report_profile_json(FILE *f, const struct dmp_profile_result *r, size_t top)
{
    struct dmp_json j;
    dmp_json_init(&j, f, true);
    dmp_json_obj_begin(&j);
    DMP_JSON_KV(&j, "name", dmp_json_str, r->name);
    DMP_JSON_KV(&j, "interrupted", dmp_json_bool, r->interrupted);
    if (r->have_syms)
        DMP_JSON_KV(&j, "kaslr_slide", dmp_json_hex, (uint64_t)r->slide);
    else if (r->symbols_wanted)
        DMP_JSON_KV(&j, "symbols_error", dmp_json_str, r->sym_err);
    dmp_profile_json(&j, &r->prof, top, r->seconds, dmp_profile_result_symbolizer(r), (void *)r);
    if (r->have_perfc)
        perfc_window(&j, &r->perfc_before, &r->perfc_after);
    dmp_json_obj_end(&j);
    return finish(&j, f);
}

/* ---- reading reports back ---- */

/* The whole report parsed once (dmpcommon/json_read.h): 0 with *doc, or -EINVAL / -ENOMEM
 * with the reason. A report that does not parse is refused as a whole. */
static int parse_report(const char *json, size_t len, const char *what, struct dmp_jdoc **doc,
                        char *err, size_t errlen)
{
    int rc = dmp_jdoc_parse(json, len, doc, NULL, 0);
    if (rc == -ENOMEM)
        return dmp_errf(err, errlen, rc, "out of memory");
    if (rc < 0)
        return dmp_errf(err, errlen, -EINVAL, "%s report is not valid JSON", what);
    return 0;
}

int dmp_report_profile_rate(const char *json, size_t len, double *rate, uint64_t *events,
                            double *seconds, char *err, size_t errlen)
{
    struct dmp_jdoc *doc;
    int rc = parse_report(json, len, "profile", &doc, err, errlen);
    if (rc < 0)
        return rc;
    const struct dmp_jval *root = dmp_jroot(doc);
    double secs;
    if (dmp_jdouble(dmp_jget(root, "seconds"), &secs) < 0 || !(secs > 0.0)) {
        dmp_jdoc_free(doc);
        return dmp_errf(err, errlen, -EINVAL, "profile report has no positive \"seconds\"");
    }
    uint64_t sum = 0;
    for (uint32_t k = 1; k < DMP_TRAP_KIND_NR; k++) {
        if (!dmp_trap_kind_is_pt(k))
            continue;
        char path[48];
        uint64_t n;
        snprintf(path, sizeof(path), "totals.%s", dmp_trap_kind_name(k));
        if (dmp_ju64(dmp_jpath(root, path), &n) < 0) {
            dmp_jdoc_free(doc);
            return dmp_errf(err, errlen, -EINVAL, "profile report has no %s", path);
        }
        sum += n;
    }
    dmp_jdoc_free(doc);
    *rate = (double)sum / secs;
    *events = sum;
    *seconds = secs;
    return 0;
}

static bool pt_kind_named(const char *name)
{
    for (uint32_t k = 1; k < DMP_TRAP_KIND_NR; k++)
        if (dmp_trap_kind_is_pt(k) && strcmp(name, dmp_trap_kind_name(k)) == 0)
            return true;
    return false;
}

int dmp_report_profile_hot(const char *json, size_t len, uint64_t *rips, size_t max, char *err,
                           size_t errlen)
{
    struct dmp_jdoc *doc;
    int rc = parse_report(json, len, "profile", &doc, err, errlen);
    if (rc < 0)
        return rc;
    const struct dmp_jval *entries = dmp_jget(dmp_jroot(doc), "entries");
    if (dmp_jtype(entries) != DMP_JARR)
        entries = NULL;     /* no entries: nothing hot */
    size_t n = 0;
    unsigned i = 0;
    /* The entries end at the first one without a kind, as they always have. */
    for (const struct dmp_jval *e = dmp_jfirst(entries); e && n < max; e = dmp_jnext(e), i++) {
        char kind[32], rip[32];
        if (dmp_jstr_copy(dmp_jget(e, "kind"), kind, sizeof(kind)) < 0)
            break;
        if (dmp_jstr_copy(dmp_jget(e, "rip"), rip, sizeof(rip)) < 0) {
            rc = dmp_errf(err, errlen, -EINVAL, "profile entry %u has no rip", i);
            break;
        }
        char *end;
        errno = 0;
        unsigned long long r = strtoull(rip, &end, 16);
        if (errno || *end) {
            rc = dmp_errf(err, errlen, -EINVAL, "profile entry %u: bad rip '%s'", i, rip);
            break;
        }
        /* Kernel text only: user RIPs are the guest's programs. */
        if (!pt_kind_named(kind) || r < 0xffff800000000000ull)
            continue;
        bool dup = false;
        for (size_t k = 0; k < n && !dup; k++)
            dup = rips[k] == r;
        if (!dup)
            rips[n++] = r;
    }
    dmp_jdoc_free(doc);
    return rc < 0 ? rc : (int)n;
}

int dmp_report_hot_file(const char *json, size_t len, const char *path, const char *what,
                        char *err, size_t errlen)
{
    uint64_t rips[DMP_REPORT_HOT_MAX];
    int n = dmp_report_profile_hot(json, len, rips, DMP_REPORT_HOT_MAX, err, errlen);
    if (n < 0)
        return n;
    if (n == 0)
        return dmp_errf(err, errlen, -ENOENT, "no kernel page-table RIP in the profile");
    char *buf = NULL;
    size_t bl = 0;
    FILE *f = open_memstream(&buf, &bl);
    if (!f)
        return dmp_errf(err, errlen, -ENOMEM, "out of memory");
    fprintf(f, "# hot page-table RIPs of %s\n", what);
    for (int i = 0; i < n; i++)
        fprintf(f, "0x%" PRIx64 "\n", rips[i]);
    if (fclose(f) != 0) {
        free(buf);
        return dmp_errf(err, errlen, -ENOMEM, "out of memory");
    }
    int rc = dmp_write_file_atomic(path, buf, bl);
    free(buf);
    if (rc)
        return dmp_errf(err, errlen, rc, "cannot write %.180s: %s", path, strerror(-rc));
    return 0;
}

int dmp_report_patch_read(const char *json, size_t len, uint32_t *sites, bool *already,
                          char *err, size_t errlen)
{
    struct dmp_jdoc *doc;
    int rc = parse_report(json, len, "patch", &doc, err, errlen);
    if (rc < 0)
        return rc;
    const struct dmp_jval *root = dmp_jroot(doc);
    uint64_t s;
    if (dmp_ju64(dmp_jget(root, "sites"), &s) < 0 || s > UINT32_MAX) {
        dmp_jdoc_free(doc);
        return dmp_errf(err, errlen, -EINVAL, "patch report has no \"sites\"");
    }
    if (dmp_jbool(dmp_jget(root, "already_patched"), already) < 0)
        *already = false;
    dmp_jdoc_free(doc);
    *sites = (uint32_t)s;
    return 0;
}
