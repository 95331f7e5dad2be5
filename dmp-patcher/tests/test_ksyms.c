/* ksyms: kallsyms recovery on a hand-made kernel (exact answers known), its failure modes, the
 * int3 heuristic, KASLR slides, and the real Debian kernel cross-checked against its own code
 * with Capstone. */
#include <capstone/capstone.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmppatcher/kimage.h"
#include "dmppatcher/ksyms.h"
#include "dmpcommon/clock.h"
#include "dmpcommon/test.h"
#include "ksyms_synth.h"
#include "real_kernel.h"

static char err[512];

static struct synth_sym ssyms[SYNTH_NSYMS + 8];
static char snames[SYNTH_NSYMS + 8][256];

/* The hand-made kernel of ksyms_synth.h (its symbols in ssyms/snames, exact answers known). */
struct synth {
    uint8_t *elf;               /* the ELF file, malloc'd */
    size_t len, nsyms;
    struct synth_layout lay;    /* where its kallsyms tables are */
};

/* false after a failed check */
static bool make_synth(struct synth *sk)
{
    sk->elf = synth_kernel(ssyms, snames, &sk->nsyms, &sk->len, &sk->lay);
    CHECK(sk->elf != NULL);
    return sk->elf != NULL;
}

static void test_slide(struct dmp_ksyms *s, const char *name)
{
    const struct dmp_ksym *k = dmp_ksyms_by_name(s, name);
    CHECK(k != NULL);
    if (!k)
        return;
    uint64_t linked = k->addr;
    const int64_t slides[] = { 0x1e00000, -0x200000, 0x3c000000 };
    for (size_t i = 0; i < 3; i++) {
        dmp_ksyms_set_slide(s, slides[i]);
        CHECK(dmp_ksyms_slide(s) == slides[i]);
        CHECK_EQ_U64(k->addr, linked + (uint64_t)slides[i]);
        CHECK(dmp_ksyms_by_addr(s, linked + (uint64_t)slides[i]) != NULL);
        /* Lookups by runtime address find the same symbol, at its slid address. */
        const struct dmp_ksym *c = dmp_ksyms_by_addr(s, k->addr);
        CHECK(c && c->addr == k->addr);
        int64_t got = 0;
        CHECK_EQ_U64(dmp_ksyms_slide_from(s, name, linked + (uint64_t)slides[i], &got), 0);
        CHECK(got == slides[i]);
    }
    dmp_ksyms_set_slide(s, 0);
    CHECK_EQ_U64(k->addr, linked);
    int64_t got;
    CHECK_EQ_U64(dmp_ksyms_slide_from(s, "no_such_symbol_xyz", 0, &got), (uint64_t)-ENOENT);
}

