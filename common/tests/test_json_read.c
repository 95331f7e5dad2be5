/* The JSON reader: values and their types, unescaping, exact numbers, lookups, malformed and
 * truncated input (every prefix of a document in a buffer of exactly its size, so that ASan
 * sees any read past the end), and a deterministic mutation run through the fuzz target's
 * whole-tree checks. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmpcommon/json.h"
#include "dmpcommon/json_read.h"
#include "dmpcommon/test.h"

#define JW_ASSERT(c) CHECK(c)
#include "json_walk.h"

static struct dmp_jdoc *parse(const char *s)
{
    struct dmp_jdoc *doc = NULL;
    char err[128];
    int rc = dmp_jdoc_parse(s, strlen(s), &doc, err, sizeof err);
    CHECK(rc == 0);
    if (rc)
        fprintf(stderr, "parse failed: %s: %s\n", err, s);
    return doc;
}

static const char report[] =
    "{\"domid\":3,\"name\":\"web\\\"1\",\"seconds\":2.5,\"interrupted\":false,"
    " \"perfc_window\": {\"calls to shadow_fault\": 1234},"
    "\"totals\":{\"pt_write\":10,\"pf_fixed\":0},\"none\":null,"
    "\"entries\":[{\"kind\":\"pt_write\",\"rip\":\"0xffffffff81001000\"},"
    "{\"kind\":\"invlpg\",\"rip\":\"0xffffffff81002000\"}],\"empty\":[],\"e\":{}}";

static void test_values(void)
{
    struct dmp_jdoc *doc = parse(report);
    const struct dmp_jval *r = dmp_jroot(doc);
    CHECK(dmp_jtype(r) == DMP_JOBJ && dmp_jcount(r) == 10);
    uint64_t u = 0;
    double d = 0;
    bool b = true;
    char s[32];
    CHECK(dmp_ju64(dmp_jget(r, "domid"), &u) == 0 && u == 3);
    CHECK_STREQ(dmp_jstr(dmp_jget(r, "name")), "web\"1");
    CHECK(dmp_jstrlen(dmp_jget(r, "name")) == 5);
    CHECK(dmp_jdouble(dmp_jget(r, "seconds"), &d) == 0 && d == 2.5);
    CHECK(dmp_jbool(dmp_jget(r, "interrupted"), &b) == 0 && !b);
    CHECK(dmp_jtype(dmp_jget(r, "none")) == DMP_JNULL);
    CHECK(dmp_ju64(dmp_jpath(r, "perfc_window.calls to shadow_fault"), &u) == 0 && u == 1234);
    CHECK(dmp_ju64(dmp_jpath(r, "totals.pf_fixed"), &u) == 0 && u == 0);
    CHECK(dmp_jstr_copy(dmp_jpath(r, "entries[1].kind"), s, sizeof s) == 6);
    CHECK_STREQ(s, "invlpg");
    CHECK_STREQ(dmp_jstr(dmp_jpath(r, "entries[0].rip")), "0xffffffff81001000");
    CHECK(dmp_jcount(dmp_jget(r, "entries")) == 2);
    CHECK(dmp_jtype(dmp_jget(r, "empty")) == DMP_JARR && dmp_jfirst(dmp_jget(r, "empty")) == NULL);
    CHECK(dmp_jtype(dmp_jget(r, "e")) == DMP_JOBJ && dmp_jcount(dmp_jget(r, "e")) == 0);
    /* Members in order, with their names. */
    static const char *const names[] = { "domid", "name", "seconds", "interrupted", "perfc_window",
                                         "totals", "none", "entries", "empty", "e" };
    size_t i = 0;
    for (const struct dmp_jval *m = dmp_jfirst(r); m; m = dmp_jnext(m), i++)
        CHECK(i < 10 && strcmp(dmp_jkey(m), names[i]) == 0);
    CHECK(i == 10);
    /* Absent things are NULL, and every accessor takes NULL. */
    CHECK(dmp_jget(r, "nope") == NULL && dmp_jpath(r, "totals.nope") == NULL);
    CHECK(dmp_jpath(r, "entries[2]") == NULL && dmp_jpath(r, "name.x") == NULL);
    CHECK(dmp_jpath(r, "entries[1") == NULL && dmp_jpath(r, "entries[]") == NULL);
    CHECK(dmp_jpath(r, "entries[x]") == NULL && dmp_jpath(r, "entries[99999999999999999999999]") == NULL);
    CHECK(dmp_jpath(r, "") == r && dmp_jpath(r, NULL) == NULL);
    CHECK(dmp_ju64(dmp_jget(r, "nope"), &u) == -ENOENT && u == 0);
    CHECK(dmp_jbool(NULL, &b) == -ENOENT && dmp_jdouble(NULL, &d) == -ENOENT);
    CHECK(dmp_jstr_copy(NULL, s, sizeof s) == -ENOENT);
    CHECK(dmp_jtype(NULL) == DMP_JNONE && dmp_jcount(NULL) == 0 && dmp_jstr(NULL) == NULL);
    CHECK(dmp_jfirst(NULL) == NULL && dmp_jnext(NULL) == NULL && dmp_jkey(NULL) == NULL);
    CHECK(dmp_jget(NULL, "a") == NULL && dmp_jat(NULL, 0) == NULL && dmp_jpath(NULL, "a") == NULL);
    /* Wrong types: -EINVAL, output untouched. */
    CHECK(dmp_ju64(dmp_jget(r, "name"), &u) == -EINVAL && u == 0);
    CHECK(dmp_jbool(dmp_jget(r, "domid"), &b) == -EINVAL);
    CHECK(dmp_jdouble(dmp_jget(r, "none"), &d) == -EINVAL);
    CHECK(dmp_jstr_copy(dmp_jget(r, "domid"), s, sizeof s) == -EINVAL);
    CHECK(dmp_jstr(dmp_jget(r, "domid")) == NULL && dmp_jnum_text(dmp_jget(r, "name")) == NULL);
    CHECK(dmp_jget(dmp_jget(r, "entries"), "kind") == NULL);       /* an array has no members */
    CHECK(dmp_jat(dmp_jget(r, "totals"), 0) == NULL);              /* an object no elements */
    CHECK(dmp_jstr_copy(dmp_jget(r, "name"), s, 5) == -ERANGE);    /* 5 bytes + NUL */
    CHECK(dmp_jstr_copy(dmp_jget(r, "name"), s, 6) == 5);
    dmp_jdoc_free(doc);

    /* Any value can be the root; whitespace around it is allowed. */
    doc = parse(" \t\r\n[1, \"two\", [true]] \n");
    r = dmp_jroot(doc);
    CHECK(dmp_jtype(r) == DMP_JARR && dmp_jcount(r) == 3);
    CHECK(dmp_ju64(dmp_jpath(r, "[0]"), &u) == 0 && u == 1);
    CHECK(dmp_jbool(dmp_jpath(r, "[2][0]"), &b) == 0 && b);
    CHECK(dmp_jkey(dmp_jat(r, 1)) == NULL);
    dmp_jdoc_free(doc);
    doc = parse("\"just a string\"");
    CHECK_STREQ(dmp_jstr(dmp_jroot(doc)), "just a string");
    dmp_jdoc_free(doc);

    /* Duplicate names are allowed (like dmp_json_validate); a lookup sees the first. */
    doc = parse("{\"a\":1,\"a\":2}");
    CHECK(dmp_jcount(dmp_jroot(doc)) == 2);
    CHECK(dmp_ju64(dmp_jget(dmp_jroot(doc), "a"), &u) == 0 && u == 1);
    dmp_jdoc_free(doc);
}

