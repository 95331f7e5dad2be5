/* pvsites + btf_layout + kimage section lookup: synthetic images (BTF written with libbpf's
 * writer, ELF sections appended to a ksyms_synth.h ELF) with chosen layouts, every refusal
 * path, and the real Debian kernel when it is installed. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>

#include "dmppatcher/pvsites.h"
#include "dmpcommon/test.h"
#include "ksyms_synth.h"
#include "real_kernel.h"

static char err[512];

#define TEXT_VA SYNTH_TEXT_VA       /* R-X: 8 KiB of file bytes, then a 4 KiB zero tail */
#define TEXT_FILESZ 8192
#define TEXT_MEMSZ 12288
#define DATA_VA SYNTH_RODATA_VA     /* R only */

/* What a synthetic kernel looks like; the zero value is a good kernel with the test layout
 * (mmu at byte 200 of the template, lazy_mode at byte 96 of pv_mmu_ops: types 37/38/39). */
struct spec {
    unsigned mmu_off, lazy_off;   /* 0: 200 / 96 */
    bool no_btf, btf_nobits, no_para, no_template, no_flush, flush_bitfield;
    bool dup_percpu, var_outside;
    size_t btf_cut;               /* keep only this many bytes of .BTF (0: all) */
    const uint8_t *para;          /* .parainstructions contents (NULL: the default table) */
    size_t para_len;
};

static unsigned mmu_off(const struct spec *s) { return s->mmu_off ? s->mmu_off : 200; }
static unsigned lazy_off(const struct spec *s) { return s->lazy_off ? s->lazy_off : 96; }

/* ---- BTF ---- */

/* Every btf__add_* result goes through here: one failure spoils the whole BTF. */
static int bad_add;
static int add(int id)
{
    bad_add |= id < 0;
    return id;
}

static uint8_t *make_btf(const struct spec *s, size_t *len)
{
    struct btf *b = btf__new_empty();
    if (!b)
        return NULL;
    bad_add = 0;
    int ul = add(btf__add_int(b, "unsigned long", 8, 0));
    int i32 = add(btf__add_int(b, "int", 4, BTF_INT_SIGNED));
    int proto = add(btf__add_func_proto(b, 0));
    int fp = add(btf__add_ptr(b, proto));
    int cfp = add(btf__add_const(b, fp));   /* a qualifier to look through */
    int lazy = add(btf__add_struct(b, "pv_lazy_ops", 24));
    add(btf__add_field(b, "enter", fp, 0, 0));
    add(btf__add_field(b, "leave", cfp, 64, 0));
    if (!s->no_flush)
        add(btf__add_field(b, "flush", fp, 128, s->flush_bitfield ? 8 : 0));
    unsigned lo = lazy_off(s), mo = mmu_off(s);
    int mmu = add(btf__add_struct(b, "pv_mmu_ops", lo + 24));
    add(btf__add_field(b, "flush_tlb_user", fp, 0, 0));
    add(btf__add_field(b, "lazy_mode", lazy, lo * 8, 0));
    int mmut = add(btf__add_typedef(b, "pv_mmu_ops_t", mmu));   /* a typedef to look through */
    int cpu = add(btf__add_struct(b, "pv_cpu_ops", 8));
    add(btf__add_field(b, "io_delay", fp, 0, 0));
    add(btf__add_struct(b, s->no_template ? "paravirt_patch_templat"
                                                      : "paravirt_patch_template",
                                   mo + lo + 24));
    add(btf__add_field(b, "cpu", cpu, 0, 0));
    add(btf__add_field(b, "mmu", mmut, mo * 8, 0));
    /* Per-CPU variables; as in Linux, struct mc_buffer and the variable share a name. */
    int mcb = add(btf__add_struct(b, "mc_buffer", 3088));
    int v_mc = add(btf__add_var(b, "mc_buffer", BTF_VAR_STATIC, mcb));
    int v_off = add(btf__add_var(b, "this_cpu_off", BTF_VAR_GLOBAL_ALLOCATED, ul));
    int v_pc = add(btf__add_var(b, "__preempt_count", BTF_VAR_GLOBAL_ALLOCATED, i32));
    int v_dup = s->dup_percpu ? add(btf__add_var(b, "mc_buffer", BTF_VAR_STATIC, mcb)) : 0;
    int v_data = add(btf__add_var(b, "not_percpu", BTF_VAR_GLOBAL_ALLOCATED, ul));
    add(btf__add_datasec(b, ".data..percpu", 200000));
    add(btf__add_datasec_var_info(b, v_off, 104936, 8));
    add(btf__add_datasec_var_info(b, v_mc, 123584, 3088));
    add(btf__add_datasec_var_info(b, v_pc, s->var_outside ? 199998 : 129856, 4));
    if (v_dup)
        add(btf__add_datasec_var_info(b, v_dup, 150000, 3088));
    add(btf__add_datasec(b, ".data", 64));   /* a variable elsewhere must not be found */
    add(btf__add_datasec_var_info(b, v_data, 0, 8));
    uint32_t sz = 0;
    const void *raw = btf__raw_data(b, &sz);
    uint8_t *out = bad_add || !raw ? NULL : malloc(sz);
    if (out) {
        memcpy(out, raw, sz);
        *len = s->btf_cut ? s->btf_cut : sz;
    }
    btf__free(b);
    return out;
}

