/* Domains named the way xl users name them: by name or by numeric id. */
#ifndef DMP_DOMAIN_H
#define DMP_DOMAIN_H

#include <stddef.h>
#include <stdint.h>

struct xs_handle;

#define DMP_DOMAIN_NAME_MAX 128

/* Resolve "web", "3" or "0x3" to a domid using xenstore (/local/domain/<id>/name).
 * A spec that is all digits is an id and must exist. Returns 0, or a negative errno with a
 * message in err naming the spec: -ESRCH ("no domain named 'web'", "domain 7 does not exist"),
 * -EINVAL (empty), or the error of listing the domains. name may be NULL. */
int dmp_domain_resolve(struct xs_handle *xs, const char *spec, uint32_t *domid,
                       char *name, size_t namelen, char *err, size_t errlen);

/* List running domains (ids ascending). Returns the count with *ids malloc'd, or a negative
 * errno (xenstore unreadable, -ENOMEM). */
int dmp_domain_list(struct xs_handle *xs, uint32_t **ids);

#endif
