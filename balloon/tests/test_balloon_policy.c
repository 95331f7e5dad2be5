/* Balancing policy: water-filling, the safety rules one by one, and a randomized property
 * test of conservation, floors, ceilings and step limits over many seeds. */
#include "dmpballoon/balloon_policy.h"
#include "dmpballoon/balloon_rng.h"
#include "dmpcommon/test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MiB 1024ULL     /* in KiB */
#define GiB (1024ULL * 1024)

static struct dmp_guest_input guest(uint32_t id, uint64_t target, uint64_t actual,
                                    uint64_t maxmem, uint64_t wss_kib)
{
    struct dmp_guest_input g;
    memset(&g, 0, sizeof(g));
    g.domid = id;
    snprintf(g.name, sizeof(g.name), "g%u", id);
    g.target_kib = target;
    g.actual_kib = actual;
    g.maxmem_kib = maxmem;
    dmp_guest_settings_default(&g.set);
    g.set.base_kib = 0;   /* the tests below count floors from the estimate alone */
    if (wss_kib) {
        g.wss.valid = true;
        g.wss.method = DMP_WSS_SAMPLING;
        g.wss.bytes = g.wss.upper = wss_kib * 1024;
        g.wss.lower = wss_kib * 1024 * 9 / 10;
        g.wss.intervals = 5;
    }
    g.balloon = DMP_BALLOON_PRESENT;
    return g;
}

static void tracks_for(const struct dmp_guest_input *in, struct dmp_guest_track *t, size_t n)
{
    memset(t, 0, n * sizeof(*t));
    for (size_t i = 0; i < n; i++)
        t[i].domid = in[i].domid;
}

static void test_waterfill(void)
{
    uint64_t lo[3] = { 0, 0, 0 }, hi[3] = { 100, 100, 100 }, out[3];
    uint32_t w[3] = { 1, 2, 1 };
    CHECK(dmp_waterfill(40, 3, lo, hi, w, 1, out));
    CHECK(out[0] == 10 && out[1] == 20 && out[2] == 10);
    /* Caps: the heavy guest is capped at 15, its surplus goes to the others. */
    hi[1] = 15;
    CHECK(dmp_waterfill(40, 3, lo, hi, w, 1, out));
    CHECK(out[1] == 15 && out[0] + out[2] == 25 && out[0] >= 12 && out[2] >= 12);
    /* Remainders are handed out one unit each, deterministically; nothing is lost. */
    uint64_t lo2[3] = { 1, 1, 1 }, hi2[3] = { 1000, 1000, 1000 }, o2[3];
    uint32_t w2[3] = { 1, 1, 1 };
    CHECK(dmp_waterfill(3 + 10, 3, lo2, hi2, w2, 1, o2));
    CHECK_EQ_U64(o2[0] + o2[1] + o2[2], 13);
    CHECK(o2[0] == 5 && o2[1] == 4 && o2[2] == 4);
    /* Granularity: whole units only, never above the pool. */
    uint64_t lo3[2] = { 1024, 2048 }, hi3[2] = { 8192, 8192 }, o3[2];
    uint32_t w3[2] = { 1, 1 };
    CHECK(dmp_waterfill(1024 + 2048 + 3000, 2, lo3, hi3, w3, 1024, o3));
    CHECK(o3[0] % 1024 == 0 && o3[1] % 1024 == 0 && o3[0] + o3[1] <= 6072);
    CHECK_EQ_U64(o3[0] + o3[1], 1024 + 2048 + 2048);
    /* Deficit: lows do not fit. */
    CHECK(!dmp_waterfill(3000, 2, lo3, hi3, w3, 1024, o3));
    CHECK(o3[0] == 1024 && o3[1] == 2048);
}

static struct dmp_policy_params params(void)
{
    struct dmp_policy_params p;
    dmp_policy_params_default(&p);
    return p;
}

