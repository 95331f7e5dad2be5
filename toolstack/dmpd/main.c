/* dmpd: the DMP toolkit's dom0 daemon. Single-threaded: one poll loop serves the control
 * socket and runs each service's periodic tick, so services need no locking. */
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <xenctrl.h>
#include <xenstore.h>

#include "dmpcli/cli.h"
#include "dmpcli/dmpd.h"
#include "dmpcommon/clock.h"
#include "dmpcommon/json.h"
#include "dmpcommon/util.h"

#define MAX_SERVICES 16
#define MAX_REQUEST 4096
#define MAX_ARGS 64
#define REQUEST_TIMEOUT_MS 5000

struct dmpd {
    const char *state_dir, *config, *sock_path;
    struct xs_handle *xs;
    xc_interface *xch;
    FILE *logf;
    uint64_t t0;
    void *state[MAX_SERVICES];
    uint64_t next_tick[MAX_SERVICES];
    int nservices;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

const char *dmpd_state_dir(const struct dmpd *d) { return d->state_dir; }
const char *dmpd_config_path(const struct dmpd *d) { return d->config; }
struct xs_handle *dmpd_xs(struct dmpd *d) { return d->xs; }
struct xc_interface_core *dmpd_xch(struct dmpd *d) { return (struct xc_interface_core *)d->xch; }

void dmpd_log(struct dmpd *d, const char *service, const char *event, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    FILE *outs[2] = { stderr, d->logf };
    for (int i = 0; i < 2; i++) {
        if (!outs[i])
            continue;
        struct dmp_json j;
        dmp_json_init(&j, outs[i], false);
        dmp_json_obj_begin(&j);
        DMP_JSON_KV(&j, "t", dmp_json_u64, dmp_mono_ms() - d->t0);
        DMP_JSON_KV(&j, "service", dmp_json_str, service);
        DMP_JSON_KV(&j, "event", dmp_json_str, event);
        DMP_JSON_KV(&j, "msg", dmp_json_str, msg);
        dmp_json_obj_end(&j);
        fputc('\n', outs[i]);
        fflush(outs[i]);
    }
}

static int listen_on(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "socket path too long: %s", path);
        return -1;
    }
    char *dir = strdup(path);
    if (!dir)
        return -1;
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        dmp_mkdir_p(dir);
    }
    free(dir);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    /* A stale socket from a crashed daemon would block the restart; a live one must not be
     * stolen: probe it first. */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        close(probe);
        close(fd);
        snprintf(err, errlen, "another dmpd is already listening on %s", path);
        return -1;
    }
    if (probe >= 0)
        close(probe);
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Read one request line within the deadline; returns length or -1. */
static int read_request(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    uint64_t deadline = dmp_mono_ms() + REQUEST_TIMEOUT_MS;
    while (n + 1 < cap) {
        uint64_t now = dmp_mono_ms();
        if (now >= deadline)
            return -1;
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, (int)(deadline - now)) <= 0)
            continue;
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        if (memchr(buf, '\n', n))
            break;
    }
    buf[n] = '\0';
    char *nl = strchr(buf, '\n');
    if (!nl)
        return -1;
    *nl = '\0';
    return (int)(nl - buf);
}

static void write_all(int fd, const char *p, size_t n)
{
    uint64_t deadline = dmp_mono_ms() + REQUEST_TIMEOUT_MS;
    while (n && dmp_mono_ms() < deadline) {
        struct pollfd pf = { fd, POLLOUT, 0 };
        if (poll(&pf, 1, 100) <= 0)
            continue;
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return;
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        }
    }
}

static int builtin_request(struct dmpd *d, int argc, char **argv, FILE *out)
{
    if (argc >= 2 && strcmp(argv[1], "ping") == 0) {
        fprintf(out, "pong\n");
        return DMP_EXIT_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "services") == 0) {
        for (int i = 0; i < d->nservices; i++)
            fprintf(out, "%s\n", dmpd_services[i]->name);
        return DMP_EXIT_OK;
    }
    fprintf(out, "unknown daemon request '%s'\n", argc >= 2 ? argv[1] : "");
    return DMP_EXIT_USAGE;
}

static void serve_one(struct dmpd *d, int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    char req[MAX_REQUEST];
    char *body = NULL;
    size_t blen = 0;
    FILE *out = open_memstream(&body, &blen);
    int code = DMP_EXIT_USAGE;
    if (!out) {
        close(fd);
        return;
    }
    if (read_request(fd, req, sizeof(req)) < 0) {
        fprintf(out, "request not received as one line within %d ms\n", REQUEST_TIMEOUT_MS);
    } else {
        char *argv[MAX_ARGS + 1];
        int argc = 0;
        for (char *save = NULL, *tok = strtok_r(req, " \t", &save); tok && argc < MAX_ARGS;
             tok = strtok_r(NULL, " \t", &save))
            argv[argc++] = tok;
        argv[argc] = NULL;
        const struct dmpd_service *svc = NULL;
        int idx = -1;
        for (int i = 0; argc > 0 && i < d->nservices; i++)
            if (strcmp(dmpd_services[i]->name, argv[0]) == 0) {
                svc = dmpd_services[i];
                idx = i;
            }
        if (argc > 0 && strcmp(argv[0], "daemon") == 0)
            code = builtin_request(d, argc, argv, out);
        else if (!svc || !svc->request)
            fprintf(out, "no service '%s' in this dmpd\n", argc ? argv[0] : "");
        else if (argc < 2)
            fprintf(out, "service '%s' needs a verb\n", argv[0]);
        else
            code = svc->request(d, d->state[idx], argc - 1, argv + 1, out);
    }
    fclose(out);
    char head[16];
    int hl = snprintf(head, sizeof(head), "%d\n", code);
    write_all(fd, head, (size_t)hl);
    write_all(fd, body, blen);
    free(body);
    close(fd);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dmpd [--state-dir DIR] [--config FILE] [--socket PATH] [--log FILE] [--no-xen]\n"
            "The DMP toolkit daemon (runs in the foreground; use a systemd unit to daemonise).\n"
            "  --state-dir DIR  persistent state (default " DMPD_DEFAULT_STATE_DIR ")\n"
            "  --config FILE    configuration (default " DMPD_DEFAULT_CONFIG "; absent = defaults)\n"
            "  --socket PATH    control socket (default " DMPD_DEFAULT_SOCKET ")\n"
            "  --log FILE       also append structured log lines to FILE\n"
            "  --no-xen         run without Xen (services that need it stay idle)\n");
}

