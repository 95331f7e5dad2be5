/* Smoke and negative tests of the guest workloads: runs the built ptbench and wsswork
 * (the static guest binaries in a normal build, the sanitizer builds under SAN=1) with
 * tiny sizes, parses every tagged line they print, plays the dom0 agent over pipes for
 * --sync, and proves that each self-check can fail via --inject-fault. */
#include "../wss_schedule.h"
#include "proc_run.h"

#include "dmpcommon/json_read.h"
#include "dmpcommon/test.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef WL_BIN_SUBDIR
#define WL_BIN_SUBDIR "guest"
#endif

static char ptbench[PATH_MAX], wsswork[PATH_MAX];

static const char *const phase_names[] = { "forkexec", "mmap", "mprotect", "pagefault", "fork",
                                           "pipeline" };
#define NPHASES 6

/* The programs live in $(OUT)/<subdir>/ next to $(OUT)/tests/ where this test is;
 * WL_BIN_DIR overrides that (e.g. to test copies in an image tree). */
static int locate_programs(void)
{
    char dir[PATH_MAX];
    const char *env = getenv("WL_BIN_DIR");
    int n;
    if (env) {
        n = snprintf(dir, sizeof dir, "%s", env);
    } else {
        char self[PATH_MAX];
        ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
        if (len <= 0)
            return -1;
        self[len] = '\0';
        char *slash = strrchr(self, '/');
        if (!slash)
            return -1;
        *slash = '\0';
        n = snprintf(dir, sizeof dir, "%.*s/../%s", PATH_MAX - 64, self, WL_BIN_SUBDIR);
    }
    if (n < 0 || n >= PATH_MAX - 16)
        return -1;
    snprintf(ptbench, sizeof ptbench, "%.*s/ptbench", PATH_MAX - 16, dir);
    snprintf(wsswork, sizeof wsswork, "%.*s/wsswork", PATH_MAX - 16, dir);
    if (access(ptbench, X_OK) != 0 || access(wsswork, X_OK) != 0) {
        fprintf(stderr, "cannot execute %s or %s\n", ptbench, wsswork);
        return -1;
    }
    return 0;
}

/* What a dom0 agent may rely on in a tagged line: one object of scalars, each name once. */
static bool flat_object(const struct dmp_jval *o)
{
    if (dmp_jtype(o) != DMP_JOBJ)
        return false;
    for (const struct dmp_jval *m = dmp_jfirst(o); m; m = dmp_jnext(m))
        if (dmp_jtype(m) == DMP_JARR || dmp_jtype(m) == DMP_JOBJ || dmp_jget(o, dmp_jkey(m)) != m)
            return false;   /* nested, or a repeated name (a lookup finds the first one) */
    return true;
}

/* Splits "TAG {json}"; returns 0 with the parsed object in *o (the caller frees it), or -1 if
 * the line has another tag or is not such an object (the latter also a failed check). */
static int tagged(const char *line, const char *tag, struct dmp_jdoc **o)
{
    size_t n = strlen(tag);
    if (strncmp(line, tag, n) != 0 || line[n] != ' ')
        return -1;
    char err[128] = "";
    int rc = dmp_jdoc_parse(line + n + 1, strlen(line + n + 1), o, err, sizeof err);
    if (rc == 0 && !flat_object(dmp_jroot(*o))) {
        dmp_jdoc_free(*o);
        rc = -1;
        snprintf(err, sizeof err, "not a flat object with unique names");
    }
    CHECK(rc == 0);
    if (rc != 0)
        fprintf(stderr, "unparseable line (%s): %s\n", err, line);
    return rc == 0 ? 0 : -1;
}

/* Keep a parsed line in *slot, dropping the one it replaces. */
static void keep(struct dmp_jdoc **slot, struct dmp_jdoc **o)
{
    dmp_jdoc_free(*slot);
    *slot = *o;
    *o = NULL;
}

static const struct dmp_jval *field(const struct dmp_jdoc *o, const char *key)
{
    return dmp_jget(dmp_jroot(o), key);
}

static int phase_index(const char *name)
{
    for (int i = 0; i < NPHASES; i++)
        if (strcmp(name, phase_names[i]) == 0)
            return i;
    return -1;
}

