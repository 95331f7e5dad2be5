/* wsswork: a working-set workload whose true working set is known, for testing the
 * memory balancer's estimates. It holds a working set of the size a schedule says,
 * touches (reads, verifies and writes) every page of it in a loop, and reports once
 * per interval what it holds and what the kernel says is resident.
 * Hidden test option: --inject-fault corrupts one page after the first full pass,
 * which the verification must catch (exit 1, ok=false). */
#include "wl_proto.h"
#include "wss_schedule.h"
#include "wss_set.h"

#include "dmpcommon/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOUCH_BATCH 64          /* pages between clock reads */
#define GROW_PAGES  1024        /* pages added per loop turn while growing */

struct opts {
    struct wss_schedule sched;
    uint64_t touch_rate;        /* pages/s; 0 = as fast as possible */
    bool full_verify;
    uint64_t repeat;            /* 0 = until max_ms */
    uint64_t max_ms;
    uint64_t interval_ms;
    uint64_t retry_ms;
    bool inject;
    bool hold_at_size;          /* a step's time starts once the set has its size */
};

static void usage(FILE *f)
{
    fprintf(f,
"usage: wsswork --schedule SIZE:DURATION[,SIZE:DURATION...] [options]\n"
"Hold a working set of a known size, touch and verify every page of it continuously.\n"
"\n"
"  --schedule S        e.g. 32m:20s,96m:40s,16m:20s (size suffixes k/m/g, bare = MiB;\n"
"                      durations ms/s/m/h, bare = seconds)\n"
"  --touch-rate N      touch at most N pages per second (default 0 = full loops, as fast\n"
"                      as possible)\n"
"  --verify line|full  check one 64-byte line per touched page (default; every line is\n"
"                      checked once per 64 passes) or the whole page on every touch\n"
"  --repeat N          run the schedule N times (default 1; 0 = until --max-seconds)\n"
"  --max-seconds S     hard bound on the run time (default 3600)\n"
"  --interval DUR      report interval (default 1s)\n"
"  --retry DUR         after a failed allocation, retry this much later (default 1s)\n"
"  --hold-at-size      a step's DURATION counts from the moment the set reached the step's\n"
"                      size, so a slow guest still holds each size that long (bounded by\n"
"                      --max-seconds)\n"
"  --help\n"
"\n"
"Output: @@DMP-WSS {json} every interval, @@DMP-EVENT {json} on step changes and\n"
"allocation failures, @@DMP-DONE {json} at the end.\n"
"Exit status: 0 ok, 1 data verification failed, 2 usage error, 3 I/O failure.\n");
}