int main(int argc, char **argv)
{
    struct dmpd d = { .state_dir = DMPD_DEFAULT_STATE_DIR, .config = DMPD_DEFAULT_CONFIG,
                      .sock_path = DMPD_DEFAULT_SOCKET };
    bool no_xen = false;
    const char *logpath = NULL;
    static const struct option opts[] = {
        { "state-dir", required_argument, NULL, 's' }, { "config", required_argument, NULL, 'c' },
        { "socket", required_argument, NULL, 'S' }, { "log", required_argument, NULL, 'l' },
        { "no-xen", no_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' }, { 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': d.state_dir = optarg; break;
        case 'c': d.config = optarg; break;
        case 'S': d.sock_path = optarg; break;
        case 'l': logpath = optarg; break;
        case 'n': no_xen = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return DMP_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "dmpd: unexpected argument '%s'\n", argv[optind]);
        return DMP_EXIT_USAGE;
    }
    d.t0 = dmp_mono_ms();
    if (logpath && !(d.logf = fopen(logpath, "a"))) {
        fprintf(stderr, "dmpd: cannot open log %s: %s\n", logpath, strerror(errno));
        return DMP_EXIT_FAIL;
    }
    int mrc = dmp_mkdir_p(d.state_dir);
    if (mrc < 0) {
        fprintf(stderr, "dmpd: cannot create state directory %s: %s\n", d.state_dir, strerror(-mrc));
        return DMP_EXIT_FAIL;
    }
    if (!no_xen) {
        d.xs = xs_open(0);
        d.xch = xc_interface_open(NULL, NULL, 0);
        if (!d.xs || !d.xch) {
            fprintf(stderr, "dmpd: cannot reach Xen (xenstore and privcmd); use --no-xen to run without\n");
            return DMP_EXIT_FAIL;
        }
    }
    char err[512] = "";
    int lfd = listen_on(d.sock_path, err, sizeof(err));
    if (lfd < 0) {
        fprintf(stderr, "dmpd: %s\n", err);
        return DMP_EXIT_FAIL;
    }
    for (d.nservices = 0; dmpd_services[d.nservices] && d.nservices < MAX_SERVICES; d.nservices++) {
        const struct dmpd_service *s = dmpd_services[d.nservices];
        err[0] = '\0';
        if (s->init && s->init(&d, &d.state[d.nservices], err, sizeof(err)) != 0) {
            fprintf(stderr, "dmpd: service %s: %s\n", s->name, err[0] ? err : "initialisation failed");
            for (int i = d.nservices - 1; i >= 0; i--)
                if (dmpd_services[i]->fini)
                    dmpd_services[i]->fini(&d, d.state[i]);
            unlink(d.sock_path);
            return DMP_EXIT_FAIL;
        }
        d.next_tick[d.nservices] = dmp_mono_ms() + s->interval_ms;
    }
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    dmpd_log(&d, "dmpd", "start", "listening on %s, state in %s, %d services", d.sock_path, d.state_dir,
             d.nservices);

    while (!stop_requested) {
        uint64_t now = dmp_mono_ms(), wake = now + 1000;
        for (int i = 0; i < d.nservices; i++) {
            const struct dmpd_service *s = dmpd_services[i];
            if (!s->tick || !s->interval_ms)
                continue;
            if (now >= d.next_tick[i]) {
                s->tick(&d, d.state[i], now);
                d.next_tick[i] = now + s->interval_ms;
            }
            if (d.next_tick[i] < wake)
                wake = d.next_tick[i];
        }
        now = dmp_mono_ms();
        struct pollfd p = { lfd, POLLIN, 0 };
        int r = poll(&p, 1, wake > now ? (int)(wake - now) : 0);
        if (r > 0)
            serve_one(&d, lfd);
    }
    dmpd_log(&d, "dmpd", "stop", "shutting down");
    for (int i = d.nservices - 1; i >= 0; i--)
        if (dmpd_services[i]->fini)
            dmpd_services[i]->fini(&d, d.state[i]);
    close(lfd);
    unlink(d.sock_path);
    if (d.xs)
        xs_close(d.xs);
    if (d.xch)
        xc_interface_close(d.xch);
    if (d.logf)
        fclose(d.logf);
    return 0;
}
