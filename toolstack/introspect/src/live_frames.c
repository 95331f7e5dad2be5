/* Guest frames -> dom0 pointers, cached.
 *
 * Mapping a foreign frame costs a privcmd ioctl and a hypercall; reading a kernel image means
 * tens of thousands of frames, and every page walk touches four or five table frames. So we map
 * aligned windows of 512 frames (2 MiB of guest-physical space) in one call and keep up to
 * max_windows of them (LRU). Frames the mapper could not map (holes, MMIO, frames the domain
 * does not own) are remembered per window and reported as -EFAULT: we never touch them, since
 * touching a failed frame of a privcmd mapping raises SIGBUS.
 *
 * Read windows are mapped read-only. A write maps each target frame writable just for that
 * write, so no bug on the read path can ever modify the guest. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dmpintrospect/live.h"

#define FRAME 4096u
#define WIN_FRAMES DMP_FCACHE_WINDOW_FRAMES
#define WRITE_MAX_FRAMES 64   /* a patch write is a few bytes; 256 KiB bounds a confused caller */

struct window {
    bool used;
    uint64_t base;                 /* first gfn */
    uint8_t *addr;
    uint64_t bad[WIN_FRAMES / 64]; /* bit set: frame not mapped */
    uint64_t last_use;
};

struct dmp_fcache {
    struct dmp_frame_mapper m;
    struct window *w;
    size_t max, last;
    uint64_t tick;
    struct dmp_fcache_stats st;
};

int dmp_fcache_new(const struct dmp_frame_mapper *m, size_t max_windows, struct dmp_fcache **out)
{
    if (!m || !m->map || !m->unmap || !out || max_windows == 0 || max_windows > 4096)
        return -EINVAL;
    struct dmp_fcache *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->w = calloc(max_windows, sizeof(*c->w));
    if (!c->w) {
        free(c);
        return -ENOMEM;
    }
    c->m = *m;
    c->max = max_windows;
    *out = c;
    return 0;
}

static void window_drop(struct dmp_fcache *c, struct window *w)
{
    if (w->used && w->addr) {
        /* An unmap failure leaks address space only; there is nothing better to do. */
        (void)c->m.unmap(c->m.ctx, w->addr, WIN_FRAMES);
        c->st.window_unmaps++;
    }
    memset(w, 0, sizeof(*w));
}

void dmp_fcache_free(struct dmp_fcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->max; i++)
        window_drop(c, &c->w[i]);
    free(c->w);
    free(c);
}

/* The window holding gfn, mapping it (and evicting the least recently used) if needed. */
static int window_get(struct dmp_fcache *c, uint64_t gfn, struct window **out)
{
    uint64_t base = gfn & ~(uint64_t)(WIN_FRAMES - 1);
    c->tick++;
    if (c->w[c->last].used && c->w[c->last].base == base) {
        c->st.hits++;
        c->w[c->last].last_use = c->tick;
        *out = &c->w[c->last];
        return 0;
    }
    size_t victim = 0;
    for (size_t i = 0; i < c->max; i++) {
        struct window *w = &c->w[i];
        if (w->used && w->base == base) {
            c->st.hits++;
            w->last_use = c->tick;
            c->last = i;
            *out = w;
            return 0;
        }
        if (!w->used || (c->w[victim].used && w->last_use < c->w[victim].last_use))
            victim = i;
    }
    c->st.misses++;
    struct window *w = &c->w[victim];
    window_drop(c, w);
    uint64_t gfns[WIN_FRAMES];
    int errs[WIN_FRAMES];
    for (unsigned i = 0; i < WIN_FRAMES; i++) {
        gfns[i] = base + i;
        errs[i] = 0;
    }
    /* A failure of the call itself (dom0 out of address space or memory, a transient privcmd
     * error), unlike per-frame errors, says nothing about the guest: it is asked again, and
     * if it persists reported with its errno (never -EFAULT, which means "not a frame of the
     * guest" here) and not remembered, so a later read asks again. */
    void *p = NULL;
    int why = 0;
    for (unsigned tries = 0; tries < 3 && !p; tries++) {
        errno = 0;
        p = c->m.map(c->m.ctx, gfns, WIN_FRAMES, false, errs);
        if (!p) {
            c->st.map_failures++;
            why = errno && errno != EFAULT ? errno : EIO;
        }
    }
    if (!p)
        return -why;
    w->used = true;
    w->base = base;
    w->addr = p;
    w->last_use = c->tick;
    /* Frames that did not map are remembered, so a scan over a hole does not ask Xen again
     * for every page. */
    for (unsigned i = 0; i < WIN_FRAMES; i++)
        if (errs[i])
            w->bad[i / 64] |= 1ull << (i % 64);
    c->st.window_maps++;
    c->last = victim;
    *out = w;
    return 0;
}

