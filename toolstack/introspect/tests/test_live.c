/* Tests of the live-guest backend's pure parts on synthetic guest memory: the page-table
 * walker (4- and 5-level, 1 GiB / 2 MiB / 4 KiB pages, non-present entries at every level,
 * NX with and without EFER.NXE, reserved bits, unreadable tables), the frame cache (windows,
 * holes, LRU eviction, read-only read mappings, all-or-nothing writes), the kernel mapping scan,
 * and kallsyms recovery through all of them from a KASLR-slid synthetic kernel. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dmppatcher/classify.h"
#include "dmpintrospect/live.h"
#include "dmpcommon/test.h"
#include "../../../dmp-patcher/tests/ksyms_synth.h"

/* ---- fake guest-physical memory and frame mapper ---- */

#define NFRAMES 8192u   /* 32 MiB; a multiple of the 512-frame window */
#define P  0x1ull
#define RW 0x2ull
#define US 0x4ull
#define PS 0x80ull
#define NX (1ull << 63)

static uint8_t *mem;
static uint64_t hole_lo = ~0ull, hole_hi = ~0ull;   /* frames [lo, hi) do not exist */
static uint64_t next_frame;
static unsigned maps_ro, maps_rw, unmaps, reads_seen;
static bool fail_table_reads;
static unsigned fail_next_maps;

static bool frame_ok(uint64_t gfn)
{
    return gfn < NFRAMES && !(gfn >= hole_lo && gfn < hole_hi);
}

static void *fake_map(void *ctx, const uint64_t *gfns, size_t n, bool writable, int *errs)
{
    (void)ctx;
    if (fail_next_maps) {
        /* A failure of the call itself (privcmd out of memory), not of any frame. */
        fail_next_maps--;
        errno = ENOMEM;
        return NULL;
    }
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        /* The cache asks for consecutive frames; anything else is a bug this fake catches. */
        if (gfns[i] != gfns[0] + i)
            abort();
        errs[i] = frame_ok(gfns[i]) ? 0 : -EINVAL;
        any = any || !errs[i];
    }
    if (writable)
        maps_rw++;
    else
        maps_ro++;
    /* Like privcmd, a batch where no frame maps still succeeds, with an error per frame. The
     * cache must never touch such an address; the placeholder stands for it. */
    static uint8_t placeholder;
    return any ? mem + gfns[0] * 4096 : &placeholder;
}

static int fake_unmap(void *ctx, void *addr, size_t n)
{
    (void)ctx;
    (void)addr;
    (void)n;
    unmaps++;
    return 0;
}

static int counting_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
    reads_seen++;
    if (fail_table_reads)
        return -EFAULT;
    return dmp_fcache_read(ctx, gpa, buf, len, NULL);
}

static void reset_mem(void)
{
    memset(mem, 0, (size_t)NFRAMES * 4096);
    next_frame = 1;
    hole_lo = hole_hi = ~0ull;
    maps_ro = maps_rw = unmaps = reads_seen = fail_next_maps = 0;
    fail_table_reads = false;
}

static uint64_t alloc_frame(void)
{
    if (next_frame >= NFRAMES / 2)   /* tables live in the lower half; data in the upper */
        abort();
    return next_frame++ * 4096;
}

static uint64_t *entry_at(uint64_t table, uint64_t va, int level)
{
    uint64_t idx = (va >> (12 + 9 * (level - 1))) & 511;
    return (uint64_t *)(mem + table) + idx;
}

/* Map va -> gpa with a leaf at leaf_level (1: 4 KiB, 2: 2 MiB, 3: 1 GiB). Intermediate entries
 * are P|RW|US so that the leaf's flags decide unless a test changes them. */
static void map(uint64_t root, int levels, uint64_t va, uint64_t gpa, int leaf_level, uint64_t flags)
{
    uint64_t table = root;
    for (int l = levels; l > leaf_level; l--) {
        uint64_t *e = entry_at(table, va, l);
        if (!(*e & P))
            *e = alloc_frame() | P | RW | US;
        table = *e & DMP_PTW_ADDR_MASK;
    }
    *entry_at(table, va, leaf_level) = gpa | flags | (leaf_level > 1 ? PS : 0);
}

/* The entry at `level` on va's path (must exist down to there). */
static uint64_t *path_entry(uint64_t root, int levels, uint64_t va, int level)
{
    uint64_t table = root;
    for (int l = levels; l > level; l--)
        table = *entry_at(table, va, l) & DMP_PTW_ADDR_MASK;
    return entry_at(table, va, level);
}

