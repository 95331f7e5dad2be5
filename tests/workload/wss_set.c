#include "wss_set.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define LINE_WORDS 8
#define WORD_STEP  0x9e3779b97f4a7c15ull

void wss_set_init(struct wss_set *s, uint64_t seed, bool full_verify)
{
    memset(s, 0, sizeof *s);
    long ps = sysconf(_SC_PAGESIZE);
    s->page_size = ps > 0 ? (size_t)ps : 4096;
    s->chunk_pages = (1u << 20) / s->page_size;     /* 1 MiB: fine-grained shrinking */
    s->seed = seed;
    s->full_verify = full_verify;
}

static uint64_t page_base(const struct wss_set *s, uint64_t gpage)
{
    uint64_t z = (s->seed ^ (gpage * 0xbf58476d1ce4e5b9ull)) + 0x632be59bd9b4e019ull;
    z = (z ^ (z >> 31)) * 0x94d049bb133111ebull;
    return z ^ (z >> 29);
}

static uint64_t *page_ptr(const struct wss_set *s, const struct wss_chunk *c, uint64_t p)
{
    return (uint64_t *)((char *)c->base + p * s->page_size);
}

static uint64_t words_per_page(const struct wss_set *s) { return s->page_size / sizeof(uint64_t); }

static uint64_t first_gpage(const struct wss_set *s, size_t ci) { return (uint64_t)ci * s->chunk_pages; }

static void fill_page(const struct wss_set *s, struct wss_chunk *c, uint64_t p)
{
    uint64_t *w = page_ptr(s, c, p), base = page_base(s, first_gpage(s, (size_t)(c - s->chunks)) + p);
    w[0] = 0;
    for (uint64_t k = 1; k < words_per_page(s); k++)
        w[k] = base + k * WORD_STEP;
    c->stamps[p] = 0;
}

static size_t chunk_bytes(const struct wss_set *s) { return s->chunk_pages * s->page_size; }

/* Shrink the last chunk to `pages`: MADV_DONTNEED hands the tail's frames back to the
 * kernel at once (RSS drops) while the address range stays ours for re-growing. */
static int shrink_chunk(struct wss_set *s, struct wss_chunk *c, uint64_t pages)
{
    if (madvise((char *)c->base + pages * s->page_size, (c->pages - pages) * s->page_size,
                MADV_DONTNEED) != 0)
        return -1;
    s->pages -= c->pages - pages;
    c->pages = pages;
    return 0;
}

