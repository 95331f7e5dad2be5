/* Whole-tree checks of the JSON reader, shared by its unit test and its fuzz target
 * (common/fuzz/fuzz_json.c): walk every value through every accessor, write a tree back with
 * the writer, compare two trees. The includer defines JW_ASSERT(cond). */
#ifndef DMP_JSON_WALK_H
#define DMP_JSON_WALK_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmpcommon/json.h"
#include "dmpcommon/json_read.h"

/* Visit v and everything below it; returns the number of values. */
static size_t jw_walk(const struct dmp_jval *v)
{
    size_t n = 1, i = 0;
    enum dmp_jtype t = dmp_jtype(v);
    JW_ASSERT(t != DMP_JNONE);
    bool b;
    int64_t i64;
    uint64_t u64;
    double d;
    char small[8];
    JW_ASSERT((dmp_jbool(v, &b) == 0) == (t == DMP_JBOOL));
    JW_ASSERT((dmp_jstr(v) != NULL) == (t == DMP_JSTR));
    JW_ASSERT((dmp_jnum_text(v) != NULL) == (t == DMP_JNUM));
    int rc = dmp_jdouble(v, &d);
    JW_ASSERT(t == DMP_JNUM ? (rc == 0 || rc == -ERANGE) : rc == -EINVAL);
    rc = dmp_ji64(v, &i64);
    JW_ASSERT(rc == 0 || rc == -EINVAL || rc == -ERANGE);
    rc = dmp_ju64(v, &u64);
    JW_ASSERT(rc == 0 || rc == -EINVAL || rc == -ERANGE);
    rc = dmp_jstr_copy(v, small, sizeof(small));
    JW_ASSERT(t == DMP_JSTR ? (rc >= 0 ? strcmp(small, dmp_jstr(v)) == 0 : rc == -EINVAL || rc == -ERANGE)
                            : rc == -EINVAL);
    if (t == DMP_JSTR)
        JW_ASSERT(dmp_jstr(v)[dmp_jstrlen(v)] == '\0');
    for (const struct dmp_jval *c = dmp_jfirst(v); c; c = dmp_jnext(c), i++) {
        JW_ASSERT(dmp_jat(v, i) == (t == DMP_JARR ? c : NULL));
        JW_ASSERT((dmp_jkey(c) != NULL) == (t == DMP_JOBJ));
        /* A lookup by name finds a member of that name (this one or an earlier one), or none
         * when the name holds a NUL. */
        if (t == DMP_JOBJ) {
            const struct dmp_jval *m = dmp_jget(v, dmp_jkey(c));
            JW_ASSERT(m == NULL || strcmp(dmp_jkey(m), dmp_jkey(c)) == 0);
        }
        n += jw_walk(c);
    }
    JW_ASSERT(i == dmp_jcount(v));
    JW_ASSERT(dmp_jat(v, i) == NULL);
    return n;
}

static int jw_depth(const struct dmp_jval *v)
{
    int deepest = 0;
    for (const struct dmp_jval *c = dmp_jfirst(v); c; c = dmp_jnext(c)) {
        int d = jw_depth(c);
        if (d > deepest)
            deepest = d;
    }
    return deepest + (dmp_jtype(v) == DMP_JARR || dmp_jtype(v) == DMP_JOBJ);
}

/* Write v back as JSON (numbers as their literal, strings escaped by the writer). */
static void jw_write(struct dmp_json *j, const struct dmp_jval *v)
{
    if (dmp_jkey(v))
        dmp_json_key(j, dmp_jkey(v));
    switch (dmp_jtype(v)) {
    case DMP_JNULL: dmp_json_null(j); break;
    case DMP_JBOOL: { bool b = false; dmp_jbool(v, &b); dmp_json_bool(j, b); break; }
    case DMP_JNUM: dmp_json_raw(j, dmp_jnum_text(v), strlen(dmp_jnum_text(v))); break;
    case DMP_JSTR: dmp_json_strn(j, dmp_jstr(v), dmp_jstrlen(v)); break;
    case DMP_JARR:
    case DMP_JOBJ:
        (dmp_jtype(v) == DMP_JARR ? dmp_json_arr_begin : dmp_json_obj_begin)(j);
        for (const struct dmp_jval *c = dmp_jfirst(v); c; c = dmp_jnext(c))
            jw_write(j, c);
        (dmp_jtype(v) == DMP_JARR ? dmp_json_arr_end : dmp_json_obj_end)(j);
        break;
    case DMP_JNONE: break;
    }
}

static bool jw_equal(const struct dmp_jval *a, const struct dmp_jval *b)
{
    if (dmp_jtype(a) != dmp_jtype(b) || dmp_jcount(a) != dmp_jcount(b))
        return false;
    if ((dmp_jkey(a) == NULL) != (dmp_jkey(b) == NULL) || (dmp_jkey(a) && strcmp(dmp_jkey(a), dmp_jkey(b))))
        return false;
    bool x = false, y = false;
    switch (dmp_jtype(a)) {
    case DMP_JBOOL: dmp_jbool(a, &x); dmp_jbool(b, &y); return x == y;
    case DMP_JNUM: return strcmp(dmp_jnum_text(a), dmp_jnum_text(b)) == 0;
    case DMP_JSTR:
        return dmp_jstrlen(a) == dmp_jstrlen(b) && memcmp(dmp_jstr(a), dmp_jstr(b), dmp_jstrlen(a)) == 0;
    default: break;
    }
    for (const struct dmp_jval *c = dmp_jfirst(a), *d = dmp_jfirst(b); c; c = dmp_jnext(c), d = dmp_jnext(d))
        if (!jw_equal(c, d))
            return false;
    return true;
}

/* The checks of one input: the reader accepts exactly what dmp_json_validate accepts, every
 * accessor behaves on the tree, and writing it back gives the same tree. Returns 1 when the
 * input parsed. */
static int jw_check_input(const char *text, size_t len)
{
    char err[128] = "";
    struct dmp_jdoc *doc = NULL;
    int rc = dmp_jdoc_parse(text, len, &doc, err, sizeof(err));
    JW_ASSERT(rc == 0 || rc == -EINVAL);
    JW_ASSERT((rc == 0) == (dmp_json_validate(text, len) == 0));
    if (rc != 0) {
        JW_ASSERT(doc == NULL && strncmp(err, "offset ", 7) == 0);
        return 0;
    }
    const struct dmp_jval *root = dmp_jroot(doc);
    JW_ASSERT(dmp_jkey(root) == NULL && dmp_jnext(root) == NULL);
    jw_walk(root);
    /* The writer nests one level less deep than the reader reads. It writes names as C
     * strings: a name holding a NUL comes back cut there, and jw_equal compares names so. */
    struct dmp_json j;
    if (jw_depth(root) < DMP_JSON_MAX_DEPTH && dmp_json_init_mem(&j, false) == 0) {
        jw_write(&j, root);
        JW_ASSERT(dmp_json_finish(&j) == 0);
        size_t olen = 0;
        char *out = dmp_json_mem_take(&j, &olen);
        struct dmp_jdoc *again = NULL;
        JW_ASSERT(out && dmp_jdoc_parse(out, olen, &again, err, sizeof(err)) == 0);
        JW_ASSERT(again && jw_equal(root, dmp_jroot(again)));
        dmp_jdoc_free(again);
        free(out);
    }
    dmp_jdoc_free(doc);
    return 1;
}

#endif