static struct dmp_fcache *new_cache(size_t windows)
{
    struct dmp_frame_mapper m = { fake_map, fake_unmap, NULL };
    struct dmp_fcache *c = NULL;
    CHECK_EQ_U64(dmp_fcache_new(&m, windows, &c), 0);
    return c;
}

/* ---- walker ---- */

static void test_walk_4level(void)
{
    reset_mem();
    struct dmp_fcache *c = new_cache(16);
    struct dmp_physmem pm = { counting_read, c };
    uint64_t root = alloc_frame();
    const uint64_t va4k = 0xffffffff81234000ull, va2m = 0xffffffff82400000ull;
    const uint64_t va1g = 0xffff888000000000ull, user = 0x00007f0000001000ull;
    map(root, 4, va4k, 0x1000000, 1, P | RW);
    map(root, 4, va2m, 0x1200000, 2, P | NX);
    map(root, 4, va1g, 0x40000000, 3, P | RW | NX);
    map(root, 4, user, 0x1005000, 1, P | RW | US);
    struct dmp_ptw_result r;

    CHECK_EQ_U64(dmp_ptwalk(&pm, root, DMP_PTW_NXE, va4k + 0x123, &r), 0);
    CHECK_EQ_U64(r.gpa, 0x1000123);
    CHECK_EQ_U64(r.page_size, 4096);
    CHECK_EQ_U64(r.level, 1);
    CHECK(r.writable && !r.user && !r.nx);
    CHECK_EQ_U64(reads_seen, 4);   /* one entry per level */

    CHECK_EQ_U64(dmp_ptwalk(&pm, root, DMP_PTW_NXE, va2m + 0x1fffff, &r), 0);
    CHECK_EQ_U64(r.gpa, 0x13fffff);
    CHECK_EQ_U64(r.page_size, 2u << 20);
    CHECK_EQ_U64(r.level, 2);
    CHECK(!r.writable && r.nx);

    CHECK_EQ_U64(dmp_ptwalk(&pm, root, DMP_PTW_NXE, va1g + 0x3ffff123, &r), 0);
    CHECK_EQ_U64(r.gpa, 0x7ffff123);
    CHECK_EQ_U64(r.page_size, 1u << 30);
    CHECK_EQ_U64(r.level, 3);
    CHECK(r.writable && r.nx);

    CHECK_EQ_U64(dmp_ptwalk(&pm, root, DMP_PTW_NXE, user + 8, &r), 0);
    CHECK(r.user && r.writable);

    /* Rights accumulate: RW cleared in the PDE makes the 4 KiB page read-only; NX in the
     * PML4E makes it non-executable. */
    *path_entry(root, 4, va4k, 2) &= ~RW;
    *path_entry(root, 4, va4k, 4) |= NX;
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, DMP_PTW_NXE, va4k, &r), 0);
    CHECK(!r.writable && r.nx);
    /* Without EFER.NXE bit 63 is reserved: the walk refuses, like the CPU would fault. */
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, 0, va4k, &r), (uint64_t)-ENXIO);
    CHECK_EQ_U64(r.level, 4);

    /* CR3 low bits (PCID) and bit 63 (no-flush) are not part of the root. */
    CHECK_EQ_U64(dmp_ptwalk(&pm, root | 0x5 | (1ull << 63), DMP_PTW_NXE, va2m, &r), 0);
    CHECK_EQ_U64(r.gpa, 0x1200000);
    dmp_fcache_free(c);
}

