/* Whole-kernel analysis driver and its human/JSON report. */
#include "dmppatcher/report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dmppatcher/journal.h"
#include "dmpcommon/clock.h"

bool dmp_site_wants_plan(const struct dmp_site *s)
{
    if (s->kind == DMP_SITE_CALL_PVOP || s->kind == DMP_SITE_CALL_DIRECT)
        return s->mmu;
    return true;
}

int dmp_analysis_run(const struct dmp_codeview *cv, const struct dmp_planner_opts *po,
                     bool verify, const struct dmp_equiv_opts *eo, struct dmp_analysis *a)
{
    memset(a, 0, sizeof(*a));
    double t0 = dmp_mono_s();
    int rc = dmp_classify_all(cv, &a->sites);
    if (rc)
        return rc;
    a->secs_classify = dmp_mono_s() - t0;
    t0 = dmp_mono_s();
    struct dmp_planner *p;
    if ((rc = dmp_planner_new(cv, po, &p)) != 0)
        return rc;
    a->plans = calloc(a->sites.n ? a->sites.n : 1, sizeof(*a->plans));
    if (!a->plans) {
        dmp_planner_free(p);
        return -ENOMEM;
    }
    for (size_t i = 0; i < a->sites.n; i++) {
        const struct dmp_site *s = &a->sites.v[i];
        if (s->kind == DMP_SITE_CALL_PVOP) {
            a->pvop_sites++;
            a->pvop_mmu_sites += s->mmu;
        }
        if (!dmp_site_wants_plan(s))
            continue;
        struct dmp_plan *pl = &a->plans[a->nplans];
        rc = dmp_plan_site(p, s->va, pl);
        if (rc < 0)
            break;
        rc = 0;
        if (!pl->kind)
            pl->kind = s->kind;
        a->nplans++;
        a->by_kind[s->kind]++;
        if (pl->tactic == DMP_TACTIC_REFUSED) {
            a->refused++;
            a->by_reason[pl->reason]++;
        } else {
            a->planned++;
        }
    }
    a->secs_plan = dmp_mono_s() - t0;
    const uint8_t *area = dmp_planner_stub_area(p, &a->stub_base, &a->stub_used);
    if (!rc && verify) {
        t0 = dmp_mono_s();
        struct dmp_equiv *h;
        a->equiv = calloc(a->nplans ? a->nplans : 1, sizeof(*a->equiv));
        rc = a->equiv ? dmp_equiv_new(cv, area, a->stub_base, a->stub_used,
                                      dmp_planner_hv_slot_va(p), &h) : -ENOMEM;
        if (!rc) {
            for (size_t i = 0; i < a->nplans && !rc; i++) {
                if (a->plans[i].tactic == DMP_TACTIC_REFUSED)
                    continue;
                rc = dmp_equiv_check(h, &a->plans[i], eo, &a->equiv[i]);
                a->equiv_runs += a->equiv[i].runs;
                if (a->equiv[i].pass)
                    a->equiv_pass++;
                else
                    a->equiv_fail++;
            }
            dmp_equiv_free(h);
            a->verified = true;
        }
        a->secs_verify = dmp_mono_s() - t0;
    }
    dmp_planner_free(p);
    return rc;
}

void dmp_analysis_free(struct dmp_analysis *a)
{
    dmp_sites_free(&a->sites);
    free(a->plans);
    free(a->equiv);
    memset(a, 0, sizeof(*a));
}

