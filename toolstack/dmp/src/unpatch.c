/* Undo a live patch from its journal (dmp/patch.h): with the domain paused and no vCPU in a
 * site, check every site holds the patched (or original) bytes, restore the original bytes and
 * read back; let the guest run briefly so no code is left inside a stub, pause again and
 * restore the stub area's padding; turn the fast path off; delete the journal. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xenstore.h>

#include "dmpcommon/util.h"
#include "dmppatcher/journal.h"
#include "patch_internal.h"

#define GRACE_US 200000        /* after restoring sites, before removing the stubs */

static bool journal_sites_busy(const void *arg, const uint64_t *rips, size_t nr)
{
    const struct dmp_lp_journal *j = arg;
    for (size_t i = 0; i < j->nplans; i++)
        if (dmp_patch_plan_busy(&j->plans[i], rips, nr))
            return true;
    return false;
}

static bool stub_busy(const void *arg, const uint64_t *rips, size_t nr)
{
    const struct dmp_lp_journal *j = arg;
    return dmp_lp_any_in(rips, nr, j->stub_base, j->stub_len);
}

/* Which sites to restore (need[i]): those with the patched bytes; refuses anything that is
 * neither patched nor original, and a stub area that is neither image nor padding. */
static int unpatch_checks(struct dmp_live *l, const struct dmp_lp_journal *j, bool *need,
                          char *err, size_t errlen)
{
    struct dmp_kimage *ki = dmp_live_kimage(l);
    for (size_t i = 0; i < j->nplans; i++) {
        const struct dmp_plan *p = &j->plans[i];
        uint8_t cur[DMP_PLAN_MAX_SITE];
        if (dmp_kimage_read(ki, p->site, cur, p->len) != 0)
            return dmp_errf(err, errlen, -EFAULT, "cannot read site 0x%" PRIx64 ": %s", p->site,
                            dmp_live_last_error(l));
        if (memcmp(cur, p->new_bytes, p->len) == 0)
            need[i] = true;
        else if (memcmp(cur, p->old_bytes, p->len) == 0)
            need[i] = false;
        else
            return dmp_errf(err, errlen, -EILSEQ, "site 0x%" PRIx64 " (%s) holds neither the "
                            "patched nor the original bytes: someone else changed it", p->site,
                            p->func);
    }
    uint8_t *cur = malloc(j->stub_len);
    int rc = cur ? dmp_kimage_read(ki, j->stub_base, cur, j->stub_len) : -ENOMEM;
    if (rc == 0 && memcmp(cur, j->stub_new, j->stub_len) != 0 &&
        memcmp(cur, j->stub_old, j->stub_len) != 0)
        rc = dmp_errf(err, errlen, -EILSEQ, "stub area 0x%" PRIx64 " holds unexpected bytes",
                      j->stub_base);
    else if (rc)
        dmp_errf(err, errlen, rc, "cannot read the stub area");
    free(cur);
    return rc;
}

/* Log drain, sites restored under one pause, grace period, stub area restored under a
 * second. Leaves the domain unpaused. */
