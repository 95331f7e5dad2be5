/* wsswork schedules: "32m:20s,96m:40s,16m:20s" = a working set of 32 MiB for 20 s,
 * then 96 MiB for 40 s, then 16 MiB for 20 s. */
#ifndef WSS_SCHEDULE_H
#define WSS_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#define WSS_MAX_STEPS 256

struct wss_step {
    uint64_t bytes;             /* working-set size (0 = release everything) */
    uint64_t ms;                /* how long to hold it, > 0 */
};

struct wss_schedule {
    struct wss_step steps[WSS_MAX_STEPS];
    size_t n;
};

/* Sizes use dmp_parse_size with MiB as the unit of bare numbers (as xl does), durations
 * dmp_parse_duration_ms (ms, s, m or min, h; a bare number is seconds).
 * Returns 0, or -1 with a message naming the bad step in err. */
int wss_schedule_parse(const char *s, struct wss_schedule *out, char *err, size_t errlen);

/* Sum of all step durations. */
uint64_t wss_schedule_total_ms(const struct wss_schedule *s);

#endif
