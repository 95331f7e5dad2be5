/* dmpd service "segment": the registry of named memory segments and the dom0 backend that
 * grants their pages to guests (docs/SEGMENTS.md).
 *
 * dmpd owns each segment's memory (a memfd) while any guest has it attached. An attach
 * grants the pages to that guest through /dev/dmpsegback (read-only grants for --ro) and
 * publishes a xenbus device (backend in dom0's area, frontend in the guest's) that the
 * guest's dmpseg driver connects to. A detach asks the guest to close, waits a bounded time
 * for it to unmap, and only then ends the grants; grants still mapped are never ended, and
 * the memory behind them stays pinned ("leaked but owned") until the guest lets go.
 *
 * Requests (args are single words; dmpctl builds them):
 *   create NAME BYTES shared|private persistent|transient
 *   destroy NAME | replace NAME | allow NAME DOMNAME | deny NAME DOMNAME
 *   attach DOM NAME ro|rw WAIT_MS | detach DOM NAME WAIT_MS | list [--json]
 *
 * This file holds the requests and the service interface; the xenbus device and what backs a
 * segment (memory, grants, registry) have files of their own (svc_segment.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <xenstore.h>

#include "dmpcli/cli.h"
#include "dmpcommon/json.h"
#include "dmpcommon/util.h"
#include "dmpsegback-abi.h"
#include "svc_segment.h"

static int req_create(struct segsvc *s, int argc, char **argv, FILE *out)
{
    char err[256];
    uint64_t size;
    if (argc != 5) {
        fprintf(out, "usage: create NAME BYTES shared|private persistent|transient\n");
        return DMP_EXIT_USAGE;
    }
    if (dmp_seg_name_check(argv[1], err, sizeof(err)) < 0 ||
        (dmp_parse_u64(argv[2], &size) < 0 && snprintf(err, sizeof(err), "size '%s' is not a number of bytes", argv[2])) ||
        dmp_seg_size_check(size, err, sizeof(err)) < 0) {
        fprintf(out, "%s\n", err);
        return DMP_EXIT_USAGE;
    }
    bool shared = strcmp(argv[3], "shared") == 0, persistent = strcmp(argv[4], "persistent") == 0;
    if ((!shared && strcmp(argv[3], "private")) || (!persistent && strcmp(argv[4], "transient"))) {
        fprintf(out, "bad mode '%s %s'\n", argv[3], argv[4]);
        return DMP_EXIT_USAGE;
    }
    if (seg_find(s, argv[1])) {
        fprintf(out, "segment '%s' already exists\n", argv[1]);
        return DMP_EXIT_FAIL;
    }
    if (s->nseg >= DMP_SEG_MAX_SEGMENTS) {
        fprintf(out, "the registry is full (%d segments)\n", DMP_SEG_MAX_SEGMENTS);
        return DMP_EXIT_FAIL;
    }
    struct segment *g = &s->seg[s->nseg];
    memset(g, 0, sizeof(*g));
    g->memfd = -1;
    snprintf(g->def.name, sizeof(g->def.name), "%s", argv[1]);
    g->def.size = size;
    g->def.shared = shared;
    g->def.persistent = persistent;
    s->nseg++;
    if (seg_save_registry(s, out) != 0) {
        s->nseg--;
        return DMP_EXIT_FAIL;
    }
    /* A stale image from an earlier segment of this name must not become its contents. */
    char path[600];
    seg_img_path(s, g->def.name, path, sizeof(path));
    unlink(path);
    dmpd_log(s->d, SVC, "create", "%s %llu bytes %s %s", g->def.name, (unsigned long long)size,
             argv[3], argv[4]);
    fprintf(out, "created segment %s: %llu bytes, %s, %s\n", g->def.name, (unsigned long long)size,
            argv[3], argv[4]);
    return DMP_EXIT_OK;
}

