/* The view of a kernel that analysis needs: its text bytes, function symbols, and (optionally)
 * a way to read other memory such as the pv_ops table. Classifier, planner and harness work on
 * this view only, so they run the same on a file image, a live guest, or hand-made test bytes. */
#ifndef DMP_CODEVIEW_H
#define DMP_CODEVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "dmppatcher/kimage.h"
#include "dmppatcher/ksyms.h"

struct dmp_func {
    const char *name;
    uint64_t start, size;
    char type;            /* nm-style symbol type */
};

struct dmp_codeview {
    uint64_t text_start, text_end;
    const uint8_t *text;
    void *ctx;
    size_t (*nsyms)(void *ctx);
    /* i-th symbol sorted by address; 0 or -ENOENT */
    int (*sym_get)(void *ctx, size_t i, struct dmp_func *out);
    /* symbol containing va; 0 or -ENOENT */
    int (*sym_at)(void *ctx, uint64_t va, struct dmp_func *out);
    int (*sym_by_name)(void *ctx, const char *name, struct dmp_func *out);
    /* read any mapped memory (data); may be NULL. 0 or -errno */
    int (*read)(void *ctx, uint64_t va, void *buf, size_t len);
    void (*release)(void *ctx);   /* frees ctx; may be NULL */
};

/* Free what the provider allocated for the view (not the image or symbols). */
void dmp_cv_release(struct dmp_codeview *);

/* Bytes of text at va, or NULL when [va, va+len) is outside the text. */
const uint8_t *dmp_cv_bytes(const struct dmp_codeview *, uint64_t va, size_t len);
/* Function (text symbol) containing va: 0, or -ENOENT. */
int dmp_cv_func_at(const struct dmp_codeview *, uint64_t va, struct dmp_func *out);
int dmp_cv_by_name(const struct dmp_codeview *, const char *name, struct dmp_func *out);
int dmp_cv_read(const struct dmp_codeview *, uint64_t va, void *buf, size_t len);

/* A view over an in-memory symbol table (sorted by start by this call) and text buffer;
 * used by tests and by callers with their own symbol source. The arrays must outlive the
 * view; funcs is sorted in place. */
struct dmp_symtable {
    struct dmp_func *funcs;
    size_t n;
};
void dmp_cv_from_table(struct dmp_codeview *cv, struct dmp_symtable *tab, uint64_t text_start,
                       const uint8_t *text, size_t text_len);

/* A view over K's kernel image + recovered kallsyms. Both must outlive the view. */
int dmp_cv_from_kimage(struct dmp_codeview *cv, struct dmp_kimage *ki, struct dmp_ksyms *ks);
/* The same view with every text symbol's size trimmed of a trailing run of int3 (0xcc) or
 * zero bytes pad_trim bytes long or longer, and addresses in that run belonging to no
 * function (0: no trimming, as dmp_cv_from_kimage). kallsyms sizes run to the next symbol;
 * where the text has long alignment gaps this keeps the classifier from decoding them. */
int dmp_cv_from_kimage_trimmed(struct dmp_codeview *cv, struct dmp_kimage *ki,
                               struct dmp_ksyms *ks, uint64_t pad_trim);

#endif