static void test_walk_not_present(void)
{
    reset_mem();
    struct dmp_fcache *c = new_cache(16);
    struct dmp_physmem pm;
    dmp_fcache_physmem(c, &pm);
    uint64_t root = alloc_frame();
    const uint64_t va = 0xffffffff81000000ull;
    map(root, 4, va, 0x1000000, 1, P);
    struct dmp_ptw_result r;
    char msg[160];
    /* Not present at each level in turn: the result names the level and the entry. */
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, 0, va + 0x1000, &r), (uint64_t)-EFAULT);   /* next PTE */
    CHECK_EQ_U64(r.level, 1);
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, 0, va + (2u << 20), &r), (uint64_t)-EFAULT);   /* PDE */
    CHECK_EQ_U64(r.level, 2);
    dmp_ptwalk_describe(-EFAULT, va + (2u << 20), &r, msg, sizeof(msg));
    CHECK(strstr(msg, "0xffffffff81200000") && strstr(msg, "PDE not present"));
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, 0, va + (1ull << 30), &r), (uint64_t)-EFAULT);  /* PDPTE */
    CHECK_EQ_U64(r.level, 3);
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, 0, 0xffff888000000000ull, &r), (uint64_t)-EFAULT);
    CHECK_EQ_U64(r.level, 4);
    /* A present entry with the P bit cleared later (the guest unmapped it). */
    *path_entry(root, 4, va, 1) &= ~P;
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, 0, va, &r), (uint64_t)-EFAULT);
    CHECK_EQ_U64(r.level, 1);
    CHECK_EQ_U64(r.entry, 0x1000000);
    /* Non-canonical addresses never reach the tables. */
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, 0, 0x0000800000000000ull, &r), (uint64_t)-EINVAL);
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, 0, 0xff00000000000000ull, &r), (uint64_t)-EINVAL);
    dmp_ptwalk_describe(-EINVAL, 0x0000800000000000ull, &r, msg, sizeof(msg));
    CHECK(strstr(msg, "not a canonical address") != NULL);
    /* PS in a PML4E is reserved. */
    *entry_at(root, 0xffff900000000000ull, 4) = 0x40000000 | P | PS;
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, 0, 0xffff900000000000ull, &r), (uint64_t)-ENXIO);
    /* Reserved bits 13..20 of a 2 MiB leaf (bit 12 is PAT and allowed). */
    map(root, 4, 0xffffffffa0000000ull, 0x1400000, 2, P | (1ull << 12));
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, 0, 0xffffffffa0000000ull, &r), 0);
    CHECK_EQ_U64(r.gpa, 0x1400000);   /* PAT bit is not an address bit */
    map(root, 4, 0xffffffffa0200000ull, 0x1600000 | (1ull << 14), 2, P);
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, 0, 0xffffffffa0200000ull, &r), (uint64_t)-ENXIO);
    /* A table entry pointing outside guest memory: the table frame cannot be read. */
    *path_entry(root, 4, va, 2) = ((uint64_t)NFRAMES * 4096 * 4) | P | RW;
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, 0, va, &r), (uint64_t)-EIO);
    CHECK_EQ_U64(r.level, 1);
    dmp_ptwalk_describe(-EIO, va, &r, msg, sizeof(msg));
    CHECK(strstr(msg, "cannot read") != NULL);
    dmp_fcache_free(c);
}

static void test_walk_5level(void)
{
    reset_mem();
    struct dmp_fcache *c = new_cache(16);
    struct dmp_physmem pm;
    dmp_fcache_physmem(c, &pm);
    uint64_t root = alloc_frame();
    /* Addresses only 5-level paging can express (bits 47..56 significant). */
    const uint64_t hi = 0xff11000000000000ull, lo = 0x0001000000000000ull;
    const uint64_t kva = 0xffffffff81000000ull;
    map(root, 5, hi + 0x3000, 0x1003000, 1, P | RW);
    map(root, 5, lo, 0x1200000, 2, P | US);
    map(root, 5, kva, 0x1000000, 2, P);
    struct dmp_ptw_result r;
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, DMP_PTW_LA57, hi + 0x3010, &r), 0);
    CHECK_EQ_U64(r.gpa, 0x1003010);
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, DMP_PTW_LA57, lo + 0x10, &r), 0);
    CHECK_EQ_U64(r.gpa, 0x1200010);
    CHECK(r.user);
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, DMP_PTW_LA57, kva + 0x1234, &r), 0);
    CHECK_EQ_U64(r.gpa, 0x1001234);
    /* The same addresses in 4-level mode: not canonical, or a different (absent) path. */
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, 0, hi, &r), (uint64_t)-EINVAL);
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, 0, lo, &r), (uint64_t)-EINVAL);
    /* 5-level canonical form: bits 57..63 copy bit 56. */
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, DMP_PTW_LA57, 0x0100000000000000ull, &r), (uint64_t)-EINVAL);
    /* Absent PML5E. */
    CHECK_EQ_U64(dmp_ptwalk(&pm, root, DMP_PTW_LA57, 0xff20000000000000ull, &r), (uint64_t)-EFAULT);
    CHECK_EQ_U64(r.level, 5);
    dmp_fcache_free(c);
}

