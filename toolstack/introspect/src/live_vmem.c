/* Guest virtual memory = the guest's page tables (dmp_ptwalk) + its frames (dmp_fcache).
 * Kept free of Xen calls so it runs, and is tested, on synthetic memory. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dmpintrospect/live.h"

#define WRITE_MAX_PIECES 16

/* Guest-physical reads for the walker: the pinned root table from its copy, the rest from
 * the frame cache. */
static int phys_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
    struct dmp_vmem *vm = ctx;
    if (vm->top_pinned && gpa >= vm->top_gpa && len <= sizeof(vm->top) &&
        gpa - vm->top_gpa <= sizeof(vm->top) - len) {
        memcpy(buf, (const uint8_t *)vm->top + (gpa - vm->top_gpa), len);
        return 0;
    }
    return dmp_fcache_read(vm->fc, gpa, buf, len, NULL);
}

void dmp_vmem_init(struct dmp_vmem *vm, struct dmp_fcache *fc)
{
    memset(vm, 0, sizeof(*vm));
    vm->fc = fc;
    vm->pm = (struct dmp_physmem){ phys_read, vm };
}

void dmp_vmem_set_root(struct dmp_vmem *vm, uint64_t cr3, unsigned ptw_flags)
{
    vm->have_root = true;
    vm->cr3 = cr3;
    vm->ptw_flags = ptw_flags;
    vm->tlb_size = 0;
    vm->top_pinned = false;
}

int dmp_vmem_pin_root(struct dmp_vmem *vm)
{
    if (!vm->have_root)
        return -ENODEV;
    uint64_t gpa = vm->cr3 & DMP_PTW_ADDR_MASK;
    vm->top_pinned = false;
    int rc = dmp_fcache_read(vm->fc, gpa, vm->top, sizeof(vm->top), NULL);
    if (rc) {
        snprintf(vm->last_err, sizeof(vm->last_err),
                 "page-table root 0x%llx cannot be read (%s)", (unsigned long long)gpa,
                 strerror(-rc));
        return rc;
    }
    vm->top_gpa = gpa;
    vm->top_pinned = true;
    vm->tlb_size = 0;
    return 0;
}

/* 0, -EFAULT (va not mapped, or a reserved bit stops the walk) or -EIO (a page-table frame
 * could not be read: says nothing about the mapping); last_err names the cause. */
static int translate(struct dmp_vmem *vm, uint64_t va, bool fresh, uint64_t *gpa, uint64_t *left)
{
    if (!fresh && vm->tlb_size && va - vm->tlb_va < vm->tlb_size) {
        *gpa = vm->tlb_gpa + (va - vm->tlb_va);
        *left = vm->tlb_size - (va - vm->tlb_va);
        return 0;
    }
    struct dmp_ptw_result r;
    vm->walks++;
    int rc = dmp_ptwalk(&vm->pm, vm->cr3, vm->ptw_flags, va, &r);
    if (rc) {
        dmp_ptwalk_describe(rc, va, &r, vm->last_err, sizeof(vm->last_err));
        return rc == -EIO ? -EIO : -EFAULT;
    }
    uint64_t off = va & (r.page_size - 1);
    *gpa = r.gpa;
    *left = r.page_size - off;
    vm->tlb_va = va - off;
    vm->tlb_size = r.page_size;
    vm->tlb_gpa = r.gpa - off;
    return 0;
}

int dmp_vmem_read(struct dmp_vmem *vm, uint64_t va, void *buf, size_t len)
{
    uint8_t *dst = buf;
    if (!vm->have_root) {
        snprintf(vm->last_err, sizeof(vm->last_err),
                 "0x%llx: no vCPU in 64-bit paging mode to translate it", (unsigned long long)va);
        return -ENODEV;
    }
    vm->reads++;
    while (len) {
        uint64_t gpa, left, bad = 0;
        int rc = translate(vm, va, false, &gpa, &left);
        if (rc)
            return rc;
        size_t n = left < len ? (size_t)left : len;
        rc = dmp_fcache_read(vm->fc, gpa, dst, n, &bad);
        if (rc == -EFAULT) {
            snprintf(vm->last_err, sizeof(vm->last_err),
                     "0x%llx: guest-physical 0x%llx cannot be mapped (not a frame of the guest)",
                     (unsigned long long)(va + (bad - gpa)), (unsigned long long)bad);
            return -EFAULT;
        }
        if (rc) {
            snprintf(vm->last_err, sizeof(vm->last_err),
                     "0x%llx: guest-physical 0x%llx: dom0 could not map guest memory (%s)",
                     (unsigned long long)va, (unsigned long long)gpa, strerror(-rc));
            return rc;
        }
        dst += n;
        va += n;
        len -= n;
    }
    return 0;
}

int dmp_vmem_write(struct dmp_vmem *vm, uint64_t va, const void *buf, size_t len)
{
    if (!vm->have_root)
        return -ENODEV;
    /* Fresh walks: the guest may have changed its tables since the last read. */
    struct { uint64_t gpa; size_t n; } piece[WRITE_MAX_PIECES];
    size_t np = 0;
    uint64_t a = va;
    size_t rem = len;
    while (rem) {
        uint64_t gpa, left;
        if (np == WRITE_MAX_PIECES)
            return -E2BIG;
        int rc = translate(vm, a, true, &gpa, &left);
        if (rc)
            return rc;
        size_t n = left < rem ? (size_t)left : rem;
        piece[np].gpa = gpa;
        piece[np++].n = n;
        a += n;
        rem -= n;
    }
    const uint8_t *src = buf;
    a = va;
    for (size_t i = 0; i < np; i++) {
        uint64_t bad = 0;
        int rc = dmp_fcache_write(vm->fc, piece[i].gpa, src, piece[i].n, &bad);
        if (rc) {
            snprintf(vm->last_err, sizeof(vm->last_err),
                     "write to 0x%llx: guest-physical 0x%llx cannot be mapped writable (%s)",
                     (unsigned long long)a, (unsigned long long)bad, strerror(-rc));
            return rc;
        }
        src += piece[i].n;
        a += piece[i].n;
    }
    vm->writes++;
    return 0;
}