static int req_destroy(struct segsvc *s, int argc, char **argv, FILE *out)
{
    struct segment *g = argc == 2 ? seg_find(s, argv[1]) : NULL;
    if (!g) {
        fprintf(out, argc == 2 ? "no segment '%s'\n" : "usage: destroy NAME\n", argc == 2 ? argv[1] : "");
        return argc == 2 ? DMP_EXIT_FAIL : DMP_EXIT_USAGE;
    }
    if (g->natt) {
        fprintf(out, "segment '%s' is attached to %d domain(s) (first: %s); detach first\n", g->def.name,
                g->natt, g->att[0].domname);
        return DMP_EXIT_FAIL;
    }
    char path[600];
    seg_img_path(s, g->def.name, path, sizeof(path));
    struct segment gone = *g;
    *g = s->seg[--s->nseg];
    if (seg_save_registry(s, out) != 0) {
        s->seg[s->nseg++] = *g;
        *g = gone;
        return DMP_EXIT_FAIL;
    }
    unlink(path);
    free(gone.initial);
    dmpd_log(s->d, SVC, "destroy", "%s", gone.def.name);
    fprintf(out, "destroyed segment %s\n", gone.def.name);
    return DMP_EXIT_OK;
}

static int req_access(struct segsvc *s, int argc, char **argv, FILE *out, bool allow)
{
    char err[256];
    if (argc != 3) {
        fprintf(out, "usage: %s NAME DOMNAME\n", argv[0]);
        return DMP_EXIT_USAGE;
    }
    struct segment *g = seg_find(s, argv[1]);
    if (!g) {
        fprintf(out, "no segment '%s'\n", argv[1]);
        return DMP_EXIT_FAIL;
    }
    if (dmp_seg_domname_check(argv[2], err, sizeof(err)) < 0) {
        fprintf(out, "%s\n", err);
        return DMP_EXIT_USAGE;
    }
    struct dmp_seg_def before = g->def;
    int rc = allow ? dmp_seg_allow(&g->def, argv[2]) : dmp_seg_deny(&g->def, argv[2]);
    if (rc < 0) {
        fprintf(out, "access list of '%s' is full (%d domains)\n", argv[1], DMP_SEG_MAX_ALLOW);
        return DMP_EXIT_FAIL;
    }
    if (rc == 1) {
        fprintf(out, "domain '%s' is %s on the access list of '%s'\n", argv[2], allow ? "already" : "not",
                argv[1]);
        return DMP_EXIT_NOTHING;
    }
    if (seg_save_registry(s, out) != 0) {
        g->def = before;
        return DMP_EXIT_FAIL;
    }
    dmpd_log(s->d, SVC, allow ? "allow" : "deny", "%s %s", argv[1], argv[2]);
    fprintf(out, "%s %s %s segment %s%s\n", allow ? "allowed" : "denied", argv[2], allow ? "to attach" : "from",
            argv[1], !allow && g->natt ? " (existing attachments stay until detached)" : "");
    return DMP_EXIT_OK;
}

