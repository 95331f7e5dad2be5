/* Classifier: walks every text function, decodes it robustly and tags the instructions that
 * write page tables or trap under shadow paging, plus the call sites reaching MMU helpers. */
#include "dmppatcher/classify.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const dmp_mmu_helpers[] = {
    "native_set_pte", "native_set_pmd", "native_set_pud", "native_set_p4d", "native_set_pgd",
    "native_write_cr3", "native_flush_tlb_one_user", "native_flush_tlb_local",
    "native_flush_tlb_global", "native_flush_tlb_multi", "native_pte_clear", "native_pmd_clear",
    NULL};

static const char *const kind_names[DMP_SITE_KIND_MAX] = {
    [DMP_SITE_PTE_STORE] = "pte-store", [DMP_SITE_XCHG] = "xchg",
    [DMP_SITE_CMPXCHG] = "cmpxchg", [DMP_SITE_LOCK_RMW] = "lock-rmw",
    [DMP_SITE_CR3_WRITE] = "cr3-write", [DMP_SITE_INVLPG] = "invlpg",
    [DMP_SITE_INVPCID] = "invpcid", [DMP_SITE_CALL_DIRECT] = "call-direct",
    [DMP_SITE_CALL_PVOP] = "call-pvop"};

const char *dmp_site_kind_name(enum dmp_site_kind k)
{
    return (k > 0 && k < DMP_SITE_KIND_MAX && kind_names[k]) ? kind_names[k] : "?";
}

bool dmp_func_is_pgtable_code(const char *name)
{
    static const char *const pats[] = {
        "pte", "pmd", "pud", "p4d", "pgd", "page_table", "pgtable", "zap_p", "zap_huge",
        "unmap_p", "mprotect", "change_p", "copy_page_range", "young", "wrprotect", "cpa",
        "set_memory", "huge_pmd", "huge_pud", "huge_pte", "ksm", "wp_page", "tlb", NULL};
    for (int i = 0; pats[i]; i++)
        if (strstr(name, pats[i]))
            return true;
    return false;
}

enum dmp_site_kind dmp_classify_inline(const struct dmp_insn *in, const char *fn, bool helper)
{
    if (!in->valid)
        return 0;
    switch (in->id) {
    case X86_INS_MOV:
        if (in->nregs >= 1 && in->regs[0] == X86_REG_CR3)
            return DMP_SITE_CR3_WRITE;
        /* Inside an MMU helper every store is a page-table store. */
        return (helper && in->mem_write) ? DMP_SITE_PTE_STORE : 0;
    case X86_INS_INVLPG:
        return DMP_SITE_INVLPG;
    case X86_INS_INVPCID:
        return DMP_SITE_INVPCID;
    default:
        break;
    }
    if (!in->has_mem || !in->mem_write)
        return 0;
    /* Atomics are everywhere in the kernel; only those in page-table code are PTE writers.
     * Classification is by id: Capstone 4.0.2 marks lock cmpxchg's destination READ only. */
    if (!helper && !dmp_func_is_pgtable_code(fn))
        return 0;
    if (in->mem.segment == X86_REG_GS || in->mem.segment == X86_REG_FS)
        return 0;   /* per-CPU data, never a PTE */
    switch (in->id) {
    case X86_INS_XCHG:
        return DMP_SITE_XCHG;
    case X86_INS_CMPXCHG:
        return DMP_SITE_CMPXCHG;
    case X86_INS_AND: case X86_INS_OR: case X86_INS_BTR: case X86_INS_BTS:
        return in->lock ? DMP_SITE_LOCK_RMW : 0;
    default:
        return 0;
    }
}

static int push_site(struct dmp_sites *s, const struct dmp_site *site)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 256;
        struct dmp_site *nv = realloc(s->v, nc * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = *site;
    return 0;
}

struct helper_ref {
    const char *name;
    uint64_t start, size;
};

static bool is_text(char t)
{
    return t == 't' || t == 'T' || t == 'w' || t == 'W';
}

