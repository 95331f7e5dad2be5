/* Decision log lines and metrics: JSON that a strict parser accepts, Prometheus lines that
 * follow the exposition grammar. */
#include "dmpballoon/balloon_report.h"
#include "dmpcommon/json.h"
#include "dmpcommon/test.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

/* The project's strict JSON recogniser (RFC 8259 grammar, no extensions). */
static bool valid_json(const char *s)
{
    return dmp_json_validate(s, strlen(s)) == 0;
}

static void decisions(struct dmp_decision d[2], struct dmp_policy_summary *s)
{
    memset(d, 0, 2 * sizeof(*d));
    memset(s, 0, sizeof(*s));
    d[0].time_ms = 12000;
    d[0].domid = 3;
    snprintf(d[0].name, sizeof(d[0].name), "web");
    d[0].old_target_kib = 1048576;
    d[0].new_target_kib = 1310720;
    d[0].actual_kib = 1048576;
    d[0].floor_kib = 800 * 1024;
    d[0].ceiling_kib = 4 << 20;
    d[0].desired_kib = 2 << 20;
    d[0].wss = (struct dmp_wss_estimate){ .valid = true, .method = DMP_WSS_SAMPLING,
                                          .bytes = 700ULL << 20, .lower = 650ULL << 20,
                                          .upper = 730ULL << 20 };
    d[0].reason = DMP_REASON_GROW;
    d[0].flags = DMP_DF_RATE | DMP_DF_PRESSURE;
    snprintf(d[0].text, sizeof(d[0].text), "grow: \"quoted\" \\ and\ttab\nnewline");
    d[1] = d[0];
    d[1].domid = 4;
    snprintf(d[1].name, sizeof(d[1].name), "odd\"name\\x");
    d[1].wss.valid = false;
    d[1].state = DMP_GUEST_STUCK;
    d[1].reason = DMP_REASON_STUCK_DETECTED;
    s->now_ms = 12000;
    s->budget_kib = 8 << 20;
    s->reserve_kib = 256 << 10;
    s->free_kib = 1 << 20;
    s->sum_new_kib = 2621440;
    s->n_guests = 2;
    s->n_stuck = 1;
}

static char *capture(int which, const struct dmp_decision *d, const struct dmp_policy_summary *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int rc = -1;
    if (which == 0)
        rc = dmp_balloon_log_decision(f, &d[0]) | dmp_balloon_log_decision(f, &d[1]);
    else if (which == 1)
        rc = dmp_balloon_metrics_json(f, s, d, 2, true);
    else
        rc = dmp_balloon_metrics_prometheus(f, s, d, 2);
    fclose(f);
    CHECK(rc == 0);
    return buf;
}

static void test_log_lines(const struct dmp_decision *d, const struct dmp_policy_summary *s)
{
    char *out = capture(0, d, s);
    int lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        lines++;
        CHECK(valid_json(line));
    }
    CHECK_EQ_U64(lines, 2);     /* one object per line: embedded newlines were escaped */
    free(out);
    out = capture(0, d, s);
    CHECK(strstr(out, "\"domain\":\"web\"") != NULL);
    CHECK(strstr(out, "\"old_target_kib\":1048576") != NULL);
    CHECK(strstr(out, "\"new_target_kib\":1310720") != NULL);
    CHECK(strstr(out, "\"reason\":\"grow\"") != NULL);
    CHECK(strstr(out, "\"limits\":[\"rate-limit\",\"pressure\"]") != NULL);
    CHECK(strstr(out, "\"estimate_bytes\":null") != NULL);     /* no estimate: null, not 0 */
    CHECK(strstr(out, "\"state\":\"stuck\"") != NULL);
    /* the checker itself rejects broken JSON */
    CHECK(!valid_json("{\"a\":1,}"));
    CHECK(!valid_json("{\"a\":\"x\ny\"}"));
    CHECK(!valid_json("{\"a\":01}"));
    free(out);
}

static void test_metrics_json(const struct dmp_decision *d, const struct dmp_policy_summary *s)
{
    char *out = capture(1, d, s);
    CHECK(valid_json(out));
    CHECK(strstr(out, "\"budget_kib\": 8388608") != NULL);
    CHECK(strstr(out, "\"stuck\": 1") != NULL);
    free(out);
}

static void test_prometheus(const struct dmp_decision *d, const struct dmp_policy_summary *s)
{
    char *out = capture(2, d, s);
    regex_t help, type, sample;
    CHECK(regcomp(&help, "^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* [^\n]+$", REG_EXTENDED | REG_NOSUB) == 0);
    CHECK(regcomp(&type, "^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (gauge|counter)$", REG_EXTENDED | REG_NOSUB) == 0);
    CHECK(regcomp(&sample,
                  "^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\"\\\\n])*\""
                  "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\"\\\\n])*\")*)?\\})? [0-9]+$",
                  REG_EXTENDED | REG_NOSUB) == 0);
    int bad = 0, samples = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        bool ok = regexec(&help, line, 0, NULL, 0) == 0 || regexec(&type, line, 0, NULL, 0) == 0;
        if (!ok && regexec(&sample, line, 0, NULL, 0) == 0) {
            ok = true;
            samples++;
        }
        if (!ok) {
            bad++;
            fprintf(stderr, "bad prometheus line: %s\n", line);
        }
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(samples, 5 + 9 * 2 - 3);   /* no wss lines for the guest without estimate */
    CHECK(regexec(&sample, "dmp_x{domain=\"a\"b\"} 1", 0, NULL, 0) != 0);  /* checker works */
    regfree(&help);
    regfree(&type);
    regfree(&sample);
    free(out);
    out = capture(2, d, s);
    CHECK(strstr(out, "dmp_balloon_target_bytes{domain=\"web\",domid=\"3\"} 1342177280\n") != NULL);
    CHECK(strstr(out, "{domain=\"odd\\\"name\\\\x\",domid=\"4\"}") != NULL);
    CHECK(strstr(out, "dmp_balloon_stuck{domain=\"web\",domid=\"3\"} 0\n") != NULL);
    free(out);
}

int main(void)
{
    struct dmp_decision d[2];
    struct dmp_policy_summary s;
    decisions(d, &s);
    test_log_lines(d, &s);
    test_metrics_json(d, &s);
    test_prometheus(d, &s);
    return DMP_TEST_SUMMARY("balloon_report");
}
