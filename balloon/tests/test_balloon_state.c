/* The balancer's state file lines: what an earlier dmpd wrote still loads, what this one writes
 * reads back bit for bit, unknown keys are skipped and malformed lines refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dmpballoon/balloon_state.h"
#include "dmpcommon/test.h"

/* A line as dmpd wrote it before the format moved into this library (svc_balloon.c, ec20c30). */
static const char old_line[] =
    "guest domid=7 name=web-1 state=1 changed_once=1 last_change_ms=123456 pushing=1"
    " push_start_ms=120000 push_from_kib=1048576 push_to_kib=786432 retry_at_ms=150000"
    " stuck_count=2 ever_moved=1 seen_report=0 last_swap_in=5 last_oom=0 primed=1"
    " lv=0x1.8p+27 ll=0x1.4p+27 lu=0x1.cp+27 fv=0x1.6p+27 fl=0x1.2p+27 fu=0x1.ap+27"
    " sv=0x1p+27 sl=0x0p+0 su=0x1.2p+28 e_valid=1 e_bytes=201326592 e_lower=167772160"
    " e_upper=234881024 e_samples=1000 e_intervals=12 e_time=123000 e_sat=0";

static void test_old_line(void)
{
    char line[sizeof old_line];
    memcpy(line, old_line, sizeof old_line);
    struct dmp_balloon_saved g;
    CHECK(dmp_balloon_state_parse(line, &g) == 0);
    CHECK(g.domid == 7 && g.track.domid == 7);
    CHECK_STREQ(g.name, "web-1");
    CHECK(g.track.state == DMP_GUEST_STUCK && g.track.changed_once && g.track.pushing);
    CHECK_EQ_U64(g.track.last_change_ms, 123456);
    CHECK_EQ_U64(g.track.push_start_ms, 120000);
    CHECK_EQ_U64(g.track.push_from_kib, 1048576);
    CHECK_EQ_U64(g.track.push_to_kib, 786432);
    CHECK_EQ_U64(g.track.retry_at_ms, 150000);
    CHECK(g.track.stuck_count == 2 && g.track.ever_moved && !g.track.seen_report);
    CHECK(g.track.last_swap_in == 5 && g.track.last_oom == 0);
    CHECK(g.smooth.primed);
    CHECK(g.smooth.latest.value == 0x1.8p+27 && g.smooth.latest.lower == 0x1.4p+27 &&
          g.smooth.latest.upper == 0x1.cp+27);
    CHECK(g.smooth.fast.value == 0x1.6p+27 && g.smooth.fast.lower == 0x1.2p+27 &&
          g.smooth.fast.upper == 0x1.ap+27);
    CHECK(g.smooth.slow.value == 0x1p+27 && g.smooth.slow.lower == 0 && g.smooth.slow.upper == 0x1.2p+28);
    CHECK(g.est.valid && !g.est.saturated);
    CHECK_EQ_U64(g.est.bytes, 201326592);
    CHECK_EQ_U64(g.est.lower, 167772160);
    CHECK_EQ_U64(g.est.upper, 234881024);
    CHECK_EQ_U64(g.est.samples, 1000);
    CHECK_EQ_U64(g.est.intervals, 12);
    CHECK_EQ_U64(g.est.time_ms, 123000);

    /* Written again, it is the same line, with the key added since ("retrying", 2026-12-07). */
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    dmp_balloon_state_write(f, &g);
    fclose(f);
    CHECK(len == strlen(old_line) + strlen(" retrying=0") + 1 && out[len - 1] == '\n');
    CHECK(strncmp(out, old_line, strlen(old_line)) == 0);
    CHECK(strncmp(out + strlen(old_line), " retrying=0\n", 12) == 0);
    free(out);
}

static void test_round_trip(void)
{
    struct dmp_balloon_saved g = { .domid = 0x7fef, .name = "a.b_c-d" };
    g.track = (struct dmp_guest_track){ .domid = 0x7fef, .state = DMP_GUEST_NO_BALLOON,
                                        .last_change_ms = UINT64_MAX, .stuck_count = UINT32_MAX,
                                        .retrying = true };
    g.smooth.latest = (struct dmp_wss_series){ 1.0 / 3.0, 1e-300, 1.7976931348623157e308 };
    g.est = (struct dmp_wss_estimate){ .valid = true, .bytes = UINT64_MAX, .saturated = true };
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    dmp_balloon_state_write(f, &g);
    fclose(f);
    out[len - 1] = '\0';
    struct dmp_balloon_saved back;
    CHECK(dmp_balloon_state_parse(out, &back) == 0);
    CHECK(back.domid == g.domid && strcmp(back.name, g.name) == 0);
    CHECK(back.track.state == DMP_GUEST_NO_BALLOON && back.track.last_change_ms == UINT64_MAX);
    CHECK(back.track.stuck_count == UINT32_MAX && back.track.retrying);
    CHECK(back.smooth.latest.value == 1.0 / 3.0 && back.smooth.latest.lower == 1e-300 &&
          back.smooth.latest.upper == 1.7976931348623157e308);
    CHECK(back.est.valid && back.est.saturated && back.est.bytes == UINT64_MAX);
    free(out);
}

static void test_header(void)
{
    CHECK(dmp_balloon_state_header_ok("dmp-balloon-state 1"));
    CHECK(!dmp_balloon_state_header_ok("dmp-balloon-state 2"));
    CHECK(!dmp_balloon_state_header_ok("dmp-balloon-state 1 "));
    CHECK(!dmp_balloon_state_header_ok(""));
}

static void test_malformed(void)
{
    static const char *const bad[] = {
        "guest",                                        /* no name, no domid */
        "guest domid=3",                                /* no name */
        "guest name=x",                                 /* no domid */
        "guest domid=32752 name=x",                     /* a reserved domid */
        "guest domid=3 name=x state=3",                 /* no such state */
        "guest domid=3 name=x stuck_count",             /* no '=' */
        "guest domid=3 name=x last_oom=12x",
        "guest domid=3 name=x last_oom=",
        "guest domid=3 name=x last_oom=-",
        "guest domid=3 name=x last_oom=99999999999999999999",
        "guest domid=3 name=x lv=1.5q",
        "guest domid=3 name=x xv=1.0",                  /* a bound of no series */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char line[128];
        snprintf(line, sizeof line, "%s", bad[i]);
        struct dmp_balloon_saved g;
        CHECK(dmp_balloon_state_parse(line, &g) == -EINVAL);
    }
    /* Keys a newer dmpd may add are skipped. */
    char line[] = "guest domid=3 name=x future_key=42 state=2";
    struct dmp_balloon_saved g;
    CHECK(dmp_balloon_state_parse(line, &g) == 0 && g.domid == 3 && g.track.state == DMP_GUEST_NO_BALLOON);
}

int main(void)
{
    test_old_line();
    test_round_trip();
    test_header();
    test_malformed();
    return DMP_TEST_SUMMARY("balloon_state");
}
