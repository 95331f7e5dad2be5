/* Unicorn differential harness; the method is described in equiv.h and docs/DMP.md. */
#include "dmppatcher/equiv.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicorn/unicorn.h>

#include "dmppatcher/decode.h"
#include "dmppatcher/stub.h"

#define PAGE 4096ull
#define RECORDER_VA 0xffffffffff000000ull   /* a page holding `ret`; hv slot points here */
#define STACK_TOP 0xffffc90000010000ull
#define STACK_LO (STACK_TOP - 0x10000ull)
#define DATA_BASE 0xffff888000000000ull
#define MAX_PAGES 512
#define MAX_EVENTS 256

enum ev_type { EV_WRITE = 1, EV_TRAP = 2 };

struct event {
    uint8_t type, size;
    uint64_t addr, val, aux;
};

struct run {
    struct event ev[MAX_EVENTS];
    unsigned nev;
    bool overflow;
    bool done;
    bool bad;                 /* fault / unsupported: recorded in why */
    char why[160];
    uint64_t regs[17];        /* 16 GPRs + rip */
    uint64_t rflags;
    uint64_t undef_flags;     /* flags left undefined by an executed instruction */
};

/* A page mapped in an engine. Text and code pages stay mapped from run to run with the same
 * bytes, so their translated blocks survive; one a run wrote to gets its bytes back before the
 * next run. Data pages go after every run and come back with the next state's bytes. */
enum page_kind {
    PG_TEXT,    /* kernel text only (with this side's patch): the same for every state */
    PG_CODE,    /* code with filler bytes (stub area, recorder, the edges of the text) */
    PG_STACK,   /* the stack: used by nearly every run, refilled for each state */
    PG_DATA,    /* everything else: unmapped after each run, mapped again on demand */
};
struct mapped {
    uint64_t va;
    enum page_kind kind;
    bool dirty;                 /* a run wrote to it */
};

#define DECODE_CACHE 4096   /* power of two */
struct cached_insn {
    bool used;
    struct dmp_insn in;
};

/* One engine per side, original (0) and patched (1): code under a side's translation cache
 * never changes from run to run, so Unicorn keeps its translated blocks, and nothing is
 * unmapped between runs (which cost a munmap, an mmap and a retranslation per page). A side
 * is valid for `plan` (the patched side's pages carry the plan's bytes; the original side's
 * never depend on the plan). */
struct side {
    uc_engine *uc;
    uc_context *fresh;          /* CPU state at creation: restored before every run */
    struct mapped pages[MAX_PAGES];
    unsigned npages;
    struct dmp_plan plan;       /* the plan whose bytes the patched side's pages carry */
    struct cached_insn *decoded;  /* decodes of instructions on pure-text pages */
    bool stale;                 /* translations may not match the pages (see prepare_side) */
};

struct dmp_equiv {
    const struct dmp_codeview *cv;
    const uint8_t *stub;
    uint64_t stub_base;
    size_t stub_len;
    uint64_t hv_slot_va;
    struct side side[2];
    struct dmp_decoder *dec;
    /* per run */
    struct side *s;
    uc_engine *uc;              /* s->uc */
    const struct dmp_plan *plan;
    bool patched;
    uint64_t state_seed;
    struct run *cur;
    unsigned insns, max_insns;
};

static const int gpr_ids[16] = {
    UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX, UC_X86_REG_RSP,
    UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI, UC_X86_REG_R8,  UC_X86_REG_R9,
    UC_X86_REG_R10, UC_X86_REG_R11, UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14,
    UC_X86_REG_R15};
static const char *const gpr_names[17] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp",
                                          "rsi", "rdi", "r8",  "r9",  "r10", "r11",
                                          "r12", "r13", "r14", "r15", "rip"};

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static bool canonical(uint64_t a)
{
    uint64_t top = a >> 47;
    return top == 0 || top == 0x1ffff;
}