void dmp_analysis_print(const struct dmp_analysis *a, FILE *out, bool list_sites)
{
    if (list_sites) {
        fprintf(out, "%-18s %-11s %-36s %-28s %s\n", "SITE", "KIND", "FUNCTION", "CALLEE/SLOT",
                "INSTRUCTION");
        for (size_t i = 0; i < a->sites.n; i++) {
            const struct dmp_site *s = &a->sites.v[i];
            if (s->kind == DMP_SITE_CALL_PVOP && !s->mmu)
                continue;   /* non-MMU pv-ops (irq, cpu) are counted, not listed */
            char cs[64] = "";
            if (s->kind == DMP_SITE_CALL_PVOP)
                snprintf(cs, sizeof(cs), "%.40s@pv_ops+%lld", s->callee, (long long)s->pv_off);
            else
                snprintf(cs, sizeof(cs), "%s", s->callee);
            fprintf(out, "%#-18llx %-11s %-36.36s %-28.28s %s\n", (unsigned long long)s->va,
                    dmp_site_kind_name(s->kind), s->func, cs, s->text);
        }
        fprintf(out, "\n%-18s %-11s %-10s %-36s %s\n", "PLAN SITE", "TACTIC", "LEN/REASON",
                "FUNCTION", "DETAIL");
        for (size_t i = 0; i < a->nplans; i++) {
            const struct dmp_plan *pl = &a->plans[i];
            char lr[32];
            if (pl->tactic == DMP_TACTIC_REFUSED)
                snprintf(lr, sizeof(lr), "%s", dmp_refusal_name(pl->reason));
            else
                snprintf(lr, sizeof(lr), "%u", pl->len);
            fprintf(out, "%#-18llx %-11s %-10s %-36.36s %s", (unsigned long long)pl->hot,
                    dmp_tactic_name(pl->tactic), lr, pl->func, pl->detail);
            if (a->verified && pl->tactic != DMP_TACTIC_REFUSED)
                fprintf(out, " [equiv %s%s%s]", a->equiv[i].pass ? "pass" : "FAIL: ",
                        a->equiv[i].pass ? "" : "", a->equiv[i].pass ? "" : a->equiv[i].why);
            fputc('\n', out);
        }
        fputc('\n', out);
    }
    fprintf(out, "summary: %zu functions, %zu instructions decoded (%zu undecodable bytes)\n",
            a->sites.funcs_scanned, a->sites.insns_decoded, a->sites.undecodable);
    fprintf(out, "sites:");
    unsigned kinds[DMP_SITE_KIND_MAX] = {0};
    for (size_t i = 0; i < a->sites.n; i++)
        kinds[a->sites.v[i].kind]++;
    for (int k = 1; k < DMP_SITE_KIND_MAX; k++)
        fprintf(out, " %s=%u", dmp_site_kind_name(k), kinds[k]);
    fprintf(out, " (pv-op sites reaching MMU helpers: %u of %u)\n", a->pvop_mmu_sites,
            a->pvop_sites);
    fprintf(out, "plans: %zu candidates, %u planned, %u refused\n", a->nplans, a->planned,
            a->refused);
    for (int r = 1; r < DMP_REFUSE_MAX; r++)
        if (a->by_reason[r])
            fprintf(out, "  refused %-26s %u\n", dmp_refusal_name(r), a->by_reason[r]);
    fprintf(out, "stub area: 0x%llx, %zu bytes used\n", (unsigned long long)a->stub_base,
            a->stub_used);
    if (a->verified)
        fprintf(out, "equivalence: %u pass, %u fail, %llu compared runs\n", a->equiv_pass,
                a->equiv_fail, a->equiv_runs);
    fprintf(out, "time: classify %.2fs, plan %.2fs%s", a->secs_classify, a->secs_plan,
            a->verified ? "" : "\n");
    if (a->verified)
        fprintf(out, ", verify %.2fs\n", a->secs_verify);
}