static int req_replace(struct segsvc *s, int argc, char **argv, FILE *out)
{
    struct segment *g = argc == 2 ? seg_find(s, argv[1]) : NULL;
    if (!g) {
        fprintf(out, argc == 2 ? "no segment '%s'\n" : "usage: replace NAME\n", argc == 2 ? argv[1] : "");
        return argc == 2 ? DMP_EXIT_FAIL : DMP_EXIT_USAGE;
    }
    if (!g->mem) {
        fprintf(out, "segment '%s' is not attached: its initial contents are already its contents\n",
                g->def.name);
        return DMP_EXIT_NOTHING;
    }
    struct dmp_seg_def before = g->def;
    if (g->def.persistent) {
        char path[600];
        seg_img_path(s, g->def.name, path, sizeof(path));
        int wrc = dmp_write_file_atomic(path, g->mem, g->def.size);
        if (wrc != 0) {
            fprintf(out, "cannot save segment '%s' to %s: %s\n", g->def.name, path, strerror(-wrc));
            return DMP_EXIT_FAIL;
        }
    } else {
        uint8_t *copy = malloc(g->def.size);
        if (!copy) {
            fprintf(out, "cannot snapshot segment '%s': out of memory\n", g->def.name);
            return DMP_EXIT_FAIL;
        }
        memcpy(copy, g->mem, g->def.size);
        /* The guests keep running: what they store during the copy may or may not be in the
         * snapshot, like a DCSS save. A difference here therefore only gets logged. */
        if (memcmp(copy, g->mem, g->def.size) != 0)
            dmpd_log(s->d, SVC, "replace-racing", "%s changed while it was being snapshotted", g->def.name);
        free(g->initial);
        g->initial = copy;
    }
    g->def.saved = true;
    if (!before.saved && seg_save_registry(s, out) != 0) {
        g->def = before;
        return DMP_EXIT_FAIL;
    }
    dmpd_log(s->d, SVC, "replace", "%s (%s)", g->def.name, g->def.persistent ? "saved to disk" : "in memory");
    fprintf(out, "segment %s: current contents are now its initial contents%s\n", g->def.name,
            g->def.persistent ? " (saved in the state directory)" : "");
    return DMP_EXIT_OK;
}

