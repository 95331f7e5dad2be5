/* The live guest behind dmp-patcher's kimage interface: domain checks, pause accounting,
 * vCPU contexts, virtual memory access through the guest's page tables and foreign mappings,
 * and discovery of the running kernel (mapping, kallsyms, KASLR slide). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xenctrl.h>
#include <xenforeignmemory.h>
#include <xen/hvm/save.h>

#include "dmpintrospect/live.h"
#include "dmpcommon/util.h"

#define CR0_PG    (1ull << 31)
#define CR4_LA57  (1ull << 12)
#define EFER_LMA  (1ull << 10)
#define EFER_NXE  (1ull << 11)
#define PTI_USER_PGD_BIT 0x1000ull   /* PTI: the user half of a PGD pair is kernel PGD + 4 KiB */

/* 128 windows = 256 MiB of guest-physical space kept mapped: a whole lab guest, and enough for
 * a kernel image plus the page tables that map it in any guest. */
#define FCACHE_WINDOWS 128

struct dmp_live {
    xc_interface *xch;
    xenforeignmemory_handle *fmem;
    uint32_t domid;
    unsigned max_vcpu_id;
    bool hvm, hap;
    unsigned paused, pauses, unpauses;
    struct dmp_live_vcpu vcpus[DMP_LIVE_MAX_VCPUS];
    size_t nvcpus;
    struct dmp_fcache *fc;
    struct dmp_vmem vm;
    struct dmp_kimage *ki;
    struct dmp_ksyms *ks;
    struct dmp_live_kernel kernel;
    bool have_kernel;
    char last_err[320];   /* room for "domain N: " + the vmem message */
};

/* ---- frame mapper over libxenforeignmemory ---- */

