#include "dmpxen/xen_build.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <xenctrl.h>

int dmp_xen_is_dmp_build(struct xc_interface_core *xchc, char *extra, size_t len)
{
    xen_extraversion_t ev;
    memset(ev, 0, sizeof(ev));
    if (xc_version((xc_interface *)xchc, XENVER_extraversion, &ev) < 0)
        return -(errno ? errno : EIO);
    ev[sizeof(ev) - 1] = '\0';
    if (extra)
        snprintf(extra, len, "%s", ev);
    return strstr(ev, "-dmp") != NULL;
}

int dmp_xen_require_dmp_build(const char *feature, char *err, size_t errlen)
{
    xc_interface *xch = xc_interface_open(NULL, NULL, 0);
    if (!xch) {
        int e = errno ? errno : EIO;
        snprintf(err, errlen, "cannot open the Xen control interface: %s", strerror(e));
        return -e;
    }
    xen_extraversion_t extra;
    int v = xc_version(xch, XENVER_version, NULL);
    int isdmp = dmp_xen_is_dmp_build((struct xc_interface_core *)xch, extra, sizeof(extra));
    xc_interface_close(xch);
    if (isdmp < 0) {
        snprintf(err, errlen, "cannot read the hypervisor version: %s", strerror(-isdmp));
        return isdmp;
    }
    if (!isdmp) {
        snprintf(err, errlen,
                 "the running hypervisor (Xen %d.%d%s) is not the DMP build: xen_extra lacks "
                 "'-dmp', so it has no %s", v >> 16, v & 0xffff, extra, feature);
        return -ENOTSUP;
    }
    return 0;
}
