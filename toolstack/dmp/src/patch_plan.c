/* Planning a live patch while the guest runs: classify the copied live text, select the
 * sites, place the stub area, plan each site and build the stub image. */
#include <cpuid.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmpcommon/util.h"
#include "dmppatcher/classify.h"
#include "dmppatcher/codeview.h"
#include "patch_internal.h"

/* The addresses of the hot file, or the all-mmu selection of the classified text. */
static int select_sites(struct dmp_codeview *cv, const struct dmp_patch_target *d,
                        const char *hot_file, struct dmp_sites *sites, uint64_t **vas,
                        size_t *nvas, enum dmp_outcome *oc, char *err, size_t errlen)
{
    char why[512];
    if (hot_file) {
        uint8_t *text;
        size_t tl;
        int rc = dmp_read_file(hot_file, &text, &tl);
        if (rc) {
            *oc = DMP_BAD_INPUT;
            return dmp_errf(err, errlen, rc, "cannot read hot file '%s'", hot_file);
        }
        rc = dmp_lp_parse_hot((const char *)text, vas, nvas, why, sizeof(why));
        free(text);
        if (rc) {
            *oc = DMP_BAD_INPUT;
            return dmp_errf(err, errlen, rc, "%s: %s", hot_file, why);
        }
        return 0;
    }
    int rc = dmp_classify_all(cv, sites);
    if (rc)
        return dmp_errf(err, errlen, rc, "classification failed: %s", strerror(-rc));
    rc = dmp_lp_select_mmu_sites(cv, sites, vas, nvas, why, sizeof(why));
    if (rc)
        return dmp_errf(err, errlen, rc, "refused: domain %s left untouched: %s", d->name, why);
    return 0;
}

int dmp_patch_plan_all(struct dmp_live *l, const struct dmp_patch_target *d,
                       const char *hot_file, struct dmp_lp_journal *j,
                       struct dmp_patch_counts *c, enum dmp_outcome *oc, char *err,
                       size_t errlen)
{
    *oc = DMP_FAILED;
    struct dmp_codeview cv;
    int rc = dmp_live_codeview(&cv, dmp_live_kimage(l), dmp_live_ksyms(l));
    if (rc)
        return dmp_errf(err, errlen, rc, "domain %s: no kernel text: %s", d->name,
                        strerror(-rc));
    uint64_t *vas = NULL;
    size_t nvas = 0;
    struct dmp_sites sites = { 0 };
    struct dmp_planner *pl = NULL;
    uint64_t base;
    size_t area;
    char why[512];
    rc = dmp_lp_find_area(&cv, &base, &area, why, sizeof(why));
    if (rc) {
        dmp_errf(err, errlen, rc, "domain %s: %s", d->name, why);
        goto out;
    }
    rc = select_sites(&cv, d, hot_file, &sites, &vas, &nvas, oc, err, errlen);
    if (rc)
        goto out;
    struct dmp_planner_opts po = { .stub_base = base, .stub_size = area };
    rc = dmp_planner_new(&cv, &po, &pl);
    if (rc) {
        dmp_errf(err, errlen, rc, "planner: %s", strerror(-rc));
        goto out;
    }
    j->plans = calloc(nvas ? nvas : 1, sizeof(*j->plans));
    if (!j->plans) {
        rc = dmp_errf(err, errlen, -ENOMEM, "out of memory");
        goto out;
    }
    c->candidates = nvas;
    for (size_t i = 0; i < nvas; i++) {
        struct dmp_plan *p = &j->plans[j->nplans];
        rc = dmp_plan_site(pl, vas[i], p);
        if (rc < 0) {
            dmp_errf(err, errlen, rc, "planning 0x%" PRIx64 ": %s", vas[i], strerror(-rc));
            goto out;
        }
        if (rc == 1 || p->tactic == DMP_TACTIC_REFUSED) {
            if (c->refused++ == 0)
                snprintf(c->first_refusal, sizeof(c->first_refusal), "0x%" PRIx64 " %s: %s",
                         vas[i], dmp_refusal_name(p->reason), p->detail);
            c->refusals[p->reason < DMP_REFUSE_MAX ? p->reason : 0]++;
            continue;
        }
        c->planned++;
        if (dmp_lp_kind_is_atomic(p->kind)) {
            c->skipped_atomic++;
            continue;
        }
        j->nplans++;
    }
    uint64_t ibase;
    size_t used;
    const uint8_t *img = dmp_planner_stub_area(pl, &ibase, &used);
    rc = ibase == base ? dmp_lp_build_stub(img, base, used, dmp_planner_hv_slot_va(pl), area, j)
                       : -EINVAL;
    if (rc)
        dmp_errf(err, errlen, rc, "stub area 0x%" PRIx64 "+%zu: %s (image %zu bytes)", base, area,
                 strerror(-rc), used);
out:
    dmp_planner_free(pl);
    dmp_sites_free(&sites);
    free(vas);
    dmp_cv_release(&cv);
    return rc < 0 ? rc : 0;
}

int dmp_patch_guest_hvcall(enum dmp_lp_hvcall *insn, char vendor[13])
{
    unsigned a, b, c, d;
    vendor[0] = '\0';
    if (!__get_cpuid(0, &a, &b, &c, &d))
        return -ENOTSUP;
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = '\0';
    return dmp_lp_hvcall_for_vendor(vendor, insn);
}