static void test_grow_and_shrink_with_floor(void)
{
    /* Guest 1 idle (wss 200M) at 2G; guest 2 busy (wss 1.5G) at 1G. Budget 4G. */
    struct dmp_policy_params p = params();
    struct dmp_guest_input in[2] = {
        guest(1, 2 * GiB, 2 * GiB, 4 * GiB, 200 * MiB),
        guest(2, 1 * GiB, 1 * GiB, 4 * GiB, 1536 * MiB),
    };
    in[0].set.rate_limit_kib = 0;     /* unlimited, to see the allocation itself */
    in[1].set.rate_limit_kib = 0;
    struct dmp_guest_track t[2];
    tracks_for(in, t, 2);
    struct dmp_host_input h = { .now_ms = 1000, .budget_kib = 4 * GiB, .reserve_kib = 256 * MiB,
                                .free_kib = 1 * GiB + 256 * MiB };
    struct dmp_decision d[2];
    struct dmp_policy_summary s;
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, &s) == 0);
    /* floors: 200M*1.1 = 220M; 1536M*1.1 = 1689.6M -> 1690M */
    CHECK_EQ_U64(d[0].floor_kib, 220 * MiB);
    CHECK_EQ_U64(d[1].floor_kib, 1690 * MiB);
    CHECK(d[1].new_target_kib >= d[1].floor_kib);
    CHECK(d[1].reason == DMP_REASON_GROW);
    CHECK(d[0].reason == DMP_REASON_SHRINK);
    CHECK(d[0].new_target_kib >= d[0].floor_kib);
    CHECK(s.sum_new_kib <= 4 * GiB - 256 * MiB);
    /* growth limited by host free memory above the reserve: 1G */
    CHECK(d[1].new_target_kib <= 2 * GiB);
    /* equal weights: surplus over the floors split evenly (desired) */
    uint64_t surplus = 4 * GiB - 256 * MiB - 220 * MiB - 1690 * MiB;
    CHECK_EQ_U64(d[0].desired_kib, 220 * MiB + surplus / 2);
    CHECK_EQ_U64(d[1].desired_kib, 1690 * MiB + surplus / 2);
    CHECK(strstr(d[1].text, "grow: target 1G -> ") == d[1].text);
    printf("decision: %s\n", d[1].text);

    /* The idle guest never goes below its floor, even when the other wants everything. */
    in[1].wss.bytes = in[1].wss.upper = 8 * GiB * 1024;
    in[1].maxmem_kib = 8 * GiB;
    tracks_for(in, t, 2);
    h.free_kib = 8 * GiB;
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, &s) == 0);
    CHECK_EQ_U64(d[0].new_target_kib, 220 * MiB);
    CHECK_EQ_U64(d[1].new_target_kib, 4 * GiB - 256 * MiB - 220 * MiB);
    CHECK(d[1].flags & DMP_DF_OVERCOMMIT);

    /* Guest-reported used memory raises the floor; so do config min and the absolute min. */
    in[0].report.present = true;
    in[0].report.used_kib = 900 * MiB;
    in[1].wss.valid = false;
    in[1].set.min_kib = 0;
    in[1].maxmem_kib = 4 * GiB;
    tracks_for(in, t, 2);
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, &s) == 0);
    CHECK_EQ_U64(d[0].floor_kib, 964 * MiB);
    CHECK_EQ_U64(d[1].floor_kib, 64 * MiB);
    in[1].set.min_kib = 3 * GiB;
    in[1].set.max_kib = 2 * GiB;      /* config error caught by the parser; policy clamps */
    tracks_for(in, t, 2);
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, &s) == 0);
    CHECK_EQ_U64(d[1].floor_kib, 2 * GiB);
    CHECK_EQ_U64(d[1].ceiling_kib, 2 * GiB);
    CHECK(d[1].flags & DMP_DF_FLOOR_ABOVE_MAX);
    CHECK(d[1].new_target_kib <= 2 * GiB);
}

static void test_hysteresis_rate_interval(void)
{
    struct dmp_policy_params p = params();
    /* Two identical guests, 1G each, budget leaves 10M of surplus: below hysteresis. */
    struct dmp_guest_input in[2] = {
        guest(1, 1 * GiB, 1 * GiB, 4 * GiB, 500 * MiB),
        guest(2, 1 * GiB, 1 * GiB, 4 * GiB, 500 * MiB),
    };
    struct dmp_guest_track t[2];
    tracks_for(in, t, 2);
    struct dmp_host_input h = { .now_ms = 1000, .budget_kib = 2 * GiB + 256 * MiB + 20 * MiB,
                                .reserve_kib = 256 * MiB, .free_kib = 2 * GiB };
    struct dmp_decision d[2];
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
    CHECK_EQ_U64(d[0].new_target_kib, 1 * GiB);
    CHECK(d[0].reason == DMP_REASON_HYSTERESIS);
    CHECK(d[0].desired_kib == 1 * GiB && (d[0].flags & DMP_DF_HYSTERESIS));

    /* 3G of surplus: each wants +1.5G, rate limit 256M per step. */
    h.budget_kib = 5 * GiB + 256 * MiB;
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
    CHECK_EQ_U64(d[0].new_target_kib, 1 * GiB + 256 * MiB);
    CHECK(d[0].flags & DMP_DF_RATE);
    CHECK(d[0].reason == DMP_REASON_GROW);
    /* 5 s later: min interval (10 s) holds it. */
    in[0].target_kib = in[1].target_kib = 1 * GiB + 256 * MiB;
    in[0].actual_kib = in[1].actual_kib = 1 * GiB + 256 * MiB;
    h.now_ms = 6000;
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
    CHECK_EQ_U64(d[0].new_target_kib, 1 * GiB + 256 * MiB);
    CHECK(d[0].reason == DMP_REASON_MIN_INTERVAL);
    /* 11 s after the change: moves another 256M. */
    h.now_ms = 11000;
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
    CHECK_EQ_U64(d[0].new_target_kib, 1 * GiB + 512 * MiB);
}