/* ---- .parainstructions ---- */

static void put_site(uint8_t *e, uint64_t va, uint8_t type, uint8_t len)
{
    memset(e, 0, 16);
    synth_put64(e, va);
    e[8] = type;
    e[9] = len;
}

/* Deliberately unsorted, with entries of other types that break our rules (they must be
 * ignored). Returns the entry count; buf holds 16 * 8 bytes. */
static size_t default_para(const struct spec *s, uint8_t *buf)
{
    unsigned enter = (mmu_off(s) + lazy_off(s)) / 8;
    size_t n = 0;
    put_site(buf + 16 * n++, TEXT_VA + 0x300, (uint8_t)(enter + 1), 6);
    put_site(buf + 16 * n++, TEXT_VA + 0x100, (uint8_t)enter, 6);
    put_site(buf + 16 * n++, TEXT_VA + 0x40, 0, 2);              /* other type, odd length */
    put_site(buf + 16 * n++, DATA_VA, 5, 6);                     /* other type, not in text */
    put_site(buf + 16 * n++, TEXT_VA + 0x200, (uint8_t)enter, 6);
    put_site(buf + 16 * n++, TEXT_VA + 0x500, (uint8_t)(enter + 2), 5);
    put_site(buf + 16 * n++, TEXT_VA + 0x400, (uint8_t)(enter + 1), 7);
    put_site(buf + 16 * n++, TEXT_VA + 0x600, (uint8_t)enter, 6);
    return n;
}

/* ---- ELF with sections ---- */

struct tsec {
    const char *name;
    uint32_t type;       /* 1 PROGBITS, 8 NOBITS */
    uint64_t addr;
    const void *data;
    size_t size;
};

enum { SEC_TEXT = 1, SEC_BTF, SEC_PARA, SEC_BSS, SEC_SHSTRTAB };

/* Append section contents, a .shstrtab and a section header table to a PT_LOAD-only ELF.
 * Sections are numbered from 1 in the order given; the name table comes last. */
static uint8_t *add_sections(const uint8_t *elf, size_t elflen, const struct tsec *secs,
                             size_t n, size_t *outlen)
{
    size_t strsz = 1 + strlen(".shstrtab") + 1;
    size_t total = elflen;
    for (size_t i = 0; i < n; i++) {
        strsz += strlen(secs[i].name) + 1;
        if (secs[i].type != 8)
            total = synth_align8(total) + secs[i].size;
    }
    total = synth_align8(total + strsz) + 64 * (n + 2);
    uint8_t *b = calloc(1, total);
    if (!b)
        return NULL;
    memcpy(b, elf, elflen);
    size_t off = elflen;
    uint64_t sh_off[32], name_off[32];
    char *names = malloc(strsz);
    size_t np = 0;
    names[np++] = 0;
    for (size_t i = 0; i <= n; i++) {
        const char *nm = i < n ? secs[i].name : ".shstrtab";
        name_off[i] = np;
        memcpy(names + np, nm, strlen(nm) + 1);
        np += strlen(nm) + 1;
    }
    for (size_t i = 0; i < n; i++) {
        off = synth_align8(off);
        sh_off[i] = off;
        if (secs[i].type != 8) {
            memcpy(b + off, secs[i].data, secs[i].size);
            off += secs[i].size;
        }
    }
    size_t stroff = off;
    memcpy(b + off, names, strsz);
    free(names);
    off = synth_align8(off + strsz);
    synth_put64(b + 40, off);              /* e_shoff */
    synth_put16(b + 58, 64);               /* e_shentsize */
    synth_put16(b + 60, (uint16_t)(n + 2));
    synth_put16(b + 62, (uint16_t)(n + 1));
    for (size_t i = 0; i <= n; i++) {
        uint8_t *sh = b + off + 64 * (i + 1);
        synth_put32(sh, (uint32_t)name_off[i]);
        synth_put32(sh + 4, i < n ? secs[i].type : 3);   /* SHT_STRTAB */
        synth_put64(sh + 16, i < n ? secs[i].addr : 0);
        synth_put64(sh + 24, i < n ? sh_off[i] : stroff);
        synth_put64(sh + 32, i < n ? secs[i].size : strsz);
    }
    *outlen = total;
    return b;
}

