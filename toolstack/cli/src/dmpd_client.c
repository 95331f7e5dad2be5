/* The client side of dmpd's control socket (dmpcli/dmpd.h). */
#include "dmpcli/dmpd.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dmpcommon/clock.h"
#include "dmpcommon/util.h"

const char *dmpd_socket_path(void)
{
    const char *s = getenv("DMPD_SOCKET");
    return s && *s ? s : DMPD_DEFAULT_SOCKET;
}

/* 0 when fd is ready for ev, or a negative errno (-ETIMEDOUT at the deadline). */
static int wait_fd(int fd, short ev, uint64_t deadline)
{
    for (;;) {
        uint64_t now = dmp_mono_ms();
        if (now >= deadline)
            return -ETIMEDOUT;
        struct pollfd p = { fd, ev, 0 };
        int r = poll(&p, 1, (int)(deadline - now));
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -errno;
    }
}

static int send_line(int fd, const char *request, uint64_t deadline, char *err, size_t errlen)
{
    size_t len = strlen(request);
    char *line = malloc(len + 2);
    if (!line)
        return dmp_errf(err, errlen, -ENOMEM, "out of memory");
    memcpy(line, request, len);
    line[len++] = '\n';
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0;) {
        ssize_t w = 0;
        if ((rc = wait_fd(fd, POLLOUT, deadline)) == 0 && (w = write(fd, line + off, len - off)) < 0)
            rc = -errno;
        if (rc)
            dmp_errf(err, errlen, rc, "sending to dmpd: %s", strerror(-rc));
        else
            off += (size_t)w;
    }
    free(line);
    return rc;
}

/* The whole reply, NUL-terminated, in *out (malloc'd). */
static int read_reply(int fd, uint64_t deadline, char **out, size_t *outlen, char *err, size_t errlen)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return dmp_errf(err, errlen, -ENOMEM, "out of memory");
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                return dmp_errf(err, errlen, cap < (64u << 20) ? -ENOMEM : -EMSGSIZE,
                                "reply from dmpd too large");
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = 0;
        int rc = wait_fd(fd, POLLIN, deadline);
        if (rc == 0 && (r = read(fd, buf + n, cap - 1 - n)) < 0)
            rc = -errno;
        if (rc) {
            free(buf);
            return dmp_errf(err, errlen, rc, "waiting for dmpd: %s", strerror(-rc));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *out = buf;
    *outlen = n;
    return 0;
}

int dmpd_call(const char *sock_path, const char *request, char **body, int timeout_ms,
              char *err, size_t errlen)
{
    uint64_t deadline = dmp_mono_ms() + (uint64_t)timeout_ms;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(sock_path) >= sizeof(sa.sun_path))
        return dmp_errf(err, errlen, -ENAMETOOLONG, "socket path too long: %s", sock_path);
    strcpy(sa.sun_path, sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return dmp_errf(err, errlen, -e, "cannot reach dmpd at %s: %s (is dmpd running?)", sock_path,
                        strerror(e));
    }
    int rc = send_line(fd, request, deadline, err, errlen);
    if (rc) {
        close(fd);
        return rc;
    }
    shutdown(fd, SHUT_WR);
    char *buf = NULL;
    size_t n = 0;
    rc = read_reply(fd, deadline, &buf, &n, err, errlen);
    close(fd);
    if (rc)
        return rc;
    char *nl = strchr(buf, '\n');
    char *end;
    long code = strtol(buf, &end, 10);
    if (!nl || end != nl || code < 0 || code > 255) {
        free(buf);
        return dmp_errf(err, errlen, -EPROTO, "malformed reply from dmpd");
    }
    memmove(buf, nl + 1, strlen(nl + 1) + 1);
    *body = buf;
    return (int)code;
}
