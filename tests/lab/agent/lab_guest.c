/* lab-guest: run one guest in the lab and collect its results as JSON.
 *
 * Creates the guest paused, attaches to its console pty before it runs (so no output is lost),
 * unpauses it, and follows the workload's line protocol:
 *   @@DMP-SYNC {json}    the workload is at a phase edge and blocks reading stdin: snapshot
 *                        the hypervisor counters, then answer "go"
 *   @@DMP-RESULT {json}  one phase's result (embedded verbatim after validation)
 *   @@DMP-DONE {json}    the workload finished
 *   @@DMP-EXIT <n>       the guest's init reports the workload's exit status
 * Every wait is bounded by --timeout; on expiry the guest is destroyed, the console tail is
 * printed, and the exit status is 3, so a hung guest is a reported failure, not a hang.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <xenctrl.h>
#include <xenstore.h>

#include "dmpcommon/clock.h"
#include "dmpcommon/json.h"
#include "dmpcommon/json_read.h"
#include "dmpxen/perfc.h"
#include "dmpcommon/util.h"

#define TAIL_LINES 40
#define MAX_LINE 8192
#define MAX_PHASES 512

struct phase {
    char *result;             /* validated JSON text, or NULL */
    char *sync_begin;         /* the begin SYNC payload */
    struct dmp_perfc_snapshot before, after;
    bool have_counters;
};

struct agent {
    const char *name, *config, *out;
    int timeout;
    bool counters;
    const char *first_phase_cmd;   /* run before the first phase is released (--before-first-phase) */
    bool first_phase_done;
    int domid;
    xc_interface *xch;
    struct phase phases[MAX_PHASES];
    int nphases;
    bool in_phase;
    struct dmp_perfc_snapshot pending;   /* snapshot taken at the last begin edge */
    char *done;
    int guest_exit;
    char *error;
    char *tail[TAIL_LINES];
    int tail_pos;
    double t0;
};

static void set_error(struct agent *a, const char *fmt, ...)
{
    if (a->error)
        return;   /* keep the first cause */
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&a->error, fmt, ap) < 0)
        a->error = NULL;
    va_end(ap);
}

