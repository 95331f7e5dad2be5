/* The JSON reader (json_read.h) and dmp_json_validate, which is the reader's first pass.
 *
 * One recursive-descent parser runs twice over the text: the first pass checks the grammar and
 * counts the values and the bytes their unescaped strings need, the second fills a block of
 * exactly that size. Validation therefore allocates nothing, and a document is one malloc. */
#include "dmpcommon/json_read.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmpcommon/json.h"
#include "dmpcommon/util.h"

struct dmp_jval {
    enum dmp_jtype type;
    bool b;
    size_t len;                   /* STR: bytes; NUM: literal bytes; ARR/OBJ: children */
    const char *s;                /* STR: unescaped text; NUM: literal (both NUL-terminated) */
    const char *key;              /* member name, NUL-terminated; NULL outside objects */
    size_t keylen;
    const struct dmp_jval *next;  /* next sibling */
};

struct dmp_jdoc {
    struct dmp_jval *v;           /* v[0] is the root; children follow their parent */
    size_t n;
};

struct parser {
    const char *p, *start, *end;
    int depth;
    /* First pass: v == NULL, the counts grow. Second pass: v and pool are filled. */
    struct dmp_jval *v;
    size_t nv;
    char *pool;
    size_t npool;
    const char *why;              /* first error */
    size_t at;
};

static int fail(struct parser *ps, const char *why)
{
    if (!ps->why) {
        ps->why = why;
        ps->at = (size_t)(ps->p - ps->start);
    }
    return -1;
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits at q (within the text): the code unit, or -1. */
static long hex4(const struct parser *ps, const char *q)
{
    if (ps->end - q < 4)
        return -1;
    long u = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(q[i]);
        if (h < 0)
            return -1;
        u = u * 16 + h;
    }
    return u;
}

/* Append bytes to the pool (counted only in the first pass). */
static void put(struct parser *ps, const char *b, size_t n)
{
    if (ps->pool)
        memcpy(ps->pool + ps->npool, b, n);
    ps->npool += n;
}

static void put_utf8(struct parser *ps, unsigned long cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    put(ps, b, n);
}

/* A string at ps->p (on its quote): unescaped into the pool, NUL-terminated; *off and *len
 * say where (meaningful in the second pass). */
static int string(struct parser *ps, size_t *off, size_t *len)
{
    if (ps->p >= ps->end || *ps->p != '"')
        return fail(ps, "expected a string");
    ps->p++;
    size_t first = ps->npool;
    for (;;) {
        /* Copy the run up to the next quote, backslash or control character at once. */
        const char *run = ps->p;
        while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' && (unsigned char)*ps->p >= 0x20)
            ps->p++;
        put(ps, run, (size_t)(ps->p - run));
        if (ps->p >= ps->end)
            return fail(ps, "unterminated string");
        char c = *ps->p;
        if (c == '"')
            break;
        if (c != '\\')
            return fail(ps, "control character in a string");
        if (ps->end - ps->p < 2) {
            ps->p++;
            return fail(ps, "unterminated string");
        }
        char e = ps->p[1];
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *k = e ? strchr(from, e) : NULL;
        if (k) {
            put(ps, &to[k - from], 1);
            ps->p += 2;
            continue;
        }
        if (e != 'u') {
            ps->p++;
            return fail(ps, "bad escape in a string");
        }
        long u = hex4(ps, ps->p + 2);
        if (u < 0) {
            ps->p += 2;
            return fail(ps, "bad \\u escape in a string");
        }
        ps->p += 6;
        unsigned long cp = (unsigned long)u;
        if (u >= 0xd800 && u <= 0xdbff && ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u') {
            long lo = hex4(ps, ps->p + 2);
            if (lo >= 0xdc00 && lo <= 0xdfff) {
                cp = 0x10000 + (((unsigned long)u - 0xd800) << 10) + ((unsigned long)lo - 0xdc00);
                ps->p += 6;
            }
        }
        if (cp >= 0xd800 && cp <= 0xdfff)
            cp = 0xfffd;    /* an unpaired surrogate: valid JSON, not a character */
        put_utf8(ps, cp);
    }
    ps->p++;
    *off = first;
    *len = ps->npool - first;
    put(ps, "", 1);
    return 0;
}

