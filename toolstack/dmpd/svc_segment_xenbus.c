/* dmpd segment service: the xenbus device of an attachment. dom0 writes the backend half in
 * its own area and the frontend half in the guest's; the guest's dmpseg driver follows the
 * xenbus state machine from there (docs/SEGMENTS.md). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmpcommon/clock.h"
#include "dmpcommon/util.h"
#include "dmpsegback-abi.h"
#include "svc_segment.h"

void seg_be_path(const struct attachment *a, const char *key, char *buf, size_t len)
{
    snprintf(buf, len, "/local/domain/0/backend/dmpseg/%u/%u%s%s", a->domid, a->devid, key ? "/" : "",
             key ? key : "");
}

void seg_fe_path(const struct attachment *a, const char *key, char *buf, size_t len)
{
    snprintf(buf, len, "/local/domain/%u/device/dmpseg/%u%s%s", a->domid, a->devid, key ? "/" : "",
             key ? key : "");
}

int seg_xs_printf(struct xs_handle *xs, xs_transaction_t t, const char *path, const char *fmt, ...)
{
    char val[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    return xs_write(xs, t, path, val, strlen(val)) ? 0 : -1;
}

int seg_xb_state(struct xs_handle *xs, const char *path)
{
    unsigned int len;
    char *v = xs_read(xs, XBT_NULL, path, &len);
    uint64_t st = XB_UNKNOWN;
    if (v && dmp_parse_u64(v, &st) != 0)
        st = XB_UNKNOWN;
    free(v);
    return (int)st;
}

bool seg_domain_exists(struct xs_handle *xs, uint32_t domid)
{
    char path[64];
    unsigned int len;
    snprintf(path, sizeof(path), "/local/domain/%u/name", domid);
    char *v = xs_read(xs, XBT_NULL, path, &len);
    free(v);
    return v != NULL;
}

unsigned int seg_pick_devid(struct xs_handle *xs, uint32_t domid, const struct segsvc *s)
{
    char path[64];
    snprintf(path, sizeof(path), "/local/domain/%u/device/dmpseg", domid);
    unsigned int n = 0;
    char **ents = xs_directory(xs, XBT_NULL, path, &n);
    for (unsigned int id = 0; id < 1024; id++) {
        bool used = false;
        for (unsigned int i = 0; i < n && !used; i++) {
            uint64_t v;
            used = dmp_parse_u64(ents[i], &v) == 0 && v == id;
        }
        for (int k = 0; k < s->nseg && !used; k++)
            for (int a = 0; a < s->seg[k].natt; a++)
                used |= s->seg[k].att[a].domid == domid && s->seg[k].att[a].devid == id;
        if (!used) {
            free(ents);
            return id;
        }
    }
    free(ents);
    return 1024;
}

int seg_publish(struct xs_handle *xs, const struct segment *g, const struct attachment *a,
                const uint32_t *dir_refs, unsigned int nr_dir)
{
    char be[128], fe[128], p[192];
    seg_be_path(a, NULL, be, sizeof(be));
    seg_fe_path(a, NULL, fe, sizeof(fe));
    /* Backend: dom0's, readable by the guest. Frontend: the guest's, readable by dom0. */
    struct xs_permissions beperm[2] = { { .id = 0, .perms = XS_PERM_NONE },
                                        { .id = a->domid, .perms = XS_PERM_READ } };
    struct xs_permissions feperm[2] = { { .id = a->domid, .perms = XS_PERM_NONE },
                                        { .id = 0, .perms = XS_PERM_READ } };
    for (int attempt = 0; attempt < 5; attempt++) {
        xs_transaction_t t = xs_transaction_start(xs);
        if (t == XBT_NULL)
            return -errno;
        bool ok = xs_mkdir(xs, t, be) && xs_set_permissions(xs, t, be, beperm, 2);
        snprintf(p, sizeof(p), "/local/domain/%u/device/dmpseg", a->domid);
        ok = ok && xs_mkdir(xs, t, p) && xs_set_permissions(xs, t, p, feperm, 2);
        ok = ok && xs_mkdir(xs, t, fe) && xs_set_permissions(xs, t, fe, feperm, 2);
#define W(base, key, ...) (snprintf(p, sizeof(p), "%s/%s", base, key), seg_xs_printf(xs, t, p, __VA_ARGS__) == 0)
        ok = ok && W(be, "frontend", "%s", fe) && W(be, "frontend-id", "%u", a->domid) &&
             W(be, "online", "1") && W(be, "name", "%s", g->def.name) &&
             W(be, "size", "%llu", (unsigned long long)g->def.size) && W(be, "ro", "%d", a->ro) &&
             W(be, "nr-pages", "%llu", (unsigned long long)(g->def.size / DMP_SEG_PAGE)) &&
             W(be, "nr-ref-pages", "%u", nr_dir);
        for (unsigned int i = 0; ok && i < nr_dir; i++) {
            char key[32];
            snprintf(key, sizeof(key), "ref-page-%u", i);
            ok = W(be, key, "%u", dir_refs[i]);
        }
        ok = ok && W(be, "state", "%d", XB_INITWAIT) && W(fe, "backend", "%s", be) &&
             W(fe, "backend-id", "0") && W(fe, "state", "%d", XB_INITIALISING);
#undef W
        if (!ok) {
            int e = errno;
            xs_transaction_end(xs, t, true);
            return -e;
        }
        if (xs_transaction_end(xs, t, false))
            return 0;
        if (errno != EAGAIN)
            return -errno;
    }
    return -EAGAIN;
}

void seg_unpublish(struct xs_handle *xs, const struct attachment *a)
{
    char p[128];
    seg_fe_path(a, NULL, p, sizeof(p));
    xs_rm(xs, XBT_NULL, p);
    seg_be_path(a, NULL, p, sizeof(p));
    xs_rm(xs, XBT_NULL, p);
}

int seg_wait_frontend(struct xs_handle *xs, const struct attachment *a, int want, int wait_ms)
{
    char p[128];
    seg_fe_path(a, "state", p, sizeof(p));
    int st = XB_UNKNOWN;
    /* Deadline by the clock: on a loaded host each xenstore round trip takes a while too. */
    uint64_t deadline = dmp_mono_ms() + (uint64_t)wait_ms;
    for (int polls = 0; polls <= MAX_WAIT_MS / POLL_MS; polls++) {
        st = seg_xb_state(xs, p);
        if (st == want || (want == XB_CONNECTED && st >= XB_CLOSING) ||
            (want == XB_CLOSED && (st == XB_UNKNOWN || !seg_domain_exists(xs, a->domid))))
            return st;
        if (dmp_mono_ms() >= deadline)
            break;
        usleep(POLL_MS * 1000);
    }
    return st;
}