static void test_strings(void)
{
    struct dmp_jdoc *doc = parse("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u20ac\", \"\\ud83d\\ude00\","
                                 " \"\\ud800x\", \"\\udc00\", \"a\\u0000b\", \"\\u0041\\u004a\", \"\xc3\xa9\"]");
    const struct dmp_jval *r = dmp_jroot(doc);
    CHECK_STREQ(dmp_jstr(dmp_jat(r, 0)), "\"\\/\b\f\n\r\t");
    CHECK_STREQ(dmp_jstr(dmp_jat(r, 1)), "\xc3\xa9\xe2\x82\xac");        /* UTF-8 */
    CHECK_STREQ(dmp_jstr(dmp_jat(r, 2)), "\xf0\x9f\x98\x80");            /* a surrogate pair */
    CHECK_STREQ(dmp_jstr(dmp_jat(r, 3)), "\xef\xbf\xbdx");               /* unpaired: U+FFFD */
    CHECK_STREQ(dmp_jstr(dmp_jat(r, 4)), "\xef\xbf\xbd");
    CHECK(dmp_jstrlen(dmp_jat(r, 5)) == 3 && memcmp(dmp_jstr(dmp_jat(r, 5)), "a\0b", 4) == 0);
    char s[16];
    CHECK(dmp_jstr_copy(dmp_jat(r, 5), s, sizeof s) == -EINVAL);         /* not a C string */
    CHECK_STREQ(dmp_jstr(dmp_jat(r, 6)), "AJ");
    CHECK_STREQ(dmp_jstr(dmp_jat(r, 7)), "\xc3\xa9");                    /* raw UTF-8 kept */
    dmp_jdoc_free(doc);
    /* A name with a NUL is never found by a C-string lookup. */
    doc = parse("{\"a\\u0000b\":1,\"a\":2}");
    uint64_t u = 0;
    CHECK(dmp_ju64(dmp_jget(dmp_jroot(doc), "a"), &u) == 0 && u == 2);
    dmp_jdoc_free(doc);
}

