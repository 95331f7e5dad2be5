#include "flatjson.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    return p;
}

/* Parses a JSON string at p (pointing at the quote) into out; returns the char after it. */
static const char *string(const char *p, char *out, size_t cap)
{
    if (*p++ != '"')
        return NULL;
    size_t n = 0;
    while (*p != '"') {
        char c = *p++;
        if (c == '\0' || (unsigned char)c < 0x20)
            return NULL;
        if (c == '\\') {
            switch (*p++) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                for (int i = 0; i < 4; i++)
                    if (!isxdigit((unsigned char)p[i]))
                        return NULL;
                char hex[5] = { p[0], p[1], p[2], p[3], 0 };
                long v = strtol(hex, NULL, 16);
                p += 4;
                c = v < 0x80 ? (char)v : '?';
                break;
            }
            default: return NULL;
            }
        }
        if (n + 1 >= cap)
            return NULL;
        out[n++] = c;
    }
    out[n] = '\0';
    return p + 1;
}

/* JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static const char *number(const char *p, double *v)
{
    const char *s = p;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (isdigit((unsigned char)*p))
            p++;
    else
        return NULL;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return NULL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return NULL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    *v = strtod(s, NULL);
    return p;
}

int fj_parse(const char *s, struct fj_obj *o)
{
    o->n = 0;
    const char *p = ws(s);
    if (*p++ != '{')
        return -1;
    p = ws(p);
    if (*p == '}')
        return *ws(p + 1) ? -1 : 0;
    for (;;) {
        if (o->n == FJ_MAX_FIELDS)
            return -1;
        struct fj_field *f = &o->f[o->n];
        memset(f, 0, sizeof *f);
        p = string(p, f->key, sizeof f->key);
        if (!p)
            return -1;
        if (fj_get(o, f->key))
            return -1;          /* duplicate key */
        p = ws(p);
        if (*p++ != ':')
            return -1;
        p = ws(p);
        if (*p == '"') {
            f->type = FJ_STR;
            p = string(p, f->str, sizeof f->str);
        } else if (strncmp(p, "true", 4) == 0) {
            f->type = FJ_BOOL;
            f->b = true;
            p += 4;
        } else if (strncmp(p, "false", 5) == 0) {
            f->type = FJ_BOOL;
            p += 5;
        } else if (strncmp(p, "null", 4) == 0) {
            f->type = FJ_NULL;
            p += 4;
        } else {
            f->type = FJ_NUM;
            p = number(p, &f->num);
        }
        if (!p)
            return -1;
        o->n++;
        p = ws(p);
        if (*p == ',') {
            p = ws(p + 1);
            continue;
        }
        if (*p != '}')
            return -1;
        return *ws(p + 1) ? -1 : 0;
    }
}

const struct fj_field *fj_get(const struct fj_obj *o, const char *key)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->f[i].key, key) == 0)
            return &o->f[i];
    return NULL;
}

bool fj_num(const struct fj_obj *o, const char *key, double *v)
{
    const struct fj_field *f = fj_get(o, key);
    if (!f || f->type != FJ_NUM)
        return false;
    *v = f->num;
    return true;
}

bool fj_str(const struct fj_obj *o, const char *key, const char **v)
{
    const struct fj_field *f = fj_get(o, key);
    if (!f || f->type != FJ_STR)
        return false;
    *v = f->str;
    return true;
}

bool fj_bool(const struct fj_obj *o, const char *key, bool *v)
{
    const struct fj_field *f = fj_get(o, key);
    if (!f || f->type != FJ_BOOL)
        return false;
    *v = f->b;
    return true;
}
