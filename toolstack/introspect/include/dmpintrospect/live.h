/* Live-guest kernel backend: a running, unmodified Linux guest seen from dom0 as a
 * struct dmp_kimage (dmp-patcher's "read/write kernel bytes at a virtual address, list vCPU
 * states" interface), so that kallsyms recovery, the classifier and the planner run on the
 * guest's memory exactly as they run on a vmlinuz file.
 *
 * Layers, each usable (and unit-tested) on its own:
 *   dmp_ptwalk      guest virtual -> guest physical, by walking the guest's own page tables
 *                   from CR3 (4- and 5-level, 1 GiB / 2 MiB pages, present/RW/US/NX);
 *   dmp_fcache      guest frames -> dom0 pointers, through a frame mapper (libxenforeignmemory
 *                   in real use, a fake in tests), mapped in aligned 2 MiB windows and cached;
 *   dmp_kmap_scan   where the kernel image is mapped (the kernel text mapping
 *                   0xffffffff80000000-0xffffffffc0000000) and with which permissions;
 *   dmp_live_*      the Xen side: domain checks, pause accounting, vCPU contexts, the kimage
 *                   backend, and kernel + kallsyms discovery with the KASLR slide.
 */
#ifndef DMP_LIVE_H
#define DMP_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dmppatcher/codeview.h"
#include "dmppatcher/kimage.h"
#include "dmppatcher/ksyms.h"

/* ------------------------------------------------------------------------------------------ */
/* Guest-physical memory access (what the page-table walker reads tables through).            */

struct dmp_physmem {
    /* Read len bytes of guest-physical memory at gpa. 0 or -errno. */
    int (*read)(void *ctx, uint64_t gpa, void *buf, size_t len);
    void *ctx;
};

/* ------------------------------------------------------------------------------------------ */
/* Page-table walker.                                                                        */

#define DMP_PTW_LA57 1u   /* CR4.LA57: 5-level paging */
#define DMP_PTW_NXE  2u   /* EFER.NXE: bit 63 is NX (otherwise it is reserved) */

/* Physical-address bits of a table entry / CR3 (architectural maximum, 52 bits). */
#define DMP_PTW_ADDR_MASK 0x000ffffffffff000ull

struct dmp_ptw_result {
    uint64_t gpa;          /* translation of va (success only) */
    uint64_t page_size;    /* 4 KiB, 2 MiB or 1 GiB (success only) */
    bool writable;         /* RW set at every level */
    bool user;             /* US set at every level */
    bool nx;               /* NX set at some level (only with DMP_PTW_NXE) */
    int level;             /* success: level of the leaf (1 = PTE, 2 = PDE, 3 = PDPTE);
                              failure: level of the entry that stopped the walk (5..1) */
    uint64_t entry;        /* the leaf entry, or the entry that stopped the walk */
};

/* Translate va. Returns 0, or
 *   -EINVAL  va is not canonical for the paging mode (res->level = 0),
 *   -EFAULT  an entry on the way is not present (res->level/entry name it),
 *   -ENXIO   an entry has a reserved bit set (PS in a PML4E/PML5E, NX without NXE),
 *   -EIO     a page-table frame could not be read (res->level names the table).
 * CR3's low 12 bits (PCID / PWT / PCD) and bit 63 (no-flush) are ignored. */
int dmp_ptwalk(const struct dmp_physmem *pm, uint64_t cr3, unsigned flags, uint64_t va,
               struct dmp_ptw_result *res);

/* "0xffff...: not mapped (PDE not present: 0x0)" style message for a failed walk. */
void dmp_ptwalk_describe(int rc, uint64_t va, const struct dmp_ptw_result *res, char *buf,
                         size_t len);

/* ------------------------------------------------------------------------------------------ */
/* Frame cache over a frame mapper.                                                          */

#define DMP_FCACHE_WINDOW_FRAMES 512u   /* one window = 2 MiB of guest-physical space */

