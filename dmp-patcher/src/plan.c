/* Patch planner: tactic selection, refusal rules, trampoline and helper-stub construction. */
#include "dmppatcher/plan.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmppatcher/decode.h"
#include "dmppatcher/stub.h"

static const char *const tactic_names[] = {"?", "retarget", "trampoline", "refused"};
static const char *const refusal_names[DMP_REFUSE_MAX] = {
    "none", "not-a-site", "no-function", "not-instruction-boundary", "undecodable",
    "indirect-jump", "branch-into-range", "known-site", "ftrace", "out-of-reach",
    "too-short", "unstealable", "unsupported-operand", "callee-not-pure", "stub-area-full"};

const char *dmp_tactic_name(enum dmp_tactic t)
{
    return (t >= 1 && t <= 3) ? tactic_names[t] : "?";
}

const char *dmp_refusal_name(enum dmp_refusal r)
{
    return (r >= 0 && r < DMP_REFUSE_MAX) ? refusal_names[r] : "?";
}

int dmp_tactic_from_name(const char *s, enum dmp_tactic *out)
{
    for (int i = 1; i <= 3; i++)
        if (strcmp(s, tactic_names[i]) == 0) {
            *out = (enum dmp_tactic)i;
            return 0;
        }
    return -EINVAL;
}

int dmp_refusal_from_name(const char *s, enum dmp_refusal *out)
{
    for (int i = 0; i < DMP_REFUSE_MAX; i++)
        if (strcmp(s, refusal_names[i]) == 0) {
            *out = (enum dmp_refusal)i;
            return 0;
        }
    return -EINVAL;
}

#define MAX_HELPER_STUBS 64

struct helper_stub {
    uint64_t callee;
    uint64_t va;
    int refused;                /* cached refusal: DMP_REFUSE_* or 0 */
    char detail[128];
};

struct dmp_planner {
    const struct dmp_codeview *cv;
    struct dmp_planner_opts o;
    struct dmp_decoder *dec;
    uint8_t *area;
    size_t used;
    uint64_t commit_va;
    struct helper_stub helpers[MAX_HELPER_STUBS];
    size_t nhelpers;
    /* Cache of the last decoded function: analysis plans many sites per function. */
    uint64_t fn_start, fn_size;
    struct dmp_insn *fn_ins;
    size_t fn_n;
    char fn_name[64];
};

int dmp_planner_new(const struct dmp_codeview *cv, const struct dmp_planner_opts *opts,
                    struct dmp_planner **out)
{
    struct dmp_planner *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->cv = cv;
    if (opts)
        p->o = *opts;
    if (!p->o.stub_base)
        p->o.stub_base = (cv->text_start + 0x3f000000ull) & ~0xfffull;
    if (!p->o.stub_size)
        p->o.stub_size = 1u << 20;
    p->area = malloc(p->o.stub_size);
    int rc = p->area ? dmp_decoder_open(&p->dec) : -ENOMEM;
    if (rc) {
        free(p->area);
        free(p);
        return rc;
    }
    memset(p->area, 0xcc, p->o.stub_size);
    memset(p->area, 0, 16);   /* hv slot + reserved */
    struct dmp_code_buf cb;
    p->commit_va = p->o.stub_base + DMP_STUB_COMMIT_OFF;
    dmp_cb_init(&cb, p->area + DMP_STUB_COMMIT_OFF, p->o.stub_size - DMP_STUB_COMMIT_OFF,
                p->commit_va);
    dmp_stub_emit_commit(&cb, p->o.stub_base + DMP_STUB_HV_SLOT_OFF);
    if (cb.overflow || cb.out_of_reach) {
        dmp_planner_free(p);
        return -ENOSPC;
    }
    p->used = (DMP_STUB_COMMIT_OFF + cb.len + 15) & ~(size_t)15;
    *out = p;
    return 0;
}

void dmp_planner_free(struct dmp_planner *p)
{
    if (!p)
        return;
    dmp_decoder_close(p->dec);
    free(p->fn_ins);
    free(p->area);
    free(p);
}

const uint8_t *dmp_planner_stub_area(const struct dmp_planner *p, uint64_t *base, size_t *used)
{
    *base = p->o.stub_base;
    *used = p->used;
    return p->area;
}

