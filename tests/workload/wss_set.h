/* A working set with known contents: pages are mapped in 1 MiB chunks, grown with mmap,
 * shrunk with munmap or MADV_DONTNEED (so the memory really goes back to the kernel); every page
 * carries data this module can verify on each touch.
 *
 * Page layout: word 0 is a touch counter mirrored in a per-page array; words 1.. hold
 * a pattern fixed at allocation, derived from the page's index. A touch reads and
 * checks the counter and one 64-byte line (rotating, so every line of every page is
 * checked once per 64 loops; or the whole page in full mode), then writes the counter. */
#ifndef WSS_SET_H
#define WSS_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wss_chunk {
    void *base;
    uint64_t pages;
    uint64_t *stamps;           /* expected value of word 0 of each page */
};

struct wss_set {
    size_t page_size;
    uint64_t chunk_pages;       /* pages per full chunk */
    struct wss_chunk *chunks;
    size_t nchunks, cap;
    uint64_t pages;             /* total pages in the set */
    uint64_t seed;
    bool full_verify;
    /* Touch cursor: next page to touch, and completed passes over the whole set. */
    size_t cur_chunk;
    uint64_t cur_page;
    uint64_t loops;
};

void wss_set_init(struct wss_set *s, uint64_t seed, bool full_verify);
void wss_set_destroy(struct wss_set *s);

/* Grow or shrink to exactly `pages`. New pages are written (committed) at once.
 * On failure (mmap ENOMEM, ...) keeps whatever was reached, returns -1 with errno set. */
int wss_set_resize(struct wss_set *s, uint64_t pages);

/* Touch up to `max` pages from the cursor on (wrapping, counting loops). Stores the
 * number touched in *done. Returns 0, or -1 on a content mismatch with a description
 * in err (the set is then not trustworthy any more). */
int wss_set_touch(struct wss_set *s, uint64_t max, uint64_t *done, char *err, size_t errlen);

/* Test hook: corrupt the part of one page that the next pass checks. */
void wss_set_corrupt(struct wss_set *s, uint64_t page);

#endif