static void *xfm_map(void *ctx, const uint64_t *gfns, size_t n, bool writable, int *errs)
{
    struct dmp_live *l = ctx;
    xen_pfn_t arr[DMP_FCACHE_WINDOW_FRAMES];
    if (n == 0 || n > DMP_FCACHE_WINDOW_FRAMES) {
        errno = EINVAL;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        arr[i] = (xen_pfn_t)gfns[i];
    return xenforeignmemory_map(l->fmem, l->domid, writable ? PROT_READ | PROT_WRITE : PROT_READ,
                                n, arr, errs);
}

static int xfm_unmap(void *ctx, void *addr, size_t n)
{
    struct dmp_live *l = ctx;
    return xenforeignmemory_unmap(l->fmem, addr, n) == 0 ? 0 : -errno;
}

/* ---- kimage backend ---- */

/* The translation root is set by dmp_live_find_kernel, or (before that) by dmp_live_open to
 * the first vCPU in long mode. */
static int live_read(void *ctx, uint64_t va, void *buf, size_t len)
{
    struct dmp_live *l = ctx;
    int rc = dmp_vmem_read(&l->vm, va, buf, len);
    if (rc)
        snprintf(l->last_err, sizeof(l->last_err), "domain %u: %s", l->domid, l->vm.last_err);
    return rc;
}

static int live_write(void *ctx, uint64_t va, const void *buf, size_t len)
{
    struct dmp_live *l = ctx;
    if (!l->paused) {
        snprintf(l->last_err, sizeof(l->last_err),
                 "write to 0x%llx refused: domain %u is not paused by this handle",
                 (unsigned long long)va, l->domid);
        return -EPERM;
    }
    int rc = dmp_vmem_write(&l->vm, va, buf, len);
    if (rc)
        snprintf(l->last_err, sizeof(l->last_err), "domain %u: %s", l->domid, l->vm.last_err);
    return rc;
}

static int live_vcpus(void *ctx, struct dmp_vcpu_state *out, size_t max, size_t *n)
{
    struct dmp_live *l = ctx;
    for (size_t i = 0; i < l->nvcpus && i < max; i++)
        out[i] = (struct dmp_vcpu_state){ l->vcpus[i].id, l->vcpus[i].rip, l->vcpus[i].rsp,
                                          l->vcpus[i].cr3, l->vcpus[i].online };
    *n = l->nvcpus;
    return 0;
}

/* The live handle owns the image (not the other way round): close is a no-op here. */
static const struct dmp_kbackend_ops live_ops = {
    .name = "xen-live",
    .read = live_read,
    .write = live_write,
    .vcpus = live_vcpus,
    .close = NULL,
};

/* ---- domain, pause, vCPUs ---- */

static unsigned ptw_flags_of(const struct dmp_live_vcpu *v)
{
    return ((v->cr4 & CR4_LA57) ? DMP_PTW_LA57 : 0) | ((v->efer & EFER_NXE) ? DMP_PTW_NXE : 0);
}

int dmp_live_pause(struct dmp_live *l)
{
    if (!l)
        return -EINVAL;
    if (xc_domain_pause(l->xch, l->domid) != 0)
        return errno ? -errno : -EIO;
    l->paused++;
    l->pauses++;
    return 0;
}

int dmp_live_unpause(struct dmp_live *l)
{
    if (!l || !l->paused)
        return -EINVAL;
    if (xc_domain_unpause(l->xch, l->domid) != 0)
        return errno ? -errno : -EIO;
    l->paused--;
    l->unpauses++;
    return 0;
}

uint64_t dmp_live_vcpu_percpu_base(const struct dmp_live_vcpu *v)
{
    /* Kernel addresses are the upper canonical half (bit 63 set), 4- and 5-level alike. */
    bool k = v->gs_base >> 63, ks = v->shadow_gs >> 63;
    if (k == ks)
        return 0;
    return k ? v->gs_base : v->shadow_gs;
}

static int read_vcpus(struct dmp_live *l, unsigned max_vcpu_id, char *err, size_t errlen)
{
    l->nvcpus = 0;
    for (unsigned v = 0; v <= max_vcpu_id && l->nvcpus < DMP_LIVE_MAX_VCPUS; v++) {
        xc_vcpuinfo_t vi;
        if (xc_vcpu_getinfo(l->xch, l->domid, v, &vi) != 0)
            continue;   /* no such vCPU */
        struct dmp_live_vcpu *c = &l->vcpus[l->nvcpus];
        memset(c, 0, sizeof(*c));
        c->id = v;
        c->online = vi.online;
        if (vi.online) {
            if (l->hvm) {
                struct hvm_hw_cpu ctx;
                if (xc_domain_hvm_getcontext_partial(l->xch, l->domid, HVM_SAVE_CODE(CPU),
                                                     (uint16_t)v, &ctx, sizeof(ctx)) != 0)
                    return dmp_errf(err, errlen, errno ? -errno : -EIO,
                                "domain %u: cannot read the state of vCPU %u: %s", l->domid, v,
                                strerror(errno));
                c->rip = ctx.rip;
                c->rsp = ctx.rsp;
                c->cr0 = ctx.cr0;
                c->cr3 = ctx.cr3;
                c->cr4 = ctx.cr4;
                c->efer = ctx.msr_efer;
                c->lstar = ctx.msr_lstar;
                c->idtr_base = ctx.idtr_base;
                c->gs_base = ctx.gs_base;
                c->shadow_gs = ctx.shadow_gs;
                c->long_mode = (c->cr0 & CR0_PG) && (c->efer & EFER_LMA);
            } else {
                vcpu_guest_context_any_t ctx;
                if (xc_vcpu_getcontext(l->xch, l->domid, v, &ctx) != 0)
                    return dmp_errf(err, errlen, errno ? -errno : -EIO,
                                "domain %u: cannot read the context of vCPU %u: %s", l->domid, v,
                                strerror(errno));
                c->rip = ctx.x64.user_regs.rip;
                c->rsp = ctx.x64.user_regs.rsp;
                c->cr0 = ctx.x64.ctrlreg[0];
                /* A 64-bit PV guest's CR3 holds a machine frame (xen_cr3_to_pfn is >> 12); its
                 * page tables hold machine frames too, which is what the foreign mapping of a
                 * PV domain takes: the same walker works on MFNs. */
                c->cr3 = ctx.x64.ctrlreg[3];
                c->cr4 = ctx.x64.ctrlreg[4];
                c->efer = EFER_LMA | EFER_NXE;   /* Xen runs 64-bit PV guests with both */
                c->long_mode = true;
            }
        }
        l->nvcpus++;
    }
    return 0;
}

int dmp_live_open(uint32_t domid, unsigned flags, struct dmp_live **out, char *err, size_t errlen)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (domid == 0)
        return dmp_errf(err, errlen, -EPERM,
                    "domain 0 is dom0, the control domain this tool runs in: introspecting "
                    "and patching it is refused");
    if (domid >= DOMID_FIRST_RESERVED)
        return dmp_errf(err, errlen, -EINVAL, "domain %u is not a guest domain id", domid);
    struct dmp_live *l = calloc(1, sizeof(*l));
    if (!l)
        return dmp_errf(err, errlen, -ENOMEM, "out of memory");
    l->domid = domid;
    int rc;
    l->xch = xc_interface_open(NULL, NULL, 0);
    if (!l->xch) {
        rc = dmp_errf(err, errlen, errno ? -errno : -EIO, "cannot open the Xen control interface: %s",
                  strerror(errno));
        goto fail;
    }
    xc_dominfo_t info;
    if (xc_domain_getinfo(l->xch, domid, 1, &info) != 1 || info.domid != domid) {
        rc = dmp_errf(err, errlen, -ESRCH, "domain %u does not exist", domid);
        goto fail;
    }
    if (info.dying || info.shutdown) {
        rc = dmp_errf(err, errlen, -ESRCH, "domain %u is shutting down", domid);
        goto fail;
    }
    l->hvm = info.hvm;
    l->hap = info.hap;
    if (!l->hvm) {
        unsigned int width = 0;
        if (xc_domain_get_guest_width(l->xch, domid, &width) != 0 || width != 8) {
            rc = dmp_errf(err, errlen, -EOPNOTSUPP, "domain %u is a 32-bit PV guest: not supported",
                      domid);
            goto fail;
        }
    }
    if (flags & DMP_LIVE_PAUSE) {
        rc = dmp_live_pause(l);
        if (rc) {
            dmp_errf(err, errlen, rc, "cannot pause domain %u: %s", domid, strerror(-rc));
            goto fail;
        }
    }
    l->max_vcpu_id = info.max_vcpu_id;
    rc = read_vcpus(l, info.max_vcpu_id, err, errlen);
    if (rc)
        goto fail;
    l->fmem = xenforeignmemory_open(NULL, 0);
    if (!l->fmem) {
        rc = dmp_errf(err, errlen, errno ? -errno : -EIO, "cannot open foreign memory mapping: %s",
                  strerror(errno));
        goto fail;
    }
    struct dmp_frame_mapper m = { xfm_map, xfm_unmap, l };
    rc = dmp_fcache_new(&m, FCACHE_WINDOWS, &l->fc);
    if (rc) {
        dmp_errf(err, errlen, rc, "out of memory");
        goto fail;
    }
    dmp_vmem_init(&l->vm, l->fc);
    for (size_t i = 0; i < l->nvcpus && !l->vm.have_root; i++)
        if (l->vcpus[i].online && l->vcpus[i].long_mode)
            dmp_vmem_set_root(&l->vm, l->vcpus[i].cr3, ptw_flags_of(&l->vcpus[i]));
    l->ki = dmp_kimage_from_backend(&live_ops, l);
    if (!l->ki) {
        rc = dmp_errf(err, errlen, -ENOMEM, "out of memory");
        goto fail;
    }
    *out = l;
    return 0;
fail:
    dmp_live_close(l);
    return rc;
}