struct dmp_frame_mapper {
    /* Map n frames (gfns; MFNs for a PV guest) contiguously; errs[i] = 0 or -errno per frame.
     * Return NULL (errno set) when nothing could be mapped. */
    void *(*map)(void *ctx, const uint64_t *gfns, size_t n, bool writable, int *errs);
    int (*unmap)(void *ctx, void *addr, size_t n);
    void *ctx;
};

struct dmp_fcache_stats {
    uint64_t window_maps, window_unmaps, hits, misses, write_maps;
    uint64_t map_failures;   /* whole-window map calls that failed (not cached, retried) */
};

struct dmp_fcache;

/* max_windows bounds the address space kept mapped (max_windows * 2 MiB); least recently
 * used windows are unmapped first. */
int  dmp_fcache_new(const struct dmp_frame_mapper *m, size_t max_windows, struct dmp_fcache **out);
void dmp_fcache_free(struct dmp_fcache *);
/* Read guest-physical bytes (may span frames and windows). -EFAULT when a frame in the range
 * does not exist / cannot be mapped; *bad_gpa (if not NULL) is then the first bad address. */
int  dmp_fcache_read(struct dmp_fcache *, uint64_t gpa, void *buf, size_t len, uint64_t *bad_gpa);
/* Write through a writable mapping of each frame made only for this write (read windows are
 * read-only: a stray read-path bug can never modify the guest). All frames are mapped before
 * any byte is written, so a failing write changes nothing. */
int  dmp_fcache_write(struct dmp_fcache *, uint64_t gpa, const void *buf, size_t len,
                      uint64_t *bad_gpa);
void dmp_fcache_get_stats(const struct dmp_fcache *, struct dmp_fcache_stats *);
/* Adapter: the cache as a struct dmp_physmem for the walker. */
void dmp_fcache_physmem(struct dmp_fcache *, struct dmp_physmem *out);

/* ------------------------------------------------------------------------------------------ */
/* Guest virtual memory: the walker and the frame cache together.                            */

struct dmp_vmem {
    struct dmp_fcache *fc;      /* not owned */
    struct dmp_physmem pm;      /* the cache, with the pinned root table served from `top` */
    bool have_root;
    uint64_t cr3;
    unsigned ptw_flags;
    /* The root table as read while the guest was paused (dmp_vmem_pin_root). A CR3 names a
     * process's top-level table, which is freed and reused when the process exits; the
     * kernel-half entries it held point to tables that live as long as the kernel. */
    bool top_pinned;
    uint64_t top_gpa;
    uint64_t top[512];
    /* One-entry translation cache for reads: kernel reads are sequential and mostly in large
     * pages. Writes always walk afresh. Cleared by dmp_vmem_set_root. */
    uint64_t tlb_va, tlb_size, tlb_gpa;
    uint64_t reads, writes, walks;
    char last_err[256];         /* why the last failing access failed, naming the address */
};

void dmp_vmem_init(struct dmp_vmem *, struct dmp_fcache *fc);
void dmp_vmem_set_root(struct dmp_vmem *, uint64_t cr3, unsigned ptw_flags);
/* Copy the root table now and walk from the copy from then on (until the next set_root), so
 * kernel addresses stay translatable after the process owning CR3 exits. Call while the guest
 * is paused. 0 or the read's -errno. */
int  dmp_vmem_pin_root(struct dmp_vmem *);
/* 0, -ENODEV (no root yet), -EFAULT (unmapped page or unmappable frame), -EIO (a page table
 * on the way could not be read), or the -errno of dom0 failing to map guest memory; last_err
 * says which, naming the address. */
int  dmp_vmem_read(struct dmp_vmem *, uint64_t va, void *buf, size_t len);
/* Every page of the range is translated before any byte is written; an unmapped page
 * anywhere refuses the whole write (errors as for dmp_vmem_read). At most 16 pages per call
 * (-E2BIG). */
int  dmp_vmem_write(struct dmp_vmem *, uint64_t va, const void *buf, size_t len);

/* ------------------------------------------------------------------------------------------ */
/* Kernel image mapping scan.                                                                */

