/* The worker process of dmpd's automatic DMP (dmp/worker.h). */
#include "dmp/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dmp/patch.h"
#include "dmp/profile.h"
#include "dmp/report.h"
#include "dmpcli/cli.h"
#include "dmpcommon/util.h"

#define CMD_PROFILE "dmp profile"
#define CMD_PATCH "dmp patch"

/* Messages as `dmpctl <cmd>` prints them, so that dmpd's log reads the same whoever ran it. */
static void note(void *cmd, const char *msg)
{
    fprintf(stderr, "dmpctl %s: %s\n", (const char *)cmd, msg);
}

static int run_profile(const struct dmp_worker_job *job, const char *domain)
{
    struct dmp_profile_opts o = {
        .domain = domain, .seconds = job->window_s, .slots = DMP_TRAP_PROFILE_DEFAULT_SLOTS,
        /* No symbol lookup: it pauses the guest, and the decision needs only the counts. */
        .symbols = false, .catch_signals = true, .note = note, .note_ctx = (void *)CMD_PROFILE,
    };
    struct dmp_profile_result r;
    char err[1024];
    int code;
    if (dmp_profile_run(&o, &r, err, sizeof(err)) != 0)
        code = dmp_cli_error(dmp_outcome_exit(r.outcome), CMD_PROFILE, "%s", err);
    else
        code = dmp_report_profile_json(stdout, &r, job->top) == 0 ? DMP_EXIT_OK : DMP_EXIT_FAIL;
    dmp_profile_result_free(&r);
    return code;
}

static int run_patch(const struct dmp_worker_job *job, const char *domain)
{
    struct dmp_patch_opts o = {
        .domain = domain, .mode = DMP_MODE_PASSTHROUGH, .hot_file = job->hot_file,
        .note = note, .note_ctx = (void *)CMD_PATCH,
    };
    struct dmp_patch_result r;
    char err[2048];
    if (dmp_patch(&o, &r, err, sizeof(err)) != 0)
        return dmp_cli_error(dmp_outcome_exit(r.outcome), CMD_PATCH, "%s", err);
    dmp_report_patch_json(stdout, &r);
    return DMP_EXIT_OK;
}

/* In the child: a process of its own (default signal handling, no descriptor of the daemon's
 * but the three given), then the work. Never returns. */
static void child(const struct dmp_worker_job *job, int in, int out, int errfd)
{
    prctl(PR_SET_NAME, DMP_WORKER_COMM, 0, 0, 0);
    /* dmpd ignores SIGPIPE and catches SIGTERM/SIGINT for its own shutdown: the worker must
     * die of them (a patch) or handle them itself (a profile turns profiling off). */
    signal(SIGPIPE, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Bytes the daemon had buffered for its own stdout are not the report's. */
    __fpurge(stdout);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
        _exit(127);
    /* The daemon's control socket, xenstore connection and logs stay the daemon's; the
     * library opens its own. A kernel without close_range leaves them open, harmlessly. */
    close_range(3, ~0u, 0);
    char domain[16];
    snprintf(domain, sizeof(domain), "%u", job->domid);
    int code = job->op == DMP_WORKER_PROFILE ? run_profile(job, domain) : run_patch(job, domain);
    fflush(stdout);
    fflush(stderr);
    _exit(code);
}

/* Opened in the daemon, so that a path that cannot be written fails the start, not the work. */
static int open_files(const struct dmp_worker_job *job, int fd[3], char *err, size_t errlen)
{
    const char *paths[3] = { "/dev/null", job->out_path, job->err_path };
    for (int i = 0; i < 3; i++) {
        fd[i] = i == 0 ? open(paths[i], O_RDONLY | O_CLOEXEC)
                       : open(paths[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd[i] < 0) {
            int rc = dmp_errf(err, errlen, -errno, "cannot open %s: %s", paths[i],
                              strerror(errno));
            while (i-- > 0)
                close(fd[i]);
            return rc;
        }
    }
    return 0;
}

int dmp_worker_start(struct dmp_worker *w, const struct dmp_worker_job *job, uint64_t now_ms,
                     uint64_t deadline_ms, char *err, size_t errlen)
{
    memset(w, 0, sizeof(*w));
    int fd[3];
    int rc = open_files(job, fd, err, errlen);
    if (rc)
        return rc;
    pid_t pid = fork();
    if (pid == 0)
        child(job, fd[0], fd[1], fd[2]);
    if (pid < 0)
        rc = dmp_errf(err, errlen, -errno, "fork: %s", strerror(errno));
    for (int i = 0; i < 3; i++)
        close(fd[i]);
    w->pid = pid > 0 ? pid : 0;
    w->start = now_ms;
    w->deadline = deadline_ms;
    return rc;
}

enum dmp_worker_state dmp_worker_poll(struct dmp_worker *w, uint64_t now_ms, int *status)
{
    pid_t r = waitpid(w->pid, status, WNOHANG);
    if (r == w->pid)
        return DMP_WORKER_EXITED;
    if (r < 0)
        return DMP_WORKER_LOST;
    if (!w->term_sent && now_ms >= w->deadline) {
        /* SIGTERM first: the profiler turns profiling off on it. */
        kill(w->pid, SIGTERM);
        w->term_sent = w->timed_out = true;
        w->kill_at = now_ms + DMP_WORKER_TERM_GRACE_MS;
        return DMP_WORKER_DEADLINE;
    }
    if (w->term_sent && now_ms >= w->kill_at) {
        kill(w->pid, SIGKILL);
        w->kill_at = now_ms + DMP_WORKER_TERM_GRACE_MS;
    }
    return DMP_WORKER_RUNNING;
}

void dmp_worker_stop(struct dmp_worker *w)
{
    if (!w->pid)
        return;
    kill(w->pid, SIGTERM);
    int status;
    for (int i = 0; i < 50 && waitpid(w->pid, &status, WNOHANG) == 0; i++)
        usleep(100000);
    if (waitpid(w->pid, &status, WNOHANG) == 0) {
        kill(w->pid, SIGKILL);
        waitpid(w->pid, &status, 0);
    }
    w->pid = 0;
}

/* The first len - 1 bytes of /proc/<pid>/<what>, NUL-terminated; false if unreadable. */
static bool proc_read(pid_t pid, const char *what, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    return true;
}

bool dmp_worker_alive(pid_t pid)
{
    char buf[256];
    if (pid <= 0)
        return false;
    if (proc_read(pid, "comm", buf, sizeof(buf)) &&
        strncmp(buf, DMP_WORKER_COMM "\n", sizeof(DMP_WORKER_COMM)) == 0)
        return true;
    /* A dmpd from before the workers ran `dmpctl dmp patch` instead. */
    return proc_read(pid, "cmdline", buf, sizeof(buf)) && strstr(buf, "dmpctl") != NULL;
}

void dmp_worker_last_line(const char *path, char *out, size_t len)
{
    uint8_t *data;
    size_t n;
    out[0] = '\0';
    if (dmp_read_file(path, &data, &n) < 0)
        return;
    char *t = (char *)data;
    while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
        t[--n] = '\0';
    char *nl = strrchr(t, '\n');
    char *cr = strrchr(nl ? nl : t, '\r');   /* progress lines end with \r updates */
    const char *last = cr ? cr + 1 : nl ? nl + 1 : t;
    snprintf(out, len, "%s", last);
    free(data);
}
