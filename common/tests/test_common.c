#include "dmpcommon/json.h"
#include "dmpcommon/test.h"
#include "dmpcommon/util.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void test_sizes(void)
{
    uint64_t b;
    CHECK(dmp_parse_size("512", 0, &b) == 0 && b == 512);
    CHECK(dmp_parse_size("512", 1 << 20, &b) == 0 && b == 512ULL << 20);
    CHECK(dmp_parse_size("64k", 0, &b) == 0 && b == 65536);
    CHECK(dmp_parse_size("128M", 0, &b) == 0 && b == 128ULL << 20);
    CHECK(dmp_parse_size("2g", 0, &b) == 0 && b == 2ULL << 30);
    CHECK(dmp_parse_size("2GiB", 0, &b) == 0 && b == 2ULL << 30);
    CHECK(dmp_parse_size("", 0, &b) == -EINVAL);
    CHECK(dmp_parse_size("-1", 0, &b) == -EINVAL);
    CHECK(dmp_parse_size("12x", 0, &b) == -EINVAL);
    CHECK(dmp_parse_size("1mm", 0, &b) == -EINVAL);
    CHECK(dmp_parse_size("99999999999999999999", 0, &b) == -ERANGE);
    CHECK(dmp_parse_size("99999999999t", 0, &b) == -ERANGE);
    char buf[32];
    CHECK_STREQ(dmp_fmt_size(1536ULL << 20, buf, sizeof buf), "1.5G");
    CHECK_STREQ(dmp_fmt_size(640ULL << 20, buf, sizeof buf), "640M");
    CHECK_STREQ(dmp_fmt_size(100, buf, sizeof buf), "100");
    uint64_t v;
    CHECK(dmp_parse_u64("0x10", &v) == 0 && v == 16);
    CHECK(dmp_parse_u64("10z", &v) == -EINVAL);
    CHECK(dmp_parse_u64("-3", &v) == -EINVAL);
    CHECK(dmp_parse_u64("", &v) == -EINVAL);
    CHECK(dmp_parse_u64(" 1", &v) == -EINVAL);
    CHECK(dmp_parse_u64("18446744073709551615", &v) == 0 && v == UINT64_MAX);
    CHECK(dmp_parse_u64("18446744073709551616", &v) == -ERANGE);
    /* Decimal only: what configuration files mean by a count. */
    CHECK(dmp_parse_u64_dec("010", &v) == 0 && v == 10);
    CHECK(dmp_parse_u64_dec("18446744073709551615", &v) == 0 && v == UINT64_MAX);
    CHECK(dmp_parse_u64_dec("18446744073709551616", &v) == -ERANGE);
    CHECK(dmp_parse_u64_dec("99999999999999999999", &v) == -ERANGE);
    v = 7;
    static const char *const notdec[] = { "", "0x10", "+1", "-1", " 1", "1 ", "1k", "1.0" };
    for (size_t i = 0; i < sizeof notdec / sizeof *notdec; i++)
        CHECK(dmp_parse_u64_dec(notdec[i], &v) == -EINVAL && v == 7);
    CHECK(dmp_parse_u64_dec(NULL, &v) == -EINVAL);
}

/* One grammar for every duration the toolkit reads (balancer settings, workload schedules). */
static void test_durations(void)
{
    static const struct { const char *s; uint64_t ms; } good[] = {
        { "500ms", 500 }, { "5s", 5000 }, { "5", 5000 }, { "2m", 120000 }, { "2min", 120000 },
        { "1h", 3600000 }, { "0", 0 }, { "0ms", 0 }, { "007s", 7000 },
        { "999999999999h", 999999999999ull * 3600000 },
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        uint64_t ms = 1;
        int rc = dmp_parse_duration_ms(good[i].s, &ms);
        CHECK(rc == 0 && ms == good[i].ms);
        if (rc != 0 || ms != good[i].ms)
            fprintf(stderr, "duration \"%s\": rc %d, %llu ms\n", good[i].s, rc, (unsigned long long)ms);
    }
    static const char *const bad[] = { "", "s", "ms", "-1s", "+1s", " 1s", "1s ", "1 s", "1d", "1.5s",
                                       "1sec", "1M", "1H", "1S", "1mss", "0x10s", "1e3ms", "5m5s" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint64_t ms = 42;
        CHECK(dmp_parse_duration_ms(bad[i], &ms) == -EINVAL && ms == 42);
    }
    uint64_t ms = 42;
    CHECK(dmp_parse_duration_ms(NULL, &ms) == -EINVAL);
    CHECK(dmp_parse_duration_ms("1000000000000ms", &ms) == -ERANGE && ms == 42);   /* 13 digits */
    CHECK(dmp_parse_duration_ms("99999999999999s", &ms) == -ERANGE);
    CHECK(dmp_parse_duration_ms("99999999999999999999999h", &ms) == -ERANGE);
}

