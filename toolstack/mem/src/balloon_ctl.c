/* Balloon control matching libxl_set_memory_target (tools/libs/light/libxl_mem.c, Xen 4.17).
 * Differences from libxl, on purpose: none in what is written; we do not take libxl's
 * per-domain userdata lock (dmpd and dmpctl are the only writers we expect besides xl, and
 * the xenstore transaction makes the read-modify-write of memory/target atomic). */
#include "dmpmem/balloon_ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenctrl.h>
#include <xenstore.h>

#include "dmpcommon/util.h"

#define XS_RETRIES 16

int dmp_balloon_plan(uint64_t memkb, uint64_t videoram_kib, uint64_t static_max_kib,
                     struct dmp_balloon_plan *p)
{
    /* libxl: new_target_memkb = target_memkb - videoram (absolute, not relative). */
    uint64_t t = memkb > videoram_kib ? memkb - videoram_kib : 0;
    if (t > static_max_kib)
        return -EINVAL;
    p->target_kib = t;
    /* enforce: memorykb = new_target + videoram; setmaxmem(memorykb + extra) */
    p->maxmem_kib = t + videoram_kib + DMP_BALLOON_MAXMEM_SLACK_KIB;
    /* set_pod_target((new_target + extra) / 4) for non-PV guests */
    p->pod_pages = (t + DMP_BALLOON_MAXMEM_SLACK_KIB) / 4;
    p->vm_memory_mib = t / 1024;
    return 0;
}

/* A number in xenstore: 0, -ENOENT (absent or unreadable) or the parse error. */
static int xs_read_u64(struct xs_handle *xs, xs_transaction_t t, const char *path, uint64_t *v)
{
    unsigned int len;
    char *s = xs_read(xs, t, path, &len);
    if (!s)
        return -ENOENT;
    int rc = dmp_parse_u64(s, v);
    free(s);
    return rc;
}

static void uuid_str(const xen_domain_handle_t h, char *buf, size_t len)
{
    snprintf(buf, len,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12],
             h[13], h[14], h[15]);
}

int dmp_balloon_read(struct xs_handle *xs, struct xc_interface_core *xchc, uint32_t domid,
                     struct dmp_balloon_info *out, char *err, size_t errlen)
{
    xc_interface *xch = (xc_interface *)xchc;
    xc_dominfo_t info;
    char path[96];
    memset(out, 0, sizeof(*out));
    out->domid = domid;
    if (xc_domain_getinfo(xch, domid, 1, &info) != 1 || info.domid != domid)
        return dmp_errf(err, errlen, -ESRCH, "domain %u does not exist", domid);
    out->hvm = info.hvm;
    out->hap = info.hap;
    out->paused = info.paused;
    out->dying = info.dying || info.shutdown;
    out->actual_kib = (uint64_t)info.nr_pages * 4;
    out->maxmem_kib = info.max_memkb;
    snprintf(path, sizeof(path), "/local/domain/%u/memory/target", domid);
    int rc = xs_read_u64(xs, XBT_NULL, path, &out->target_kib);
    if (rc < 0)
        return dmp_errf(err, errlen, rc, "cannot read %s", path);
    snprintf(path, sizeof(path), "/local/domain/%u/memory/static-max", domid);
    if (xs_read_u64(xs, XBT_NULL, path, &out->static_max_kib) < 0)
        out->static_max_kib = 0;
    snprintf(path, sizeof(path), "/local/domain/%u/memory/videoram", domid);
    if (xs_read_u64(xs, XBT_NULL, path, &out->videoram_kib) < 0)
        out->videoram_kib = 0;   /* absent, or libxl's "-1" for "none" */
    /* Linux's xen-balloon announces itself here when its xenstore watch is set up. */
    uint64_t fb;
    snprintf(path, sizeof(path), "/local/domain/%u/control/feature-balloon", domid);
    if (xs_read_u64(xs, XBT_NULL, path, &fb) == 0)
        out->feature_balloon = fb ? DMP_FEATURE_PRESENT : DMP_FEATURE_ABSENT;
    else
        out->feature_balloon = DMP_FEATURE_UNKNOWN;
    /* Linux writes no feature-balloon, but announces its shutdown handlers as soon as xenbus
     * is up, which is also when its balloon driver starts watching memory/target. */
    static const char *const announced[] = { "feature-balloon", "feature-poweroff",
                                             "feature-reboot", "feature-suspend" };
    out->pv_drivers_up = false;
    for (size_t i = 0; i < sizeof(announced) / sizeof(announced[0]) && !out->pv_drivers_up; i++) {
        snprintf(path, sizeof(path), "/local/domain/%u/control/%s", domid, announced[i]);
        unsigned int len;
        char *v = xs_read(xs, XBT_NULL, path, &len);
        out->pv_drivers_up = v != NULL;
        free(v);
    }
    return 0;
}

