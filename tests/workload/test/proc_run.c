#include "proc_run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dmpcommon/clock.h"

int proc_spawn(struct proc *p, char *const argv[], const struct proc_opts *o)
{
    memset(p, 0, sizeof *p);
    p->in_fd = p->out_fd = p->err_fd = -1;
    int in[2] = { -1, -1 }, out[2];
    char tmpl[] = "/tmp/wl-stderr-XXXXXX";
    p->err_fd = mkstemp(tmpl);
    if (p->err_fd < 0)
        return -1;
    unlink(tmpl);
    if (pipe2(out, O_CLOEXEC) != 0)
        return -1;
    if (o->stdin_pipe && pipe2(in, O_CLOEXEC) != 0)
        return -1;
    fflush(NULL);
    p->pid = fork();
    if (p->pid < 0)
        return -1;
    if (p->pid == 0) {
        int nul = open("/dev/null", O_RDONLY);
        if (dup2(o->stdin_pipe ? in[0] : nul, 0) < 0 || dup2(out[1], 1) < 0 ||
            dup2(p->err_fd, 2) < 0)
            _exit(125);
        if (o->rlimit_as) {
            struct rlimit rl = { o->rlimit_as, o->rlimit_as };
            if (setrlimit(RLIMIT_AS, &rl) != 0)
                _exit(125);
        }
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(124);
    }
    close(out[1]);
    p->out_fd = out[0];
    if (o->stdin_pipe) {
        close(in[0]);
        p->in_fd = in[1];
    }
    return 0;
}

int proc_read_line(struct proc *p, char *line, size_t cap, int timeout_ms)
{
    uint64_t deadline = dmp_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        char *nl = memchr(p->buf, '\n', p->len);
        if (nl || (p->eof && p->len) || p->len == sizeof p->buf) {
            size_t n = nl ? (size_t)(nl - p->buf) : p->len;
            size_t c = n < cap - 1 ? n : cap - 1;
            memcpy(line, p->buf, c);
            line[c] = '\0';
            size_t used = nl ? n + 1 : n;
            memmove(p->buf, p->buf + used, p->len - used);
            p->len -= used;
            return 1;
        }
        if (p->eof)
            return 0;
        uint64_t t = dmp_mono_ms();
        if (t >= deadline)
            return -1;
        struct pollfd pfd = { .fd = p->out_fd, .events = POLLIN };
        int r = poll(&pfd, 1, (int)(deadline - t));
        if (r < 0 && errno != EINTR)
            return -1;
        if (r <= 0)
            continue;
        ssize_t n = read(p->out_fd, p->buf + p->len, sizeof p->buf - p->len);
        if (n < 0 && errno != EINTR)
            return -1;
        if (n == 0)
            p->eof = true;
        if (n > 0)
            p->len += (size_t)n;
    }
}

int proc_quiet_for(struct proc *p, int timeout_ms)
{
    if (p->len)
        return 0;
    struct pollfd pfd = { .fd = p->out_fd, .events = POLLIN };
    return poll(&pfd, 1, timeout_ms) == 0;
}

int proc_write(struct proc *p, const char *s)
{
    size_t n = strlen(s);
    return write(p->in_fd, s, n) == (ssize_t)n ? 0 : -1;
}

void proc_close_stdin(struct proc *p)
{
    if (p->in_fd >= 0)
        close(p->in_fd);
    p->in_fd = -1;
}

int proc_wait(struct proc *p, int timeout_ms)
{
    uint64_t deadline = dmp_mono_ms() + (uint64_t)timeout_ms;
    while (!p->reaped) {
        pid_t r = waitpid(p->pid, &p->status, WNOHANG);
        if (r == p->pid) {
            p->reaped = true;
            break;
        }
        if (r < 0)
            return -1;
        if (dmp_mono_ms() >= deadline) {
            fprintf(stderr, "child %d did not exit within %d ms: killing it\n", (int)p->pid,
                    timeout_ms);
            kill(p->pid, SIGKILL);
            if (waitpid(p->pid, &p->status, 0) == p->pid)
                p->reaped = true;
            return -1;
        }
        struct timespec ts = { 0, 5 * 1000000 };
        nanosleep(&ts, NULL);
    }
    return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1;
}

void proc_dump_stderr(struct proc *p, const char *label)
{
    char buf[4096];
    ssize_t n = pread(p->err_fd, buf, sizeof buf - 1, 0);
    if (n > 0) {
        buf[n] = '\0';
        fprintf(stderr, "--- stderr of %s ---\n%s--- end ---\n", label, buf);
    }
}

void proc_free(struct proc *p)
{
    proc_close_stdin(p);
    if (p->out_fd >= 0)
        close(p->out_fd);
    if (p->err_fd >= 0)
        close(p->err_fd);
    p->out_fd = p->err_fd = -1;
    if (!p->reaped && p->pid > 0)
        (void)proc_wait(p, 5000);
}

int proc_run_all(char *const argv[], const struct proc_opts *o, int timeout_ms, char **out,
                 struct proc *p)
{
    *out = NULL;
    if (proc_spawn(p, argv, o) != 0)
        return -1;
    size_t cap = 65536, len = 0;
    char *acc = malloc(cap);
    char line[4096];
    uint64_t deadline = dmp_mono_ms() + (uint64_t)timeout_ms;
    int r;
    while (acc) {
        uint64_t t = dmp_mono_ms();
        r = proc_read_line(p, line, sizeof line, t < deadline ? (int)(deadline - t) : 0);
        if (r <= 0)
            break;
        size_t n = strlen(line);
        if (len + n + 2 > cap) {
            cap = (len + n + 2) * 2;
            char *g = realloc(acc, cap);
            if (!g) {
                free(acc);
                acc = NULL;
                break;
            }
            acc = g;
        }
        memcpy(acc + len, line, n);
        len += n;
        acc[len++] = '\n';
    }
    if (acc)
        acc[len] = '\0';
    *out = acc;
    uint64_t t = dmp_mono_ms();
    return proc_wait(p, t < deadline ? (int)(deadline - t) : 1);
}