static void test_numbers(void)
{
    struct dmp_jdoc *doc = parse("[18446744073709551615, 18446744073709551616, -1, -0, 1.5, 1e3,"
                                 " 9223372036854775807, -9223372036854775808, 9223372036854775808,"
                                 " -9223372036854775809, -1.5e3, 1e308, 1e309, -1e309, 0.000001, 1E-2]");
    const struct dmp_jval *r = dmp_jroot(doc);
    uint64_t u = 7;
    int64_t i = 7;
    double d = 7;
    CHECK(dmp_ju64(dmp_jat(r, 0), &u) == 0 && u == UINT64_MAX);
    CHECK(dmp_ju64(dmp_jat(r, 1), &u) == -ERANGE && u == UINT64_MAX);
    CHECK(dmp_ju64(dmp_jat(r, 2), &u) == -ERANGE);
    CHECK(dmp_ju64(dmp_jat(r, 3), &u) == 0 && u == 0);
    CHECK(dmp_ju64(dmp_jat(r, 4), &u) == -EINVAL && dmp_ju64(dmp_jat(r, 5), &u) == -EINVAL);
    CHECK(dmp_ji64(dmp_jat(r, 2), &i) == 0 && i == -1);
    CHECK(dmp_ji64(dmp_jat(r, 6), &i) == 0 && i == INT64_MAX);
    CHECK(dmp_ji64(dmp_jat(r, 7), &i) == 0 && i == INT64_MIN);
    CHECK(dmp_ji64(dmp_jat(r, 8), &i) == -ERANGE && dmp_ji64(dmp_jat(r, 9), &i) == -ERANGE);
    CHECK(i == INT64_MIN);
    CHECK(dmp_ji64(dmp_jat(r, 0), &i) == -ERANGE && dmp_ji64(dmp_jat(r, 4), &i) == -EINVAL);
    CHECK(dmp_jdouble(dmp_jat(r, 10), &d) == 0 && d == -1500.0);
    CHECK(dmp_jdouble(dmp_jat(r, 0), &d) == 0 && d == 18446744073709551615.0);
    CHECK(dmp_jdouble(dmp_jat(r, 11), &d) == 0 && d == 1e308);
    CHECK(dmp_jdouble(dmp_jat(r, 12), &d) == -ERANGE && dmp_jdouble(dmp_jat(r, 13), &d) == -ERANGE);
    CHECK(d == 1e308);
    CHECK(dmp_jdouble(dmp_jat(r, 14), &d) == 0 && d == 0.000001);
    CHECK(dmp_jdouble(dmp_jat(r, 15), &d) == 0 && d == 0.01);
    CHECK_STREQ(dmp_jnum_text(dmp_jat(r, 10)), "-1.5e3");
    dmp_jdoc_free(doc);
}

