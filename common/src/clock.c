#include "dmpcommon/clock.h"

#include <errno.h>
#include <time.h>

static struct timespec now_on(clockid_t clock)
{
    struct timespec ts;
    /* Cannot fail with these clock ids and a valid pointer. */
    clock_gettime(clock, &ts);
    return ts;
}

uint64_t dmp_mono_ns(void)
{
    struct timespec ts = now_on(CLOCK_MONOTONIC);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t dmp_mono_us(void)
{
    return dmp_mono_ns() / 1000u;
}

uint64_t dmp_mono_ms(void)
{
    return dmp_mono_ns() / 1000000u;
}

double dmp_mono_s(void)
{
    struct timespec ts = now_on(CLOCK_MONOTONIC);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t dmp_wall_ms(void)
{
    struct timespec ts = now_on(CLOCK_REALTIME);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void dmp_sleep_ms(uint64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}