uint64_t dmp_planner_commit_va(const struct dmp_planner *p)
{
    return p->commit_va;
}

uint64_t dmp_planner_hv_slot_va(const struct dmp_planner *p)
{
    return p->o.stub_base + DMP_STUB_HV_SLOT_OFF;
}

__attribute__((format(printf, 3, 4)))
static int refuse(struct dmp_plan *pl, enum dmp_refusal r, const char *fmt, ...)
{
    va_list ap;
    pl->tactic = DMP_TACTIC_REFUSED;
    pl->reason = r;
    va_start(ap, fmt);
    vsnprintf(pl->detail, sizeof(pl->detail), fmt, ap);
    va_end(ap);
    return 1;
}

static int load_function(struct dmp_planner *p, const struct dmp_func *f)
{
    if (p->fn_ins && p->fn_start == f->start && p->fn_size == f->size)
        return 0;
    free(p->fn_ins);
    p->fn_ins = NULL;
    const uint8_t *code = dmp_cv_bytes(p->cv, f->start, f->size);
    if (!code)
        return -EFAULT;
    int rc = dmp_decode_range(p->dec, code, f->size, f->start, &p->fn_ins, &p->fn_n);
    if (rc)
        return rc;
    p->fn_start = f->start;
    p->fn_size = f->size;
    snprintf(p->fn_name, sizeof(p->fn_name), "%s", f->name);
    return 0;
}

/* Allocate n bytes (16-aligned) in the stub area; returns offset or -1. */
static long area_alloc(struct dmp_planner *p, size_t n)
{
    size_t off = (p->used + 15) & ~(size_t)15;
    if (off + n > p->o.stub_size)
        return -1;
    p->used = off + n;
    return (long)off;
}

static bool target_is_named(const struct dmp_codeview *cv, uint64_t va, const char *prefix)
{
    struct dmp_func f;
    return dmp_cv_func_at(cv, va, &f) == 0 && f.start == va &&
           strncmp(f.name, prefix, strlen(prefix)) == 0;
}

/* A return thunk: the file has `jmp __x86_return_thunk`; at boot the kernel rewrites those
 * jumps to the thunk its mitigation chose (srso_return_thunk, srso_alias_return_thunk,
 * retbleed_return_thunk ...) or to `ret`. The live text must be recognised the same way. */
static bool target_is_return_thunk(const struct dmp_codeview *cv, uint64_t va)
{
    struct dmp_func f;
    return dmp_cv_func_at(cv, va, &f) == 0 && f.start == va &&
           strstr(f.name, "return_thunk") != NULL;
}

static const struct dmp_known_site *known_overlap(const struct dmp_planner *p, uint64_t s,
                                                  uint64_t e)
{
    for (size_t i = 0; i < p->o.nknown; i++)
        if (p->o.known[i].start < e && s < p->o.known[i].end)
            return &p->o.known[i];
    return NULL;
}

/* The ftrace site: the 5-byte nop (live) or `call __fentry__` (file) at function entry. */
static bool ftrace_overlap(const struct dmp_planner *p, uint64_t s, uint64_t e)
{
    if (!p->fn_n)
        return false;
    const struct dmp_insn *in = &p->fn_ins[0];
    size_t k = 0;
    if (in->valid && in->id == X86_INS_ENDBR64 && p->fn_n > 1)
        in = &p->fn_ins[k = 1];
    bool ft = dmp_insn_is_nop5(in) ||
              (in->flow == DMP_FLOW_CALL && target_is_named(p->cv, in->target, "__fentry__"));
    return ft && in->va < e && s < in->va + in->len;
}

/* Build (or find) the helper stub for callee: its body with the single trap instruction
 * replaced by a trap block. Returns the stub index, or -1 with refusal set in *why. */
