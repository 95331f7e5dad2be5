/* The toolkit's clocks. Durations, deadlines and rates use the monotonic clock (it never
 * jumps with the wall clock); only records that must mean the same after a restart or to
 * another program use the wall clock. */
#ifndef DMP_CLOCK_H
#define DMP_CLOCK_H

#include <stdint.h>

/* Monotonic time (CLOCK_MONOTONIC) since an arbitrary start, in several units. */
uint64_t dmp_mono_ns(void);
uint64_t dmp_mono_us(void);
uint64_t dmp_mono_ms(void);
double dmp_mono_s(void);

/* Wall-clock time (CLOCK_REALTIME) in milliseconds since the Unix epoch. */
uint64_t dmp_wall_ms(void);

/* Sleep ms milliseconds, resuming after a signal handler interrupts it. */
void dmp_sleep_ms(uint64_t ms);

#endif