static int parse_duration_opt(const char *opt, const char *s, uint64_t *ms)
{
    if (dmp_parse_duration_ms(s, ms) != 0 || *ms == 0) {
        fprintf(stderr, "error: %s expects a duration > 0 such as 500ms, 2s, 1m, got \"%s\"\n", opt, s);
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    enum { O_SCHEDULE = 256, O_RATE, O_VERIFY, O_REPEAT, O_MAX, O_INTERVAL, O_RETRY, O_INJECT,
           O_HOLD, O_HELP };
    static const struct option lo[] = {
        { "schedule", required_argument, NULL, O_SCHEDULE },
        { "touch-rate", required_argument, NULL, O_RATE },
        { "verify", required_argument, NULL, O_VERIFY },
        { "repeat", required_argument, NULL, O_REPEAT },
        { "max-seconds", required_argument, NULL, O_MAX },
        { "interval", required_argument, NULL, O_INTERVAL },
        { "retry", required_argument, NULL, O_RETRY },
        { "inject-fault", no_argument, NULL, O_INJECT },
        { "hold-at-size", no_argument, NULL, O_HOLD },
        { "help", no_argument, NULL, O_HELP },
        { NULL, 0, NULL, 0 },
    };
    memset(o, 0, sizeof *o);
    o->repeat = 1;
    o->max_ms = 3600 * 1000;
    o->interval_ms = 1000;
    o->retry_ms = 1000;
    bool have_sched = false;
    char err[160];
    uint64_t max_s = o->max_ms / 1000;
    const struct wl_count_opt counts[] = {
        { O_RATE, "--touch-rate", 0, 1ull << 32, &o->touch_rate },
        { O_REPEAT, "--repeat", 0, UINT32_MAX, &o->repeat },
        { O_MAX, "--max-seconds", 1, 30ull * 86400, &max_s },
    };
    const struct wl_cmdline cl = { lo, O_HELP, usage, counts, sizeof counts / sizeof counts[0] };
    for (int c; (c = wl_getopt(argc, argv, &cl)) != -1;) {
        switch (c) {
        case WL_OPT_BAD:
            return -1;
        case O_SCHEDULE:
            if (wss_schedule_parse(optarg, &o->sched, err, sizeof err) != 0) {
                fprintf(stderr, "error: --schedule \"%s\": %s\n", optarg, err);
                return -1;
            }
            have_sched = true;
            break;
        case O_VERIFY:
            if (strcmp(optarg, "full") == 0) {
                o->full_verify = true;
            } else if (strcmp(optarg, "line") == 0) {
                o->full_verify = false;
            } else {
                fprintf(stderr, "error: --verify expects line or full, got \"%s\"\n", optarg);
                return -1;
            }
            break;
        case O_INTERVAL:
            if (parse_duration_opt("--interval", optarg, &o->interval_ms) != 0)
                return -1;
            break;
        case O_RETRY:
            if (parse_duration_opt("--retry", optarg, &o->retry_ms) != 0)
                return -1;
            break;
        case O_INJECT:
            o->inject = true;
            break;
        case O_HOLD:
            o->hold_at_size = true;
            break;
        }
    }
    if (!have_sched) {
        fprintf(stderr, "error: --schedule is required (see --help)\n");
        return -1;
    }
    o->max_ms = max_s * 1000;
    return 0;
}

/* Resident set size from /proc/self/statm (field 2, in pages); -1 if unavailable
 * (e.g. /proc not mounted in the guest). */
static int64_t resident_bytes(size_t page_size)
{
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    unsigned long long size, rss;
    if (sscanf(buf, "%llu %llu", &size, &rss) != 2)
        return -1;
    return (int64_t)(rss * page_size);
}

struct run {
    const struct opts *o;
    struct wss_set set;
    uint64_t t0;
    uint64_t step;              /* index into the schedule */
    uint64_t target_pages;
    uint64_t touched;           /* pages touched since start */
    uint64_t alloc_failures;
    bool ok;
    char reason[256];
};

/* Milliseconds are plenty for a once-a-second report, and keep "t" short and exact. */
static double secs_since(const struct run *r, uint64_t now)
{
    return (double)((now - r->t0) / 1000000ull) / 1e3;
}

static int emit_wss(struct run *r, uint64_t now)
{
    struct wl_faults f = { 0, 0 };
    int frc = wl_faults_self(&f);
    int64_t rss = resident_bytes(r->set.page_size);
    struct dmp_json j;
    wl_line_begin(&j, stdout, WL_TAG_WSS);
    DMP_JSON_KV(&j, "t", dmp_json_double, secs_since(r, now));
    DMP_JSON_KV(&j, "step", dmp_json_u64, r->step);
    DMP_JSON_KV(&j, "target_bytes", dmp_json_u64, r->target_pages * r->set.page_size);
    DMP_JSON_KV(&j, "set_bytes", dmp_json_u64, r->set.pages * r->set.page_size);
    dmp_json_key(&j, "resident_bytes");
    if (rss >= 0)
        dmp_json_u64(&j, (uint64_t)rss);
    else
        dmp_json_null(&j);
    DMP_JSON_KV(&j, "loops", dmp_json_u64, r->set.loops);
    DMP_JSON_KV(&j, "pages_touched", dmp_json_u64, r->touched);
    dmp_json_key(&j, "minflt");
    frc == 0 ? dmp_json_u64(&j, f.minflt) : dmp_json_null(&j);
    dmp_json_key(&j, "majflt");
    frc == 0 ? dmp_json_u64(&j, f.majflt) : dmp_json_null(&j);
    DMP_JSON_KV(&j, "alloc_failures", dmp_json_u64, r->alloc_failures);
    DMP_JSON_KV(&j, "ok", dmp_json_bool, r->ok);
    if (!r->ok)
        DMP_JSON_KV(&j, "reason", dmp_json_str, r->reason);
    return wl_line_end(&j);
}

static int emit_event(struct run *r, uint64_t now, const char *event, int err)
{
    struct dmp_json j;
    wl_line_begin(&j, stdout, WL_TAG_EVENT);
    DMP_JSON_KV(&j, "event", dmp_json_str, event);
    DMP_JSON_KV(&j, "t", dmp_json_double, secs_since(r, now));
    DMP_JSON_KV(&j, "step", dmp_json_u64, r->step);
    DMP_JSON_KV(&j, "target_bytes", dmp_json_u64, r->target_pages * r->set.page_size);
    DMP_JSON_KV(&j, "set_bytes", dmp_json_u64, r->set.pages * r->set.page_size);
    if (err)
        DMP_JSON_KV(&j, "error", dmp_json_str, strerror(err));
    return wl_line_end(&j);
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
                           .tv_nsec = (long)(ns % 1000000000ull) };
    nanosleep(&ts, NULL);       /* an early wake-up only costs one more loop turn */
}