/* ---- frame cache ---- */

static void test_fcache(void)
{
    reset_mem();
    for (size_t i = 0; i < (size_t)NFRAMES * 4096; i += 4096)
        memcpy(mem + i, &i, sizeof(i));   /* each frame starts with its own address */
    hole_lo = 600;
    hole_hi = 602;
    struct dmp_fcache *c = new_cache(2);
    uint8_t buf[3 * 4096];
    uint64_t bad = 0, v;
    /* A read crossing a window boundary (frames 511 | 512). */
    CHECK_EQ_U64(dmp_fcache_read(c, 511 * 4096 + 4000, buf, 200, &bad), 0);
    CHECK(memcmp(buf, mem + 511 * 4096 + 4000, 200) == 0);
    CHECK_EQ_U64(maps_ro, 2);
    CHECK_EQ_U64(dmp_fcache_read(c, 0x1000, &v, 8, NULL), 0);   /* cached window */
    CHECK_EQ_U64(v, 0x1000);
    CHECK_EQ_U64(maps_ro, 2);
    /* Missing frames: -EFAULT naming the first missing address, nothing touched. */
    CHECK_EQ_U64(dmp_fcache_read(c, 599 * 4096 + 8, buf, 8192, &bad), (uint64_t)-EFAULT);
    CHECK_EQ_U64(bad, 600 * 4096);
    /* Frames beyond memory: no frame of that window maps; it is remembered as a hole. */
    CHECK_EQ_U64(dmp_fcache_read(c, (uint64_t)NFRAMES * 4096 + 16, buf, 8, &bad), (uint64_t)-EFAULT);
    CHECK_EQ_U64(bad, (uint64_t)NFRAMES * 4096 + 16);
    unsigned maps_before = maps_ro;
    CHECK_EQ_U64(dmp_fcache_read(c, (uint64_t)NFRAMES * 4096 + 64, buf, 8, &bad), (uint64_t)-EFAULT);
    CHECK_EQ_U64(maps_ro, maps_before);
    /* Only two windows may stay mapped: the third evicted the least recently used. */
    struct dmp_fcache_stats st;
    dmp_fcache_get_stats(c, &st);
    CHECK(st.window_unmaps >= 1);
    CHECK_EQ_U64(st.window_maps - st.window_unmaps, 2);
    /* A failing map call says nothing about the guest: -EIO, not remembered, asked again. */
    fail_next_maps = 3;
    CHECK_EQ_U64(dmp_fcache_read(c, 0x2000, &v, 8, &bad), (uint64_t)-ENOMEM);
    CHECK_EQ_U64(dmp_fcache_read(c, 0x2000, &v, 8, &bad), 0);
    CHECK_EQ_U64(v, 0x2000);
    fail_next_maps = 1;   /* a passing failure costs a retry, not an error */
    CHECK_EQ_U64(dmp_fcache_read(c, 3000 * 4096, &v, 8, &bad), 0);
    CHECK_EQ_U64(v, 3000 * 4096);
    CHECK_EQ_U64(fail_next_maps, 0);
    dmp_fcache_get_stats(c, &st);
    CHECK_EQ_U64(st.map_failures, 4);
    /* Reads never asked for a writable mapping. */
    CHECK_EQ_U64(maps_rw, 0);

    /* Writes: frame-by-frame writable mappings, all mapped before the first byte lands. */
    uint8_t pat[5000];
    memset(pat, 0xab, sizeof(pat));
    CHECK_EQ_U64(dmp_fcache_write(c, 700 * 4096 + 4000, pat, sizeof(pat), &bad), 0);
    CHECK_EQ_U64(maps_rw, 3);   /* frames 700, 701, 702 */
    CHECK(mem[700 * 4096 + 4000] == 0xab && mem[702 * 4096 + 807] == 0xab);
    CHECK(mem[702 * 4096 + 808] == 0);
    /* ...and read back through the (read-only) window cache. */
    CHECK_EQ_U64(dmp_fcache_read(c, 700 * 4096 + 4000, buf, sizeof(pat), NULL), 0);
    CHECK(memcmp(buf, pat, sizeof(pat)) == 0);
    /* A write whose second frame is missing changes nothing. */
    uint8_t before = mem[599 * 4096 + 4095];
    CHECK_EQ_U64(dmp_fcache_write(c, 599 * 4096 + 4095, pat, 2, &bad), (uint64_t)-EFAULT);
    CHECK_EQ_U64(bad, 600 * 4096);
    CHECK(mem[599 * 4096 + 4095] == before);
    /* Absurd write sizes are refused. */
    static uint8_t big[65 * 4096];
    CHECK_EQ_U64(dmp_fcache_write(c, 0, big, sizeof(big), &bad), (uint64_t)-E2BIG);
    dmp_fcache_get_stats(c, &st);
    dmp_fcache_free(c);
    /* Every mapping made was unmapped. */
    CHECK_EQ_U64(unmaps, maps_ro + maps_rw);
    struct dmp_frame_mapper m = { fake_map, fake_unmap, NULL };
    CHECK_EQ_U64(dmp_fcache_new(&m, 0, &c), (uint64_t)-EINVAL);
}