int dmp_live_refresh_vcpus(struct dmp_live *l, char *err, size_t errlen)
{
    if (!l)
        return -EINVAL;
    if (!l->paused)
        return dmp_errf(err, errlen, -EPERM,
                    "domain %u: vCPU states are only meaningful while it is paused", l->domid);
    return read_vcpus(l, l->max_vcpu_id, err, errlen);
}

int dmp_live_set_root_for(struct dmp_live *l, uint64_t va, char *err, size_t errlen)
{
    if (!l)
        return -EINVAL;
    /* The pinned kernel root (dmp_live_find_kernel) maps every kernel address and cannot go
     * stale; vCPU roots are only current while the guest is paused. */
    struct dmp_ptw_result res;
    if (l->vm.top_pinned && dmp_ptwalk(&l->vm.pm, l->vm.cr3, l->vm.ptw_flags, va, &res) == 0)
        return 0;
    for (size_t i = 0; i < l->nvcpus; i++) {
        const struct dmp_live_vcpu *v = &l->vcpus[i];
        if (!v->online || !v->long_mode)
            continue;
        /* The vCPU's own CR3 first: whatever it maps is the true mapping. Only if it does not
         * map va, and CR3 looks like the user half of a PTI pair, the kernel half below it. */
        uint64_t roots[2] = { v->cr3, v->cr3 & ~PTI_USER_PGD_BIT };
        int nroots = (v->cr3 & PTI_USER_PGD_BIT) && l->hvm ? 2 : 1;
        for (int r = 0; r < nroots; r++) {
            if (dmp_ptwalk(&l->vm.pm, roots[r], ptw_flags_of(v), va, &res) == 0) {
                dmp_vmem_set_root(&l->vm, roots[r], ptw_flags_of(v));
                return l->paused ? dmp_vmem_pin_root(&l->vm) : 0;
            }
        }
    }
    return dmp_errf(err, errlen, -EFAULT, "domain %u: no vCPU's page tables map 0x%llx", l->domid,
                (unsigned long long)va);
}