static enum page_kind page_kind(const struct dmp_equiv *h, uint64_t pg)
{
    const struct dmp_codeview *cv = h->cv;
    bool in_text = pg + PAGE > cv->text_start && pg < cv->text_end;
    bool in_stub = pg + PAGE > h->stub_base && pg < h->stub_base + h->stub_len;
    bool hv = h->patched && h->hv_slot_va >= pg && h->hv_slot_va + 8 <= pg + PAGE;
    if (pg >= cv->text_start && pg + PAGE <= cv->text_end && !in_stub && !hv)
        return PG_TEXT;
    if (in_text || in_stub || hv || pg == RECORDER_VA)
        return PG_CODE;
    return pg >= STACK_LO && pg < STACK_TOP ? PG_STACK : PG_DATA;
}

/* Fill one page the same way in both runs; returns what kind of page it is. The bytes of a
 * data page that no code or data of the kernel covers are random per state; on a page that
 * holds code they are random per page, so that the page never changes under its
 * translations (prepare_side). */
static enum page_kind page_content(struct dmp_equiv *h, uint64_t pg, uint8_t *buf)
{
    enum page_kind kind = page_kind(h, pg);
    bool per_state = kind == PG_DATA || kind == PG_STACK;
    uint64_t s = (per_state ? h->state_seed : 0) ^ (pg * 0x2545f4914f6cdd1dull);
    for (size_t i = 0; i < PAGE; i += 8) {
        uint64_t r = splitmix(&s);
        memcpy(buf + i, &r, 8);
    }
    if (pg == RECORDER_VA) {
        buf[0] = 0xc3;
        return kind;
    }
    const struct dmp_codeview *cv = h->cv;
    for (uint64_t i = 0; i < PAGE; i++) {
        uint64_t va = pg + i;
        if (va >= cv->text_start && va < cv->text_end)
            buf[i] = cv->text[va - cv->text_start];
        else if (h->patched && va >= h->stub_base && va < h->stub_base + h->stub_len)
            buf[i] = h->stub[va - h->stub_base];
        if (h->patched && va >= h->plan->site && va < h->plan->site + h->plan->len)
            buf[i] = h->plan->new_bytes[va - h->plan->site];
    }
    if (h->patched && h->hv_slot_va >= pg && h->hv_slot_va + 8 <= pg + PAGE) {
        uint64_t rec = RECORDER_VA;
        memcpy(buf + (h->hv_slot_va - pg), &rec, 8);
    }
    if (kind == PG_DATA && pg >= 0xffffffff80000000ull && pg < RECORDER_VA && cv->read) {
        uint8_t img[PAGE];
        if (cv->read(cv->ctx, pg, img, PAGE) == 0)
            memcpy(buf, img, PAGE);   /* kernel data, e.g. the pv_ops table */
    }
    return kind;
}

static struct mapped *find_page(struct side *sd, uint64_t pg)
{
    for (unsigned i = 0; i < sd->npages; i++)
        if (sd->pages[i].va == pg)
            return &sd->pages[i];
    return NULL;
}

static void mark_dirty(struct dmp_equiv *h, uint64_t addr)
{
    struct mapped *m = find_page(h->s, addr & ~(PAGE - 1));
    if (m && !m->dirty && (m->kind == PG_TEXT || m->kind == PG_CODE)) {
        m->dirty = true;
        h->s->stale = true;   /* translations and decodes of it may no longer hold */
        memset(h->s->decoded, 0, DECODE_CACHE * sizeof(*h->s->decoded));
    }
}

static bool map_page(struct dmp_equiv *h, uint64_t addr)
{
    uint64_t pg = addr & ~(PAGE - 1);
    struct side *sd = h->s;
    if (!canonical(addr) || sd->npages >= MAX_PAGES)
        return false;
    static _Thread_local uint8_t buf[PAGE];
    enum page_kind kind = page_content(h, pg, buf);
    if (uc_mem_map(h->uc, pg, PAGE, UC_PROT_ALL) != UC_ERR_OK)
        return false;
    if (uc_mem_write(h->uc, pg, buf, PAGE) != UC_ERR_OK)
        return false;
    sd->pages[sd->npages++] = (struct mapped){pg, kind, false};
    return true;
}

