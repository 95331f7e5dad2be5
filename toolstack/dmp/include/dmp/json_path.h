/* A minimal JSON reader: the value at a path ("a.b", "entries[3].rip") in a document that
 * dmp_json_validate accepts, for reading the operations' reports back (dmp/report.h).
 * Issue 17 puts one JSON reader in common/ beside the writer; when it is there, this file
 * and src/json_path.c go and report.c includes common's instead. */
#ifndef DMP_JSON_PATH_H
#define DMP_JSON_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 0 with [*v, *v + *vlen) the value's text (strings with their quotes); -ENOENT if the path is
 * absent or the document is malformed on the way. */
int dmp_jr_find(const char *json, size_t len, const char *path, const char **v, size_t *vlen);
/* Typed values: -ENOENT if absent, -EINVAL if the value is not of the type. */
int dmp_jr_u64(const char *json, size_t len, const char *path, uint64_t *out);
int dmp_jr_double(const char *json, size_t len, const char *path, double *out);
int dmp_jr_bool(const char *json, size_t len, const char *path, bool *out);
/* String value without escapes (a string with a backslash is refused: -EINVAL). */
int dmp_jr_str(const char *json, size_t len, const char *path, char *out, size_t outlen);

#endif
