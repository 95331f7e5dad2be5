/* Is a guest live-patched: its journal, and what guest memory holds at each journaled site
 * and in the stub area now (dmp/patch.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#include "dmpcommon/util.h"
#include "patch_internal.h"

/* Each site holds the patched bytes, the original ones, or something else; the stub area
 * the installed image, the padding, or something else. */
static void look(struct dmp_live *l, const struct dmp_lp_journal *j, struct dmp_status_result *r)
{
    struct dmp_kimage *ki = dmp_live_kimage(l);
    for (size_t i = 0; i < j->nplans; i++) {
        uint8_t cur[DMP_PLAN_MAX_SITE];
        const struct dmp_plan *p = &j->plans[i];
        if (dmp_kimage_read(ki, p->site, cur, p->len) != 0)
            r->sites_other++;
        else if (memcmp(cur, p->new_bytes, p->len) == 0)
            r->sites_patched++;
        else if (memcmp(cur, p->old_bytes, p->len) == 0)
            r->sites_original++;
        else
            r->sites_other++;
    }
    uint8_t *cur = malloc(j->stub_len);
    const char *state;
    if (cur && dmp_kimage_read(ki, j->stub_base, cur, j->stub_len) == 0)
        state = memcmp(cur, j->stub_new, j->stub_len) == 0   ? "installed"
                : memcmp(cur, j->stub_old, j->stub_len) == 0 ? "padding"
                                                             : "modified";
    else
        state = "unreadable";
    snprintf(r->stub_state, sizeof(r->stub_state), "%s", state);
    free(cur);
}

static int dump_text(struct dmp_live *l, const char *path, char *err, size_t errlen)
{
    uint64_t ts, te;
    const uint8_t *tb;
    int rc = dmp_kimage_text(dmp_live_kimage(l), &ts, &te, &tb);
    if (rc == 0)
        rc = dmp_write_file_atomic(path, tb, te - ts);
    if (rc)
        return dmp_errf(err, errlen, rc, "cannot dump the text to %s", path);
    return 0;
}

/* The guest's memory: the sites (with a journal) and the text dump (if asked). */
static int read_guest(const struct dmp_status_opts *o, const struct dmp_lp_journal *j, bool jl,
                      struct dmp_status_result *r, char *err, size_t errlen)
{
    struct dmp_live *l;
    struct dmp_live_kernel k;
    int rc = dmp_patch_open_guest(&r->dom, false, o->dump_text != NULL, &l, &k, &r->outcome, err,
                                  errlen);
    if (rc)
        return rc;
    if (!o->dump_text)
        rc = dmp_patch_root_for(&r->dom, l, j->stub_base, err, errlen);
    if (rc == 0 && jl)
        look(l, j, r);
    if (rc == 0 && o->dump_text)
        rc = dump_text(l, o->dump_text, err, errlen);
    dmp_live_close(l);
    return rc;
}

int dmp_patch_status(const struct dmp_status_opts *o, struct dmp_status_result *r, char *err,
                     size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->outcome = DMP_FAILED;
    r->fastpath_rc = 1;
    snprintf(r->stub_state, sizeof(r->stub_state), "-");
    struct xs_handle *xs;
    int rc = dmp_patch_target_open(o->domain, o->state_dir, true, &xs, &r->dom, &r->outcome, err,
                                   errlen);
    if (rc)
        return rc;
    struct dmp_lp_journal j;
    const char *where = "";
    int jl = dmp_journal_load(xs, &r->dom, &j, &where, err, errlen);
    xs_close(xs);
    if (jl < 0)
        return jl;
    rc = jl > 0 || o->dump_text ? read_guest(o, &j, jl > 0, r, err, errlen) : 0;
    /* Fast path counters when the journal says fastpath or log. */
    if (rc == 0 && jl > 0 &&
        (strcmp(j.mode, DMP_LP_MODE_FASTPATH) == 0 || strcmp(j.mode, DMP_LP_MODE_LOG) == 0))
        r->fastpath_rc = dmp_fastpath_ctl(r->dom.domid, DMP_FASTPATH_GET_STATS, &r->fastpath,
                                          r->fastpath_err, sizeof(r->fastpath_err));
    if (rc == 0 && jl > 0) {
        r->patched = true;
        snprintf(r->mode, sizeof(r->mode), "%s", j.mode);
        r->sites = j.nplans;
        r->stub_base = j.stub_base;
        r->stub_len = j.stub_len;
        r->hv_update = j.hv_update;
        snprintf(r->journal_source, sizeof(r->journal_source), "%s", where);
        r->created = j.created;
    }
    dmp_lp_journal_free(&j);
    if (rc == 0)
        r->outcome = DMP_DONE;
    return rc;
}