static uint8_t text_bytes[TEXT_FILESZ], data_bytes[4096];

static uint8_t *make_kernel(const struct spec *s, size_t *len)
{
    memset(text_bytes, 0xcc, sizeof(text_bytes));
    struct synth_seg segs[2] = {
        {TEXT_VA, text_bytes, TEXT_FILESZ, TEXT_MEMSZ, 5},
        {DATA_VA, data_bytes, sizeof(data_bytes), 0, 4},
    };
    size_t elflen;
    uint8_t *elf = synth_elf(segs, 2, &elflen);
    size_t btflen = 0;
    uint8_t *btf = make_btf(s, &btflen);
    uint8_t para[16 * 8];
    size_t plen = s->para ? s->para_len : 16 * default_para(s, para);
    if (!elf || !btf) {
        free(elf);
        free(btf);
        return NULL;
    }
    struct tsec secs[4];
    size_t n = 0;
    secs[n++] = (struct tsec){".text", 1, TEXT_VA, text_bytes, TEXT_FILESZ};
    if (!s->no_btf)
        secs[n++] = (struct tsec){".BTF", s->btf_nobits ? 8 : 1, 0, btf, btflen};
    if (!s->no_para)
        secs[n++] = (struct tsec){".parainstructions", 1, DATA_VA + 0x100,
                                  s->para ? s->para : para, plen};
    secs[n++] = (struct tsec){".bss", 8, DATA_VA + 0x1000, NULL, 0x1000};
    uint8_t *out = add_sections(elf, elflen, secs, n, len);
    free(elf);
    free(btf);
    return out;
}

static struct dmp_kimage *open_spec(const struct spec *s)
{
    size_t len;
    uint8_t *b = make_kernel(s, &len);
    CHECK(b != NULL);
    if (!b)
        return NULL;
    struct dmp_kimage *k = NULL;
    int r = dmp_kimage_open_mem(b, len, &k, err, sizeof(err));
    if (r)
        fprintf(stderr, "  open: %s\n", err);
    CHECK_EQ_U64(r, 0);
    free(b);
    return k;
}

/* rc and message of a failed call; prints both when they are not what was wanted. */
static void expect(const char *what, int r, int want_rc, const char *want)
{
    if (r != want_rc || !strstr(err, want))
        fprintf(stderr, "  %s: rc %d, err \"%s\" (want %d, \"%s\")\n", what, r, err, want_rc,
                want);
    CHECK_EQ_U64(r, want_rc);
    CHECK(strstr(err, want) != NULL);
}

/* dmp_pv_lazy_sites must fail on this spec with want_rc and a message containing want. */
static void sites_err(const char *what, const struct spec *s, int want_rc, const char *want)
{
    struct dmp_kimage *k = open_spec(s);
    if (!k)
        return;
    struct dmp_pv_layout l;
    memset(&l, 0x5a, sizeof(l));
    err[0] = 0;
    expect(what, dmp_pv_lazy_sites(k, &l, err, sizeof(err)), want_rc, want);
    CHECK(l.sites == NULL && l.nsites == 0);   /* nothing to free after an error */
    dmp_kimage_close(k);
}

/* ---- tests ---- */

