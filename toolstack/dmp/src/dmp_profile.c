/* The trap profiler's control operation (XEN_DOMCTL_dmp_trap_profile, our hypervisor patch),
 * issued through libxencall because Debian's libxenctrl does not know it. */
#include "dmp/profile.h"
#include "dmpxen/xen_build.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xencall.h>
#include <xenctrl.h>

/* struct xen_domctl with our member in the union: the header fields must match Xen's. */
struct dmp_domctl {
    uint32_t cmd;
    uint32_t interface_version;
    uint16_t domain;
    uint16_t pad[3];
    union {
        struct dmp_trap_profile_op prof;
        uint8_t pad[128];
    } u;
};
_Static_assert(sizeof(struct dmp_domctl) == sizeof(struct xen_domctl), "domctl size");
_Static_assert(offsetof(struct dmp_domctl, u) == offsetof(struct xen_domctl, u), "domctl union");
_Static_assert(sizeof(struct dmp_trap_profile_op) <= 128, "op fits the domctl union");
_Static_assert(sizeof(struct dmp_trap_entry) == 24, "entry layout as Xen's");

struct dmp_profiler {
    xencall_handle *xcall;
    struct dmp_domctl *dc;          /* hypercall buffer */
    struct dmp_trap_entry *buf;     /* hypercall buffer for READ */
    size_t buf_nr;
};

int dmp_profiler_open(struct dmp_profiler **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = dmp_xen_require_dmp_build("trap profiler", err, errlen);
    if (rc)
        return rc;
    struct dmp_profiler *pr = calloc(1, sizeof(*pr));
    if (!pr) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    pr->xcall = xencall_open(NULL, 0);
    if (!pr->xcall) {
        int e = errno ? errno : EIO;
        free(pr);
        snprintf(err, errlen, "cannot open libxencall: %s", strerror(e));
        return -e;
    }
    pr->dc = xencall_alloc_buffer(pr->xcall, sizeof(*pr->dc));
    if (!pr->dc) {
        xencall_close(pr->xcall);
        free(pr);
        snprintf(err, errlen, "cannot allocate a hypercall buffer");
        return -ENOMEM;
    }
    *out = pr;
    return 0;
}

void dmp_profiler_close(struct dmp_profiler *pr)
{
    if (!pr)
        return;
    if (pr->buf)
        xencall_free_buffer(pr->xcall, pr->buf);
    xencall_free_buffer(pr->xcall, pr->dc);
    xencall_close(pr->xcall);
    free(pr);
}

struct dmp_trap_entry *dmp_profiler_buffer(struct dmp_profiler *pr, size_t nr)
{
    if (nr <= pr->buf_nr && pr->buf)
        return pr->buf;
    if (nr > DMP_TRAP_PROFILE_MAX_SLOTS)
        return NULL;
    struct dmp_trap_entry *b = xencall_alloc_buffer(pr->xcall, (nr ? nr : 1) * sizeof(*b));
    if (!b)
        return NULL;
    if (pr->buf)
        xencall_free_buffer(pr->xcall, pr->buf);
    pr->buf = b;
    pr->buf_nr = nr;
    return b;
}

int dmp_profiler_raw(struct dmp_profiler *pr, uint32_t domid, struct dmp_trap_profile_op *op)
{
    if (domid > 0xffff)
        return -EINVAL;     /* would be truncated into some other domain's id */
    memset(pr->dc, 0, sizeof(*pr->dc));
    pr->dc->cmd = DMP_DOMCTL_TRAP_PROFILE;
    pr->dc->interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    pr->dc->domain = (uint16_t)domid;
    pr->dc->u.prof = *op;
    int rc = xencall1(pr->xcall, __HYPERVISOR_domctl, (uint64_t)(uintptr_t)pr->dc);
    int e = rc < 0 ? (errno ? errno : EIO) : 0;
    *op = pr->dc->u.prof;
    return rc < 0 ? -e : 0;
}

static int simple_op(struct dmp_profiler *pr, uint32_t domid, uint32_t which, uint32_t slots)
{
    struct dmp_trap_profile_op op = { .op = which, .slots = slots };
    return dmp_profiler_raw(pr, domid, &op);
}

int dmp_profiler_enable(struct dmp_profiler *pr, uint32_t domid, uint32_t slots)
{
    return simple_op(pr, domid, DMP_TRAP_PROFILE_ENABLE, slots);
}

int dmp_profiler_disable(struct dmp_profiler *pr, uint32_t domid)
{
    return simple_op(pr, domid, DMP_TRAP_PROFILE_DISABLE, 0);
}

int dmp_profiler_reset(struct dmp_profiler *pr, uint32_t domid)
{
    return simple_op(pr, domid, DMP_TRAP_PROFILE_RESET, 0);
}

int dmp_profiler_read(struct dmp_profiler *pr, uint32_t domid, uint32_t nr_vcpus,
                      struct dmp_profile *out)
{
    int rc = 0;
    dmp_profile_init(out);
    out->domid = domid;
    out->nr_vcpus = nr_vcpus;
    for (uint32_t v = 0; v < nr_vcpus; v++) {
        /* A table holds at most its slot count: one read with a full-size buffer suffices,
         * and Xen reports how many entries it had if the buffer was short anyway. */
        struct dmp_trap_profile_op op = { .op = DMP_TRAP_PROFILE_READ, .vcpu = v };
        rc = dmp_profiler_raw(pr, domid, &op);   /* size query: learns slots */
        if (rc != 0)
            goto fail;
        struct dmp_trap_entry *b = dmp_profiler_buffer(pr, op.slots);
        if (!b) {
            rc = -ENOMEM;
            goto fail;
        }
        op = (struct dmp_trap_profile_op){ .op = DMP_TRAP_PROFILE_READ, .vcpu = v,
                                           .nr_entries = op.slots,
                                           .buffer = (uint64_t)(uintptr_t)b };
        size_t cap = op.nr_entries;
        if ((rc = dmp_profiler_raw(pr, domid, &op)) != 0)
            goto fail;
        size_t got = op.nr_entries < cap ? op.nr_entries : cap;
        if (op.nr_entries > cap)
            out->truncated = true;
        out->slots = op.slots;
        if ((rc = dmp_profile_merge(out, b, got, op.totals, op.overflow)) != 0)
            goto fail;
    }
    return 0;
fail:
    dmp_profile_free(out);
    return rc;
}
