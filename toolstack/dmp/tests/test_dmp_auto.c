/* Automatic DMP, pure parts (dmp_auto.h): [dmp] configuration with errors, overrides, the
 * decision state machine (rate history -> action, failures -> back-off -> give up, restart
 * rules) and the state file round trip. Reading the operations' reports: test_report.c. */
#include "dmp/auto.h"
#include "dmpcommon/json.h"
#include "dmp/profile.h"
#include "dmpcommon/test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int parse(struct dmp_auto_config *c, const char *text, char *err, size_t errlen)
{
    dmp_auto_config_init(c);
    err[0] = '\0';
    return dmp_auto_config_parse(c, text, strlen(text), "dmpd.conf", err, errlen);
}

static void test_config(void)
{
    struct dmp_auto_config c;
    char err[512];

    /* No section: not present, defaults untouched; other services' sections are skipped. */
    CHECK(parse(&c, "[global]\npolicy = static\n[domain web]\nmin = 1g\n", err, sizeof(err)) == 0);
    CHECK(!c.present);
    CHECK(c.set.mode == DMP_AUTO_OBSERVE);
    CHECK_EQ_U64(c.set.threshold, 2000);
    CHECK_EQ_U64(c.set.sustain, 2);

    CHECK(parse(&c,
                "[global]\npolicy = static\n"
                "[dmp]   # automatic DMP\n"
                "mode = patch\n"
                "threshold = 150 ; exits/s\n"
                "window = 3s\n"
                "sustain = 3\n"
                "recheck = 2m\n"
                "delay = 0\n"
                "sites = hot\n"
                "exclude = db, build ,  web\n"
                "backoff = 1500ms\n"
                "max-failures = 5\n"
                "patch-timeout = 1h\n"
                "dmpctl = /opt/dmp/bin/dmpctl\n"
                "[domain web]\nmin = 1g\n"
                "mode = nonsense\n",   /* after [dmp] ended: the balloon parser's business */
                err, sizeof(err)) == 0);
    CHECK(c.present);
    CHECK_EQ_U64(c.section_line, 3);
    CHECK(c.set.mode == DMP_AUTO_PATCH);
    CHECK_EQ_U64(c.set.threshold, 150);
    CHECK_EQ_U64(c.set.window_s, 3);
    CHECK_EQ_U64(c.set.sustain, 3);
    CHECK_EQ_U64(c.recheck_ms, 120000);
    CHECK_EQ_U64(c.delay_ms, 0);
    CHECK(c.set.sites == DMP_AUTO_SITES_HOT);
    CHECK_EQ_U64(c.n_exclude, 3);
    CHECK(dmp_auto_config_excludes(&c, "build") && dmp_auto_config_excludes(&c, "web"));
    CHECK(!dmp_auto_config_excludes(&c, "dbx"));
    CHECK_EQ_U64(c.backoff_ms, 1500);
    CHECK_EQ_U64(c.max_failures, 5);
    CHECK_EQ_U64(c.patch_timeout_ms, 3600000);
    CHECK_STREQ(c.dmpctl, "/opt/dmp/bin/dmpctl");

    /* Errors name the file, the line and the key. */
    static const struct { const char *text, *msg; } bad[] = {
        { "[dmp]\nthreshhold = 5\n", "dmpd.conf:2: key 'threshhold' unknown in [dmp]" },
        { "[dmp]\nmode = on\n", "dmpd.conf:2: mode 'on' is not off, observe or patch in [dmp]" },
        { "[dmp]\n\nthreshold = fast\n", "dmpd.conf:3: threshold 'fast' is not a number" },
        { "[dmp]\nthreshold = 0\n", "dmpd.conf:2: threshold '0' is not a number" },
        { "[dmp]\nthreshold = -5\n", "dmpd.conf:2: threshold '-5'" },
        { "[dmp]\nthreshold = 0x10\n", "dmpd.conf:2: threshold '0x10'" },
        { "[dmp]\nwindow = 1500ms\n", "dmpd.conf:2: window '1500ms' is not a whole number of seconds" },
        { "[dmp]\nwindow = 2h\n", "dmpd.conf:2: window '2h'" },
        { "[dmp]\nwindow = 0\n", "dmpd.conf:2: window '0'" },
        { "[dmp]\nsustain = 0\n", "dmpd.conf:2: sustain '0' is not a count" },
        { "[dmp]\nsites = some\n", "dmpd.conf:2: sites 'some' is not all-mmu or hot" },
        { "[dmp]\nrecheck = soon\n", "dmpd.conf:2: recheck 'soon' is not a duration" },
        { "[dmp]\nrecheck = 5x\n", "dmpd.conf:2: recheck '5x'" },
        { "[dmp]\nbackoff = 10ms\n", "dmpd.conf:2: backoff '10ms'" },
        { "[dmp]\nmax-failures = 0\n", "dmpd.conf:2: max-failures '0'" },
        { "[dmp]\ndmpctl = dmpctl\n", "dmpd.conf:2: dmpctl 'dmpctl' is not an absolute path" },
        { "[dmp]\nmode\n", "dmpd.conf:2: expected 'key = value', got 'mode' in [dmp]" },
        { "[dmp]\nmode =\n", "dmpd.conf:2: key 'mode' has no value in [dmp]" },
        { "[dmp]\nmode = patch\nmode = observe\n", "dmpd.conf:3: key 'mode' set twice in [dmp] (first at line 2)" },
        { "[dmp]\n[global]\n[dmp]\n", "dmpd.conf:3: section [dmp] appears twice (first at line 1)" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse(&c, bad[i].text, err, sizeof(err));
        CHECK(rc == -EINVAL);
        if (rc != -EINVAL || strncmp(err, bad[i].msg, strlen(bad[i].msg)) != 0) {
            fprintf(stderr, "case %zu: got '%s', want prefix '%s'\n", i, err, bad[i].msg);
            CHECK(0);
        }
    }
    /* The same key in another section is not ours to judge. */
    CHECK(parse(&c, "[global]\nthreshold = fast\n", err, sizeof(err)) == 0);

    /* Counts are decimal, as in every other configuration file: "010" is ten (it used to
     * read as octal 8, and "09" was refused). */
    CHECK(parse(&c, "[dmp]\nthreshold = 010\nsustain = 09\nmax-failures = 007\n", err,
                sizeof(err)) == 0);
    CHECK_EQ_U64(c.set.threshold, 10);
    CHECK_EQ_U64(c.set.sustain, 9);
    CHECK_EQ_U64(c.max_failures, 7);
    CHECK(parse(&c, "[dmp]\nthreshold = 18446744073709551616\n", err, sizeof(err)) == -EINVAL);
    CHECK(strstr(err, "dmpd.conf:2: threshold '18446744073709551616' is not a number") == err);
    CHECK(parse(&c, "[dmp]\nsustain = +3\n", err, sizeof(err)) == -EINVAL);
    CHECK(strstr(err, "dmpd.conf:2: sustain '+3' is not a count") == err);

    /* Durations are common's (dmp_parse_duration_ms), with this section's own limits. */
    CHECK(parse(&c, "[dmp]\nrecheck = 2min\nwindow = 60000ms\ndelay = 1d\n", err,
                sizeof(err)) == -EINVAL);
    CHECK(strstr(err, "dmpd.conf:4: delay '1d' is not a duration") == err);
    CHECK(parse(&c, "[dmp]\nrecheck = 2min\nwindow = 60000ms\ndelay = 24h\n", err,
                sizeof(err)) == 0);
    CHECK_EQ_U64(c.recheck_ms, 120000);
    CHECK_EQ_U64(c.set.window_s, 60);
    CHECK_EQ_U64(c.delay_ms, 24ull * 3600 * 1000);
    static const char *const too_long_durations[] = {
        "[dmp]\ndelay = 25h\n", "[dmp]\ndelay = 86400001ms\n", "[dmp]\ndelay = 1441m\n",
        "[dmp]\ndelay = 1234567890123\n", "[dmp]\nwindow = 3601\n", "[dmp]\nwindow = 1.5s\n",
    };
    for (size_t i = 0; i < sizeof(too_long_durations) / sizeof(too_long_durations[0]); i++) {
        CHECK(parse(&c, too_long_durations[i], err, sizeof(err)) == -EINVAL);
        CHECK(strstr(err, "dmpd.conf:2: ") == err);
    }

    /* Lines as the shared reader sees them: a line too long, a NUL byte or a line that is not
     * "key = value" is an error inside [dmp] only; a malformed header ends [dmp]. */
    char longline[1100];
    memset(longline, 'x', sizeof(longline));
    memcpy(longline, "[dmp]\n", 6);
    longline[6 + 1024] = '\0';   /* a 1024-character line */
    CHECK(parse(&c, longline, err, sizeof(err)) == -EINVAL);
    CHECK_STREQ(err, "dmpd.conf:2: line longer than 1023 characters");
    memcpy(longline, "[web]\n", 6);
    CHECK(parse(&c, longline, err, sizeof(err)) == 0);
    CHECK(!c.present);
    static const char nul[] = "[dmp]\nmode = patch\0 observe\n";
    dmp_auto_config_init(&c);
    CHECK(dmp_auto_config_parse(&c, nul, sizeof(nul) - 1, "dmpd.conf", err, sizeof(err)) == -EINVAL);
    CHECK_STREQ(err, "dmpd.conf:2: NUL byte in line in [dmp]");
    static const char nul_elsewhere[] = "[global]\npolicy\0 = x\n[dmp]\nmode = patch\n";
    dmp_auto_config_init(&c);
    CHECK(dmp_auto_config_parse(&c, nul_elsewhere, sizeof(nul_elsewhere) - 1, "dmpd.conf", err,
                                sizeof(err)) == 0);
    CHECK(c.present && c.set.mode == DMP_AUTO_PATCH);
    CHECK(parse(&c, "[global]\njust words\n[dmp]\nmode = patch\n", err, sizeof(err)) == 0);
    CHECK(c.set.mode == DMP_AUTO_PATCH);
    CHECK(parse(&c, "[dmp]\nmode = patch\n[broken\nmode = nonsense\nthreshold = x\n", err,
                sizeof(err)) == 0);
    CHECK(c.present && c.set.mode == DMP_AUTO_PATCH);
    CHECK(parse(&c, "[dmp]\nsustain = 4\n[web] x\nsustain = 0\n", err, sizeof(err)) == 0);
    CHECK_EQ_U64(c.set.sustain, 4);
    /* Comments and blanks count as lines in the numbers of messages. */
    CHECK(parse(&c, "# dmpd\n\n[dmp] ; ours\n  # nothing\nmode = on # no\n", err,
                sizeof(err)) == -EINVAL);
    CHECK_STREQ(err, "dmpd.conf:5: mode 'on' is not off, observe or patch in [dmp]");
}

static void test_overrides(void)
{
    struct dmp_auto_config c;
    char err[512];
    dmp_auto_config_init(&c);
    struct dmp_auto_settings s = c.set;
    CHECK(dmp_auto_settings_override(&s, "mode", "patch", "xenstore /x/mode", err, sizeof(err)) == 0);
    CHECK(s.mode == DMP_AUTO_PATCH);
    CHECK(dmp_auto_settings_override(&s, "threshold", " 42 ", "xenstore /x/threshold", err, sizeof(err)) == 0);
    CHECK_EQ_U64(s.threshold, 42);
    struct dmp_auto_settings before = s;
    CHECK(dmp_auto_settings_override(&s, "threshold", "lots", "xenstore /x/threshold", err, sizeof(err)) == -EINVAL);
    CHECK(strstr(err, "xenstore /x/threshold: threshold 'lots' is not a number") == err);
    CHECK(memcmp(&s, &before, sizeof(s)) == 0);
    CHECK(dmp_auto_settings_override(&s, "recheck", "5s", "xenstore /x/recheck", err, sizeof(err)) == -EINVAL);
    CHECK(strstr(err, "key 'recheck' cannot be overridden per domain") != NULL);
    CHECK(dmp_auto_settings_override(&s, "colour", "red", "xenstore /x/colour", err, sizeof(err)) == -EINVAL);
    CHECK(strstr(err, "cannot be overridden") != NULL);
}

static void test_decisions(void)
{
    struct dmp_auto_config c;
    dmp_auto_config_init(&c);
    c.set.mode = DMP_AUTO_PATCH;
    c.set.threshold = 100;
    c.set.sustain = 2;
    c.delay_ms = 10000;
    c.recheck_ms = 60000;
    c.backoff_ms = 1000;
    c.max_failures = 3;
    struct dmp_auto_dom d;
    struct dmp_auto_verdict v;
    uint64_t t = 1000000;
    dmp_auto_dom_init(&d, &c, 5, "u-1", "g", t);
    CHECK(d.phase == DMP_AUTO_WATCHING);
    CHECK(d.last_rate < 0);
    /* Not before the delay. */
    CHECK(dmp_auto_due(&c.set, &d, t) == DMP_AUTO_ACT_NONE);
    CHECK(dmp_auto_due(&c.set, &d, t + 9999) == DMP_AUTO_ACT_NONE);
    CHECK(dmp_auto_due(&c.set, &d, t + 10000) == DMP_AUTO_ACT_PROFILE);
    t += 10000;
    dmp_auto_started(&d, DMP_AUTO_ACT_PROFILE);
    CHECK(d.phase == DMP_AUTO_PROFILING);
    CHECK(dmp_auto_due(&c.set, &d, t + 1000000) == DMP_AUTO_ACT_NONE);   /* busy */

    /* Below: wait recheck. */
    dmp_auto_on_profile(&c, &c.set, &d, 99.9, t, &v);
    CHECK_STREQ(v.decision, "below");
    CHECK(strstr(v.reason, "rate 99.9/s below threshold 100/s") != NULL);
    CHECK_EQ_U64(d.above, 0);
    CHECK_EQ_U64(d.windows, 1);
    CHECK(dmp_auto_due(&c.set, &d, t + 59999) == DMP_AUTO_ACT_NONE);
    CHECK(dmp_auto_due(&c.set, &d, t + 60000) == DMP_AUTO_ACT_PROFILE);
    t += 60000;

    /* Above once: the next window follows at once; below again resets the count. */
    dmp_auto_started(&d, DMP_AUTO_ACT_PROFILE);
    dmp_auto_on_profile(&c, &c.set, &d, 100.0, t, &v);   /* at the threshold counts as above */
    CHECK_STREQ(v.decision, "above");
    CHECK(strstr(v.reason, "1 of 2 windows") != NULL);
    CHECK(dmp_auto_due(&c.set, &d, t) == DMP_AUTO_ACT_PROFILE);
    dmp_auto_started(&d, DMP_AUTO_ACT_PROFILE);
    dmp_auto_on_profile(&c, &c.set, &d, 20.0, t, &v);
    CHECK_STREQ(v.decision, "below");
    CHECK_EQ_U64(d.above, 0);
    t += 60000;

    /* Two consecutive windows above: patch. */
    dmp_auto_started(&d, DMP_AUTO_ACT_PROFILE);
    dmp_auto_on_profile(&c, &c.set, &d, 500.0, t, &v);
    CHECK_STREQ(v.decision, "above");
    dmp_auto_started(&d, DMP_AUTO_ACT_PROFILE);
    dmp_auto_on_profile(&c, &c.set, &d, 450.0, t + 5000, &v);
    CHECK_STREQ(v.decision, "patch");
    CHECK(strstr(v.reason, "for 2 of 2 windows: patch (sites all-mmu)") != NULL);
    CHECK(d.phase == DMP_AUTO_PATCH_DUE);
    CHECK_EQ_U64(d.windows, 5);
    /* A switch to observe (override) holds the patch back; back to patch releases it. */
    struct dmp_auto_settings obs = c.set;
    obs.mode = DMP_AUTO_OBSERVE;
    CHECK(dmp_auto_due(&obs, &d, t + 5000) == DMP_AUTO_ACT_NONE);
    struct dmp_auto_settings off = c.set;
    off.mode = DMP_AUTO_OFF;
    CHECK(dmp_auto_due(&off, &d, t + 5000) == DMP_AUTO_ACT_NONE);
    CHECK(dmp_auto_due(&c.set, &d, t + 5000) == DMP_AUTO_ACT_PATCH);
    dmp_auto_started(&d, DMP_AUTO_ACT_PATCH);
    CHECK(d.phase == DMP_AUTO_PATCHING);

    /* A failed patch: retried after the back-off, doubling; the third failure gives up. */
    t += 5000;
    CHECK(!dmp_auto_on_failure(&c, &d, t, "patch exit 1: boom"));
    CHECK(d.phase == DMP_AUTO_PATCH_DUE);
    CHECK_EQ_U64(d.failures, 1);
    CHECK_STREQ(d.note, "patch exit 1: boom");
    CHECK(dmp_auto_due(&c.set, &d, t + 999) == DMP_AUTO_ACT_NONE);
    CHECK(dmp_auto_due(&c.set, &d, t + 1000) == DMP_AUTO_ACT_PATCH);
    dmp_auto_started(&d, DMP_AUTO_ACT_PATCH);
    CHECK(!dmp_auto_on_failure(&c, &d, t + 1000, "again"));
    CHECK_EQ_U64(d.next_ms, t + 1000 + 2000);
    dmp_auto_started(&d, DMP_AUTO_ACT_PATCH);
    /* ... a success in between resets the count */
    dmp_auto_on_patched(&d, 171, t + 3000);
    CHECK(d.phase == DMP_AUTO_PATCHED);
    CHECK_EQ_U64(d.failures, 0);
    CHECK_EQ_U64(d.sites, 171);
    CHECK(dmp_auto_due(&c.set, &d, t + 1000000000ull) == DMP_AUTO_ACT_NONE);   /* never again */

    /* Give-up path, and a failed profile loses its sustain count. */
    dmp_auto_dom_init(&d, &c, 6, "u-2", "h", t);
    d.next_ms = t;
    dmp_auto_started(&d, DMP_AUTO_ACT_PROFILE);
    dmp_auto_on_profile(&c, &c.set, &d, 1000.0, t, &v);
    CHECK_EQ_U64(d.above, 1);
    dmp_auto_started(&d, DMP_AUTO_ACT_PROFILE);
    CHECK(!dmp_auto_on_failure(&c, &d, t, "profile died of signal 11"));
    CHECK(d.phase == DMP_AUTO_WATCHING);
    CHECK_EQ_U64(d.above, 0);
    CHECK(dmp_auto_due(&c.set, &d, t + 1000) == DMP_AUTO_ACT_PROFILE);
    dmp_auto_started(&d, DMP_AUTO_ACT_PROFILE);
    CHECK(!dmp_auto_on_failure(&c, &d, t + 1000, "x"));
    dmp_auto_started(&d, DMP_AUTO_ACT_PROFILE);
    CHECK(dmp_auto_on_failure(&c, &d, t + 4000, "x"));
    CHECK(d.phase == DMP_AUTO_GAVE_UP);
    CHECK(dmp_auto_due(&c.set, &d, t + 1000000000ull) == DMP_AUTO_ACT_NONE);

    /* The back-off is capped (64 x base) however many failures are allowed. */
    c.max_failures = 1000;
    dmp_auto_dom_init(&d, &c, 7, "u-3", "k", 0);
    for (int i = 0; i < 20; i++) {
        dmp_auto_started(&d, DMP_AUTO_ACT_PROFILE);
        CHECK(!dmp_auto_on_failure(&c, &d, 0, "x"));
    }
    CHECK_EQ_U64(d.next_ms, 64 * c.backoff_ms);

    /* Observe: would patch, logged, then only rechecks; never a patch. */
    c.set.mode = DMP_AUTO_OBSERVE;
    dmp_auto_dom_init(&d, &c, 8, "u-4", "o", t);
    d.next_ms = t;
    for (int i = 0; i < 2; i++) {
        CHECK(dmp_auto_due(&c.set, &d, t) == DMP_AUTO_ACT_PROFILE);
        dmp_auto_started(&d, DMP_AUTO_ACT_PROFILE);
        dmp_auto_on_profile(&c, &c.set, &d, 1e6, t, &v);
    }
    CHECK_STREQ(v.decision, "would-patch");
    CHECK(d.would_patch);
    CHECK(d.phase == DMP_AUTO_WATCHING);
    CHECK_EQ_U64(d.next_ms, t + c.recheck_ms);
    CHECK(dmp_auto_due(&c.set, &d, t + c.recheck_ms) == DMP_AUTO_ACT_PROFILE);

    /* Ignored (HAP/PV or exit 3) is terminal. */
    dmp_auto_on_ignored(&d, "uses HAP");
    CHECK(d.phase == DMP_AUTO_IGNORED);
    CHECK(dmp_auto_due(&c.set, &d, UINT64_MAX) == DMP_AUTO_ACT_NONE);
}

static void test_restart(void)
{
    struct dmp_auto_config c;
    dmp_auto_config_init(&c);
    struct dmp_auto_dom d[5];
    dmp_auto_dom_init(&d[0], &c, 1, "11111111-0000-0000-0000-000000000001", "prof", 100);
    dmp_auto_started(&d[0], DMP_AUTO_ACT_PROFILE);
    d[0].next_ms = 500;
    d[0].above = 1;
    d[0].last_rate = 1234.5;
    dmp_auto_dom_init(&d[1], &c, 2, "11111111-0000-0000-0000-000000000002", "patching", 100);
    d[1].phase = DMP_AUTO_PATCHING;
    d[1].pid = 4242;
    d[1].next_ms = 100;
    dmp_auto_dom_init(&d[2], &c, 3, "11111111-0000-0000-0000-000000000003", "done", 100);
    dmp_auto_on_patched(&d[2], 171, 777);
    dmp_auto_dom_init(&d[3], &c, 4, "11111111-0000-0000-0000-000000000004", "failing", 100);
    dmp_auto_started(&d[3], DMP_AUTO_ACT_PROFILE);
    dmp_auto_on_failure(&c, &d[3], 1000, "profile exit 1: cannot enable profiling: busy");
    dmp_auto_dom_init(&d[4], &c, 5, "11111111-0000-0000-0000-000000000005", "hap", 100);
    dmp_auto_on_ignored(&d[4], "uses HAP: page-table updates do not exit");

    char *text;
    size_t len;
    CHECK(dmp_auto_state_format(d, 5, &text, &len) == 0);
    CHECK(strncmp(text, "dmp-auto-state 1\n", 17) == 0);
    /* A malformed line and a line from the future are skipped / tolerated. */
    size_t tl = strlen(text);
    char *more = malloc(tl + 256);
    memcpy(more, text, tl);
    strcpy(more + tl, "dom domid=zz uuid=x phase=watching\ngarbage\n"
                      "dom domid=9 uuid=u9 phase=watching newkey=7\n");
    struct dmp_auto_dom e[8];
    size_t n, skipped;
    char err[256];
    CHECK(dmp_auto_state_parse(more, e, 8, &n, &skipped, err, sizeof(err)) == 0);
    CHECK_EQ_U64(n, 6);
    CHECK_EQ_U64(skipped, 2);
    CHECK_STREQ(e[0].name, "prof");
    CHECK(e[0].phase == DMP_AUTO_PROFILING);
    CHECK_EQ_U64(e[0].above, 1);
    CHECK(e[0].last_rate > 1234.4 && e[0].last_rate < 1234.6);
    CHECK_EQ_U64(e[1].pid, 4242);
    CHECK(e[2].phase == DMP_AUTO_PATCHED);
    CHECK_EQ_U64(e[2].sites, 171);
    CHECK_EQ_U64(e[2].patched_ms, 777);
    CHECK_EQ_U64(e[3].failures, 1);
    CHECK_EQ_U64(e[3].next_ms, d[3].next_ms);
    /* Notes keep their words (blanks become '_' in the file). */
    CHECK_STREQ(e[3].note, "profile_exit_1:_cannot_enable_profiling:_busy");
    CHECK(e[4].phase == DMP_AUTO_IGNORED);
    CHECK_EQ_U64(e[5].domid, 9);

    /* The restart rules. */
    for (size_t i = 0; i < n; i++)
        dmp_auto_after_restart(&e[i], 5000);
    CHECK(e[0].phase == DMP_AUTO_WATCHING);           /* the window's result is lost: redo */
    CHECK_EQ_U64(e[0].next_ms, 5000);
    CHECK(dmp_auto_due(&c.set, &e[0], 5000) == DMP_AUTO_ACT_PROFILE);
    CHECK(e[1].phase == DMP_AUTO_PATCH_DUE);          /* patch again: idempotent */
    c.set.mode = DMP_AUTO_PATCH;
    CHECK(dmp_auto_due(&c.set, &e[1], 5000) == DMP_AUTO_ACT_PATCH);
    CHECK(e[2].phase == DMP_AUTO_PATCHED);            /* never re-patched */
    CHECK(dmp_auto_due(&c.set, &e[2], UINT64_MAX) == DMP_AUTO_ACT_NONE);
    CHECK(e[3].phase == DMP_AUTO_WATCHING);           /* back-off survives the restart */
    CHECK(dmp_auto_due(&c.set, &e[3], d[3].next_ms - 1) == DMP_AUTO_ACT_NONE);
    CHECK(dmp_auto_due(&c.set, &e[3], d[3].next_ms) == DMP_AUTO_ACT_PROFILE);
    CHECK(e[4].phase == DMP_AUTO_IGNORED);

    CHECK(dmp_auto_state_parse("balloon 1\n", e, 8, &n, &skipped, err, sizeof(err)) == -EINVAL);
    CHECK(strstr(err, "not a dmp auto state file") != NULL);
    CHECK(dmp_auto_state_parse("", e, 8, &n, &skipped, err, sizeof(err)) == -EINVAL);
    /* At most max entries; the rest counted as skipped. */
    CHECK(dmp_auto_state_parse(text, e, 2, &n, &skipped, err, sizeof(err)) == 0);
    CHECK_EQ_U64(n, 2);
    CHECK_EQ_U64(skipped, 3);
    free(more);
    free(text);
}

int main(void)
{
    test_config();
    test_overrides();
    test_decisions();
    test_restart();
    return DMP_TEST_SUMMARY("dmp_auto");
}