static int add_chunk(struct wss_set *s)
{
    if (s->nchunks == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct wss_chunk *n = realloc(s->chunks, cap * sizeof *n);
        if (!n)
            return -1;
        s->chunks = n;
        s->cap = cap;
    }
    struct wss_chunk *c = &s->chunks[s->nchunks];
    c->stamps = calloc(s->chunk_pages, sizeof *c->stamps);
    if (!c->stamps)
        return -1;
    c->base = mmap(NULL, chunk_bytes(s), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (c->base == MAP_FAILED) {
        int e = errno;
        free(c->stamps);
        errno = e;
        return -1;
    }
    /* Page-granular working set: a huge page would make it 2 MiB-lumpy for the balancer. */
    (void)madvise(c->base, chunk_bytes(s), MADV_NOHUGEPAGE);
    c->pages = 0;
    s->nchunks++;
    return 0;
}

int wss_set_resize(struct wss_set *s, uint64_t pages)
{
    /* Any resize restarts the pass, so "loops" always means whole passes over one set. */
    s->cur_chunk = 0;
    s->cur_page = 0;
    while (s->pages > pages) {
        struct wss_chunk *c = &s->chunks[s->nchunks - 1];
        uint64_t drop = s->pages - pages;
        if (drop < c->pages) {
            if (shrink_chunk(s, c, c->pages - drop) != 0)
                return -1;
        } else {
            if (munmap(c->base, chunk_bytes(s)) != 0)
                return -1;
            free(c->stamps);
            s->pages -= c->pages;
            s->nchunks--;
        }
    }
    while (s->pages < pages) {
        /* Only the last chunk may be partial, so chunk i starts at page i*chunk_pages. */
        if ((s->nchunks == 0 || s->chunks[s->nchunks - 1].pages == s->chunk_pages) &&
            add_chunk(s) != 0)
            return -1;
        struct wss_chunk *c = &s->chunks[s->nchunks - 1];
        while (c->pages < s->chunk_pages && s->pages < pages) {
            fill_page(s, c, c->pages);
            c->pages++;
            s->pages++;
        }
    }
    return 0;
}

void wss_set_destroy(struct wss_set *s)
{
    (void)wss_set_resize(s, 0);
    free(s->chunks);
    s->chunks = NULL;
    s->cap = 0;
}

static int check_words(const struct wss_set *s, const uint64_t *w, uint64_t gpage,
                       uint64_t from, uint64_t to, char *err, size_t errlen)
{
    uint64_t base = page_base(s, gpage);
    for (uint64_t k = from; k < to; k++) {
        uint64_t want = base + k * WORD_STEP;
        if (w[k] != want) {
            snprintf(err, errlen, "page %" PRIu64 " word %" PRIu64 ": read 0x%016" PRIx64
                     ", expected 0x%016" PRIx64, gpage, k, w[k], want);
            return -1;
        }
    }
    return 0;
}

/* The line of a page that pass `loop` checks; shifted by page so that one pass
 * touches every line offset (cache sets) rather than the same one everywhere. */
static uint64_t line_of(const struct wss_set *s, uint64_t gpage, uint64_t loop)
{
    uint64_t lines = words_per_page(s) / LINE_WORDS;
    return (gpage + loop) % lines;
}

int wss_set_touch(struct wss_set *s, uint64_t max, uint64_t *done, char *err, size_t errlen)
{
    *done = 0;
    if (s->pages == 0)
        return 0;
    while (*done < max) {
        struct wss_chunk *c = &s->chunks[s->cur_chunk];
        uint64_t gpage = first_gpage(s, s->cur_chunk) + s->cur_page;
        volatile uint64_t *vw = page_ptr(s, c, s->cur_page);
        const uint64_t *w = (const uint64_t *)vw;
        if (vw[0] != c->stamps[s->cur_page]) {
            snprintf(err, errlen, "page %" PRIu64 " touch counter: read %" PRIu64
                     ", expected %" PRIu64, gpage, vw[0], c->stamps[s->cur_page]);
            return -1;
        }
        int bad;
        if (s->full_verify) {
            bad = check_words(s, w, gpage, 1, words_per_page(s), err, errlen);
        } else {
            uint64_t l = line_of(s, gpage, s->loops);
            bad = check_words(s, w, gpage, l ? l * LINE_WORDS : 1, (l + 1) * LINE_WORDS, err, errlen);
        }
        if (bad)
            return -1;
        vw[0] = ++c->stamps[s->cur_page];
        (*done)++;
        if (++s->cur_page == c->pages) {
            s->cur_page = 0;
            if (++s->cur_chunk == s->nchunks) {
                s->cur_chunk = 0;
                s->loops++;
            }
        }
    }
    return 0;
}

void wss_set_corrupt(struct wss_set *s, uint64_t page)
{
    if (s->pages == 0)
        return;
    page %= s->pages;
    size_t ci = (size_t)(page / s->chunk_pages);
    uint64_t p = page % s->chunk_pages;
    uint64_t *w = page_ptr(s, &s->chunks[ci], p);
    /* Corrupt the line that this page's next touch checks. */
    uint64_t cursor = first_gpage(s, s->cur_chunk) + s->cur_page;
    uint64_t l = line_of(s, page, page < cursor ? s->loops + 1 : s->loops);
    w[l ? l * LINE_WORDS : 1] ^= 0x10;
}