static int req_attach(struct segsvc *s, int argc, char **argv, FILE *out)
{
    char err[256], domname[DMP_DOMAIN_NAME_MAX];
    struct xs_handle *xs = dmpd_xs(s->d);
    uint64_t wait_ms;
    if (argc != 5 || (strcmp(argv[3], "ro") && strcmp(argv[3], "rw")) || dmp_parse_u64(argv[4], &wait_ms) ||
        wait_ms > MAX_WAIT_MS) {
        fprintf(out, "usage: attach DOM NAME ro|rw WAIT_MS (at most %d)\n", MAX_WAIT_MS);
        return DMP_EXIT_USAGE;
    }
    struct segment *g = seg_find(s, argv[2]);
    if (!g) {
        fprintf(out, "no segment '%s'\n", argv[2]);
        return DMP_EXIT_FAIL;
    }
    if (!xs) {
        fprintf(out, "dmpd runs without Xen (--no-xen): cannot attach\n");
        return DMP_EXIT_FAIL;
    }
    uint32_t domid;
    if (dmp_domain_resolve(xs, argv[1], &domid, domname, sizeof(domname), err, sizeof(err)) != 0) {
        fprintf(out, "%s\n", err);
        return DMP_EXIT_FAIL;
    }
    if (domid == 0) {
        fprintf(out, "segments are attached to guests, not to dom0\n");
        return DMP_EXIT_USAGE;
    }
    if (!dmp_seg_allowed(&g->def, domname)) {
        fprintf(out, "domain '%s' is not on the access list of segment '%s' (dmpctl segment allow %s %s)\n",
                domname, g->def.name, g->def.name, domname);
        return DMP_EXIT_FAIL;
    }
    int have = seg_find_att(g, domid);
    if (have >= 0) {
        fprintf(out, "segment '%s' is already attached to %s%s\n", g->def.name, domname,
                g->att[have].state == ATT_LEAKED ? " (detach pending: the guest has not released it)" : "");
        return DMP_EXIT_FAIL;
    }
    if (!g->def.shared && g->natt > 0) {
        fprintf(out, "segment '%s' is private and attached to %s\n", g->def.name, g->att[0].domname);
        return DMP_EXIT_FAIL;
    }
    if (g->natt >= MAX_ATTACH) {
        fprintf(out, "segment '%s' has %d attachments, the limit\n", g->def.name, MAX_ATTACH);
        return DMP_EXIT_FAIL;
    }
    if (seg_backend_fd(s, out) < 0)
        return DMP_EXIT_FAIL;
    bool fresh = !g->mem;
    if (seg_mem_open(s, g, out) != 0)
        return DMP_EXIT_FAIL;

    struct attachment *a = &g->att[g->natt];
    memset(a, 0, sizeof(*a));
    a->domid = domid;
    snprintf(a->domname, sizeof(a->domname), "%s", domname);
    a->ro = strcmp(argv[3], "ro") == 0;
    a->devid = seg_pick_devid(xs, domid, s);
    uint32_t nr_pages = (uint32_t)(g->def.size / DMP_SEG_PAGE);
    uint32_t nr_dir = (nr_pages + DMPSEGBACK_REFS_PER_PAGE - 1) / DMPSEGBACK_REFS_PER_PAGE;
    uint32_t *dir = calloc(nr_dir, sizeof(*dir));
    if (!dir) {
        fprintf(out, "out of memory\n");
        goto fail_mem;
    }
    struct dmpsegback_grant gr = { .addr = (uintptr_t)g->mem, .dir_refs = (uintptr_t)dir,
                                   .nr_pages = nr_pages, .nr_dir = nr_dir, .domid = (uint16_t)domid,
                                   .readonly = a->ro };
    if (ioctl(s->backfd, DMPSEGBACK_IOC_GRANT, &gr) < 0) {
        fprintf(out, "cannot grant %u pages to %s: %s%s\n", nr_pages, domname, strerror(errno),
                errno == ENOSPC ? " (dom0's grant table is full)" : "");
        free(dir);
        goto fail_mem;
    }
    a->grant_id = gr.id;
    a->state = ATT_WAITING;
    g->natt++;
    int prc = seg_publish(xs, g, a, dir, nr_dir);
    if (prc != 0) {
        fprintf(out, "cannot publish the device in xenstore: %s\n", strerror(-prc));
        free(dir);
        seg_unpublish(xs, a);
        if (seg_grants_end(s, a) != 0)
            a->state = ATT_LEAKED;   /* cannot happen before publishing; keep it safe anyway */
        else
            seg_drop_attachment(g, g->natt - 1);
        return DMP_EXIT_FAIL;
    }
    free(dir);
    int st = seg_wait_frontend(xs, a, XB_CONNECTED, (int)wait_ms);
    char p[128];
    if (st == XB_CONNECTED) {
        seg_be_path(a, "state", p, sizeof(p));
        seg_xs_printf(xs, XBT_NULL, p, "%d", XB_CONNECTED);
        a->state = ATT_CONNECTED;
    } else if (st >= XB_CLOSING) {
        seg_fe_path(a, "error", p, sizeof(p));
        unsigned int len;
        char *e = xs_read(xs, XBT_NULL, p, &len);
        fprintf(out, "guest %s refused segment '%s': %s\n", domname, g->def.name, e ? e : "(no error text)");
        free(e);
        seg_unpublish(xs, a);
        int busy = seg_grants_end(s, a);
        if (busy == 0)
            seg_drop_attachment(g, seg_find_att(g, domid));
        else
            a->state = ATT_LEAKED;
        return DMP_EXIT_FAIL;
    }
    dmpd_log(s->d, SVC, "attach", "%s to %s (domid %u) %s dev %u: %s", g->def.name, domname, domid,
             a->ro ? "ro" : "rw", a->devid, a->state == ATT_CONNECTED ? "connected" : "waiting for driver");
    fprintf(out, "attached segment %s to %s (domid %u) %s as device %u%s: %s\n", g->def.name, domname, domid,
            a->ro ? "read-only" : "read-write", a->devid,
            fresh ? (g->def.saved ? ", initial contents loaded" : ", zeroed") : ", shared live memory",
            a->state == ATT_CONNECTED ? "guest connected"
                                      : "published; the guest's dmpseg driver has not connected yet");
    return DMP_EXIT_OK;

fail_mem:
    if (g->natt == 0)
        seg_mem_close(g);
    return DMP_EXIT_FAIL;
}