static bool hook_unmapped(uc_engine *uc, uc_mem_type type, uint64_t addr, int size,
                          int64_t value, void *ud)
{
    struct dmp_equiv *h = ud;
    if (!map_page(h, addr))
        return false;
    if (((addr + (uint64_t)size - 1) & ~(PAGE - 1)) != (addr & ~(PAGE - 1)))
        return map_page(h, addr + (uint64_t)size - 1);
    return true;
}

static void log_event(struct run *r, uint8_t type, uint64_t addr, uint8_t size, uint64_t val,
                      uint64_t aux)
{
    if (r->nev == MAX_EVENTS) {
        r->overflow = true;
        return;
    }
    r->ev[r->nev++] = (struct event){type, size, addr, val, aux};
}

static uint64_t size_mask(unsigned size)
{
    return size >= 8 ? ~0ull : ((1ull << (8 * size)) - 1);
}

/* A write that stores the bytes already present changes nothing and is not compared. */
static void log_write(struct dmp_equiv *h, uint64_t addr, unsigned size, uint64_t val)
{
    uint64_t cur = 0;
    if (size > 8)
        size = 8;
    if (uc_mem_read(h->uc, addr, &cur, size) == UC_ERR_OK && ((cur ^ val) & size_mask(size)) == 0)
        return;
    log_event(h->cur, EV_WRITE, addr, (uint8_t)size, val & size_mask(size), 0);
    /* A text page keeps its content between runs unless a run changes it. */
    mark_dirty(h, addr);
    mark_dirty(h, addr + size - 1);
}

static void hook_write(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value,
                       void *ud)
{
    log_write(ud, addr, (unsigned)size, (uint64_t)value);
}

static uint64_t reg(uc_engine *uc, int id)
{
    uint64_t v = 0;
    uc_reg_read(uc, id, &v);
    return v;
}

static int uc_reg_of(unsigned cs_reg)
{
    int i = dmp_x86_gpr_num(cs_reg);
    return i < 0 ? -1 : gpr_ids[i];
}

static bool eff_addr(struct dmp_equiv *h, const struct dmp_insn *in, uint64_t *ea)
{
    if (in->rip_rel) {
        *ea = in->rip_addr;
        return true;
    }
    uint64_t a = (uint64_t)in->mem.disp;
    if (in->mem.base) {
        int r = uc_reg_of(in->mem.base);
        if (r < 0)
            return false;
        a += reg(h->uc, r);
    }
    if (in->mem.index) {
        int r = uc_reg_of(in->mem.index);
        if (r < 0)
            return false;
        a += reg(h->uc, r) * (uint64_t)in->mem.scale;
    }
    *ea = a;
    return true;
}

/* The hv_update recorder: apply the update as the hypervisor would, log it, then clobber
 * every register a C implementation may clobber. */
static void recorder(struct dmp_equiv *h)
{
    uc_engine *uc = h->uc;
    uint64_t arg = reg(uc, UC_X86_REG_RDI), old = reg(uc, UC_X86_REG_RSI),
             nv = reg(uc, UC_X86_REG_RDX), op = reg(uc, UC_X86_REG_RCX);
    unsigned kind = DMP_HV_OP_KIND(op), size = DMP_HV_OP_SIZE(op);
    if (kind == DMP_HV_STORE && size >= 1 && size <= 8) {
        uint64_t cur = 0;
        if (uc_mem_read(uc, arg, &cur, size) != UC_ERR_OK &&
            (!map_page(h, arg) || !map_page(h, arg + size - 1) ||
             uc_mem_read(uc, arg, &cur, size) != UC_ERR_OK)) {
            h->cur->bad = true;
            snprintf(h->cur->why, sizeof(h->cur->why), "recorder: unmappable ptep 0x%llx",
                     (unsigned long long)arg);
            uc_emu_stop(uc);
            return;
        }
        log_write(h, arg, size, nv);
        uc_mem_write(uc, arg, &nv, size);
        (void)old;
    } else if (kind == DMP_HV_CR3 || kind == DMP_HV_INVLPG) {
        log_event(h->cur, EV_TRAP, arg, 0, kind, 0);
    } else if (kind == DMP_HV_INVPCID) {
        log_event(h->cur, EV_TRAP, arg, 0, kind, old);
    } else {
        h->cur->bad = true;
        snprintf(h->cur->why, sizeof(h->cur->why), "recorder: bad op 0x%llx",
                 (unsigned long long)op);
        uc_emu_stop(uc);
        return;
    }
    static const int clob[] = {UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RSI, UC_X86_REG_RDI,
                               UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11};
    for (size_t i = 0; i < sizeof(clob) / sizeof(clob[0]); i++) {
        uint64_t junk = 0xdead000000000000ull | (i << 8);
        uc_reg_write(uc, clob[i], &junk);
    }
    uint64_t zero = 0, fl = 0x2 | 0x8d5;
    uc_reg_write(uc, UC_X86_REG_RAX, &zero);
    uc_reg_write(uc, UC_X86_REG_EFLAGS, &fl);
}

