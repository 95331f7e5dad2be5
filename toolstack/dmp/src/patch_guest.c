/* The running guest as the live-patch procedure sees it: opening it (and refusing the guests
 * DMP does not patch), safe writes, pauses that wait until no vCPU is inside the bytes to
 * change. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dmpcommon/util.h"
#include "patch_internal.h"

#define RIP_RETRIES 50         /* pause/unpause rounds waiting for vCPUs to leave a range */

int dmp_patch_find_kernel(const struct dmp_patch_target *d, struct dmp_live *l,
                          struct dmp_live_kernel *k, char *err, size_t errlen)
{
    char why[768];
    int rc = dmp_live_find_kernel(l, k, why, sizeof(why));
    if (rc)
        return dmp_errf(err, errlen, rc, "refused: kernel of domain %s not recognised, left "
                        "untouched: %s", d->name, why);
    return 0;
}

int dmp_patch_open_guest(const struct dmp_patch_target *d, bool need_shadow, bool find,
                         struct dmp_live **out, struct dmp_live_kernel *k,
                         enum dmp_outcome *oc, char *err, size_t errlen)
{
    *oc = DMP_FAILED;
    int rc = dmp_live_open(d->domid, 0, out, err, errlen);
    if (rc)
        return rc;
    if (!dmp_live_is_hvm(*out)) {
        dmp_live_close(*out);
        return dmp_errf(err, errlen, -EOPNOTSUPP,
                        "refused: domain %s is a PV guest; its page-table updates are already "
                        "hypercalls, DMP patches HVM/PVH guests under shadow paging", d->name);
    }
    if (need_shadow && dmp_live_is_hap(*out)) {
        dmp_live_close(*out);
        *oc = DMP_NOTHING_TO_DO;
        return dmp_errf(err, errlen, -EOPNOTSUPP, "nothing to do: domain %s uses HAP (its "
                        "page-table writes do not trap)", d->name);
    }
    if (!find)
        return 0;
    rc = dmp_patch_find_kernel(d, *out, k, err, errlen);
    if (rc)
        dmp_live_close(*out);
    return rc;
}

int dmp_patch_root_for(const struct dmp_patch_target *d, struct dmp_live *l, uint64_t va,
                       char *err, size_t errlen)
{
    char why[256];
    int rc = dmp_live_set_root_for(l, va, why, sizeof(why));
    if (rc)
        return dmp_errf(err, errlen, rc, "domain %s: %s", d->name, why);
    return 0;
}

/* Page by page: the live write path takes at most 16 pages. */
int dmp_patch_write_region(struct dmp_live *l, uint64_t va, const uint8_t *b, size_t len,
                           char *err, size_t errlen)
{
    struct dmp_kimage *ki = dmp_live_kimage(l);
    uint8_t back[4096];
    for (size_t off = 0; off < len;) {
        size_t n = 4096 - ((va + off) & 4095);
        if (n > len - off)
            n = len - off;
        int rc = dmp_kimage_write(ki, va + off, b + off, n);
        if (rc == 0)
            rc = dmp_kimage_read(ki, va + off, back, n);
        if (rc == 0 && memcmp(back, b + off, n) != 0)
            rc = -EIO;
        if (rc)
            return dmp_errf(err, errlen, rc, "write of 0x%" PRIx64 "+%zu failed: %s%s%s",
                            va + off, n, strerror(-rc),
                            rc == -EIO ? " (read back differs)" : "; ",
                            rc == -EIO ? "" : dmp_live_last_error(l));
        off += n;
    }
    return 0;
}

static unsigned held_pauses(const struct dmp_live *l)
{
    struct dmp_live_stats st;
    dmp_live_get_stats(l, &st);
    return st.paused;
}

/* pause_clear() and the log drain leave the domain paused on some paths. */
void dmp_patch_unpause_all(struct dmp_live *l)
{
    while (held_pauses(l))
        if (dmp_live_unpause(l) != 0)
            break;
}

size_t dmp_patch_vcpu_rips(struct dmp_live *l, uint64_t *rips, size_t max)
{
    const struct dmp_live_vcpu *v;
    size_t nv = dmp_live_vcpus(l, &v), k = 0;
    for (size_t i = 0; i < nv && k < max; i++)
        if (v[i].online)
            rips[k++] = v[i].rip;
    return k;
}

bool dmp_patch_plan_busy(const struct dmp_plan *p, const uint64_t *rips, size_t nr)
{
    return dmp_lp_any_in(rips, nr, p->site, p->len) ||
           (p->tramp_va && dmp_lp_any_in(rips, nr, p->tramp_va, p->tramp_len));
}

int dmp_patch_pause_clear(struct dmp_live *l,
                          bool (*busy)(const void *, const uint64_t *, size_t), const void *arg,
                          uint64_t root_va, unsigned *waits, char *err, size_t errlen)
{
    uint64_t rips[DMP_LIVE_MAX_VCPUS];
    for (unsigned i = 0; i < RIP_RETRIES; i++) {
        int rc = dmp_live_pause(l);
        if (rc)
            return dmp_errf(err, errlen, rc, "cannot pause: %s", strerror(-rc));
        rc = dmp_live_refresh_vcpus(l, err, errlen);
        if (rc == 0)   /* a root that is live while we hold the pause */
            rc = dmp_live_set_root_for(l, root_va, err, errlen);
        if (rc)
            return rc;   /* still paused: the caller unpauses */
        size_t nr = dmp_patch_vcpu_rips(l, rips, DMP_LIVE_MAX_VCPUS);
        if (!busy(arg, rips, nr))
            return 0;
        (*waits)++;
        dmp_live_unpause(l);
        usleep(10000);
    }
    return dmp_errf(err, errlen, -EBUSY, "a vCPU stayed inside the code to be changed for %u "
                    "rounds", RIP_RETRIES);
}
