/* Small helpers shared by every dom0 tool: sizes, numbers, atomic files. */
#ifndef DMP_UTIL_H
#define DMP_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Parse a size such as "512", "64k", "128M", "2g" (binary units, case-insensitive).
 * A bare number is in bytes unless default_unit is given (e.g. 1<<20 for MiB, like xl).
 * Returns 0 and stores bytes, or -1 with errno=EINVAL/ERANGE. */
int dmp_parse_size(const char *s, uint64_t default_unit, uint64_t *bytes);

/* Parse an unsigned integer (decimal or 0x-hex) that must consume the whole string. */
int dmp_parse_u64(const char *s, uint64_t *v);

/* Format bytes as a short human string ("1.5G", "640M", "12k"); returns buf. */
const char *dmp_fmt_size(uint64_t bytes, char *buf, size_t len);

/* Write data to path atomically: temp file in the same directory, fsync, rename,
 * fsync the directory. Either the old or the new contents survive a crash. */
int dmp_write_file_atomic(const char *path, const void *data, size_t len);

/* Read a whole file into a malloc'd buffer (NUL-terminated for convenience). */
int dmp_read_file(const char *path, uint8_t **data, size_t *len);

/* Format a message into a caller's (err, errlen) buffer (either may be NULL/0) and return rc:
 * lets error paths read "return dmp_errf(err, errlen, -EINVAL, "bad %s", x);". */
int dmp_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int dmp_verrf(char *err, size_t errlen, int rc, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* Sleep ms milliseconds, resuming after a signal handler interrupts it. */
void dmp_sleep_ms(uint64_t ms);

/* Create a directory and its parents (mode 0755 for new ones). */
int dmp_mkdir_p(const char *path);

/* For dmpd.conf-style "key = value" files, shared by every service's parser so that all of
 * them read the same syntax. Trim leading and trailing whitespace in place (returns the new
 * start); cut a comment: '#' or ';' at the start of the line or after whitespace. */
char *dmp_str_trim(char *s);
void dmp_conf_strip_comment(char *s);

#endif