/* Finish a detach whose guest has closed (or died): end the grants, remove the device. */
static int finish_detach(struct segsvc *s, struct segment *g, int idx, int *busy)
{
    struct attachment *a = &g->att[idx];
    *busy = seg_grants_end(s, a);
    if (*busy != 0)
        return -1;
    seg_unpublish(dmpd_xs(s->d), a);
    dmpd_log(s->d, SVC, "detach", "%s from %s (domid %u): grants ended", g->def.name, a->domname, a->domid);
    seg_drop_attachment(g, idx);
    return 0;
}

static int req_detach(struct segsvc *s, int argc, char **argv, FILE *out)
{
    struct xs_handle *xs = dmpd_xs(s->d);
    uint64_t wait_ms;
    if (argc != 4 || dmp_parse_u64(argv[3], &wait_ms) || wait_ms > MAX_WAIT_MS) {
        fprintf(out, "usage: detach DOM NAME WAIT_MS (at most %d)\n", MAX_WAIT_MS);
        return DMP_EXIT_USAGE;
    }
    struct segment *g = seg_find(s, argv[2]);
    if (!g) {
        fprintf(out, "no segment '%s'\n", argv[2]);
        return DMP_EXIT_FAIL;
    }
    /* The domain may be gone already: match by name or id among the attachments first. */
    int idx = -1;
    for (int i = 0; i < g->natt && idx < 0; i++) {
        char id[16];
        snprintf(id, sizeof(id), "%u", g->att[i].domid);
        if (strcmp(g->att[i].domname, argv[1]) == 0 || strcmp(id, argv[1]) == 0)
            idx = i;
    }
    if (idx < 0) {
        fprintf(out, "segment '%s' is not attached to '%s'\n", g->def.name, argv[1]);
        return DMP_EXIT_FAIL;
    }
    struct attachment *a = &g->att[idx];
    char p[128];
    seg_be_path(a, "state", p, sizeof(p));
    if (xs)
        seg_xs_printf(xs, XBT_NULL, p, "%d", XB_CLOSING);
    int st = xs ? seg_wait_frontend(xs, a, XB_CLOSED, (int)wait_ms) : XB_CLOSED;
    char domname[DMP_DOMAIN_NAME_MAX];
    snprintf(domname, sizeof(domname), "%s", a->domname);
    int busy = 0;
    if (finish_detach(s, g, idx, &busy) == 0) {
        fprintf(out, "detached segment %s from %s\n", g->def.name, domname);
        return DMP_EXIT_OK;
    }
    a->state = ATT_LEAKED;
    dmpd_log(s->d, SVC, "detach-deferred", "%s from %s: frontend state %d after %llu ms, %d grants still mapped; "
             "pages kept", g->def.name, domname, st, (unsigned long long)wait_ms, busy);
    fprintf(out, "segment %s: %s did not release it within %llu ms (frontend state %d); %d pages are still "
            "mapped by the guest and stay allocated and owned by dmpd (not freed); dmpd ends the grants "
            "when the guest lets go\n", g->def.name, domname, (unsigned long long)wait_ms, st, busy);
    return DMP_EXIT_FAIL;
}

static void list_text(struct segsvc *s, FILE *out)
{
    fprintf(out, "%-20s %10s %-8s %-10s %-7s %-20s %s\n", "Name", "Size", "Mode", "Contents", "Live", "Access",
            "Attached");
    for (int i = 0; i < s->nseg; i++) {
        struct segment *g = &s->seg[i];
        char sz[32], acc[256] = "", att[512] = "";
        size_t n = 0;
        for (int k = 0; k < g->def.nallow && n < sizeof(acc); k++)
            n += (size_t)snprintf(acc + n, sizeof(acc) - n, "%s%s", k ? "," : "", g->def.allow[k]);
        n = 0;
        for (int k = 0; k < g->natt && n < sizeof(att); k++)
            n += (size_t)snprintf(att + n, sizeof(att) - n, "%s%s(%u,%s,%s)", k ? " " : "", g->att[k].domname,
                                  g->att[k].domid, g->att[k].ro ? "ro" : "rw",
                                  g->att[k].state == ATT_CONNECTED ? "connected"
                                  : g->att[k].state == ATT_WAITING ? "waiting" : "detach-pending");
        fprintf(out, "%-20s %10s %-8s %-10s %-7s %-20s %s\n", g->def.name, dmp_fmt_size(g->def.size, sz, sizeof(sz)),
                g->def.shared ? "shared" : "private",
                g->def.persistent ? (g->def.saved ? "saved" : "persist") : (g->def.saved ? "replaced" : "zero"),
                g->mem ? "yes" : "no", acc[0] ? acc : "-", att[0] ? att : "-");
    }
}

