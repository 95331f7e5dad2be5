/* Log mode on a live guest (Xen patch 0009): the blob configured for the running kernel and
 * the lazy-MMU pv-op sites at patch time, the per-CPU logs checked unused under pause, and
 * the drain before unpatch. The guest code and its rationale: stub_log.S. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmpcommon/util.h"
#include "dmppatcher/btf_layout.h"
#include "dmppatcher/ksyms.h"
#include "dmppatcher/pvsites.h"
#include "patch_internal.h"

#define DRAIN_ROUNDS 100       /* pause/unpause rounds waiting for per-CPU logs to empty */

/* Where each online vCPU's CPU keeps its log (per-CPU base + log offset), with its entry
 * count and "in a logged section" flag. Guest paused. */
struct log_hdr {
    uint64_t va;
    uint32_t count, active;
};

static int log_headers(struct dmp_live *l, uint64_t log_off, struct log_hdr *h, size_t *n,
                       char *err, size_t errlen)
{
    const struct dmp_live_vcpu *v;
    size_t nv = dmp_live_vcpus(l, &v);
    *n = 0;
    for (size_t i = 0; i < nv; i++) {
        if (!v[i].online)
            continue;
        uint64_t base = dmp_live_vcpu_percpu_base(&v[i]);
        uint32_t w[2];
        if (!base || dmp_kimage_read(dmp_live_kimage(l), base + log_off, w, sizeof(w)) != 0)
            return dmp_errf(err, errlen, -EIO, "cannot read the per-CPU log of vCPU %u "
                            "(per-CPU base 0x%" PRIx64 ")", v[i].id, base);
        h[*n] = (struct log_hdr){ base + log_off, w[0], w[1] };
        (*n)++;
    }
    return 0;
}

/* Clear the flags of CPUs that hold no entries (a section's flag can outlive the log mode
 * that set it, when the vCPU was stopped between enter's check and its write). */
static int log_clear_flags(struct dmp_live *l, const struct log_hdr *h, size_t n)
{
    const uint32_t zero = 0;
    for (size_t i = 0; i < n; i++)
        if (h[i].count == 0 && h[i].active &&
            dmp_kimage_write(dmp_live_kimage(l), h[i].va + 4, &zero, 4) != 0)
            return -EIO;
    return 0;
}

/* The log's memory must be unused: no entries, nothing in the reserved word. */
int dmp_patch_log_check_unused(struct dmp_live *l, const struct dmp_lp_journal *j, char *err,
                               size_t errlen)
{
    uint64_t on_va, log_off;
    struct log_hdr h[DMP_LIVE_MAX_VCPUS];
    size_t n;
    if (dmp_lp_log_info(j, &on_va, &log_off) != 0)
        return dmp_errf(err, errlen, -EINVAL, "log stub image damaged");
    int rc = log_headers(l, log_off, h, &n, err, errlen);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint64_t rsv = 1;
        if (h[i].count != 0 || dmp_kimage_read(dmp_live_kimage(l), h[i].va + 8, &rsv, 8) != 0 ||
            rsv != 0)
            rc = dmp_errf(err, errlen, -EBUSY, "the per-CPU buffer at 0x%" PRIx64 " (Linux's "
                          "Xen PV multicall buffer) is in use", h[i].va);
    }
    if (rc == 0 && log_clear_flags(l, h, n) != 0)
        rc = dmp_errf(err, errlen, -EIO, "cannot reset the per-CPU log flags");
    return rc;
}

/* With logging off a CPU empties its log at its next page-table store or at its section's
 * end, and sections are short (they hold a page-table lock), so a few rounds do. The "on"
 * word is switched off in the in-memory journal image too, which the restore checks compare
 * with. */
int dmp_patch_log_drain(struct dmp_live *l, struct dmp_lp_journal *j, unsigned *waits,
                        char *err, size_t errlen)
{
    uint64_t on_va, log_off;
    if (dmp_lp_log_info(j, &on_va, &log_off) != 0)
        return dmp_errf(err, errlen, -EINVAL, "the journal's log-mode stub image is damaged");
    const uint64_t off = 0;
    int rc = dmp_live_pause(l);
    if (rc)
        dmp_errf(err, errlen, rc, "cannot pause: %s", strerror(-rc));
    else
        rc = dmp_live_set_root_for(l, j->stub_base, err, errlen);
    if (rc == 0)
        rc = dmp_patch_write_region(l, on_va, (const uint8_t *)&off, sizeof(off), err, errlen);
    /* The stub area now differs from the journal's image in this word; the checks before
     * restoring compare with the image, so it takes the new value too. */
    if (rc == 0)
        memcpy(j->stub_new + (on_va - j->stub_base), &off, sizeof(off));
    for (unsigned round = 0; rc == 0; round++) {
        dmp_patch_unpause_all(l);
        if (round == DRAIN_ROUNDS)
            return dmp_errf(err, errlen, -EBUSY, "a CPU still held logged page-table stores "
                            "after %u rounds (log mode is off; the guest stores directly; try "
                            "unpatch again)", DRAIN_ROUNDS);
        usleep(round ? 20000 : 1000);
        struct log_hdr h[DMP_LIVE_MAX_VCPUS];
        size_t n;
        bool busy = false;
        if ((rc = dmp_live_pause(l)) != 0)
            dmp_errf(err, errlen, rc, "cannot pause: %s", strerror(-rc));
        else if ((rc = dmp_live_refresh_vcpus(l, err, errlen)) == 0 &&
                 (rc = dmp_live_set_root_for(l, j->stub_base, err, errlen)) == 0 &&
                 (rc = log_headers(l, log_off, h, &n, err, errlen)) == 0) {
            for (size_t i = 0; i < n; i++)
                busy |= h[i].count != 0;
            if (!busy) {
                rc = log_clear_flags(l, h, n);
                dmp_patch_unpause_all(l);
                if (rc)
                    dmp_errf(err, errlen, rc, "cannot reset the per-CPU log flags");
                return rc;
            }
            (*waits)++;
        }
    }
    dmp_patch_unpause_all(l);
    return rc;
}