static void test_weights_and_baselines(void)
{
    struct dmp_policy_params p = params();
    struct dmp_guest_input in[2] = {
        guest(1, 1 * GiB, 1 * GiB, 16 * GiB, 100 * MiB),
        guest(2, 1 * GiB, 1 * GiB, 16 * GiB, 100 * MiB),
    };
    in[0].set.weight = 100;
    in[1].set.weight = 300;
    struct dmp_guest_track t[2];
    tracks_for(in, t, 2);
    struct dmp_host_input h = { .now_ms = 1000, .budget_kib = 4 * GiB + 256 * MiB + 220 * MiB,
                                .reserve_kib = 256 * MiB, .free_kib = 16 * GiB };
    struct dmp_decision d[2];
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
    /* floors 110M each; surplus 4G split 1:3 */
    CHECK_EQ_U64(d[0].desired_kib, 110 * MiB + 1 * GiB);
    CHECK_EQ_U64(d[1].desired_kib, 110 * MiB + 3 * GiB);

    /* proportional (squeezed-like): dynamic-min from config, weights, no estimate */
    p.kind = DMP_POLICY_PROPORTIONAL;
    in[0].set.min_kib = 512 * MiB;
    in[1].set.min_kib = 512 * MiB;
    tracks_for(in, t, 2);
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
    uint64_t pool = 4 * GiB + 220 * MiB - 1 * GiB;
    CHECK_EQ_U64(d[0].floor_kib, 512 * MiB);
    CHECK_EQ_U64(d[0].desired_kib, 512 * MiB + pool / 4);
    CHECK_EQ_U64(d[1].desired_kib, 512 * MiB + 3 * pool / 4);

    /* static: nothing moves */
    p.kind = DMP_POLICY_STATIC;
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
    CHECK(d[0].new_target_kib == 1 * GiB && d[1].new_target_kib == 1 * GiB);
    CHECK(d[0].reason == DMP_REASON_STATIC);
}

