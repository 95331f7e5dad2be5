/* Raw XEN_DOMCTL_dmp_wss calls through libxencall: Debian's libxenctrl does not know our
 * domctl, so the request is laid out here, in the domctl's generic union, exactly as the
 * patched public/domctl.h defines it. */
#include "dmpmem/wss_ctl.h"
#include "dmpxen/xen_build.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xencall.h>
#include <xenctrl.h>

#define XEN_DOMCTL_dmp_wss 0x4d57
#define WSS_ARM 1
#define WSS_HARVEST 2
#define WSS_DISABLE 3

/* Mirror of struct xen_domctl_dmp_wss (xen-patches/0002): handles are 64-bit guest
 * addresses (XEN_GUEST_HANDLE_64). */
struct wss_op {
    uint32_t op;
    uint32_t nr;
    uint32_t armed;
    uint32_t touched;
    uint64_t gfns;
    uint64_t state;
};
_Static_assert(sizeof(struct wss_op) == 32, "domctl layout");
_Static_assert(sizeof(struct wss_op) <= sizeof(((struct xen_domctl *)0)->u.pad), "fits");

struct dmp_wss_ctl {
    xencall_handle *xcall;
    struct xen_domctl *dom;     /* hypercall-safe buffers */
    uint64_t *gfns;
    uint8_t *state;
};

int dmp_wss_ctl_open(struct dmp_wss_ctl **out, struct xc_interface_core *xch, char *err,
                     size_t errlen)
{
    char extra[32];
    int isdmp = dmp_xen_is_dmp_build(xch, extra, sizeof(extra));
    if (isdmp < 0) {
        snprintf(err, errlen, "cannot read the Xen version: %s", strerror(errno));
        return -1;
    }
    if (!isdmp) {
        snprintf(err, errlen, "the running hypervisor (xen_extra '%s') is not a DMP build: "
                 "working-set sampling needs xen-patches/ applied", extra);
        errno = ENOSYS;
        return -1;
    }
    struct dmp_wss_ctl *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->xcall = xencall_open(NULL, 0);
    if (!c->xcall) {
        snprintf(err, errlen, "xencall_open: %s", strerror(errno));
        free(c);
        return -1;
    }
    c->dom = xencall_alloc_buffer(c->xcall, sizeof(*c->dom));
    c->gfns = xencall_alloc_buffer(c->xcall, DMP_WSS_CTL_MAX * sizeof(uint64_t));
    c->state = xencall_alloc_buffer(c->xcall, DMP_WSS_CTL_MAX);
    if (!c->dom || !c->gfns || !c->state) {
        snprintf(err, errlen, "cannot allocate hypercall buffers");
        dmp_wss_ctl_close(c);
        errno = ENOMEM;
        return -1;
    }
    *out = c;
    return 0;
}

void dmp_wss_ctl_close(struct dmp_wss_ctl *c)
{
    if (!c)
        return;
    if (c->dom)
        xencall_free_buffer(c->xcall, c->dom);
    if (c->gfns)
        xencall_free_buffer(c->xcall, c->gfns);
    if (c->state)
        xencall_free_buffer(c->xcall, c->state);
    xencall_close(c->xcall);
    free(c);
}

static int call(struct dmp_wss_ctl *c, uint32_t domid, struct wss_op *op)
{
    memset(c->dom, 0, sizeof(*c->dom));
    c->dom->cmd = XEN_DOMCTL_dmp_wss;
    c->dom->interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    c->dom->domain = (domid_t)domid;
    memcpy(c->dom->u.pad, op, sizeof(*op));
    int rc = xencall1(c->xcall, __HYPERVISOR_domctl, (uint64_t)(uintptr_t)c->dom);
    if (rc < 0)
        return -1;
    memcpy(op, c->dom->u.pad, sizeof(*op));
    return 0;
}

int dmp_wss_ctl_arm(struct dmp_wss_ctl *c, uint32_t domid, const uint64_t *gfns, uint32_t n,
                    uint32_t *armed)
{
    if (n == 0 || n > DMP_WSS_CTL_MAX) {
        errno = EINVAL;
        return -1;
    }
    memcpy(c->gfns, gfns, n * sizeof(*gfns));
    struct wss_op op = { .op = WSS_ARM, .nr = n, .gfns = (uint64_t)(uintptr_t)c->gfns,
                         .state = (uint64_t)(uintptr_t)c->state };
    if (call(c, domid, &op) < 0)
        return -1;
    if (armed)
        *armed = op.armed;
    return 0;
}

int dmp_wss_ctl_harvest(struct dmp_wss_ctl *c, uint32_t domid, uint8_t *state, uint32_t cap,
                        uint32_t *armed, uint32_t *touched)
{
    struct wss_op op = { .op = WSS_HARVEST, .nr = DMP_WSS_CTL_MAX,
                         .state = (uint64_t)(uintptr_t)c->state };
    if (call(c, domid, &op) < 0)
        return -1;
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
    struct wss_op op = { .op = WSS_DISABLE };
    return call(c, domid, &op);
}