static int list_json(struct segsvc *s, FILE *out)
{
    struct dmp_json j;
    dmp_json_init(&j, out, true);
    dmp_json_arr_begin(&j);
    for (int i = 0; i < s->nseg; i++) {
        struct segment *g = &s->seg[i];
        dmp_json_obj_begin(&j);
        DMP_JSON_KV(&j, "name", dmp_json_str, g->def.name);
        DMP_JSON_KV(&j, "size_bytes", dmp_json_u64, g->def.size);
        DMP_JSON_KV(&j, "shared", dmp_json_bool, g->def.shared);
        DMP_JSON_KV(&j, "persistent", dmp_json_bool, g->def.persistent);
        DMP_JSON_KV(&j, "saved", dmp_json_bool, g->def.saved);
        DMP_JSON_KV(&j, "live", dmp_json_bool, g->mem != NULL);
        dmp_json_key(&j, "allow");
        dmp_json_arr_begin(&j);
        for (int k = 0; k < g->def.nallow; k++)
            dmp_json_str(&j, g->def.allow[k]);
        dmp_json_arr_end(&j);
        dmp_json_key(&j, "attachments");
        dmp_json_arr_begin(&j);
        for (int k = 0; k < g->natt; k++) {
            struct attachment *a = &g->att[k];
            dmp_json_obj_begin(&j);
            DMP_JSON_KV(&j, "domain", dmp_json_str, a->domname);
            DMP_JSON_KV(&j, "domid", dmp_json_u64, a->domid);
            DMP_JSON_KV(&j, "ro", dmp_json_bool, a->ro);
            DMP_JSON_KV(&j, "device", dmp_json_u64, a->devid);
            DMP_JSON_KV(&j, "state", dmp_json_str,
                        a->state == ATT_CONNECTED ? "connected" : a->state == ATT_WAITING ? "waiting"
                                                                                          : "detach-pending");
            dmp_json_obj_end(&j);
        }
        dmp_json_arr_end(&j);
        dmp_json_obj_end(&j);
    }
    dmp_json_arr_end(&j);
    fputc('\n', out);
    return dmp_json_finish(&j) == 0 ? DMP_EXIT_OK : DMP_EXIT_FAIL;
}

static int seg_request(struct dmpd *d, void *state, int argc, char **argv, FILE *out)
{
    struct segsvc *s = state;
    const char *v = argv[0];
    if (strcmp(v, "create") == 0)
        return req_create(s, argc, argv, out);
    if (strcmp(v, "destroy") == 0)
        return req_destroy(s, argc, argv, out);
    if (strcmp(v, "allow") == 0 || strcmp(v, "deny") == 0)
        return req_access(s, argc, argv, out, v[0] == 'a');
    if (strcmp(v, "replace") == 0)
        return req_replace(s, argc, argv, out);
    if (strcmp(v, "attach") == 0)
        return req_attach(s, argc, argv, out);
    if (strcmp(v, "detach") == 0)
        return req_detach(s, argc, argv, out);
    if (strcmp(v, "list") == 0) {
        if (argc == 2 && strcmp(argv[1], "--json") == 0)
            return list_json(s, out);
        list_text(s, out);
        return DMP_EXIT_OK;
    }
    fprintf(out, "unknown segment request '%s'\n", v);
    return DMP_EXIT_USAGE;
}

/* Promote attachments whose guest connected late; finish detaches the guest completed late;
 * clean up after guests that died with a segment attached. */