static void test_stuck_and_backoff(void)
{
    struct dmp_policy_params p = params();
    struct dmp_guest_input in[2] = {
        guest(1, 2 * GiB, 2 * GiB, 4 * GiB, 200 * MiB),     /* idle: will be asked to shrink */
        guest(2, 1 * GiB, 1 * GiB, 4 * GiB, 1 * GiB),
    };
    struct dmp_guest_track t[2];
    tracks_for(in, t, 2);
    struct dmp_host_input h = { .now_ms = 0, .budget_kib = 3 * GiB + 256 * MiB,
                                .reserve_kib = 256 * MiB, .free_kib = 256 * MiB };
    struct dmp_decision d[2];
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
    CHECK(d[0].reason == DMP_REASON_SHRINK);
    uint64_t asked = d[0].new_target_kib;
    CHECK_EQ_U64(asked, 2 * GiB - 256 * MiB);
    in[0].target_kib = asked;           /* the balloon never moves: actual stays 2G */
    int detected_at = -1;
    for (int s = 1; s <= 40 && detected_at < 0; s++) {
        h.now_ms = s * 1000ULL;
        CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
        if (d[0].reason == DMP_REASON_STUCK_DETECTED)
            detected_at = s;
        else
            in[0].target_kib = d[0].new_target_kib;
    }
    CHECK_EQ_U64(detected_at, 30);      /* stuck-timeout 30 s */
    CHECK(d[0].state == DMP_GUEST_STUCK);
    CHECK_EQ_U64(d[0].new_target_kib, 2 * GiB);     /* frozen at what it holds */
    CHECK(strstr(d[0].text, "stuck-detected") != NULL);
    in[0].target_kib = 2 * GiB;
    /* during back-off (60 s): left alone */
    h.now_ms = 60 * 1000;
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
    CHECK(d[0].reason == DMP_REASON_STUCK_BACKOFF && d[0].new_target_kib == 2 * GiB);
    /* the sum still fits the budget with the frozen guest counted at 2G */
    CHECK(d[0].new_target_kib + d[1].new_target_kib <= 3 * GiB);
    /* after back-off: pushed again */
    h.now_ms = 91 * 1000;
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
    CHECK(d[0].reason == DMP_REASON_SHRINK);
    CHECK(d[0].flags & DMP_DF_STUCK_RETRY);
    /* a retry is still reported stuck until the balloon moves (lab CI run: a paused guest
     * read "ok" for a stuck-timeout after each back-off) */
    CHECK(d[0].state == DMP_GUEST_STUCK && t[0].retrying);
    in[0].target_kib = d[0].new_target_kib;
    {
        /* Had it been unpaused during its back-off, the retry would move its balloon and it
         * would be "ok" again. */
        struct dmp_guest_input rin[2] = { in[0], in[1] };
        struct dmp_guest_track rt[2] = { t[0], t[1] };
        struct dmp_host_input rh = h;
        struct dmp_decision rd[2];
        rin[0].actual_kib = 2 * GiB - 64 * MiB;
        rh.now_ms = 92 * 1000;
        CHECK(dmp_policy_step(&p, &rh, rin, rt, 2, rd, NULL) == 0);
        CHECK(rd[0].state == DMP_GUEST_OK && !rt[0].retrying && rt[0].state == DMP_GUEST_OK);
    }
    /* stalls again: second back-off is 120 s; stuck all along */
    for (int s = 92; s <= 125; s++) {
        h.now_ms = s * 1000ULL;
        CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
        CHECK(d[0].state == DMP_GUEST_STUCK);
        in[0].target_kib = d[0].new_target_kib;
        if (d[0].reason == DMP_REASON_STUCK_DETECTED)
            break;
    }
    CHECK(d[0].reason == DMP_REASON_STUCK_DETECTED);
    CHECK_EQ_U64(t[0].retry_at_ms, h.now_ms + 120 * 1000);
    CHECK_EQ_U64(t[0].stuck_count, 2);
    /* If it keeps never moving and the driver is not known present: no-balloon. */
    in[0].balloon = DMP_BALLOON_UNKNOWN;
    for (int k = 0; k < 600 && t[0].state != DMP_GUEST_NO_BALLOON; k++) {
        h.now_ms += 5000;
        CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
        in[0].target_kib = d[0].new_target_kib;
    }
    CHECK(t[0].state == DMP_GUEST_NO_BALLOON);
    CHECK_EQ_U64(t[0].stuck_count, 3);
    CHECK(d[0].reason == DMP_REASON_NO_BALLOON);
    uint64_t left = in[0].target_kib;
    h.now_ms += 3600 * 1000;
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
    CHECK_EQ_U64(d[0].new_target_kib, left);

    /* A slow balloon that moves is not stuck: 30 % of the way per 30 s window. */
    struct dmp_guest_input s1[1] = { guest(7, 2 * GiB, 2 * GiB, 4 * GiB, 100 * MiB) };
    s1[0].set.rate_limit_kib = 0;
    struct dmp_guest_track st[1];
    tracks_for(s1, st, 1);
    struct dmp_host_input h2 = { .now_ms = 0, .budget_kib = 1 * GiB, .reserve_kib = 0,
                                 .free_kib = 0 };
    struct dmp_decision d1[1];
    CHECK(dmp_policy_step(&p, &h2, s1, st, 1, d1, NULL) == 0);
    CHECK_EQ_U64(d1[0].new_target_kib, 1 * GiB);
    s1[0].target_kib = 1 * GiB;
    bool stuck = false;
    for (int s = 1; s <= 200 && s1[0].actual_kib > 1 * GiB; s++) {
        h2.now_ms = s * 1000ULL;
        uint64_t gap = s1[0].actual_kib - 1 * GiB;
        s1[0].actual_kib -= gap / 90 > 4 ? gap / 90 : gap;   /* ~1.1 % per s: ~28 % per 30 s */
        CHECK(dmp_policy_step(&p, &h2, s1, st, 1, d1, NULL) == 0);
        stuck |= d1[0].state != DMP_GUEST_OK;
    }
    CHECK(!stuck);

    /* An absent driver (no feature-balloon) is left alone from the start. */
    struct dmp_guest_input nb[1] = { guest(9, 2 * GiB, 2 * GiB, 4 * GiB, 100 * MiB) };
    nb[0].balloon = DMP_BALLOON_ABSENT;
    tracks_for(nb, st, 1);
    CHECK(dmp_policy_step(&p, &h2, nb, st, 1, d1, NULL) == 0);
    CHECK(d1[0].reason == DMP_REASON_NO_BALLOON && d1[0].new_target_kib == 2 * GiB);
}

/* Slow to shrink: one low estimate (the fast average halfway down) must not take memory
 * from a guest whose floor was higher within floor-hold; after the hold it may shrink. */
static void test_floor_hold(void)
{
    struct dmp_policy_params p = params();
    struct dmp_guest_input in[2] = {
        guest(1, 400 * MiB, 400 * MiB, 640 * MiB, 240 * MiB),
        guest(2, 320 * MiB, 320 * MiB, 320 * MiB, 32 * MiB),
    };
    in[0].set.rate_limit_kib = 0;
    struct dmp_guest_track t[2];
    tracks_for(in, t, 2);
    struct dmp_host_input h = { .now_ms = 0, .budget_kib = 752 * MiB, .reserve_kib = 32 * MiB };
    struct dmp_decision d[2];
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
    uint64_t held = d[0].floor_kib;
    CHECK_EQ_U64(held, 264 * MiB);              /* 240M + 10 % headroom */
    in[0].wss.bytes = in[0].wss.upper = 135 * MiB * 1024;  /* one low sample */
    for (int s = 1; s <= 11; s++) {
        h.now_ms = s * 5000ULL;
        CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
        CHECK_EQ_U64(d[0].floor_kib, held);
        CHECK(d[0].new_target_kib >= held);
        for (int i = 0; i < 2; i++)     /* balloons that follow at once */
            in[i].target_kib = in[i].actual_kib = d[i].new_target_kib;
    }
    h.now_ms = 60 * 1000;                       /* the hold is over */
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
    CHECK_EQ_U64(d[0].floor_kib, 149 * MiB);   /* 135M + 10 %, rounded up */
    for (int i = 0; i < 2; i++)
        in[i].target_kib = in[i].actual_kib = d[i].new_target_kib;
    /* a rising estimate raises the floor at once, with its rise as extra headroom */
    in[0].wss.bytes = in[0].wss.upper = 300 * MiB * 1024;
    h.now_ms += 5000;
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
    CHECK_EQ_U64(d[0].floor_kib, (330 + 165) * MiB);
}

