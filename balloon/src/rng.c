#include "dmpballoon/balloon_rng.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void dmp_rng_seed(struct dmp_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t dmp_rng_next(struct dmp_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t dmp_rng_below(struct dmp_rng *r, uint64_t n)
{
    if (n == 0)
        return 0;
    /* Reject the top partial range so every residue is equally likely. The loop ends with
     * probability > 1/2 per draw; 128 draws bound it far beyond any realistic run. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    uint64_t x = dmp_rng_next(r);
    for (int i = 0; i < 128 && x >= limit; i++)
        x = dmp_rng_next(r);
    return x % n;
}

double dmp_rng_unit(struct dmp_rng *r)
{
    return (double)(dmp_rng_next(r) >> 11) * 0x1.0p-53;
}
