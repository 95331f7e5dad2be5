#include "wl_proto.h"

#include "dmpcommon/util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

void wl_line_begin(struct dmp_json *j, FILE *out, const char *tag)
{
    fputs(tag, out);
    fputc(' ', out);
    dmp_json_init(j, out, false);
    dmp_json_obj_begin(j);
}

int wl_line_end(struct dmp_json *j)
{
    dmp_json_obj_end(j);
    int bad = dmp_json_finish(j);
    fputc('\n', j->out);
    if (fflush(j->out) != 0 || ferror(j->out))
        return -1;
    return bad;
}

static int faults(int who, struct wl_faults *f)
{
    struct rusage ru;
    if (getrusage(who, &ru) != 0)
        return -1;
    f->minflt = (uint64_t)ru.ru_minflt;
    f->majflt = (uint64_t)ru.ru_majflt;
    return 0;
}

int wl_faults_self(struct wl_faults *f) { return faults(RUSAGE_SELF, f); }
int wl_faults_children(struct wl_faults *f) { return faults(RUSAGE_CHILDREN, f); }

/* Only interrupts the blocking read(); the handler itself has nothing to do. */
static void on_alarm(int sig) { (void)sig; }

int wl_sync_wait(int fd, unsigned timeout_s, char *err, size_t errlen)
{
    /* No SA_RESTART: SIGALRM must make read() fail with EINTR instead of resuming. */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, &old) != 0) {
        snprintf(err, errlen, "sigaction(SIGALRM): %s", strerror(errno));
        return -1;
    }
    alarm(timeout_s);

    char line[64];
    size_t n = 0;
    bool overflow = false;
    int rc = -1;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);    /* byte by byte: never consume past the line */
        if (r == 0) {
            snprintf(err, errlen, "stdin closed while waiting for \"go\"");
            break;
        }
        if (r < 0) {
            if (errno == EINTR)
                snprintf(err, errlen, "no \"go\" on stdin within %u s", timeout_s);
            else
                snprintf(err, errlen, "reading stdin: %s", strerror(errno));
            break;
        }
        if (c == '\n') {
            while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
                n--;
            size_t s = 0;
            while (s < n && (line[s] == ' ' || line[s] == '\t' || line[s] == '\r'))
                s++;
            if (!overflow && n - s == 2 && memcmp(line + s, "go", 2) == 0) {
                rc = 0;
            } else if (!overflow && n == s) {
                n = 0;              /* a bare line end (e.g. CR LF split) is not an answer */
                continue;
            } else {
                snprintf(err, errlen, "expected \"go\" on stdin, got \"%.*s%s\"",
                         (int)(n - s), line + s, overflow ? "..." : "");
            }
            break;
        }
        if (n < sizeof line)
            line[n++] = c;
        else
            overflow = true;
    }
    alarm(0);
    sigaction(SIGALRM, &old, NULL);
    return rc;
}

/* If option c is a count, parse it: 1, or -1 for a bad value (reported); 0 if it is not one. */
static int count_option(const struct wl_cmdline *cl, int c, const char *arg)
{
    for (size_t i = 0; i < cl->ncounts; i++) {
        const struct wl_count_opt *t = &cl->counts[i];
        if (t->id == c)
            return wl_parse_count(t->name, arg, t->min, t->max, t->dst) == 0 ? 1 : -1;
    }
    return 0;
}

int wl_getopt(int argc, char **argv, const struct wl_cmdline *cl)
{
    opterr = 0;     /* our own messages, naming the option */
    for (;;) {
        int c = getopt_long(argc, argv, "h", cl->lo, NULL);
        if (c == cl->help_opt || c == 'h') {
            cl->usage(stdout);
            exit(WL_EXIT_OK);
        }
        if (c == '?' || c == ':') {
            fprintf(stderr, "error: unknown or incomplete option \"%s\" (see --help)\n",
                    argv[optind - 1]);
            return WL_OPT_BAD;
        }
        if (c == -1 && optind < argc) {
            fprintf(stderr, "error: unexpected argument \"%s\" (see --help)\n", argv[optind]);
            return WL_OPT_BAD;
        }
        int counted = c == -1 ? 0 : count_option(cl, c, optarg);
        if (counted < 0)
            return WL_OPT_BAD;
        if (!counted)
            return c;
    }
}

int wl_parse_count(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
    if (dmp_parse_u64(s, v) != 0 || *v < min || *v > max) {
        fprintf(stderr, "error: %s expects an integer in [%" PRIu64 ", %" PRIu64 "], got \"%s\"\n",
                opt, min, max, s);
        return -1;
    }
    return 0;
}
