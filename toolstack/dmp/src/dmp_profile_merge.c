/* Pure half of the trap profiler: merge per-vCPU tables, rank, print. No Xen here. */
#include "dmp/profile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[DMP_TRAP_KIND_NR] = {
    [DMP_TRAP_PT_WRITE] = "pt_write",
    [DMP_TRAP_PF_FIXED] = "pf_fixed",
    [DMP_TRAP_PF_GUEST] = "pf_guest",
    [DMP_TRAP_PF_MMIO] = "pf_mmio",
    [DMP_TRAP_CR3_WRITE] = "cr3_write",
    [DMP_TRAP_INVLPG] = "invlpg",
    [DMP_TRAP_INVPCID] = "invpcid",
};

const char *dmp_trap_kind_name(uint32_t kind)
{
    return kind < DMP_TRAP_KIND_NR ? kind_names[kind] : NULL;
}

bool dmp_trap_kind_is_pf(uint32_t kind)
{
    return kind >= DMP_TRAP_PT_WRITE && kind <= DMP_TRAP_PF_MMIO;
}

bool dmp_trap_kind_is_pt(uint32_t kind)
{
    return kind == DMP_TRAP_PT_WRITE || kind == DMP_TRAP_PF_FIXED || kind == DMP_TRAP_CR3_WRITE ||
           kind == DMP_TRAP_INVLPG || kind == DMP_TRAP_INVPCID;
}

void dmp_profile_init(struct dmp_profile *p)
{
    memset(p, 0, sizeof(*p));
}

void dmp_profile_free(struct dmp_profile *p)
{
    free(p->e);
    dmp_profile_init(p);
}

/* Open-addressing index over p->e, rebuilt per merge: tables are at most a few thousand
 * entries per vCPU, and a merge happens once per profile read. */
struct merge_index {
    size_t mask;
    size_t *slot;           /* index into p->e plus one; 0 = empty */
};

static size_t key_hash(uint64_t rip, uint32_t kind)
{
    uint64_t h = (rip + kind) * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h ^ (h >> 29));
}

static int index_build(struct merge_index *ix, const struct dmp_profile *p, size_t extra)
{
    size_t want = (p->n + extra) * 2 + 16, sz = 16;
    while (sz < want)
        sz <<= 1;
    ix->slot = calloc(sz, sizeof(*ix->slot));
    if (!ix->slot)
        return -ENOMEM;
    ix->mask = sz - 1;
    for (size_t i = 0; i < p->n; i++) {
        size_t h = key_hash(p->e[i].rip, p->e[i].kind) & ix->mask;
        while (ix->slot[h])
            h = (h + 1) & ix->mask;
        ix->slot[h] = i + 1;
    }
    return 0;
}

int dmp_profile_merge(struct dmp_profile *p, const struct dmp_trap_entry *e, size_t n,
                      const uint64_t totals[DMP_TRAP_KIND_NR], uint64_t overflow)
{
    for (size_t i = 0; i < n; i++)
        if (!dmp_trap_kind_name(e[i].kind))
            return -EINVAL;
    if (p->n + n > p->cap) {
        size_t cap = p->cap ? p->cap : 64;
        while (cap < p->n + n)
            cap *= 2;
        struct dmp_trap_entry *ne = realloc(p->e, cap * sizeof(*ne));
        if (!ne)
            return -ENOMEM;
        p->e = ne;
        p->cap = cap;
    }
    struct merge_index ix;
    if (index_build(&ix, p, n) != 0)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t h = key_hash(e[i].rip, e[i].kind) & ix.mask;
        for (;;) {
            size_t s = ix.slot[h];
            if (!s) {
                p->e[p->n] = e[i];
                ix.slot[h] = ++p->n;
                break;
            }
            struct dmp_trap_entry *x = &p->e[s - 1];
            if (x->rip == e[i].rip && x->kind == e[i].kind) {
                x->count += e[i].count;
                if (x->vcpu != e[i].vcpu)
                    x->vcpu = DMP_TRAP_VCPU_MERGED;
                break;
            }
            h = (h + 1) & ix.mask;
        }
    }
    free(ix.slot);
    for (unsigned k = 0; k < DMP_TRAP_KIND_NR; k++)
        p->totals[k] += totals[k];
    p->overflow += overflow;
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    const struct dmp_trap_entry *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    if (x->rip != y->rip)
        return x->rip < y->rip ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return 0;
}

void dmp_profile_sort(struct dmp_profile *p)
{
    if (p->n > 1)
        qsort(p->e, p->n, sizeof(*p->e), cmp_entry);
}

uint64_t dmp_profile_pf_total(const struct dmp_profile *p)
{
    uint64_t t = 0;
    for (uint32_t k = 1; k < DMP_TRAP_KIND_NR; k++)
        if (dmp_trap_kind_is_pf(k))
            t += p->totals[k];
    return t;
}

uint64_t dmp_profile_total(const struct dmp_profile *p)
{
    uint64_t t = 0;
    for (uint32_t k = 1; k < DMP_TRAP_KIND_NR; k++)
        t += p->totals[k];
    return t;
}

