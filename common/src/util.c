#include "dmpcommon/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int dmp_parse_u64(const char *s, uint64_t *v)
{
    if (!s || !*s || *s == '-' || isspace((unsigned char)*s)) {
        errno = EINVAL;
        return -1;
    }
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (errno == ERANGE)
        return -1;
    if (*end != '\0') {
        errno = EINVAL;
        return -1;
    }
    *v = x;
    return 0;
}

int dmp_parse_size(const char *s, uint64_t default_unit, uint64_t *bytes)
{
    if (!s || !isdigit((unsigned char)*s)) {
        errno = EINVAL;
        return -1;
    }
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -1;
    uint64_t unit = default_unit ? default_unit : 1;
    if (*end) {
        switch (tolower((unsigned char)*end)) {
        case 'b': unit = 1; break;
        case 'k': unit = 1ULL << 10; break;
        case 'm': unit = 1ULL << 20; break;
        case 'g': unit = 1ULL << 30; break;
        case 't': unit = 1ULL << 40; break;
        default: errno = EINVAL; return -1;
        }
        end++;
        /* Accept "K", "KiB", "kB" style suffixes, nothing else. */
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'b' || *end == 'B')
            end++;
        if (*end) {
            errno = EINVAL;
            return -1;
        }
    }
    if (n > UINT64_MAX / unit) {
        errno = ERANGE;
        return -1;
    }
    *bytes = n * unit;
    return 0;
}

const char *dmp_fmt_size(uint64_t bytes, char *buf, size_t len)
{
    static const char units[] = "kMGT";
    if (bytes < 1024) {
        snprintf(buf, len, "%" PRIu64, bytes);
        return buf;
    }
    double v = (double)bytes;
    int u = -1;
    while (v >= 1024.0 && u < 3) {
        v /= 1024.0;
        u++;
    }
    if (v == (double)(uint64_t)v)
        snprintf(buf, len, "%" PRIu64 "%c", (uint64_t)v, units[u]);
    else
        snprintf(buf, len, "%.1f%c", v, units[u]);
    return buf;
}

static int fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    free(copy);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int dmp_write_file_atomic(const char *path, const void *data, size_t len)
{
    size_t plen = strlen(path) + 16;
    char *tmp = malloc(plen);
    if (!tmp)
        return -1;
    snprintf(tmp, plen, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        free(tmp);
        return -1;
    }
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fchmod(fd, 0644) < 0 || fsync(fd) < 0)
        goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto fail;
    free(tmp);
    return fsync_dir_of(path);
fail:;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    errno = saved;
    return -1;
}

int dmp_read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return -1;
    }
    for (;;) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) {
            if (ferror(f)) {
                int saved = errno;
                free(buf);
                fclose(f);
                errno = saved ? saved : EIO;
                return -1;
            }
            break;
        }
        uint8_t *nb = realloc(buf, cap * 2 + 1);
        if (!nb) {
            free(buf);
            fclose(f);
            errno = ENOMEM;
            return -1;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

int dmp_verrf(char *err, size_t errlen, int rc, const char *fmt, va_list ap)
{
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    return rc;
}

int dmp_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dmp_verrf(err, errlen, rc, fmt, ap);
    va_end(ap);
    return rc;
}

int dmp_mkdir_p(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    for (char *p = copy + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
                free(copy);
                return -1;
            }
            *p = saved;
            if (!saved)
                break;
        }
    }
    free(copy);
    return 0;
}

char *dmp_str_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

void dmp_conf_strip_comment(char *s)
{
    for (char *p = s; *p; p++) {
        if ((*p == '#' || *p == ';') && (p == s || isspace((unsigned char)p[-1]))) {
            *p = '\0';
            return;
        }
    }
}

void dmp_sleep_ms(uint64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}
