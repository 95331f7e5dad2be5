/* Validation and registry (de)serialisation for named memory segments. */
#include "dmpseg/segment.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmpcommon/util.h"

static int check_alphabet(const char *what, const char *name, size_t max, char *err, size_t errlen)
{
    size_t n = strlen(name);
    if (n == 0 || n > max)
        return dmp_errf(err, errlen, -EINVAL, "%s '%s' must be 1 to %zu characters long", what, name, max);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return dmp_errf(err, errlen, -EINVAL, "%s '%s' has character '%c' at %zu (allowed: A-Z a-z 0-9 _ . -)",
                            what, name, c, i);
    }
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return dmp_errf(err, errlen, -EINVAL, "%s '%s' is reserved", what, name);
    return 0;
}

int dmp_seg_name_check(const char *name, char *err, size_t errlen)
{
    return check_alphabet("segment name", name, DMP_SEG_NAME_MAX, err, errlen);
}

int dmp_seg_domname_check(const char *name, char *err, size_t errlen)
{
    return check_alphabet("domain name", name, DMP_SEG_DOMNAME_MAX, err, errlen);
}

int dmp_seg_size_parse(const char *s, uint64_t *bytes, char *err, size_t errlen)
{
    uint64_t b;
    if (dmp_parse_size(s, 1ULL << 20, &b) != 0)
        return dmp_errf(err, errlen, -EINVAL, "size '%s' is not a size (examples: 64m, 4096k, 1g; bare numbers are MiB)", s);
    char why[200];
    int rc = dmp_seg_size_check(b, why, sizeof(why));
    if (rc < 0)
        return dmp_errf(err, errlen, rc, "size '%s': %s", s, why);
    *bytes = b;
    return 0;
}

int dmp_seg_size_check(uint64_t b, char *err, size_t errlen)
{
    if (b == 0 || b % DMP_SEG_PAGE)
        return dmp_errf(err, errlen, -EINVAL, "size %llu bytes is not a positive multiple of the 4 KiB page",
                        (unsigned long long)b);
    if (b > DMP_SEG_MAX_SIZE)
        return dmp_errf(err, errlen, -EINVAL, "size %llu bytes exceeds the 1 GiB segment limit",
                        (unsigned long long)b);
    return 0;
}

bool dmp_seg_allowed(const struct dmp_seg_def *s, const char *domname)
{
    for (int i = 0; i < s->nallow; i++)
        if (strcmp(s->allow[i], domname) == 0)
            return true;
    return false;
}

int dmp_seg_allow(struct dmp_seg_def *s, const char *domname)
{
    if (dmp_seg_allowed(s, domname))
        return 1;
    if (s->nallow >= DMP_SEG_MAX_ALLOW)
        return -ENOSPC;
    if (strlen(domname) > DMP_SEG_DOMNAME_MAX)
        return -ENAMETOOLONG;
    snprintf(s->allow[s->nallow++], sizeof(s->allow[0]), "%s", domname);
    return 0;
}

int dmp_seg_deny(struct dmp_seg_def *s, const char *domname)
{
    for (int i = 0; i < s->nallow; i++) {
        if (strcmp(s->allow[i], domname) == 0) {
            memmove(s->allow[i], s->allow[i + 1], (size_t)(s->nallow - i - 1) * sizeof(s->allow[0]));
            s->nallow--;
            return 0;
        }
    }
    return 1;
}

static int parse_word(const char *w, const char *yes, const char *no, bool *v)
{
    if (strcmp(w, yes) == 0)
        *v = true;
    else if (strcmp(w, no) == 0)
        *v = false;
    else
        return -EINVAL;
    return 0;
}

int dmp_seg_registry_parse(const char *text, size_t len, struct dmp_seg_def **defs, int *n,
                           char *err, size_t errlen)
{
    *defs = NULL;
    *n = 0;
    char *copy = strndup(text, len);
    if (!copy)
        return dmp_errf(err, errlen, -ENOMEM, "out of memory");
    struct dmp_seg_def *out = NULL;
    int cnt = 0, line = 0, rc = 0;
    char sub[256];
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        line++;   /* strtok_r skips empty lines: numbers count non-empty lines */
        char *w[8];
        int nw = 0;
        for (char *s2 = NULL, *t = strtok_r(l, " \t\r", &s2); t && nw < 8; t = strtok_r(NULL, " \t\r", &s2))
            w[nw++] = t;
        if (nw == 0 || w[0][0] == '#')
            continue;
        if (strcmp(w[0], "segment") == 0 && nw == 6) {
            struct dmp_seg_def d = { 0 };
            uint64_t size;
            if (dmp_seg_name_check(w[1], sub, sizeof(sub)) < 0 || dmp_parse_u64(w[2], &size) < 0 ||
                size == 0 || size % DMP_SEG_PAGE || size > DMP_SEG_MAX_SIZE ||
                parse_word(w[3], "shared", "private", &d.shared) < 0 ||
                parse_word(w[4], "persistent", "transient", &d.persistent) < 0 ||
                parse_word(w[5], "saved", "unsaved", &d.saved) < 0) {
                rc = dmp_errf(err, errlen, -EINVAL, "registry line %d: bad segment entry", line);
                break;
            }
            bool dup = false;
            for (int i = 0; i < cnt; i++)
                dup |= strcmp(out[i].name, w[1]) == 0;
            if (dup || cnt >= DMP_SEG_MAX_SEGMENTS) {
                rc = dmp_errf(err, errlen, -EINVAL, "registry line %d: %s", line,
                              dup ? "duplicate segment" : "too many segments");
                break;
            }
            struct dmp_seg_def *grown = realloc(out, (size_t)(cnt + 1) * sizeof(*out));
            if (!grown) {
                rc = dmp_errf(err, errlen, -ENOMEM, "out of memory");
                break;
            }
            out = grown;
            snprintf(d.name, sizeof(d.name), "%s", w[1]);
            d.size = size;
            out[cnt++] = d;
        } else if (strcmp(w[0], "allow") == 0 && nw == 3) {
            struct dmp_seg_def *s = NULL;
            for (int i = 0; i < cnt; i++)
                if (strcmp(out[i].name, w[1]) == 0)
                    s = &out[i];
            if (!s || dmp_seg_domname_check(w[2], sub, sizeof(sub)) < 0 || dmp_seg_allow(s, w[2]) < 0) {
                rc = dmp_errf(err, errlen, -EINVAL, "registry line %d: bad allow entry", line);
                break;
            }
        } else {
            rc = dmp_errf(err, errlen, -EINVAL, "registry line %d: unknown entry '%s'", line, w[0]);
            break;
        }
    }
    free(copy);
    if (rc < 0) {
        free(out);
        return rc;
    }
    *defs = out;
    *n = cnt;
    return 0;
}

char *dmp_seg_registry_format(const struct dmp_seg_def *defs, int n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f, "# dmpd segment registry: written by dmpd, do not edit while it runs\n");
    for (int i = 0; i < n; i++) {
        const struct dmp_seg_def *d = &defs[i];
        fprintf(f, "segment %s %llu %s %s %s\n", d->name, (unsigned long long)d->size,
                d->shared ? "shared" : "private", d->persistent ? "persistent" : "transient",
                d->saved ? "saved" : "unsaved");
        for (int k = 0; k < d->nallow; k++)
            fprintf(f, "allow %s %s\n", d->name, d->allow[k]);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