static int helper_stub(struct dmp_planner *p, uint64_t callee, enum dmp_site_kind *kind_out,
                       enum dmp_refusal *why, char *detail, size_t dl)
{
    for (size_t i = 0; i < p->nhelpers; i++)
        if (p->helpers[i].callee == callee) {
            if (p->helpers[i].refused) {
                *why = p->helpers[i].refused;
                snprintf(detail, dl, "%s", p->helpers[i].detail);
                return -1;
            }
            *kind_out = DMP_SITE_PTE_STORE;
            return (int)i;
        }
    if (p->nhelpers == MAX_HELPER_STUBS) {
        *why = DMP_REFUSE_STUB_AREA_FULL;
        snprintf(detail, dl, "too many helper stubs");
        return -1;
    }
    struct helper_stub *h = &p->helpers[p->nhelpers++];
    memset(h, 0, sizeof(*h));
    h->callee = callee;
    struct dmp_func f;
    struct dmp_insn *ins = NULL;
    size_t n = 0;
    const uint8_t *code;
    if (dmp_cv_func_at(p->cv, callee, &f) != 0 || f.start != callee ||
        !(code = dmp_cv_bytes(p->cv, f.start, f.size)) ||
        dmp_decode_range(p->dec, code, f.size, f.start, &ins, &n) != 0) {
        h->refused = DMP_REFUSE_NOT_A_SITE;
        snprintf(h->detail, sizeof(h->detail), "callee 0x%llx is not a known function",
                 (unsigned long long)callee);
        goto refused;
    }
    /* Pure: [endbr64] [ftrace nop / call __fentry__] body... ret|jmp __x86_return_thunk, with
     * exactly one trap instruction and no other control flow. */
    size_t i = 0, trap = (size_t)-1, end = (size_t)-1;
    if (i < n && ins[i].valid && ins[i].id == X86_INS_ENDBR64)
        i++;
    if (i < n && (dmp_insn_is_nop5(&ins[i]) || (ins[i].flow == DMP_FLOW_CALL &&
                  target_is_named(p->cv, ins[i].target, "__fentry__"))))
        i++;
    size_t body = i;
    for (; i < n; i++) {
        const struct dmp_insn *in = &ins[i];
        if (!in->valid)
            break;
        if (in->flow == DMP_FLOW_RET ||
            (in->flow == DMP_FLOW_JMP && target_is_return_thunk(p->cv, in->target))) {
            end = i;
            break;
        }
        if (in->flow != DMP_FLOW_NONE)
            break;
        if (dmp_trap_kind(in)) {
            if (trap != (size_t)-1) {
                trap = (size_t)-2;
                break;
            }
            trap = i;
        }
    }
    if (end == (size_t)-1 || trap >= n) {
        /* Stopped early (other control flow, a second trap) -> impure; ran to the return
         * without any trap -> not a page-table helper at all. */
        bool none = end != (size_t)-1 && trap == (size_t)-1;
        h->refused = none ? DMP_REFUSE_NOT_A_SITE : DMP_REFUSE_CALLEE_NOT_PURE;
        snprintf(h->detail, sizeof(h->detail), "%s %s", f.name,
                 none ? "performs no page-table operation"
                      : "is not a single page-table operation");
        goto refused;
    }
    long off = area_alloc(p, 256);
    if (off < 0) {
        h->refused = DMP_REFUSE_STUB_AREA_FULL;
        snprintf(h->detail, sizeof(h->detail), "stub area full");
        goto refused;
    }
    struct dmp_code_buf cb;
    dmp_cb_init(&cb, p->area + off, 256, p->o.stub_base + (uint64_t)off);
    char w[128] = "";
    for (i = body; i < end; i++) {
        int rc = i == trap ? dmp_stub_emit_trap_block(&cb, &ins[i], p->commit_va,
                                                       DMP_SITE_PTE_STORE, w, sizeof(w))
                           : dmp_stub_relocate(&cb, &ins[i], w, sizeof(w));
        if (rc) {
            h->refused = cb.out_of_reach ? DMP_REFUSE_OUT_OF_REACH : DMP_REFUSE_UNSUPPORTED;
            snprintf(h->detail, sizeof(h->detail), "%.40s: %.80s", f.name, w);
            goto refused;
        }
    }
    uint8_t ret = 0xc3;
    dmp_cb_bytes(&cb, &ret, 1);
    if (cb.overflow) {
        h->refused = DMP_REFUSE_STUB_AREA_FULL;
        snprintf(h->detail, sizeof(h->detail), "helper stub too large");
        goto refused;
    }
    p->used = (size_t)off + cb.len;
    h->va = cb.va;
    free(ins);
    *kind_out = DMP_SITE_PTE_STORE;
    return (int)(h - p->helpers);
refused:
    free(ins);
    *why = h->refused;
    snprintf(detail, dl, "%s", h->detail);
    return -1;
}