/* Run a command with a deadline; optionally capture its stdout. Returns exit status, or -1. */
static int run_cmd(char *const argv[], int timeout_s, char *cap, size_t caplen)
{
    int pfd[2] = { -1, -1 };
    if (cap && pipe(pfd) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (cap) {
            dup2(pfd[1], 1);
            close(pfd[0]);
            close(pfd[1]);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    size_t got = 0;
    if (cap) {
        close(pfd[1]);
        cap[0] = '\0';
    }
    double deadline = dmp_mono_s() + timeout_s;
    int status = -1;
    for (;;) {
        if (cap && pfd[0] >= 0) {
            struct pollfd p = { pfd[0], POLLIN, 0 };
            if (poll(&p, 1, 100) > 0) {
                ssize_t r = read(pfd[0], cap + got, caplen - 1 - got);
                if (r > 0) {
                    got += (size_t)r;
                    cap[got] = '\0';
                } else {
                    close(pfd[0]);
                    pfd[0] = -1;
                }
            }
        } else {
            usleep(50000);
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (dmp_mono_s() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "lab-guest: '%s %s' timed out after %ds\n", argv[0], argv[1], timeout_s);
            status = -1;
            break;
        }
    }
    if (cap && pfd[0] >= 0)
        close(pfd[0]);
    if (status == -1)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void remember(struct agent *a, const char *line)
{
    free(a->tail[a->tail_pos]);
    a->tail[a->tail_pos] = strdup(line);
    a->tail_pos = (a->tail_pos + 1) % TAIL_LINES;
}

static void print_tail(struct agent *a)
{
    fprintf(stderr, "---- last console lines of %s ----\n", a->name);
    for (int i = 0; i < TAIL_LINES; i++) {
        const char *l = a->tail[(a->tail_pos + i) % TAIL_LINES];
        if (l)
            fprintf(stderr, "  %s\n", l);
    }
    fprintf(stderr, "---- end ----\n");
}

static const char *payload(const char *line, const char *tag)
{
    size_t n = strlen(tag);
    if (strncmp(line, tag, n) != 0)
        return NULL;
    return line + n;
}

static char *valid_or_null(struct agent *a, const char *json, const char *what)
{
    if (dmp_json_validate(json, strlen(json)) != 0) {
        set_error(a, "guest sent malformed %s JSON: %.200s", what, json);
        return NULL;
    }
    return strdup(json);
}

/* A sync line's edge: true for {"edge":"begin",...}. Read as JSON, so a string that merely
 * contains those characters (or a malformed line) is not a begin. */
static bool sync_begins(const char *json)
{
    struct dmp_jdoc *doc;
    if (dmp_jdoc_parse(json, strlen(json), &doc, NULL, 0) != 0)
        return false;
    const char *edge = dmp_jstr(dmp_jget(dmp_jroot(doc), "edge"));
    bool begin = edge && strcmp(edge, "begin") == 0;
    dmp_jdoc_free(doc);
    return begin;
}

static int snapshot(struct agent *a, struct dmp_perfc_snapshot *s)
{
    int rc = dmp_perfc_read((struct xc_interface_core *)a->xch, s);
    if (rc < 0)
        set_error(a, "reading hypervisor perf counters failed: %s (is Xen built with CONFIG_PERF_COUNTERS?)",
                  strerror(-rc));
    return rc;
}

/* Handle one console line; returns 1 when the guest has finished. */
static int handle_line(struct agent *a, int tty, const char *line)
{
    const char *p;
    remember(a, line);
    if ((p = payload(line, "@@DMP-SYNC "))) {
        bool begin = sync_begins(p);
        /* Before the counters are snapshotted, so what the command costs (e.g. patching the
         * guest's kernel while it waits for "go") is not counted in any phase. */
        if (begin && a->first_phase_cmd && !a->first_phase_done) {
            char *sh[] = { "sh", "-c", (char *)a->first_phase_cmd, NULL };
            a->first_phase_done = true;
            int rc = run_cmd(sh, 600, NULL, 0);
            if (rc != 0) {
                set_error(a, "--before-first-phase command failed (status %d): %s", rc,
                          a->first_phase_cmd);
                return 1;
            }
        }
        if (a->counters) {
            if (begin) {
                dmp_perfc_free(&a->pending);
                snapshot(a, &a->pending);
            } else if (a->nphases > 0) {
                struct phase *ph = &a->phases[a->nphases - 1];
                if (snapshot(a, &ph->after) == 0 && a->pending.n) {
                    ph->before = a->pending;
                    memset(&a->pending, 0, sizeof(a->pending));
                    ph->have_counters = true;
                }
            }
        }
        if (begin && a->nphases < MAX_PHASES) {
            a->in_phase = true;
            a->phases[a->nphases].sync_begin = valid_or_null(a, p, "sync");
        }
        if (write(tty, "go\n", 3) != 3)
            set_error(a, "writing to the guest console failed: %s", strerror(errno));
    } else if ((p = payload(line, "@@DMP-RESULT "))) {
        if (a->nphases < MAX_PHASES) {
            a->phases[a->nphases].result = valid_or_null(a, p, "result");
            a->nphases++;
        }
        a->in_phase = false;
    } else if ((p = payload(line, "@@DMP-DONE "))) {
        free(a->done);
        a->done = valid_or_null(a, p, "done");
    } else if ((p = payload(line, "@@DMP-EXIT "))) {
        a->guest_exit = atoi(p);
        return 1;
    }
    return 0;
}

static int open_console(struct agent *a)
{
    struct xs_handle *xs = xs_open(0);
    if (!xs) {
        set_error(a, "cannot open xenstore: %s", strerror(errno));
        return -1;
    }
    char path[64];
    snprintf(path, sizeof(path), "/local/domain/%d/console/tty", a->domid);
    char *tty = NULL;
    for (int i = 0; i < 200 && !tty; i++) {   /* xenconsoled publishes it asynchronously */
        unsigned int len;
        tty = xs_read(xs, XBT_NULL, path, &len);
        if (!tty)
            usleep(50000);
    }
    xs_close(xs);
    if (!tty) {
        set_error(a, "no console pty for domain %d after 10s (is xenconsoled running?)", a->domid);
        return -1;
    }
    int fd = open(tty, O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        set_error(a, "cannot open console %s: %s", tty, strerror(errno));
        free(tty);
        return -1;
    }
    free(tty);
    /* Raw, or the line discipline would echo the guest's own output back to it as input. */
    struct termios t;
    if (tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(fd, TCSANOW, &t);
    }
    return fd;
}

static void follow_console(struct agent *a, int tty)
{
    char buf[MAX_LINE];
    size_t len = 0;
    double deadline = a->t0 + a->timeout;
    for (;;) {
        double left = deadline - dmp_mono_s();
        if (left <= 0) {
            const char *where = a->in_phase && a->phases[a->nphases].sync_begin
                                    ? a->phases[a->nphases].sync_begin : "outside a phase";
            set_error(a, "timeout: guest %s did not finish within %ds (last sync: %s)",
                      a->name, a->timeout, where);
            return;
        }
        struct pollfd p = { tty, POLLIN, 0 };
        int r = poll(&p, 1, left > 1 ? 1000 : (int)(left * 1000) + 1);
        if (r < 0 && errno != EINTR) {
            set_error(a, "poll on console: %s", strerror(errno));
            return;
        }
        if (r <= 0)
            continue;
        ssize_t n = read(tty, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            set_error(a, "guest console closed before the workload finished");
            return;
        }
        len += (size_t)n;
        buf[len] = '\0';
        char *start = buf, *nl;
        while ((nl = memchr(start, '\n', len - (size_t)(start - buf)))) {
            *nl = '\0';
            if (nl > start && nl[-1] == '\r')
                nl[-1] = '\0';
            if (handle_line(a, tty, start))
                return;
            start = nl + 1;
        }
        len -= (size_t)(start - buf);
        memmove(buf, start, len);
        if (len == sizeof(buf) - 1) {   /* an overlong line: keep going without it */
            buf[len] = '\0';
            remember(a, buf);
            len = 0;
        }
    }
}

static int domain_gone(struct agent *a)
{
    char out[64];
    char *argv[] = { "xl", "domid", (char *)a->name, NULL };
    return run_cmd(argv, 20, out, sizeof(out)) != 0;
}

static void write_report(struct agent *a, FILE *f)
{
    struct dmp_json j;
    dmp_json_init(&j, f, true);
    dmp_json_obj_begin(&j);
    DMP_JSON_KV(&j, "guest", dmp_json_str, a->name);
    DMP_JSON_KV(&j, "config", dmp_json_str, a->config);
    DMP_JSON_KV(&j, "ok", dmp_json_bool, !a->error && a->guest_exit == 0 && a->done);
    DMP_JSON_KV(&j, "error", dmp_json_str, a->error);
    DMP_JSON_KV(&j, "guest_exit", dmp_json_i64, a->guest_exit);
    DMP_JSON_KV(&j, "wall_seconds", dmp_json_double, dmp_mono_s() - a->t0);
    dmp_json_key(&j, "done");
    if (a->done)
        dmp_json_raw(&j, a->done, strlen(a->done));
    else
        dmp_json_null(&j);
    dmp_json_key(&j, "phases");
    dmp_json_arr_begin(&j);
    for (int i = 0; i < a->nphases; i++) {
        struct phase *ph = &a->phases[i];
        dmp_json_obj_begin(&j);
        dmp_json_key(&j, "result");
        if (ph->result)
            dmp_json_raw(&j, ph->result, strlen(ph->result));
        else
            dmp_json_null(&j);
        dmp_json_key(&j, "counters");
        if (!ph->have_counters || dmp_perfc_delta_json(&ph->before, &ph->after, &j) != 0)
            dmp_json_null(&j);
        dmp_json_obj_end(&j);
    }
    dmp_json_arr_end(&j);
    dmp_json_obj_end(&j);
    dmp_json_finish(&j);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lab-guest --name NAME --config XL_CONFIG --out RESULT.json [--timeout SECS] [--counters]\n"
            "                 [--before-first-phase SHELL_COMMAND]\n"
            "Create the guest, follow its workload protocol on the console, write results as JSON.\n"
            "--before-first-phase runs the command (sh -c, at most 600 s) while the guest waits at\n"
            "its first phase, before the counters are read; its failure fails the run.\n"
            "Exit: 0 ok, 1 workload or guest failure, 2 usage, 3 timeout.\n");
}

int main(int argc, char **argv)
{
    static struct agent a = { .timeout = 300, .guest_exit = -1 };
    static const struct option opts[] = {
        { "name", required_argument, NULL, 'n' }, { "config", required_argument, NULL, 'c' },
        { "out", required_argument, NULL, 'o' }, { "timeout", required_argument, NULL, 't' },
        { "counters", no_argument, NULL, 'k' }, { "help", no_argument, NULL, 'h' },
        { "before-first-phase", required_argument, NULL, 'b' }, { 0 } };
    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, "n:c:o:t:khb:", opts, NULL)) != -1) {
        switch (c) {
        case 'n': a.name = optarg; break;
        case 'c': a.config = optarg; break;
        case 'o': a.out = optarg; break;
        case 't':
            if (dmp_parse_u64(optarg, &v) || v == 0 || v > 86400) {
                fprintf(stderr, "lab-guest: bad --timeout '%s' (1..86400 seconds)\n", optarg);
                return 2;
            }
            a.timeout = (int)v;
            break;
        case 'k': a.counters = true; break;
        case 'b': a.first_phase_cmd = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!a.name || !a.config || !a.out) {
        usage(stderr);
        return 2;
    }
    a.t0 = dmp_mono_s();
    if (a.counters && !(a.xch = xc_interface_open(NULL, NULL, 0))) {
        fprintf(stderr, "lab-guest: cannot open the Xen control interface: %s\n", strerror(errno));
        return 1;
    }

    int tty = -1;
    char *create[] = { "xl", "create", "-p", (char *)a.config, NULL };
    char idbuf[32];
    char *domid[] = { "xl", "domid", (char *)a.name, NULL };
    /* Building a PV domain decompresses the kernel in dom0: slow under emulation and load. */
    if (run_cmd(create, 300, NULL, 0) != 0) {
        set_error(&a, "xl create -p %s failed", a.config);
    } else if (run_cmd(domid, 20, idbuf, sizeof(idbuf)) != 0) {
        set_error(&a, "guest %s not found after create", a.name);
    } else {
        a.domid = atoi(idbuf);
        tty = open_console(&a);
        char *unpause[] = { "xl", "unpause", (char *)a.name, NULL };
        if (tty >= 0 && run_cmd(unpause, 20, NULL, 0) != 0)
            set_error(&a, "xl unpause %s failed", a.name);
        if (tty >= 0 && !a.error)
            follow_console(&a, tty);
    }
    /* The guest powers itself off after reporting; give it a bounded grace period. */
    bool gone = false;
    for (int i = 0; i < 40 && !gone && !a.error; i++) {
        gone = domain_gone(&a);
        if (!gone)
            usleep(250000);
    }
    if (!gone) {
        char *destroy[] = { "xl", "destroy", (char *)a.name, NULL };
        if (run_cmd(destroy, 30, NULL, 0) != 0)
            fprintf(stderr, "lab-guest: xl destroy %s failed\n", a.name);
    }
    if (tty >= 0)
        close(tty);

    FILE *f = fopen(a.out, "w");
    if (!f) {
        fprintf(stderr, "lab-guest: cannot write %s: %s\n", a.out, strerror(errno));
        return 1;
    }
    write_report(&a, f);
    if (fclose(f) != 0) {
        fprintf(stderr, "lab-guest: writing %s failed: %s\n", a.out, strerror(errno));
        return 1;
    }
    bool ok = !a.error && a.guest_exit == 0 && a.done;
    if (!ok) {
        fprintf(stderr, "lab-guest: %s: %s\n", a.name,
                a.error ? a.error : a.guest_exit != 0 ? "workload exited non-zero" : "no @@DMP-DONE line");
        print_tail(&a);
    }
    if (a.xch)
        xc_interface_close(a.xch);
    return ok ? 0 : (a.error && strncmp(a.error, "timeout", 7) == 0) ? 3 : 1;
}