/* ---- kernel mapping scan, and kallsyms through the whole stack ---- */

#define SLIDE     0x2a00000ull
#define KTEXT     (DMP_KERNEL_LINK_BASE + SLIDE)        /* _text at runtime */
#define KRODATA   (KTEXT + (4u << 20))                  /* 2 MiB text + 2 MiB hole-y gap */
#define KDATA     (KRODATA + (2u << 20))
#define PHYS_BASE (16u << 20)                            /* the image's guest-physical home */

struct vmem_ctx { struct dmp_vmem vm; };

static int vm_read(void *ctx, uint64_t va, void *buf, size_t len)
{
    return dmp_vmem_read(&((struct vmem_ctx *)ctx)->vm, va, buf, len);
}

static int vm_write(void *ctx, uint64_t va, const void *buf, size_t len)
{
    return dmp_vmem_write(&((struct vmem_ctx *)ctx)->vm, va, buf, len);
}

/* Lay out a little kernel at guest-physical PHYS_BASE, mapped like Linux maps its image:
 * text 2 MiB RX as one large page, then a 2 MiB slot of 4 KiB pages (first 8 present RX,
 * the rest freed = absent), rodata 4 KiB pages R+NX holding the kallsyms tables, data 2 MiB
 * RW+NX. Also a decoy mapping far away in the kernel map (a different, earlier group). */
static uint64_t build_kernel(struct synth_sym *syms, size_t n)
{
    uint64_t root = alloc_frame();
    map(root, 4, DMP_KMAP_START + (16u << 20), PHYS_BASE + (8u << 20), 2, P | RW | NX);   /* decoy */
    map(root, 4, KTEXT, PHYS_BASE, 2, P);
    for (unsigned i = 0; i < 8; i++)
        map(root, 4, KTEXT + (2u << 20) + i * 4096ull, PHYS_BASE + (2u << 20) + i * 4096ull, 1, P);
    for (unsigned i = 8; i < 512; i++)
        map(root, 4, KTEXT + (2u << 20) + i * 4096ull, 0, 1, 0);   /* freed: PT exists, P clear */
    size_t klen;
    struct synth_layout lay;
    uint8_t *ks = synth_kallsyms(syms, n, KTEXT, &klen, &lay);
    if (!ks)
        abort();
    size_t ro_pages = (4096 + klen + 4095) / 4096;
    for (size_t i = 0; i < ro_pages; i++)
        map(root, 4, KRODATA + i * 4096, PHYS_BASE + (4u << 20) + i * 4096, 1, P | NX);
    memcpy(mem + PHYS_BASE + (4u << 20) + 4096, ks, klen);
    free(ks);
    map(root, 4, KDATA, PHYS_BASE + (6u << 20), 2, P | RW | NX);
    /* Text bytes: int3 padding with a recognisable function at each symbol. */
    memset(mem + PHYS_BASE, 0xcc, 2u << 20);
    for (size_t i = 0; i < n; i++)
        if (syms[i].addr >= KTEXT && syms[i].addr < KTEXT + (2u << 20))
            mem[PHYS_BASE + (syms[i].addr - KTEXT)] = 0xc3;
    return root;
}

