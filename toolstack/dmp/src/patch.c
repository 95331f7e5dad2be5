/* The live patch of a running guest kernel (dmp/patch.h): plan while the guest runs, then
 * under one pause check every site and the stub area, write the journal, write the stubs and
 * the sites, and roll back on any failure. Procedure and safety rules: docs/DMP.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xenstore.h>

#include "dmpcommon/util.h"
#include "dmppatcher/journal.h"
#include "patch_internal.h"

static const char *const mode_names[DMP_MODE_NR] = {
    [DMP_MODE_PASSTHROUGH] = DMP_LP_MODE_PASSTHROUGH,
    [DMP_MODE_FASTPATH] = DMP_LP_MODE_FASTPATH,
    [DMP_MODE_LOG] = DMP_LP_MODE_LOG,
};

const char *dmp_patch_mode_name(enum dmp_patch_mode m)
{
    return m < DMP_MODE_NR ? mode_names[m] : NULL;
}


/* What the guest paused finds of the plans: kept, or skipped because a vCPU is inside or
 * the bytes changed since the copy. */
struct apply_counts {
    size_t skipped_busy, skipped_changed, applied;
};

/* Keep only sites with no vCPU inside and the expected bytes in place. */
static size_t keep_clear_sites(struct dmp_live *l, struct dmp_lp_journal *j, const uint64_t *rips,
                               size_t nr, struct apply_counts *c)
{
    struct dmp_kimage *ki = dmp_live_kimage(l);
    size_t k = 0;
    for (size_t i = 0; i < j->nplans; i++) {
        struct dmp_plan *p = &j->plans[i];
        uint8_t cur[DMP_PLAN_MAX_SITE];
        if (dmp_patch_plan_busy(p, rips, nr)) {
            c->skipped_busy++;
            continue;
        }
        if (dmp_kimage_read(ki, p->site, cur, p->len) != 0 || memcmp(cur, p->old_bytes, p->len)) {
            c->skipped_changed++;
            continue;
        }
        j->plans[k++] = *p;
    }
    return k;
}

/* Write the stub area, then the sites; on failure undo what went in, newest first. */
static int write_all(struct dmp_live *l, struct xs_handle *xs, const struct dmp_patch_target *d,
                     const struct dmp_lp_journal *j, struct apply_counts *c, char *err,
                     size_t errlen)
{
    char why[768];
    struct dmp_patch_mem pm;
    dmp_patch_mem_from_kimage(&pm, dmp_live_kimage(l));
    /* Stub area first (nothing reaches it yet), then the sites. */
    int rc = dmp_patch_write_region(l, j->stub_base, j->stub_new, j->stub_len, why, sizeof(why));
    size_t applied = 0;
    for (; rc == 0 && applied < j->nplans; applied++) {
        rc = dmp_plan_apply(&j->plans[applied], &pm, why, sizeof(why));
        if (rc)
            break;
    }
    if (rc == 0) {
        c->applied = applied;
        return 0;
    }
    char uerr[256];
    int bad = 0;
    while (applied-- > 0)
        if (dmp_plan_undo(&j->plans[applied], &pm, uerr, sizeof(uerr)) != 0)
            bad++;
    if (dmp_patch_write_region(l, j->stub_base, j->stub_old, j->stub_len, uerr, sizeof(uerr)))
        bad++;
    if (bad == 0)
        dmp_journal_remove(xs, d);
    return dmp_errf(err, errlen, rc, "patching failed: %s; %s", why,
                    bad ? "ROLLBACK INCOMPLETE: journal kept, run 'dmpctl dmp unpatch'"
                        : "rolled back, guest text as before");
}

/* With the guest paused: checks, journal, writes. On failure every byte written is restored
 * and the journal removed (or the message says the rollback was incomplete). */