void dmp_live_close(struct dmp_live *l)
{
    if (!l)
        return;
    /* Never leave the guest paused behind us, whatever happened. A failing unpause is retried
     * a bounded number of times, then reported: the guest stays paused, visibly (xl list). */
    for (unsigned tries = 0; l->paused && tries < 8; tries++) {
        int rc = dmp_live_unpause(l);
        if (rc)
            fprintf(stderr, "dmp-live: cannot unpause domain %u: %s\n", l->domid, strerror(-rc));
    }
    dmp_ksyms_free(l->ks);
    dmp_kimage_close(l->ki);
    dmp_fcache_free(l->fc);
    if (l->fmem)
        xenforeignmemory_close(l->fmem);
    if (l->xch)
        xc_interface_close(l->xch);
    free(l);
}

void dmp_live_get_stats(const struct dmp_live *l, struct dmp_live_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (!l)
        return;
    st->pauses = l->pauses;
    st->unpauses = l->unpauses;
    st->paused = l->paused;
    st->reads = l->vm.reads;
    st->writes = l->vm.writes;
    st->walks = l->vm.walks;
    dmp_fcache_get_stats(l->fc, &st->fc);
}

bool dmp_live_is_hvm(const struct dmp_live *l) { return l && l->hvm; }
bool dmp_live_is_hap(const struct dmp_live *l) { return l && l->hap; }

size_t dmp_live_vcpus(const struct dmp_live *l, const struct dmp_live_vcpu **v)
{
    if (!l)
        return 0;
    if (v)
        *v = l->vcpus;
    return l->nvcpus;
}

struct dmp_kimage *dmp_live_kimage(struct dmp_live *l) { return l ? l->ki : NULL; }
struct dmp_ksyms *dmp_live_ksyms(struct dmp_live *l) { return l ? l->ks : NULL; }
const char *dmp_live_last_error(const struct dmp_live *l) { return l ? l->last_err : ""; }

/* ---- the kernel ---- */