static void seg_tick(struct dmpd *d, void *state, uint64_t now_ms)
{
    struct segsvc *s = state;
    struct xs_handle *xs = dmpd_xs(d);
    if (!xs)
        return;
    for (int i = 0; i < s->nseg; i++) {
        struct segment *g = &s->seg[i];
        for (int k = g->natt - 1; k >= 0; k--) {
            struct attachment *a = &g->att[k];
            char p[128];
            seg_fe_path(a, "state", p, sizeof(p));
            int st = seg_xb_state(xs, p);
            bool dead = !seg_domain_exists(xs, a->domid);
            int busy;
            if (a->state == ATT_WAITING && st == XB_CONNECTED) {
                seg_be_path(a, "state", p, sizeof(p));
                seg_xs_printf(xs, XBT_NULL, p, "%d", XB_CONNECTED);
                a->state = ATT_CONNECTED;
                dmpd_log(d, SVC, "connected", "%s in %s", g->def.name, a->domname);
            } else if (a->state == ATT_LEAKED || dead) {
                if ((dead || st == XB_CLOSED || st == XB_UNKNOWN) && finish_detach(s, g, k, &busy) == 0) {
                    dmpd_log(d, SVC, "reclaimed", "segment %s: late detach completed", g->def.name);
                } else if (!dead && st != XB_CLOSED && now_ms >= a->next_nudge_ms) {
                    /* Rewriting Closing fires the guest's watch again: a frontend that ignored
                     * the first request (busy, or its driver reloaded) gets another chance. */
                    seg_be_path(a, "state", p, sizeof(p));
                    seg_xs_printf(xs, XBT_NULL, p, "%d", XB_CLOSING);
                    a->next_nudge_ms = now_ms + NUDGE_MS;
                }
            }
        }
    }
}

static int seg_init(struct dmpd *d, void **state, char *err, size_t errlen)
{
    struct segsvc *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->d = d;
    s->backfd = -1;
    snprintf(s->dir, sizeof(s->dir), "%s/segments", dmpd_state_dir(d));
    int mrc = dmp_mkdir_p(s->dir);
    if (mrc != 0) {
        snprintf(err, errlen, "cannot create %s: %s", s->dir, strerror(-mrc));
        free(s);
        return -1;
    }
    if (seg_load_registry(s, err, errlen) != 0) {
        free(s);
        return -1;
    }
    if (s->nseg)
        dmpd_log(d, SVC, "load", "%d segments from %s/registry", s->nseg, s->dir);
    *state = s;
    return 0;
}

static void seg_fini(struct dmpd *d, void *state)
{
    struct segsvc *s = state;
    /* Guests must not keep memory the next daemon does not know about: ask them to let go.
     * What they still map stays pinned in the kernel (dmpsegback) after we close it. */
    for (int i = 0; i < s->nseg; i++) {
        struct segment *g = &s->seg[i];
        while (g->natt > 0) {
            char *argv[4] = { "detach", g->att[0].domname, g->def.name, "3000" };
            char *body = NULL;
            size_t blen = 0;
            FILE *out = open_memstream(&body, &blen);
            if (!out)
                break;
            int rc = req_detach(s, 4, argv, out);
            fclose(out);
            dmpd_log(d, SVC, "stop-detach", "%s", body ? body : "");
            free(body);
            if (rc != DMP_EXIT_OK) {
                /* Drop our record; the kernel keeps the mapped pages until the guest unmaps. */
                seg_unpublish(dmpd_xs(d), &g->att[0]);
                seg_drop_attachment(g, 0);
            }
        }
        free(g->initial);
        seg_mem_close(g);
    }
    if (s->backfd >= 0)
        close(s->backfd);
    free(s);
}

const struct dmpd_service dmpd_service_segment = {
    .name = SVC,
    .interval_ms = 500,
    .init = seg_init,
    .tick = seg_tick,
    .request = seg_request,
    .fini = seg_fini,
};