static void test_synth(void)
{
    struct synth sk;
    if (!make_synth(&sk))
        return;
    struct dmp_kimage *k = NULL;
    CHECK_EQ_U64(dmp_kimage_open_mem(sk.elf, sk.len, &k, err, sizeof(err)), 0);
    struct dmp_ksyms *s = NULL;
    int r = dmp_ksyms_recover(k, &s, err, sizeof(err));
    if (r)
        fprintf(stderr, "  synth recover: %s\n", err);
    CHECK_EQ_U64(r, 0);
    if (s) {
        CHECK(dmp_ksyms_from_tables(s));
        CHECK_EQ_U64(dmp_ksyms_count(s), sk.nsyms);
        size_t exact = 0;
        for (size_t i = 0; i < sk.nsyms; i++) {
            const struct dmp_ksym *x = dmp_ksyms_by_name(s, ssyms[i].name);
            if (x && x->addr == ssyms[i].addr && x->type == ssyms[i].type)
                exact++;
            else
                fprintf(stderr, "  synth symbol %s wrong\n", ssyms[i].name);
        }
        CHECK_EQ_U64(exact, sk.nsyms);
        CHECK_EQ_U64(strlen(snames[7]), 200);   /* the 2-byte-length entry */
        const struct dmp_ksym *x = dmp_ksyms_by_name(s, "fn5");
        CHECK(x && x->size == 16 && x->type == 'T' - ('T' - 't') * (5 % 3 != 0));
        CHECK(dmp_ksyms_by_addr(s, SYNTH_TEXT_VA + 5 * 16 + 3) == x);
        x = dmp_ksyms_by_name(s, "fixed_percpu_data");
        CHECK(x && x->addr == 0 && x->type == 'A');
        CHECK(dmp_ksyms_by_addr(s, SYNTH_TEXT_VA)->name[0] != 0);
        CHECK(dmp_ksyms_by_addr(s, SYNTH_TEXT_VA + 16 * SYNTH_NSYMS + 5) == NULL);
        for (size_t i = 1; i < dmp_ksyms_count(s); i++)
            if (dmp_ksyms_get(s, i)->addr < dmp_ksyms_get(s, i - 1)->addr) {
                CHECK(!"sorted by address");
                break;
            }
        CHECK(dmp_ksyms_get(s, dmp_ksyms_count(s)) == NULL);
        uint64_t ts, te;
        CHECK_EQ_U64(dmp_kimage_text(k, &ts, &te, NULL), 0);
        CHECK_EQ_U64(ts, SYNTH_TEXT_VA);
        CHECK_EQ_U64(te, SYNTH_TEXT_VA + 16 * SYNTH_NSYMS);
        test_slide(s, "fn42");
        dmp_ksyms_free(s);

        /* The heuristic finds exactly the 16-byte int3-padded functions. */
        s = NULL;
        CHECK_EQ_U64(dmp_ksyms_heuristic(k, &s, err, sizeof(err)), 0);
        if (s) {
            CHECK(!dmp_ksyms_from_tables(s));
            CHECK_EQ_U64(dmp_ksyms_count(s), SYNTH_NSYMS);
            char want[32];
            snprintf(want, sizeof(want), "fn_%llx", (unsigned long long)(SYNTH_TEXT_VA + 16 * 9));
            const struct dmp_ksym *h = dmp_ksyms_by_name(s, want);
            CHECK(h && h->addr == SYNTH_TEXT_VA + 16 * 9 && h->size == 16 && h->type == 't');
            dmp_ksyms_free(s);
        }
    }
    dmp_kimage_close(k);

    /* Each damaged table is reported at the step that notices it. */
    static const struct { const char *what; int which; const char *want; } dmg[] = {
        { "token index", 0, "no kallsyms_token_table" },
        { "markers", 1, "no kallsyms_num_syms/kallsyms_names matching" },
        { "relative base", 2, "no address table" },
    };
    for (size_t d = 0; d < 3; d++) {
        uint8_t *bad = malloc(sk.len);
        memcpy(bad, sk.elf, sk.len);
        if (dmg[d].which == 0)
            synth_put16(bad + sk.lay.token_index + 2 * 100, 1);   /* index goes backwards */
        else if (dmg[d].which == 1)
            synth_put32(bad + sk.lay.markers + 4, 12345);
        else
            synth_put64(bad + sk.lay.relative_base, 0x1234);   /* _stext lands outside the image */
        k = NULL;
        CHECK_EQ_U64(dmp_kimage_open_mem(bad, sk.len, &k, err, sizeof(err)), 0);
        s = (struct dmp_ksyms *)1;
        r = dmp_ksyms_recover(k, &s, err, sizeof(err));
        CHECK(r == -ENOENT && s == NULL);
        if (!strstr(err, dmg[d].want))
            fprintf(stderr, "  damaged %s: \"%s\"\n", dmg[d].what, err);
        CHECK(strstr(err, dmg[d].want) != NULL);
        dmp_kimage_close(k);
        free(bad);
    }
    free(sk.elf);
}

/* ---- a live-style backend: the synthetic kernel as a KASLR-slid guest would show it ---- */

struct slid_ctx {
    struct dmp_kimage *file;   /* serves the bytes at linked addresses */
    int64_t slide;
    uint64_t hole;             /* one unreadable page, like an unmapped guest page */
    size_t reads;
};

static int slid_read(void *ctx, uint64_t va, void *buf, size_t len)
{
    struct slid_ctx *c = ctx;
    c->reads++;
    if (va < c->hole + 4096 && va + len > c->hole)
        return -EFAULT;
    return dmp_kimage_read(c->file, va - (uint64_t)c->slide, buf, len);
}

static void slid_close(void *ctx)
{
    dmp_kimage_close(((struct slid_ctx *)ctx)->file);
}

