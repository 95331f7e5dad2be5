/* dmpd segment service: what backs a segment. Its memory (a memfd dmpd owns while any guest
 * has it attached), the grants of that memory to guests through /dev/dmpsegback, and what
 * survives a restart in the state directory: the registry and persistent segments' contents. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dmpcommon/util.h"
#include "dmpsegback-abi.h"
#include "svc_segment.h"

struct segment *seg_find(struct segsvc *s, const char *name)
{
    for (int i = 0; i < s->nseg; i++)
        if (strcmp(s->seg[i].def.name, name) == 0)
            return &s->seg[i];
    return NULL;
}

int seg_find_att(const struct segment *g, uint32_t domid)
{
    for (int i = 0; i < g->natt; i++)
        if (g->att[i].domid == domid)
            return i;
    return -1;
}

void seg_img_path(const struct segsvc *s, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.img", s->dir, name);
}

int seg_save_registry(struct segsvc *s, FILE *out)
{
    struct dmp_seg_def defs[DMP_SEG_MAX_SEGMENTS];
    for (int i = 0; i < s->nseg; i++)
        defs[i] = s->seg[i].def;
    char *text = dmp_seg_registry_format(defs, s->nseg);
    int rc = text ? dmp_state_save(s->dir, REGISTRY_FILE, text, strlen(text), NULL, 0) : -ENOMEM;
    free(text);
    if (rc != 0 && out)
        fprintf(out, "cannot write the registry %s/" REGISTRY_FILE ": %s\n", s->dir, strerror(-rc));
    return rc;
}

int seg_load_registry(struct segsvc *s, char *err, size_t errlen)
{
    char *text;
    size_t len;
    int rc = dmp_state_load(s->dir, REGISTRY_FILE, &text, &len, err, errlen);
    if (rc <= 0)
        return rc;      /* no registry yet, or unreadable */
    struct dmp_seg_def *defs;
    int n;
    char perr[256];
    rc = dmp_seg_registry_parse(text, len, &defs, &n, perr, sizeof(perr));
    free(text);
    if (rc != 0)
        return dmp_errf(err, errlen, rc, "%s/" REGISTRY_FILE ": %s", s->dir, perr);
    for (int i = 0; i < n; i++) {
        struct segment *g = &s->seg[s->nseg++];
        memset(g, 0, sizeof(*g));
        g->memfd = -1;
        g->def = defs[i];
        /* Replaced contents of transient segments lived in the old daemon's memory. */
        if (!g->def.persistent)
            g->def.saved = false;
        if (g->def.persistent && g->def.saved) {
            char img[600];
            struct stat st;
            seg_img_path(s, g->def.name, img, sizeof(img));
            if (stat(img, &st) != 0 || (uint64_t)st.st_size != g->def.size) {
                free(defs);
                return dmp_errf(err, errlen, -EINVAL, "segment %s: saved contents %s missing or not %llu bytes",
                                g->def.name, img, (unsigned long long)g->def.size);
            }
        }
    }
    free(defs);
    return 0;
}

int seg_mem_open(struct segsvc *s, struct segment *g, FILE *out)
{
    if (g->mem)
        return 0;
    int fd = memfd_create(g->def.name, MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)g->def.size) < 0) {
        fprintf(out, "cannot allocate %llu bytes for segment '%s': %s\n",
                (unsigned long long)g->def.size, g->def.name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    void *m = mmap(NULL, g->def.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        fprintf(out, "cannot map segment '%s': %s\n", g->def.name, strerror(errno));
        close(fd);
        return -1;
    }
    if (g->def.saved && g->def.persistent) {
        char path[600];
        uint8_t *data = NULL;
        size_t len = 0;
        seg_img_path(s, g->def.name, path, sizeof(path));
        if (dmp_read_file(path, &data, &len) != 0 || len != g->def.size) {
            fprintf(out, "saved contents of segment '%s' (%s) are %s\n", g->def.name, path,
                    len != g->def.size ? "the wrong size" : "unreadable");
            free(data);
            munmap(m, g->def.size);
            close(fd);
            return -1;
        }
        memcpy(m, data, len);
        free(data);
    } else if (g->def.saved && g->initial) {
        memcpy(m, g->initial, g->def.size);
        if (memcmp(m, g->initial, g->def.size) != 0) {
            /* Nothing else can write this fresh memory yet: a mismatch is a host fault. */
            fprintf(out, "segment '%s': restoring its contents failed verification\n", g->def.name);
            munmap(m, g->def.size);
            close(fd);
            return -1;
        }
    }
    /* Otherwise the fresh memfd is zero-filled: a segment never replaced starts zeroed. */
    g->memfd = fd;
    g->mem = m;
    return 0;
}

void seg_mem_close(struct segment *g)
{
    if (!g->mem)
        return;
    munmap(g->mem, g->def.size);
    close(g->memfd);
    g->mem = NULL;
    g->memfd = -1;
}

int seg_backend_fd(struct segsvc *s, FILE *out)
{
    if (s->backfd >= 0)
        return s->backfd;
    s->backfd = open(DMPSEGBACK_DEVICE, O_RDWR | O_CLOEXEC);
    if (s->backfd < 0)
        fprintf(out, "cannot open %s (is dmpsegback.ko loaded?): %s\n", DMPSEGBACK_DEVICE, strerror(errno));
    return s->backfd;
}

int seg_grants_end(struct segsvc *s, struct attachment *a)
{
    struct dmpsegback_revoke r = { .id = a->grant_id };
    if (ioctl(s->backfd, DMPSEGBACK_IOC_REVOKE, &r) < 0)
        return errno == ENOENT ? 0 : -1;
    return (int)r.busy;
}

void seg_drop_attachment(struct segment *g, int idx)
{
    g->att[idx] = g->att[--g->natt];
    /* Leaked attachments keep natt > 0, so the memory they pin stays mapped here too. */
    if (g->natt == 0)
        seg_mem_close(g);
}
