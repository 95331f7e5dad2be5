/* XEN_DOMCTL_dmp_wss through the domctl helper (dmpxen/domctl.h): Debian's libxenctrl does
 * not know our domctl; its layout is dmpxen/abi.h's struct dmp_wss_op. */
#include "dmpmem/wss_ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmpcommon/util.h"
#include "dmpxen/domctl.h"
#include "dmpxen/xen_build.h"

struct dmp_wss_ctl {
    struct dmp_domctl *dc;
    uint64_t *gfns;             /* hypercall-safe buffers of DMP_WSS_MAX entries */
    uint8_t *state;
};

/* The callers written before the -errno contract read errno after a failure: keep it set. */
static int fail(int rc)
{
    errno = -rc;
    return rc;
}

int dmp_wss_ctl_open(struct dmp_wss_ctl **out, struct xc_interface_core *xch, char *err,
                     size_t errlen)
{
    *out = NULL;
    char extra[32];
    int isdmp = dmp_xen_is_dmp_build(xch, extra, sizeof(extra));
    if (isdmp < 0)
        return fail(dmp_errf(err, errlen, isdmp, "cannot read the Xen version: %s",
                             strerror(-isdmp)));
    if (!isdmp)
        return fail(dmp_errf(err, errlen, -ENOSYS, "the running hypervisor (xen_extra '%s') is "
                             "not a DMP build: working-set sampling needs xen-patches/ applied",
                             extra));
    struct dmp_wss_ctl *c = calloc(1, sizeof(*c));
    if (!c)
        return fail(dmp_errf(err, errlen, -ENOMEM, "out of memory"));
    int rc = dmp_domctl_open(&c->dc, err, errlen);
    if (rc) {
        free(c);
        return fail(rc);
    }
    c->gfns = dmp_domctl_alloc(c->dc, DMP_WSS_MAX * sizeof(uint64_t));
    c->state = dmp_domctl_alloc(c->dc, DMP_WSS_MAX);
    if (!c->gfns || !c->state) {
        dmp_wss_ctl_close(c);
        return fail(dmp_errf(err, errlen, -ENOMEM, "cannot allocate hypercall buffers"));
    }
    *out = c;
    return 0;
}

void dmp_wss_ctl_close(struct dmp_wss_ctl *c)
{
    if (!c)
        return;
    dmp_domctl_free(c->dc, c->gfns);
    dmp_domctl_free(c->dc, c->state);
    dmp_domctl_close(c->dc);
    free(c);
}

static int call(struct dmp_wss_ctl *c, uint32_t domid, struct dmp_wss_op *op)
{
    int rc = dmp_domctl(c->dc, DMP_XEN_DOMCTL_WSS, domid, op, sizeof(*op), NULL, 0);
    return rc ? fail(rc) : 0;
}

int dmp_wss_ctl_arm(struct dmp_wss_ctl *c, uint32_t domid, const uint64_t *gfns, uint32_t n,
                    uint32_t *armed)
{
    if (n == 0 || n > DMP_WSS_MAX)
        return fail(-EINVAL);
    memcpy(c->gfns, gfns, n * sizeof(*gfns));
    struct dmp_wss_op op = { .op = DMP_WSS_ARM, .nr = n, .gfns = (uint64_t)(uintptr_t)c->gfns,
                             .state = (uint64_t)(uintptr_t)c->state };
    int rc = call(c, domid, &op);
    if (rc)
        return rc;
    if (armed)
        *armed = op.armed;
    return 0;
}

int dmp_wss_ctl_harvest(struct dmp_wss_ctl *c, uint32_t domid, uint8_t *state, uint32_t cap,
                        uint32_t *armed, uint32_t *touched)
{
    struct dmp_wss_op op = { .op = DMP_WSS_HARVEST, .nr = DMP_WSS_MAX,
                             .state = (uint64_t)(uintptr_t)c->state };
    int rc = call(c, domid, &op);
    if (rc)
        return rc;
    if (state)
        memcpy(state, c->state, op.nr < cap ? op.nr : cap);
    if (armed)
        *armed = op.armed;
    if (touched)
        *touched = op.touched;
    return 0;
}

int dmp_wss_ctl_disable(struct dmp_wss_ctl *c, uint32_t domid)
{
    struct dmp_wss_op op = { .op = DMP_WSS_DISABLE };
    return call(c, domid, &op);
}
