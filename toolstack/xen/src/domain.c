#include "dmpxen/domain.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#include "dmpcommon/util.h"

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Callers written before the -errno contract read errno after a failure: keep it set. */
static int fail(int e)
{
    errno = e;
    return -e;
}

int dmp_domain_list(struct xs_handle *xs, uint32_t **ids)
{
    unsigned int n;
    char **dirs = xs_directory(xs, XBT_NULL, "/local/domain", &n);
    if (!dirs)
        return fail(errno ? errno : EIO);
    uint32_t *out = calloc(n ? n : 1, sizeof(*out));
    if (!out) {
        free(dirs);
        return fail(ENOMEM);
    }
    int k = 0;
    for (unsigned int i = 0; i < n; i++) {
        uint64_t v;
        if (dmp_parse_u64(dirs[i], &v) == 0 && v < 0x7ff0)   /* DOMID_FIRST_RESERVED */
            out[k++] = (uint32_t)v;
    }
    free(dirs);
    qsort(out, (size_t)k, sizeof(*out), cmp_u32);
    *ids = out;
    return k;
}

static char *domain_name(struct xs_handle *xs, uint32_t domid)
{
    char path[64];
    unsigned int len;
    snprintf(path, sizeof(path), "/local/domain/%u/name", domid);
    return xs_read(xs, XBT_NULL, path, &len);
}

int dmp_domain_resolve(struct xs_handle *xs, const char *spec, uint32_t *domid,
                       char *name, size_t namelen, char *err, size_t errlen)
{
    uint64_t v;
    if (!spec || !*spec)
        return dmp_errf(err, errlen, -EINVAL, "empty domain name");
    if (isdigit((unsigned char)spec[0]) && dmp_parse_u64(spec, &v) == 0) {
        char *nm = v < 0x7ff0 ? domain_name(xs, (uint32_t)v) : NULL;
        if (!nm)
            return dmp_errf(err, errlen, -ESRCH, "domain %s does not exist", spec);
        *domid = (uint32_t)v;
        if (name)
            snprintf(name, namelen, "%s", nm);
        free(nm);
        return 0;
    }
    uint32_t *ids;
    int n = dmp_domain_list(xs, &ids);
    if (n < 0)
        return dmp_errf(err, errlen, n, "cannot list domains in xenstore: %s", strerror(-n));
    int found = -1;
    for (int i = 0; i < n && found < 0; i++) {
        char *nm = domain_name(xs, ids[i]);
        if (nm && strcmp(nm, spec) == 0)
            found = i;
        free(nm);
    }
    if (found < 0) {
        free(ids);
        return dmp_errf(err, errlen, -ESRCH, "no domain named '%s'", spec);
    }
    *domid = ids[found];
    free(ids);
    if (name)
        snprintf(name, namelen, "%s", spec);
    return 0;
}
