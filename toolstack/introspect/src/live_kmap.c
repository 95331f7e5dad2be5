/* Where is the kernel image mapped, and with which rights?
 *
 * x86-64 Linux maps its image in the kernel text mapping [__START_KERNEL_map,
 * __START_KERNEL_map + KERNEL_IMAGE_SIZE) = [0xffffffff80000000, 0xffffffffc0000000); with
 * KASLR the image sits at a random 2 MiB-aligned place in it. After boot cleanup_highmap()
 * clears every PMD of that mapping outside [_text, _end), and the module area starts right
 * after it, so the only mapped 2 MiB slots left there are the image. We find them with 512
 * walks, then look at the image page by page (large pages count once) to split it into runs
 * of equal rights: text (present, executable), rodata (NX, read-only), data/bss (NX, RW).
 * Pages the kernel unmapped after boot (freed init memory, the text/rodata gap) are holes;
 * they stay inside a run and read as zero to the kallsyms scanner. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dmpintrospect/live.h"

#define SLOT   (2ull << 20)
#define NSLOTS ((DMP_KMAP_END - DMP_KMAP_START) / SLOT)
/* A run of unmapped 2 MiB slots this short inside the image is a freed hole, not the end. */
#define MAX_SLOT_GAP 4

static int kerr(char *err, size_t errlen, int rc, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
    return rc;
}

static unsigned rights(const struct dmp_ptw_result *r)
{
    unsigned f = DMP_KREGION_R;
    if (r->writable)
        f |= DMP_KREGION_W;
    if (!r->nx)
        f |= DMP_KREGION_X;
    return f;
}

static void add_page(struct dmp_kmap *m, uint64_t va, uint64_t size, unsigned f, bool *overflow)
{
    m->pages_present += size / 4096;
    if (!m->start)
        m->start = va;
    m->end = va + size;
    if (m->nruns && m->runs[m->nruns - 1].flags == f) {
        m->runs[m->nruns - 1].end = va + size;   /* also swallows the hole before va */
        return;
    }
    if (m->nruns == DMP_KMAP_MAX_RUNS) {
        *overflow = true;
        return;
    }
    m->runs[m->nruns++] = (struct dmp_kmap_run){ va, va + size, f };
}

int dmp_kmap_scan(const struct dmp_physmem *pm, uint64_t cr3, unsigned ptw_flags, uint64_t anchor,
                  struct dmp_kmap *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    bool present[NSLOTS];
    size_t nmapped = 0, unreadable = 0;
    for (uint64_t s = 0; s < NSLOTS; s++) {
        struct dmp_ptw_result r;
        int rc = dmp_ptwalk(pm, cr3, ptw_flags, DMP_KMAP_START + s * SLOT, &r);
        out->walks++;
        /* A slot whose page table exists but whose first page is not mapped is still part of
         * the image (split large page with holes). */
        present[s] = rc == 0 || (rc == -EFAULT && r.level == 1);
        nmapped += present[s];
        unreadable += rc == -EIO;
    }
    if (!nmapped) {
        /* "Not mapped" and "could not read the tables" call for different remedies (the
         * second is dom0's problem and may pass), so they are told apart. */
        char msg[256];
        if (unreadable)
            snprintf(msg, sizeof(msg),
                     "the page tables under root 0x%llx could not be read (%zu of %llu walks of "
                     "the kernel text mapping failed to read guest memory)",
                     (unsigned long long)(cr3 & DMP_PTW_ADDR_MASK), unreadable,
                     (unsigned long long)NSLOTS);
        else
            snprintf(msg, sizeof(msg),
                     "nothing is mapped in the kernel text mapping 0xffffffff80000000-"
                     "0xffffffffc0000000 under root 0x%llx (not an x86-64 Linux kernel, or it "
                     "is not running yet)", (unsigned long long)(cr3 & DMP_PTW_ADDR_MASK));
        return kerr(err, errlen, unreadable ? -EIO : -ENOENT, msg);
    }

    /* Group mapped slots, bridging short holes; pick the group holding the anchor. */
    uint64_t g_lo = 0, g_hi = 0;   /* slot range [g_lo, g_hi) */
    bool found = false;
    uint64_t s = 0;
    while (s < NSLOTS && !found) {
        while (s < NSLOTS && !present[s])
            s++;
        if (s == NSLOTS)
            break;
        uint64_t lo = s, hi = s + 1;
        for (uint64_t t = s + 1; t < NSLOTS && t - hi <= MAX_SLOT_GAP; t++)
            if (present[t])
                hi = t + 1;
        bool holds_anchor = anchor >= DMP_KMAP_START + lo * SLOT && anchor < DMP_KMAP_START + hi * SLOT;
        if (!anchor || holds_anchor) {
            g_lo = lo;
            g_hi = hi;
            found = true;
        }
        s = hi;
    }
    if (!found) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "the syscall entry 0x%llx (MSR_LSTAR) is not inside any mapped part of the "
                 "kernel text mapping: cannot tell which mapping is the kernel",
                 (unsigned long long)anchor);
        return kerr(err, errlen, -ENOENT, msg);
    }

    bool overflow = false;
    uint64_t va = DMP_KMAP_START + g_lo * SLOT, end = DMP_KMAP_START + g_hi * SLOT;
    while (va < end) {
        struct dmp_ptw_result r;
        int rc = dmp_ptwalk(pm, cr3, ptw_flags, va, &r);
        out->walks++;
        uint64_t step = 4096;
        if (rc == 0) {
            step = r.page_size - (va & (r.page_size - 1));
            if (va + step > end)
                step = end - va;
            add_page(out, va, step, rights(&r), &overflow);
        } else if (rc == -EFAULT && r.level >= 2) {
            /* The whole 2 MiB (or larger) range of that entry is absent. */
            step = SLOT - (va & (SLOT - 1));
            out->pages_absent += step / 4096;
        } else {
            out->pages_absent++;
        }
        va += step;
    }
    /* Holes counted before the first present page are not inside the image. */
    uint64_t span = out->end > out->start ? (out->end - out->start) / 4096 : 0;
    out->pages_absent = span > out->pages_present ? span - out->pages_present : 0;
    if (!out->pages_present)
        return kerr(err, errlen, -ENOENT, "the kernel text mapping has page tables but no present page");
    if (overflow) {
        /* Too fragmented to describe by rights: one read-only region still lets kallsyms be
         * found; classification only needs [_stext, _etext) from the symbols. */
        out->nruns = 1;
        out->runs[0] = (struct dmp_kmap_run){ out->start, out->end, DMP_KREGION_R };
    }
    return 0;
}
