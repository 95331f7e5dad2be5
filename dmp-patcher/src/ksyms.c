/* The recovered symbol table: address order, name index, KASLR slide. The recovery methods
 * (ksyms_kallsyms.c, ksyms_heuristic.c) only produce raw (name, address, type) triples. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ksyms_internal.h"

struct dmp_ksyms {
    struct dmp_ksym *syms;   /* sorted by address */
    uint64_t *linked;        /* unslid address of syms[i] */
    size_t *by_name;         /* indices into syms, sorted by (name, address) */
    size_t n;
    char *arena;
    int64_t slide;
    bool from_tables;
};

/* qsort is not stable; break ties by original table order so aliases keep kallsyms order. */
struct order { uint64_t addr; size_t idx; };

static int cmp_order(const void *a, const void *b)
{
    const struct order *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_name(const void *a, const void *b, void *arg)
{
    const struct dmp_ksym *syms = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(syms[i].name, syms[j].name);
    if (c)
        return c;
    return i < j ? -1 : i > j;
}

int ksyms_build(char *arena, struct ksyms_raw *raw, size_t n, uint64_t text_end,
                bool from_tables, struct dmp_ksyms **out)
{
    *out = NULL;
    struct dmp_ksyms *s = calloc(1, sizeof(*s));
    struct order *ord = malloc((n ? n : 1) * sizeof(*ord));
    if (s) {
        s->syms = malloc((n ? n : 1) * sizeof(*s->syms));
        s->linked = malloc((n ? n : 1) * sizeof(*s->linked));
        s->by_name = malloc((n ? n : 1) * sizeof(*s->by_name));
    }
    if (!s || !ord || !s->syms || !s->linked || !s->by_name) {
        if (s) {
            free(s->syms);
            free(s->linked);
            free(s->by_name);
        }
        free(s);
        free(ord);
        free(arena);
        free(raw);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        ord[i] = (struct order){ raw[i].addr, i };
    qsort(ord, n, sizeof(*ord), cmp_order);
    for (size_t i = 0; i < n; i++) {
        const struct ksyms_raw *r = &raw[ord[i].idx];
        s->syms[i] = (struct dmp_ksym){ arena + r->name_off, r->addr, 0, r->type };
        s->linked[i] = r->addr;
    }
    /* Size = distance to the next higher address; aliases at one address share it. */
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s->syms[j].addr == s->syms[i].addr)
            j++;
        uint64_t size = 0;
        if (j == n && text_end && s->syms[i].addr < text_end)
            size = text_end - s->syms[i].addr;   /* the last function ends with the text */
        if (j < n) {
            uint64_t next = s->syms[j].addr;
            if (text_end && s->syms[i].addr < text_end && next > text_end)
                next = text_end;
            size = next - s->syms[i].addr;
        }
        for (size_t k = i; k < j; k++)
            s->syms[k].size = size;
        i = j;
    }
    for (size_t k = 0; k < n; k++)
        s->by_name[k] = k;
    qsort_r(s->by_name, n, sizeof(*s->by_name), cmp_name, s->syms);
    free(ord);
    free(raw);
    s->n = n;
    s->arena = arena;
    s->from_tables = from_tables;
    *out = s;
    return 0;
}

void dmp_ksyms_free(struct dmp_ksyms *s)
{
    if (!s)
        return;
    free(s->syms);
    free(s->linked);
    free(s->by_name);
    free(s->arena);
    free(s);
}

size_t dmp_ksyms_count(const struct dmp_ksyms *s)
{
    return s ? s->n : 0;
}

const struct dmp_ksym *dmp_ksyms_get(const struct dmp_ksyms *s, size_t i)
{
    return s && i < s->n ? &s->syms[i] : NULL;
}

const struct dmp_ksym *dmp_ksyms_by_name(const struct dmp_ksyms *s, const char *name)
{
    if (!s || !name)
        return NULL;
    /* Lower bound: with duplicate (static) names, the lowest address wins. */
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(s->syms[s->by_name[mid]].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->n && strcmp(s->syms[s->by_name[lo]].name, name) == 0)
        return &s->syms[s->by_name[lo]];
    return NULL;
}

static bool is_text(char t)
{
    return t == 't' || t == 'T' || t == 'w' || t == 'W';
}

const struct dmp_ksym *dmp_ksyms_by_addr(const struct dmp_ksyms *s, uint64_t addr)
{
    if (!s || s->n == 0 || addr < s->syms[0].addr)
        return NULL;
    /* Last symbol with address <= addr. */
    size_t lo = 0, hi = s->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->syms[mid].addr <= addr)
            lo = mid;
        else
            hi = mid;
    }
    const struct dmp_ksym *hit = &s->syms[lo];
    if (addr - hit->addr >= hit->size && addr != hit->addr)
        return NULL;
    /* Several names may share the address (startup_64 and _stext): prefer a function. */
    size_t first = lo;
    while (first > 0 && s->syms[first - 1].addr == hit->addr)
        first--;
    for (size_t k = first; k <= lo; k++)
        if (is_text(s->syms[k].type))
            return &s->syms[k];
    return &s->syms[first];
}

static bool is_absolute(char t)
{
    return t == 'A' || t == 'a';
}

void dmp_ksyms_set_slide(struct dmp_ksyms *s, int64_t slide)
{
    if (!s)
        return;
    /* Absolute symbols (type 'A'/'a': x86-64 per-CPU offsets) do not move with KASLR.
     * Unsigned arithmetic: a slide is a wrap-around offset in the 64-bit address space. The
     * order by address is kept as long as the slide keeps the kernel in the upper half (any
     * real KASLR slide does), so the table is not re-sorted and pointers stay valid. */
    for (size_t i = 0; i < s->n; i++)
        s->syms[i].addr = is_absolute(s->syms[i].type) ? s->linked[i]
                                                       : s->linked[i] + (uint64_t)slide;
    s->slide = slide;
}

int64_t dmp_ksyms_slide(const struct dmp_ksyms *s)
{
    return s ? s->slide : 0;
}

int dmp_ksyms_slide_from(const struct dmp_ksyms *s, const char *name, uint64_t runtime_addr,
                         int64_t *slide)
{
    const struct dmp_ksym *k = dmp_ksyms_by_name(s, name);
    if (!k || !slide)
        return -ENOENT;
    uint64_t linked = s->linked[k - s->syms];
    *slide = (int64_t)(runtime_addr - linked);
    return 0;
}

bool dmp_ksyms_from_tables(const struct dmp_ksyms *s)
{
    return s && s->from_tables;
}