static void test_json(void)
{
    struct dmp_json j;
    CHECK(dmp_json_init_mem(&j, false) == 0);
    dmp_json_obj_begin(&j);
    DMP_JSON_KV(&j, "a", dmp_json_u64, 1);
    DMP_JSON_KV(&j, "s", dmp_json_str, "x\"y\n");
    dmp_json_key(&j, "l");
    dmp_json_arr_begin(&j);
    dmp_json_hex(&j, 0xffffffff81000000ULL);
    dmp_json_bool(&j, true);
    dmp_json_double(&j, 0.0 / 0.0);
    dmp_json_arr_end(&j);
    dmp_json_key(&j, "e");
    dmp_json_obj_begin(&j);
    dmp_json_obj_end(&j);
    dmp_json_obj_end(&j);
    CHECK(dmp_json_finish(&j) == 0);
    size_t len = 0;
    char *mem = dmp_json_mem_take(&j, &len);
    CHECK_STREQ(mem, "{\"a\":1,\"s\":\"x\\\"y\\n\",\"l\":[\"0xffffffff81000000\",true,null],\"e\":{}}");
    CHECK(mem && len == strlen(mem));
    free(mem);

    CHECK(dmp_json_init_mem(&j, false) == 0);
    dmp_json_obj_begin(&j);
    CHECK(dmp_json_finish(&j) == -EINVAL);   /* unclosed object is reported */
    free(dmp_json_mem_take(&j, NULL));
    CHECK(dmp_json_mem_take(&j, &len) == NULL && len == 0);    /* taken once */
}

static void test_validate(void)
{
    static const char *good[] = { "{}", "[]", "0", "-1.5e3", "\"a\\u00e9\"", " {\"a\":[1,true,null,{\"b\":\"c\"}]} ",
                                  "{\"phase\":\"mmap\",\"ok\":true,\"ns\":123}" };
    static const char *bad[] = { "", "{", "{\"a\"}", "[1,]", "01", "\"\\x\"", "tru", "{} {}", "[1 2]",
                                 "\"unterminated", "{\"a\":1,}", "-", "1.", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]" };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        CHECK(dmp_json_validate(good[i], strlen(good[i])) == 0);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(dmp_json_validate(bad[i], strlen(bad[i])) == -EINVAL);
    /* Never reads past n: the same texts cut short, and a backslash at the very end. */
    CHECK(dmp_json_validate("{\"a\":1}", 6) == -EINVAL);
    CHECK(dmp_json_validate("\"ab\\", 4) == -EINVAL);
    CHECK(dmp_json_validate("\"\\\0\"", 4) == -EINVAL);   /* backslash, NUL: no escape */
    CHECK(dmp_json_validate("12", 1) == 0);
    enum { D = DMP_JSON_MAX_DEPTH };
    char deep[2 * (D + 1)];
    memset(deep, '[', D);
    memset(deep + D, ']', D);
    CHECK(dmp_json_validate(deep, 2 * D) == 0);                 /* the deepest accepted */
    memset(deep, '[', D + 1);
    memset(deep + D + 1, ']', D + 1);
    CHECK(dmp_json_validate(deep, 2 * (D + 1)) == -EINVAL);     /* one level more */
}

