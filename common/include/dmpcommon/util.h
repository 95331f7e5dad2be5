/* Small helpers shared by every dom0 tool: numbers, sizes, durations, whole files, error
 * messages. Like every library here they return 0 (or a count) on success and a negative errno
 * on failure; none of them leaves its result in errno. */
#ifndef DMP_UTIL_H
#define DMP_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "dmpcommon/clock.h"

/* ---- numbers, sizes, durations (parse.c) ---- */

/* Parse a size such as "512", "64k", "128M", "2g" (binary units, case-insensitive).
 * A bare number is in bytes unless default_unit is given (e.g. 1<<20 for MiB, like xl).
 * Returns 0 and stores bytes, or -EINVAL (not a size) / -ERANGE (above 2^64 bytes). */
int dmp_parse_size(const char *s, uint64_t default_unit, uint64_t *bytes);

/* Parse an unsigned integer (decimal or 0x-hex) that must consume the whole string.
 * Returns 0, -EINVAL or -ERANGE. */
int dmp_parse_u64(const char *s, uint64_t *v);

/* Parse decimal digits only (no sign, space, prefix or suffix; leading zeros are fine), as
 * configuration files write counts. Returns 0, -EINVAL or -ERANGE (above UINT64_MAX). */
int dmp_parse_u64_dec(const char *s, uint64_t *v);

/* Parse a duration: "500ms", "5s", "2m" or "2min", "1h"; a bare number is seconds. At most
 * DMP_DURATION_MAX_DIGITS digits, so every accepted value fits in milliseconds.
 * Returns 0 with *ms, -EINVAL (not a duration) or -ERANGE (too many digits). */
#define DMP_DURATION_MAX_DIGITS 12
int dmp_parse_duration_ms(const char *s, uint64_t *ms);

/* Format bytes as a short human string ("1.5G", "640M", "12k"); returns buf. */
const char *dmp_fmt_size(uint64_t bytes, char *buf, size_t len);

/* ---- whole files (file.c): the errno is the whole story, the caller names the path ---- */

/* Write data to path atomically: temp file in the same directory, fsync, rename,
 * fsync the directory. Either the old or the new contents survive a crash. 0 or -errno. */
int dmp_write_file_atomic(const char *path, const void *data, size_t len);

/* Read a whole file into a malloc'd buffer (NUL-terminated for convenience). 0 or -errno. */
int dmp_read_file(const char *path, uint8_t **data, size_t *len);

/* Create a directory and its parents (mode 0755 for new ones). 0 or -errno. */
int dmp_mkdir_p(const char *path);

/* A daemon's state files (dmpd: one per service under /var/lib/dmp), so that every service
 * loads and saves them alike. Load dir/name: 1 with *text (malloc'd, NUL-terminated) and *len;
 * 0 when there is no such file (a first run: nothing to restore); a negative errno with
 * "cannot read <path>: <reason>" in err. Save dir/name atomically (dmp_write_file_atomic):
 * 0, or a negative errno with "cannot write <path>: <reason>". */
int dmp_state_load(const char *dir, const char *name, char **text, size_t *len, char *err,
                   size_t errlen);
int dmp_state_save(const char *dir, const char *name, const void *data, size_t len, char *err,
                   size_t errlen);

/* ---- messages and configuration lines (util.c) ---- */

/* Format a message into a caller's (err, errlen) buffer (either may be NULL/0) and return rc:
 * lets error paths read "return dmp_errf(err, errlen, -EINVAL, "bad %s", x);". */
int dmp_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int dmp_verrf(char *err, size_t errlen, int rc, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* For dmpd.conf-style "key = value" files, shared by every service's parser so that all of
 * them read the same syntax. Trim leading and trailing whitespace in place (returns the new
 * start); cut a comment: '#' or ';' at the start of the line or after whitespace. */
char *dmp_str_trim(char *s);
void dmp_conf_strip_comment(char *s);

/* The lines of such a file, one at a time, comments and blank lines skipped: "[name]"
 * section headers, "key = value" lines, and what is neither. Each service's parser walks the
 * whole file with it and decides which lines are its own and which problems are errors. */
#define DMP_CONF_LINE_MAX 1023          /* characters in a line, without its newline */

enum dmp_conf_kind {
    DMP_CONF_SECTION,       /* name */
    DMP_CONF_KEY,           /* key, value (trimmed; value may be empty) */
    DMP_CONF_NOT_KEY,       /* text: neither a header nor has it an '=' */
    DMP_CONF_BAD_SECTION,   /* text: starts with '[' but no ']', or more after it */
    DMP_CONF_TOO_LONG,      /* longer than DMP_CONF_LINE_MAX */
    DMP_CONF_NUL,           /* holds a NUL byte */
};

struct dmp_conf_line {
    enum dmp_conf_kind kind;
    uint32_t lineno;        /* counting every line from 1 */
    char *name, *key, *value, *text;
};

struct dmp_conf_reader {
    const char *text;
    size_t len, pos;
    uint32_t lineno;
    char buf[DMP_CONF_LINE_MAX + 1];
};

void dmp_conf_open(struct dmp_conf_reader *r, const char *text, size_t len);
/* The next line that is not blank or only a comment: 1 with *l (its strings point into r and
 * last until the next call), or 0 at the end of the text. */
int dmp_conf_next(struct dmp_conf_reader *r, struct dmp_conf_line *l);

#endif