static void test_kernel_scan_and_ksyms(void)
{
    reset_mem();
    static char names[400][32];
    static struct synth_sym syms[410];
    size_t n = 0;
    syms[n++] = (struct synth_sym){ "fixed_percpu_data", 'A', 0, 1 };
    syms[n++] = (struct synth_sym){ "_text", 'T', KTEXT, 0 };
    syms[n++] = (struct synth_sym){ "startup_64", 'T', KTEXT, 0 };
    syms[n++] = (struct synth_sym){ "_stext", 'T', KTEXT + 0x1000, 0 };
    for (size_t i = 0; i < 300; i++) {
        snprintf(names[i], sizeof(names[i]), i == 150 ? "native_set_pte" : "fn%zu", i);
        syms[n++] = (struct synth_sym){ names[i], 't', KTEXT + 0x1000 + 64 * i, 0 };
    }
    /* fn299 runs into 64 KiB of int3 alignment padding before _etext. */
    syms[n++] = (struct synth_sym){ "_etext", 'T', KTEXT + 0x1000 + 64 * 300 + 0x10000, 0 };
    syms[n++] = (struct synth_sym){ "linux_banner", 'R', KRODATA, 0 };
    uint64_t root = build_kernel(syms, n);
    struct dmp_fcache *c = new_cache(32);
    struct dmp_physmem pm;
    dmp_fcache_physmem(c, &pm);
    struct dmp_kmap km;
    char err[512];

    /* Anchored at a text address (as MSR_LSTAR would be): the kernel group, not the decoy. */
    CHECK_EQ_U64(dmp_kmap_scan(&pm, root, DMP_PTW_NXE, KTEXT + 0x1040, &km, err, sizeof(err)), 0);
    CHECK_EQ_U64(km.start, KTEXT);
    CHECK_EQ_U64(km.end, KDATA + (2u << 20));
    CHECK_EQ_U64(km.nruns, 3);
    CHECK_EQ_U64(km.runs[0].start, KTEXT);
    CHECK_EQ_U64(km.runs[0].end, KTEXT + (2u << 20) + 8 * 4096);
    CHECK_EQ_U64(km.runs[0].flags, DMP_KREGION_R | DMP_KREGION_X);
    CHECK_EQ_U64(km.runs[1].start, KRODATA);
    CHECK_EQ_U64(km.runs[1].flags, DMP_KREGION_R);
    CHECK_EQ_U64(km.runs[2].start, KDATA);
    CHECK_EQ_U64(km.runs[2].flags, DMP_KREGION_R | DMP_KREGION_W);
    CHECK_EQ_U64(km.pages_absent, 504 + (512 - (km.runs[1].end - KRODATA) / 4096));
    CHECK(km.walks < 512 + 1200);   /* large pages are walked once */
    /* No anchor: the lowest group, which here is the decoy. */
    struct dmp_kmap km2;
    CHECK_EQ_U64(dmp_kmap_scan(&pm, root, DMP_PTW_NXE, 0, &km2, err, sizeof(err)), 0);
    CHECK_EQ_U64(km2.start, DMP_KMAP_START + (16u << 20));
    /* An anchor in no group, and a root with nothing mapped. */
    CHECK_EQ_U64(dmp_kmap_scan(&pm, root, DMP_PTW_NXE, DMP_KMAP_START + (512u << 20), &km2, err,
                               sizeof(err)), (uint64_t)-ENOENT);
    CHECK(strstr(err, "MSR_LSTAR") != NULL);
    uint64_t empty = alloc_frame();
    CHECK_EQ_U64(dmp_kmap_scan(&pm, empty, DMP_PTW_NXE, 0, &km2, err, sizeof(err)), (uint64_t)-ENOENT);
    CHECK(strstr(err, "nothing is mapped") != NULL);
    /* Tables that cannot be read are not "nothing mapped": dom0 failed, not the guest. */
    struct dmp_physmem failing = { counting_read, c };
    fail_table_reads = true;
    CHECK_EQ_U64(dmp_kmap_scan(&failing, root, DMP_PTW_NXE, 0, &km2, err, sizeof(err)), (uint64_t)-EIO);
    CHECK(strstr(err, "could not be read") != NULL);
    fail_table_reads = false;

    /* kallsyms recovery from the mapped regions, through walker + frame cache. */
    static struct vmem_ctx vc;
    dmp_vmem_init(&vc.vm, c);
    static const struct dmp_kbackend_ops ops = { "test-vmem", vm_read, vm_write, NULL, NULL };
    struct dmp_kimage *k = dmp_kimage_from_backend(&ops, &vc);
    CHECK(k != NULL);
    if (!k) {
        dmp_fcache_free(c);
        return;
    }
    uint8_t b;
    CHECK_EQ_U64(dmp_kimage_read(k, KTEXT, &b, 1), (uint64_t)-ENODEV);   /* no root yet */
    dmp_vmem_set_root(&vc.vm, root, DMP_PTW_NXE);
    for (size_t i = 0; i < km.nruns; i++)
        CHECK_EQ_U64(dmp_kimage_add_region(k, km.runs[i].start, km.runs[i].end, km.runs[i].flags), 0);
    struct dmp_ksyms *s = NULL;
    int r = dmp_ksyms_recover(k, &s, err, sizeof(err));
    if (r)
        fprintf(stderr, "  recover: %s\n", err);
    CHECK_EQ_U64(r, 0);
    if (s) {
        CHECK_EQ_U64(dmp_ksyms_count(s), n);
        const struct dmp_ksym *x = dmp_ksyms_by_name(s, "native_set_pte");
        CHECK(x && x->addr == KTEXT + 0x1000 + 64 * 150);
        x = dmp_ksyms_by_name(s, "_text");
        CHECK(x && x->addr - DMP_KERNEL_LINK_BASE == SLIDE);
        uint64_t ts, te;
        CHECK_EQ_U64(dmp_kimage_text(k, &ts, &te, NULL), 0);
        CHECK_EQ_U64(ts, KTEXT + 0x1000);
        CHECK_EQ_U64(te, KTEXT + 0x1000 + 64 * 300 + 0x10000);
        /* The classification view stops fn299 at its code, not at _etext. */
        struct dmp_codeview cv;
        struct dmp_func f;
        CHECK_EQ_U64(dmp_live_codeview(&cv, k, s), 0);
        CHECK_EQ_U64(dmp_cv_by_name(&cv, "fn299", &f), 0);
        CHECK_EQ_U64(f.size, 1);
        CHECK_EQ_U64(dmp_cv_by_name(&cv, "fn298", &f), 0);
        CHECK_EQ_U64(f.size, 64);   /* short padding is left alone */
        CHECK_EQ_U64(dmp_cv_func_at(&cv, KTEXT + 0x1000 + 64 * 299 + 0x100, &f), (uint64_t)-ENOENT);
        CHECK_EQ_U64(dmp_cv_func_at(&cv, KTEXT + 0x1000 + 64 * 299, &f), 0);
        bool seen = false;
        for (size_t i = 0; i < cv.nsyms(cv.ctx); i++)
            if (cv.sym_get(cv.ctx, i, &f) == 0 && strcmp(f.name, "fn299") == 0)
                seen = f.size == 1;
        CHECK(seen);
        /* Trimming is the live view's choice: the plain view keeps kallsyms' sizes. */
        struct dmp_codeview raw;
        CHECK_EQ_U64(dmp_cv_from_kimage(&raw, k, s), 0);
        CHECK_EQ_U64(dmp_cv_by_name(&raw, "fn299", &f), 0);
        CHECK(f.size > 0x100);
        CHECK_EQ_U64(dmp_cv_func_at(&raw, KTEXT + 0x1000 + 64 * 299 + 0x100, &f), 0);
        CHECK_STREQ(f.name, "fn299");
        dmp_cv_release(&raw);
        struct dmp_sites sites;
        CHECK_EQ_U64(dmp_classify_all(&cv, &sites), 0);
        if (sites.insns_decoded >= 40000) fprintf(stderr, "  decoded %zu\n", sites.insns_decoded);
        CHECK(sites.insns_decoded < 40000);   /* not 64 Ki more int3s */
        dmp_sites_free(&sites);
        dmp_cv_release(&cv);
        dmp_ksyms_free(s);
    }
    /* An unmapped kernel address is an error naming it, not a crash. */
    CHECK_EQ_U64(dmp_kimage_read(k, KTEXT + (2u << 20) + 9 * 4096, &b, 1), (uint64_t)-EFAULT);
    CHECK(strstr(vc.vm.last_err, "0xffffffff83c09000") != NULL);
    /* Writes land in the frame behind the (read-only-for-the-guest) text mapping, and a write
     * spanning into an unmapped page writes nothing. */
    uint8_t patch[5] = { 0xe8, 1, 2, 3, 4 };
    CHECK_EQ_U64(dmp_kimage_write(k, KTEXT + 0x2000, patch, 5), 0);
    CHECK(memcmp(mem + PHYS_BASE + 0x2000, patch, 5) == 0);
    uint64_t edge = KTEXT + (2u << 20) + 8 * 4096 - 2;
    uint8_t old[2];
    memcpy(old, mem + PHYS_BASE + (2u << 20) + 8 * 4096 - 2, 2);
    CHECK_EQ_U64(dmp_kimage_write(k, edge, patch, 5), (uint64_t)-EFAULT);
    CHECK(memcmp(mem + PHYS_BASE + (2u << 20) + 8 * 4096 - 2, old, 2) == 0);

    /* A pinned root outlives its page: the guest freed the process's top-level table and
     * reused it; kernel addresses still translate through the copy. */
    uint64_t fn150 = KTEXT + 0x1000 + 64 * 150;
    CHECK_EQ_U64(dmp_vmem_pin_root(&vc.vm), 0);
    static uint8_t saved_root[4096];
    memcpy(saved_root, mem + root, 4096);
    memset(mem + root, 0x5a, 4096);   /* P clear in every entry */
    b = 0;
    CHECK_EQ_U64(dmp_vmem_read(&vc.vm, fn150, &b, 1), 0);
    CHECK(b == 0xc3);
    dmp_vmem_set_root(&vc.vm, root, DMP_PTW_NXE);   /* unpinned: the reused page is walked */
    CHECK_EQ_U64(dmp_vmem_read(&vc.vm, fn150, &b, 1), (uint64_t)-EFAULT);
    memcpy(mem + root, saved_root, 4096);
    CHECK_EQ_U64(dmp_vmem_read(&vc.vm, fn150, &b, 1), 0);
    /* A page table dom0 cannot read is not an unmapped address: -EIO, for reads and writes. */
    struct dmp_physmem own = vc.vm.pm;
    vc.vm.pm = (struct dmp_physmem){ counting_read, c };
    fail_table_reads = true;
    dmp_vmem_set_root(&vc.vm, root, DMP_PTW_NXE);
    CHECK_EQ_U64(dmp_vmem_read(&vc.vm, fn150, &b, 1), (uint64_t)-EIO);
    CHECK(strstr(vc.vm.last_err, "cannot read the page table") != NULL);
    CHECK_EQ_U64(dmp_vmem_write(&vc.vm, fn150, &b, 1), (uint64_t)-EIO);
    fail_table_reads = false;
    vc.vm.pm = own;

    /* A kernel without kallsyms: wipe the tables; recovery says so. */
    memset(mem + PHYS_BASE + (4u << 20), 0, 2u << 20);
    struct dmp_kimage *k2 = dmp_kimage_from_backend(&ops, &vc);
    for (size_t i = 0; k2 && i < km.nruns; i++)
        CHECK_EQ_U64(dmp_kimage_add_region(k2, km.runs[i].start, km.runs[i].end, km.runs[i].flags), 0);
    CHECK_EQ_U64(dmp_ksyms_recover(k2, &s, err, sizeof(err)), (uint64_t)-ENOENT);
    CHECK(strstr(err, "token") != NULL);
    dmp_kimage_close(k2);
    dmp_kimage_close(k);
    dmp_fcache_free(c);
}