static int apply_paused(struct dmp_live *l, struct xs_handle *xs, const struct dmp_patch_target *d,
                        struct dmp_lp_journal *j, struct apply_counts *c, char *err,
                        size_t errlen)
{
    char why[768];
    struct dmp_kimage *ki = dmp_live_kimage(l);
    int rc = dmp_live_refresh_vcpus(l, err, errlen);
    /* A page-table root from a vCPU's current CR3, taken now: live while we hold the pause. */
    if (rc == 0)
        rc = dmp_live_set_root_for(l, j->stub_base, err, errlen);
    if (rc)
        return rc;
    uint64_t rips[DMP_LIVE_MAX_VCPUS];
    size_t nr = dmp_patch_vcpu_rips(l, rips, DMP_LIVE_MAX_VCPUS);
    rc = dmp_kimage_read(ki, j->stub_base, j->stub_old, j->stub_len);
    if (rc)
        return dmp_errf(err, errlen, rc, "cannot read the stub area: %s", dmp_live_last_error(l));
    for (size_t i = 0; i < j->stub_len; i++)
        if (j->stub_old[i] != DMP_LP_PAD)
            return dmp_errf(err, errlen, -EBUSY, "refused: stub area 0x%" PRIx64 " is no longer "
                            "int3 padding (byte 0x%02x at +%zu); guest untouched", j->stub_base,
                            j->stub_old[i], i);
    if (dmp_lp_any_in(rips, nr, j->stub_base, j->stub_len))
        return dmp_errf(err, errlen, -EBUSY, "refused: a vCPU executes in the stub area");
    size_t k = keep_clear_sites(l, j, rips, nr, c);
    bool logm = strcmp(j->mode, DMP_LP_MODE_LOG) == 0;
    /* Log mode is all or nothing: a lazy-MMU enter site patched without its leave sites
     * would leave logged stores unapplied. */
    if (logm && k != j->nplans)
        return dmp_errf(err, errlen, -EBUSY, "refused: %zu sites are busy or changed and log "
                        "mode needs every one; guest untouched (try again)", j->nplans - k);
    j->nplans = k;
    if (k == 0)
        return dmp_errf(err, errlen, -EBUSY, "no site can be patched now; guest untouched");
    if (logm && (rc = dmp_patch_log_check_unused(l, j, why, sizeof(why))))
        return dmp_errf(err, errlen, rc, "refused: %s; guest untouched", why);
    char *text;
    rc = dmp_lp_journal_format(j, &text);
    if (rc)
        return dmp_errf(err, errlen, rc, "journal: %s", strerror(-rc));
    rc = dmp_journal_store(xs, d, text, why, sizeof(why));
    free(text);
    if (rc)
        return dmp_errf(err, errlen, rc, "%s; guest untouched", why);
    return write_all(l, xs, d, j, c, err, errlen);
}

/* A journal of this domain: patched already, unless it outlived the text it describes (the
 * domain rebooted in place: same uuid, fresh kernel), in which case no site holds the
 * patched bytes and the journal is dropped. Returns true if patched. */
static bool journal_holds(const struct dmp_patch_opts *o, struct dmp_live *l,
                          struct xs_handle *xs, const struct dmp_patch_target *d,
                          struct dmp_lp_journal *j)
{
    if (j->nplans > 0 && dmp_live_set_root_for(l, j->plans[0].site, NULL, 0) != 0)
        return true;   /* cannot look: trust the journal (unpatch will check every byte) */
    size_t held = 0;
    uint8_t cur[DMP_PLAN_MAX_SITE];
    for (size_t i = 0; i < j->nplans; i++)
        if (dmp_kimage_read(dmp_live_kimage(l), j->plans[i].site, cur, j->plans[i].len) == 0 &&
            memcmp(cur, j->plans[i].new_bytes, j->plans[i].len) == 0)
            held++;
    if (held > 0)
        return true;
    dmp_notef(o->note, o->note_ctx, "domain %s: stale journal (no site holds the patched "
              "bytes) removed", d->name);
    dmp_journal_remove(xs, d);
    dmp_lp_journal_free(j);
    return false;
}

/* The plans: from the cache when the text is the one they were made for, else found and
 * planned afresh. */
static int plan(const struct dmp_patch_opts *o, struct dmp_live *l, struct dmp_live_kernel *k,
                const struct dmp_patch_target *d, struct dmp_lp_journal *j,
                struct dmp_patch_counts *c, bool *cached, enum dmp_outcome *oc, char *err,
                size_t errlen)
{
    *cached = !o->hot_file && dmp_plan_cache_load(l, d, j);
    if (*cached) {
        c->candidates = c->planned = j->nplans;
        return 0;
    }
    int rc = dmp_patch_find_kernel(d, l, k, err, errlen);
    if (rc)
        return rc;
    j->text_start = k->text_start;
    j->text_end = k->text_end;
    const uint8_t *tb;
    uint64_t ts, te;
    if (dmp_kimage_text(dmp_live_kimage(l), &ts, &te, &tb) == 0)
        j->text_hash = dmp_lp_text_hash(tb, te - ts);
    return dmp_patch_plan_all(l, d, o->hot_file, j, c, oc, err, errlen);
}