/* Move the set one increment towards the step's target: shrinking at once, growing by
 * at most GROW_PAGES so that reports keep coming while a large set is being filled (and
 * the balancer sees the growth as it happens). A failure (ENOMEM) is reported and
 * retried later: the set keeps what it reached and goes on being touched and verified.
 * Returns 0, -1 on an allocation failure, -2 on an output failure. */
static int resize_towards_target(struct run *r, uint64_t now)
{
    uint64_t want = r->target_pages;
    if (want > r->set.pages && want - r->set.pages > GROW_PAGES)
        want = r->set.pages + GROW_PAGES;
    if (wss_set_resize(&r->set, want) == 0)
        return 0;
    int e = errno;
    r->alloc_failures++;
    fprintf(stderr, "wsswork: growing the working set to %" PRIu64 " bytes failed at %" PRIu64
            " bytes: %s; retrying in %" PRIu64 " ms\n", r->target_pages * r->set.page_size,
            r->set.pages * r->set.page_size, strerror(e), r->o->retry_ms);
    if (emit_event(r, now, "alloc_failed", e) != 0)
        return -2;
    return -1;
}

/* Hold one step. Returns 0 when its time is up, 1 when --max-seconds is reached,
 * -1 on a verification failure (r->reason), -2 on an output failure. */