int dmp_fcache_read(struct dmp_fcache *c, uint64_t gpa, void *buf, size_t len, uint64_t *bad_gpa)
{
    if (!c || (!buf && len))
        return -EINVAL;
    uint8_t *dst = buf;
    while (len) {
        uint64_t gfn = gpa / FRAME;
        struct window *w;
        int r = window_get(c, gfn, &w);
        if (r)
            return r;
        unsigned idx = (unsigned)(gfn - w->base);
        if (w->bad[idx / 64] & (1ull << (idx % 64))) {
            if (bad_gpa)
                *bad_gpa = gpa;
            return -EFAULT;
        }
        size_t off = gpa % FRAME, n = FRAME - off;
        if (n > len)
            n = len;
        memcpy(dst, w->addr + (size_t)idx * FRAME + off, n);
        dst += n;
        gpa += n;
        len -= n;
    }
    return 0;
}

int dmp_fcache_write(struct dmp_fcache *c, uint64_t gpa, const void *buf, size_t len,
                     uint64_t *bad_gpa)
{
    if (!c || (!buf && len))
        return -EINVAL;
    if (!len)
        return 0;
    uint64_t first = gpa / FRAME, last = (gpa + len - 1) / FRAME;
    if (last < first || last - first + 1 > WRITE_MAX_FRAMES)
        return -E2BIG;
    size_t nf = (size_t)(last - first + 1);
    uint8_t *maps[WRITE_MAX_FRAMES];
    int rc = 0;
    size_t mapped = 0;
    for (; mapped < nf; mapped++) {
        uint64_t g = first + mapped;
        int err = 0;
        maps[mapped] = c->m.map(c->m.ctx, &g, 1, true, &err);
        if (maps[mapped])
            c->st.write_maps++;
        if (!maps[mapped] || err) {
            if (maps[mapped])
                (void)c->m.unmap(c->m.ctx, maps[mapped], 1);
            if (bad_gpa)
                *bad_gpa = g == first ? gpa : g * FRAME;
            rc = -EFAULT;
            break;
        }
    }
    if (rc == 0) {
        const uint8_t *src = buf;
        uint64_t a = gpa;
        for (size_t i = 0; i < nf; i++) {
            size_t off = a % FRAME, n = FRAME - off;
            if (n > len)
                n = len;
            memcpy(maps[i] + off, src, n);
            src += n;
            a += n;
            len -= n;
        }
    }
    for (size_t i = 0; i < mapped; i++) {
        int u = c->m.unmap(c->m.ctx, maps[i], 1);
        if (u && rc == 0)
            rc = u;
    }
    return rc;
}

void dmp_fcache_get_stats(const struct dmp_fcache *c, struct dmp_fcache_stats *st)
{
    if (c && st)
        *st = c->st;
}

static int physmem_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
    return dmp_fcache_read(ctx, gpa, buf, len, NULL);
}

void dmp_fcache_physmem(struct dmp_fcache *c, struct dmp_physmem *out)
{
    out->read = physmem_read;
    out->ctx = c;
}
