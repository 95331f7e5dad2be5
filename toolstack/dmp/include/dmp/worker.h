/* dmpd's automatic DMP runs each profile and patch in a worker: a child process forked from
 * the daemon that calls the library (dmp_profile_run, dmp_patch) and writes the operation's
 * JSON report (dmp/report.h, the same document `dmpctl dmp profile|patch --json` prints) to
 * one file and its messages (as dmpctl would print them: "dmpctl dmp patch: ...") to another,
 * and exits with dmpctl's exit status for the outcome. The daemon stays single-threaded and
 * keeps ticking: it polls the worker, sends SIGTERM at the deadline (the profiler turns
 * profiling off on it) and SIGKILL a grace period later; a crash or a hang of the work costs
 * that operation only. */
#ifndef DMP_WORKER_H
#define DMP_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum dmp_worker_op { DMP_WORKER_PROFILE, DMP_WORKER_PATCH };

struct dmp_worker_job {
    enum dmp_worker_op op;
    uint32_t domid;
    unsigned window_s;           /* profile: the window */
    size_t top;                  /* profile: entries in the report */
    const char *hot_file;        /* patch: the sites in this file; NULL: all-mmu */
    const char *out_path;        /* the report */
    const char *err_path;        /* the messages */
};

struct dmp_worker {
    pid_t pid;                   /* 0: none */
    uint64_t start, deadline, kill_at;   /* monotonic ms */
    bool term_sent, timed_out;
};

#define DMP_WORKER_TERM_GRACE_MS 5000   /* after SIGTERM, SIGKILL follows this much later */
#define DMP_WORKER_COMM "dmpd-worker"   /* the worker's process name (/proc/<pid>/comm) */

/* Fork a worker for job, to be done by deadline_ms (monotonic). 0, or -errno with a message
 * (the files cannot be opened, no process). */
int dmp_worker_start(struct dmp_worker *w, const struct dmp_worker_job *job, uint64_t now_ms,
                     uint64_t deadline_ms, char *err, size_t errlen);

enum dmp_worker_state {
    DMP_WORKER_RUNNING,
    DMP_WORKER_EXITED,           /* *status is its wait status */
    DMP_WORKER_DEADLINE,         /* over its deadline: SIGTERM sent just now */
    DMP_WORKER_LOST,             /* waitpid failed (errno set): someone else reaped it */
};
/* Without blocking: has it ended, is it over its deadline (SIGTERM; SIGKILL after the grace
 * period)? After EXITED and LOST the caller clears w->pid. */
enum dmp_worker_state dmp_worker_poll(struct dmp_worker *w, uint64_t now_ms, int *status);
/* SIGTERM, a bounded wait (5 s), then SIGKILL; reaps it. */
void dmp_worker_stop(struct dmp_worker *w);

/* Whether pid is a worker still running (or the dmpctl an older dmpd started): a restarted
 * daemon waits for the patch its predecessor left running. */
bool dmp_worker_alive(pid_t pid);

/* The last non-empty line of a worker's messages (its error), "" if none. */
void dmp_worker_last_line(const char *path, char *out, size_t len);

#endif