int dmp_balloon_set_target(struct xs_handle *xs, struct xc_interface_core *xchc, uint32_t domid,
                           uint64_t memkb, uint64_t min_kib, char *err, size_t errlen)
{
    xc_interface *xch = (xc_interface *)xchc;
    xc_dominfo_t info;
    char path[128], val[32], uuid[40];
    if (xc_domain_getinfo(xch, domid, 1, &info) != 1 || info.domid != domid)
        return dmp_errf(err, errlen, -ESRCH, "domain %u does not exist", domid);
    if (domid == 0) {
        /* libxl handles dom0 specially (no static-max, minimum threshold); the balancer
         * never moves dom0's memory. */
        return dmp_errf(err, errlen, -EINVAL, "refusing to balloon dom0");
    }
    uuid_str(info.handle, uuid, sizeof(uuid));
    for (int attempt = 0; attempt < XS_RETRIES; attempt++) {
        xs_transaction_t t = xs_transaction_start(xs);
        if (t == XBT_NULL)
            return dmp_errf(err, errlen, -errno, "xenstore transaction: %s", strerror(errno));
        uint64_t cur, smax, vram = 0;
        snprintf(path, sizeof(path), "/local/domain/%u/memory/target", domid);
        if (xs_read_u64(xs, t, path, &cur) < 0) {
            xs_transaction_end(xs, t, true);
            return dmp_errf(err, errlen, -ENOENT, "cannot get target memory info from %s", path);
        }
        snprintf(path, sizeof(path), "/local/domain/%u/memory/static-max", domid);
        if (xs_read_u64(xs, t, path, &smax) < 0) {
            xs_transaction_end(xs, t, true);
            return dmp_errf(err, errlen, -ENOENT, "cannot get memory info from %s", path);
        }
        snprintf(path, sizeof(path), "/local/domain/%u/memory/videoram", domid);
        if (xs_read_u64(xs, t, path, &vram) < 0)
            vram = 0;
        struct dmp_balloon_plan p;
        if (dmp_balloon_plan(memkb, vram, smax, &p) < 0) {
            xs_transaction_end(xs, t, true);
            return dmp_errf(err, errlen, -EINVAL, "%llu KiB is above the guest's maximum (memory/static-max %llu KiB)",
                            (unsigned long long)memkb, (unsigned long long)smax);
        }
        if (p.target_kib < min_kib) {
            xs_transaction_end(xs, t, true);
            return dmp_errf(err, errlen, -EINVAL, "%llu KiB is below the floor of %llu KiB",
                            (unsigned long long)p.target_kib, (unsigned long long)min_kib);
        }
        if (xc_domain_setmaxmem(xch, domid, p.maxmem_kib) != 0) {
            int e = errno;
            xs_transaction_end(xs, t, true);
            return dmp_errf(err, errlen, -e, "xc_domain_setmaxmem %llu KiB: %s",
                            (unsigned long long)p.maxmem_kib, strerror(e));
        }
        if (info.hvm && xc_domain_set_pod_target(xch, domid, p.pod_pages, NULL, NULL, NULL) != 0) {
            int e = errno;
            xs_transaction_end(xs, t, true);
            return dmp_errf(err, errlen, -e, "xc_domain_set_pod_target %llu pages: %s",
                            (unsigned long long)p.pod_pages, strerror(e));
        }
        snprintf(path, sizeof(path), "/local/domain/%u/memory/target", domid);
        snprintf(val, sizeof(val), "%llu", (unsigned long long)p.target_kib);
        bool ok = xs_write(xs, t, path, val, strlen(val));
        snprintf(path, sizeof(path), "/vm/%s/memory", uuid);
        snprintf(val, sizeof(val), "%llu", (unsigned long long)p.vm_memory_mib);
        /* libxl ignores a failure of this informational write; so do we. */
        (void)xs_write(xs, t, path, val, strlen(val));
        if (!ok) {
            int e = errno;
            xs_transaction_end(xs, t, true);
            return dmp_errf(err, errlen, -e, "cannot write memory/target: %s", strerror(e));
        }
        if (xs_transaction_end(xs, t, false))
            return 0;
        if (errno != EAGAIN)
            return dmp_errf(err, errlen, -errno, "xenstore transaction end: %s", strerror(errno));
    }
    return dmp_errf(err, errlen, -EAGAIN, "xenstore kept conflicting after %d attempts", XS_RETRIES);
}
