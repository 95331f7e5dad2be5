/* Minimal unit-test harness. Each test binary ends with DMP_TEST_SUMMARY(), which
 * prints "N passed, N failed" (the line CI reads) and returns the exit status. */
#ifndef DMP_TEST_H
#define DMP_TEST_H

#include <stdio.h>
#include <string.h>

static int dmp_test_passed, dmp_test_failed;

#define CHECK(cond) do { \
    if (cond) { dmp_test_passed++; } \
    else { dmp_test_failed++; \
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_EQ_U64(a, b) do { \
    unsigned long long va_ = (unsigned long long)(a), vb_ = (unsigned long long)(b); \
    if (va_ == vb_) { dmp_test_passed++; } \
    else { dmp_test_failed++; fprintf(stderr, "%s:%d: %s == %s failed: 0x%llx != 0x%llx\n", \
        __FILE__, __LINE__, #a, #b, va_, vb_); } \
} while (0)

#define CHECK_STREQ(a, b) do { \
    const char *sa_ = (a), *sb_ = (b); \
    if (sa_ && sb_ && strcmp(sa_, sb_) == 0) { dmp_test_passed++; } \
    else { dmp_test_failed++; fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
        sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)"); } \
} while (0)

#define DMP_TEST_SUMMARY(name) ( \
    printf("%s: %d passed, %d failed\n", (name), dmp_test_passed, dmp_test_failed), \
    dmp_test_failed ? 1 : 0)

#endif
