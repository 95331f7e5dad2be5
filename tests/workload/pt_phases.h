/* ptbench phases: page-table-heavy micro-benchmarks that verify their own results.
 *
 * Each phase does N iterations of one kind of page-table work (process creation,
 * mapping/unmapping, protection changes, first-touch faults, copy-on-write) and checks
 * the memory contents and exit codes it expects, so that a broken page-table path
 * (e.g. a live-patched guest kernel gone wrong) shows up as ok=false, not as a number. */
#ifndef PT_PHASES_H
#define PT_PHASES_H

#include "wl_proto.h"

#include <stdbool.h>
#include <stdint.h>

enum pt_phase {
    PT_FORKEXEC,
    PT_MMAP,
    PT_MPROTECT,
    PT_PAGEFAULT,
    PT_FORK,
    PT_PIPELINE,
    PT_NPHASES
};

struct pt_config {
    uint64_t iters[PT_NPHASES];
    uint64_t mmap_pages;        /* pages per mmap/munmap cycle */
    uint64_t mprotect_pages;    /* pages of the region flipped RO/RW */
    uint64_t pf_pages;          /* pages first-touched per pagefault iteration */
    uint64_t fork_pages;        /* parent buffer mapped across each fork */
    uint64_t cow_pages;         /* pages of it the child writes (COW breaks) */
    uint64_t pipeline_lines;    /* numbers each pipeline sorts and compresses */
    const char *self_path;      /* executable re-executed by forkexec */
    int inject;                 /* phase whose check is deliberately broken, or -1 */
};

struct pt_result {
    uint64_t iters;
    uint64_t ops;               /* unit of ops: pt_phase_unit() */
    uint64_t ns_total;
    struct wl_faults self;      /* deltas of this process */
    struct wl_faults children;  /* deltas of reaped children (fork phases) */
    bool ok;
    char reason[256];           /* why ok is false */
};

const char *pt_phase_name(int phase);
/* What one "op" of a phase is, for readers of ns_per_op. */
const char *pt_phase_unit(int phase);
/* -1 if unknown. */
int pt_phase_lookup(const char *name);
/* Iterations sized for ~1-3 s per phase on a slow emulated CPU. */
uint64_t pt_phase_default_iters(int phase);
void pt_config_defaults(struct pt_config *cfg);

/* Run one phase; always fills res (res->ok false with a reason on any failure,
 * including failing system calls). */
void pt_run_phase(int phase, const struct pt_config *cfg, struct pt_result *res);

/* Exit code the --child of forkexec iteration n must return; never 0, 126 or 127
 * so that an exec failure cannot be mistaken for success. */
int pt_child_code(uint64_t n);

#endif