static void test_atomic(void)
{
    char dir[] = "/tmp/dmp-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[512], sub[256];
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    CHECK(dmp_mkdir_p(sub) == 0);
    snprintf(path, sizeof path, "%s/state.json", sub);
    CHECK(dmp_write_file_atomic(path, "one", 3) == 0);
    CHECK(dmp_write_file_atomic(path, "second", 6) == 0);
    uint8_t *data;
    size_t n;
    CHECK(dmp_read_file(path, &data, &n) == 0 && n == 6 && memcmp(data, "second", 6) == 0);
    free(data);
    unlink(path);
    snprintf(path, sizeof path, "%s/a/b", dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/a", dir);
    rmdir(path);
    rmdir(dir);
}

/* The error contract: a failing call returns the negative errno that says why, never -1. */
static void test_file_errors(void)
{
    char dir[] = "/tmp/dmp-test-XXXXXX", path[700];
    CHECK(mkdtemp(dir) != NULL);
    uint8_t *data = NULL;
    size_t n = 0;
    CHECK(dmp_write_file_atomic("/nonexistent-dir/x", "x", 1) == -ENOENT);
    snprintf(path, sizeof path, "%s/missing", dir);
    CHECK(dmp_read_file(path, &data, &n) == -ENOENT);
    CHECK(dmp_read_file(dir, &data, &n) == -EISDIR);
    /* A file where a directory is wanted. */
    snprintf(path, sizeof path, "%s/plain", dir);
    CHECK(dmp_write_file_atomic(path, "x", 1) == 0);
    snprintf(path, sizeof path, "%s/plain/sub", dir);
    CHECK(dmp_mkdir_p(path) == -ENOTDIR);
    CHECK(dmp_write_file_atomic(path, "x", 1) == -ENOTDIR);
    /* A directory we may not write to. Root may write anywhere but in sysfs, which refuses
     * new files to everyone (or is mounted read-only). */
    char ro[512];
    snprintf(ro, sizeof ro, "%s/ro", dir);
    CHECK(dmp_mkdir_p(ro) == 0 && chmod(ro, 0555) == 0);
    if (geteuid() != 0) {
        snprintf(path, sizeof path, "%s/f", ro);
        CHECK(dmp_write_file_atomic(path, "x", 1) == -EACCES);
        snprintf(path, sizeof path, "%s/a/b", ro);
        CHECK(dmp_mkdir_p(path) == -EACCES);
    } else {
        int rc = dmp_write_file_atomic("/sys/dmp-test-atomic", "x", 1);
        CHECK(rc == -EACCES || rc == -EROFS);
    }
    chmod(ro, 0755);
    rmdir(ro);
    snprintf(path, sizeof path, "%s/plain", dir);
    unlink(path);
    rmdir(dir);
}

/* State files: absent = first run (0), present = 1 with the text, unreadable = -errno + message. */
static void test_state_files(void)
{
    char dir[] = "/tmp/dmp-test-XXXXXX", err[256] = "";
    CHECK(mkdtemp(dir) != NULL);
    char *text = NULL;
    size_t n = 7;
    CHECK(dmp_state_load(dir, "st.txt", &text, &n, err, sizeof err) == 0 && text == NULL);
    CHECK(dmp_state_save(dir, "st.txt", "v 1\n", 4, err, sizeof err) == 0);
    CHECK(dmp_state_load(dir, "st.txt", &text, &n, err, sizeof err) == 1);
    CHECK(text && n == 4 && strcmp(text, "v 1\n") == 0);
    free(text);
    /* A subdirectory of the state directory, as the segment registry uses. */
    char sub[600];
    snprintf(sub, sizeof sub, "%s/segments", dir);
    CHECK(dmp_mkdir_p(sub) == 0);
    CHECK(dmp_state_save(dir, "segments/registry", "r", 1, err, sizeof err) == 0);
    text = NULL;
    CHECK(dmp_state_load(sub, "registry", &text, &n, err, sizeof err) == 1 && n == 1);
    free(text);
    /* Unreadable: a directory where the file should be. */
    err[0] = '\0';
    CHECK(dmp_state_load(dir, "segments", &text, &n, err, sizeof err) == -EISDIR);
    char want[700];
    snprintf(want, sizeof want, "cannot read %s/segments: %s", dir, strerror(EISDIR));
    CHECK_STREQ(err, want);
    err[0] = '\0';
    CHECK(dmp_state_save(dir, "nodir/x", "x", 1, err, sizeof err) == -ENOENT);
    snprintf(want, sizeof want, "cannot write %s/nodir/x: %s", dir, strerror(ENOENT));
    CHECK_STREQ(err, want);
    snprintf(want, sizeof want, "%s/segments/registry", dir);
    unlink(want);
    rmdir(sub);
    snprintf(want, sizeof want, "%s/st.txt", dir);
    unlink(want);
    rmdir(dir);
}

/* The clocks: monotonic units agree with each other and with the wall clock's pace. */
static void test_clock(void)
{
    uint64_t ns = dmp_mono_ns(), us = dmp_mono_us(), ms = dmp_mono_ms();
    double s = dmp_mono_s();
    CHECK(us >= ns / 1000 && us - ns / 1000 < 1000000);
    CHECK(ms >= ns / 1000000 && ms - ns / 1000000 < 1000);
    CHECK(s >= (double)ns / 1e9 && s - (double)ns / 1e9 < 1.0);
    uint64_t w0 = dmp_wall_ms(), m0 = dmp_mono_ms();
    CHECK(w0 > 1600000000000ull);     /* after 2020: the epoch, in milliseconds */
    dmp_sleep_ms(20);
    uint64_t w1 = dmp_wall_ms(), m1 = dmp_mono_ms();
    CHECK(m1 - m0 >= 20);
    CHECK(w1 >= w0);
}

/* dmpd.conf lines: every kind, with the line numbers of the file. */
static void test_conf_reader(void)
{
    static const char text[] =
        "# comment\n"
        "\n"
        "[global]   ; trailing comment\n"
        "  interval = 5s # why\r\n"
        "empty =\n"
        "just words\n"
        "[broken\n"
        "[x] y\n"
        "a=b=c\n"
        "[ domain web ]\n"
        "last = 1";                 /* no newline at the end */
    struct dmp_conf_reader r;
    struct dmp_conf_line l;
    dmp_conf_open(&r, text, sizeof text - 1);
    CHECK(dmp_conf_next(&r, &l) == 1 && l.kind == DMP_CONF_SECTION && l.lineno == 3);
    CHECK_STREQ(l.name, "global");
    CHECK(dmp_conf_next(&r, &l) == 1 && l.kind == DMP_CONF_KEY && l.lineno == 4);
    CHECK_STREQ(l.key, "interval");
    CHECK_STREQ(l.value, "5s");
    CHECK(dmp_conf_next(&r, &l) == 1 && l.kind == DMP_CONF_KEY && strcmp(l.value, "") == 0);
    CHECK(dmp_conf_next(&r, &l) == 1 && l.kind == DMP_CONF_NOT_KEY && l.lineno == 6);
    CHECK_STREQ(l.text, "just words");
    CHECK(dmp_conf_next(&r, &l) == 1 && l.kind == DMP_CONF_BAD_SECTION);
    CHECK_STREQ(l.text, "[broken");
    CHECK(dmp_conf_next(&r, &l) == 1 && l.kind == DMP_CONF_BAD_SECTION && l.lineno == 8);
    CHECK(dmp_conf_next(&r, &l) == 1 && l.kind == DMP_CONF_KEY);
    CHECK(strcmp(l.key, "a") == 0 && strcmp(l.value, "b=c") == 0);
    CHECK(dmp_conf_next(&r, &l) == 1 && l.kind == DMP_CONF_SECTION);
    CHECK_STREQ(l.name, "domain web");
    CHECK(dmp_conf_next(&r, &l) == 1 && l.kind == DMP_CONF_KEY && l.lineno == 11);
    CHECK(dmp_conf_next(&r, &l) == 0 && dmp_conf_next(&r, &l) == 0);

    /* The longest line is read; one character more is too long. A NUL byte is reported. */
    char big[DMP_CONF_LINE_MAX + 16];
    memset(big, 'k', DMP_CONF_LINE_MAX);
    big[DMP_CONF_LINE_MAX] = '\n';
    dmp_conf_open(&r, big, DMP_CONF_LINE_MAX + 1);
    CHECK(dmp_conf_next(&r, &l) == 1 && l.kind == DMP_CONF_NOT_KEY && strlen(l.text) == DMP_CONF_LINE_MAX);
    memset(big, 'k', DMP_CONF_LINE_MAX + 1);
    memcpy(big + DMP_CONF_LINE_MAX + 1, "\nk=\0v\nok=1\n", 11);
    dmp_conf_open(&r, big, DMP_CONF_LINE_MAX + 1 + 11);
    CHECK(dmp_conf_next(&r, &l) == 1 && l.kind == DMP_CONF_TOO_LONG && l.lineno == 1);
    CHECK(dmp_conf_next(&r, &l) == 1 && l.kind == DMP_CONF_NUL && l.lineno == 2);
    CHECK(dmp_conf_next(&r, &l) == 1 && l.kind == DMP_CONF_KEY && l.lineno == 3);
    CHECK(dmp_conf_next(&r, &l) == 0);
}

/* dmp_sleep_ms sleeps at least as long as asked (monotonic clock). */
static void test_sleep(void)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    dmp_sleep_ms(30);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    CHECK(ns >= 30000000LL);
}

int main(void)
{
    test_sizes();
    test_json();
    test_validate();
    test_durations();
    test_atomic();
    test_file_errors();
    test_state_files();
    test_conf_reader();
    test_clock();
    test_sleep();
    return DMP_TEST_SUMMARY("common");
}
