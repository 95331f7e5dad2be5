/* The installed Debian kernel image, for the tests that also check a real kernel. Static
 * function in a header: each user is a single translation unit. */
#ifndef DMP_TESTS_REAL_KERNEL_H
#define DMP_TESTS_REAL_KERNEL_H

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmpcommon/test.h"

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

#endif
