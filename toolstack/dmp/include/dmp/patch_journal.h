/* Where a live patch's journal lives, and its storage: written BEFORE the first guest byte
 * changes, in two places so that a new process (a toolstack restart) can undo:
 *   - xenstore /local/domain/0/dmp/<domid>/journal/ (dom0's own subtree: the guest can neither
 *     read nor change it), in chunks because xenstored limits a node's size, with the domain's
 *     uuid and the chunk count, written in one transaction;
 *   - the file <state dir>/<domain uuid>.journal, written atomically.
 * A journal is a domain's only if it carries the domain's uuid: a domid is reused, a journal
 * of an earlier incarnation is not this domain's. The text format is dmp/livepatch.h's. */
#ifndef DMP_PATCH_JOURNAL_H
#define DMP_PATCH_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dmp/livepatch.h"
#include "dmpxen/domain.h"

struct xs_handle;

#define DMP_PATCH_STATE_DIR "/var/lib/dmp/dmp"

/* A domain to patch, and the places of its journal. */
struct dmp_patch_target {
    uint32_t domid;
    char name[DMP_DOMAIN_NAME_MAX];
    char uuid[64];
    char dir[200];               /* the state directory */
    char xs_dir[64];             /* /local/domain/0/dmp/<domid>/journal */
    char file[384];              /* <dir>/<uuid, or the name without one>.journal */
};

/* Fill t for a domain known by id, name and uuid ("" if none); state_dir NULL: the default. */
void dmp_patch_target_init(struct dmp_patch_target *t, uint32_t domid, const char *name,
                           const char *uuid, const char *state_dir);
/* Resolve a domain name or id (dmpxen/domain.h) and read its uuid from xenstore. 0, or
 * -errno with the resolver's message (-ESRCH: no such domain). */
int dmp_patch_target_resolve(struct xs_handle *xs, const char *spec, const char *state_dir,
                             struct dmp_patch_target *t, char *err, size_t errlen);

/* Store text in both places: the file first (a failure leaves xenstore untouched), then
 * xenstore (a failure removes the file again). 0, or -errno with a message naming the place:
 * "cannot write journal <file>: <strerror>", -E2BIG for a journal xenstore cannot hold. */
int dmp_journal_store(struct xs_handle *xs, const struct dmp_patch_target *t, const char *text,
                      char *err, size_t errlen);

/* Load this domain's journal: xenstore first, else the file. Returns 1 with *j filled and
 * *where "xenstore" or "file", 0 when there is none (or only another incarnation's), or
 * -errno when one is there but unusable ("domain <name>: journal (<where>) unusable: ..."). */
int dmp_journal_load(struct xs_handle *xs, const struct dmp_patch_target *t,
                     struct dmp_lp_journal *j, const char **where, char *err, size_t errlen);

/* Remove both copies (and everything of ours under the domain's xenstore node). */
void dmp_journal_remove(struct xs_handle *xs, const struct dmp_patch_target *t);

#endif