/* The floor covers what sampling cannot see: base is added to the estimate (default 160 MiB),
 * and a setting of 0 leaves the estimate alone. */
static void test_base(void)
{
    struct dmp_policy_params p = params();
    struct dmp_guest_input in[1] = { guest(1, 1 * GiB, 1 * GiB, 2 * GiB, 300 * MiB) };
    struct dmp_guest_settings def;
    dmp_guest_settings_default(&def);
    CHECK_EQ_U64(def.base_kib, 160 * MiB);
    in[0].set.base_kib = def.base_kib;
    struct dmp_guest_track t[1];
    tracks_for(in, t, 1);
    struct dmp_host_input h = { .now_ms = 0, .budget_kib = 2 * GiB, .reserve_kib = 0 };
    struct dmp_decision d[1];
    CHECK(dmp_policy_step(&p, &h, in, t, 1, d, NULL) == 0);
    CHECK_EQ_U64(d[0].floor_kib, (330 + 160) * MiB);
    /* without an estimate there is nothing to add it to: config min and min-floor rule */
    in[0].wss.valid = false;
    tracks_for(in, t, 1);
    CHECK(dmp_policy_step(&p, &h, in, t, 1, d, NULL) == 0);
    CHECK(d[0].floor_kib < 160 * MiB);
}

/* A guest growing in steps gets its last step as headroom on top of the percentage, for
 * floor-hold; an estimate recovering from one low sample is not growth. */
static void test_growth_headroom(void)
{
    struct dmp_policy_params p = params();
    struct dmp_guest_input in[1] = { guest(1, 300 * MiB, 300 * MiB, 2 * GiB, 100 * MiB) };
    in[0].set.rate_limit_kib = 0;
    struct dmp_guest_track t[1];
    tracks_for(in, t, 1);
    struct dmp_host_input h = { .now_ms = 0, .budget_kib = 2 * GiB, .reserve_kib = 0 };
    struct dmp_decision d[1];
    CHECK(dmp_policy_step(&p, &h, in, t, 1, d, NULL) == 0);
    CHECK_EQ_U64(d[0].floor_kib, 110 * MiB);
    for (int s = 1; s <= 3; s++) {                  /* +48 MiB per 20 s */
        in[0].wss.bytes = in[0].wss.upper = (100 + 48 * (uint64_t)s) * MiB * 1024;
        h.now_ms = s * 20000ULL;
        CHECK(dmp_policy_step(&p, &h, in, t, 1, d, NULL) == 0);
        uint64_t up = 100 + 48 * (uint64_t)s;
        CHECK_EQ_U64(d[0].floor_kib, (up + (up + 9) / 10 + 48) * MiB);
    }
    /* A dip and its recovery within the hold: no new rise, the old one still counts. */
    in[0].wss.bytes = in[0].wss.upper = 150 * MiB * 1024;
    h.now_ms += 5000;
    CHECK(dmp_policy_step(&p, &h, in, t, 1, d, NULL) == 0);
    in[0].wss.bytes = in[0].wss.upper = 244 * MiB * 1024;
    h.now_ms += 5000;
    CHECK(dmp_policy_step(&p, &h, in, t, 1, d, NULL) == 0);
    CHECK_EQ_U64(d[0].floor_kib, (244 + 25 + 48) * MiB);
    /* Steady for longer than the hold: the rise is no longer counted. */
    h.now_ms += 61000;
    CHECK(dmp_policy_step(&p, &h, in, t, 1, d, NULL) == 0);
    CHECK_EQ_U64(d[0].floor_kib, (244 + 25) * MiB);
}

/* A guest whose PV drivers are not up yet (still booting under emulation) is neither pushed
 * nor judged: three pushes it cannot answer would make its working driver "no-balloon" for
 * good. Once xenbus is up it is balanced as usual; a guest that never comes up is judged by
 * behaviour after the boot grace. */
