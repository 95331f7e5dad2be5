/* Whole files: atomic replacement, reading, directories, and the files a daemon keeps in its
 * state directory. Every function returns 0 (or a count) or a negative errno. */
#include "dmpcommon/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    free(copy);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int dmp_write_file_atomic(const char *path, const void *data, size_t len)
{
    size_t plen = strlen(path) + 16;
    char *tmp = malloc(plen);
    if (!tmp)
        return -ENOMEM;
    snprintf(tmp, plen, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return -e;
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
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return -e;
}

int dmp_read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return -ENOMEM;
    }
    for (;;) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) {
            if (ferror(f)) {
                int e = errno ? errno : EIO;
                free(buf);
                fclose(f);
                return -e;
            }
            break;
        }
        uint8_t *nb = realloc(buf, cap * 2 + 1);
        if (!nb) {
            free(buf);
            fclose(f);
            return -ENOMEM;
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

int dmp_mkdir_p(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    for (char *p = copy + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
                int e = errno;
                free(copy);
                return -e;
            }
            *p = saved;
            if (!saved)
                break;
        }
    }
    free(copy);
    return 0;
}

static int state_path(const char *dir, const char *name, char **path)
{
    if (asprintf(path, "%s/%s", dir, name) < 0) {
        *path = NULL;
        return -ENOMEM;
    }
    return 0;
}

int dmp_state_load(const char *dir, const char *name, char **text, size_t *len, char *err,
                   size_t errlen)
{
    char *path;
    if (state_path(dir, name, &path) < 0)
        return dmp_errf(err, errlen, -ENOMEM, "out of memory");
    uint8_t *data;
    int rc = dmp_read_file(path, &data, len);
    if (rc == 0) {
        *text = (char *)data;
        rc = 1;
    } else if (rc == -ENOENT) {
        rc = 0;     /* a first run */
    } else {
        dmp_errf(err, errlen, rc, "cannot read %s: %s", path, strerror(-rc));
    }
    free(path);
    return rc;
}

int dmp_state_save(const char *dir, const char *name, const void *data, size_t len, char *err,
                   size_t errlen)
{
    char *path;
    if (state_path(dir, name, &path) < 0)
        return dmp_errf(err, errlen, -ENOMEM, "out of memory");
    int rc = dmp_write_file_atomic(path, data, len);
    if (rc < 0)
        dmp_errf(err, errlen, rc, "cannot write %s: %s", path, strerror(-rc));
    free(path);
    return rc;
}