/* The instruction at addr as the engine sees it, or NULL when its 16 bytes cannot be read.
 * Instructions whose bytes all lie on text pages are decoded once per side. */
static const struct dmp_insn *decode_at(struct dmp_equiv *h, uint64_t addr)
{
    static _Thread_local struct dmp_insn fresh;
    struct side *sd = h->s;
    const struct mapped *a = find_page(sd, addr & ~(PAGE - 1)),
                        *b = find_page(sd, (addr + 15) & ~(PAGE - 1));
    if (!a || a->kind == PG_DATA)
        sd->stale = true;   /* code on a page that changes from run to run */
    bool cacheable = a && b && a->kind == PG_TEXT && b->kind == PG_TEXT && !a->dirty && !b->dirty;
    struct cached_insn *c = NULL;
    if (cacheable) {
        c = &sd->decoded[(addr ^ (addr >> 12)) & (DECODE_CACHE - 1)];
        if (c->used && c->in.va == addr)
            return &c->in;
    }
    uint8_t bytes[16];
    if (uc_mem_read(h->uc, addr, bytes, sizeof(bytes)) != UC_ERR_OK)
        return NULL;
    struct dmp_insn *in = c ? &c->in : &fresh;
    dmp_decode(h->dec, bytes, sizeof(bytes), addr, in);
    if (c)
        c->used = true;
    return in;
}

static void hook_code(uc_engine *uc, uint64_t addr, uint32_t size, void *ud)
{
    struct dmp_equiv *h = ud;
    const struct dmp_plan *pl = h->plan;
    /* The instruction bound is enforced here, not with uc_emu_start's count: in Unicorn 2.0.1
     * a run that ends on the count leaves later runs of the same engine misbehaving. */
    if (++h->insns > h->max_insns) {
        uc_emu_stop(uc);
        return;
    }
    for (unsigned i = 0; i < pl->nexits; i++)
        if (addr == pl->exits[i]) {
            h->cur->done = true;
            uc_emu_stop(uc);
            return;
        }
    if (addr == RECORDER_VA) {
        recorder(h);
        return;
    }
    const struct dmp_insn *ip = decode_at(h, addr);
    if (!ip)
        return;
    const struct dmp_insn in = *ip;
    for (uint64_t f = X86_EFLAGS_UNDEFINED_OF; f <= X86_EFLAGS_UNDEFINED_CF; f <<= 1)
        if (in.eflags & f)
            h->cur->undef_flags |= f;
    if (dmp_insn_changes_cpu_mode(&in)) {
        h->cur->bad = true;
        snprintf(h->cur->why, sizeof(h->cur->why), "unmodelled privileged instruction '%.60s'"
                 " at 0x%llx", in.text, (unsigned long long)addr);
        uc_emu_stop(uc);
        return;
    }
    unsigned kind = dmp_trap_kind(&in);
    if (kind == DMP_HV_CR3 || kind == DMP_HV_INVLPG || kind == DMP_HV_INVPCID) {
        uint64_t arg = 0, aux = 0;
        if (kind == DMP_HV_CR3) {
            int r = uc_reg_of(in.regs[1]);
            arg = r >= 0 ? reg(uc, r) : 0;
        } else {
            eff_addr(h, &in, &arg);
            if (kind == DMP_HV_INVPCID) {
                int r = uc_reg_of(in.regs[0]);
                aux = r >= 0 ? reg(uc, r) : 0;
            }
        }
        log_event(h->cur, EV_TRAP, arg, 0, kind, aux);
        uint64_t next = addr + in.len;   /* privileged: modelled by its event, then skipped */
        uc_reg_write(uc, UC_X86_REG_RIP, &next);
    }
}