#define DMP_KMAP_START     0xffffffff80000000ull   /* __START_KERNEL_map */
#define DMP_KMAP_END       0xffffffffc0000000ull   /* + KERNEL_IMAGE_SIZE (1 GiB, KASLR) */
#define DMP_KERNEL_LINK_BASE 0xffffffff81000000ull /* __START_KERNEL: startup_64 as linked */
#define DMP_KMAP_MAX_RUNS  48

struct dmp_kmap_run {
    uint64_t start, end;   /* [start, end); pages not present inside it read as zero */
    unsigned flags;        /* DMP_KREGION_R|W|X (from the page tables' RW and NX bits) */
};

struct dmp_kmap {
    uint64_t start, end;   /* extent of the mapped kernel image (first/last present page) */
    struct dmp_kmap_run runs[DMP_KMAP_MAX_RUNS];
    size_t nruns;
    size_t pages_present, pages_absent;   /* 4 KiB pages inside [start, end) */
    unsigned walks;                       /* page walks done (cost) */
};

/* Find the kernel image in the kernel text mapping: the contiguous group of mapped 2 MiB
 * slots containing `anchor` (a kernel text address from the vCPU state, e.g. MSR_LSTAR; 0 =
 * take the lowest group), then its pages grouped into runs of equal permission. After boot
 * the kernel clears every kernel-mapping PMD outside [_text, _end) (cleanup_highmap), so the
 * group is the image. Returns 0, or with a message -ENOENT (nothing mapped there) or -EIO
 * (the page tables could not be read: a dom0-side failure that may pass). */
int dmp_kmap_scan(const struct dmp_physmem *pm, uint64_t cr3, unsigned ptw_flags, uint64_t anchor,
                  struct dmp_kmap *out, char *err, size_t errlen);

/* ------------------------------------------------------------------------------------------ */
/* The live guest.                                                                           */

#define DMP_LIVE_PAUSE 1u   /* pause the domain in dmp_live_open (kept paused until
                               dmp_live_unpause or dmp_live_close) */

#define DMP_LIVE_MAX_VCPUS 128

struct dmp_live_vcpu {
    uint32_t id;
    bool online;       /* up (an offline vCPU has no state) */
    bool long_mode;    /* CR0.PG and EFER.LMA: its CR3 can be walked */
    uint64_t rip, rsp, cr0, cr3, cr4, efer;
    uint64_t lstar;    /* MSR_LSTAR (HVM/PVH; 0 for PV) */
    uint64_t idtr_base;
    uint64_t gs_base, shadow_gs;   /* GS base and MSR_KERNEL_GS_BASE (HVM/PVH; 0 for PV) */
};

/* The kernel's per-CPU base of a 64-bit Linux vCPU: of GS base and the swapgs shadow, the one
 * that is a kernel address (the kernel's while in kernel mode, the shadow in user mode);
 * 0 if neither is. */
uint64_t dmp_live_vcpu_percpu_base(const struct dmp_live_vcpu *v);

struct dmp_live_kernel {
    uint64_t cr3;               /* page-table root used (kernel half of a PTI pair) */
    unsigned ptw_flags;         /* DMP_PTW_* used for walks */
    uint32_t cr3_vcpu;          /* vCPU whose CR3 it is */
    struct dmp_kmap map;        /* kernel image mapping and its permission runs */
    uint64_t text_start, text_end;   /* [_stext, _etext), runtime */
    uint64_t kernel_start;      /* _text / startup_64, runtime */
    uint64_t link_base;         /* DMP_KERNEL_LINK_BASE */
    int64_t slide;              /* kernel_start - link_base */
    size_t nsyms;
    char banner[256];           /* linux_banner without the trailing newline ("" if none) */
    uint64_t lstar;             /* the anchor used (0: none) */
    bool lstar_checked, lstar_ok;   /* LSTAR == entry_SYSCALL_64 */
    double secs_scan, secs_ksyms;
};