static void test_live_backend(void)
{
    struct synth sk;
    if (!make_synth(&sk))
        return;
    const int64_t slide = 0x2a00000;
    /* What the boot-time relocation does to kallsyms_relative_base under KASLR. */
    synth_put64(sk.elf + sk.lay.relative_base, SYNTH_TEXT_VA + (uint64_t)slide);
    static struct slid_ctx c;
    memset(&c, 0, sizeof(c));
    c.slide = slide;
    c.hole = SYNTH_RODATA_VA + (uint64_t)slide;   /* the unrelated first rodata page */
    CHECK_EQ_U64(dmp_kimage_open_mem(sk.elf, sk.len, &c.file, err, sizeof(err)), 0);
    free(sk.elf);
    if (!c.file)
        return;
    static const struct dmp_kbackend_ops ops = { "test-live", slid_read, NULL, NULL, slid_close };
    struct dmp_kimage *k = dmp_kimage_from_backend(&ops, &c);
    CHECK(k != NULL);
    if (!k) {
        dmp_kimage_close(c.file);
        return;
    }
    struct dmp_ksyms *s = NULL;
    /* No regions registered yet: nothing to scan. */
    CHECK_EQ_U64(dmp_ksyms_recover(k, &s, err, sizeof(err)), (uint64_t)-ENOENT);
    CHECK(strstr(err, "no known memory regions") != NULL);
    struct dmp_kregion fr[4];
    size_t nfr = dmp_kimage_regions(c.file, fr, 4);
    CHECK_EQ_U64(nfr, 2);
    for (size_t i = 0; i < nfr && i < 4; i++)
        CHECK_EQ_U64(dmp_kimage_add_region(k, fr[i].start + (uint64_t)slide,
                                           fr[i].end + (uint64_t)slide, fr[i].flags), 0);
    int r = dmp_ksyms_recover(k, &s, err, sizeof(err));
    if (r)
        fprintf(stderr, "  live recover: %s\n", err);
    CHECK_EQ_U64(r, 0);
    CHECK(c.reads > 2);   /* the hole forced page-by-page reads */
    if (s) {
        CHECK_EQ_U64(dmp_ksyms_count(s), sk.nsyms);
        const struct dmp_ksym *x = dmp_ksyms_by_name(s, "fn42");
        CHECK(x && x->addr == SYNTH_TEXT_VA + 42 * 16 + (uint64_t)slide);
        x = dmp_ksyms_by_name(s, "cpu_tss_rw");   /* absolute per-CPU: not relocated */
        CHECK(x && x->addr == 0x6000);
        uint64_t ts, te;
        const uint8_t *t;
        CHECK_EQ_U64(dmp_kimage_text(k, &ts, &te, &t), 0);
        CHECK_EQ_U64(ts, SYNTH_TEXT_VA + (uint64_t)slide);
        CHECK(t && t[0] == 0x90 && t[1] == 0xc3);
        dmp_ksyms_free(s);
    }
    dmp_kimage_close(k);
}

/* ---- the real kernel ---- */

static csh cs;

/* Decode [addr, addr+size) of the image text; call fn for each instruction. Resynchronises
 * one byte on undecodable bytes (Capstone 4 stops at e.g. `serialize`). */
static size_t decode_range(const uint8_t *text, uint64_t tstart, uint64_t addr, uint64_t size,
                           void (*fn)(const cs_insn *, void *), void *arg)
{
    cs_insn *insn = cs_malloc(cs);
    size_t count = 0;
    const uint8_t *code = text + (addr - tstart);
    size_t left = size;
    uint64_t a = addr;
    while (left > 0) {
        if (!cs_disasm_iter(cs, &code, &left, &a, insn)) {
            code++;
            left--;
            a++;
            continue;
        }
        count++;
        fn(insn, arg);
    }
    cs_free(insn, 1);
    return count;
}

struct fn_facts {
    int first_is_store, has_cr3_write, has_invlpg;
    uint64_t last_jmp_target;
    int last_is_ret;
    size_t n;
};

static void facts_cb(const cs_insn *i, void *arg)
{
    struct fn_facts *f = arg;
    const cs_x86 *x = &i->detail->x86;
    if (f->n++ == 0 && i->id == X86_INS_MOV && x->op_count == 2 && x->operands[0].type == X86_OP_MEM &&
        x->operands[0].mem.base == X86_REG_RDI && x->operands[1].type == X86_OP_REG &&
        x->operands[1].reg == X86_REG_RSI)
        f->first_is_store = 1;
    if (i->id == X86_INS_MOV && x->op_count == 2 && x->operands[0].type == X86_OP_REG &&
        x->operands[0].reg == X86_REG_CR3)
        f->has_cr3_write = 1;
    if (i->id == X86_INS_INVLPG)
        f->has_invlpg = 1;
    f->last_is_ret = i->id == X86_INS_RET;
    if (i->id == X86_INS_JMP && x->op_count == 1 && x->operands[0].type == X86_OP_IMM)
        f->last_jmp_target = (uint64_t)x->operands[0].imm;
}