/* Malformed input is refused with the offset of the first error; the reader and
 * dmp_json_validate agree on every text. */
static void test_malformed(void)
{
    static const struct { const char *text, *err; } bad[] = {
        { "", "offset 0: expected a value" },
        { "   ", "offset 3: expected a value" },
        { "{", "offset 1: expected a string" },
        { "{\"a\"}", "offset 4: expected ':' after a member name" },
        { "{\"a\" 1}", "offset 5: expected ':' after a member name" },
        { "{\"a\":}", "offset 5: unexpected character" },
        { "{\"a\":1,}", "offset 7: expected a string" },
        { "{\"a\":1 \"b\":2}", "offset 7: expected ',' or '}'" },
        { "{1:2}", "offset 1: expected a string" },
        { "[1,]", "offset 3: unexpected character" },
        { "[1 2]", "offset 3: expected ',' or ']'" },
        { "[1", "offset 2: unterminated array" },
        { "{\"a\":1", "offset 6: unterminated object" },
        { "01", "offset 1: text after the value" },
        { "{} {}", "offset 3: text after the value" },
        { "-", "offset 1: expected a digit" },
        { "1.", "offset 2: expected a digit" },
        { "1e", "offset 2: expected a digit" },
        { "1e+", "offset 3: expected a digit" },
        { ".5", "offset 0: unexpected character" },
        { "+1", "offset 0: unexpected character" },
        { "0x10", "offset 1: text after the value" },
        { "tru", "offset 0: unexpected character" },
        { "nul", "offset 0: unexpected character" },
        { "True", "offset 0: unexpected character" },
        { "NaN", "offset 0: unexpected character" },
        { "\"unterminated", "offset 13: unterminated string" },
        { "\"a\\x\"", "offset 3: bad escape in a string" },
        { "\"\\u12\"", "offset 3: bad \\u escape in a string" },
        { "\"\\u12g4\"", "offset 3: bad \\u escape in a string" },
        { "\"tab\there\"", "offset 4: control character in a string" },
        { "\"nl\n\"", "offset 3: control character in a string" },
        { "'single'", "offset 0: unexpected character" },
        { "[1]]", "offset 3: text after the value" },
        { "{\"a\":1}}", "offset 7: text after the value" },
        { "/* c */ 1", "offset 0: unexpected character" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        struct dmp_jdoc *doc = (struct dmp_jdoc *)1;
        char err[128] = "";
        size_t n = strlen(bad[k].text);
        CHECK(dmp_jdoc_parse(bad[k].text, n, &doc, err, sizeof err) == -EINVAL && doc == NULL);
        CHECK_STREQ(err, bad[k].err);
        CHECK(dmp_json_validate(bad[k].text, n) == -EINVAL);
    }
    /* Depth: as deep as dmp_json_validate accepts and no deeper. */
    enum { D = DMP_JSON_MAX_DEPTH };
    char deep[2 * (D + 1) + 1];
    memset(deep, '[', D);
    memset(deep + D, ']', D);
    deep[2 * D] = '\0';
    struct dmp_jdoc *doc = parse(deep);
    dmp_jdoc_free(doc);
    memset(deep, '[', D + 1);
    memset(deep + D + 1, ']', D + 1);
    deep[2 * D + 2] = '\0';
    char err[128];
    CHECK(dmp_jdoc_parse(deep, strlen(deep), &doc, err, sizeof err) == -EINVAL);
    CHECK_STREQ(err, "offset 32: nested too deeply");
    /* A NULL or zero-sized message buffer is fine. */
    CHECK(dmp_jdoc_parse("[", 1, &doc, NULL, 0) == -EINVAL);
}

/* Every prefix of valid documents, each in a buffer of exactly its length. */
static void test_truncated(void)
{
    static const char *const docs[] = { report, "[1,-2.5e+3,\"\\ud83d\\ude00\",true,false,null,{}]",
                                        "\"\\u00e9\"", "12345", "-0.0e-0" };
    for (size_t k = 0; k < sizeof docs / sizeof *docs; k++) {
        size_t n = strlen(docs[k]);
        for (size_t len = 0; len <= n; len++) {
            char *buf = malloc(len ? len : 1);
            memcpy(buf, docs[k], len);
            int parsed = jw_check_input(buf, len);
            /* Only a whole document, or a number cut between digits, is still valid. */
            CHECK(parsed == (len == n) || (parsed && docs[k][0] != '[' && docs[k][0] != '{' &&
                                           docs[k][0] != '"'));
            free(buf);
        }
    }
}

/* A small deterministic fuzz run: the seed documents with bytes changed, inserted and removed,
 * through the same whole-tree checks as the fuzz target. */
static void test_mutations(void)
{
    static const char *const seeds[] = { report, "[[[]],{\"\":[{}]},\"\\u0000\\ud800\"]", "{\"a\":[1,2,{\"b\":null}]}" };
    static const char alphabet[] = "{}[]\":,\\u0123456789abcdefABCDEF.eE+-truefalsnl \t\n\x01\x7f\xc3\xa9";
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int parsed = 0, runs = 0;
    for (int round = 0; round < 6000; round++) {
        const char *seed = seeds[round % 3];
        size_t n = strlen(seed);
        char *buf = malloc(n + 8);
        memcpy(buf, seed, n);
        for (int m = 0; m < 1 + round % 4; m++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t at = (size_t)(x >> 8) % (n + 1);
            char c = alphabet[(x >> 40) % (sizeof alphabet - 1)];
            switch ((x >> 60) % 3) {
            case 0: if (at < n) buf[at] = c; break;
            case 1: if (n < strlen(seed) + 7) { memmove(buf + at + 1, buf + at, n - at); buf[at] = c; n++; } break;
            default: if (at < n) { memmove(buf + at, buf + at + 1, n - at - 1); n--; } break;
            }
        }
        char *exact = malloc(n ? n : 1);
        memcpy(exact, buf, n);
        parsed += jw_check_input(exact, n);
        runs++;
        free(exact);
        free(buf);
    }
    /* Both outcomes were exercised. */
    CHECK(parsed > 100 && parsed < runs - 100);
}

/* What the writer writes, the reader reads back the same: every kind of value the writer has,
 * at its extremes, in an array (pretty-printed, so whitespace is read too). */
static void test_round_trip(void)
{
    struct dmp_json j;
    size_t len = 0;
    CHECK(dmp_json_init_mem(&j, true) == 0);
    dmp_json_arr_begin(&j);
    dmp_json_u64(&j, UINT64_MAX);
    dmp_json_i64(&j, INT64_MIN);
    dmp_json_double(&j, 0.125);
    dmp_json_hex(&j, 0xffffffff81000000ull);
    dmp_json_str(&j, "tab\t\"q\" \x01 \xc3\xa9");
    dmp_json_obj_begin(&j);
    dmp_json_key(&j, "nested");
    dmp_json_null(&j);
    dmp_json_obj_end(&j);
    dmp_json_arr_end(&j);
    char *mem = dmp_json_finish(&j) == 0 ? dmp_json_mem_take(&j, &len) : NULL;
    CHECK(mem != NULL);
    struct dmp_jdoc *doc = parse(mem ? mem : "");
    const struct dmp_jval *r = dmp_jroot(doc);
    uint64_t u;
    int64_t i;
    double d;
    CHECK(dmp_ju64(dmp_jat(r, 0), &u) == 0 && u == UINT64_MAX);
    CHECK(dmp_ji64(dmp_jat(r, 1), &i) == 0 && i == INT64_MIN);
    CHECK(dmp_jdouble(dmp_jat(r, 2), &d) == 0 && d == 0.125);
    CHECK_STREQ(dmp_jstr(dmp_jat(r, 3)), "0xffffffff81000000");
    CHECK_STREQ(dmp_jstr(dmp_jat(r, 4)), "tab\t\"q\" \x01 \xc3\xa9");
    CHECK(dmp_jtype(dmp_jpath(r, "[5].nested")) == DMP_JNULL);
    CHECK(jw_check_input(mem, len) == 1);
    dmp_jdoc_free(doc);
    free(mem);
}

int main(void)
{
    test_values();
    test_strings();
    test_numbers();
    test_malformed();
    test_truncated();
    test_mutations();
    test_round_trip();
    return DMP_TEST_SUMMARY("json_read");
}
