/* A live patch's journal in xenstore and in the state directory (dmp/patch_journal.h). */
#include "dmp/patch_journal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xenstore.h>

#include "dmpcommon/util.h"
#include "patch_internal.h"

#define XS_CHUNK 1024          /* xenstored's default node size quota is 2048 bytes */
#define XS_MAX_CHUNKS 4096

void dmp_patch_target_init(struct dmp_patch_target *t, uint32_t domid, const char *name,
                           const char *uuid, const char *state_dir)
{
    memset(t, 0, sizeof(*t));
    t->domid = domid;
    snprintf(t->name, sizeof(t->name), "%s", name);
    snprintf(t->uuid, sizeof(t->uuid), "%s", uuid);
    snprintf(t->dir, sizeof(t->dir), "%s", state_dir ? state_dir : DMP_PATCH_STATE_DIR);
    snprintf(t->xs_dir, sizeof(t->xs_dir), "/local/domain/0/dmp/%u/journal", domid);
    snprintf(t->file, sizeof(t->file), "%s/%s.journal", t->dir, t->uuid[0] ? t->uuid : t->name);
}

int dmp_patch_target_resolve(struct xs_handle *xs, const char *spec, const char *state_dir,
                             struct dmp_patch_target *t, char *err, size_t errlen)
{
    uint32_t domid;
    char name[DMP_DOMAIN_NAME_MAX];
    memset(t, 0, sizeof(*t));
    int rc = dmp_domain_resolve(xs, spec, &domid, name, sizeof(name), err, errlen);
    if (rc)
        return rc;
    char path[64];
    unsigned len;
    snprintf(path, sizeof(path), "/local/domain/%u/vm", domid);
    char *vm = xs_read(xs, XBT_NULL, path, &len);
    const char *u = vm ? strrchr(vm, '/') : NULL;
    dmp_patch_target_init(t, domid, name, u && u[1] ? u + 1 : "", state_dir);
    free(vm);
    return 0;
}

int dmp_patch_target_open(const char *spec, const char *state_dir, bool readonly,
                          struct xs_handle **xs, struct dmp_patch_target *t, enum dmp_outcome *oc,
                          char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    *oc = DMP_FAILED;
    *xs = xs_open(readonly ? XS_OPEN_READONLY : 0);
    if (!*xs)
        return dmp_errf(err, errlen, -(errno ? errno : EIO), "cannot reach xenstore: %s",
                        strerror(errno));
    int rc = dmp_patch_target_resolve(*xs, spec, state_dir, t, err, errlen);
    if (rc) {
        *oc = DMP_BAD_INPUT;
        xs_close(*xs);
        *xs = NULL;
    }
    return rc;
}

int dmp_journal_store(struct xs_handle *xs, const struct dmp_patch_target *t, const char *text,
                      char *err, size_t errlen)
{
    size_t len = strlen(text), n = (len + XS_CHUNK - 1) / XS_CHUNK;
    if (n > XS_MAX_CHUNKS)
        return dmp_errf(err, errlen, -E2BIG, "journal too large for xenstore (%zu bytes)", len);
    int rc = dmp_mkdir_p(t->dir);
    if (rc == 0)
        rc = dmp_write_file_atomic(t->file, text, len);
    if (rc)
        return dmp_errf(err, errlen, rc, "cannot write journal %s: %s", t->file, strerror(-rc));
    for (unsigned tries = 0; tries < 8; tries++) {
        xs_transaction_t tx = xs_transaction_start(xs);
        if (tx == XBT_NULL)
            break;
        bool ok = true;
        char path[128], num[32];
        xs_rm(xs, tx, t->xs_dir);   /* may not exist */
        for (size_t i = 0; i < n && ok; i++) {
            snprintf(path, sizeof(path), "%s/%zu", t->xs_dir, i);
            size_t cl = len - i * XS_CHUNK < XS_CHUNK ? len - i * XS_CHUNK : XS_CHUNK;
            ok = xs_write(xs, tx, path, text + i * XS_CHUNK, (unsigned)cl);
        }
        snprintf(path, sizeof(path), "%s/uuid", t->xs_dir);
        ok = ok && xs_write(xs, tx, path, t->uuid, (unsigned)strlen(t->uuid));
        snprintf(path, sizeof(path), "%s/chunks", t->xs_dir);
        snprintf(num, sizeof(num), "%zu", n);
        ok = ok && xs_write(xs, tx, path, num, (unsigned)strlen(num));
        if (!ok) {
            xs_transaction_end(xs, tx, true);
            break;
        }
        if (xs_transaction_end(xs, tx, false))
            return 0;
        if (errno != EAGAIN)
            break;
    }
    dmp_errf(err, errlen, -EIO, "cannot write journal to xenstore %s: %s", t->xs_dir,
             strerror(errno));
    unlink(t->file);
    return -EIO;
}

/* The text of this domain's journal (malloc'd) and where it came from, or NULL. */
static char *journal_fetch(struct xs_handle *xs, const struct dmp_patch_target *t,
                           const char **where)
{
    char path[128];
    unsigned len;
    snprintf(path, sizeof(path), "%s/chunks", t->xs_dir);
    char *cs = xs_read(xs, XBT_NULL, path, &len);
    snprintf(path, sizeof(path), "%s/uuid", t->xs_dir);
    char *uu = xs_read(xs, XBT_NULL, path, &len);
    /* A journal left by an earlier domain with the same id (destroyed without unpatch) is
     * not this domain's. */
    bool mine = uu && strcmp(uu, t->uuid) == 0;
    free(uu);
    unsigned long n = cs ? strtoul(cs, NULL, 10) : 0;
    free(cs);
    if (mine && n > 0 && n <= XS_MAX_CHUNKS) {
        char *text = malloc(n * XS_CHUNK + 1);
        size_t tl = 0;
        bool ok = text != NULL;
        for (unsigned long i = 0; i < n && ok; i++) {
            snprintf(path, sizeof(path), "%s/%lu", t->xs_dir, i);
            char *c = xs_read(xs, XBT_NULL, path, &len);
            ok = c && len <= XS_CHUNK;
            if (ok) {
                memcpy(text + tl, c, len);
                tl += len;
            }
            free(c);
        }
        if (ok) {
            text[tl] = 0;
            *where = "xenstore";
            return text;
        }
        free(text);
    }
    uint8_t *data;
    size_t dl;
    if (dmp_read_file(t->file, &data, &dl) == 0) {
        *where = "file";
        return (char *)data;
    }
    return NULL;
}

int dmp_journal_load(struct xs_handle *xs, const struct dmp_patch_target *t,
                     struct dmp_lp_journal *j, const char **where, char *err, size_t errlen)
{
    memset(j, 0, sizeof(*j));
    char *text = journal_fetch(xs, t, where);
    if (!text)
        return 0;
    char perr[256];
    int rc = dmp_lp_journal_parse(text, j, perr, sizeof(perr));
    free(text);
    if (rc)
        return dmp_errf(err, errlen, rc, "domain %s: journal (%s) unusable: %s", t->name,
                        *where, perr);
    if (strcmp(j->uuid, t->uuid) != 0) {   /* stale file of another incarnation */
        dmp_lp_journal_free(j);
        return 0;
    }
    return 1;
}

void dmp_journal_remove(struct xs_handle *xs, const struct dmp_patch_target *t)
{
    char path[96];
    snprintf(path, sizeof(path), "/local/domain/0/dmp/%u", t->domid);
    xs_rm(xs, XBT_NULL, path);
    unlink(t->file);
}