static void check_good_sites(struct dmp_kimage *k, unsigned enter)
{
    struct dmp_pv_layout l;
    int r = dmp_pv_lazy_sites(k, &l, err, sizeof(err));
    if (r)
        fprintf(stderr, "  sites: %s\n", err);
    CHECK_EQ_U64(r, 0);
    if (r)
        return;
    CHECK_EQ_U64(l.type[DMP_PV_LAZY_ENTER], enter);
    CHECK_EQ_U64(l.type[DMP_PV_LAZY_LEAVE], enter + 1);
    CHECK_EQ_U64(l.type[DMP_PV_LAZY_FLUSH], enter + 2);
    static const struct { uint64_t off; uint8_t len; enum dmp_pv_lazy_op op; } want[] = {
        {0x100, 6, DMP_PV_LAZY_ENTER}, {0x200, 6, DMP_PV_LAZY_ENTER},
        {0x300, 6, DMP_PV_LAZY_LEAVE}, {0x400, 7, DMP_PV_LAZY_LEAVE},
        {0x500, 5, DMP_PV_LAZY_FLUSH}, {0x600, 6, DMP_PV_LAZY_ENTER},
    };
    CHECK_EQ_U64(l.nsites, 6);
    for (size_t i = 0; i < 6 && i < l.nsites; i++) {
        CHECK_EQ_U64(l.sites[i].va, TEXT_VA + want[i].off);
        CHECK_EQ_U64(l.sites[i].len, want[i].len);
        CHECK_EQ_U64(l.sites[i].op, want[i].op);
    }
    CHECK_EQ_U64(l.count[DMP_PV_LAZY_ENTER], 3);
    CHECK_EQ_U64(l.count[DMP_PV_LAZY_LEAVE], 2);
    CHECK_EQ_U64(l.count[DMP_PV_LAZY_FLUSH], 1);
    dmp_pv_layout_free(&l);
    CHECK(l.sites == NULL && l.nsites == 0);
}

static void check_percpu(struct dmp_kimage *k)
{
    static const struct { const char *name; uint64_t off, size; } want[] = {
        {"mc_buffer", 123584, 3088}, {"this_cpu_off", 104936, 8}, {"__preempt_count", 129856, 4},
    };
    for (size_t i = 0; i < 3; i++) {
        struct dmp_percpu_var v = {0, 0};
        int r = dmp_btf_percpu_var(k, want[i].name, &v, err, sizeof(err));
        if (r)
            fprintf(stderr, "  percpu %s: %s\n", want[i].name, err);
        CHECK_EQ_U64(r, 0);
        CHECK_EQ_U64(v.offset, want[i].off);
        CHECK_EQ_U64(v.size, want[i].size);
    }
    struct dmp_percpu_var v;
    expect("missing per-CPU var", dmp_btf_percpu_var(k, "no_such_var", &v, err, sizeof(err)),
           -ENOENT, "no per-CPU variable no_such_var");
    expect("var of another datasec", dmp_btf_percpu_var(k, "not_percpu", &v, err, sizeof(err)),
           -ENOENT, "not_percpu");
    expect("struct, not var", dmp_btf_percpu_var(k, "pv_lazy_ops", &v, err, sizeof(err)),
           -ENOENT, "pv_lazy_ops");
}

static void test_good(void)
{
    struct spec s = {0};
    struct dmp_kimage *k = open_spec(&s);
    if (!k)
        return;
    check_good_sites(k, (200 + 96) / 8);
    check_percpu(k);

    /* The generic member walk, through the typedef and the const qualifier. */
    struct btf *btf = NULL;
    CHECK_EQ_U64(dmp_btf_load(k, &btf, err, sizeof(err)), 0);
    uint64_t off = 0, size = 0;
    CHECK_EQ_U64(dmp_btf_member(btf, "paravirt_patch_template", "mmu.lazy_mode", &off, &size,
                                err, sizeof(err)), 0);
    CHECK_EQ_U64(off, 296);
    CHECK_EQ_U64(size, 24);
    CHECK_EQ_U64(dmp_btf_member(btf, "paravirt_patch_template", "mmu.lazy_mode.leave", &off,
                                &size, err, sizeof(err)), 0);
    CHECK_EQ_U64(off, 304);
    CHECK_EQ_U64(size, 8);
    expect("member of a pointer",
           dmp_btf_member(btf, "paravirt_patch_template", "mmu.lazy_mode.enter.x", &off, &size,
                          err, sizeof(err)),
           -EINVAL, "paravirt_patch_template.mmu.lazy_mode.enter: not a struct or union");
    expect("empty path step",
           dmp_btf_member(btf, "paravirt_patch_template", "mmu..enter", &off, &size, err,
                          sizeof(err)),
           -EINVAL, "bad member path 'mmu..enter'");
    expect("missing top member",
           dmp_btf_member(btf, "paravirt_patch_template", "irq.x", &off, &size, err,
                          sizeof(err)),
           -ENOENT, "struct paravirt_patch_template has no member 'irq'");
    expect("missing struct",
           dmp_btf_member(btf, "no_such_struct", "a", &off, &size, err, sizeof(err)), -ENOENT,
           "BTF has no struct no_such_struct");
    struct dmp_percpu_var v;
    CHECK_EQ_U64(dmp_btf_percpu_lookup(btf, "mc_buffer", &v, err, sizeof(err)), 0);
    CHECK_EQ_U64(v.offset, 123584);
    dmp_btf_free(btf);
    dmp_kimage_close(k);

    /* Debian 6.1's offsets: mmu at 280, lazy_mode at 320 -> 75/76/77. */
    s = (struct spec){.mmu_off = 280, .lazy_off = 320};
    k = open_spec(&s);
    if (k) {
        check_good_sites(k, 75);
        dmp_kimage_close(k);
    }
}

