/* Console protocol shared by the guest workloads (ptbench, wsswork).
 *
 * The guest's only channel to the dom0 agent is its console (/dev/hvc0 = stdin/stdout),
 * which also carries kernel and shell noise. Every machine-readable line therefore starts
 * with a tag ("@@DMP-RESULT", "@@DMP-SYNC", ...) followed by one compact JSON object, and
 * is flushed at once so the agent never waits on a stdio buffer. */
#ifndef WL_PROTO_H
#define WL_PROTO_H

#include "dmpcommon/clock.h"
#include "dmpcommon/json.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define WL_TAG_RESULT "@@DMP-RESULT"
#define WL_TAG_SYNC   "@@DMP-SYNC"
#define WL_TAG_DONE   "@@DMP-DONE"
#define WL_TAG_WSS    "@@DMP-WSS"
#define WL_TAG_EVENT  "@@DMP-EVENT"

/* Exit codes common to both programs. */
enum {
    WL_EXIT_OK = 0,
    WL_EXIT_CHECK = 1,      /* a self-check found wrong data or a wrong result */
    WL_EXIT_USAGE = 2,      /* bad command line */
    WL_EXIT_ENV = 3,        /* environment failure: sync channel lost, syscall failed */
};

/* Start a tagged line: writes "<tag> " and opens the JSON object. */
void wl_line_begin(struct dmp_json *j, FILE *out, const char *tag);
/* Close the object, end the line and flush. Returns -1 if the JSON was malformed
 * or the stream failed (e.g. console gone), 0 otherwise. */
int wl_line_end(struct dmp_json *j);

struct wl_faults {
    uint64_t minflt, majflt;
};
/* Fault counters of this process (RUSAGE_SELF) or of its reaped children (RUSAGE_CHILDREN). */
int wl_faults_self(struct wl_faults *f);
int wl_faults_children(struct wl_faults *f);

/* Block until one line arrives on fd and check that it says "go" (surrounding
 * whitespace and a CR are ignored: the console may translate line ends).
 * The wait is bounded by alarm(timeout_s). Returns 0 on "go"; otherwise -1 and a
 * human-readable reason in err ("stdin closed", "timed out after 120 s", ...). */
int wl_sync_wait(int fd, unsigned timeout_s, char *err, size_t errlen);

/* Options whose argument is a count in [min, max], as a table instead of a case each. */
struct wl_count_opt {
    int id;                 /* getopt_long's value for it */
    const char *name;       /* "--rounds", for the message */
    uint64_t min, max;
    uint64_t *dst;
};

/* A workload's command line: its getopt_long table, the value of its --help, its usage text,
 * and its count options. */
struct wl_cmdline {
    const struct option *lo;
    int help_opt;
    void (*usage)(FILE *);
    const struct wl_count_opt *counts;
    size_t ncounts;
};

/* The next option that is not a count, the same for every program: counts are parsed into
 * their destination; --help or -h prints the usage to stdout and exits 0; a bad count, an
 * unknown or incomplete option or an argument left after the options is reported on stderr
 * and returns WL_OPT_BAD. Returns -1 after the last option, like getopt_long. */
#define WL_OPT_BAD (-2)
int wl_getopt(int argc, char **argv, const struct wl_cmdline *cl);

/* Parse a decimal count with an optional range check; prints a clear error naming
 * the option on failure. Returns 0 or -1. */
int wl_parse_count(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *v);

#endif