static enum dmp_site_kind inline_kind(const struct dmp_insn *in, const char *fn)
{
    enum dmp_site_kind k = dmp_classify_inline(in, fn, true);
    return k;
}

static int plan_retarget(struct dmp_planner *p, const struct dmp_insn *in, uint64_t callee,
                         struct dmp_plan *pl)
{
    enum dmp_refusal why = 0;
    enum dmp_site_kind k = 0;
    int id = helper_stub(p, callee, &k, &why, pl->detail, sizeof(pl->detail));
    if (id < 0) {
        pl->tactic = DMP_TACTIC_REFUSED;
        pl->reason = why;
        return 1;
    }
    if (ftrace_overlap(p, in->va, in->va + in->len))
        return refuse(pl, DMP_REFUSE_FTRACE, "call site is the ftrace entry site");
    const struct dmp_known_site *ks = known_overlap(p, in->va, in->va + in->len);
    if (ks)
        return refuse(pl, DMP_REFUSE_KNOWN_SITE, "overlaps a %s site", ks->kind);
    pl->stub_id = id;
    pl->stub_va = p->helpers[id].va;
    pl->kind = in->flow == DMP_FLOW_CALL_IND ? DMP_SITE_CALL_PVOP : DMP_SITE_CALL_DIRECT;
    struct dmp_code_buf cb;
    dmp_cb_init(&cb, pl->new_bytes, sizeof(pl->new_bytes), in->va);
    dmp_cb_rel32(&cb, in->flow == DMP_FLOW_JMP ? 0xe9 : 0xe8, pl->stub_va);
    if (cb.out_of_reach)
        return refuse(pl, DMP_REFUSE_OUT_OF_REACH, "helper stub not within rel32 reach");
    while (cb.len < in->len) {   /* 6-byte indirect call: pad with a nop */
        uint8_t nop = 0x90;
        dmp_cb_bytes(&cb, &nop, 1);
    }
    pl->len = in->len;
    memcpy(pl->old_bytes, in->bytes, in->len);
    pl->tactic = DMP_TACTIC_RETARGET;
    pl->exits[0] = in->va + in->len;
    pl->nexits = 1;
    struct dmp_func cf;
    snprintf(pl->detail, sizeof(pl->detail), "call %s via stub %d",
             dmp_cv_func_at(p->cv, callee, &cf) == 0 ? cf.name : "?", id);
    return 0;
}

/* Check one candidate window [s, e) of instruction indexes; 0 or a refusal. */
static enum dmp_refusal check_window(struct dmp_planner *p, size_t s, size_t e, char *d,
                                     size_t dl)
{
    uint64_t a = p->fn_ins[s].va, b = p->fn_ins[e - 1].va + p->fn_ins[e - 1].len;
    for (size_t i = s; i < e; i++) {
        const struct dmp_insn *in = &p->fn_ins[i];
        if (in->flow == DMP_FLOW_CALL || in->flow == DMP_FLOW_CALL_IND ||
            in->flow == DMP_FLOW_JMP_IND || in->flow == DMP_FLOW_TRAP ||
            in->id == X86_INS_ENDBR64 || dmp_insn_changes_cpu_mode(in) ||
            (in->flow == DMP_FLOW_JCC && (in->id == X86_INS_JRCXZ || in->id == X86_INS_JECXZ ||
                                          in->id == X86_INS_LOOP || in->id == X86_INS_LOOPE ||
                                          in->id == X86_INS_LOOPNE))) {
            snprintf(d, dl, "cannot move '%.80s'", in->text);
            return DMP_REFUSE_UNSTEALABLE;
        }
        /* A stack switch (mov/lea/xchg into %rsp) in the range: such code (kexec, resume)
         * often runs from a copy of itself, where a rel32 jump to a trampoline is wrong. */
        if (in->nregs > 0 && in->regs[0] == X86_REG_RSP &&
            (in->id == X86_INS_MOV || in->id == X86_INS_LEA || in->id == X86_INS_XCHG)) {
            snprintf(d, dl, "stack switch '%.80s' in the range", in->text);
            return DMP_REFUSE_UNSTEALABLE;
        }
    }
    for (size_t i = 0; i < p->fn_n; i++) {
        const struct dmp_insn *in = &p->fn_ins[i];
        if (in->has_target && in->target > a && in->target < b) {
            snprintf(d, dl, "branch at 0x%llx targets 0x%llx inside the range",
                     (unsigned long long)in->va, (unsigned long long)in->target);
            return DMP_REFUSE_BRANCH_INTO_RANGE;
        }
    }
    if (ftrace_overlap(p, a, b)) {
        snprintf(d, dl, "range overlaps the ftrace entry site");
        return DMP_REFUSE_FTRACE;
    }
    const struct dmp_known_site *ks = known_overlap(p, a, b);
    if (ks) {
        snprintf(d, dl, "range overlaps a %s site", ks->kind);
        return DMP_REFUSE_KNOWN_SITE;
    }
    return DMP_REFUSE_NONE;
}

