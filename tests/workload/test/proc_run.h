/* Run a workload program under test control: its stdout comes back through a pipe
 * (line by line, with deadlines, so the test can play the dom0 agent), its stdin is
 * either /dev/null or a pipe the test writes to, its stderr goes to a temp file that
 * is shown when a check fails. Every wait is bounded; a hung child is killed. */
#ifndef PROC_RUN_H
#define PROC_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct proc {
    pid_t pid;
    int in_fd;                  /* -1 unless spawned with a stdin pipe */
    int out_fd;
    int err_fd;                 /* temp file holding the child's stderr */
    char buf[8192];             /* stdout bytes read but not yet returned as lines */
    size_t len;
    bool eof;
    int status;                 /* wait status once reaped */
    bool reaped;
};

struct proc_opts {
    bool stdin_pipe;
    uint64_t rlimit_as;         /* 0 = inherit */
};

int proc_spawn(struct proc *p, char *const argv[], const struct proc_opts *o);
/* Next stdout line without its '\n'. Returns 1 for a line, 0 at EOF, -1 on timeout/error. */
int proc_read_line(struct proc *p, char *line, size_t cap, int timeout_ms);
/* 1 if stdout has nothing readable within timeout_ms (the child is waiting), else 0. */
int proc_quiet_for(struct proc *p, int timeout_ms);
int proc_write(struct proc *p, const char *s);
void proc_close_stdin(struct proc *p);
/* Wait for exit (killing the child after timeout_ms). Returns the exit code, or
 * -1 if it was killed by a signal or timed out. */
int proc_wait(struct proc *p, int timeout_ms);
/* Copy the child's stderr to our stderr (for failure diagnostics). */
void proc_dump_stderr(struct proc *p, const char *label);
void proc_free(struct proc *p);

/* Run to completion with stdin from /dev/null, collecting all stdout (NUL-terminated,
 * malloc'd). Returns the exit code as proc_wait does. */
int proc_run_all(char *const argv[], const struct proc_opts *o, int timeout_ms, char **out,
                 struct proc *keep);

#endif
