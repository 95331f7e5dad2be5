/* Small helpers every module of libdmp may use; not a public interface. Both stand in for what
 * issue 17 puts into common/ (file helpers returning -errno, one monotonic clock): when those
 * are there, each becomes a one-line change here. */
#ifndef DMP_LIB_INTERNAL_H
#define DMP_LIB_INTERNAL_H

#include <errno.h>

/* common's file helpers return -1 with errno today; this reads either that or a -errno
 * (then it is `return rc;`). */
static inline int dmp_sys_rc(int rc)
{
    return rc == -1 ? -errno : rc;
}

/* Monotonic seconds, for the durations the reports carry. */
double dmp_now_secs(void);

#endif
