/* Error messages and dmpd.conf-style lines. */
#include "dmpcommon/util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

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

void dmp_conf_open(struct dmp_conf_reader *r, const char *text, size_t len)
{
    r->text = text;
    r->len = len;
    r->pos = 0;
    r->lineno = 0;
}

int dmp_conf_next(struct dmp_conf_reader *r, struct dmp_conf_line *l)
{
    while (r->pos < r->len) {
        const char *start = r->text + r->pos;
        const char *nl = memchr(start, '\n', r->len - r->pos);
        size_t llen = nl ? (size_t)(nl - start) : r->len - r->pos;
        r->pos += llen + 1;
        memset(l, 0, sizeof(*l));
        l->lineno = ++r->lineno;
        if (llen > DMP_CONF_LINE_MAX) {
            l->kind = DMP_CONF_TOO_LONG;
            return 1;
        }
        memcpy(r->buf, start, llen);
        r->buf[llen] = '\0';
        if (strlen(r->buf) != llen) {
            l->kind = DMP_CONF_NUL;
            return 1;
        }
        dmp_conf_strip_comment(r->buf);
        char *s = dmp_str_trim(r->buf);
        if (!*s)
            continue;
        l->text = s;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close || *dmp_str_trim(close + 1)) {
                l->kind = DMP_CONF_BAD_SECTION;
                return 1;
            }
            *close = '\0';
            l->kind = DMP_CONF_SECTION;
            l->name = dmp_str_trim(s + 1);
            return 1;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            l->kind = DMP_CONF_NOT_KEY;
            return 1;
        }
        *eq = '\0';
        l->kind = DMP_CONF_KEY;
        l->key = dmp_str_trim(s);
        l->value = dmp_str_trim(eq + 1);
        return 1;
    }
    return 0;
}
