#include "dmpcli/dmpd.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

uint64_t dmpd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short ev, uint64_t deadline)
{
    for (;;) {
        uint64_t now = dmpd_now_ms();
        if (now >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = { fd, ev, 0 };
        int r = poll(&p, 1, (int)(deadline - now));
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

int dmpd_call(const char *sock_path, const char *request, char **body, int timeout_ms,
              char *err, size_t errlen)
{
    uint64_t deadline = dmpd_now_ms() + (uint64_t)timeout_ms;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(sock_path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "socket path too long: %s", sock_path);
        return -1;
    }
    strcpy(sa.sun_path, sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        snprintf(err, errlen, "cannot reach dmpd at %s: %s (is dmpd running?)", sock_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    size_t len = strlen(request);
    char *line = malloc(len + 2);
    if (!line) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(line, request, len);
    line[len++] = '\n';
    size_t off = 0;
    while (off < len) {
        ssize_t w;
        if (wait_fd(fd, POLLOUT, deadline) < 0 || (w = write(fd, line + off, len - off)) < 0) {
            snprintf(err, errlen, "sending to dmpd: %s", strerror(errno));
            free(line);
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    free(line);
    shutdown(fd, SHUT_WR);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            close(fd);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (n + 1 >= cap) {
            char *nb = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                close(fd);
                snprintf(err, errlen, "reply from dmpd too large");
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r;
        if (wait_fd(fd, POLLIN, deadline) < 0 || (r = read(fd, buf + n, cap - 1 - n)) < 0) {
            snprintf(err, errlen, "waiting for dmpd: %s", strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    char *nl = strchr(buf, '\n');
    char *end;
    long code = strtol(buf, &end, 10);
    if (!nl || end != nl || code < 0 || code > 255) {
        snprintf(err, errlen, "malformed reply from dmpd");
        free(buf);
        return -1;
    }
    memmove(buf, nl + 1, strlen(nl + 1) + 1);
    *body = buf;
    return (int)code;
}
