/* JSON reader, the writer's counterpart (json.h): for text we did not write ourselves in this
 * process — a command's --json report, a workload's console line, a state file. The whole text
 * is parsed at once into a read-only tree, or refused with the offset of the first error, so a
 * caller never acts on half a document.
 *
 * Safe on hostile input: the text need not be NUL-terminated and is never read past len;
 * nesting is bounded (DMP_JSON_MAX_DEPTH, like the writer and dmp_json_validate); time and
 * memory are linear in len (at most about 24 bytes per byte of input). The grammar is exactly
 * the one dmp_json_validate accepts (RFC 8259; duplicate keys allowed, lookups see the first).
 *
 * Strings come back unescaped as UTF-8 (an unpaired surrogate escape becomes U+FFFD) and
 * NUL-terminated; a "\u0000" inside makes dmp_jstr_copy refuse the string. Numbers are kept as
 * their literal and converted on request, exactly: int64, uint64 or double.
 *
 *   struct dmp_jdoc *doc;
 *   if (dmp_jdoc_parse(text, len, &doc, err, sizeof(err)) < 0) ...;
 *   uint64_t n;
 *   if (dmp_ju64(dmp_jpath(dmp_jroot(doc), "totals.pt_write"), &n) < 0) ...;
 *   dmp_jdoc_free(doc);
 *
 * Every accessor takes NULL for "absent", so lookups chain without checks in between. */
#ifndef DMP_JSON_READ_H
#define DMP_JSON_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dmp_jtype {
    DMP_JNONE = 0,      /* no value: a NULL handle (a missing member or element) */
    DMP_JNULL,
    DMP_JBOOL,
    DMP_JNUM,
    DMP_JSTR,
    DMP_JARR,
    DMP_JOBJ,
};

struct dmp_jdoc;        /* a parsed document: one allocation */
struct dmp_jval;        /* a value inside it, valid until dmp_jdoc_free */

/* Parse exactly one JSON value spanning text[0, len) (whitespace around it allowed).
 * Returns 0 with *doc set, -EINVAL with "offset N: what was wrong" in err, or -ENOMEM. */
int dmp_jdoc_parse(const char *text, size_t len, struct dmp_jdoc **doc, char *err, size_t errlen);
void dmp_jdoc_free(struct dmp_jdoc *doc);
const struct dmp_jval *dmp_jroot(const struct dmp_jdoc *doc);

enum dmp_jtype dmp_jtype(const struct dmp_jval *v);
/* Members of an object or elements of an array; 0 for anything else. */
size_t dmp_jcount(const struct dmp_jval *v);
/* The first member of object obj named key (NULL: none, or obj is not an object). */
const struct dmp_jval *dmp_jget(const struct dmp_jval *obj, const char *key);
/* Element i of array arr (NULL: out of range, or arr is not an array). */
const struct dmp_jval *dmp_jat(const struct dmp_jval *arr, size_t i);
/* Children in order: first member/element of v, then the sibling after it (NULL at the end). */
const struct dmp_jval *dmp_jfirst(const struct dmp_jval *v);
const struct dmp_jval *dmp_jnext(const struct dmp_jval *v);
/* The name of member v (NULL for array elements and the root). A name holding "\u0000" reads
 * as its part before the NUL here, and dmp_jget never finds it. */
const char *dmp_jkey(const struct dmp_jval *v);
/* Follow a path of member names and [index]es from v: "totals.pt_write", "entries[3].rip",
 * "[0]". Names end at '.' or '[' (use dmp_jget for names holding those). NULL if any step is
 * missing or the path is malformed. */
const struct dmp_jval *dmp_jpath(const struct dmp_jval *v, const char *path);

/* Typed reads: 0 and *out; -ENOENT for a NULL v; -EINVAL for another type (or, for the integer
 * reads, a number with a fraction or an exponent); -ERANGE when the number does not fit (a
 * negative one for dmp_ju64, beyond DBL_MAX for dmp_jdouble). *out is untouched on error. */
int dmp_jbool(const struct dmp_jval *v, bool *out);
int dmp_ji64(const struct dmp_jval *v, int64_t *out);
int dmp_ju64(const struct dmp_jval *v, uint64_t *out);
int dmp_jdouble(const struct dmp_jval *v, double *out);
/* A string's unescaped text (NUL-terminated) and its length in bytes; NULL / 0 if v is not a
 * string. */
const char *dmp_jstr(const struct dmp_jval *v);
size_t dmp_jstrlen(const struct dmp_jval *v);
/* Copy a string into buf: its length, or -ENOENT / -EINVAL (not a string, or it holds a NUL) /
 * -ERANGE (it does not fit in cap bytes with its NUL). */
int dmp_jstr_copy(const struct dmp_jval *v, char *buf, size_t cap);
/* A number's literal as it stood in the text ("-1.5e3"); NULL if v is not a number. */
const char *dmp_jnum_text(const struct dmp_jval *v);

#endif