uint64_t dmp_profile_entries_total(const struct dmp_profile *p)
{
    uint64_t t = 0;
    for (size_t i = 0; i < p->n; i++)
        t += p->e[i].count;
    return t;
}

static size_t shown(const struct dmp_profile *p, size_t top)
{
    return (top && top < p->n) ? top : p->n;
}

static double share(uint64_t count, uint64_t total)
{
    return total ? (double)count / (double)total : 0.0;
}

void dmp_profile_print(FILE *f, const struct dmp_profile *p, size_t top, double seconds,
                       dmp_profile_symbolizer sym, void *sym_ctx)
{
    uint64_t total = dmp_profile_total(p);
    fprintf(f, "domain %" PRIu32 ": %" PRIu64 " page-table-related exits", p->domid, total);
    if (seconds > 0)
        fprintf(f, " in %.1f s (%.0f/s)", seconds, (double)total / seconds);
    fprintf(f, ", %zu distinct (rip, kind), %" PRIu32 " vCPU(s)\n", p->n, p->nr_vcpus);
    fprintf(f, "by kind:");
    for (uint32_t k = 1; k < DMP_TRAP_KIND_NR; k++)
        if (p->totals[k])
            fprintf(f, "  %s %" PRIu64 " (%.1f%%)", dmp_trap_kind_name(k), p->totals[k],
                    100.0 * share(p->totals[k], total));
    fprintf(f, "%s\n", total ? "" : "  (none)");
    if (p->overflow || p->truncated)
        fprintf(f, "note: %" PRIu64 " events found no table slot%s; raise --slots\n",
                p->overflow, p->truncated ? " and some entries were not copied" : "");
    if (!p->n)
        return;
    size_t n = shown(p, top);
    fprintf(f, "\n%4s  %-18s  %-9s  %10s  %6s  %s\n", "rank", "rip", "kind", "count", "share",
            sym ? "symbol" : "");
    for (size_t i = 0; i < n; i++) {
        const struct dmp_trap_entry *e = &p->e[i];
        char name[160] = "";
        if (sym && sym(sym_ctx, e->rip, name, sizeof(name)) != 0)
            name[0] = '\0';    /* user-space RIP, or outside every kernel symbol */
        fprintf(f, "%4zu  0x%016" PRIx64 "  %-9s  %10" PRIu64 "  %5.1f%%  %s\n", i + 1, e->rip,
                dmp_trap_kind_name(e->kind), e->count, 100.0 * share(e->count, total), name);
    }
    if (n < p->n)
        fprintf(f, "(%zu more; --top 0 shows all)\n", p->n - n);
}

void dmp_profile_json(struct dmp_json *j, const struct dmp_profile *p, size_t top,
                      double seconds, dmp_profile_symbolizer sym, void *sym_ctx)
{
    uint64_t total = dmp_profile_total(p);
    DMP_JSON_KV(j, "domid", dmp_json_u64, p->domid);
    DMP_JSON_KV(j, "seconds", dmp_json_double, seconds);
    DMP_JSON_KV(j, "slots", dmp_json_u64, p->slots);
    DMP_JSON_KV(j, "vcpus", dmp_json_u64, p->nr_vcpus);
    dmp_json_key(j, "totals");
    dmp_json_obj_begin(j);
    for (uint32_t k = 1; k < DMP_TRAP_KIND_NR; k++)
        DMP_JSON_KV(j, dmp_trap_kind_name(k), dmp_json_u64, p->totals[k]);
    dmp_json_obj_end(j);
    DMP_JSON_KV(j, "total", dmp_json_u64, total);
    DMP_JSON_KV(j, "pf_total", dmp_json_u64, dmp_profile_pf_total(p));
    DMP_JSON_KV(j, "overflow", dmp_json_u64, p->overflow);
    DMP_JSON_KV(j, "truncated", dmp_json_bool, p->truncated);
    DMP_JSON_KV(j, "distinct", dmp_json_u64, p->n);
    dmp_json_key(j, "entries");
    dmp_json_arr_begin(j);
    size_t n = shown(p, top);
    for (size_t i = 0; i < n; i++) {
        const struct dmp_trap_entry *e = &p->e[i];
        char name[160];
        dmp_json_obj_begin(j);
        DMP_JSON_KV(j, "rip", dmp_json_hex, e->rip);
        DMP_JSON_KV(j, "kind", dmp_json_str, dmp_trap_kind_name(e->kind));
        DMP_JSON_KV(j, "count", dmp_json_u64, e->count);
        DMP_JSON_KV(j, "share", dmp_json_double, share(e->count, total));
        if (e->vcpu != DMP_TRAP_VCPU_MERGED)
            DMP_JSON_KV(j, "vcpu", dmp_json_u64, e->vcpu);
        if (sym && sym(sym_ctx, e->rip, name, sizeof(name)) == 0)
            DMP_JSON_KV(j, "symbol", dmp_json_str, name);
        dmp_json_obj_end(j);
    }
    dmp_json_arr_end(j);
}
