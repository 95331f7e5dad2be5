/* The arithmetic of balloon control must equal libxl_set_memory_target (Xen 4.17, enforce=1):
 * target = size - videoram; maxmem = target + videoram + 1024; PoD = (target + 1024) / 4. */
#include <errno.h>

#include "dmpmem/balloon_ctl.h"
#include "dmpcommon/test.h"

int main(void)
{
    struct dmp_balloon_plan p;
    /* PVH guest, no video memory: xl mem-set g 512 */
    CHECK(dmp_balloon_plan(512 * 1024, 0, 1024 * 1024, &p) == 0);
    CHECK_EQ_U64(p.target_kib, 524288);
    CHECK_EQ_U64(p.maxmem_kib, 524288 + 1024);
    CHECK_EQ_U64(p.pod_pages, (524288 + 1024) / 4);
    CHECK_EQ_U64(p.vm_memory_mib, 512);
    /* HVM guest with 8 MiB of video memory: xl subtracts it from the target, adds it back to
     * maxmem, not to the PoD target. */
    CHECK(dmp_balloon_plan(1024 * 1024, 8192, 2048 * 1024, &p) == 0);
    CHECK_EQ_U64(p.target_kib, 1024 * 1024 - 8192);
    CHECK_EQ_U64(p.maxmem_kib, 1024 * 1024 + 1024);
    CHECK_EQ_U64(p.pod_pages, (1024 * 1024 - 8192 + 1024) / 4);
    /* exactly static-max is allowed, one KiB more is not */
    CHECK(dmp_balloon_plan(2048 * 1024, 0, 2048 * 1024, &p) == 0);
    CHECK(dmp_balloon_plan(2048 * 1024 + 1, 0, 2048 * 1024, &p) == -EINVAL);
    /* videoram counts: size - videoram is compared with static-max */
    CHECK(dmp_balloon_plan(2048 * 1024 + 8192, 8192, 2048 * 1024, &p) == 0);
    /* a size below the video memory gives target 0 (libxl would too; callers refuse it) */
    CHECK(dmp_balloon_plan(4096, 8192, 2048 * 1024, &p) == 0);
    CHECK_EQ_U64(p.target_kib, 0);
    return DMP_TEST_SUMMARY("balloon_ctl");
}
