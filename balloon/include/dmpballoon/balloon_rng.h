/* Deterministic pseudo-random numbers for the balancer (xoshiro256** seeded by splitmix64).
 * The estimators must be reproducible from a seed so a test or a lab run can be replayed;
 * rand(3) is neither portable in sequence nor reentrant. */
#ifndef DMP_BALLOON_RNG_H
#define DMP_BALLOON_RNG_H

#include <stdint.h>

struct dmp_rng {
    uint64_t s[4];
};

void dmp_rng_seed(struct dmp_rng *r, uint64_t seed);
uint64_t dmp_rng_next(struct dmp_rng *r);
/* Uniform in [0, n) without modulo bias; n == 0 returns 0. */
uint64_t dmp_rng_below(struct dmp_rng *r, uint64_t n);
/* Uniform double in [0, 1). */
double dmp_rng_unit(struct dmp_rng *r);

#endif
