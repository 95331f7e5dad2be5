/* Live patching of a running guest kernel from dom0: patch, status and unpatch as library
 * operations (what `dmpctl dmp patch|status|unpatch` and dmpd's automatic DMP run). Each takes
 * an options struct, fills a result struct, and returns 0 or a negative errno with a message in
 * (err, errlen); the result's outcome says how to read a failure (dmp/outcome.h).
 *
 * Modes: "passthrough" (the stubs' hv_update does the original write), "fastpath" (it asks
 * Xen to do the store, Xen patch 0007, falling back to the store on any error; unpatch turns
 * the fast path off after restoring the text), "log" (stores inside Linux's lazy MMU sections
 * are logged per CPU and applied by one hypercall at the section's end, Xen patch 0009;
 * unpatch first switches the logging off and waits for every CPU's log to empty). Safety
 * rules, the procedure and the journal: docs/DMP.md "Live patching". The journal is written
 * before the first guest byte changes, to xenstore and to the state directory
 * (dmp/patch_journal.h), so that any later process can undo.
 *
 * The pure logic (stub area, site selection, stub code, journal text) is dmp/livepatch.h;
 * the JSON of the results is dmp/report.h. */
#ifndef DMP_PATCH_H
#define DMP_PATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dmp/fastpath.h"
#include "dmp/livepatch.h"
#include "dmp/outcome.h"
#include "dmp/patch_journal.h"
#include "dmppatcher/plan.h"

enum dmp_patch_mode { DMP_MODE_PASSTHROUGH, DMP_MODE_FASTPATH, DMP_MODE_LOG, DMP_MODE_NR };
/* "passthrough", "fastpath", "log" (the journal's and the reports' names). */
const char *dmp_patch_mode_name(enum dmp_patch_mode m);

/* ---- patch ---- */

struct dmp_patch_opts {
    const char *domain;          /* name or id */
    enum dmp_patch_mode mode;
    const char *hot_file;        /* sites: the addresses in this file; NULL: all-mmu (the direct
                                    calls of the MMU helpers in the live text) */
    const char *kernel_image;    /* log mode: the running kernel's vmlinuz/vmlinux */
    bool dry_run;                /* plan only, change nothing */
    const char *state_dir;       /* journal file and plan cache; NULL: DMP_PATCH_STATE_DIR */
    dmp_note_fn note;
    void *note_ctx;
};

struct dmp_patch_result {
    enum dmp_outcome outcome;
    struct dmp_patch_target dom;
    bool dry_run;
    bool already_patched;        /* a journal says so: nothing was done, counts are zero */
    char journal_source[16];     /* already patched: where the journal was read ("xenstore",
                                    "file") */
    bool plans_cached;           /* the plans came from the plan cache (same kernel text) */
    char mode[32];
    enum dmp_lp_hvcall hvcall;   /* fastpath/log: the guest's hypercall instruction */
    size_t sites;                /* plans written (dry run: that would be) */
    uint64_t stub_base;
    size_t stub_len;
    uint64_t hv_update;
    size_t candidates, planned, refused, skipped_atomic, skipped_busy, skipped_changed, applied;
    unsigned refusals[DMP_REFUSE_MAX];
    double plan_secs, paused_secs, total_secs;
};

/* Patch the running kernel of an HVM/PVH guest under shadow paging. Already patched (a
 * journal of this domain whose sites hold the patched bytes): 0 with already_patched. A HAP
 * guest: -EOPNOTSUPP, DMP_NOTHING_TO_DO. An unknown domain, an unreadable hot file or kernel
 * image: DMP_BAD_INPUT. Anything else refused or failed: DMP_FAILED with the guest's text as
 * it was (or, if a rollback failed, the journal kept and the message saying so). */
int dmp_patch(const struct dmp_patch_opts *o, struct dmp_patch_result *r, char *err,
              size_t errlen);

/* ---- status ---- */

struct dmp_status_opts {
    const char *domain;
    const char *dump_text;       /* also write the live kernel text [_stext, _etext) here */
    const char *state_dir;
};

struct dmp_status_result {
    enum dmp_outcome outcome;
    struct dmp_patch_target dom;
    bool patched;                /* a journal of this domain exists */
    char mode[32];
    size_t sites, sites_patched, sites_original, sites_other;   /* in guest memory now */
    uint64_t stub_base;
    size_t stub_len;
    char stub_state[16];         /* "installed", "padding", "modified", "unreadable" */
    uint64_t hv_update;
    char journal_source[16];
    uint64_t created;            /* the journal's unix time */
    int fastpath_rc;             /* 1: not asked (passthrough), 0: fastpath is read, < 0 failed */
    struct dmp_fastpath_stats fastpath;
    char fastpath_err[256];
};

/* Whether the guest is live-patched (from its journal), each site's bytes in guest memory,
 * the stub area, and the fast path counters of the fastpath and log modes. */
int dmp_patch_status(const struct dmp_status_opts *o, struct dmp_status_result *r, char *err,
                     size_t errlen);

/* ---- unpatch ---- */

struct dmp_unpatch_opts {
    const char *domain;
    const char *state_dir;
    dmp_note_fn note;
    void *note_ctx;
};

struct dmp_unpatch_result {
    enum dmp_outcome outcome;
    struct dmp_patch_target dom;
    char mode[32];
    size_t sites, restored;      /* restored: sites that held the patched bytes */
    uint64_t stub_base;
    size_t stub_len;
    char journal_source[16];
    unsigned rip_waits;          /* pause rounds that found a vCPU inside */
    double paused_sites_secs, paused_stubs_secs, total_secs;
    int fastpath_rc;             /* 1: not asked, 0: turned off (counters below), < 0 failed */
    struct dmp_fastpath_stats fastpath;
};

/* Undo a patch from its journal (also from a new process, after a toolstack restart). No
 * journal: -ENOENT, DMP_NOTHING_TO_DO. A failure keeps the journal. */
int dmp_unpatch(const struct dmp_unpatch_opts *o, struct dmp_unpatch_result *r, char *err,
                size_t errlen);

#endif