struct call_stats {
    const struct dmp_ksyms *s;
    uint64_t target;   /* count direct calls to this address */
    size_t calls, on_symbol_start, to_target;
};

static void calls_cb(const cs_insn *i, void *arg)
{
    struct call_stats *c = arg;
    const cs_x86 *x = &i->detail->x86;
    if (i->id != X86_INS_CALL || i->size != 5 || i->bytes[0] != 0xe8 || x->op_count != 1 ||
        x->operands[0].type != X86_OP_IMM)
        return;
    uint64_t t = (uint64_t)x->operands[0].imm;
    c->calls++;
    const struct dmp_ksym *k = dmp_ksyms_by_addr(c->s, t);
    if (k && k->addr == t)
        c->on_symbol_start++;
    if (t == c->target)
        c->to_target++;
}

static int is_text_type(char t)
{
    return t == 't' || t == 'T' || t == 'W' || t == 'w';
}

static void test_real(void)
{
    struct real_kernel rk;
    double t0 = dmp_mono_s();
    struct dmp_kimage *k = real_kernel_open(&rk);
    double t1 = dmp_mono_s();
    if (!k)
        return;
    const char *path = rk.path;
    struct dmp_ksyms *s = NULL;
    int r = dmp_ksyms_recover(k, &s, err, sizeof(err));
    double t2 = dmp_mono_s();
    if (r)
        fprintf(stderr, "  recover: %s\n", err);
    CHECK_EQ_U64(r, 0);
    if (!s) {
        real_kernel_close(&rk);
        return;
    }
    size_t n = dmp_ksyms_count(s);
    printf("  %s: open+decompress %.3f s, kallsyms recovery %.3f s, %zu symbols\n", path,
           t1 - t0, t2 - t1, n);
    CHECK(dmp_ksyms_from_tables(s));
    CHECK(n >= 20000 && n <= 1000000);

    const struct dmp_ksym *stext = dmp_ksyms_by_name(s, "_stext");
    const struct dmp_ksym *etext = dmp_ksyms_by_name(s, "_etext");
    CHECK(stext && etext && etext->addr > stext->addr);
    uint64_t ts = 0, te = 0;
    const uint8_t *text = NULL;
    CHECK_EQ_U64(dmp_kimage_text(k, &ts, &te, &text), 0);
    CHECK(stext && ts == stext->addr);
    CHECK(etext && te == etext->addr);
    static const char *const want[] = { "startup_64", "native_set_pte", "native_set_pmd",
                                        "native_write_cr3", "native_flush_tlb_one_user",
                                        "__x86_return_thunk" };
    const struct dmp_ksym *w[6];
    for (size_t i = 0; i < 6; i++) {
        w[i] = dmp_ksyms_by_name(s, want[i]);
        if (!w[i])
            fprintf(stderr, "  missing symbol %s\n", want[i]);
        CHECK(w[i] != NULL);
        CHECK(w[i] && w[i]->addr >= ts && w[i]->addr < te && is_text_type(w[i]->type));
        if (w[i])
            printf("  %-28s %c 0x%llx size %llu\n", want[i], w[i]->type,
                   (unsigned long long)w[i]->addr, (unsigned long long)w[i]->size);
    }
    CHECK(w[0] && stext && w[0]->addr == stext->addr);
    size_t ncr3 = 0;
    printf("  symbols containing \"cr3\" in text:");
    for (size_t i = 0; i < n; i++) {
        const struct dmp_ksym *x = dmp_ksyms_get(s, i);
        if (strstr(x->name, "cr3") && is_text_type(x->type)) {
            ncr3++;
            printf(" %s", x->name);
        }
    }
    printf("\n");
    CHECK(ncr3 > 0);

    /* The code at the recovered addresses is what those names say it is. */
    CHECK_EQ_U64(cs_open(CS_ARCH_X86, CS_MODE_64, &cs), CS_ERR_OK);
    cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
    if (w[1] && w[5] && w[1]->size && w[1]->size <= 64) {
        struct fn_facts f = { 0 };
        decode_range(text, ts, w[1]->addr, w[1]->size, facts_cb, &f);
        /* native_set_pte: `mov %rsi,(%rdi)` then ret / jmp __x86_return_thunk (+ padding). */
        CHECK(f.first_is_store);
        CHECK(f.last_is_ret || f.last_jmp_target == w[5]->addr);
        printf("  native_set_pte: %zu insns, store first: %d, returns via %s\n", f.n,
               f.first_is_store, f.last_jmp_target == w[5]->addr ? "__x86_return_thunk" : "ret");
    } else {
        CHECK(!"native_set_pte is a short function");
    }
    if (w[3]) {
        struct fn_facts f = { 0 };
        decode_range(text, ts, w[3]->addr, w[3]->size, facts_cb, &f);
        CHECK(f.has_cr3_write);
    }
    if (w[4]) {
        struct fn_facts f = { 0 };
        decode_range(text, ts, w[4]->addr, w[4]->size, facts_cb, &f);
        CHECK(f.has_invlpg);
    }
    /* native_set_pte is reached through pv_ops (PARAVIRT_XXL), not called directly: its
     * address must sit in the pv_ops table in .data. */
    const struct dmp_ksym *pv = dmp_ksyms_by_name(s, "pv_ops");
    CHECK(pv != NULL && pv->size >= 8 && pv->size <= 4096);
    if (pv && w[1] && pv->size >= 8 && pv->size <= 4096) {
        uint8_t buf[4096];
        CHECK_EQ_U64(dmp_kimage_read(k, pv->addr, buf, pv->size), 0);
        size_t hits = 0;
        for (size_t o = 0; o + 8 <= pv->size; o += 8) {
            uint64_t v;
            memcpy(&v, buf + o, 8);
            hits += v == w[1]->addr;
        }
        printf("  pv_ops slots holding &native_set_pte: %zu\n", hits);
        CHECK(hits > 0);
    }
    /* Every direct call in (a sample of) text lands on a recovered symbol's start. */
    struct call_stats cst = { s, w[1] ? w[1]->addr : 0, 0, 0, 0 };
    size_t fns = 0;
    double t3 = dmp_mono_s();
    for (size_t i = 0; i < n; i++) {
        const struct dmp_ksym *x = dmp_ksyms_get(s, i);
        if (!is_text_type(x->type) || x->addr < ts || x->addr >= te || x->size == 0 ||
            x->size > 65536 || (i % 8) != 0)
            continue;
        fns++;
        decode_range(text, ts, x->addr, x->size, calls_cb, &cst);
    }
    printf("  sampled %zu functions in %.2f s: %zu call rel32, %zu (%.2f%%) to a symbol start, "
           "%zu to native_set_pte\n", fns, dmp_mono_s() - t3, cst.calls, cst.on_symbol_start,
           cst.calls ? 100.0 * (double)cst.on_symbol_start / (double)cst.calls : 0.0, cst.to_target);
    CHECK(cst.calls > 1000);
    CHECK(cst.on_symbol_start * 1000 >= cst.calls * 995);
    cs_close(&cs);

    /* Heuristic vs the truth: how many real function starts it finds, how many guesses are real. */
    struct dmp_ksyms *h = NULL;
    CHECK_EQ_U64(dmp_ksyms_heuristic(k, &h, err, sizeof(err)), 0);
    if (h) {
        size_t real = 0, found = 0, right = 0;
        for (size_t i = 0; i < n; i++) {
            const struct dmp_ksym *x = dmp_ksyms_get(s, i);
            if (!is_text_type(x->type) || x->addr < ts || x->addr >= te ||
                (i > 0 && dmp_ksyms_get(s, i - 1)->addr == x->addr))
                continue;
            real++;
            const struct dmp_ksym *y = dmp_ksyms_by_addr(h, x->addr);
            found += y && y->addr == x->addr;
        }
        for (size_t i = 0; i < dmp_ksyms_count(h); i++) {
            const struct dmp_ksym *y = dmp_ksyms_get(h, i);
            const struct dmp_ksym *x = dmp_ksyms_by_addr(s, y->addr);
            right += x && x->addr == y->addr;
        }
        printf("  heuristic: %zu guesses; recall %.1f%% of %zu text symbols, precision %.1f%%\n",
               dmp_ksyms_count(h), 100.0 * (double)found / (double)real, real,
               100.0 * (double)right / (double)dmp_ksyms_count(h));
        CHECK(found * 2 > real);
        CHECK(right * 10 > dmp_ksyms_count(h) * 9);
        dmp_ksyms_free(h);
    }

    test_slide(s, "native_set_pte");
    dmp_ksyms_free(s);
    real_kernel_close(&rk);
}

int main(void)
{
    test_synth();
    test_live_backend();
    test_real();
    return DMP_TEST_SUMMARY("test_ksyms");
}