static double num(const struct dmp_jdoc *o, const char *key)
{
    double v = NAN;
    bool have = dmp_jdouble(field(o, key), &v) == 0;
    CHECK(have);
    if (!have)
        fprintf(stderr, "field \"%s\" missing or not a number\n", key);
    return v;
}

static const char *str(const struct dmp_jdoc *o, const char *key)
{
    const char *v = dmp_jstr(field(o, key));
    CHECK(v != NULL);
    return v ? v : "";
}

static bool flag(const struct dmp_jdoc *o, const char *key)
{
    bool v = false;
    CHECK(dmp_jbool(field(o, key), &v) == 0);
    return v;
}

struct pt_run {
    int rc;
    int results[NPHASES];       /* RESULT lines per phase */
    int ok[NPHASES];            /* ... of which ok:true */
    struct dmp_jdoc *last[NPHASES];
    int done;
    struct dmp_jdoc *done_obj;
};

static void pt_run_free(struct pt_run *r)
{
    for (int ph = 0; ph < NPHASES; ph++)
        dmp_jdoc_free(r->last[ph]);
    dmp_jdoc_free(r->done_obj);
}

/* Runs ptbench with extra arguments and tallies its output. */
static void run_ptbench(const char *const extra[], struct pt_run *r)
{
    char *argv[32];
    int n = 0;
    argv[n++] = ptbench;
    for (int i = 0; extra[i] && n < 31; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    memset(r, 0, sizeof *r);
    struct proc p;
    struct proc_opts po = { 0 };
    char *out;
    r->rc = proc_run_all(argv, &po, 60000, &out, &p);
    CHECK(out != NULL);
    for (char *line = out ? strtok(out, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        struct dmp_jdoc *o = NULL;
        if (tagged(line, "@@DMP-RESULT", &o) == 0) {
            int ph = phase_index(str(o, "phase"));
            CHECK(ph >= 0);
            if (ph >= 0) {
                r->results[ph]++;
                r->ok[ph] += flag(o, "ok");
                keep(&r->last[ph], &o);
            }
        } else if (tagged(line, "@@DMP-DONE", &o) == 0) {
            r->done++;
            keep(&r->done_obj, &o);
        }
        dmp_jdoc_free(o);
    }
    free(out);
    proc_free(&p);
}

static void test_ptbench_all_phases(void)
{
    const char *args[] = { "--iters", "3", "--pf-pages", "256", NULL };
    struct pt_run r;
    run_ptbench(args, &r);
    CHECK_EQ_U64(r.rc, 0);
    const double expect_ops[NPHASES] = { 3, 3, 6, 3 * 256, 3, 3 };
    for (int ph = 0; ph < NPHASES; ph++) {
        CHECK_EQ_U64(r.results[ph], 1);
        CHECK_EQ_U64(r.ok[ph], 1);
        const struct dmp_jdoc *o = r.last[ph];
        CHECK(num(o, "iters") == 3);
        CHECK(num(o, "ops") == expect_ops[ph]);
        double ns = num(o, "ns_total"), per = num(o, "ns_per_op");
        CHECK(ns > 0);
        CHECK(fabs(per * expect_ops[ph] - ns) <= ns * 1e-5 + 1);
        CHECK(num(o, "minflt") >= 0);
        CHECK(num(o, "majflt") >= 0);
        CHECK(num(o, "round") == 0);
    }
    /* One first-touch fault per page is what makes ns_per_fault meaningful. */
    const struct dmp_jdoc *pf = r.last[3];
    CHECK(num(pf, "faults_expected") == 3 * 256);
    CHECK(num(pf, "minflt") >= 3 * 256);
    /* Every fork child and every re-exec'd child faults at least once. */
    CHECK(num(r.last[0], "child_minflt") >= 3);
    CHECK(num(r.last[4], "child_minflt") >= 3);
    CHECK_EQ_U64(r.done, 1);
    CHECK(flag(r.done_obj, "ok"));
    CHECK(num(r.done_obj, "phases") == NPHASES);
    CHECK(num(r.done_obj, "rounds") == 1);
    pt_run_free(&r);
}

static void test_ptbench_rounds(void)
{
    const char *args[] = { "--phases", "mprotect,mmap", "--iters", "mmap=2,mprotect=5",
                           "--rounds", "3", NULL };
    struct pt_run r;
    run_ptbench(args, &r);
    CHECK_EQ_U64(r.rc, 0);
    CHECK_EQ_U64(r.results[1], 3);
    CHECK_EQ_U64(r.results[2], 3);
    CHECK_EQ_U64(r.results[0] + r.results[3] + r.results[4], 0);
    CHECK(num(r.last[1], "round") == 2);
    CHECK(num(r.last[1], "iters") == 2);
    CHECK(num(r.last[2], "iters") == 5);
    CHECK(num(r.done_obj, "rounds") == 3);
    CHECK(num(r.done_obj, "phases") == 2);
    pt_run_free(&r);
}

/* --inject-fault breaks one phase's expectation: that phase, and only that one,
 * must report ok:false with a reason, and the exit status must be 1. */
static void test_ptbench_injected_faults(void)
{
    for (int ph = 0; ph < NPHASES; ph++) {
        const char *args[] = { "--iters", "4", "--pf-pages", "64", "--inject-fault",
                               phase_names[ph], NULL };
        struct pt_run r;
        run_ptbench(args, &r);
        CHECK_EQ_U64(r.rc, 1);
        for (int q = 0; q < NPHASES; q++) {
            CHECK_EQ_U64(r.results[q], 1);
            CHECK_EQ_U64(r.ok[q], q == ph ? 0 : 1);
        }
        const char *reason = "";
        CHECK((reason = dmp_jstr(field(r.last[ph], "reason"))) != NULL && strlen(reason) > 10);
        CHECK_EQ_U64(r.done, 1);
        CHECK(!flag(r.done_obj, "ok"));
        CHECK_STREQ(str(r.done_obj, "failed_phase"), phase_names[ph]);
        pt_run_free(&r);
    }
}

/* Runs a program to its end (10 s at most): its exit status, and its output in *out if asked
 * (the caller frees it). */
static int run_status(char *const argv[], char **out)
{
    struct proc p;
    struct proc_opts po = { 0 };
    char *o;
    int rc = proc_run_all(argv, &po, 10000, &o, &p);
    if (out)
        *out = o;
    else
        free(o);
    proc_free(&p);
    return rc;
}

static void test_ptbench_usage_errors(void)
{
    static const char *const bad[][4] = {
        { "--phases", "mmap,bogus", NULL },
        { "--iters", "0", NULL },
        { "--iters", "mmap=x", NULL },
        { "--scale", "-1", NULL },
        { "--fork-pages", "8", "--cow-pages", "9" },
        { "--sync-timeout", "0", NULL },
        { "stray", NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[6] = { ptbench };
        for (int k = 0; k < 4 && bad[i][k]; k++)
            argv[k + 1] = (char *)bad[i][k];
        CHECK_EQ_U64(run_status(argv, NULL), 2);
    }
    char *help[] = { ptbench, (char *)"--help", NULL };
    char *out;
    CHECK_EQ_U64(run_status(help, &out), 0);
    CHECK(out && strstr(out, "--phases"));
    free(out);
}

/* Play the dom0 agent: answer each @@DMP-SYNC with "go" after checking that the
 * program really waits for it, and that begin/result/end come in order. */
static void test_ptbench_sync(void)
{
    char *argv[] = { ptbench, (char *)"--sync", (char *)"--iters", (char *)"2",
                     (char *)"--pf-pages", (char *)"32", NULL };
    struct proc p;
    struct proc_opts po = { .stdin_pipe = true };
    CHECK(proc_spawn(&p, argv, &po) == 0);
    char line[4096];
    int expect_ph = 0, state = 0;   /* 0: begin next, 1: result, 2: end */
    int syncs = 0, results = 0, done = 0, waited = 0;
    while (proc_read_line(&p, line, sizeof line, 30000) == 1) {
        struct dmp_jdoc *o = NULL;
        if (tagged(line, "@@DMP-SYNC", &o) == 0) {
            const char *edge = str(o, "edge");
            CHECK(expect_ph < NPHASES);
            if (expect_ph >= NPHASES) {
                dmp_jdoc_free(o);
                break;
            }
            CHECK_STREQ(str(o, "phase"), phase_names[expect_ph]);
            CHECK(num(o, "round") == 0);
            CHECK_STREQ(edge, state == 0 ? "begin" : "end");
            CHECK(state == 0 || state == 2);
            /* Nothing may follow a sync line until we answer. */
            if (syncs < 2)
                waited += proc_quiet_for(&p, 300);
            syncs++;
            if (state == 2) {
                expect_ph++;
                state = 0;
            } else {
                state = 1;
            }
            CHECK(proc_write(&p, syncs % 2 ? "go\n" : " go\r\n") == 0);
        } else if (tagged(line, "@@DMP-RESULT", &o) == 0) {
            CHECK_EQ_U64(state, 1);
            CHECK_STREQ(str(o, "phase"), phase_names[expect_ph < NPHASES ? expect_ph : 0]);
            CHECK(flag(o, "ok"));
            state = 2;
            results++;
        } else if (tagged(line, "@@DMP-DONE", &o) == 0) {
            CHECK(flag(o, "ok"));
            done++;
        }
        dmp_jdoc_free(o);
    }
    CHECK_EQ_U64(waited, 2);
    CHECK_EQ_U64(syncs, 2 * NPHASES);
    CHECK_EQ_U64(results, NPHASES);
    CHECK_EQ_U64(done, 1);
    CHECK_EQ_U64(proc_wait(&p, 10000), 0);
    proc_free(&p);
}

/* The agent going away must end the run with a clear error, not a hang or ok:true. */
static void test_ptbench_sync_failures(void)
{
    enum { CLOSE_STDIN, WRONG_WORD, SILENT };
    for (int mode = CLOSE_STDIN; mode <= SILENT; mode++) {
        char *argv[] = { ptbench, (char *)"--sync", (char *)"--sync-timeout", (char *)"1",
                         (char *)"--iters", (char *)"1", (char *)"--phases", (char *)"mmap", NULL };
        struct proc p;
        struct proc_opts po = { .stdin_pipe = true };
        CHECK(proc_spawn(&p, argv, &po) == 0);
        char line[4096];
        CHECK(proc_read_line(&p, line, sizeof line, 10000) == 1);
        CHECK(strncmp(line, "@@DMP-SYNC ", 11) == 0);
        if (mode == CLOSE_STDIN)
            proc_close_stdin(&p);
        else if (mode == WRONG_WORD)
            CHECK(proc_write(&p, "stop\n") == 0);
        int done = 0;
        const char *want = mode == CLOSE_STDIN ? "stdin closed" :
                           mode == WRONG_WORD ? "expected \"go\"" : "within 1 s";
        while (proc_read_line(&p, line, sizeof line, 10000) == 1) {
            struct dmp_jdoc *o = NULL;
            if (tagged(line, "@@DMP-DONE", &o) == 0) {
                done++;
                CHECK(!flag(o, "ok"));
                CHECK(strstr(str(o, "reason"), want) != NULL);
            }
            dmp_jdoc_free(o);
            CHECK(strncmp(line, "@@DMP-RESULT", 12) != 0);
        }
        CHECK_EQ_U64(done, 1);
        CHECK_EQ_U64(proc_wait(&p, 10000), 3);
        proc_free(&p);
    }
}

static void test_schedule_parse(void)
{
    struct wss_schedule s;
    char err[160];
    CHECK(wss_schedule_parse("32m:20s,96m:40s,16m:20s", &s, err, sizeof err) == 0);
    CHECK_EQ_U64(s.n, 3);
    CHECK_EQ_U64(s.steps[0].bytes, 32ull << 20);
    CHECK_EQ_U64(s.steps[1].bytes, 96ull << 20);
    CHECK_EQ_U64(s.steps[1].ms, 40000);
    CHECK_EQ_U64(wss_schedule_total_ms(&s), 80000);
    CHECK(wss_schedule_parse("1g:2m,512k:500ms,0:3,7:1h", &s, err, sizeof err) == 0);
    CHECK_EQ_U64(s.n, 4);
    CHECK_EQ_U64(s.steps[0].bytes, 1ull << 30);
    CHECK_EQ_U64(s.steps[0].ms, 120000);
    CHECK_EQ_U64(s.steps[1].bytes, 512ull << 10);
    CHECK_EQ_U64(s.steps[1].ms, 500);
    CHECK_EQ_U64(s.steps[2].bytes, 0);
    CHECK_EQ_U64(s.steps[2].ms, 3000);
    CHECK_EQ_U64(s.steps[3].bytes, 7ull << 20);     /* bare size = MiB */
    CHECK_EQ_U64(s.steps[3].ms, 3600000);
    static const char *const bad[] = { "", "32m", "32m:", ":5s", "x:1s", "1m:0s", "1m:1s,",
                                       ",1m:1s", "1m:1d", "1m:-1s", "1m:1s:2s", "1m:99999999999999s" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        int rc = wss_schedule_parse(bad[i], &s, err, sizeof err);
        CHECK(rc == -1 && err[0]);
        if (rc == 0)
            fprintf(stderr, "schedule \"%s\" was accepted\n", bad[i]);
    }
}

struct wss_line {
    double t, step, target, set, resident, loops;
};

/* Runs wsswork and returns its WSS lines; counts events and the DONE object. */
static int run_wsswork(char *const argv[], uint64_t rlimit_as, struct wss_line *lines, int cap,
                       int *nlines, int *alloc_events, struct dmp_jdoc **done, int *ndone)
{
    struct proc p;
    struct proc_opts po = { .rlimit_as = rlimit_as };
    char *out;
    int rc = proc_run_all(argv, &po, 60000, &out, &p);
    *nlines = *alloc_events = *ndone = 0;
    *done = NULL;
    CHECK(out != NULL);
    bool all_ok = true;
    for (char *line = out ? strtok(out, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        struct dmp_jdoc *o = NULL;
        if (tagged(line, "@@DMP-WSS", &o) == 0) {
            all_ok &= flag(o, "ok");
            CHECK(num(o, "majflt") >= 0 && num(o, "minflt") > 0);
            if (*nlines < cap) {
                struct wss_line *l = &lines[(*nlines)++];
                l->t = num(o, "t");
                l->step = num(o, "step");
                l->target = num(o, "target_bytes");
                l->set = num(o, "set_bytes");
                l->resident = num(o, "resident_bytes");
                l->loops = num(o, "loops");
            }
        } else if (tagged(line, "@@DMP-EVENT", &o) == 0) {
            if (strcmp(str(o, "event"), "alloc_failed") == 0)
                (*alloc_events)++;
        } else if (tagged(line, "@@DMP-DONE", &o) == 0) {
            (*ndone)++;
            keep(done, &o);
        }
        dmp_jdoc_free(o);
    }
    if (rc == 0 && !all_ok)
        rc = 100;           /* a passing exit with a failed line is itself a defect */
    if (rc != 0 && rc != 1)
        proc_dump_stderr(&p, "wsswork");
    free(out);
    proc_free(&p);
    return rc;
}

/* Steps chosen to cover: growing by whole chunks, shrinking by whole chunks (munmap)
 * plus most of a chunk (1028k leaves 4k of the second 1 MiB chunk: MADV_DONTNEED of
 * 1020k), and re-growing that partial chunk. */
static void test_wsswork_schedule(void)
{
    char *argv[] = { wsswork, (char *)"--schedule", (char *)"2m:600ms,8m:600ms,1028k:600ms,3m:600ms",
                     (char *)"--interval", (char *)"100ms", NULL };
    struct wss_line l[64];
    int n, alloc, ndone;
    struct dmp_jdoc *done = NULL;
    CHECK_EQ_U64(run_wsswork(argv, 0, l, 64, &n, &alloc, &done, &ndone), 0);
    CHECK(n >= 20);
    CHECK_EQ_U64(alloc, 0);
    const double target[4] = { 2 << 20, 8 << 20, 1028 << 10, 3 << 20 };
    double max_res_step1 = 0, last_res_step2 = 0, min_over = 1e18, max_over = 0;
    int per_step[4] = { 0 };
    for (int i = 0; i < n; i++) {
        int s = (int)l[i].step;
        CHECK(s >= 0 && s < 4);
        if (s < 0 || s > 3)
            continue;
        per_step[s]++;
        CHECK(l[i].target == target[s]);
        /* Shrinks happen at once, growth in increments: never above the target, and
         * at the target by the end of the step. */
        CHECK(l[i].set <= target[s]);
        if (i + 1 == n || l[i + 1].step != s)
            CHECK(l[i].set == target[s]);
        /* The whole set was written, so it is all resident (nothing swaps here). */
        CHECK(l[i].resident >= l[i].set);
        /* What is resident besides the set (program, stack, stamps) stays put: pages
         * given up by a shrink must really leave the RSS, partial chunks included. */
        double over = l[i].resident - l[i].set;
        if (over < min_over)
            min_over = over;
        if (over > max_over)
            max_over = over;
        if (i > 0)
            CHECK(l[i].t >= l[i - 1].t && l[i].loops >= l[i - 1].loops);
        if (s == 1 && l[i].resident > max_res_step1)
            max_res_step1 = l[i].resident;
        if (s == 2)
            last_res_step2 = l[i].resident;
    }
    for (int s = 0; s < 4; s++)
        CHECK(per_step[s] >= 3);
    /* Under AddressSanitizer wsswork (built the same way) also keeps shadow memory, an
     * eighth of the set's size, which comes and goes with the set: 1 MiB for the 8 MiB step. */
#if defined(__SANITIZE_ADDRESS__)
    const double other_slack = (512 << 10) + (8 << 20) / 8;
#else
    const double other_slack = 512 << 10;
#endif
    CHECK(max_over - min_over < other_slack);
    if (!(max_over - min_over < other_slack))
        fprintf(stderr, "non-set resident memory varied from %.0f to %.0f bytes\n", min_over, max_over);
    CHECK(last_res_step2 > 0 && last_res_step2 + (6 << 20) < max_res_step1);
    CHECK(n > 0 && l[n - 1].loops > 10);
    CHECK_EQ_U64(ndone, 1);
    CHECK(flag(done, "ok"));
    CHECK(num(done, "steps") == 4);
    dmp_jdoc_free(done);
}

/* --hold-at-size: every step holds its size for its whole duration, however long the
 * growth took; a size that cannot be reached (address-space limit) holds the run until
 * --max-seconds instead of moving on. */
static void test_wsswork_hold_at_size(void)
{
    char *argv[] = { wsswork, (char *)"--schedule", (char *)"1m:300ms,24m:300ms,2m:300ms",
                     (char *)"--interval", (char *)"20ms", (char *)"--hold-at-size", NULL };
    struct wss_line l[256];
    int n, alloc, ndone;
    struct dmp_jdoc *done = NULL;
    CHECK_EQ_U64(run_wsswork(argv, 0, l, 256, &n, &alloc, &done, &ndone), 0);
    for (int s = 0; s < 3; s++) {
        double reached = -1, last = -1;
        for (int i = 0; i < n; i++) {
            if (l[i].step != s)
                continue;
            if (reached < 0 && l[i].set == l[i].target)
                reached = l[i].t;
            last = l[i].t;
        }
        CHECK(reached >= 0);
        /* The last report of a step comes at most one interval before its end. */
        CHECK(last - reached >= 0.3 - 0.05);
        if (!(last - reached >= 0.25))
            fprintf(stderr, "step %d held its size %.3f s\n", s, last - reached);
    }
    CHECK_EQ_U64(ndone, 1);
    CHECK(num(done, "steps") == 3);
    dmp_jdoc_free(done);

#if !defined(__SANITIZE_ADDRESS__)
    char *argv2[] = { wsswork, (char *)"--schedule", (char *)"1m:200ms,256m:200ms,1m:200ms",
                      (char *)"--hold-at-size", (char *)"--max-seconds", (char *)"2",
                      (char *)"--retry", (char *)"100ms", NULL };
    CHECK_EQ_U64(run_wsswork(argv2, 64ull << 20, l, 256, &n, &alloc, &done, &ndone), 0);
    CHECK(alloc >= 2);
    CHECK_EQ_U64(ndone, 1);
    CHECK(num(done, "steps") == 1);
    CHECK(strcmp(str(done, "stopped"), "max-seconds reached") == 0);
    CHECK(num(done, "t") >= 1.9);
    dmp_jdoc_free(done);
#endif
}

static void test_wsswork_injected_fault(void)
{
    for (int full = 0; full < 2; full++) {
        char *argv[] = { wsswork, (char *)"--schedule", (char *)"2m:2s", (char *)"--inject-fault",
                         (char *)"--verify", (char *)(full ? "full" : "line"), NULL };
        struct wss_line l[64];
        int n, alloc, ndone;
        struct dmp_jdoc *done = NULL;
        CHECK_EQ_U64(run_wsswork(argv, 0, l, 64, &n, &alloc, &done, &ndone), 1);
        CHECK_EQ_U64(ndone, 1);
        CHECK(!flag(done, "ok"));
        CHECK(strstr(str(done, "reason"), "page") != NULL);
        CHECK(num(done, "t") < 1.5);   /* caught on the next pass, not at the end */
        dmp_jdoc_free(done);
    }
}

/* Address-space limit => mmap fails with ENOMEM: wsswork must report, keep going with
 * what it has, retry, and finish the schedule. (Not under ASan, which reserves
 * terabytes of shadow address space and cannot start under such a limit.) */
static void test_wsswork_enomem(void)
{
#if defined(__SANITIZE_ADDRESS__)
    fprintf(stderr, "test_wsswork_enomem: skipped under AddressSanitizer\n");
#else
    char *argv[] = { wsswork, (char *)"--schedule", (char *)"2m:400ms,256m:900ms,3m:400ms",
                     (char *)"--interval", (char *)"100ms", (char *)"--retry", (char *)"200ms", NULL };
    struct wss_line l[64];
    int n, alloc, ndone;
    struct dmp_jdoc *done = NULL;
    CHECK_EQ_U64(run_wsswork(argv, 64ull << 20, l, 64, &n, &alloc, &done, &ndone), 0);
    CHECK(alloc >= 2);          /* failed, and failed again on retry */
    bool short_seen = false, recovered = false;
    for (int i = 0; i < n; i++) {
        if (l[i].step == 1 && l[i].set < l[i].target && l[i].set >= (2 << 20))
            short_seen = true;
        if (l[i].step == 2 && l[i].set == (3 << 20))
            recovered = true;
    }
    CHECK(short_seen);
    CHECK(recovered);
    CHECK_EQ_U64(ndone, 1);
    CHECK(flag(done, "ok"));
    CHECK(num(done, "alloc_failures") >= 2);
    CHECK(num(done, "steps") == 3);
    dmp_jdoc_free(done);
#endif
}

static void test_wsswork_usage_errors(void)
{
    static const char *const bad[][3] = {
        { "--schedule", "4x:1s" }, { "--schedule", "4m:0s" }, { "--verify", "some" },
        { "--touch-rate", "fast" }, { NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[5] = { wsswork };
        for (int k = 0; k < 2 && bad[i][k]; k++)
            argv[k + 1] = (char *)bad[i][k];
        CHECK_EQ_U64(run_status(argv, NULL), 2);
    }
}

int main(void)
{
    /* A child that exits early must not kill us when we answer its sync line. */
    signal(SIGPIPE, SIG_IGN);
    if (locate_programs() != 0) {
        CHECK(!"workload programs not found");
        return DMP_TEST_SUMMARY("workload");
    }
    test_schedule_parse();
    test_ptbench_all_phases();
    test_ptbench_rounds();
    test_ptbench_injected_faults();
    test_ptbench_usage_errors();
    test_ptbench_sync();
    test_ptbench_sync_failures();
    test_wsswork_schedule();
    test_wsswork_hold_at_size();
    test_wsswork_injected_fault();
    test_wsswork_enomem();
    test_wsswork_usage_errors();
    return DMP_TEST_SUMMARY("workload");
}
