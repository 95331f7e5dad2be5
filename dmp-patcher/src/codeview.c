/* Code views: accessors plus the two providers (symbol table, kimage + kallsyms). */
#include "dmppatcher/codeview.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool is_text_type(char t)
{
    return t == 't' || t == 'T' || t == 'w' || t == 'W';
}

/* The bytes of [va, va + len) in text [start, end), or NULL when they are not all in it. */
static const uint8_t *text_bytes(const uint8_t *text, uint64_t start, uint64_t end, uint64_t va,
                                 size_t len)
{
    if (va < start || va > end || len > end - va)
        return NULL;
    return text + (va - start);
}

const uint8_t *dmp_cv_bytes(const struct dmp_codeview *cv, uint64_t va, size_t len)
{
    return text_bytes(cv->text, cv->text_start, cv->text_end, va, len);
}

int dmp_cv_func_at(const struct dmp_codeview *cv, uint64_t va, struct dmp_func *out)
{
    if (!cv->sym_at || cv->sym_at(cv->ctx, va, out) != 0)
        return -ENOENT;
    if (!is_text_type(out->type) || out->size == 0)
        return -ENOENT;
    return 0;
}

int dmp_cv_by_name(const struct dmp_codeview *cv, const char *name, struct dmp_func *out)
{
    if (!cv->sym_by_name)
        return -ENOENT;
    return cv->sym_by_name(cv->ctx, name, out);
}

int dmp_cv_read(const struct dmp_codeview *cv, uint64_t va, void *buf, size_t len)
{
    const uint8_t *b = dmp_cv_bytes(cv, va, len);
    if (b) {
        memcpy(buf, b, len);
        return 0;
    }
    if (!cv->read)
        return -EFAULT;
    return cv->read(cv->ctx, va, buf, len);
}

/* ---- table provider ---- */

static int cmp_func(const void *a, const void *b)
{
    const struct dmp_func *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static size_t tab_n(void *ctx)
{
    return ((struct dmp_symtable *)ctx)->n;
}

static int tab_get(void *ctx, size_t i, struct dmp_func *out)
{
    struct dmp_symtable *t = ctx;
    if (i >= t->n)
        return -ENOENT;
    *out = t->funcs[i];
    return 0;
}

static int tab_at(void *ctx, uint64_t va, struct dmp_func *out)
{
    struct dmp_symtable *t = ctx;
    size_t lo = 0, hi = t->n;
    while (lo < hi) {   /* last symbol with start <= va */
        size_t mid = (lo + hi) / 2;
        if (t->funcs[mid].start <= va)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -ENOENT;
    const struct dmp_func *f = &t->funcs[lo - 1];
    if (va - f->start >= f->size)
        return -ENOENT;
    *out = *f;
    return 0;
}

static int tab_by_name(void *ctx, const char *name, struct dmp_func *out)
{
    struct dmp_symtable *t = ctx;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->funcs[i].name, name) == 0) {
            *out = t->funcs[i];
            return 0;
        }
    return -ENOENT;
}

void dmp_cv_from_table(struct dmp_codeview *cv, struct dmp_symtable *tab, uint64_t text_start,
                       const uint8_t *text, size_t text_len)
{
    qsort(tab->funcs, tab->n, sizeof(*tab->funcs), cmp_func);
    memset(cv, 0, sizeof(*cv));
    cv->text_start = text_start;
    cv->text_end = text_start + text_len;
    cv->text = text;
    cv->ctx = tab;
    cv->nsyms = tab_n;
    cv->sym_get = tab_get;
    cv->sym_at = tab_at;
    cv->sym_by_name = tab_by_name;
}

/* ---- kimage + kallsyms provider ---- */

struct kview_ctx {
    struct dmp_kimage *ki;
    struct dmp_ksyms *ks;
    uint64_t pad_trim;                  /* 0: the sizes kallsyms gives */
    uint64_t text_start, text_end;
    const uint8_t *text;
};

/* A trailing run of one padding byte (int3 or zero) of at least pad_trim bytes is not code:
 * the function ends before it. */
static void trim_padding(const struct kview_ctx *c, struct dmp_func *f)
{
    if (!c->pad_trim || f->size < c->pad_trim)
        return;
    const uint8_t *b = text_bytes(c->text, c->text_start, c->text_end, f->start, f->size);
    if (!b)
        return;
    uint64_t n = f->size;
    uint8_t pad = b[n - 1];
    if (pad != 0xcc && pad != 0x00)
        return;
    while (n > 0 && b[n - 1] == pad)
        n--;
    if (f->size - n >= c->pad_trim)
        f->size = n;
}

/* What every lookup returns for symbol s (NULL: none): 0 with *out, or -ENOENT. */
static int found(const struct kview_ctx *c, const struct dmp_ksym *s, struct dmp_func *out)
{
    if (!s)
        return -ENOENT;
    out->name = s->name;
    out->start = s->addr;
    out->size = s->size;
    out->type = s->type;
    trim_padding(c, out);
    return 0;
}

static size_t kv_n(void *ctx)
{
    return dmp_ksyms_count(((struct kview_ctx *)ctx)->ks);
}

static int kv_get(void *ctx, size_t i, struct dmp_func *out)
{
    struct kview_ctx *c = ctx;
    return found(c, dmp_ksyms_get(c->ks, i), out);
}

static int kv_at(void *ctx, uint64_t va, struct dmp_func *out)
{
    struct kview_ctx *c = ctx;
    int rc = found(c, dmp_ksyms_by_addr(c->ks, va), out);
    /* With trimming, an address in a function's padding is in no function. */
    if (rc == 0 && c->pad_trim && va - out->start >= out->size && va != out->start)
        return -ENOENT;
    return rc;
}

static int kv_by_name(void *ctx, const char *name, struct dmp_func *out)
{
    struct kview_ctx *c = ctx;
    return found(c, dmp_ksyms_by_name(c->ks, name), out);
}

static int kv_read(void *ctx, uint64_t va, void *buf, size_t len)
{
    return dmp_kimage_read(((struct kview_ctx *)ctx)->ki, va, buf, len);
}

int dmp_cv_from_kimage_trimmed(struct dmp_codeview *cv, struct dmp_kimage *ki,
                               struct dmp_ksyms *ks, uint64_t pad_trim)
{
    struct kview_ctx *c = malloc(sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->ki = ki;
    c->ks = ks;
    c->pad_trim = pad_trim;
    memset(cv, 0, sizeof(*cv));
    int rc = dmp_kimage_text(ki, &cv->text_start, &cv->text_end, &cv->text);
    if (rc != 0) {
        free(c);
        return rc;
    }
    c->text_start = cv->text_start;
    c->text_end = cv->text_end;
    c->text = cv->text;
    cv->ctx = c;
    cv->nsyms = kv_n;
    cv->sym_get = kv_get;
    cv->sym_at = kv_at;
    cv->sym_by_name = kv_by_name;
    cv->read = kv_read;
    cv->release = free;
    return 0;
}

int dmp_cv_from_kimage(struct dmp_codeview *cv, struct dmp_kimage *ki, struct dmp_ksyms *ks)
{
    return dmp_cv_from_kimage_trimmed(cv, ki, ks, 0);
}

void dmp_cv_release(struct dmp_codeview *cv)
{
    if (cv->release && cv->ctx)
        cv->release(cv->ctx);
    cv->ctx = NULL;
    cv->release = NULL;
}
