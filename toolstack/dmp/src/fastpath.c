/* dom0 side of the hypervisor fast path: XEN_DOMCTL_dmp_fastpath through libxencall. */
#include "dmp/fastpath.h"
#include "dmpxen/xen_build.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <xencall.h>
#include <xenctrl.h>

#include "dmpcommon/json.h"

/* struct xen_domctl with our member in the union: the header fields must match Xen's. */
struct fp_domctl {
    uint32_t cmd;
    uint32_t interface_version;
    uint16_t domain;
    uint16_t pad[3];
    union {
        struct dmp_fastpath_op_arg fp;
        uint8_t pad[128];
    } u;
};
_Static_assert(sizeof(struct fp_domctl) == sizeof(struct xen_domctl), "domctl size");
_Static_assert(offsetof(struct fp_domctl, u) == offsetof(struct xen_domctl, u), "domctl union");
_Static_assert(sizeof(struct dmp_fastpath_op_arg) == 88, "op layout as Xen's");

static const char *const reject_names[DMP_FP_REJ_NR] = {
    [DMP_FP_REJ_DISABLED] = "disabled", [DMP_FP_REJ_OP] = "op", [DMP_FP_REJ_ARG] = "arg",
    [DMP_FP_REJ_FAULT] = "fault", [DMP_FP_REJ_MEMTYPE] = "memtype",
    [DMP_FP_REJ_MISMATCH] = "mismatch",
};

const char *dmp_fastpath_reject_name(unsigned i)
{
    return i < DMP_FP_REJ_NR ? reject_names[i] : NULL;
}

uint64_t dmp_fastpath_rejected_total(const struct dmp_fastpath_stats *st)
{
    uint64_t t = 0;
    for (unsigned i = 0; i < DMP_FP_REJ_NR; i++)
        t += st->rejected[i];
    return t;
}

int dmp_fastpath_ctl(uint32_t domid, enum dmp_fastpath_op op, struct dmp_fastpath_stats *st,
                     char *err, size_t errlen)
{
    memset(st, 0, sizeof(*st));
    if (domid > 0xffff) {
        snprintf(err, errlen, "domain id %u out of range", domid);
        return -EINVAL;
    }
    int rc = dmp_xen_require_dmp_build("fast path", err, errlen);
    if (rc)
        return rc;
    xencall_handle *xcall = xencall_open(NULL, 0);
    if (!xcall) {
        int e = errno ? errno : EIO;
        snprintf(err, errlen, "cannot open libxencall: %s", strerror(e));
        return -e;
    }
    struct fp_domctl *dc = xencall_alloc_buffer(xcall, sizeof(*dc));
    if (!dc) {
        xencall_close(xcall);
        snprintf(err, errlen, "cannot allocate a hypercall buffer");
        return -ENOMEM;
    }
    memset(dc, 0, sizeof(*dc));
    dc->cmd = DMP_DOMCTL_FASTPATH;
    dc->interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    dc->domain = (uint16_t)domid;
    dc->u.fp.op = (uint32_t)op;
    rc = xencall1(xcall, __HYPERVISOR_domctl, (uint64_t)(uintptr_t)dc);
    int e = rc < 0 ? (errno ? errno : EIO) : 0;
    if (rc >= 0) {
        st->enabled = dc->u.fp.enabled != 0;
        st->stores = dc->u.fp.stores;
        st->flushes = dc->u.fp.flushes;
        memcpy(st->rejected, dc->u.fp.rejected, sizeof(st->rejected));
    }
    xencall_free_buffer(xcall, dc);
    xencall_close(xcall);
    if (rc < 0) {
        if (e == EOPNOTSUPP)
            snprintf(err, errlen, "domain %u: no fast path (it is PV or uses HAP)", domid);
        else
            snprintf(err, errlen, "domain %u: fast path op %d failed: %s", domid, (int)op,
                     strerror(e));
        return -e;
    }
    return 0;
}

void dmp_fastpath_stats_json(struct dmp_json *js, const struct dmp_fastpath_stats *st)
{
    dmp_json_obj_begin(js);
    DMP_JSON_KV(js, "enabled", dmp_json_bool, st->enabled);
    DMP_JSON_KV(js, "stores", dmp_json_u64, st->stores);
    DMP_JSON_KV(js, "flushes", dmp_json_u64, st->flushes);
    DMP_JSON_KV(js, "rejected_total", dmp_json_u64, dmp_fastpath_rejected_total(st));
    dmp_json_key(js, "rejected");
    dmp_json_obj_begin(js);
    for (unsigned i = 0; i < DMP_FP_REJ_NR; i++)
        if (reject_names[i])
            DMP_JSON_KV(js, reject_names[i], dmp_json_u64, st->rejected[i]);
    dmp_json_obj_end(js);
    dmp_json_obj_end(js);
}

void dmp_fastpath_stats_text(FILE *f, const struct dmp_fastpath_stats *st)
{
    fprintf(f,
            "fast path %s: %" PRIu64 " stores applied, %" PRIu64 " log flushes, %" PRIu64
            " calls rejected (",
            st->enabled ? "on" : "off", st->stores, st->flushes, dmp_fastpath_rejected_total(st));
    bool first = true;
    for (unsigned i = 0; i < DMP_FP_REJ_NR; i++)
        if (reject_names[i]) {
            fprintf(f, "%s%s %" PRIu64, first ? "" : ", ", reject_names[i], st->rejected[i]);
            first = false;
        }
    fprintf(f, ")\n");
}