static void test_booting_guest(void)
{
    struct dmp_policy_params p = params();
    struct dmp_guest_input in[2] = {
        guest(1, 2 * GiB, 2 * GiB, 4 * GiB, 0),           /* booting, would be shrunk */
        guest(2, 1 * GiB, 1 * GiB, 4 * GiB, 1 * GiB),
    };
    in[0].balloon = DMP_BALLOON_UNKNOWN;
    in[0].pv_drivers_pending = true;
    in[0].set.boot_grace_ms = 300 * 1000;
    struct dmp_guest_track t[2];
    tracks_for(in, t, 2);
    struct dmp_host_input h = { .now_ms = 0, .budget_kib = 3 * GiB + 256 * MiB,
                                .reserve_kib = 256 * MiB, .free_kib = 256 * MiB };
    struct dmp_decision d[2];
    for (int s = 0; s < 200; s += 5) {       /* 200 s of boot: never pushed, never judged */
        h.now_ms = in[0].age_ms = s * 1000ULL;
        CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
        CHECK(d[0].reason == DMP_REASON_BOOTING && d[0].new_target_kib == 2 * GiB);
        CHECK(d[0].state == DMP_GUEST_OK);
        /* the others are balanced around what it holds */
        CHECK(d[0].new_target_kib + d[1].new_target_kib <= 3 * GiB);
        in[1].target_kib = in[1].actual_kib = d[1].new_target_kib;
    }
    CHECK(strstr(d[0].text, "booting") != NULL);
    /* xenbus up: shrunk like any idle guest */
    in[0].pv_drivers_pending = false;
    h.now_ms = in[0].age_ms = 205 * 1000;
    CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
    CHECK(d[0].reason == DMP_REASON_SHRINK && d[0].new_target_kib < 2 * GiB);

    /* Never comes up (created paused): after the grace it is pushed, then judged stuck. */
    struct dmp_guest_input nb[1] = { guest(3, 2 * GiB, 2 * GiB, 4 * GiB, 0) };
    nb[0].balloon = DMP_BALLOON_UNKNOWN;
    nb[0].pv_drivers_pending = true;
    nb[0].set.boot_grace_ms = 20 * 1000;
    struct dmp_guest_track nt[1];
    tracks_for(nb, nt, 1);
    struct dmp_host_input h2 = { .now_ms = 0, .budget_kib = 1 * GiB, .reserve_kib = 0 };
    struct dmp_decision d1[1];
    bool pushed_early = false, stuck = false;
    for (int s = 0; s <= 120 && !stuck; s++) {
        h2.now_ms = nb[0].age_ms = s * 1000ULL;
        CHECK(dmp_policy_step(&p, &h2, nb, nt, 1, d1, NULL) == 0);
        pushed_early |= s < 20 && d1[0].new_target_kib != 2 * GiB;
        stuck = d1[0].reason == DMP_REASON_STUCK_DETECTED;
        nb[0].target_kib = d1[0].new_target_kib;
    }
    CHECK(!pushed_early);
    CHECK(stuck);
    CHECK_EQ_U64(h2.now_ms, 50 * 1000);      /* pushed at 20 s, stuck-timeout 30 s */
}

/* Xen counts a few pages of its own in what a guest holds: the lab saw actual = static-max +
 * 64 KiB. A stuck guest's frozen target must still not exceed its ceiling (a target above
 * static-max cannot be written). */
static void test_stuck_freeze_capped_at_ceiling(void)
{
    struct dmp_policy_params p = params();
    struct dmp_guest_input in[2] = {
        guest(1, 256 * MiB, 256 * MiB + 64, 256 * MiB, 32 * MiB),  /* idle, never moves */
        guest(2, 256 * MiB, 256 * MiB, 256 * MiB, 32 * MiB),       /* idle, moves */
    };
    struct dmp_guest_track t[2];
    tracks_for(in, t, 2);
    /* Overcommitted from the start, as in the lab: both are asked to shrink. */
    struct dmp_host_input h = { .now_ms = 0, .budget_kib = 400 * MiB, .reserve_kib = 32 * MiB,
                                .free_kib = 0 };
    struct dmp_decision d[2];
    bool pushed = false, frozen = false;
    for (int s = 0; s <= 90 && !frozen; s++) {
        h.now_ms = s * 1000ULL;
        CHECK(dmp_policy_step(&p, &h, in, t, 2, d, NULL) == 0);
        for (int i = 0; i < 2; i++)
            CHECK(d[i].new_target_kib <= d[i].ceiling_kib);
        pushed |= d[0].new_target_kib < 256 * MiB;
        frozen = d[0].reason == DMP_REASON_STUCK_DETECTED;
        in[0].target_kib = d[0].new_target_kib;     /* guest 1's balloon never moves */
        in[1].target_kib = in[1].actual_kib = d[1].new_target_kib;
    }
    CHECK(pushed);
    CHECK(frozen);
    CHECK_EQ_U64(d[0].new_target_kib, 256 * MiB);   /* what it holds, capped at static-max */
}

