/* The library's monotonic clock (lib_internal.h), until common/ has the one clock. */
#include <time.h>

#include "lib_internal.h"

double dmp_now_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