void dmp_analysis_json(const struct dmp_analysis *a, struct dmp_json *j)
{
    dmp_json_obj_begin(j);
    dmp_json_key(j, "sites");
    dmp_json_arr_begin(j);
    for (size_t i = 0; i < a->sites.n; i++) {
        const struct dmp_site *s = &a->sites.v[i];
        dmp_json_obj_begin(j);
        DMP_JSON_KV(j, "va", dmp_json_hex, s->va);
        DMP_JSON_KV(j, "kind", dmp_json_str, dmp_site_kind_name(s->kind));
        DMP_JSON_KV(j, "func", dmp_json_str, s->func);
        DMP_JSON_KV(j, "insn", dmp_json_str, s->text);
        if (s->callee[0] || s->callee_va) {
            DMP_JSON_KV(j, "callee", dmp_json_str, s->callee);
            DMP_JSON_KV(j, "callee_va", dmp_json_hex, s->callee_va);
        }
        if (s->pv_off >= 0)
            DMP_JSON_KV(j, "pv_ops_offset", dmp_json_i64, s->pv_off);
        if (s->kind == DMP_SITE_CALL_PVOP)
            DMP_JSON_KV(j, "mmu", dmp_json_bool, s->mmu);
        dmp_json_obj_end(j);
    }
    dmp_json_arr_end(j);
    dmp_json_key(j, "plans");
    dmp_json_arr_begin(j);
    for (size_t i = 0; i < a->nplans; i++) {
        dmp_plan_json(j, &a->plans[i]);
    }
    dmp_json_arr_end(j);
    if (a->verified) {
        dmp_json_key(j, "equivalence");
        dmp_json_arr_begin(j);
        for (size_t i = 0; i < a->nplans; i++) {
            if (a->plans[i].tactic == DMP_TACTIC_REFUSED)
                continue;
            dmp_json_obj_begin(j);
            DMP_JSON_KV(j, "site", dmp_json_hex, a->plans[i].site);
            DMP_JSON_KV(j, "pass", dmp_json_bool, a->equiv[i].pass);
            DMP_JSON_KV(j, "runs", dmp_json_u64, a->equiv[i].runs);
            DMP_JSON_KV(j, "skipped", dmp_json_u64, a->equiv[i].skipped);
            if (!a->equiv[i].pass)
                DMP_JSON_KV(j, "why", dmp_json_str, a->equiv[i].why);
            dmp_json_obj_end(j);
        }
        dmp_json_arr_end(j);
    }
    dmp_json_key(j, "summary");
    dmp_json_obj_begin(j);
    DMP_JSON_KV(j, "functions", dmp_json_u64, a->sites.funcs_scanned);
    DMP_JSON_KV(j, "instructions", dmp_json_u64, a->sites.insns_decoded);
    DMP_JSON_KV(j, "undecodable", dmp_json_u64, a->sites.undecodable);
    DMP_JSON_KV(j, "sites", dmp_json_u64, a->sites.n);
    DMP_JSON_KV(j, "pvop_sites", dmp_json_u64, a->pvop_sites);
    DMP_JSON_KV(j, "pvop_mmu_sites", dmp_json_u64, a->pvop_mmu_sites);
    DMP_JSON_KV(j, "candidates", dmp_json_u64, a->nplans);
    DMP_JSON_KV(j, "planned", dmp_json_u64, a->planned);
    DMP_JSON_KV(j, "refused", dmp_json_u64, a->refused);
    dmp_json_key(j, "refused_by_reason");
    dmp_json_obj_begin(j);
    for (int r = 1; r < DMP_REFUSE_MAX; r++)
        if (a->by_reason[r])
            DMP_JSON_KV(j, dmp_refusal_name(r), dmp_json_u64, a->by_reason[r]);
    dmp_json_obj_end(j);
    if (a->verified) {
        DMP_JSON_KV(j, "equiv_pass", dmp_json_u64, a->equiv_pass);
        DMP_JSON_KV(j, "equiv_fail", dmp_json_u64, a->equiv_fail);
        DMP_JSON_KV(j, "equiv_runs", dmp_json_u64, a->equiv_runs);
    }
    DMP_JSON_KV(j, "secs_classify", dmp_json_double, a->secs_classify);
    DMP_JSON_KV(j, "secs_plan", dmp_json_double, a->secs_plan);
    dmp_json_obj_end(j);
    dmp_json_obj_end(j);
}
