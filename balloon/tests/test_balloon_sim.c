/* Multi-step simulation: a small host with three guests whose demand changes, balloons that
 * move towards their targets at a limited speed, and the sampling estimator fed from the
 * guests' true working sets. Shows memory moving to the guest under pressure within bounded
 * steps and back when demand falls, never a target lowered below a working set, the budget
 * never exceeded; and runs the static and proportional baselines on the same scenario. */
#include "dmpballoon/balloon_policy.h"
#include "dmpcommon/test.h"
#include "dmpballoon/wss_sampling.h"

#include <stdlib.h>
#include <string.h>

#define MiB 1024ULL
#define GiB (1024ULL * 1024)
#define NG 3
#define STEPS 140
#define STEP_MS 5000ULL
#define SPEED (128 * MiB)       /* balloon speed per step */

/* True working set (KiB) of guest g at step s. */
static uint64_t demand(int g, int s)
{
    switch (g) {
    case 0: return s >= 20 && s < 60 ? 2800 * MiB : 600 * MiB;   /* grows, then shrinks */
    case 1: return 1200 * MiB;
    default: return 400 * MiB;
    }
}

struct result {
    int grow_steps;         /* steps until A's actual covered its new demand */
    int shrink_steps;       /* steps after the drop until A's target is back to its share */
    uint64_t a_before, a_peak;
    int pressure_steps;     /* guest-steps with actual below demand (would swap) */
    int budget_violations, below_wss;
};

static struct result run(enum dmp_policy_kind kind, bool verbose)
{
    struct result r = { -1, -1, 0, 0, 0, 0, 0 };
    struct dmp_policy_params p;
    dmp_policy_params_default(&p);
    p.kind = kind;
    struct dmp_guest_input in[NG];
    struct dmp_guest_track t[NG];
    struct dmp_decision d[NG];
    struct dmp_wss_sampling est[NG];
    struct dmp_wss_sampling_params sp;
    dmp_wss_sampling_params_default(&sp, STEP_MS);
    sp.sample_pages = 1000;
    struct dmp_rng rng;
    dmp_rng_seed(&rng, 2024);
    const uint64_t budget = 6 * GiB, reserve = 256 * MiB;
    for (int g = 0; g < NG; g++) {
        memset(&in[g], 0, sizeof(in[g]));
        in[g].domid = (uint32_t)g + 1;
        snprintf(in[g].name, sizeof(in[g].name), "guest%d", g);
        in[g].target_kib = in[g].actual_kib = 1843 * MiB;
        in[g].maxmem_kib = 4 * GiB;
        in[g].balloon = DMP_BALLOON_PRESENT;
        dmp_guest_settings_default(&in[g].set);
        in[g].set.rate_limit_kib = 512 * MiB;
        in[g].set.min_change_interval_ms = STEP_MS;
        in[g].set.hysteresis_kib = 32 * MiB;
        in[g].set.min_kib = 256 * MiB;
        memset(&t[g], 0, sizeof(t[g]));
        t[g].domid = in[g].domid;
        dmp_wss_sampling_init(&est[g], &sp);
    }
    uint64_t *sample = malloc(sp.sample_pages * sizeof(*sample));
    for (int s = 0; s < STEPS; s++) {
        uint64_t now = (uint64_t)s * STEP_MS, sum_act = 0;
        for (int g = 0; g < NG; g++) {
            /* The host samples the guest's populated pages; the working set is its first W
             * pages, touched every interval; a guest with W > actual touches everything. */
            uint64_t pages = in[g].actual_kib / 4, wpages = demand(g, s) / 4;
            struct dmp_gfn_range range = { 0, pages };
            long k = dmp_wss_select_sample(&rng, &range, 1, NULL, NULL, sample, sp.sample_pages);
            uint32_t touched = 0;
            for (long i = 0; i < k; i++)
                touched += sample[i] < wpages;
            CHECK(dmp_wss_sampling_add(&est[g], (uint32_t)k, touched, pages, now, STEP_MS) == 0);
            dmp_wss_sampling_estimate(&est[g], &in[g].wss);
            sum_act += in[g].actual_kib;
            r.pressure_steps += in[g].actual_kib < demand(g, s);
        }
        struct dmp_host_input h = { .now_ms = now, .budget_kib = budget, .reserve_kib = reserve,
                                    .free_kib = budget - sum_act };
        struct dmp_policy_summary sum;
        CHECK(dmp_policy_step(&p, &h, in, t, NG, d, &sum) == 0);
        r.budget_violations += sum.sum_new_kib > budget - reserve;
        for (int g = 0; g < NG; g++) {
            if (d[g].new_target_kib < d[g].old_target_kib && d[g].new_target_kib < demand(g, s))
                r.below_wss++;
            if (verbose && (g == 0) && (s % 10 == 0 || d[g].new_target_kib != d[g].old_target_kib))
                printf("  [%s] step %3d %s\n", dmp_policy_kind_name(kind), s, d[g].text);
            in[g].target_kib = d[g].new_target_kib;
            uint64_t a = in[g].actual_kib, tg = in[g].target_kib;
            in[g].actual_kib = a < tg ? a + (tg - a < SPEED ? tg - a : SPEED)
                                      : a - (a - tg < SPEED ? a - tg : SPEED);
        }
        if (s >= 20 && s < 60 && r.grow_steps < 0 && in[0].actual_kib >= demand(0, s))
            r.grow_steps = s - 20 + 1;
        if (s == 19)
            r.a_before = in[0].target_kib;
        if (in[0].target_kib > r.a_peak)
            r.a_peak = in[0].target_kib;
        if (s >= 60 && r.shrink_steps < 0 && in[0].target_kib <= r.a_before + r.a_before / 10)
            r.shrink_steps = s - 60 + 1;
    }
    free(sample);
    return r;
}

int main(int argc, char **argv)
{
    bool verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    struct result bal = run(DMP_POLICY_BALANCE, verbose);
    struct result st = run(DMP_POLICY_STATIC, false);
    struct result pr = run(DMP_POLICY_PROPORTIONAL, false);
    printf("sim (3 guests, 6G budget, balloon 128M/step, 140 steps of 5 s):\n");
    printf("  balance:      A covered after %d steps, A's target %luM before, %luM at peak, back within 10%% of before %d steps "
           "after the drop, guest-steps under demand %d, budget violations %d, cuts below wss %d\n",
           bal.grow_steps, (unsigned long)(bal.a_before / MiB), (unsigned long)(bal.a_peak / MiB),
           bal.shrink_steps, bal.pressure_steps, bal.budget_violations,
           bal.below_wss);
    printf("  static:       guest-steps under demand %d\n", st.pressure_steps);
    printf("  proportional: guest-steps under demand %d, A covered after %d steps\n",
           pr.pressure_steps, pr.grow_steps);
    CHECK(bal.grow_steps > 0 && bal.grow_steps <= 12);      /* <= 1 min after the jump */
    CHECK(bal.shrink_steps > 0 && bal.shrink_steps <= 60);  /* slow to shrink, but does */
    CHECK(bal.a_peak >= 2800 * MiB);
    CHECK_EQ_U64(bal.budget_violations, 0);
    CHECK_EQ_U64(bal.below_wss, 0);
    CHECK_EQ_U64(st.budget_violations, 0);
    CHECK_EQ_U64(pr.budget_violations, 0);
    CHECK_EQ_U64(pr.below_wss, 0);
    CHECK(st.pressure_steps >= 40);                         /* static never helps A */
    CHECK(bal.pressure_steps < st.pressure_steps / 2);
    return DMP_TEST_SUMMARY("balloon_sim");
}
