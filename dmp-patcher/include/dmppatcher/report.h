/* Whole-kernel analysis: classify every site, plan every candidate (MMU-helper call sites and
 * inline page-table/TLB/CR3 instructions), optionally prove every plan with the harness, and
 * print the result as a human table or JSON. */
#ifndef DMP_REPORT_H
#define DMP_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "dmppatcher/classify.h"
#include "dmppatcher/codeview.h"
#include "dmppatcher/equiv.h"
#include "dmpcommon/json.h"
#include "dmppatcher/plan.h"

struct dmp_analysis {
    struct dmp_sites sites;
    struct dmp_plan *plans;
    struct dmp_equiv_result *equiv;   /* per plan, when verified */
    size_t nplans;
    bool verified;
    unsigned planned, refused, by_reason[DMP_REFUSE_MAX], by_kind[DMP_SITE_KIND_MAX];
    unsigned pvop_sites, pvop_mmu_sites;
    unsigned equiv_pass, equiv_fail;
    unsigned long long equiv_runs;
    double secs_classify, secs_plan, secs_verify;
    uint64_t stub_base;
    size_t stub_used;
};

/* Which sites get a plan: MMU-helper call sites and inline classified instructions. */
bool dmp_site_wants_plan(const struct dmp_site *s);

int  dmp_analysis_run(const struct dmp_codeview *cv, const struct dmp_planner_opts *po,
                      bool verify, const struct dmp_equiv_opts *eo, struct dmp_analysis *a);
void dmp_analysis_free(struct dmp_analysis *a);
void dmp_analysis_print(const struct dmp_analysis *a, FILE *out, bool list_sites);
void dmp_analysis_json(const struct dmp_analysis *a, struct dmp_json *j);

#endif
