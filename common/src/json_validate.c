#include "dmpcommon/json.h"

#include <ctype.h>
#include <string.h>

/* A recursive-descent recogniser: enough to refuse garbage before it is embedded in our own
 * documents, not a parser. */
struct cursor {
    const char *p, *end;
    int depth;
};

static void skip_ws(struct cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int lit(struct cursor *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return -1;
    c->p += n;
    return 0;
}

static int string(struct cursor *c)
{
    if (c->p >= c->end || *c->p != '"')
        return -1;
    c->p++;
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p++;
        if (ch == '"')
            return 0;
        if (ch < 0x20)
            return -1;
        if (ch == '\\') {
            if (c->p >= c->end)
                return -1;
            char e = *c->p++;
            if (e == 'u') {
                for (int i = 0; i < 4; i++, c->p++)
                    if (c->p >= c->end || !isxdigit((unsigned char)*c->p))
                        return -1;
            } else if (!strchr("\"\\/bfnrt", e)) {
                return -1;
            }
        }
    }
    return -1;
}

static int digits(struct cursor *c)
{
    const char *start = c->p;
    while (c->p < c->end && isdigit((unsigned char)*c->p))
        c->p++;
    return c->p > start ? 0 : -1;
}

static int number(struct cursor *c)
{
    if (c->p < c->end && *c->p == '-')
        c->p++;
    if (c->p < c->end && *c->p == '0')
        c->p++;
    else if (digits(c))
        return -1;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (digits(c))
            return -1;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (digits(c))
            return -1;
    }
    return 0;
}

static int value(struct cursor *c);

static int container(struct cursor *c, char close, int is_obj)
{
    if (++c->depth > DMP_JSON_MAX_DEPTH)
        return -1;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        c->depth--;
        return 0;
    }
    for (;;) {
        skip_ws(c);
        if (is_obj) {
            if (string(c))
                return -1;
            skip_ws(c);
            if (c->p >= c->end || *c->p++ != ':')
                return -1;
        }
        if (value(c))
            return -1;
        skip_ws(c);
        if (c->p >= c->end)
            return -1;
        char ch = *c->p++;
        if (ch == close)
            break;
        if (ch != ',')
            return -1;
    }
    c->depth--;
    return 0;
}

static int value(struct cursor *c)
{
    skip_ws(c);
    if (c->p >= c->end)
        return -1;
    switch (*c->p) {
    case '{': return container(c, '}', 1);
    case '[': return container(c, ']', 0);
    case '"': return string(c);
    case 't': return lit(c, "true");
    case 'f': return lit(c, "false");
    case 'n': return lit(c, "null");
    default: return number(c);
    }
}

int dmp_json_validate(const char *s, size_t n)
{
    struct cursor c = { s, s + n, 0 };
    if (value(&c))
        return -1;
    skip_ws(&c);
    return c.p == c.end ? 0 : -1;
}