static void test_pressure_and_host_free(void)
{
    struct dmp_policy_params p = params();
    struct dmp_guest_input in[1] = { guest(1, 1 * GiB, 1 * GiB, 4 * GiB, 1 * GiB) };
    in[0].wss.saturated = true;     /* every sampled page touched: may need more */
    in[0].set.rate_limit_kib = 0;
    struct dmp_guest_track t[1];
    tracks_for(in, t, 1);
    /* a budget exactly at the floor leaves no surplus: only pressure asks for more */
    struct dmp_host_input h = { .now_ms = 0, .budget_kib = 1127 * MiB + 256 * MiB,
                                .reserve_kib = 256 * MiB, .free_kib = 256 * MiB + 50 * MiB };
    struct dmp_decision d[1];
    CHECK(dmp_policy_step(&p, &h, in, t, 1, d, NULL) == 0);
    /* floor 1G*1.1 = 1127M (rounded up); pressure asks 1G + 10 % but budget caps at 1127M;
     * host free above the reserve is only 50M, so it moves 50M now. */
    CHECK_EQ_U64(d[0].floor_kib, 1127 * MiB);
    CHECK_EQ_U64(d[0].new_target_kib, 1 * GiB + 50 * MiB);
    CHECK(d[0].reason == DMP_REASON_GROW_PRESSURE);
    CHECK(d[0].flags & DMP_DF_HOST_FREE);
    /* swap-in reported by the guest is pressure too */
    struct dmp_guest_input g2[1] = { guest(2, 1 * GiB, 1 * GiB, 4 * GiB, 500 * MiB) };
    g2[0].report.present = true;
    g2[0].report.swap_in_pages = 100;
    tracks_for(g2, t, 1);
    h.budget_kib = 8 * GiB;
    h.free_kib = 8 * GiB;
    g2[0].set.hysteresis_kib = 0;
    g2[0].set.hysteresis_pct = 0;
    g2[0].set.max_kib = 1 * GiB;      /* at max: first step only notes the counters */
    CHECK(dmp_policy_step(&p, &h, g2, t, 1, d, NULL) == 0);
    CHECK(!(d[0].flags & DMP_DF_PRESSURE));
    g2[0].report.swap_in_pages = 200;
    CHECK(dmp_policy_step(&p, &h, g2, t, 1, d, NULL) == 0);
    CHECK(d[0].flags & DMP_DF_PRESSURE);
}

