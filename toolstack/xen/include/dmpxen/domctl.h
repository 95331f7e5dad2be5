/* Our domctls (dmpxen/abi.h) issued through libxencall: Debian's libxenctrl does not know
 * them, so the request is laid out here, in hypercall-safe (bounce) memory, with the domctl
 * interface version of the libxenctrl we build against. One handle per user; every call
 * returns 0 or -errno as Xen reports it, with a message in (err, errlen) (either may be
 * NULL/0). The users check first that the running hypervisor is our build
 * (dmpxen/xen_build.h): our numbers are free upstream today, not reserved. */
#ifndef DMP_XEN_DOMCTL_H
#define DMP_XEN_DOMCTL_H

#include <stddef.h>
#include <stdint.h>

#include "dmpxen/abi.h"

struct dmp_domctl;

/* Open libxencall and allocate the domctl buffer. 0, or -errno with a message. */
int dmp_domctl_open(struct dmp_domctl **out, char *err, size_t errlen);
void dmp_domctl_close(struct dmp_domctl *h);

/* Issue domctl cmd for domid with op (oplen bytes, at most DMP_XEN_DOMCTL_UNION_SIZE) as
 * the union member. op is updated from the union afterwards, also when Xen returns an error
 * (some ops report sizes with -EFAULT; an op Xen did not copy back comes back unchanged).
 * 0, or -errno: Xen's error, -EINVAL for a domid above 0xffff (it would be truncated into
 * another domain's id) or an oversized op. The message names the domctl and the domain. */
int dmp_domctl(struct dmp_domctl *h, uint32_t cmd, uint32_t domid, void *op, size_t oplen,
               char *err, size_t errlen);

/* Hypercall-safe memory for the buffers a domctl's guest handles point at (bounce buffers).
 * Freed with dmp_domctl_free before the handle is closed. NULL when out of memory. */
void *dmp_domctl_alloc(struct dmp_domctl *h, size_t bytes);
void dmp_domctl_free(struct dmp_domctl *h, void *p);

/* The name of one of our domctl numbers ("dmp_wss", ...) or NULL. */
const char *dmp_domctl_name(uint32_t cmd);

#endif