static int run_step(struct run *r, uint64_t deadline, uint64_t *next_report)
{
    const struct opts *o = r->o;
    const struct wss_step *st = &o->sched.steps[r->step];
    uint64_t now = dmp_mono_ns(), start = now, end = now + st->ms * 1000000ull;
    uint64_t retry_at = now, step_touched = 0;
    r->target_pages = (st->bytes + r->set.page_size - 1) / r->set.page_size;
    if (emit_event(r, now, "step", 0) != 0)
        return -2;
    bool injected = !o->inject;
    while (now < end) {
        if (now >= deadline)
            return 1;
        /* Under emulation a guest may get a small share of a CPU: growing to the size can
         * take longer than the step itself, and the balancer would never see it held. */
        if (o->hold_at_size && r->set.pages != r->target_pages)
            end = now + st->ms * 1000000ull;
        if (r->set.pages != r->target_pages && now >= retry_at) {
            int rc = resize_towards_target(r, now);
            if (rc == -2)
                return -2;
            retry_at = rc == 0 ? now : now + o->retry_ms * 1000000ull;
        }
        uint64_t budget = TOUCH_BATCH;
        if (o->touch_rate) {
            uint64_t allowed = (uint64_t)((double)o->touch_rate * (double)(now - start) / 1e9) + 1;
            budget = allowed > step_touched ? allowed - step_touched : 0;
            if (budget > TOUCH_BATCH)
                budget = TOUCH_BATCH;
        }
        uint64_t done = 0;
        if (r->set.pages && budget &&
            wss_set_touch(&r->set, budget, &done, r->reason, sizeof r->reason) != 0) {
            r->ok = false;
            return -1;
        }
        step_touched += done;
        r->touched += done;
        if (!injected && r->set.loops >= 1) {
            wss_set_corrupt(&r->set, r->set.pages / 2);
            injected = true;
        }
        if (done == 0)
            sleep_ns(2000000);  /* nothing to touch (empty set or rate limit): don't spin */
        now = dmp_mono_ns();
        if (now >= *next_report) {
            if (emit_wss(r, now) != 0)
                return -2;
            /* Skip missed reports instead of bursting them after a stall. */
            while (*next_report <= now)
                *next_report += o->interval_ms * 1000000ull;
        }
    }
    return 0;
}

static void emit_done(struct run *r, uint64_t now, uint64_t steps_done, const char *stopped)
{
    struct dmp_json j;
    wl_line_begin(&j, stdout, WL_TAG_DONE);
    DMP_JSON_KV(&j, "ok", dmp_json_bool, r->ok);
    DMP_JSON_KV(&j, "t", dmp_json_double, secs_since(r, now));
    DMP_JSON_KV(&j, "steps", dmp_json_u64, steps_done);
    DMP_JSON_KV(&j, "loops", dmp_json_u64, r->set.loops);
    DMP_JSON_KV(&j, "pages_touched", dmp_json_u64, r->touched);
    DMP_JSON_KV(&j, "alloc_failures", dmp_json_u64, r->alloc_failures);
    DMP_JSON_KV(&j, "stopped", dmp_json_str, stopped);
    if (!r->ok)
        DMP_JSON_KV(&j, "reason", dmp_json_str, r->reason);
    (void)wl_line_end(&j);      /* nothing left to report a broken console to */
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_args(argc, argv, &o) != 0)
        return WL_EXIT_USAGE;

    struct run r = { .o = &o, .ok = true };
    wss_set_init(&r.set, 0x5eed0000u ^ (uint64_t)getpid(), o.full_verify);
    r.t0 = dmp_mono_ns();
    uint64_t deadline = r.t0 + o.max_ms * 1000000ull;
    uint64_t next_report = r.t0 + o.interval_ms * 1000000ull;
    uint64_t steps_done = 0;
    const char *stopped = "schedule complete";
    int rc = 0;
    for (uint64_t rep = 0; rc == 0 && (o.repeat == 0 || rep < o.repeat); rep++) {
        for (r.step = 0; r.step < o.sched.n; r.step++) {
            rc = run_step(&r, deadline, &next_report);
            if (rc != 0)
                break;
            steps_done++;
        }
    }
    uint64_t now = dmp_mono_ns();
    if (rc == 1) {
        stopped = "max-seconds reached";
    } else if (rc == -1) {
        stopped = "verification failed";
        fprintf(stderr, "wsswork: VERIFICATION FAILED: %s\n", r.reason);
        (void)emit_wss(&r, now);
    } else if (rc == -2) {
        fprintf(stderr, "wsswork: writing to stdout failed\n");
        wss_set_destroy(&r.set);
        return WL_EXIT_ENV;
    }
    emit_done(&r, now, steps_done, stopped);
    wss_set_destroy(&r.set);
    return r.ok ? WL_EXIT_OK : WL_EXIT_CHECK;
}
