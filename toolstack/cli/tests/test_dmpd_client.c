/* The client of dmpd's control socket against a stand-in daemon (a forked child on a socket
 * in a temporary directory): the exit code and body of a good reply, and for every way the
 * exchange can fail the negative errno that says which, with a message. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dmpcli/dmpd.h"
#include "dmpcommon/test.h"

enum behaviour { REPLY, SILENT, GARBAGE };

/* A one-connection daemon: reads the request line, then answers as told. Returns its pid. */
static pid_t serve(const char *path, enum behaviour b, const char *reply)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    unlink(path);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0)
        return -1;
    pid_t pid = fork();
    if (pid != 0) {
        close(lfd);
        return pid;
    }
    int fd = accept(lfd, NULL, NULL);
    char req[256];
    ssize_t n = read(fd, req, sizeof(req) - 1);
    if (b == SILENT) {
        pause();
        _exit(0);
    }
    const char *out = b == GARBAGE ? "twelve\nbody" : reply;
    if (n > 0 && write(fd, out, strlen(out)) < 0)
        _exit(1);
    close(fd);
    _exit(0);
}

static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int main(void)
{
    char dir[] = "/tmp/dmpd-client-XXXXXX", path[64], err[256], *body = NULL;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/sock", dir);

    pid_t pid = serve(path, REPLY, "3\nnothing to do\n");
    CHECK(pid > 0);
    CHECK(dmpd_call(path, "segment list", &body, 5000, err, sizeof(err)) == 3);
    CHECK_STREQ(body, "nothing to do\n");
    free(body);
    body = NULL;
    reap(pid);

    /* No daemon: the socket is gone, or nobody listens on it. */
    err[0] = '\0';
    unlink(path);
    CHECK(dmpd_call(path, "x", &body, 1000, err, sizeof(err)) == -ENOENT);
    CHECK(strstr(err, "cannot reach dmpd") != NULL && body == NULL);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    close(fd);
    CHECK(dmpd_call(path, "x", &body, 1000, err, sizeof(err)) == -ECONNREFUSED);

    /* A daemon that never answers: the deadline holds. */
    pid = serve(path, SILENT, NULL);
    err[0] = '\0';
    CHECK(dmpd_call(path, "x", &body, 300, err, sizeof(err)) == -ETIMEDOUT);
    CHECK(strstr(err, "waiting for dmpd") != NULL);
    reap(pid);

    /* A reply that does not start with an exit code. */
    pid = serve(path, GARBAGE, NULL);
    CHECK(dmpd_call(path, "x", &body, 5000, err, sizeof(err)) == -EPROTO);
    CHECK_STREQ(err, "malformed reply from dmpd");
    reap(pid);

    char longpath[200];
    memset(longpath, 'p', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    CHECK(dmpd_call(longpath, "x", &body, 1000, err, sizeof(err)) == -ENAMETOOLONG);

    /* Where commands find the daemon. */
    unsetenv("DMPD_SOCKET");
    CHECK_STREQ(dmpd_socket_path(), DMPD_DEFAULT_SOCKET);
    setenv("DMPD_SOCKET", "", 1);
    CHECK_STREQ(dmpd_socket_path(), DMPD_DEFAULT_SOCKET);
    setenv("DMPD_SOCKET", path, 1);
    CHECK_STREQ(dmpd_socket_path(), path);

    unlink(path);
    rmdir(dir);
    return DMP_TEST_SUMMARY("dmpd_client");
}