/* The per-CPU base is whichever of GS base and its swapgs shadow is a kernel address. */
static void test_percpu_base(void)
{
    struct dmp_live_vcpu v = { .gs_base = 0xffff888007a00000ull, .shadow_gs = 0x7f12345000ull };
    CHECK_EQ_U64(dmp_live_vcpu_percpu_base(&v), 0xffff888007a00000ull);   /* kernel mode */
    v = (struct dmp_live_vcpu){ .gs_base = 0, .shadow_gs = 0xffff888007a00000ull };
    CHECK_EQ_U64(dmp_live_vcpu_percpu_base(&v), 0xffff888007a00000ull);   /* user mode */
    v = (struct dmp_live_vcpu){ .gs_base = 0, .shadow_gs = 0 };
    CHECK_EQ_U64(dmp_live_vcpu_percpu_base(&v), 0);
    v = (struct dmp_live_vcpu){ .gs_base = 0xffff888000000000ull, .shadow_gs = 0xffff888000001000ull };
    CHECK_EQ_U64(dmp_live_vcpu_percpu_base(&v), 0);                        /* ambiguous */
}

int main(void)
{
    test_percpu_base();
    mem = calloc(NFRAMES, 4096);
    if (!mem)
        return 1;
    test_walk_4level();
    test_walk_not_present();
    test_walk_5level();
    test_fcache();
    test_kernel_scan_and_ksyms();
    free(mem);
    return DMP_TEST_SUMMARY("live");
}
