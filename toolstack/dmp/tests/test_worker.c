/* dmpd's worker process (dmp/worker.h): forked, it runs the library operation and leaves its
 * messages where dmpd reads them, worded as `dmpctl dmp profile|patch` words them, with
 * dmpctl's exit status. Here there is no running guest: on a build machine xenstore cannot be
 * reached (exit 1), on a Xen host domain 32000 does not exist (exit 2); either way the failure
 * must come back through the files and the wait status, and the daemon must not block. */
#include "dmp/worker.h"
#include "dmpcommon/clock.h"
#include "dmpcommon/test.h"
#include "dmpcommon/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void run(enum dmp_worker_op op, const char *dir, const char *want_prefix)
{
    char out[300], errp[300];
    snprintf(out, sizeof(out), "%s/%d.json", dir, (int)op);
    snprintf(errp, sizeof(errp), "%s/%d.err", dir, (int)op);
    struct dmp_worker_job job = { .op = op, .domid = 32000, .window_s = 1, .top = 16,
                                  .out_path = out, .err_path = errp };
    struct dmp_worker w;
    char err[256];
    uint64_t t0 = dmp_mono_ms();
    CHECK(dmp_worker_start(&w, &job, t0, t0 + 60000, err, sizeof(err)) == 0);
    CHECK(w.pid > 0);
    int status = 0;
    enum dmp_worker_state st = DMP_WORKER_RUNNING;
    /* Polled, as the daemon's tick does: no call blocks. */
    for (int i = 0; i < 3000 && st == DMP_WORKER_RUNNING; i++) {
        st = dmp_worker_poll(&w, dmp_mono_ms(), &status);
        if (st == DMP_WORKER_RUNNING)
            usleep(10000);
    }
    CHECK(st == DMP_WORKER_EXITED);
    CHECK(WIFEXITED(status));
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    CHECK(code == 1 || code == 2);
    char last[256];
    dmp_worker_last_line(errp, last, sizeof(last));
    CHECK(strncmp(last, want_prefix, strlen(want_prefix)) == 0);
    if (strncmp(last, want_prefix, strlen(want_prefix)) != 0)
        fprintf(stderr, "  last line: '%s'\n", last);
    uint8_t *data;
    size_t len;
    CHECK(dmp_read_file(out, &data, &len) == 0 && len == 0);   /* no report on failure */
    if (len == 0)
        free(data);
    CHECK(!dmp_worker_alive(w.pid));   /* reaped */
    unlink(out);
    unlink(errp);
}

static void test_last_line(const char *dir)
{
    char path[300], last[64];
    snprintf(path, sizeof(path), "%s/progress.err", dir);
    /* The profiler's progress line rewrites itself with \r. */
    const char *text = "\rdmpctl dmp profile: g (3):   1/5 s\rdmpctl dmp profile: g (3):   2/5 s\n"
                       "dmpctl dmp profile: cannot read the profile\n\n";
    CHECK(dmp_write_file_atomic(path, text, strlen(text)) == 0);
    dmp_worker_last_line(path, last, sizeof(last));
    CHECK_STREQ(last, "dmpctl dmp profile: cannot read the profile");
    const char *prog = "x\rdmpctl dmp profile: g (3):   2/5 s";
    CHECK(dmp_write_file_atomic(path, prog, strlen(prog)) == 0);
    dmp_worker_last_line(path, last, sizeof(last));
    CHECK_STREQ(last, "dmpctl dmp profile: g (3):   2/5 s");
    unlink(path);
    dmp_worker_last_line(path, last, sizeof(last));
    CHECK_STREQ(last, "");
}

int main(void)
{
    char dir[] = "/tmp/test_worker.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    run(DMP_WORKER_PATCH, dir, "dmpctl dmp patch: ");
    run(DMP_WORKER_PROFILE, dir, "dmpctl dmp profile: ");
    test_last_line(dir);
    /* Not a worker: this test, init. */
    CHECK(!dmp_worker_alive(getpid()));
    CHECK(!dmp_worker_alive(1));
    CHECK(!dmp_worker_alive(0));
    /* Files that cannot be opened are the start's failure, in the daemon. */
    struct dmp_worker w;
    char err[256];
    struct dmp_worker_job job = { .op = DMP_WORKER_PATCH, .domid = 1,
                                  .out_path = "/nonexistent/dir/x.json", .err_path = "/nonexistent/x" };
    CHECK(dmp_worker_start(&w, &job, 0, 1, err, sizeof(err)) == -ENOENT);
    CHECK(strncmp(err, "cannot open /nonexistent/dir/x.json: ", 37) == 0);
    CHECK(w.pid == 0);
    rmdir(dir);
    return DMP_TEST_SUMMARY("worker");
}
