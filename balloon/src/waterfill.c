#include "dmpballoon/balloon_policy.h"

#include <stdlib.h>

/* Rounds of proportional sharing: each round either saturates at least one guest at its
 * high bound (then redistributes) or distributes everything, so n + 1 rounds suffice. */
bool dmp_waterfill(uint64_t pool_kib, size_t n, const uint64_t *lo, const uint64_t *hi,
                   const uint32_t *w, uint64_t gran_kib, uint64_t *out)
{
    uint64_t sum_lo = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = lo[i];
        sum_lo += lo[i];
    }
    if (sum_lo > pool_kib)
        return false;
    uint64_t units = (pool_kib - sum_lo) / gran_kib;
    bool *full = calloc(n ? n : 1, sizeof(*full));
    uint64_t *rem = calloc(n ? n : 1, sizeof(*rem));
    if (!full || !rem) {
        /* Without scratch memory keep everyone at the low bound: safe, just not generous. */
        free(full);
        free(rem);
        return true;
    }
    for (size_t round = 0; round <= n && units > 0; round++) {
        uint64_t wsum = 0;
        for (size_t i = 0; i < n; i++) {
            full[i] = full[i] || out[i] + gran_kib > hi[i];
            if (!full[i])
                wsum += w[i];
        }
        if (wsum == 0)
            break;
        /* Anyone whose share reaches its cap is filled and the rest shared again. */
        bool capped = false;
        for (size_t i = 0; i < n; i++) {
            if (full[i])
                continue;
            uint64_t cap = (hi[i] - out[i]) / gran_kib;
            uint64_t share = (uint64_t)((unsigned __int128)units * w[i] / wsum);
            if (share >= cap) {
                out[i] += cap * gran_kib;
                units -= cap;
                full[i] = true;
                capped = true;
            }
        }
        if (capped)
            continue;
        uint64_t given = 0;
        for (size_t i = 0; i < n; i++) {
            if (full[i])
                continue;
            unsigned __int128 prod = (unsigned __int128)units * w[i];
            uint64_t share = (uint64_t)(prod / wsum);
            rem[i] = (uint64_t)(prod % wsum);
            out[i] += share * gran_kib;
            given += share;
        }
        uint64_t left = units - given;      /* < number of active guests */
        /* Largest remainders first; ties to the lower index, so the result is deterministic. */
        while (left > 0) {
            size_t best = n;
            for (size_t i = 0; i < n; i++) {
                if (full[i] || rem[i] == UINT64_MAX || out[i] + gran_kib > hi[i])
                    continue;
                if (best == n || rem[i] > rem[best])
                    best = i;
            }
            if (best == n)
                break;
            out[best] += gran_kib;
            rem[best] = UINT64_MAX;    /* at most one extra unit each */
            left--;
        }
        units = left;
        for (size_t i = 0; i < n; i++)
            if (rem[i] == UINT64_MAX)
                rem[i] = 0;
    }
    free(full);
    free(rem);
    return true;
}