static void read_banner(struct dmp_live *l, char *out, size_t outlen)
{
    out[0] = 0;
    const struct dmp_ksym *b = dmp_ksyms_by_name(l->ks, "linux_banner");
    if (!b || outlen < 2)
        return;
    size_t n = 0;
    /* Byte-wise in small pieces: the string may end right before an unmapped page. */
    while (n + 1 < outlen) {
        char c;
        if (dmp_kimage_read(l->ki, b->addr + n, &c, 1) != 0 || c == 0 || c == '\n')
            break;
        out[n++] = (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    out[n] = 0;
}

/* Scan vCPU v's page tables for the kernel image; on success fill k's map, root and flags.
 * With page-table isolation a vCPU caught in user mode runs on the user PGD, which maps only
 * the entry text; the kernel PGD is the 8 KiB-aligned page below it. Both are tried and the
 * root showing more of the image is kept. The first error is kept in serr. */
static int scan_vcpu(struct dmp_live *l, const struct dmp_live_vcpu *v, struct dmp_live_kernel *k,
                     char *serr, size_t serrlen)
{
    unsigned flags = ptw_flags_of(v);
    uint64_t lstar = v->lstar >= DMP_KMAP_START && v->lstar < DMP_KMAP_END ? v->lstar : 0;
    uint64_t roots[2] = { v->cr3 & ~PTI_USER_PGD_BIT, v->cr3 };
    int nroots = (v->cr3 & PTI_USER_PGD_BIT) && l->hvm ? 2 : 1;
    if (nroots == 1)
        roots[0] = v->cr3;
    int first_rc = -ENOENT;
    bool ok = false;
    for (int i = 0; i < nroots; i++) {
        struct dmp_kmap m;
        char e[256];
        int rc = dmp_kmap_scan(&l->vm.pm, roots[i], flags, lstar, &m, e, sizeof(e));
        if (rc) {
            if (!serr[0])
                snprintf(serr, serrlen, "vCPU %u: %s", v->id, e);
            first_rc = (rc == -EIO || first_rc == -EIO) ? -EIO : rc;
            continue;
        }
        if (!ok || m.pages_present > k->map.pages_present) {
            k->map = m;
            k->cr3 = roots[i];
            ok = true;
        }
    }
    if (!ok)
        return first_rc;
    k->cr3_vcpu = v->id;
    k->ptw_flags = flags;
    k->lstar = lstar;
    return 0;
}

int dmp_live_find_kernel(struct dmp_live *l, struct dmp_live_kernel *out, char *err, size_t errlen)
{
    if (!l || !out)
        return -EINVAL;
    if (l->have_kernel) {
        *out = l->kernel;
        return 0;
    }
    struct dmp_live_kernel k;
    memset(&k, 0, sizeof(k));
    char serr[320] = "";
    bool ok = false, any_vcpu = false;
    /* The vCPUs' CR3s are only good while the guest is paused: ptbench's short-lived processes
     * freed the page tables a CR3 read moments before named, and the scan then found "nothing
     * mapped" or a kernel whose text was unreadable (CI, lab run dp-2). So the scan runs
     * paused, on fresh vCPU state, and the root it chose is pinned before the guest runs on;
     * the long part (kallsyms) runs unpaused through the pinned copy. */
    bool paused_here = !l->paused;
    if (paused_here) {
        int rc = dmp_live_pause(l);
        if (rc)
            return dmp_errf(err, errlen, rc, "domain %u: cannot pause: %s", l->domid, strerror(-rc));
    }
    int vrc = read_vcpus(l, l->max_vcpu_id, err, errlen);
    if (vrc) {
        if (paused_here)
            (void)dmp_live_unpause(l);
        return vrc;
    }
    double t0 = dmp_mono_s();
    /* Every vCPU's page tables map the kernel the same way; the first that shows it wins. A
     * scan that could not read guest memory (dom0's failure, not the guest's) is tried once
     * more before giving up. */
    for (unsigned attempt = 0; attempt < 2 && !ok; attempt++) {
        bool io_error = false;
        for (size_t i = 0; i < l->nvcpus && !ok; i++) {
            const struct dmp_live_vcpu *v = &l->vcpus[i];
            if (!v->online || !v->long_mode)
                continue;
            any_vcpu = true;
            int rc = scan_vcpu(l, v, &k, serr, sizeof(serr));
            ok = rc == 0;
            io_error = io_error || rc == -EIO;
        }
        if (!io_error)
            break;
    }
    int prc = 0;
    if (ok) {
        dmp_vmem_set_root(&l->vm, k.cr3, k.ptw_flags);
        prc = dmp_vmem_pin_root(&l->vm);
    }
    k.secs_scan = dmp_mono_s() - t0;
    if (paused_here) {
        int urc = dmp_live_unpause(l);
        if (urc)
            return dmp_errf(err, errlen, urc, "domain %u: cannot unpause: %s", l->domid,
                        strerror(-urc));
    }
    if (!any_vcpu)
        return dmp_errf(err, errlen, -ENODEV,
                    "domain %u: no vCPU is in 64-bit mode with paging on (the guest kernel is "
                    "not running yet, or this is not an x86-64 kernel)", l->domid);
    if (!ok)
        return dmp_errf(err, errlen, -ENOENT, "domain %u: cannot find the kernel image: %s", l->domid,
                    serr);
    if (prc)
        return dmp_errf(err, errlen, prc, "domain %u: %s", l->domid, l->vm.last_err);
    for (size_t i = 0; i < k.map.nruns; i++) {
        int rc = dmp_kimage_add_region(l->ki, k.map.runs[i].start, k.map.runs[i].end,
                                       k.map.runs[i].flags);
        if (rc)
            return dmp_errf(err, errlen, rc, "domain %u: cannot register kernel region 0x%llx-0x%llx: %s",
                        l->domid, (unsigned long long)k.map.runs[i].start,
                        (unsigned long long)k.map.runs[i].end, strerror(-rc));
    }

    t0 = dmp_mono_s();
    char kerr[512] = "";
    l->last_err[0] = 0;
    int rc = dmp_ksyms_recover(l->ki, &l->ks, kerr, sizeof(kerr));
    k.secs_ksyms = dmp_mono_s() - t0;
    if (rc)
        return dmp_errf(err, errlen, rc,
                    "domain %u: no kallsyms tables found in guest kernel memory (scanned "
                    "0x%llx-0x%llx, %zu MiB mapped in %zu regions): %s%s%s", l->domid,
                    (unsigned long long)k.map.start, (unsigned long long)k.map.end,
                    k.map.pages_present / 256, k.map.nruns, kerr,
                    l->last_err[0] ? "; last read error: " : "", l->last_err);
    k.nsyms = dmp_ksyms_count(l->ks);
    const struct dmp_ksym *s = dmp_ksyms_by_name(l->ks, "_text");
    if (!s)
        s = dmp_ksyms_by_name(l->ks, "startup_64");
    if (!s)
        return dmp_errf(err, errlen, -ENOENT,
                    "domain %u: kallsyms has neither _text nor startup_64: not an x86-64 Linux "
                    "kernel this tool understands", l->domid);
    k.kernel_start = s->addr;
    k.link_base = DMP_KERNEL_LINK_BASE;
    k.slide = (int64_t)(k.kernel_start - k.link_base);
    if (dmp_kimage_text(l->ki, &k.text_start, &k.text_end, NULL) != 0)
        return dmp_errf(err, errlen, -ENOENT, "domain %u: kallsyms gave no kernel text bounds", l->domid);
    if (k.lstar) {
        const struct dmp_ksym *e = dmp_ksyms_by_name(l->ks, "entry_SYSCALL_64");
        k.lstar_checked = e != NULL;
        k.lstar_ok = e && e->addr == k.lstar;
    }
    read_banner(l, k.banner, sizeof(k.banner));
    l->kernel = k;
    l->have_kernel = true;
    *out = k;
    return 0;
}