/* Fast path and log modes: the stub image of the mode, and the hypervisor's fast path on
 * before any stub can call it (a stub finding it off would only fall back). */
static int prepare_mode(const struct dmp_patch_opts *o, struct dmp_live *l,
                        struct dmp_live_kernel *k, const struct dmp_patch_target *d,
                        struct dmp_lp_journal *j, enum dmp_lp_hvcall *insn, bool *fp_enabled,
                        enum dmp_outcome *oc, char *err, size_t errlen)
{
    char vendor[13];
    int rc = dmp_patch_guest_hvcall(insn, vendor);
    if (rc)
        return dmp_errf(err, errlen, rc, "CPU vendor '%s' unknown: cannot choose vmcall or "
                        "vmmcall; guest untouched", vendor);
    if (o->mode == DMP_MODE_FASTPATH && (rc = dmp_lp_use_fastpath(j, *insn)) != 0)
        return dmp_errf(err, errlen, rc, "cannot build the fast path stub: %s", strerror(-rc));
    if (o->mode == DMP_MODE_LOG) {
        /* Cached plans: the symbols (for the KASLR slide) were not needed until now. */
        if (!dmp_live_ksyms(l) && (rc = dmp_patch_find_kernel(d, l, k, err, errlen)) != 0)
            return rc;
        if ((rc = dmp_patch_log_setup(l, d, o->kernel_image, *insn, j, oc, err, errlen)) != 0)
            return rc;
    }
    if (o->dry_run)
        return 0;
    struct dmp_fastpath_stats st;
    char why[256];
    rc = dmp_fastpath_ctl(d->domid, DMP_FASTPATH_ENABLE, &st, why, sizeof(why));
    if (rc)
        return dmp_errf(err, errlen, rc, "%s; guest untouched", why);
    *fp_enabled = true;
    return 0;
}

/* Pause, apply, unpause always: the VM exit/entry around the pause serialises every vCPU,
 * so each one fetches the new bytes (docs/DMP.md, "Live patching"). */
static int apply(struct dmp_live *l, struct xs_handle *xs, const struct dmp_patch_target *d,
                 struct dmp_lp_journal *j, struct apply_counts *c, double *paused, char *err,
                 size_t errlen)
{
    double t0 = dmp_mono_s();
    int rc = dmp_live_pause(l);
    if (rc)
        return dmp_errf(err, errlen, rc, "cannot pause domain %s: %s", d->name, strerror(-rc));
    rc = apply_paused(l, xs, d, j, c, err, errlen);
    int urc = dmp_live_unpause(l);
    *paused = dmp_mono_s() - t0;
    if (urc && rc == 0)
        rc = dmp_errf(err, errlen, urc, "cannot unpause %s: %s", d->name, strerror(-urc));
    return rc;
}

static void report_journal(struct dmp_patch_result *r, const struct dmp_lp_journal *j)
{
    snprintf(r->mode, sizeof(r->mode), "%s", j->mode[0] ? j->mode : DMP_LP_MODE);
    r->sites = j->nplans;
    r->stub_base = j->stub_base;
    r->stub_len = j->stub_len;
    r->hv_update = j->hv_update;
}

