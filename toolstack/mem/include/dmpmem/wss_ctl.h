/* Dom0 side of the hypervisor's access-sampling primitive (XEN_DOMCTL_dmp_wss, added by
 * xen-patches/0002-dmp-wss-access-sampling.patch, HAP by accessed bits since 0008): arm a
 * sorted list of guest frames (revoke the guest's access), later harvest which of them the
 * guest touched. Works for HVM/PVH guests in shadow mode and with HAP on AMD NPT. The
 * operation, its inputs and errors: docs/INTERFACES.md.
 *
 * Every function returns 0 or a negative errno; errno is left set to the same value, for
 * callers that read it. */
#ifndef DMP_WSS_CTL_H
#define DMP_WSS_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "dmpxen/abi.h"

struct xc_interface_core;

#define DMP_WSS_CTL_MAX DMP_WSS_MAX        /* XEN_DOMCTL_DMP_WSS_MAX */

struct dmp_wss_ctl;

/* Open the hypercall interface; fails with a clear message if the running hypervisor is not
 * a DMP build (xen_extra lacks "-dmp": -ENOSYS) or cannot be reached. */
int dmp_wss_ctl_open(struct dmp_wss_ctl **out, struct xc_interface_core *xch, char *err,
                     size_t errlen);
void dmp_wss_ctl_close(struct dmp_wss_ctl *c);

/* Arm n (1..DMP_WSS_CTL_MAX) strictly ascending gfns. *armed: how many were RAM and armed.
 * -EOPNOTSUPP: PV guest or HAP on EPT; -EINVAL: bad list. */
int dmp_wss_ctl_arm(struct dmp_wss_ctl *c, uint32_t domid, const uint64_t *gfns, uint32_t n,
                    uint32_t *armed);

/* Results for the last armed set: state[i] 1 touched, 0 not touched, 2 not armed
 * (state may be NULL). -ENODATA: nothing armed; -ENOBUFS: another sampler's larger set. */
int dmp_wss_ctl_harvest(struct dmp_wss_ctl *c, uint32_t domid, uint8_t *state, uint32_t cap,
                        uint32_t *armed, uint32_t *touched);

int dmp_wss_ctl_disable(struct dmp_wss_ctl *c, uint32_t domid);

#endif
