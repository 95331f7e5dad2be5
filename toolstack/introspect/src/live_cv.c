/* A code view whose function sizes stop where long padding begins (see dmp/live.h). */
#include <errno.h>
#include <stdlib.h>

#include "dmpintrospect/live.h"

struct trim_ctx {
    struct dmp_codeview inner;
};

static void trim(const struct dmp_codeview *in, struct dmp_func *f)
{
    if (f->size < DMP_LIVE_PAD_TRIM)
        return;
    const uint8_t *b = dmp_cv_bytes(in, f->start, f->size);
    if (!b)
        return;
    uint64_t n = f->size;
    uint8_t pad = b[n - 1];
    if (pad != 0xcc && pad != 0x00)
        return;
    while (n > 0 && b[n - 1] == pad)
        n--;
    if (f->size - n >= DMP_LIVE_PAD_TRIM)
        f->size = n;
}

static size_t t_nsyms(void *ctx)
{
    struct trim_ctx *c = ctx;
    return c->inner.nsyms ? c->inner.nsyms(c->inner.ctx) : 0;
}

static int t_get(void *ctx, size_t i, struct dmp_func *out)
{
    struct trim_ctx *c = ctx;
    int rc = c->inner.sym_get(c->inner.ctx, i, out);
    if (rc == 0)
        trim(&c->inner, out);
    return rc;
}

static int t_at(void *ctx, uint64_t va, struct dmp_func *out)
{
    struct trim_ctx *c = ctx;
    int rc = c->inner.sym_at(c->inner.ctx, va, out);
    if (rc == 0) {
        trim(&c->inner, out);
        if (va - out->start >= out->size && va != out->start)
            return -ENOENT;   /* va is in the padding, not in the function */
    }
    return rc;
}

static int t_by_name(void *ctx, const char *name, struct dmp_func *out)
{
    struct trim_ctx *c = ctx;
    int rc = c->inner.sym_by_name(c->inner.ctx, name, out);
    if (rc == 0)
        trim(&c->inner, out);
    return rc;
}

static int t_read(void *ctx, uint64_t va, void *buf, size_t len)
{
    struct trim_ctx *c = ctx;
    return dmp_cv_read(&c->inner, va, buf, len);
}

static void t_release(void *ctx)
{
    struct trim_ctx *c = ctx;
    dmp_cv_release(&c->inner);
    free(c);
}

int dmp_live_codeview(struct dmp_codeview *cv, struct dmp_kimage *ki, struct dmp_ksyms *ks)
{
    struct trim_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    int rc = dmp_cv_from_kimage(&c->inner, ki, ks);
    if (rc) {
        free(c);
        return rc;
    }
    *cv = c->inner;   /* same text */
    cv->ctx = c;
    cv->nsyms = t_nsyms;
    cv->sym_get = t_get;
    cv->sym_at = t_at;
    cv->sym_by_name = t_by_name;
    cv->read = t_read;
    cv->release = t_release;
    return 0;
}
