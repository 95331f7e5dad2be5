/* A minimal path reader for the JSON that dmpctl prints (dmp_auto.h). The documents are our
 * own, small (a profile with --top 64 is a few KiB) and already checked with
 * dmp_json_validate by the caller, so this walks the text instead of building a tree; it still
 * stops at the end of the buffer and at malformed input rather than trusting it. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dmp/auto.h"
#include "dmpcommon/json.h"

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
        if (!(p = skip_value(p, e, 1)))
            return NULL;
        p = ws(p, e);
        if (p >= e || *p != ',')
            return NULL;
        p = ws(p + 1, e);
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
        if (!(p = skip_value(p, e, 1)))
            return NULL;
        p = ws(p, e);
        if (p >= e || *p != ',')
            return NULL;
        p = ws(p + 1, e);
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
                return -1;
            if (!(p = element(p, e, idx)))
                return -1;
            q = end + 1;
            continue;
        }
        size_t kl = strcspn(q, ".[");
        if (!(p = member(p, e, q, kl)))
            return -1;
        q += kl;
    }
    p = ws(p, e);
    const char *end = skip_value(p, e, 0);
    if (!end)
        return -1;
    *v = p;
    *vlen = (size_t)(end - p);
    return 0;
}

int dmp_jr_u64(const char *json, size_t len, const char *path, uint64_t *out)
{
    const char *v;
    size_t vl;
    char buf[32];
    if (dmp_jr_find(json, len, path, &v, &vl) < 0 || vl == 0 || vl >= sizeof(buf) ||
        !isdigit((unsigned char)v[0]))
        return -1;
    memcpy(buf, v, vl);
    buf[vl] = '\0';
    char *end;
    errno = 0;
    unsigned long long x = strtoull(buf, &end, 10);
    if (errno || *end)
        return -1;
    *out = x;
    return 0;
}

int dmp_jr_double(const char *json, size_t len, const char *path, double *out)
{
    const char *v;
    size_t vl;
    char buf[64];
    if (dmp_jr_find(json, len, path, &v, &vl) < 0 || vl == 0 || vl >= sizeof(buf) ||
        !(isdigit((unsigned char)v[0]) || v[0] == '-'))
        return -1;
    memcpy(buf, v, vl);
    buf[vl] = '\0';
    char *end;
    errno = 0;
    double x = strtod(buf, &end);
    if (errno || *end)
        return -1;
    *out = x;
    return 0;
}

int dmp_jr_bool(const char *json, size_t len, const char *path, bool *out)
{
    const char *v;
    size_t vl;
    if (dmp_jr_find(json, len, path, &v, &vl) < 0)
        return -1;
    if (vl == 4 && memcmp(v, "true", 4) == 0)
        *out = true;
    else if (vl == 5 && memcmp(v, "false", 5) == 0)
        *out = false;
    else
        return -1;
    return 0;
}

int dmp_jr_str(const char *json, size_t len, const char *path, char *out, size_t outlen)
{
    const char *v;
    size_t vl;
    if (dmp_jr_find(json, len, path, &v, &vl) < 0 || vl < 2 || v[0] != '"' ||
        memchr(v, '\\', vl) || vl - 2 >= outlen)
        return -1;
    memcpy(out, v + 1, vl - 2);
    out[vl - 2] = '\0';
    return 0;
}

/* ---- the commands' reports ---- */

/* The kinds that count as page-table exits for the threshold: what patching (and the fast
 * path behind it) is meant to remove. pf_guest is the guest's own demand paging and pf_mmio
 * is device access: neither goes away by patching the MMU sites. */
static const char *const pt_kinds[] = { "pt_write", "pf_fixed", "cr3_write", "invlpg", "invpcid" };

static bool is_pt_kind(const char *k)
{
    for (size_t i = 0; i < sizeof(pt_kinds) / sizeof(pt_kinds[0]); i++)
        if (strcmp(k, pt_kinds[i]) == 0)
            return true;
    return false;
}

int dmp_auto_profile_rate(const char *json, size_t len, double *rate, uint64_t *events,
                          double *seconds, char *err, size_t errlen)
{
    if (dmp_json_validate(json, len) != 0) {
        snprintf(err, errlen, "profile report is not valid JSON");
        return -1;
    }
    double secs;
    if (dmp_jr_double(json, len, "seconds", &secs) < 0 || !(secs > 0.0)) {
        snprintf(err, errlen, "profile report has no positive \"seconds\"");
        return -1;
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < sizeof(pt_kinds) / sizeof(pt_kinds[0]); i++) {
        char path[48];
        uint64_t n;
        snprintf(path, sizeof(path), "totals.%s", pt_kinds[i]);
        if (dmp_jr_u64(json, len, path, &n) < 0) {
            snprintf(err, errlen, "profile report has no %s", path);
            return -1;
        }
        sum += n;
    }
    *rate = (double)sum / secs;
    *events = sum;
    *seconds = secs;
    return 0;
}

int dmp_auto_profile_hot(const char *json, size_t len, uint64_t *rips, size_t max, char *err,
                         size_t errlen)
{
    if (dmp_json_validate(json, len) != 0) {
        snprintf(err, errlen, "profile report is not valid JSON");
        return -1;
    }
    size_t n = 0;
    /* Bounded by the report: entries[i] stops existing. */
    for (unsigned i = 0; n < max && i < 1u << 20; i++) {
        char path[48], kind[32], rip[32];
        snprintf(path, sizeof(path), "entries[%u].kind", i);
        if (dmp_jr_str(json, len, path, kind, sizeof(kind)) < 0)
            break;
        snprintf(path, sizeof(path), "entries[%u].rip", i);
        if (dmp_jr_str(json, len, path, rip, sizeof(rip)) < 0) {
            snprintf(err, errlen, "profile entry %u has no rip", i);
            return -1;
        }
        char *end;
        errno = 0;
        unsigned long long r = strtoull(rip, &end, 16);
        if (errno || *end) {
            snprintf(err, errlen, "profile entry %u: bad rip '%s'", i, rip);
            return -1;
        }
        /* Kernel text only: user RIPs are the guest's programs. */
        if (!is_pt_kind(kind) || r < 0xffff800000000000ull)
            continue;
        bool dup = false;
        for (size_t k = 0; k < n && !dup; k++)
            dup = rips[k] == r;
        if (!dup)
            rips[n++] = r;
    }
    return (int)n;
}

int dmp_auto_patch_result(const char *json, size_t len, uint32_t *sites, bool *already,
                          char *err, size_t errlen)
{
    if (dmp_json_validate(json, len) != 0) {
        snprintf(err, errlen, "patch report is not valid JSON");
        return -1;
    }
    uint64_t s;
    if (dmp_jr_u64(json, len, "sites", &s) < 0 || s > UINT32_MAX) {
        snprintf(err, errlen, "patch report has no \"sites\"");
        return -1;
    }
    if (dmp_jr_bool(json, len, "already_patched", already) < 0)
        *already = false;
    *sites = (uint32_t)s;
    return 0;
}