static int digits(struct parser *ps)
{
    const char *s = ps->p;
    while (ps->p < ps->end && is_digit(*ps->p))
        ps->p++;
    return ps->p > s ? 0 : fail(ps, "expected a digit");
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? copied as it stands. */
static int number(struct parser *ps, size_t *off, size_t *len)
{
    const char *s = ps->p;
    if (ps->p < ps->end && *ps->p == '-')
        ps->p++;
    if (ps->p < ps->end && *ps->p == '0')
        ps->p++;
    else if (digits(ps))
        return -1;
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (digits(ps))
            return -1;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (digits(ps))
            return -1;
    }
    *off = ps->npool;
    *len = (size_t)(ps->p - s);
    put(ps, s, *len);
    put(ps, "", 1);
    return 0;
}

static int literal(struct parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail(ps, "unexpected character");
    ps->p += n;
    return 0;
}

static int value(struct parser *ps, size_t keyoff, size_t keylen, bool member);

/* Children of an array or object; idx is the container's node. */
static int container(struct parser *ps, size_t idx, bool obj)
{
    if (++ps->depth > DMP_JSON_MAX_DEPTH)
        return fail(ps, "nested too deeply");
    char close = obj ? '}' : ']';
    ps->p++;
    skip_ws(ps);
    size_t n = 0, prev = 0;
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
    } else {
        for (;;) {
            size_t koff = 0, klen = 0;
            skip_ws(ps);
            if (obj) {
                if (string(ps, &koff, &klen))
                    return -1;
                skip_ws(ps);
                if (ps->p >= ps->end || *ps->p != ':')
                    return fail(ps, "expected ':' after a member name");
                ps->p++;
            }
            size_t child = ps->nv;
            if (value(ps, koff, klen, obj))
                return -1;
            if (ps->v && n)
                ps->v[prev].next = &ps->v[child];
            prev = child;
            n++;
            skip_ws(ps);
            if (ps->p >= ps->end)
                return fail(ps, obj ? "unterminated object" : "unterminated array");
            char c = *ps->p;
            if (c == close) {
                ps->p++;
                break;
            }
            if (c != ',')
                return fail(ps, obj ? "expected ',' or '}'" : "expected ',' or ']'");
            ps->p++;
        }
    }
    if (ps->v)
        ps->v[idx].len = n;
    ps->depth--;
    return 0;
}

static int value(struct parser *ps, size_t keyoff, size_t keylen, bool member)
{
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, "expected a value");
    size_t idx = ps->nv++;
    struct dmp_jval *v = ps->v ? &ps->v[idx] : NULL;
    if (v) {
        memset(v, 0, sizeof(*v));
        if (member) {
            v->key = ps->pool + keyoff;
            v->keylen = keylen;
        }
    }
    size_t off = 0, len = 0;
    enum dmp_jtype t;
    int rc;
    char first = *ps->p;
    switch (first) {
    case '{': t = DMP_JOBJ; rc = container(ps, idx, true); break;
    case '[': t = DMP_JARR; rc = container(ps, idx, false); break;
    case '"': t = DMP_JSTR; rc = string(ps, &off, &len); break;
    case 't': t = DMP_JBOOL; rc = literal(ps, "true"); break;
    case 'f': t = DMP_JBOOL; rc = literal(ps, "false"); break;
    case 'n': t = DMP_JNULL; rc = literal(ps, "null"); break;
    default:
        if (first != '-' && !is_digit(first))
            return fail(ps, "unexpected character");
        t = DMP_JNUM;
        rc = number(ps, &off, &len);
        break;
    }
    if (rc)
        return -1;
    if (v) {
        v->type = t;
        v->b = first == 't';
        if (t == DMP_JSTR || t == DMP_JNUM) {
            v->s = ps->pool + off;
            v->len = len;
        }
    }
    return 0;
}