int dmp_classify_all(const struct dmp_codeview *cv, struct dmp_sites *out)
{
    memset(out, 0, sizeof(*out));
    struct helper_ref helpers[32];
    size_t nh = 0;
    for (int i = 0; dmp_mmu_helpers[i] && nh < 32; i++) {
        struct dmp_func f;
        if (dmp_cv_by_name(cv, dmp_mmu_helpers[i], &f) == 0)
            helpers[nh++] = (struct helper_ref){dmp_mmu_helpers[i], f.start, f.size};
    }
    struct dmp_func pv = {0};
    bool have_pv = dmp_cv_by_name(cv, "pv_ops", &pv) == 0 && pv.size > 0 && pv.size < 65536;

    struct dmp_decoder *dec;
    int rc = dmp_decoder_open(&dec);
    if (rc)
        return rc;
    size_t ns = cv->nsyms ? cv->nsyms(cv->ctx) : 0;
    for (size_t si = 0; si < ns; si++) {
        struct dmp_func f;
        if (cv->sym_get(cv->ctx, si, &f) != 0 || !is_text(f.type) || f.size == 0)
            continue;
        const uint8_t *code = dmp_cv_bytes(cv, f.start, f.size);
        if (!code)
            continue;
        bool helper = false;
        for (size_t h = 0; h < nh; h++)
            if (helpers[h].start == f.start)
                helper = true;
        struct dmp_insn *ins;
        size_t n;
        if ((rc = dmp_decode_range(dec, code, f.size, f.start, &ins, &n)) != 0)
            break;
        out->funcs_scanned++;
        out->insns_decoded += n;
        for (size_t i = 0; i < n; i++) {
            const struct dmp_insn *in = &ins[i];
            if (!in->valid) {
                out->undecodable++;
                continue;
            }
            struct dmp_site s = {.va = in->va, .len = in->len, .func_start = f.start,
                                 .pv_off = -1};
            snprintf(s.func, sizeof(s.func), "%s", f.name);
            snprintf(s.text, sizeof(s.text), "%.63s", in->text);
            if ((in->flow == DMP_FLOW_CALL || in->flow == DMP_FLOW_JMP) && in->len == 5) {
                for (size_t h = 0; h < nh; h++)
                    if (in->target == helpers[h].start && !helper) {
                        s.kind = DMP_SITE_CALL_DIRECT;
                        s.callee_va = in->target;
                        s.mmu = true;
                        snprintf(s.callee, sizeof(s.callee), "%s", helpers[h].name);
                    }
            } else if (in->flow == DMP_FLOW_CALL_IND && in->rip_rel && have_pv &&
                       in->rip_addr >= pv.start && in->rip_addr + 8 <= pv.start + pv.size) {
                s.kind = DMP_SITE_CALL_PVOP;
                s.pv_off = (int64_t)(in->rip_addr - pv.start);
                uint64_t ptr = 0;
                struct dmp_func tf;
                /* The slot's initial value names the op (pv_ops is statically initialised). */
                if (dmp_cv_read(cv, in->rip_addr, &ptr, 8) == 0) {
                    s.callee_va = ptr;
                    if (dmp_cv_func_at(cv, ptr, &tf) == 0 && tf.start == ptr)
                        snprintf(s.callee, sizeof(s.callee), "%s", tf.name);
                    for (size_t h = 0; h < nh; h++)
                        if (ptr == helpers[h].start)
                            s.mmu = true;
                }
            } else {
                s.kind = dmp_classify_inline(in, f.name, helper);
            }
            if (s.kind && (rc = push_site(out, &s)) != 0)
                break;
        }
        free(ins);
        if (rc)
            break;
    }
    dmp_decoder_close(dec);
    if (rc)
        dmp_sites_free(out);
    return rc;
}

void dmp_sites_free(struct dmp_sites *s)
{
    free(s->v);
    memset(s, 0, sizeof(*s));
}