static int side_open(struct dmp_equiv *h, struct side *sd)
{
    uc_hook hh;
    sd->decoded = calloc(DECODE_CACHE, sizeof(*sd->decoded));
    if (!sd->decoded)
        return -ENOMEM;
    if (uc_open(UC_ARCH_X86, UC_MODE_64, &sd->uc) != UC_ERR_OK) {
        sd->uc = NULL;
        return -EINVAL;
    }
    if (uc_context_alloc(sd->uc, &sd->fresh) != UC_ERR_OK ||
        uc_context_save(sd->uc, sd->fresh) != UC_ERR_OK)
        return -ENOMEM;
    if (uc_hook_add(sd->uc, &hh, UC_HOOK_MEM_UNMAPPED, (void *)hook_unmapped, h, 1, 0) ||
        uc_hook_add(sd->uc, &hh, UC_HOOK_MEM_WRITE, (void *)hook_write, h, 1, 0) ||
        uc_hook_add(sd->uc, &hh, UC_HOOK_CODE, (void *)hook_code, h, 1, 0))
        return -EINVAL;
    return 0;
}

int dmp_equiv_new(const struct dmp_codeview *cv, const uint8_t *stub_area, uint64_t stub_base,
                  size_t stub_len, uint64_t hv_slot_va, struct dmp_equiv **out)
{
    struct dmp_equiv *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->cv = cv;
    h->stub = stub_area;
    h->stub_base = stub_base;
    h->stub_len = stub_len;
    h->hv_slot_va = hv_slot_va;
    int rc = dmp_decoder_open(&h->dec);
    if (rc) {
        free(h);
        return rc;
    }
    for (int i = 0; i < 2; i++)
        if ((rc = side_open(h, &h->side[i])) != 0) {
            dmp_equiv_free(h);
            return rc;
        }
    *out = h;
    return 0;
}

void dmp_equiv_free(struct dmp_equiv *h)
{
    if (!h)
        return;
    for (int i = 0; i < 2; i++) {
        struct side *sd = &h->side[i];
        if (sd->fresh)
            uc_context_free(sd->fresh);
        if (sd->uc)
            uc_close(sd->uc);
        free(sd->decoded);
    }
    dmp_decoder_close(h->dec);
    free(h);
}

static void unmap_page(struct side *sd, unsigned i)
{
    uc_mem_unmap(sd->uc, sd->pages[i].va, PAGE);
    sd->pages[i] = sd->pages[--sd->npages];
}

/* Make side `patched` current and ready for a run of h->plan in state h->state_seed. */
static void prepare_side(struct dmp_equiv *h, bool patched)
{
    static _Thread_local uint8_t buf[PAGE];
    struct side *sd = &h->side[patched];
    h->s = sd;
    h->uc = sd->uc;
    h->patched = patched;
    const struct dmp_plan *pl = h->plan;
    bool replan = patched && (sd->plan.site != pl->site || sd->plan.len != pl->len ||
                              memcmp(sd->plan.new_bytes, pl->new_bytes, pl->len) != 0);
    /* Pages kept from earlier plans must leave a run room for its own (MAX_PAGES). */
    bool full = sd->npages > MAX_PAGES / 2;
    /* Unicorn 2.0.1 keeps translated blocks (and the direct jumps between them) across a
     * rewrite or an unmap of the page they came from: a kept text block jumping into a
     * rewritten stub page ran the old translation, which failed as "invalid instruction" at
     * the site. So translations are kept only while every page that was executed keeps its
     * bytes; after a run that executed a data page or wrote to a text or code page, the
     * whole cache goes. */
    if (sd->stale || replan || full) {
        uc_ctl_flush_tlb(sd->uc);
        sd->stale = false;
    }
    if (replan) {
        sd->plan = *pl;
        memset(sd->decoded, 0, DECODE_CACHE * sizeof(*sd->decoded));
    }
    for (unsigned i = sd->npages; i-- > 0;) {
        struct mapped *m = &sd->pages[i];
        /* A new plan changes the patched side's bytes at its site. */
        if (m->kind == PG_DATA || replan || full) {
            unmap_page(sd, i);
        } else if (m->dirty || m->kind == PG_STACK) {
            page_content(h, m->va, buf);
            uc_mem_write(sd->uc, m->va, buf, PAGE);
            m->dirty = false;
        }
    }
}

