/* A strict parser for the flat JSON objects the workloads print (string, number,
 * true/false/null values; no nesting), so the smoke test checks the lines a dom0
 * agent will parse, not just substrings of them. */
#ifndef FLATJSON_H
#define FLATJSON_H

#include <stdbool.h>
#include <stddef.h>

#define FJ_MAX_FIELDS 32

enum fj_type { FJ_STR, FJ_NUM, FJ_BOOL, FJ_NULL };

struct fj_field {
    char key[32];
    enum fj_type type;
    char str[256];              /* FJ_STR: unescaped (ASCII escapes only) */
    double num;
    bool b;
};

struct fj_obj {
    struct fj_field f[FJ_MAX_FIELDS];
    size_t n;
};

/* Parses exactly one object spanning the whole string (trailing spaces allowed).
 * Returns 0, or -1 if the text is not such an object. */
int fj_parse(const char *s, struct fj_obj *o);
const struct fj_field *fj_get(const struct fj_obj *o, const char *key);
/* Typed getters: false if missing or of another type. */
bool fj_num(const struct fj_obj *o, const char *key, double *v);
bool fj_str(const struct fj_obj *o, const char *key, const char **v);
bool fj_bool(const struct fj_obj *o, const char *key, bool *v);

#endif