static int parse_pass(struct parser *ps, const char *text, size_t len)
{
    ps->p = ps->start = text;
    ps->end = text + len;
    ps->depth = 0;
    ps->nv = ps->npool = 0;
    if (value(ps, 0, 0, false))
        return -1;
    skip_ws(ps);
    return ps->p == ps->end ? 0 : fail(ps, "text after the value");
}

int dmp_json_validate(const char *s, size_t n)
{
    struct parser ps = { 0 };
    return parse_pass(&ps, s, n) == 0 ? 0 : -EINVAL;
}

int dmp_jdoc_parse(const char *text, size_t len, struct dmp_jdoc **out, char *err, size_t errlen)
{
    *out = NULL;
    struct parser ps = { 0 };
    if (parse_pass(&ps, text, len) != 0)
        return dmp_errf(err, errlen, -EINVAL, "offset %zu: %s", ps.at, ps.why);
    size_t nv = ps.nv, npool = ps.npool;
    /* nv <= len and npool <= 2 * len + 1 here; the sums cannot wrap for a text in memory. */
    size_t head = sizeof(struct dmp_jdoc), body = nv * sizeof(struct dmp_jval);
    struct dmp_jdoc *doc = malloc(head + body + npool);
    if (!doc)
        return dmp_errf(err, errlen, -ENOMEM, "out of memory for a %zu-byte JSON text", len);
    doc->v = (struct dmp_jval *)(doc + 1);
    doc->n = nv;
    ps = (struct parser){ .v = doc->v, .pool = (char *)doc->v + body };
    if (parse_pass(&ps, text, len) != 0 || ps.nv != nv || ps.npool != npool) {
        /* The same text parsed the same way a moment ago. */
        free(doc);
        return dmp_errf(err, errlen, -EINVAL, "JSON reader: second pass disagrees with the first");
    }
    *out = doc;
    return 0;
}

void dmp_jdoc_free(struct dmp_jdoc *doc)
{
    free(doc);
}

const struct dmp_jval *dmp_jroot(const struct dmp_jdoc *doc)
{
    return doc && doc->n ? &doc->v[0] : NULL;
}

enum dmp_jtype dmp_jtype(const struct dmp_jval *v)
{
    return v ? v->type : DMP_JNONE;
}

size_t dmp_jcount(const struct dmp_jval *v)
{
    return v && (v->type == DMP_JARR || v->type == DMP_JOBJ) ? v->len : 0;
}

const struct dmp_jval *dmp_jfirst(const struct dmp_jval *v)
{
    return dmp_jcount(v) ? v + 1 : NULL;
}

const struct dmp_jval *dmp_jnext(const struct dmp_jval *v)
{
    return v ? v->next : NULL;
}

const char *dmp_jkey(const struct dmp_jval *v)
{
    return v ? v->key : NULL;
}

static const struct dmp_jval *member(const struct dmp_jval *obj, const char *key, size_t klen)
{
    if (dmp_jtype(obj) != DMP_JOBJ)
        return NULL;
    for (const struct dmp_jval *m = dmp_jfirst(obj); m; m = m->next)
        if (m->keylen == klen && memcmp(m->key, key, klen) == 0)
            return m;
    return NULL;
}

const struct dmp_jval *dmp_jget(const struct dmp_jval *obj, const char *key)
{
    return key ? member(obj, key, strlen(key)) : NULL;
}

const struct dmp_jval *dmp_jat(const struct dmp_jval *arr, size_t i)
{
    if (dmp_jtype(arr) != DMP_JARR || i >= arr->len)
        return NULL;
    const struct dmp_jval *e = dmp_jfirst(arr);
    while (i--)
        e = e->next;
    return e;
}