static int plan_trampoline(struct dmp_planner *p, size_t h, struct dmp_plan *pl)
{
    const struct dmp_insn *hot = &p->fn_ins[h];
    for (size_t i = 0; i < p->fn_n; i++) {
        const struct dmp_insn *in = &p->fn_ins[i];
        if (!in->valid)
            return refuse(pl, DMP_REFUSE_UNDECODABLE, "undecodable bytes in %s", p->fn_name);
        if (in->flow == DMP_FLOW_JMP_IND ||
            (in->flow == DMP_FLOW_JMP && target_is_named(p->cv, in->target,
                                                         "__x86_indirect_thunk")))
            return refuse(pl, DMP_REFUSE_INDIRECT_JUMP, "%s has an indirect jump", p->fn_name);
    }
    enum dmp_refusal first = DMP_REFUSE_NONE;
    char first_d[128] = "";
    size_t ws = 0, we = 0;
    bool found = false;
    /* Prefer windows starting at the hot instruction, then ones starting up to 4 earlier. */
    for (size_t back = 0; back <= 4 && back <= h && !found; back++) {
        size_t s = h - back, e = s;
        unsigned total = 0;
        while (e < p->fn_n && (total < 5 || e <= h)) {
            total += p->fn_ins[e].len;
            e++;
        }
        enum dmp_refusal r;
        char d[128] = "";
        if (total < 5 || total > DMP_PLAN_MAX_SITE) {
            r = DMP_REFUSE_TOO_SHORT;
            snprintf(d, sizeof(d), "fewer than 5 bytes of instructions before function end");
        } else {
            r = check_window(p, s, e, d, sizeof(d));
        }
        if (r == DMP_REFUSE_NONE) {
            ws = s;
            we = e;
            found = true;
        } else if (first == DMP_REFUSE_NONE) {
            first = r;
            snprintf(first_d, sizeof(first_d), "%s", d);
        }
    }
    if (!found)
        return refuse(pl, first, "%s", first_d);

    uint64_t a = p->fn_ins[ws].va, b = p->fn_ins[we - 1].va + p->fn_ins[we - 1].len;
    long off = area_alloc(p, DMP_PLAN_MAX_TRAMP);
    if (off < 0)
        return refuse(pl, DMP_REFUSE_STUB_AREA_FULL, "stub area full");
    struct dmp_code_buf cb;
    dmp_cb_init(&cb, p->area + off, DMP_PLAN_MAX_TRAMP, p->o.stub_base + (uint64_t)off);
    char w[128] = "";
    pl->nexits = 0;
    pl->exits[pl->nexits++] = b;
    for (size_t i = ws; i < we; i++) {
        const struct dmp_insn *in = &p->fn_ins[i];
        int rc = i == h ? dmp_stub_emit_trap_block(&cb, in, p->commit_va, pl->kind, w, sizeof(w))
                        : dmp_stub_relocate(&cb, in, w, sizeof(w));
        if (rc) {
            p->used = (size_t)off;   /* give the space back */
            return refuse(pl, cb.out_of_reach ? DMP_REFUSE_OUT_OF_REACH
                                              : (i == h ? DMP_REFUSE_UNSUPPORTED
                                                        : DMP_REFUSE_UNSTEALABLE), "%s", w);
        }
        if (in->has_target && (in->target < a || in->target >= b) &&
            pl->nexits < DMP_PLAN_MAX_EXITS)
            pl->exits[pl->nexits++] = in->target;
    }
    dmp_cb_rel32(&cb, 0xe9, b);
    if (cb.overflow || cb.out_of_reach) {
        p->used = (size_t)off;
        return refuse(pl, cb.out_of_reach ? DMP_REFUSE_OUT_OF_REACH : DMP_REFUSE_STUB_AREA_FULL,
                      "trampoline does not fit or reach");
    }
    p->used = (size_t)off + cb.len;
    pl->tramp_va = cb.va;
    pl->tramp_len = (uint16_t)cb.len;
    memcpy(pl->tramp, cb.b, cb.len);
    pl->stub_va = p->commit_va;
    pl->site = a;
    pl->len = (uint8_t)(b - a);
    memcpy(pl->old_bytes, dmp_cv_bytes(p->cv, a, pl->len), pl->len);
    struct dmp_code_buf sb;
    dmp_cb_init(&sb, pl->new_bytes, sizeof(pl->new_bytes), a);
    dmp_cb_rel32(&sb, 0xe9, pl->tramp_va);
    if (sb.out_of_reach) {
        p->used = (size_t)off;
        return refuse(pl, DMP_REFUSE_OUT_OF_REACH, "trampoline not within rel32 reach");
    }
    /* The rest of the stolen range is unreachable (no branch lands there): int3 makes any
     * stray entry fail loudly instead of executing half an instruction. */
    memset(pl->new_bytes + 5, 0xcc, pl->len - 5);
    pl->tactic = DMP_TACTIC_TRAMPOLINE;
    snprintf(pl->detail, sizeof(pl->detail), "%u bytes (%zu insns) moved to trampoline",
             (unsigned)pl->len, we - ws);
    (void)hot;
    return 0;
}