static int restore(struct dmp_live *l, struct dmp_lp_journal *j, struct dmp_unpatch_result *r,
                   char *err, size_t errlen)
{
    bool *need = calloc(j->nplans ? j->nplans : 1, sizeof(*need));
    double t0 = dmp_mono_s();
    int rc = need ? 0 : dmp_errf(err, errlen, -ENOMEM, "out of memory");
    if (rc == 0 && strcmp(j->mode, DMP_LP_MODE_LOG) == 0)
        rc = dmp_patch_log_drain(l, j, &r->rip_waits, err, errlen);
    if (rc == 0)
        rc = dmp_patch_pause_clear(l, journal_sites_busy, j, j->stub_base, &r->rip_waits, err,
                                   errlen);
    if (rc == 0)
        rc = unpatch_checks(l, j, need, err, errlen);
    struct dmp_patch_mem pm;
    dmp_patch_mem_from_kimage(&pm, dmp_live_kimage(l));
    for (size_t i = 0; rc == 0 && i < j->nplans; i++)
        if (need[i]) {
            rc = dmp_plan_undo(&j->plans[i], &pm, err, errlen);
            r->restored += rc == 0;
        }
    dmp_patch_unpause_all(l);
    r->paused_sites_secs = dmp_mono_s() - t0;
    free(need);
    if (rc)
        return rc;
    /* Sites are original again, so nothing new enters a stub; give a vCPU that was
     * interrupted inside one time to leave before its bytes go. */
    usleep(GRACE_US);
    t0 = dmp_mono_s();
    rc = dmp_patch_pause_clear(l, stub_busy, j, j->stub_base, &r->rip_waits, err, errlen);
    if (rc == 0)
        rc = dmp_patch_write_region(l, j->stub_base, j->stub_old, j->stub_len, err, errlen);
    dmp_patch_unpause_all(l);
    r->paused_stubs_secs = dmp_mono_s() - t0;
    return rc;
}

static int unpatch_journal(const struct dmp_unpatch_opts *o, struct xs_handle *xs,
                           struct dmp_lp_journal *j, struct dmp_unpatch_result *r, char *err,
                           size_t errlen)
{
    struct dmp_live *l;
    struct dmp_live_kernel k;
    int rc = dmp_patch_open_guest(&r->dom, false, false, &l, &k, &r->outcome, err, errlen);
    if (rc)
        return rc;
    rc = dmp_patch_root_for(&r->dom, l, j->stub_base, err, errlen);
    char why[768];
    if (rc == 0 && (rc = restore(l, j, r, why, sizeof(why))) != 0)
        dmp_errf(err, errlen, rc, "domain %s: %s; journal kept (sites restored so far: %zu)",
                 r->dom.name, why, r->restored);
    dmp_live_close(l);
    if (rc)
        return rc;
    /* Fast path: off once no stub can call it (the text is restored); counters first. */
    if (strcmp(j->mode, DMP_LP_MODE_FASTPATH) == 0 || strcmp(j->mode, DMP_LP_MODE_LOG) == 0) {
        r->fastpath_rc = dmp_fastpath_ctl(r->dom.domid, DMP_FASTPATH_DISABLE, &r->fastpath, why,
                                          sizeof(why));
        if (r->fastpath_rc)
            dmp_notef(o->note, o->note_ctx, "warning: text restored but the fast path was not "
                      "turned off: %s", why);
    }
    dmp_journal_remove(xs, &r->dom);
    return 0;
}

int dmp_unpatch(const struct dmp_unpatch_opts *o, struct dmp_unpatch_result *r, char *err,
                size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->outcome = DMP_FAILED;
    r->fastpath_rc = 1;
    double t_start = dmp_mono_s();
    struct xs_handle *xs;
    int rc = dmp_patch_target_open(o->domain, o->state_dir, false, &xs, &r->dom, &r->outcome,
                                   err, errlen);
    if (rc)
        return rc;
    struct dmp_lp_journal j;
    const char *where = "";
    int jl = dmp_journal_load(xs, &r->dom, &j, &where, err, errlen);
    if (jl == 0) {
        r->outcome = DMP_NOTHING_TO_DO;
        rc = dmp_errf(err, errlen, -ENOENT, "nothing to do: domain %s is not patched (no "
                      "journal)", r->dom.name);
    } else if (jl < 0) {
        rc = jl;
    } else {
        snprintf(r->mode, sizeof(r->mode), "%s", j.mode);
        snprintf(r->journal_source, sizeof(r->journal_source), "%s", where);
        r->sites = j.nplans;
        r->stub_base = j.stub_base;
        r->stub_len = j.stub_len;
        rc = unpatch_journal(o, xs, &j, r, err, errlen);
        if (rc == 0)
            r->outcome = DMP_DONE;
    }
    r->total_secs = dmp_mono_s() - t_start;
    dmp_lp_journal_free(&j);
    xs_close(xs);
    return rc;
}
