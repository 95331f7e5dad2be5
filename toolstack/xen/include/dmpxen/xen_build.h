/* Is the running hypervisor our build? Our domctl and hypercall numbers are free upstream,
 * but another hypervisor could give them a meaning one day, so every library that issues
 * them asks first. */
#ifndef DMP_XEN_BUILD_H
#define DMP_XEN_BUILD_H

#include <stddef.h>

struct xc_interface_core;

/* Whether the running hypervisor is a DMP build (xen_extra contains "-dmp"): 1 or 0, -errno
 * when the version cannot be read. Copies xen_extra into extra if not NULL. */
int dmp_xen_is_dmp_build(struct xc_interface_core *xch, char *extra, size_t len);

/* Open the control interface and require a DMP build: 0, or a negative errno with a message
 * naming what is missing ("... so it has no <feature>"; -ENOTSUP for another build). */
int dmp_xen_require_dmp_build(const char *feature, char *err, size_t errlen);

#endif
