/* Domains named the way xl users name them: by name or by numeric id. */
#ifndef DMP_DOMAIN_H
#define DMP_DOMAIN_H

#include <stddef.h>
#include <stdint.h>

struct xs_handle;

#define DMP_DOMAIN_NAME_MAX 128

/* Resolve "web", "3" or "0x3" to a domid using xenstore (/local/domain/<id>/name).
 * A spec that is all digits is an id and must exist. Returns 0, or -ESRCH with a message in
 * err naming the spec ("no domain named 'web'", "domain 7 does not exist"), -EINVAL for an
 * empty spec, another -errno when xenstore cannot be read. name may be NULL. */
int dmp_domain_resolve(struct xs_handle *xs, const char *spec, uint32_t *domid,
                       char *name, size_t namelen, char *err, size_t errlen);

/* List running domains (ids ascending). Returns the count or -errno (errno is set too, for
 * callers that read it); *ids is malloc'd. */
int dmp_domain_list(struct xs_handle *xs, uint32_t **ids);

#endif
