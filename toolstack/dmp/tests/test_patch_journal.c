/* Where a live patch's journal lives, and the errors of storing it: a journal that cannot be
 * written must say why with the real errno. (The command used to take strerror of the -1 that
 * common's file helpers return, so every failure read "Operation not permitted".) The file is
 * written before xenstore is touched, so these failures need no Xen. */
#include "dmp/patch_journal.h"
#include "dmpcommon/test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_places(void)
{
    struct dmp_patch_target t;
    dmp_patch_target_init(&t, 12, "web", "5d0c1e2f-0000-4000-8000-000000000001", NULL);
    CHECK_STREQ(t.dir, "/var/lib/dmp/dmp");
    CHECK_STREQ(t.xs_dir, "/local/domain/0/dmp/12/journal");
    CHECK_STREQ(t.file, "/var/lib/dmp/dmp/5d0c1e2f-0000-4000-8000-000000000001.journal");
    /* A domain without a uuid is named by its name. */
    dmp_patch_target_init(&t, 3, "lp", "", "/run/x");
    CHECK_STREQ(t.file, "/run/x/lp.journal");
}

static void expect_store_error(const char *dir, int want, const char *file)
{
    struct dmp_patch_target t;
    char err[512] = "", msg[512];
    dmp_patch_target_init(&t, 3, "lp", "u-1", dir);
    errno = 0;
    int rc = dmp_journal_store(NULL, &t, "dmplive1\nend 0\n", err, sizeof(err));
    CHECK_EQ_U64((uint64_t)-rc, (uint64_t)want);
    snprintf(msg, sizeof(msg), "cannot write journal %s: %s", file, strerror(want));
    CHECK_STREQ(err, msg);
    CHECK(strstr(err, strerror(EPERM)) == NULL);
}

static void test_store_errors(void)
{
    char base[] = "/tmp/test_patch_journal.XXXXXX";
    CHECK(mkdtemp(base) != NULL);
    char path[128], file[400];

    /* The state directory's parent is a regular file: mkdir fails with ENOTDIR. */
    snprintf(path, sizeof(path), "%s/plain", base);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    char dir[200];
    snprintf(dir, sizeof(dir), "%s/state", path);
    snprintf(file, sizeof(file), "%s/u-1.journal", dir);
    expect_store_error(dir, ENOTDIR, file);

    /* The journal's name is taken by a directory: the rename fails with EISDIR (also for
     * root, whom permission bits do not stop). */
    snprintf(dir, sizeof(dir), "%s/st", base);
    snprintf(file, sizeof(file), "%s/u-1.journal", dir);
    CHECK(mkdir(dir, 0755) == 0 && mkdir(file, 0755) == 0);
    expect_store_error(dir, EISDIR, file);

    rmdir(file);
    rmdir(dir);
    unlink(path);
    rmdir(base);
}

int main(void)
{
    test_places();
    test_store_errors();
    return DMP_TEST_SUMMARY("patch_journal");
}