static void one_run(struct dmp_equiv *h, bool patched, const uint64_t init[16], uint64_t rflags,
                    unsigned max_insns, struct run *r)
{
    memset(r, 0, sizeof(*r));
    prepare_side(h, patched);
    h->cur = r;
    h->insns = 0;
    h->max_insns = max_insns;
    uc_context_restore(h->uc, h->s->fresh);
    for (int i = 0; i < 16; i++)
        uc_reg_write(h->uc, gpr_ids[i], &init[i]);
    uc_reg_write(h->uc, UC_X86_REG_EFLAGS, &rflags);
    uc_err e = uc_emu_start(h->uc, h->plan->site, 0, 0, 0);
    for (int i = 0; i < 16; i++)
        r->regs[i] = reg(h->uc, gpr_ids[i]);
    r->regs[16] = reg(h->uc, UC_X86_REG_RIP);
    r->rflags = reg(h->uc, UC_X86_REG_EFLAGS);
    if (!r->bad && e != UC_ERR_OK) {
        r->bad = true;
        snprintf(r->why, sizeof(r->why), "%s at rip 0x%llx", uc_strerror(e),
                 (unsigned long long)r->regs[16]);
    } else if (!r->bad && !r->done) {
        r->bad = true;
        snprintf(r->why, sizeof(r->why), "did not reach an exit within %u instructions",
                 max_insns);
    } else if (r->overflow) {
        r->bad = true;
        snprintf(r->why, sizeof(r->why), "too many memory events");
    }
}

/* Drop writes to the dead stack below the final %rsp (scratch frames, return addresses). */
static void drop_dead_stack(struct run *r)
{
    uint64_t rsp = r->regs[4];
    unsigned k = 0;
    for (unsigned i = 0; i < r->nev; i++) {
        const struct event *e = &r->ev[i];
        /* No red zone in the kernel: anything below the final %rsp is dead, wherever the
         * stack is (some sites switch stacks inside the range). */
        if (e->type == EV_WRITE && e->addr + e->size <= rsp && e->addr >= rsp - 0x10000)
            continue;
        r->ev[k++] = *e;
    }
    r->nev = k;
}

static uint64_t flag_mask(uint64_t undef)
{
    uint64_t m = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x400 | 0x800;   /* CF PF AF ZF SF DF OF */
    if (undef & X86_EFLAGS_UNDEFINED_CF) m &= ~0x1ull;
    if (undef & X86_EFLAGS_UNDEFINED_PF) m &= ~0x4ull;
    if (undef & X86_EFLAGS_UNDEFINED_AF) m &= ~0x10ull;
    if (undef & X86_EFLAGS_UNDEFINED_ZF) m &= ~0x40ull;
    if (undef & X86_EFLAGS_UNDEFINED_SF) m &= ~0x80ull;
    if (undef & X86_EFLAGS_UNDEFINED_OF) m &= ~0x800ull;
    return m;
}