/* Property test: random hosts and guests over many seeds and steps. */
static void test_conservation_property(void)
{
    int violations = 0, steps = 0, floor_viol = 0, ceil_viol = 0, rate_viol = 0, align_viol = 0;
    for (uint64_t seed = 1; seed <= 400; seed++) {
        struct dmp_rng r;
        dmp_rng_seed(&r, seed);
        struct dmp_policy_params p = params();
        p.kind = (enum dmp_policy_kind)dmp_rng_below(&r, 3);
        p.granularity_kib = dmp_rng_below(&r, 2) ? 1024 : 4;
        size_t n = 1 + dmp_rng_below(&r, 8);
        struct dmp_guest_input in[8];
        struct dmp_guest_track t[8];
        struct dmp_decision d[8];
        uint64_t budget = (1 + dmp_rng_below(&r, 16)) * GiB + dmp_rng_below(&r, 1024) * MiB;
        uint64_t reserve = dmp_rng_below(&r, 512) * MiB;
        uint64_t avail = budget - reserve;
        /* initial targets that fit the budget */
        for (size_t i = 0; i < n; i++) {
            uint64_t tg = (avail / n) * (50 + dmp_rng_below(&r, 50)) / 100 / 4 * 4;
            in[i] = guest((uint32_t)i + 1, tg, tg, dmp_rng_below(&r, 4) ? 8 * GiB : tg * 2, 0);
            in[i].set.weight = 1 + (uint32_t)dmp_rng_below(&r, 500);
            in[i].set.rate_limit_kib = dmp_rng_below(&r, 3) ? dmp_rng_below(&r, 1024) * MiB : 0;
            in[i].set.min_change_interval_ms = dmp_rng_below(&r, 3) * 5000;
            in[i].set.hysteresis_kib = dmp_rng_below(&r, 64) * MiB;
            in[i].set.min_kib = dmp_rng_below(&r, 4) ? 0 : dmp_rng_below(&r, 512) * MiB;
            in[i].set.max_kib = dmp_rng_below(&r, 4) ? 0 : (256 + dmp_rng_below(&r, 8192)) * MiB;
            in[i].balloon = dmp_rng_below(&r, 10) == 0 ? DMP_BALLOON_ABSENT
                            : (enum dmp_balloon_presence)dmp_rng_below(&r, 2);
        }
        tracks_for(in, t, n);
        uint64_t speed[8];
        for (size_t i = 0; i < n; i++)
            speed[i] = dmp_rng_below(&r, 4) == 0 ? 0 : dmp_rng_below(&r, 512) * MiB;
        for (int step = 0; step < 40; step++) {
            struct dmp_host_input h = { .now_ms = step * 5000ULL, .budget_kib = budget,
                                        .reserve_kib = reserve };
            uint64_t sum_act = 0;
            for (size_t i = 0; i < n; i++) {
                uint64_t wss = dmp_rng_below(&r, 3) ? dmp_rng_below(&r, 4096) * MiB : 0;
                in[i].wss.valid = wss != 0;
                in[i].wss.bytes = wss * 1024;
                in[i].wss.upper = wss * 1024 + dmp_rng_below(&r, 128) * MiB * 1024;
                in[i].wss.saturated = dmp_rng_below(&r, 8) == 0;
                in[i].report.present = dmp_rng_below(&r, 2);
                in[i].report.used_kib = dmp_rng_below(&r, 2048) * MiB;
                in[i].report.swap_in_pages += dmp_rng_below(&r, 4) == 0;
                sum_act += in[i].actual_kib;
            }
            h.free_kib = budget > sum_act ? budget - sum_act : 0;
            uint64_t sum_old = 0;
            for (size_t i = 0; i < n; i++)
                sum_old += in[i].target_kib;
            struct dmp_policy_summary s;
            CHECK(dmp_policy_step(&p, &h, in, t, n, d, &s) == 0);
            steps++;
            uint64_t sum_new = 0;
            for (size_t i = 0; i < n; i++) {
                uint64_t o = in[i].target_kib, nt = d[i].new_target_kib;
                bool moved_by_policy = d[i].state == DMP_GUEST_OK &&
                                       d[i].reason != DMP_REASON_STATIC;
                sum_new += nt;
                if (moved_by_policy) {
                    if (nt < o && nt < d[i].floor_kib)
                        floor_viol++;
                    if (nt > o && nt > d[i].ceiling_kib)
                        ceil_viol++;
                    uint64_t rate = in[i].set.rate_limit_kib;
                    if (rate && nt > o && nt - o > rate)
                        rate_viol++;
                    if (rate && nt < o && o - nt > rate + p.granularity_kib &&
                        nt != d[i].ceiling_kib)
                        rate_viol++;
                    if (nt != o && nt % p.granularity_kib && nt % 4)
                        align_viol++;
                }
            }
            if (sum_old <= avail && sum_new > avail)
                violations++;
            if (sum_old > avail && sum_new > sum_old)
                violations++;
            CHECK_EQ_U64(s.sum_new_kib, sum_new);
            /* balloons move toward the target at their own speed */
            for (size_t i = 0; i < n; i++) {
                in[i].target_kib = d[i].new_target_kib;
                if (in[i].balloon == DMP_BALLOON_ABSENT)
                    continue;
                uint64_t a = in[i].actual_kib, tg = in[i].target_kib;
                if (a < tg)
                    in[i].actual_kib = a + (tg - a < speed[i] ? tg - a : speed[i]) / 4 * 4;
                else
                    in[i].actual_kib = a - (a - tg < speed[i] ? a - tg : speed[i]) / 4 * 4;
            }
        }
    }
    printf("property: %d steps, budget violations %d, floor %d, ceiling %d, rate %d, align %d\n",
           steps, violations, floor_viol, ceil_viol, rate_viol, align_viol);
    CHECK_EQ_U64(violations, 0);
    CHECK_EQ_U64(floor_viol, 0);
    CHECK_EQ_U64(ceil_viol, 0);
    CHECK_EQ_U64(rate_viol, 0);
    CHECK_EQ_U64(align_viol, 0);
}

static void test_bad_input(void)
{
    struct dmp_policy_params p = params();
    struct dmp_guest_input in[1] = { guest(1, 1 * GiB, 1 * GiB, 4 * GiB, 0) };
    struct dmp_guest_track t[1];
    tracks_for(in, t, 1);
    struct dmp_decision d[1];
    struct dmp_host_input h = { .now_ms = 0, .budget_kib = 1 * GiB, .reserve_kib = 2 * GiB };
    CHECK(dmp_policy_step(&p, &h, in, t, 1, d, NULL) == -EINVAL);
    h.reserve_kib = 0;
    t[0].domid = 5;
    CHECK(dmp_policy_step(&p, &h, in, t, 1, d, NULL) == -EINVAL);
    t[0].domid = 1;
    in[0].set.weight = 0;
    CHECK(dmp_policy_step(&p, &h, in, t, 1, d, NULL) == -EINVAL);
}

int main(void)
{
    test_waterfill();
    test_grow_and_shrink_with_floor();
    test_hysteresis_rate_interval();
    test_weights_and_baselines();
    test_stuck_and_backoff();
    test_booting_guest();
    test_floor_hold();
    test_growth_headroom();
    test_base();
    test_stuck_freeze_capped_at_ceiling();
    test_pressure_and_host_free();
    test_conservation_property();
    test_bad_input();
    return DMP_TEST_SUMMARY("balloon_policy");
}
