/* Segment names, sizes, access lists and the registry file. */
#include "dmpseg/segment.h"
#include "dmpcommon/test.h"

#include <errno.h>
#include <stdlib.h>

static bool same_def(const struct dmp_seg_def *a, const struct dmp_seg_def *b)
{
    if (strcmp(a->name, b->name) || a->size != b->size || a->shared != b->shared ||
        a->persistent != b->persistent || a->saved != b->saved || a->nallow != b->nallow)
        return false;
    for (int i = 0; i < a->nallow; i++)
        if (strcmp(a->allow[i], b->allow[i]))
            return false;
    return true;
}

int main(void)
{
    char err[256];
    CHECK(dmp_seg_name_check("heap.v2_A-1", err, sizeof(err)) == 0);
    CHECK(dmp_seg_name_check("", err, sizeof(err)) < 0);
    CHECK(dmp_seg_name_check("..", err, sizeof(err)) < 0);
    CHECK(dmp_seg_name_check("a/b", err, sizeof(err)) < 0);
    CHECK(strstr(err, "'/'") != NULL);
    CHECK(dmp_seg_name_check("with space", err, sizeof(err)) < 0);
    char longname[80];
    memset(longname, 'x', 65);
    longname[65] = '\0';
    CHECK(dmp_seg_name_check(longname, err, sizeof(err)) < 0);
    longname[64] = '\0';
    CHECK(dmp_seg_name_check(longname, err, sizeof(err)) == 0);

    uint64_t b = 0;
    CHECK(dmp_seg_size_parse("64", &b, err, sizeof(err)) == 0);
    CHECK_EQ_U64(b, 64ULL << 20);
    CHECK(dmp_seg_size_parse("8k", &b, err, sizeof(err)) == 0);
    CHECK_EQ_U64(b, 8192);
    CHECK(dmp_seg_size_parse("1g", &b, err, sizeof(err)) == 0);
    CHECK(dmp_seg_size_parse("2g", &b, err, sizeof(err)) < 0);
    CHECK(strstr(err, "1 GiB") != NULL);
    CHECK(dmp_seg_size_parse("6k", &b, err, sizeof(err)) < 0);
    CHECK(strstr(err, "multiple") != NULL);
    CHECK(dmp_seg_size_check(8192, err, sizeof(err)) == 0);
    CHECK(dmp_seg_size_check(8193, err, sizeof(err)) < 0);
    CHECK(dmp_seg_size_check((1ULL << 30) + 4096, err, sizeof(err)) < 0);
    CHECK(dmp_seg_size_parse("0", &b, err, sizeof(err)) < 0);
    CHECK(dmp_seg_size_parse("lots", &b, err, sizeof(err)) < 0);
    CHECK_EQ_U64(b, 1ULL << 30);   /* failures leave the output alone */

    struct dmp_seg_def d = { .name = "s", .size = 4096 };
    CHECK(!dmp_seg_allowed(&d, "web"));
    CHECK(dmp_seg_allow(&d, "web") == 0);
    CHECK(dmp_seg_allow(&d, "web") == 1);
    CHECK(dmp_seg_allow(&d, "db") == 0);
    CHECK(dmp_seg_allowed(&d, "web") && dmp_seg_allowed(&d, "db") && !dmp_seg_allowed(&d, "we"));
    CHECK(dmp_seg_deny(&d, "web") == 0);
    CHECK(dmp_seg_deny(&d, "web") == 1);
    CHECK(!dmp_seg_allowed(&d, "web") && dmp_seg_allowed(&d, "db"));
    for (int i = 0; i < DMP_SEG_MAX_ALLOW + 2; i++) {
        char nm[16];
        snprintf(nm, sizeof(nm), "g%d", i);
        dmp_seg_allow(&d, nm);
    }
    CHECK(d.nallow == DMP_SEG_MAX_ALLOW);
    CHECK(dmp_seg_allow(&d, "one-more") < 0);

    struct dmp_seg_def two[2] = {
        { .name = "heap", .size = 96ULL << 20, .shared = false, .persistent = false },
        { .name = "lib.ro", .size = 8192, .shared = true, .persistent = true, .saved = true },
    };
    dmp_seg_allow(&two[1], "a");
    dmp_seg_allow(&two[1], "b-2");
    char *text = dmp_seg_registry_format(two, 2);
    CHECK(text != NULL);
    struct dmp_seg_def *back = NULL;
    int n = -1;
    CHECK(dmp_seg_registry_parse(text, strlen(text), &back, &n, err, sizeof(err)) == 0);
    CHECK(n == 2);
    if (n == 2) {
        CHECK(same_def(&back[0], &two[0]));
        CHECK(same_def(&back[1], &two[1]));
    }
    free(back);
    free(text);

    const char *bad[] = {
        "segment x 4097 shared persistent saved\n",
        "segment x 4096 shared forever saved\n",
        "segment a/b 4096 shared persistent saved\n",
        "segment x 4096 shared persistent saved\nsegment x 4096 shared persistent saved\n",
        "allow nosuch dom\n",
        "segment x 4096 shared persistent saved\nallow x bad/name\n",
        "frobnicate\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        back = NULL;
        CHECK(dmp_seg_registry_parse(bad[i], strlen(bad[i]), &back, &n, err, sizeof(err)) == -EINVAL);
        CHECK(strstr(err, "line") != NULL || strstr(err, "memory") != NULL);
        free(back);
    }
    CHECK(dmp_seg_registry_parse("# empty\n\n", 10, &back, &n, err, sizeof(err)) == 0 && n == 0);
    free(back);

    /* The error contract: the errno that says why, with the reason in err. */
    CHECK(dmp_seg_name_check("a/b", err, sizeof(err)) == -EINVAL && strstr(err, "'/'") != NULL);
    CHECK(dmp_seg_domname_check("", err, sizeof(err)) == -EINVAL);
    CHECK(dmp_seg_size_parse("lots", &b, err, sizeof(err)) == -EINVAL && strstr(err, "lots") != NULL);
    CHECK(dmp_seg_size_parse("6k", &b, err, sizeof(err)) == -EINVAL && strstr(err, "page") != NULL);
    CHECK(dmp_seg_size_check(0, err, sizeof(err)) == -EINVAL);
    struct dmp_seg_def full = { .name = "f" };
    for (int i = 0; i < DMP_SEG_MAX_ALLOW; i++) {
        char nm[16];
        snprintf(nm, sizeof(nm), "d%d", i);
        CHECK(dmp_seg_allow(&full, nm) == 0);
    }
    CHECK(dmp_seg_allow(&full, "one-more") == -ENOSPC);
    char longdom[DMP_SEG_DOMNAME_MAX + 2];
    memset(longdom, 'x', sizeof(longdom) - 1);
    longdom[sizeof(longdom) - 1] = '\0';
    struct dmp_seg_def empty = { .name = "e" };
    CHECK(dmp_seg_allow(&empty, longdom) == -ENAMETOOLONG);
    return DMP_TEST_SUMMARY("segment");
}
