/* Plan cache: classifying and planning the whole live text takes minutes under TCG, and the
 * result depends only on the kernel text. The last all-mmu plan set of a domain is kept in
 * <state dir>/<uuid>.plans (journal format + text_hash) and reused when the text hashes the
 * same. Every cached plan is still checked byte for byte under pause before it is written. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmpcommon/util.h"
#include "patch_internal.h"

static void cache_path(const struct dmp_patch_target *d, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.plans", d->dir, d->uuid[0] ? d->uuid : d->name);
}

bool dmp_plan_cache_load(struct dmp_live *l, const struct dmp_patch_target *d,
                         struct dmp_lp_journal *j)
{
    char path[400], err[256];
    cache_path(d, path, sizeof(path));
    uint8_t *data;
    size_t len;
    if (dmp_read_file(path, &data, &len) != 0)
        return false;
    struct dmp_lp_journal c;
    int rc = dmp_lp_journal_parse((const char *)data, &c, err, sizeof(err));
    free(data);
    if (rc)
        return false;
    size_t n = c.text_end > c.text_start ? c.text_end - c.text_start : 0;
    uint8_t *t = NULL;
    bool ok = c.text_hash && strcmp(c.uuid, d->uuid) == 0 && n > 0 && n <= (256u << 20) &&
              dmp_live_set_root_for(l, c.text_start, NULL, 0) == 0 && (t = malloc(n)) &&
              dmp_kimage_read(dmp_live_kimage(l), c.text_start, t, n) == 0 &&
              dmp_lp_text_hash(t, n) == c.text_hash;
    free(t);
    if (!ok) {
        dmp_lp_journal_free(&c);
        return false;
    }
    *j = c;
    return true;
}

int dmp_plan_cache_save(const struct dmp_patch_target *d, const struct dmp_lp_journal *j,
                        char *err, size_t errlen)
{
    char path[400], *text;
    cache_path(d, path, sizeof(path));
    int rc = dmp_lp_journal_format(j, &text);
    if (rc == 0) {
        rc = dmp_mkdir_p(d->dir);
        if (rc == 0)
            rc = dmp_write_file_atomic(path, text, strlen(text));
        free(text);
    }
    if (rc)
        return dmp_errf(err, errlen, rc, "cannot save the plan cache %s", path);
    return 0;
}