/* The bzImage backend holds the decompressed ELF: its sections are found the same way. */
static void test_bzimage(void)
{
    struct spec s = {0};
    size_t len, clen = 0, blen = 0;
    uint8_t *elf = make_kernel(&s, &len);
    uint8_t *comp = elf ? synth_gzip(elf, len, &clen) : NULL;
    uint8_t *bz = comp ? synth_bzimage(comp, clen, 0x020f, &blen) : NULL;
    CHECK(bz != NULL);
    struct dmp_kimage *k = NULL;
    if (bz) {
        int r = dmp_kimage_open_mem(bz, blen, &k, err, sizeof(err));
        if (r)
            fprintf(stderr, "  bzImage: %s\n", err);
        CHECK_EQ_U64(r, 0);
    }
    if (k) {
        CHECK_STREQ(dmp_kimage_format(k), "bzimage-gzip");
        CHECK(dmp_kimage_has_sections(k));
        check_good_sites(k, 37);
        check_percpu(k);
        dmp_kimage_close(k);
    }
    free(bz);
    free(comp);
    free(elf);
}

static void test_btf_errors(void)
{
    sites_err("no .BTF", &(struct spec){.no_btf = true}, -ENOENT,
              "no .BTF section: kernel built without CONFIG_DEBUG_INFO_BTF");
    sites_err(".BTF NOBITS", &(struct spec){.btf_nobits = true}, -ENOENT, "no .BTF section");
    sites_err("no template", &(struct spec){.no_template = true}, -ENOENT,
              "BTF has no struct paravirt_patch_template");
    sites_err("no flush", &(struct spec){.no_flush = true}, -ENOENT,
              "struct pv_lazy_ops (paravirt_patch_template.mmu.lazy_mode) has no member 'flush'");
    sites_err("flush bitfield", &(struct spec){.flush_bitfield = true}, -EINVAL,
              "paravirt_patch_template.mmu.lazy_mode.flush is a bitfield");
    sites_err("misaligned", &(struct spec){.lazy_off = 100}, -EINVAL,
              "paravirt_patch_template.mmu.lazy_mode.enter at byte 300, 8 bytes: not an 8-byte "
              "pointer slot");
    sites_err("type beyond u8", &(struct spec){.mmu_off = 2048}, -EINVAL,
              "does not fit a u8 type");
    sites_err("truncated BTF", &(struct spec){.btf_cut = 100}, -EINVAL, "malformed .BTF (100 bytes): ");
    sites_err("BTF header only", &(struct spec){.btf_cut = 10}, -EINVAL, "malformed .BTF (10 bytes)");

    /* libbpf's own reason reaches err (and not stderr). */
    struct dmp_kimage *k = open_spec(&(struct spec){.btf_cut = 100});
    if (k) {
        struct btf *btf = (struct btf *)1;
        CHECK(dmp_btf_load(k, &btf, err, sizeof(err)) == -EINVAL);
        CHECK(btf == NULL);
        CHECK(strstr(err, "libbpf") != NULL);
        printf("  truncated BTF says: %s\n", err);
        dmp_kimage_close(k);
    }

    k = open_spec(&(struct spec){.dup_percpu = true});
    if (k) {
        struct dmp_percpu_var v;
        expect("duplicate per-CPU name", dmp_btf_percpu_var(k, "mc_buffer", &v, err, sizeof(err)),
               -ENOTUNIQ, "per-CPU variable name mc_buffer is not unique");
        CHECK_EQ_U64(dmp_btf_percpu_var(k, "this_cpu_off", &v, err, sizeof(err)), 0);
        dmp_kimage_close(k);
    }
    k = open_spec(&(struct spec){.var_outside = true});
    if (k) {
        struct dmp_percpu_var v;
        expect("var outside datasec",
               dmp_btf_percpu_var(k, "__preempt_count", &v, err, sizeof(err)), -EINVAL,
               "outside DATASEC '.data..percpu'");
        dmp_kimage_close(k);
    }
}

