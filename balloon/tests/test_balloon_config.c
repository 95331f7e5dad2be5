/* Configuration: parsing, error messages naming file/line/key, overrides, round trip. */
#include "dmpballoon/balloon_config.h"
#include "dmpcommon/test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char good[] =
    "# dmpd test configuration\n"
    "[global]\n"
    "policy = balance\n"
    "budget = 6g\n"
    "reserve = 256m        ; kept free\n"
    "interval = 5s\n"
    "headroom = 15%\n"
    "rate-limit = 128m\n"
    "estimator = mrc\n"
    "mrc-target = 3%\n"
    "hap-sampling = 0\n"
    "\n"
    "[domain web]\n"
    "min = 512m\n"
    "max = 2g\n"
    "weight = 200\n"
    "stuck-timeout = 45s\n"
    "\r\n"
    "[domain db]\n"
    "min = 1g\n"
    "hysteresis = 32m\n"
    "estimator = sampling\n";

static int parse(struct dmp_balloon_config *c, const char *text, char *err, size_t len)
{
    dmp_balloon_config_init(c);
    return dmp_balloon_config_parse(c, text, strlen(text), "dmpd.conf", err, len);
}

static void test_good(void)
{
    struct dmp_balloon_config c;
    char err[256] = "";
    CHECK(parse(&c, good, err, sizeof(err)) == 0);
    CHECK_STREQ(err, "");
    CHECK_EQ_U64(c.budget_kib, 6ULL << 20);
    CHECK_EQ_U64(c.reserve_kib, 256ULL << 10);
    CHECK_EQ_U64(c.interval_ms, 5000);
    CHECK_EQ_U64(c.mrc_target_pct, 3);
    CHECK_EQ_U64(c.hap_sampling, 0);
    CHECK(c.params.kind == DMP_POLICY_BALANCE);
    CHECK_EQ_U64(c.n_domains, 2);
    struct dmp_guest_settings web, db, other;
    dmp_balloon_config_domain(&c, "web", &web);
    dmp_balloon_config_domain(&c, "db", &db);
    dmp_balloon_config_domain(&c, "nosuch", &other);
    CHECK_EQ_U64(web.min_kib, 512ULL << 10);
    CHECK_EQ_U64(web.max_kib, 2ULL << 20);
    CHECK_EQ_U64(web.weight, 200);
    CHECK_EQ_U64(web.stuck_timeout_ms, 45000);
    CHECK_EQ_U64(web.headroom_pct, 15);         /* from [global] */
    CHECK_EQ_U64(web.rate_limit_kib, 128ULL << 10);
    CHECK(web.estimator == DMP_WSS_MRC);
    CHECK(db.estimator == DMP_WSS_SAMPLING);
    CHECK_EQ_U64(db.hysteresis_kib, 32ULL << 10);
    CHECK_EQ_U64(db.weight, 100);               /* built-in default */
    CHECK_EQ_U64(other.min_kib, 0);
    CHECK_EQ_U64(other.headroom_pct, 15);
    dmp_balloon_config_free(&c);
}

struct bad_case {
    const char *text;
    const char *msg;
};

