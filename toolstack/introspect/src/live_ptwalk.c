/* Guest virtual -> guest physical translation by walking the guest's own x86-64 page tables.
 *
 * We walk the tables the guest kernel wrote (in its guest-physical memory), not Xen's shadows
 * or the NPT: those translate guest-physical further, which the frame mapper does. The walk
 * follows the architecture (Intel SDM vol. 3 ch. 4.5): 4 levels, or 5 with CR4.LA57; a PS bit
 * ends the walk at a 1 GiB PDPTE or a 2 MiB PDE; rights accumulate (RW and US must be set at
 * every level, NX at any level forbids execution). Everything read from the guest is data we
 * check, never trust: a reserved bit stops the walk with an error, as it would fault the CPU. */
#include <errno.h>
#include <stdio.h>

#include "dmpintrospect/live.h"

#define PTE_P   (1ull << 0)
#define PTE_RW  (1ull << 1)
#define PTE_US  (1ull << 2)
#define PTE_PS  (1ull << 7)
#define PTE_NX  (1ull << 63)

static const char *const level_name[] = { "?", "PTE", "PDE", "PDPTE", "PML4E", "PML5E" };

static bool canonical(uint64_t va, unsigned bits)
{
    int64_t top = (int64_t)va >> (bits - 1);
    return top == 0 || top == -1;
}

int dmp_ptwalk(const struct dmp_physmem *pm, uint64_t cr3, unsigned flags, uint64_t va,
               struct dmp_ptw_result *res)
{
    struct dmp_ptw_result r = { .writable = true, .user = true };
    int levels = (flags & DMP_PTW_LA57) ? 5 : 4;
    bool nxe = flags & DMP_PTW_NXE;
    int rc = 0;

    if (!canonical(va, levels == 5 ? 57 : 48)) {
        rc = -EINVAL;
        goto out;
    }
    uint64_t table = cr3 & DMP_PTW_ADDR_MASK;
    for (int level = levels; level >= 1; level--) {
        unsigned shift = 12 + 9 * (unsigned)(level - 1);
        uint64_t idx = (va >> shift) & 511;
        uint64_t e;
        r.level = level;
        if (pm->read(pm->ctx, table + idx * 8, &e, sizeof(e)) != 0) {
            rc = -EIO;
            goto out;
        }
        r.entry = e;
        if (!(e & PTE_P)) {
            rc = -EFAULT;
            goto out;
        }
        if ((e & PTE_NX) && !nxe) {
            rc = -ENXIO;
            goto out;
        }
        r.writable = r.writable && (e & PTE_RW);
        r.user = r.user && (e & PTE_US);
        r.nx = r.nx || (nxe && (e & PTE_NX));
        if (level == 1) {
            r.page_size = 4096;
            r.gpa = (e & DMP_PTW_ADDR_MASK) | (va & 0xfff);
            goto out;
        }
        if (e & PTE_PS) {
            if (level > 3) {
                rc = -ENXIO;   /* PS is reserved in PML4E/PML5E */
                goto out;
            }
            uint64_t size = 1ull << shift;
            /* Bits 12 (PAT) .. shift-1 of a large-page entry: bit 12 is PAT, the rest are
             * reserved and must be zero. */
            uint64_t reserved = (size - 1) & ~0x1fffull;
            if (e & reserved) {
                rc = -ENXIO;
                goto out;
            }
            r.page_size = size;
            r.gpa = (e & DMP_PTW_ADDR_MASK & ~(size - 1)) | (va & (size - 1));
            goto out;
        }
        table = e & DMP_PTW_ADDR_MASK;
    }
out:
    if (rc)
        r.gpa = r.page_size = 0;
    if (res)
        *res = r;
    return rc;
}

void dmp_ptwalk_describe(int rc, uint64_t va, const struct dmp_ptw_result *res, char *buf,
                         size_t len)
{
    int lv = res && res->level >= 0 && res->level <= 5 ? res->level : 0;
    unsigned long long a = (unsigned long long)va, e = res ? (unsigned long long)res->entry : 0;
    switch (rc) {
    case 0:
        snprintf(buf, len, "0x%llx: mapped to guest-physical 0x%llx", a,
                 res ? (unsigned long long)res->gpa : 0ull);
        break;
    case -EINVAL:
        snprintf(buf, len, "0x%llx: not a canonical address", a);
        break;
    case -EFAULT:
        snprintf(buf, len, "0x%llx: not mapped (%s not present: 0x%llx)", a, level_name[lv], e);
        break;
    case -ENXIO:
        snprintf(buf, len, "0x%llx: reserved bit set in %s 0x%llx", a, level_name[lv], e);
        break;
    case -EIO:
        snprintf(buf, len, "0x%llx: cannot read the page table holding its %s", a,
                 level_name[lv]);
        break;
    default:
        snprintf(buf, len, "0x%llx: translation failed (error %d)", a, rc);
        break;
    }
}
