/* Plans as journal records: serialise (JSON for people and tools, one text line that parses
 * back exactly for the toolstack's undo journal), and apply / verify / undo them on any
 * memory that can be read and written (a kimage today, a paused live guest later). */
#ifndef DMP_JOURNAL_H
#define DMP_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dmpcommon/json.h"
#include "dmppatcher/kimage.h"
#include "dmppatcher/plan.h"

struct dmp_patch_mem {
    void *ctx;
    int (*read)(void *ctx, uint64_t va, void *buf, size_t len);
    int (*write)(void *ctx, uint64_t va, const void *buf, size_t len);
};

void dmp_patch_mem_from_kimage(struct dmp_patch_mem *m, struct dmp_kimage *ki);

void dmp_plan_json(struct dmp_json *j, const struct dmp_plan *pl);

/* One line, no newline: "dmpplan1 ...". Returns 0 or -ENOSPC. */
int dmp_plan_format(const struct dmp_plan *pl, char *buf, size_t len);
/* Parse a line made by dmp_plan_format. 0 or -EINVAL. */
int dmp_plan_parse(const char *line, struct dmp_plan *out);

/* Write the stub area image (hv slot excluded: its owner installs it). */
int dmp_stub_area_install(const struct dmp_patch_mem *m, uint64_t base, const uint8_t *img,
                          size_t len, char *err, size_t errlen);
/* Apply: check the site still holds old_bytes, write the trampoline, then the site; read both
 * back. Verify: site holds new_bytes and the trampoline is intact. Undo: site must hold
 * new_bytes; restore old_bytes and read back. All return 0 or negative errno with err set. */
int dmp_plan_apply(const struct dmp_plan *, const struct dmp_patch_mem *, char *err, size_t el);
int dmp_plan_verify(const struct dmp_plan *, const struct dmp_patch_mem *, char *err, size_t el);
int dmp_plan_undo(const struct dmp_plan *, const struct dmp_patch_mem *, char *err, size_t el);

#endif