int dmp_plan_site(struct dmp_planner *p, uint64_t va, struct dmp_plan *pl)
{
    memset(pl, 0, sizeof(*pl));
    pl->site = va;
    pl->hot = va;
    pl->stub_id = -1;
    struct dmp_func f;
    if (dmp_cv_func_at(p->cv, va, &f) != 0)
        return refuse(pl, DMP_REFUSE_NO_FUNCTION, "no text symbol covers this address");
    snprintf(pl->func, sizeof(pl->func), "%s", f.name);
    int rc = load_function(p, &f);
    if (rc)
        return rc;
    size_t lo = 0, hi = p->fn_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (p->fn_ins[mid].va < va)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo >= p->fn_n || p->fn_ins[lo].va != va)
        return refuse(pl, DMP_REFUSE_NOT_BOUNDARY, "not an instruction start in %s", f.name);
    const struct dmp_insn *in = &p->fn_ins[lo];
    if (!in->valid)
        return refuse(pl, DMP_REFUSE_UNDECODABLE, "undecodable instruction");
    /* (a) call rel32 / jmp rel32 / call *pv_ops slot -> retarget to a helper stub. */
    if ((in->flow == DMP_FLOW_CALL || in->flow == DMP_FLOW_JMP) && in->len == 5 &&
        (in->bytes[0] == 0xe8 || in->bytes[0] == 0xe9))
        return plan_retarget(p, in, in->target, pl);
    if (in->flow == DMP_FLOW_CALL_IND && in->rip_rel && in->len == 6 && in->bytes[0] == 0xff &&
        in->bytes[1] == 0x15) {
        uint64_t ptr;
        if (dmp_cv_read(p->cv, in->rip_addr, &ptr, 8) != 0)
            return refuse(pl, DMP_REFUSE_NOT_A_SITE, "cannot read the call's pointer slot");
        return plan_retarget(p, in, ptr, pl);
    }
    /* (b) inline trapping instruction -> trampoline. */
    pl->kind = inline_kind(in, f.name);
    if (!dmp_trap_kind(in) || !pl->kind)
        return refuse(pl, DMP_REFUSE_NOT_A_SITE, "'%.100s' is not a page-table/TLB/CR3 write",
                      in->text);
    return plan_trampoline(p, lo, pl);
}
