/* A minimal path reader for the JSON reports of the DMP operations (dmp/json_path.h). The
 * documents are our own, small (a profile with --top 256 is a few tens of KiB) and already
 * checked with dmp_json_validate by the caller, so this walks the text instead of building a
 * tree; it still stops at the end of the buffer and at malformed input rather than trusting
 * it. */
#include "dmp/json_path.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define JR_MAX_DEPTH 64

static const char *ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at a '"': returns the position after the closing quote, or NULL. */
static const char *skip_string(const char *p, const char *e)
{
    for (p++; p < e; p++) {
        if (*p == '\\') {
            p++;
            continue;
        }
        if (*p == '"')
            return p + 1;
    }
    return NULL;
}

static const char *skip_value(const char *p, const char *e, int depth)
{
    p = ws(p, e);
    if (p >= e || depth > JR_MAX_DEPTH)
        return NULL;
    if (*p == '"')
        return skip_string(p, e);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        bool obj = *p == '{';
        p = ws(p + 1, e);
        if (p < e && *p == close)
            return p + 1;
        while (p < e) {
            if (obj) {
                p = ws(p, e);
                if (p >= e || *p != '"' || !(p = skip_string(p, e)))
                    return NULL;
                p = ws(p, e);
                if (p >= e || *p != ':')
                    return NULL;
                p++;
            }
            if (!(p = skip_value(p, e, depth + 1)))
                return NULL;
            p = ws(p, e);
            if (p >= e)
                return NULL;
            if (*p == close)
                return p + 1;
            if (*p != ',')
                return NULL;
            p++;
        }
        return NULL;
    }
    /* number, true, false, null */
    const char *s = p;
    while (p < e && (isalnum((unsigned char)*p) || *p == '-' || *p == '+' || *p == '.'))
        p++;
    return p > s ? p : NULL;
}

/* p at a value inside an object or array: the start of the next one, or NULL after the last
 * or at malformed input. */
static const char *next_item(const char *p, const char *e)
{
    if (!(p = skip_value(p, e, 1)))
        return NULL;
    p = ws(p, e);
    if (p >= e || *p != ',')
        return NULL;
    return ws(p + 1, e);
}

/* Within the value at p (object), find member key (klen bytes); returns its value start. */
static const char *member(const char *p, const char *e, const char *key, size_t klen)
{
    p = ws(p, e);
    if (p >= e || *p != '{')
        return NULL;
    p = ws(p + 1, e);
    while (p < e && *p == '"') {
        const char *ks = p + 1, *ke = skip_string(p, e);
        if (!ke)
            return NULL;
        p = ws(ke, e);
        if (p >= e || *p != ':')
            return NULL;
        p = ws(p + 1, e);
        if ((size_t)(ke - 1 - ks) == klen && memcmp(ks, key, klen) == 0)
            return p;
        if (!(p = next_item(p, e)))
            return NULL;
    }
    return NULL;
}

static const char *element(const char *p, const char *e, unsigned long idx)
{
    p = ws(p, e);
    if (p >= e || *p != '[')
        return NULL;
    p = ws(p + 1, e);
    if (p < e && *p == ']')
        return NULL;
    for (unsigned long i = 0; p < e; i++) {
        if (i == idx)
            return p;
        if (!(p = next_item(p, e)))
            return NULL;
    }
    return NULL;
}

int dmp_jr_find(const char *json, size_t len, const char *path, const char **v, size_t *vlen)
{
    const char *p = json, *e = json + len;
    const char *q = path;
    while (*q) {
        if (*q == '.') {
            q++;
            continue;
        }
        if (*q == '[') {
            char *end;
            errno = 0;
            unsigned long idx = strtoul(q + 1, &end, 10);
            if (errno || end == q + 1 || *end != ']')
                return -ENOENT;
            if (!(p = element(p, e, idx)))
                return -ENOENT;
            q = end + 1;
            continue;
        }
        size_t kl = strcspn(q, ".[");
        if (!(p = member(p, e, q, kl)))
            return -ENOENT;
        q += kl;
    }
    p = ws(p, e);
    const char *end = skip_value(p, e, 0);
    if (!end)
        return -ENOENT;
    *v = p;
    *vlen = (size_t)(end - p);
    return 0;
}

/* The value at path copied into buf (NUL-terminated): -ENOENT if absent, -EINVAL if longer
 * than buf allows. */
static int scalar(const char *json, size_t len, const char *path, char *buf, size_t buflen)
{
    const char *v;
    size_t vl;
    int rc = dmp_jr_find(json, len, path, &v, &vl);
    if (rc)
        return rc;
    if (vl == 0 || vl >= buflen)
        return -EINVAL;
    memcpy(buf, v, vl);
    buf[vl] = '\0';
    return 0;
}

/* A number at path: its text in buf, starting like one (a sign only where allowed); errno
 * cleared for the conversion that follows. */
static int number(const char *json, size_t len, const char *path, bool sign, char *buf,
                  size_t buflen)
{
    int rc = scalar(json, len, path, buf, buflen);
    if (rc)
        return rc;
    if (!isdigit((unsigned char)buf[0]) && !(sign && buf[0] == '-'))
        return -EINVAL;
    errno = 0;
    return 0;
}

int dmp_jr_u64(const char *json, size_t len, const char *path, uint64_t *out)
{
    char buf[32], *end;
    int rc = number(json, len, path, false, buf, sizeof(buf));
    unsigned long long x = rc ? 0 : strtoull(buf, &end, 10);
    if (rc || errno || *end)
        return rc ? rc : -EINVAL;
    *out = x;
    return 0;
}

int dmp_jr_double(const char *json, size_t len, const char *path, double *out)
{
    char buf[64], *end;
    int rc = number(json, len, path, true, buf, sizeof(buf));
    double x = rc ? 0 : strtod(buf, &end);
    if (rc || errno || *end)
        return rc ? rc : -EINVAL;
    *out = x;
    return 0;
}

int dmp_jr_bool(const char *json, size_t len, const char *path, bool *out)
{
    char buf[8];
    int rc = scalar(json, len, path, buf, sizeof(buf));
    if (rc)
        return rc;
    if (strcmp(buf, "true") == 0)
        *out = true;
    else if (strcmp(buf, "false") == 0)
        *out = false;
    else
        return -EINVAL;
    return 0;
}

int dmp_jr_str(const char *json, size_t len, const char *path, char *out, size_t outlen)
{
    const char *v;
    size_t vl;
    int rc = dmp_jr_find(json, len, path, &v, &vl);
    if (rc)
        return rc;
    if (vl < 2 || v[0] != '"' || memchr(v, '\\', vl) || vl - 2 >= outlen)
        return -EINVAL;
    memcpy(out, v + 1, vl - 2);
    out[vl - 2] = '\0';
    return 0;
}