static bool compare(const struct run *a, const struct run *b, char *why, size_t wl)
{
    for (int i = 0; i < 17; i++)
        if (a->regs[i] != b->regs[i]) {
            snprintf(why, wl, "%s differs: original 0x%llx patched 0x%llx", gpr_names[i],
                     (unsigned long long)a->regs[i], (unsigned long long)b->regs[i]);
            return false;
        }
    uint64_t m = flag_mask(a->undef_flags);
    if ((a->rflags ^ b->rflags) & m) {
        snprintf(why, wl, "rflags differ: original 0x%llx patched 0x%llx (mask 0x%llx)",
                 (unsigned long long)a->rflags, (unsigned long long)b->rflags,
                 (unsigned long long)m);
        return false;
    }
    if (a->nev != b->nev) {
        snprintf(why, wl, "%u memory/trap events in original, %u in patched", a->nev, b->nev);
        return false;
    }
    for (unsigned i = 0; i < a->nev; i++)
        if (memcmp(&a->ev[i], &b->ev[i], sizeof(a->ev[i])) != 0) {
            snprintf(why, wl, "event %u differs: original %s 0x%llx=0x%llx, patched %s "
                     "0x%llx=0x%llx", i, a->ev[i].type == EV_WRITE ? "write" : "trap",
                     (unsigned long long)a->ev[i].addr, (unsigned long long)a->ev[i].val,
                     b->ev[i].type == EV_WRITE ? "write" : "trap",
                     (unsigned long long)b->ev[i].addr, (unsigned long long)b->ev[i].val);
            return false;
        }
    return true;
}

int dmp_equiv_check(struct dmp_equiv *h, const struct dmp_plan *plan,
                    const struct dmp_equiv_opts *opts, struct dmp_equiv_result *res)
{
    unsigned states = opts && opts->states ? opts->states : 200;
    uint64_t seed = opts && opts->seed ? opts->seed : 1;
    unsigned max_insns = opts && opts->max_insns ? opts->max_insns : 20000;
    memset(res, 0, sizeof(*res));
    if (plan->tactic != DMP_TACTIC_RETARGET && plan->tactic != DMP_TACTIC_TRAMPOLINE) {
        snprintf(res->why, sizeof(res->why), "plan was refused; nothing to check");
        return 0;
    }
    struct run *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    if (!a || !b) {
        free(a);
        free(b);
        return -ENOMEM;
    }
    h->plan = plan;
    uint64_t ps = seed ^ (plan->site * 0x9e3779b97f4a7c15ull);
    unsigned attempts = 0;
    res->pass = true;
    while (res->runs < states && attempts < states * 4) {
        attempts++;
        uint64_t s = splitmix(&ps);
        h->state_seed = s;
        uint64_t init[16];
        for (int i = 0; i < 16; i++) {
            uint64_t r = splitmix(&s);
            if (r % 8 < 5)   /* mostly pointers, so memory operands land in mapped memory */
                init[i] = DATA_BASE + (splitmix(&s) % 256) * PAGE + (splitmix(&s) % 512) * 8;
            else if (r % 8 == 5)
                init[i] = splitmix(&s) % 64;
            else
                init[i] = splitmix(&s);
        }
        init[4] = STACK_TOP - 0x1000 - (splitmix(&s) % 64) * 8;
        uint64_t rflags = 0x2 | (splitmix(&s) & 0x8d5);   /* arithmetic flags; DF=0 */
        one_run(h, false, init, rflags, max_insns, a);
        if (a->bad) {
            res->skipped++;
            continue;
        }
        one_run(h, true, init, rflags, max_insns, b);
        res->runs++;
        if (b->bad) {
            res->pass = false;
            snprintf(res->why, sizeof(res->why), "state %u: original ran, patched failed: %s",
                     attempts, b->why);
            break;
        }
        drop_dead_stack(a);
        drop_dead_stack(b);
        char why[200];
        if (!compare(a, b, why, sizeof(why))) {
            res->pass = false;
            snprintf(res->why, sizeof(res->why), "state %u: %s", attempts, why);
            break;
        }
    }
    if (res->pass && res->runs < states) {
        res->pass = false;
        snprintf(res->why, sizeof(res->why),
                 "inconclusive: only %u of %u states ran in the original (last: %s)",
                 res->runs, states, a->why);
    }
    free(a);
    free(b);
    return 0;
}