static void test_para_errors(void)
{
    sites_err("no .parainstructions", &(struct spec){.no_para = true}, -ENOENT,
              "no .parainstructions section");
    uint8_t p[16 * 9];
    struct spec s = {.para = p};
    size_t n = default_para(&s, p);
    s.para_len = 16 * n + 8;
    sites_err("size not 16n", &s, -EINVAL, "size 136 is not a multiple of 16");

    /* Each case: the default table with one lazy entry replaced. */
    static const struct {
        const char *what;
        uint64_t va;
        uint8_t len;
        const char *want;
    } bad[] = {
        {"in a data segment", DATA_VA + 0x10, 6, "(enter at 0xffffffff82000010, 6 bytes) is outside"},
        {"in the zero tail", TEXT_VA + TEXT_FILESZ + 16, 6, "is outside the image's executable text"},
        {"straddles text end", TEXT_VA + TEXT_FILESZ - 3, 6, "is outside the image's executable text"},
        {"not mapped", 0xffffffff90000000ull, 6, "is outside the image's executable text"},
        {"wraps", UINT64_MAX - 2, 6, "is outside the image's executable text"},
        {"len 4", TEXT_VA + 0x100, 4, "entry 1 (enter at 0xffffffff81000100) has length 4, not 5..16"},
        {"len 17", TEXT_VA + 0x100, 17, "has length 17, not 5..16"},
        {"overlap", TEXT_VA + 0x1fd, 6, "enter site 0xffffffff810001fd (6 bytes) overlaps enter site 0xffffffff81000200"},
        {"duplicate", TEXT_VA + 0x200, 6, "overlaps enter site 0xffffffff81000200"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        default_para(&s, p);
        s.para_len = 16 * n;
        put_site(p + 16, bad[i].va, p[16 + 8], bad[i].len);   /* entry 1 is an enter site */
        sites_err(bad[i].what, &s, -EINVAL, bad[i].want);
    }

    /* No lazy sites at all is a valid answer, not an error. */
    default_para(&s, p);
    s.para_len = 16 * 2;
    memcpy(p, p + 16 * 2, 32);   /* entries 2, 3: other types only */
    struct dmp_kimage *k = open_spec(&s);
    if (k) {
        struct dmp_pv_layout l;
        CHECK_EQ_U64(dmp_pv_lazy_sites(k, &l, err, sizeof(err)), 0);
        CHECK_EQ_U64(l.nsites, 0);
        CHECK(l.sites == NULL);
        CHECK_EQ_U64(l.type[DMP_PV_LAZY_ENTER], 37);
        dmp_pv_layout_free(&l);
        dmp_kimage_close(k);
    }
    /* An empty table too. */
    s.para_len = 0;
    k = open_spec(&s);
    if (k) {
        struct dmp_pv_layout l;
        CHECK_EQ_U64(dmp_pv_lazy_sites(k, &l, err, sizeof(err)), 0);
        CHECK_EQ_U64(l.nsites, 0);
        dmp_kimage_close(k);
    }
}

/* ---- kimage section lookup ---- */

static uint8_t *shdr(uint8_t *elf, unsigned idx)
{
    uint64_t shoff = 0;
    for (int i = 7; i >= 0; i--)
        shoff = shoff << 8 | elf[40 + i];
    return elf + shoff + 64 * idx;
}

static void section_err(const char *what, const uint8_t *elf, size_t len, const char *name,
                        int want_rc, const char *want)
{
    struct dmp_kimage *k = NULL;
    int r = dmp_kimage_open_mem(elf, len, &k, err, sizeof(err));
    CHECK_EQ_U64(r, 0);
    if (!k)
        return;
    struct dmp_ksection sec;
    err[0] = 0;
    expect(what, dmp_kimage_section(k, name, &sec, err, sizeof(err)), want_rc, want);
    CHECK(sec.data == NULL);
    dmp_kimage_close(k);
}

static int arr_read(void *ctx, uint64_t va, void *buf, size_t len)
{
    return -EFAULT;
}

static void test_sections(void)
{
    struct spec s = {0};
    size_t len;
    uint8_t *elf = make_kernel(&s, &len);
    CHECK(elf != NULL);
    if (!elf)
        return;
    struct dmp_kimage *k = NULL;
    CHECK_EQ_U64(dmp_kimage_open_mem(elf, len, &k, err, sizeof(err)), 0);
    if (k) {
        struct dmp_ksection sec;
        CHECK(dmp_kimage_has_sections(k));
        CHECK_EQ_U64(dmp_kimage_section(k, ".text", &sec, err, sizeof(err)), 0);
        CHECK_EQ_U64(sec.va, TEXT_VA);
        CHECK_EQ_U64(sec.size, TEXT_FILESZ);
        CHECK(sec.data && sec.data[0] == 0xcc);
        CHECK_EQ_U64(dmp_kimage_section(k, ".parainstructions", &sec, err, sizeof(err)), 0);
        CHECK_EQ_U64(sec.va, DATA_VA + 0x100);
        CHECK_EQ_U64(sec.size, 16 * 8);
        expect("missing", dmp_kimage_section(k, ".nope", &sec, err, sizeof(err)), -ENOENT,
               "no section .nope");
        /* A prefix of a real name is not that name. */
        expect("prefix", dmp_kimage_section(k, ".tex", &sec, err, sizeof(err)), -ENOENT,
               "no section .tex");
        expect("NOBITS", dmp_kimage_section(k, ".bss", &sec, err, sizeof(err)), -ENOENT,
               "SHT_NOBITS");
        dmp_kimage_close(k);
    }

    uint8_t *b = malloc(len);
    memcpy(b, elf, len);
    synth_put64(b + 40, 0);
    section_err("no section headers", b, len, ".text", -ENOENT, "ELF has no section headers");
    memcpy(b, elf, len);
    synth_put64(b + 40, len - 32);
    section_err("shoff past end", b, len, ".text", -EINVAL, "section headers extend past end");
    memcpy(b, elf, len);
    synth_put16(b + 60, 60000);
    section_err("shnum past end", b, len, ".text", -EINVAL, "60000 section headers extend past end");
    memcpy(b, elf, len);
    synth_put16(b + 58, 40);
    section_err("small shentsize", b, len, ".text", -EINVAL, "section header size 40");
    memcpy(b, elf, len);
    synth_put16(b + 62, 200);
    section_err("bad shstrndx", b, len, ".text", -EINVAL, "bad section name table index 200");
    memcpy(b, elf, len);
    synth_put64(shdr(b, SEC_SHSTRTAB) + 32, len);
    section_err("name table past end", b, len, ".text", -EINVAL, "section name table extends past end");
    memcpy(b, elf, len);
    synth_put32(shdr(b, SEC_TEXT), 0x10000);
    section_err("name offset", b, len, ".BTF", -EINVAL, "section 1 name offset 65536 outside");
    memcpy(b, elf, len);
    synth_put64(shdr(b, SEC_PARA) + 24, len - 8);
    section_err("section past end", b, len, ".parainstructions", -EINVAL,
                "section .parainstructions extends past end of file");
    memcpy(b, elf, len);
    synth_put64(shdr(b, SEC_PARA) + 32, UINT64_MAX - 4);
    section_err("huge section", b, len, ".parainstructions", -EINVAL,
                "section .parainstructions extends past end of file");
    /* Extended numbering: e_shnum 0, the count in section 0's sh_size. */
    memcpy(b, elf, len);
    synth_put16(b + 60, 0);
    synth_put64(shdr(b, 0) + 32, SEC_SHSTRTAB + 1);
    k = NULL;
    CHECK_EQ_U64(dmp_kimage_open_mem(b, len, &k, err, sizeof(err)), 0);
    if (k) {
        struct dmp_ksection sec;
        CHECK_EQ_U64(dmp_kimage_section(k, ".parainstructions", &sec, err, sizeof(err)), 0);
        dmp_kimage_close(k);
    }
    free(b);
    free(elf);

    /* A live backend has no sections; the BTF users say so. */
    static const struct dmp_kbackend_ops ops = {"test-live", arr_read, NULL, NULL, NULL};
    static int ctx;
    k = dmp_kimage_from_backend(&ops, &ctx);
    CHECK(k != NULL);
    if (k) {
        struct dmp_ksection sec;
        CHECK(!dmp_kimage_has_sections(k));
        expect("live", dmp_kimage_section(k, ".BTF", &sec, err, sizeof(err)), -ENOENT,
               "a test-live image has no ELF sections");
        struct dmp_pv_layout l;
        expect("live sites", dmp_pv_lazy_sites(k, &l, err, sizeof(err)), -ENOENT,
               "no .BTF section: a test-live image keeps none");
        struct dmp_percpu_var v;
        expect("live percpu", dmp_btf_percpu_var(k, "mc_buffer", &v, err, sizeof(err)), -ENOENT,
               "no .BTF section");
        dmp_kimage_close(k);
    }
}

/* ---- the real kernel ---- */

static void test_real_kernel(void)
{
    struct real_kernel rk;
    struct dmp_kimage *k = real_kernel_open(&rk);
    if (!k)
        return;
    const char *path = rk.path;
    struct dmp_pv_layout l;
    int r = dmp_pv_lazy_sites(k, &l, err, sizeof(err));
    if (r)
        fprintf(stderr, "  %s: %s\n", path, err);
    CHECK_EQ_U64(r, 0);
    if (r == 0) {
        printf("  %s: types %u/%u/%u, sites enter %zu leave %zu flush %zu\n", path,
               l.type[0], l.type[1], l.type[2], l.count[0], l.count[1], l.count[2]);
        CHECK_EQ_U64(l.type[DMP_PV_LAZY_ENTER], 75);
        CHECK_EQ_U64(l.type[DMP_PV_LAZY_LEAVE], 76);
        CHECK(l.count[DMP_PV_LAZY_ENTER] >= 10);
        CHECK(l.count[DMP_PV_LAZY_LEAVE] >= 10);
        /* Cross-check the BTF-derived types against the code: every site is still the
         * unpatched `call *pv_ops+8*type(%rip)` (ff 15 rel32) in the file, and all of them
         * must name one and the same pv_ops base. */
        uint64_t base = 0;
        size_t bad = 0;
        for (size_t i = 0; i < l.nsites; i++) {
            uint8_t c[6];
            CHECK_EQ_U64(l.sites[i].len, 6);
            if (dmp_kimage_read(k, l.sites[i].va, c, 6) != 0 || c[0] != 0xff || c[1] != 0x15) {
                bad++;
                continue;
            }
            int32_t rel = (int32_t)((uint32_t)c[2] | (uint32_t)c[3] << 8 |
                                    (uint32_t)c[4] << 16 | (uint32_t)c[5] << 24);
            uint64_t slot = l.sites[i].va + 6 + (uint64_t)(int64_t)rel;
            uint64_t b = slot - 8ull * l.type[l.sites[i].op];
            if (!base)
                base = b;
            bad += b != base;
        }
        CHECK_EQ_U64(bad, 0);
        printf("  pv_ops at 0x%llx (from the call sites)\n", (unsigned long long)base);
        dmp_pv_layout_free(&l);
    }
    struct dmp_percpu_var v = {0, 0};
    CHECK_EQ_U64(dmp_btf_percpu_var(k, "mc_buffer", &v, err, sizeof(err)), 0);
    CHECK(v.size >= 2064);
    printf("  mc_buffer: offset %llu, %llu bytes\n", (unsigned long long)v.offset,
           (unsigned long long)v.size);
    CHECK_EQ_U64(dmp_btf_percpu_var(k, "this_cpu_off", &v, err, sizeof(err)), 0);
    CHECK_EQ_U64(v.size, 8);
    CHECK_EQ_U64(dmp_btf_percpu_var(k, "__preempt_count", &v, err, sizeof(err)), 0);
    CHECK_EQ_U64(v.size, 4);
    real_kernel_close(&rk);
}

int main(void)
{
    test_good();
    test_bzimage();
    test_btf_errors();
    test_para_errors();
    test_sections();
    test_real_kernel();
    return DMP_TEST_SUMMARY("test_pvsites");
}