/* Everything after the guest is open and known not to be patched. */
static int patch_open(const struct dmp_patch_opts *o, struct xs_handle *xs, struct dmp_live *l,
                      struct dmp_patch_result *r, struct dmp_lp_journal *j, char *err,
                      size_t errlen)
{
    const struct dmp_patch_target *d = &r->dom;
    struct dmp_live_kernel k;
    struct dmp_patch_counts c;
    memset(&k, 0, sizeof(k));
    memset(&c, 0, sizeof(c));
    enum dmp_outcome oc = DMP_FAILED;
    bool cached = false, fp_enabled = false;
    double t0 = dmp_mono_s();
    int rc = plan(o, l, &k, d, j, &c, &cached, &oc, err, errlen);
    j->domid = d->domid;
    snprintf(j->uuid, sizeof(j->uuid), "%s", d->uuid);
    snprintf(j->name, sizeof(j->name), "%s", d->name);
    snprintf(j->mode, sizeof(j->mode), "%s", DMP_LP_MODE);
    j->created = (uint64_t)time(NULL);
    char why[512];
    /* Always in passthrough layout: either mode can reuse it. Only an optimisation: a failure
     * to save costs the next patch its planning time. */
    if (rc == 0 && !cached && !o->hot_file && !o->dry_run && j->nplans > 0 &&
        dmp_plan_cache_save(d, j, why, sizeof(why)) != 0)
        dmp_notef(o->note, o->note_ctx, "note: %s", why);
    r->plan_secs = dmp_mono_s() - t0;
    enum dmp_lp_hvcall insn = DMP_LP_VMMCALL;
    if (rc == 0 && o->mode != DMP_MODE_PASSTHROUGH && j->nplans > 0)
        rc = prepare_mode(o, l, &k, d, j, &insn, &fp_enabled, &oc, err, errlen);
    if (rc == 0 && j->nplans == 0)
        rc = dmp_errf(err, errlen, -ENOENT, "domain %s: none of %zu candidate sites could be "
                      "planned (%zu refused, %zu atomic; first refusal: %s); untouched", d->name,
                      c.candidates, c.refused, c.skipped_atomic,
                      c.first_refusal[0] ? c.first_refusal : "-");
    struct apply_counts ac = { 0 };
    if (rc == 0 && !o->dry_run)
        rc = apply(l, xs, d, j, &ac, &r->paused_secs, err, errlen);
    if (rc && fp_enabled) {
        /* Nothing of ours calls it now: do not leave the switch on. */
        struct dmp_fastpath_stats st;
        if (dmp_fastpath_ctl(d->domid, DMP_FASTPATH_DISABLE, &st, why, sizeof(why)))
            dmp_notef(o->note, o->note_ctx, "note: %s", why);
    }
    if (rc) {
        r->outcome = oc;
        return rc;
    }
    report_journal(r, j);
    r->plans_cached = cached;
    r->hvcall = insn;
    r->candidates = c.candidates;
    r->planned = c.planned;
    r->refused = c.refused;
    r->skipped_atomic = c.skipped_atomic;
    memcpy(r->refusals, c.refusals, sizeof(r->refusals));
    r->skipped_busy = ac.skipped_busy;
    r->skipped_changed = ac.skipped_changed;
    r->applied = ac.applied;
    r->outcome = DMP_DONE;
    return 0;
}

int dmp_patch(const struct dmp_patch_opts *o, struct dmp_patch_result *r, char *err,
              size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->outcome = DMP_BAD_INPUT;
    r->dry_run = o->dry_run;
    double t_start = dmp_mono_s();
    if (o->mode >= DMP_MODE_NR)
        return dmp_errf(err, errlen, -EINVAL, "unknown mode %d", (int)o->mode);
    if ((o->mode == DMP_MODE_LOG) != (o->kernel_image != NULL))
        return dmp_errf(err, errlen, -EINVAL, "log mode needs the guest's kernel image, and "
                        "only log mode takes one");
    struct xs_handle *xs;
    int rc = dmp_patch_target_open(o->domain, o->state_dir, false, &xs, &r->dom, &r->outcome,
                                   err, errlen);
    if (rc)
        return rc;
    struct dmp_live *l;
    struct dmp_live_kernel k;
    rc = dmp_patch_open_guest(&r->dom, true, false, &l, &k, &r->outcome, err, errlen);
    if (rc) {
        xs_close(xs);
        return rc;
    }
    struct dmp_lp_journal j;
    const char *where = NULL;
    rc = dmp_journal_load(xs, &r->dom, &j, &where, err, errlen);
    if (rc > 0 && journal_holds(o, l, xs, &r->dom, &j)) {
        r->already_patched = true;
        snprintf(r->journal_source, sizeof(r->journal_source), "%s", where);
        report_journal(r, &j);
        r->outcome = DMP_DONE;
        rc = 0;
    } else if (rc >= 0) {
        memset(&j, 0, sizeof(j));
        rc = patch_open(o, xs, l, r, &j, err, errlen);
    }
    r->total_secs = dmp_mono_s() - t_start;
    dmp_lp_journal_free(&j);
    dmp_live_close(l);
    xs_close(xs);
    return rc;
}