static void test_errors(void)
{
    {   /* HAP guests are sampled unless switched off, and it is a switch */
        struct dmp_balloon_config d;
        char e[256] = "";
        CHECK(parse(&d, "[global]\n", e, sizeof(e)) == 0);
        CHECK_EQ_U64(d.hap_sampling, 1);
        CHECK(parse(&d, "[global]\nhap-sampling = 0\n", e, sizeof(e)) == 0);
        CHECK_EQ_U64(d.hap_sampling, 0);
        CHECK(parse(&d, "[global]\nhap-sampling = 2\n", e, sizeof(e)) != 0);
        CHECK(strstr(e, "hap-sampling") != NULL);
    }
    static const struct bad_case cases[] = {
        { "[global]\nreserve = 1g\n\n[domain web]\nmin = 1g\nmax = 2g\nweigth = 5\n",
          "dmpd.conf:7: key 'weigth' unknown in [domain web]" },
        { "[domain web]\nmax = 1g\nmin = 2g\n",
          "dmpd.conf:3: min 2g is above max 1g in [domain web]" },
        { "[domain web]\npolicy = static\n",
          "dmpd.conf:2: key 'policy' is only valid in [global], not in [domain web]" },
        { "[global]\nreserve = lots\n",
          "dmpd.conf:2: bad value 'lots' for key 'reserve' (expected a size like 512m or 2g)" },
        { "[global]\npolicy = greedy\n",
          "dmpd.conf:2: bad value 'greedy' for key 'policy' (expected one of balance, static, proportional)" },
        { "[global]\ninterval = 5 parsecs\n",
          "dmpd.conf:2: bad value '5 parsecs' for key 'interval' (expected a duration like 500ms, 5s or 2m)" },
        { "[global]\nweight = 0\n",
          "dmpd.conf:2: weight 0 is out of range (1 to 10000)" },
        { "[global]\nhysteresis-pct = 150%\n",
          "dmpd.conf:2: hysteresis-pct 150% is out of range (0 to 100)" },
        { "min = 1g\n",
          "dmpd.conf:1: key 'min' before any section ([global] or [domain <name>])" },
        { "[global]\n[domian web]\n",
          "dmpd.conf:2: unknown section [domian web] (expected [global] or [domain <name>])" },
        { "[domain web]\nmin = 1g\n[domain web]\n",
          "dmpd.conf:3: section [domain web] appears twice (first at line 1)" },
        { "[domain web]\nmin = 1g\nmin = 2g\n",
          "dmpd.conf:3: key 'min' set twice in [domain web] (first at line 2)" },
        { "[global]\njust words\n",
          "dmpd.conf:2: expected 'key = value', got 'just words'" },
        { "[global]\nbudget = 1g\nreserve = 1g\n",
          "dmpd.conf: reserve 1g is not below budget 1g in [global]" },
        { "[domain web]\nmin = 3g\n[global]\nmax = 2g\n",
          "dmpd.conf:1: min 3g is above max 2g in [domain web]" },
        { "[global]\nmin = 100\n[domain web]\nmax = 64m\n",
          "dmpd.conf:4: min 100m is above max 64m in [domain web]" },
        { "[global]\nmin = 1000b\n",
          "dmpd.conf:2: min '1000b' is not a whole number of KiB" },
        { "[global]\ngranularity = 6k\n",
          "dmpd.conf: granularity 6k is not a multiple of the 4k page" },
        { "[global]\nmin =\n", "dmpd.conf:2: key 'min' has no value in [global]" },
        { "[domain web\n", "dmpd.conf:1: malformed section header '[domain web'" },
        { "[global]\n[dmp] extra\n", "dmpd.conf:2: malformed section header '[dmp] extra'" },
        { "[dmp]\nwhatever the dmp service reads\n[global]\nnonsense\n",
          "dmpd.conf:4: expected 'key = value', got 'nonsense'" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dmp_balloon_config c;
        char err[256] = "";
        CHECK(parse(&c, cases[i].text, err, sizeof(err)) == -EINVAL);
        CHECK_STREQ(err, cases[i].msg);
        dmp_balloon_config_free(&c);
    }
    struct dmp_balloon_config c;
    char err[256];
    dmp_balloon_config_init(&c);
    CHECK(dmp_balloon_config_load(&c, "/nonexistent/dmpd.conf", err, sizeof(err)) == -ENOENT);
    CHECK(strstr(err, "/nonexistent/dmpd.conf: cannot read") == err);
    dmp_balloon_config_free(&c);
}

static void test_overrides_and_round_trip(void)
{
    struct dmp_balloon_config c;
    char err[256] = "";
    CHECK(parse(&c, good, err, sizeof(err)) == 0);
    const char *src = "xenstore /local/domain/3/dmp";
    CHECK(dmp_balloon_config_override(&c, "web", "weight=50", src, err, sizeof(err)) == 0);
    CHECK(dmp_balloon_config_override(&c, "new", " max = 3g ", src, err, sizeof(err)) == 0);
    struct dmp_guest_settings s;
    dmp_balloon_config_domain(&c, "web", &s);
    CHECK_EQ_U64(s.weight, 50);
    dmp_balloon_config_domain(&c, "new", &s);
    CHECK_EQ_U64(s.max_kib, 3ULL << 20);
    CHECK(dmp_balloon_config_override(&c, "web", "weigth=5", src, err, sizeof(err)) == -EINVAL);
    CHECK_STREQ(err, "xenstore /local/domain/3/dmp: key 'weigth' unknown in [domain web]");
    CHECK(dmp_balloon_config_override(&c, "web", "min=4g", src, err, sizeof(err)) == -EINVAL);
    CHECK_STREQ(err, "xenstore /local/domain/3/dmp: min 4g is above max 2g in [domain web]");
    CHECK(dmp_balloon_config_override(&c, "web", "reserve=1g", src, err, sizeof(err)) == -EINVAL);
    CHECK(dmp_balloon_config_override(&c, "web", "nonsense", src, err, sizeof(err)) == -EINVAL);
    dmp_balloon_config_domain(&c, "web", &s);
    CHECK_EQ_U64(s.min_kib, 512ULL << 10);       /* rejected overrides changed nothing */
    CHECK_EQ_U64(s.weight, 50);
    /* an override may replace a key the file set (it is not a duplicate) */
    CHECK(dmp_balloon_config_override(&c, "web", "min=768m", src, err, sizeof(err)) == 0);

    char *text;
    size_t len;
    CHECK(dmp_balloon_config_serialize(&c, &text, &len) == 0);
    struct dmp_balloon_config back;
    dmp_balloon_config_init(&back);
    int rc = dmp_balloon_config_parse(&back, text, len, "state", err, sizeof(err));
    if (rc)
        fprintf(stderr, "%s\n---\n%s", err, text);
    CHECK(rc == 0);
    CHECK(dmp_balloon_config_equal(&c, &back));
    dmp_balloon_config_domain(&back, "web", &s);
    CHECK_EQ_U64(s.min_kib, 768ULL << 10);
    CHECK(strstr(text, "[domain new]\nmax = 3g\n") != NULL);
    /* and a change is noticed */
    CHECK(dmp_balloon_config_override(&back, "db", "weight=7", src, err, sizeof(err)) == 0);
    CHECK(!dmp_balloon_config_equal(&c, &back));
    free(text);
    dmp_balloon_config_free(&back);

    /* odd values survive the round trip exactly */
    struct dmp_balloon_config o;
    dmp_balloon_config_init(&o);
    const char *odd = "[global]\nreserve = 1540k\ninterval = 1500ms\nmin-floor = 1025m\n";
    CHECK(dmp_balloon_config_parse(&o, odd, strlen(odd), "odd", err, sizeof(err)) == 0);
    CHECK(dmp_balloon_config_serialize(&o, &text, &len) == 0);
    struct dmp_balloon_config o2;
    dmp_balloon_config_init(&o2);
    CHECK(dmp_balloon_config_parse(&o2, text, len, "odd2", err, sizeof(err)) == 0);
    CHECK(dmp_balloon_config_equal(&o, &o2));
    CHECK_EQ_U64(o2.reserve_kib, 1540);
    CHECK_EQ_U64(o2.interval_ms, 1500);
    free(text);
    dmp_balloon_config_free(&o);
    dmp_balloon_config_free(&o2);
    dmp_balloon_config_free(&c);
}

/* Durations and counts go through common's parsers (dmp_parse_duration_ms, dmp_parse_u64_dec):
 * the same units as before, and the same refusals. */
static void test_units(void)
{
    static const struct { const char *text; uint64_t ms; } durs[] = {
        { "[global]\ninterval = 750ms\n", 750 }, { "[global]\ninterval = 7\n", 7000 },
        { "[global]\ninterval = 2m\n", 120000 }, { "[global]\ninterval = 2min\n", 120000 },
        { "[global]\ninterval = 1h\n", 3600000 },
    };
    char err[256];
    for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
        struct dmp_balloon_config c;
        CHECK(parse(&c, durs[i].text, err, sizeof(err)) == 0);
        CHECK_EQ_U64(c.interval_ms, durs[i].ms);
        dmp_balloon_config_free(&c);
    }
    static const char *const bad[] = { "[global]\ninterval = 5d\n", "[global]\ninterval = -5s\n",
                                       "[global]\ninterval = 1.5s\n", "[global]\ninterval = 99999999999999999999s\n",
                                       "[global]\nnoballoon-after = 0x10\n", "[global]\nmrc-target = +5%\n",
                                       "[global]\nsample-pages = 1e3\n" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct dmp_balloon_config c;
        err[0] = '\0';
        CHECK(parse(&c, bad[i], err, sizeof(err)) < 0 && strstr(err, "dmpd.conf:2: bad value") == err);
        dmp_balloon_config_free(&c);
    }
    struct dmp_balloon_config c;
    CHECK(parse(&c, "[global]\nmrc-target = 007%\nnoballoon-after = 010\n", err, sizeof(err)) == 0);
    CHECK_EQ_U64(c.mrc_target_pct, 7);
    CHECK_EQ_U64(c.params.noballoon_after, 10);    /* decimal, not octal */
    dmp_balloon_config_free(&c);
}

/* Lines no parser can read stop the whole file, in any section. */
static void test_unreadable_lines(void)
{
    char text[2048] = "[dmp]\nmode = observe\nk = ";
    size_t n = strlen(text);
    memset(text + n, 'v', 1100);
    strcpy(text + n + 1100, "\n");
    struct dmp_balloon_config c;
    char err[256] = "";
    CHECK(parse(&c, text, err, sizeof(err)) == -EINVAL);
    CHECK_STREQ(err, "dmpd.conf:3: line longer than 1023 characters");
    dmp_balloon_config_free(&c);
    static const char nul[] = "[global]\ninterval = 5s\0junk\n";
    dmp_balloon_config_init(&c);
    CHECK(dmp_balloon_config_parse(&c, nul, sizeof(nul) - 1, "dmpd.conf", err, sizeof(err)) == -EINVAL);
    CHECK_STREQ(err, "dmpd.conf:2: NUL byte in line");
    dmp_balloon_config_free(&c);
}

int main(void)
{
    test_good();
    test_unreadable_lines();
    test_units();
    test_errors();
    test_overrides_and_round_trip();
    return DMP_TEST_SUMMARY("balloon_config");
}