/* The plans of the lazy-MMU pv-op sites (from the image's .parainstructions, moved by the
 * KASLR slide), calling the blob's enter and leave. The image must be the running kernel:
 * every site must hold, live, the NOP Linux leaves there on HVM, which a different kernel
 * would not. */
static int add_pv_sites(struct dmp_live *l, const struct dmp_pv_layout *lay, const char *image,
                        uint64_t enter, uint64_t leave, struct dmp_lp_journal *j, char *err,
                        size_t errlen)
{
    struct dmp_plan *np = realloc(j->plans, (j->nplans + lay->nsites) * sizeof(*np));
    if (!np)
        return dmp_errf(err, errlen, -ENOMEM, "out of memory");
    j->plans = np;
    int64_t slide = dmp_ksyms_slide(dmp_live_ksyms(l));
    char why[512];
    for (size_t i = 0; i < lay->nsites; i++) {
        const struct dmp_pv_site *ps = &lay->sites[i];
        uint64_t va = ps->va + (uint64_t)slide;
        uint8_t live[DMP_PLAN_MAX_SITE];
        /* A flush ends the logged section early: correct, only less batched. */
        bool in = ps->op == DMP_PV_LAZY_ENTER;
        if (ps->len > sizeof(live) || dmp_kimage_read(dmp_live_kimage(l), va, live, ps->len))
            return dmp_errf(err, errlen, -EIO, "refused: cannot read the %s site 0x%" PRIx64
                            "; guest untouched", dmp_pv_lazy_op_name(ps->op), va);
        int rc = dmp_lp_pv_site_plan(va, live, ps->len, in ? enter : leave,
                                     dmp_pv_lazy_op_name(ps->op), &j->plans[j->nplans], why,
                                     sizeof(why));
        if (rc)
            return dmp_errf(err, errlen, rc, "refused: %s is not the running kernel or not "
                            "patchable: %s; guest untouched", image, why);
        j->nplans++;
    }
    return 0;
}

int dmp_patch_log_setup(struct dmp_live *l, const struct dmp_patch_target *d, const char *image,
                        enum dmp_lp_hvcall insn, struct dmp_lp_journal *j, enum dmp_outcome *oc,
                        char *err, size_t errlen)
{
    char why[768];
    struct dmp_kimage *img = NULL;
    struct btf *btf = NULL;
    struct dmp_pv_layout lay = { 0 };
    *oc = DMP_FAILED;
    if (!dmp_live_ksyms(l))
        return dmp_errf(err, errlen, -ENOENT, "domain %s: no kernel symbols", d->name);
    int rc = dmp_kimage_open_file(image, &img, why, sizeof(why));
    if (rc) {
        *oc = DMP_BAD_INPUT;
        return dmp_errf(err, errlen, rc, "--kernel-image %s: %s", image, why);
    }
    if ((rc = dmp_pv_lazy_sites(img, &lay, why, sizeof(why))) != 0 ||
        (rc = dmp_btf_load(img, &btf, why, sizeof(why))) != 0) {
        dmp_errf(err, errlen, rc, "refused: %s: %s; guest untouched", image, why);
        goto out;
    }
    if (lay.count[DMP_PV_LAZY_ENTER] == 0 || lay.count[DMP_PV_LAZY_LEAVE] == 0) {
        rc = dmp_errf(err, errlen, -ENOENT, "refused: %s has no lazy-MMU enter/leave sites; "
                      "guest untouched", image);
        goto out;
    }
    static const char *const vars[3] = { "this_cpu_off", "__preempt_count", "mc_buffer" };
    struct dmp_percpu_var pv[3];
    for (int i = 0; i < 3; i++)
        if ((rc = dmp_btf_percpu_lookup(btf, vars[i], &pv[i], why, sizeof(why))) != 0) {
            dmp_errf(err, errlen, rc, "refused: %s: per-CPU %s: %s; guest untouched", image,
                     vars[i], why);
            goto out;
        }
    struct dmp_lp_log_cfg cfg = { pv[0].offset, pv[1].offset, pv[2].offset, pv[2].size,
                                  DMP_LP_LOG_MIN_FLUSH };
    uint64_t enter, leave;
    rc = dmp_lp_use_log(j, insn, &cfg, &enter, &leave);
    if (rc) {
        dmp_errf(err, errlen, rc, "cannot build the log stub: %s (log %" PRIu64 " bytes)",
                 strerror(-rc), pv[2].size);
        goto out;
    }
    rc = add_pv_sites(l, &lay, image, enter, leave, j, err, errlen);
out:
    dmp_pv_layout_free(&lay);
    dmp_btf_free(btf);
    dmp_kimage_close(img);
    return rc;
}
