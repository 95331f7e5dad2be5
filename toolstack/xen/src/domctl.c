/* Our domctls through libxencall (dmpxen/domctl.h). */
#include "dmpxen/domctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xencall.h>
#include <xenctrl.h>

#include "dmpcommon/util.h"

/* The header of our mirror must be Xen's own: the hypervisor reads cmd, version and domain
 * at these offsets and copies exactly sizeof(struct xen_domctl) bytes. */
_Static_assert(sizeof(struct dmp_xen_domctl) == sizeof(struct xen_domctl), "domctl size");
_Static_assert(offsetof(struct dmp_xen_domctl, cmd) == offsetof(struct xen_domctl, cmd),
               "domctl cmd");
_Static_assert(offsetof(struct dmp_xen_domctl, interface_version) ==
               offsetof(struct xen_domctl, interface_version), "domctl version");
_Static_assert(offsetof(struct dmp_xen_domctl, domain) == offsetof(struct xen_domctl, domain),
               "domctl domain");
_Static_assert(offsetof(struct dmp_xen_domctl, u) == offsetof(struct xen_domctl, u),
               "domctl union");
_Static_assert(sizeof(((struct xen_domctl *)0)->u.pad) == DMP_XEN_DOMCTL_UNION_SIZE,
               "domctl union size");

struct dmp_domctl {
    xencall_handle *xcall;
    struct dmp_xen_domctl *dc;      /* hypercall buffer */
};

const char *dmp_domctl_name(uint32_t cmd)
{
    switch (cmd) {
    case DMP_XEN_DOMCTL_WSS: return "dmp_wss";
    case DMP_XEN_DOMCTL_TRAP_PROFILE: return "dmp_trap_profile";
    case DMP_XEN_DOMCTL_FASTPATH: return "dmp_fastpath";
    default: return NULL;
    }
}

int dmp_domctl_open(struct dmp_domctl **out, char *err, size_t errlen)
{
    *out = NULL;
    struct dmp_domctl *h = calloc(1, sizeof(*h));
    if (!h)
        return dmp_errf(err, errlen, -ENOMEM, "out of memory");
    h->xcall = xencall_open(NULL, 0);
    if (!h->xcall) {
        int e = errno ? errno : EIO;
        free(h);
        return dmp_errf(err, errlen, -e, "cannot open libxencall: %s", strerror(e));
    }
    h->dc = xencall_alloc_buffer(h->xcall, sizeof(*h->dc));
    if (!h->dc) {
        xencall_close(h->xcall);
        free(h);
        return dmp_errf(err, errlen, -ENOMEM, "cannot allocate a hypercall buffer");
    }
    *out = h;
    return 0;
}

void dmp_domctl_close(struct dmp_domctl *h)
{
    if (!h)
        return;
    xencall_free_buffer(h->xcall, h->dc);
    xencall_close(h->xcall);
    free(h);
}

int dmp_domctl(struct dmp_domctl *h, uint32_t cmd, uint32_t domid, void *op, size_t oplen,
               char *err, size_t errlen)
{
    const char *name = dmp_domctl_name(cmd);
    if (domid > 0xffff)
        return dmp_errf(err, errlen, -EINVAL, "domain id %u out of range", domid);
    if (oplen > sizeof(h->dc->u))
        return dmp_errf(err, errlen, -EINVAL, "domctl %u: %zu-byte argument does not fit",
                        cmd, oplen);
    memset(h->dc, 0, sizeof(*h->dc));
    h->dc->cmd = cmd;
    h->dc->interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    h->dc->domain = (uint16_t)domid;
    memcpy(&h->dc->u, op, oplen);
    errno = 0;
    int rc = xencall1(h->xcall, __HYPERVISOR_domctl, (uint64_t)(uintptr_t)h->dc);
    int e = rc < 0 ? (errno ? errno : EIO) : 0;
    memcpy(op, &h->dc->u, oplen);
    if (rc < 0)
        return dmp_errf(err, errlen, -e, "domctl %s (%u) for domain %u: %s", name ? name : "?",
                        cmd, domid, strerror(e));
    return 0;
}

void *dmp_domctl_alloc(struct dmp_domctl *h, size_t bytes)
{
    return xencall_alloc_buffer(h->xcall, bytes ? bytes : 1);
}

void dmp_domctl_free(struct dmp_domctl *h, void *p)
{
    if (p)
        xencall_free_buffer(h->xcall, p);
}
