#include "dmpcommon/json.h"
#include "dmpcommon/test.h"
#include "dmpcommon/util.h"

#include <errno.h>
#include <stdlib.h>
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
    CHECK(dmp_parse_size("", 0, &b) == -1 && errno == EINVAL);
    CHECK(dmp_parse_size("-1", 0, &b) == -1);
    CHECK(dmp_parse_size("12x", 0, &b) == -1 && errno == EINVAL);
    CHECK(dmp_parse_size("1mm", 0, &b) == -1);
    CHECK(dmp_parse_size("99999999999999999999", 0, &b) == -1 && errno == ERANGE);
    CHECK(dmp_parse_size("99999999999t", 0, &b) == -1 && errno == ERANGE);
    char buf[32];
    CHECK_STREQ(dmp_fmt_size(1536ULL << 20, buf, sizeof buf), "1.5G");
    CHECK_STREQ(dmp_fmt_size(640ULL << 20, buf, sizeof buf), "640M");
    CHECK_STREQ(dmp_fmt_size(100, buf, sizeof buf), "100");
    uint64_t v;
    CHECK(dmp_parse_u64("0x10", &v) == 0 && v == 16);
    CHECK(dmp_parse_u64("10z", &v) == -1);
    CHECK(dmp_parse_u64("-3", &v) == -1);
}

static void test_json(void)
{
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    struct dmp_json j;
    dmp_json_init(&j, f, false);
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
    fclose(f);
    CHECK_STREQ(mem, "{\"a\":1,\"s\":\"x\\\"y\\n\",\"l\":[\"0xffffffff81000000\",true,null],\"e\":{}}");
    free(mem);

    f = open_memstream(&mem, &len);
    dmp_json_init(&j, f, false);
    dmp_json_obj_begin(&j);
    CHECK(dmp_json_finish(&j) == -1);   /* unclosed object is reported */
    fclose(f);
    free(mem);
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
        CHECK(dmp_json_validate(bad[i], strlen(bad[i])) == -1);
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
    CHECK(dmp_write_file_atomic("/nonexistent-dir/x", "x", 1) == -1);
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
    test_atomic();
    test_sleep();
    return DMP_TEST_SUMMARY("common");
}
