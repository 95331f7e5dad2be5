/* dom0 side of the hypervisor fast path: XEN_DOMCTL_dmp_fastpath through the domctl helper. */
#include "dmp/fastpath.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dmpcommon/json.h"
#include "dmpcommon/util.h"
#include "dmpxen/domctl.h"
#include "dmpxen/xen_build.h"

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
    /* Before the build check, as always: a bad id is the caller's mistake on any Xen. */
    if (domid > 0xffff)
        return dmp_errf(err, errlen, -EINVAL, "domain id %u out of range", domid);
    int rc = dmp_xen_require_dmp_build("fast path", err, errlen);
    struct dmp_domctl *dc = NULL;
    if (rc == 0)
        rc = dmp_domctl_open(&dc, err, errlen);
    if (rc)
        return rc;
    struct dmp_fastpath_op_arg a = { .op = (uint32_t)op };
    rc = dmp_domctl(dc, DMP_XEN_DOMCTL_FASTPATH, domid, &a, sizeof(a), err, errlen);
    dmp_domctl_close(dc);
    if (rc == -EOPNOTSUPP)
        return dmp_errf(err, errlen, rc, "domain %u: no fast path (it is PV or uses HAP)", domid);
    if (rc)
        return dmp_errf(err, errlen, rc, "domain %u: fast path op %d failed: %s", domid, (int)op,
                        strerror(-rc));
    st->enabled = a.enabled != 0;
    st->stores = a.stores;
    st->flushes = a.flushes;
    memcpy(st->rejected, a.rejected, sizeof(st->rejected));
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