const struct dmp_jval *dmp_jpath(const struct dmp_jval *v, const char *path)
{
    const char *q = path;
    if (!q)
        return NULL;
    while (*q && v) {
        if (*q == '.') {
            q++;
            continue;
        }
        if (*q == '[') {
            size_t i = 0;
            const char *d = q + 1;
            for (; is_digit(*d); d++) {
                if (i > (SIZE_MAX - 9) / 10)
                    return NULL;
                i = i * 10 + (size_t)(*d - '0');
            }
            if (d == q + 1 || *d != ']')
                return NULL;
            v = dmp_jat(v, i);
            q = d + 1;
            continue;
        }
        size_t kl = strcspn(q, ".[");
        v = member(v, q, kl);
        q += kl;
    }
    return v;
}

/* The typed reads' first question: 0 if v is a value of type t, else -ENOENT / -EINVAL. */
static int typed(const struct dmp_jval *v, enum dmp_jtype t)
{
    return !v ? -ENOENT : v->type != t ? -EINVAL : 0;
}

int dmp_jbool(const struct dmp_jval *v, bool *out)
{
    int rc = typed(v, DMP_JBOOL);
    if (rc == 0)
        *out = v->b;
    return rc;
}

/* An integer literal (no fraction, no exponent) as its sign and magnitude: 0, -EINVAL, or
 * -ERANGE when the magnitude exceeds max_pos (max_neg for a negative literal). */
static int integer(const struct dmp_jval *v, uint64_t max_pos, uint64_t max_neg, bool *neg,
                   uint64_t *mag)
{
    int rc = typed(v, DMP_JNUM);
    if (rc)
        return rc;
    if (strpbrk(v->s, ".eE"))
        return -EINVAL;
    *neg = v->s[0] == '-';
    uint64_t max = *neg ? max_neg : max_pos, x = 0;
    for (const char *d = v->s + *neg; *d; d++) {
        unsigned dig = (unsigned)(*d - '0');
        if (x > max / 10 || (x == max / 10 && dig > max % 10))
            return -ERANGE;
        x = x * 10 + dig;
    }
    *mag = x;
    return 0;
}

int dmp_ju64(const struct dmp_jval *v, uint64_t *out)
{
    bool neg;
    uint64_t m;
    int rc = integer(v, UINT64_MAX, 0, &neg, &m);     /* "-0" is 0; any other negative, -ERANGE */
    if (rc == 0)
        *out = m;
    return rc;
}

int dmp_ji64(const struct dmp_jval *v, int64_t *out)
{
    bool neg;
    uint64_t m;
    int rc = integer(v, INT64_MAX, (uint64_t)INT64_MAX + 1, &neg, &m);
    if (rc == 0)
        *out = !neg ? (int64_t)m : m > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)m;
    return rc;
}

int dmp_jdouble(const struct dmp_jval *v, double *out)
{
    int rc = typed(v, DMP_JNUM);
    if (rc)
        return rc;
    /* The literal is plain JSON grammar, which strtod reads whole. */
    double x = strtod(v->s, NULL);
    if (isinf(x))
        return -ERANGE;
    *out = x;
    return 0;
}

const char *dmp_jstr(const struct dmp_jval *v)
{
    return v && v->type == DMP_JSTR ? v->s : NULL;
}

size_t dmp_jstrlen(const struct dmp_jval *v)
{
    return v && v->type == DMP_JSTR ? v->len : 0;
}

int dmp_jstr_copy(const struct dmp_jval *v, char *buf, size_t cap)
{
    int rc = typed(v, DMP_JSTR);
    if (rc)
        return rc;
    if (memchr(v->s, '\0', v->len))
        return -EINVAL;
    if (v->len >= cap || v->len > INT_MAX)
        return -ERANGE;
    memcpy(buf, v->s, v->len + 1);
    return (int)v->len;
}

const char *dmp_jnum_text(const struct dmp_jval *v)
{
    return v && v->type == DMP_JNUM ? v->s : NULL;
}
