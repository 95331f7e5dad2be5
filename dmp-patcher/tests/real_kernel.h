/* The installed Debian kernel image, for the tests that also check a real kernel. Static
 * functions in a header: each user is a single translation unit. */
#ifndef DMP_TESTS_REAL_KERNEL_H
#define DMP_TESTS_REAL_KERNEL_H

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmpcommon/test.h"
#include "dmppatcher/kimage.h"

/* The newest /boot/vmlinuz-*-amd64 (g holds it: globfree(g) when done), or NULL after
 * printing SKIP, or after failing a check when DMP_REQUIRE_KERNEL=1 says it must be there. */
static inline const char *real_kernel_image(glob_t *g)
{
    if (glob("/boot/vmlinuz-*-amd64", 0, NULL, g) != 0 || g->gl_pathc == 0) {
        const char *req = getenv("DMP_REQUIRE_KERNEL");
        if (req && strcmp(req, "1") == 0) {
            fprintf(stderr, "no /boot/vmlinuz-*-amd64 but DMP_REQUIRE_KERNEL=1\n");
            CHECK(!"kernel image required");
        } else {
            printf("SKIP: no /boot/vmlinuz-*-amd64 installed\n");
        }
        return NULL;
    }
    return g->gl_pathv[g->gl_pathc - 1];
}

/* That image opened (dmp_kimage_open_file), for the tests that read it. */
struct real_kernel {
    glob_t g;
    const char *path;
    struct dmp_kimage *k;
};

/* rk->k, or NULL after a SKIP (no image) or a failed check (it would not open; the reason on
 * stderr). Unless it returned NULL, real_kernel_close(rk) when done. */
static inline struct dmp_kimage *real_kernel_open(struct real_kernel *rk)
{
    rk->k = NULL;
    rk->path = real_kernel_image(&rk->g);
    if (!rk->path)
        return NULL;
    char err[512];
    int r = dmp_kimage_open_file(rk->path, &rk->k, err, sizeof(err));
    if (r)
        fprintf(stderr, "  %s: %s\n", rk->path, err);
    CHECK_EQ_U64(r, 0);
    if (!rk->k)
        globfree(&rk->g);
    return rk->k;
}

static inline void real_kernel_close(struct real_kernel *rk)
{
    dmp_kimage_close(rk->k);
    rk->k = NULL;
    globfree(&rk->g);
}

#endif
