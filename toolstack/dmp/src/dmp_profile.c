/* The trap profiler's control operation (XEN_DOMCTL_dmp_trap_profile, our hypervisor patch),
 * through the domctl helper because Debian's libxenctrl does not know it. */
#include "dmp/profile.h"

#include <errno.h>
#include <stdlib.h>

#include "dmpcommon/util.h"
#include "dmpxen/domctl.h"
#include "dmpxen/xen_build.h"

struct dmp_profiler {
    struct dmp_domctl *dc;
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
    if (!pr)
        return dmp_errf(err, errlen, -ENOMEM, "out of memory");
    rc = dmp_domctl_open(&pr->dc, err, errlen);
    if (rc) {
        free(pr);
        return rc;
    }
    *out = pr;
    return 0;
}

void dmp_profiler_close(struct dmp_profiler *pr)
{
    if (!pr)
        return;
    dmp_domctl_free(pr->dc, pr->buf);
    dmp_domctl_close(pr->dc);
    free(pr);
}

struct dmp_trap_entry *dmp_profiler_buffer(struct dmp_profiler *pr, size_t nr)
{
    if (nr <= pr->buf_nr && pr->buf)
        return pr->buf;
    if (nr > DMP_TRAP_PROFILE_MAX_SLOTS)
        return NULL;
    struct dmp_trap_entry *b = dmp_domctl_alloc(pr->dc, (nr ? nr : 1) * sizeof(*b));
    if (!b)
        return NULL;
    dmp_domctl_free(pr->dc, pr->buf);
    pr->buf = b;
    pr->buf_nr = nr;
    return b;
}

int dmp_profiler_raw(struct dmp_profiler *pr, uint32_t domid, struct dmp_trap_profile_op *op)
{
    return dmp_domctl(pr->dc, DMP_XEN_DOMCTL_TRAP_PROFILE, domid, op, sizeof(*op), NULL, 0);
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