struct dmp_live_stats {
    unsigned pauses, unpauses;  /* done by this handle (balanced after dmp_live_close) */
    unsigned paused;            /* outstanding */
    uint64_t reads, writes, walks;
    struct dmp_fcache_stats fc;
};

struct dmp_live;

/* Attach to domain domid: check it exists and is HVM/PVH or PV (never dom0), pause it if
 * DMP_LIVE_PAUSE, read every vCPU's state, open the foreign mapping. On any error nothing is
 * left paused. Returns 0, or negative errno with a message naming the domain in err. */
int  dmp_live_open(uint32_t domid, unsigned flags, struct dmp_live **out, char *err, size_t errlen);
/* Unpause whatever this handle still holds paused, unmap everything, close handles. */
void dmp_live_close(struct dmp_live *);

int  dmp_live_pause(struct dmp_live *);     /* 0 or -errno; counted */
int  dmp_live_unpause(struct dmp_live *);   /* -EINVAL if this handle holds no pause */
void dmp_live_get_stats(const struct dmp_live *, struct dmp_live_stats *);
/* Read every vCPU's state again (the handle must hold the domain paused: -EPERM otherwise),
 * e.g. before writing text after a pause taken later than dmp_live_open. */
int  dmp_live_refresh_vcpus(struct dmp_live *, char *err, size_t errlen);
/* Translate through the first vCPU page-table root that maps va (its CR3; else, for a PTI user
 * PGD, the kernel half): reaching known kernel addresses (a journal's sites) without
 * dmp_live_find_kernel. Call it again after pausing: a root taken while the guest ran may
 * belong to a process that has exited since. */
int  dmp_live_set_root_for(struct dmp_live *, uint64_t va, char *err, size_t errlen);

bool dmp_live_is_hvm(const struct dmp_live *);   /* HVM container (PVH or HVM) */
bool dmp_live_is_hap(const struct dmp_live *);
size_t dmp_live_vcpus(const struct dmp_live *, const struct dmp_live_vcpu **v);

/* The guest as a kimage ("xen-live"): read/write kernel virtual addresses, vCPU states.
 * Owned by the live handle: do not dmp_kimage_close it. Writes are refused (-EPERM) unless
 * this handle holds the domain paused; an unmapped address is -EFAULT and
 * dmp_live_last_error() names it. */
struct dmp_kimage *dmp_live_kimage(struct dmp_live *);
const char *dmp_live_last_error(const struct dmp_live *);

/* Locate the kernel (page-table scan anchored at LSTAR), register its regions with the kimage,
 * recover kallsyms from guest memory and compute the KASLR slide. The symbols stay owned by
 * the live handle (dmp_live_ksyms). Returns 0 or -errno with a message ("no kallsyms tables
 * found in guest kernel memory ..." for an unrecognised kernel). */
int  dmp_live_find_kernel(struct dmp_live *, struct dmp_live_kernel *out, char *err, size_t errlen);
struct dmp_ksyms *dmp_live_ksyms(struct dmp_live *);

/* ------------------------------------------------------------------------------------------ */
/* Code view for classification.                                                             */

/* Padding at least this long at a function's end is not code. */
#define DMP_LIVE_PAD_TRIM 4096

/* dmp_cv_from_kimage_trimmed(cv, ki, ks, DMP_LIVE_PAD_TRIM): every text symbol's size trimmed
 * of a trailing run of int3 (0xcc) or zero padding of DMP_LIVE_PAD_TRIM bytes or more, and
 * addresses in that run in no function. kallsyms sizes run to the next
 * symbol, and the 6.1 text has megabyte-long alignment gaps (before __entry_text_end, the SRSO
 * alias thunks, _etext ...) that would otherwise be decoded one int3 at a time: millions of
 * useless instructions, about 0.5 GB of decoder records, which does not fit a small dom0.
 * The trimmed bytes hold no instruction, so no site is lost. Release with dmp_cv_release. */
int dmp_live_codeview(struct dmp_codeview *cv, struct dmp_kimage *ki, struct dmp_ksyms *ks);

#endif
