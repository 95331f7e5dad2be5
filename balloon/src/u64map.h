/* Internal: a u64 -> u64 hash map with linear probing and backward-shift deletion (no
 * tombstones, so long runs of inserts and deletes never degrade it). Fixed capacity chosen
 * at init: the users know their bound (pages tracked, hot-list length). */
#ifndef DMP_BALLOON_U64MAP_H
#define DMP_BALLOON_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct u64map {
    uint64_t *keys;     /* key + 1; 0 = empty */
    uint64_t *vals;
    size_t mask;
    size_t count, limit;
};

int u64map_init(struct u64map *m, size_t max_entries);
void u64map_free(struct u64map *m);
uint64_t *u64map_get(const struct u64map *m, uint64_t key);
/* Returns 0, or -ENOSPC when the map already holds max_entries keys (-EINVAL for key ==
 * UINT64_MAX). u64map_init returns 0 or -ENOMEM. */
int u64map_put(struct u64map *m, uint64_t key, uint64_t val);
bool u64map_del(struct u64map *m, uint64_t key);

#endif
