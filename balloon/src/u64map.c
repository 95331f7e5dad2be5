#include "u64map.h"

#include <errno.h>

#include <stdlib.h>

static size_t slot_of(const struct u64map *m, uint64_t key)
{
    return (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 20) & m->mask;
}

int u64map_init(struct u64map *m, size_t max_entries)
{
    size_t cap = 16;
    while (cap < 2 * max_entries + 2)
        cap <<= 1;
    m->keys = calloc(cap, sizeof(*m->keys));
    m->vals = calloc(cap, sizeof(*m->vals));
    m->mask = cap - 1;
    m->count = 0;
    m->limit = max_entries;
    if (!m->keys || !m->vals) {
        u64map_free(m);
        return -ENOMEM;
    }
    return 0;
}

void u64map_free(struct u64map *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = m->vals = NULL;
}

uint64_t *u64map_get(const struct u64map *m, uint64_t key)
{
    size_t h = slot_of(m, key);
    for (size_t i = 0; i <= m->mask; i++, h = (h + 1) & m->mask) {
        if (m->keys[h] == 0)
            return NULL;
        if (m->keys[h] == key + 1)
            return &m->vals[h];
    }
    return NULL;
}

int u64map_put(struct u64map *m, uint64_t key, uint64_t val)
{
    if (key == UINT64_MAX)
        return -EINVAL;
    size_t h = slot_of(m, key);
    for (size_t i = 0; i <= m->mask; i++, h = (h + 1) & m->mask) {
        if (m->keys[h] == key + 1) {
            m->vals[h] = val;
            return 0;
        }
        if (m->keys[h] == 0) {
            if (m->count >= m->limit)
                return -ENOSPC;
            m->keys[h] = key + 1;
            m->vals[h] = val;
            m->count++;
            return 0;
        }
    }
    return -ENOSPC;
}

bool u64map_del(struct u64map *m, uint64_t key)
{
    size_t h = slot_of(m, key);
    size_t i;
    for (i = 0; i <= m->mask; i++, h = (h + 1) & m->mask) {
        if (m->keys[h] == 0)
            return false;
        if (m->keys[h] == key + 1)
            break;
    }
    if (i > m->mask)
        return false;
    /* Backward shift: pull later members of the probe run into the hole when their home
     * slot does not lie cyclically between the hole and their current slot. */
    size_t hole = h, j = h;
    for (size_t n = 0; n <= m->mask; n++) {
        j = (j + 1) & m->mask;
        if (m->keys[j] == 0)
            break;
        size_t home = slot_of(m, m->keys[j] - 1);
        bool between = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!between) {
            m->keys[hole] = m->keys[j];
            m->vals[hole] = m->vals[j];
            hole = j;
        }
    }
    m->keys[hole] = 0;
    m->count--;
    return true;
}
