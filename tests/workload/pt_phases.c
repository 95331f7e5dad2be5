#include "pt_phases.h"

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Default iterations: ~50 ms per phase on the (virtualised) build host, so about
 * 1-3 s in a TCG-emulated Xen guest, which runs these 20-50x slower. */
static const struct {
    const char *name;
    const char *unit;
    uint64_t iters;
} phases[PT_NPHASES] = {
    [PT_FORKEXEC]  = { "forkexec",  "fork+execve+waitpid",          100 },
    [PT_MMAP]      = { "mmap",      "mmap+touch+verify+munmap",     400 },
    [PT_MPROTECT]  = { "mprotect",  "mprotect call",                20000 },
    [PT_PAGEFAULT] = { "pagefault", "first touch of one page",      10 },
    [PT_FORK]      = { "fork",      "fork+cow-writes+exit+waitpid", 100 },
    /* The larger, application-like workload: a shell pipeline of six programs, as in a
     * build or a log-processing job (process creation, pipes, heap growth, file mappings). */
    [PT_PIPELINE]  = { "pipeline",  "sh -c 'seq|sort|gzip|gunzip|sort|awk'", 10 },
};

const char *pt_phase_name(int p) { return (p >= 0 && p < PT_NPHASES) ? phases[p].name : "?"; }
const char *pt_phase_unit(int p) { return (p >= 0 && p < PT_NPHASES) ? phases[p].unit : "?"; }
uint64_t pt_phase_default_iters(int p) { return (p >= 0 && p < PT_NPHASES) ? phases[p].iters : 0; }

int pt_phase_lookup(const char *name)
{
    for (int p = 0; p < PT_NPHASES; p++)
        if (strcmp(name, phases[p].name) == 0)
            return p;
    return -1;
}

void pt_config_defaults(struct pt_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (int p = 0; p < PT_NPHASES; p++)
        cfg->iters[p] = phases[p].iters;
    cfg->mmap_pages = 64;
    cfg->mprotect_pages = 4;
    cfg->pf_pages = 4096;
    cfg->fork_pages = 256;
    cfg->cow_pages = 64;
    cfg->pipeline_lines = 3000;
    cfg->self_path = NULL;
    cfg->inject = -1;
}

int pt_child_code(uint64_t n)
{
    return 1 + (int)((n * 37 + 11) % 125);
}

/* Distinct, hard-to-forge value per (seed, page): a page mapped to the wrong frame,
 * or a stale frame, shows up as a mismatch. (splitmix64 finaliser) */
static uint64_t pattern(uint64_t seed, uint64_t page)
{
    uint64_t z = seed * 0x9e3779b97f4a7c15ull + page + 0x632be59bd9b4e019ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static size_t page_size(void)
{
    static size_t ps;
    if (!ps) {
        long v = sysconf(_SC_PAGESIZE);
        ps = v > 0 ? (size_t)v : 4096;
    }
    return ps;
}

static void fail(struct pt_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(struct pt_result *r, const char *fmt, ...)
{
    if (!r->ok)
        return;                 /* keep the first reason: later ones are usually fallout */
    r->ok = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
}

static volatile uint64_t *word(void *base, uint64_t page, size_t idx)
{
    return (volatile uint64_t *)((char *)base + page * page_size()) + idx;
}

/* Anonymous private mapping with 4 KiB granularity: a transparent huge page would
 * turn 512 faults into one and hide exactly the page-table work we measure. */
static void *map_pages(uint64_t pages, int flags)
{
    size_t len = pages * page_size();
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* Advisory: fails with EINVAL on kernels without THP, which is what we want anyway. */
    (void)madvise(p, len, MADV_NOHUGEPAGE);
    return p;
}

static const char *describe_status(int st, char *buf, size_t len)
{
    if (WIFEXITED(st))
        snprintf(buf, len, "exit code %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(buf, len, "wait status 0x%x", st);
    return buf;
}

/* ---- forkexec: process creation and teardown (whole address spaces) ---- */
static void run_forkexec(const struct pt_config *cfg, struct pt_result *r)
{
    uint64_t n = cfg->iters[PT_FORKEXEC];
    if (!cfg->self_path) {
        fail(r, "no path to re-execute (neither /proc/self/exe nor argv[0] usable; use --self)");
        return;
    }
    for (uint64_t i = 0; i < n && r->ok; i++) {
        char arg[32];
        snprintf(arg, sizeof arg, "%" PRIu64, i);
        char *argv[] = { (char *)cfg->self_path, (char *)"--child", arg, NULL };
        int expect = pt_child_code(i);
        if (cfg->inject == PT_FORKEXEC && i == n / 2)
            expect ^= 1;        /* injected fault: the parent expects the wrong code */
        pid_t pid = fork();
        if (pid < 0) {
            fail(r, "iteration %" PRIu64 ": fork: %s", i, strerror(errno));
            return;
        }
        if (pid == 0) {
            execve(cfg->self_path, argv, environ);
            _exit(127);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid) {
            fail(r, "iteration %" PRIu64 ": waitpid: %s", i, strerror(errno));
            return;
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != expect) {
            char d[64];
            fail(r, "iteration %" PRIu64 ": child %s --child %s: expected exit code %d, got %s",
                 i, cfg->self_path, arg, expect, describe_status(st, d, sizeof d));
        }
        r->iters++;
        r->ops++;
    }
}

/* ---- mmap: map, first-touch, verify, unmap ---- */
static void run_mmap(const struct pt_config *cfg, struct pt_result *r)
{
    uint64_t n = cfg->iters[PT_MMAP], pages = cfg->mmap_pages;
    size_t last = page_size() / sizeof(uint64_t) - 1;
    for (uint64_t i = 0; i < n && r->ok; i++) {
        void *p = map_pages(pages, MAP_PRIVATE);
        if (!p) {
            fail(r, "iteration %" PRIu64 ": mmap of %" PRIu64 " pages: %s", i, pages, strerror(errno));
            return;
        }
        for (uint64_t pg = 0; pg < pages; pg++) {
            uint64_t v = pattern(i, pg);
            /* Write first: a read first would map the zero page and cost a second fault. */
            *word(p, pg, 0) = v;
            /* Fresh anonymous memory must read as zero: anything else is another
             * frame's data leaking through a wrong mapping. */
            if (*word(p, pg, 1) != 0 || *word(p, pg, last) != 0) {
                fail(r, "iteration %" PRIu64 ": fresh page %" PRIu64 " is not zero", i, pg);
                break;
            }
            *word(p, pg, last) = ~v;
        }
        if (cfg->inject == PT_MMAP && i == n / 2)
            *word(p, pages / 2, 0) ^= 1;
        for (uint64_t pg = 0; pg < pages && r->ok; pg++) {
            uint64_t v = pattern(i, pg), a = *word(p, pg, 0), b = *word(p, pg, last);
            if (a != v || b != ~v)
                fail(r, "iteration %" PRIu64 ": page %" PRIu64 " reads 0x%" PRIx64 "/0x%" PRIx64
                     ", wrote 0x%" PRIx64 "/0x%" PRIx64, i, pg, a, b, v, ~v);
        }
        if (munmap(p, pages * page_size()) != 0) {
            fail(r, "iteration %" PRIu64 ": munmap: %s", i, strerror(errno));
            return;
        }
        r->iters++;
        r->ops++;
    }
}

/* ---- mprotect: flip one region between RO and RW ---- */
static sigjmp_buf segv_jmp;
static volatile sig_atomic_t segv_armed;

static void on_segv(int sig)
{
    if (segv_armed) {
        segv_armed = 0;
        siglongjmp(segv_jmp, 1);
    }
    /* Not expected here: die with the default action so the fault is visible. */
    signal(sig, SIG_DFL);
    raise(sig);
}

/* A write to a read-only page must fault and must not land: a PTE left writable
 * by a broken write-protect path would be a memory-isolation hole. */
static int write_must_fault(volatile uint64_t *w, uint64_t value)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &old) != 0)
        return -1;
    int faulted = 0;
    if (sigsetjmp(segv_jmp, 1) == 0) {
        segv_armed = 1;
        *w = value;
        segv_armed = 0;
    } else {
        faulted = 1;
    }
    sigaction(SIGSEGV, &old, NULL);
    return faulted;
}

static void run_mprotect(const struct pt_config *cfg, struct pt_result *r)
{
    uint64_t n = cfg->iters[PT_MPROTECT], pages = cfg->mprotect_pages;
    size_t len = pages * page_size();
    void *p = map_pages(pages, MAP_PRIVATE);
    if (!p) {
        fail(r, "mmap of %" PRIu64 " pages: %s", pages, strerror(errno));
        return;
    }
    for (uint64_t i = 0; i < n && r->ok; i++) {
        if (mprotect(p, len, PROT_READ | PROT_WRITE) != 0) {
            fail(r, "iteration %" PRIu64 ": mprotect(RW): %s", i, strerror(errno));
            break;
        }
        for (uint64_t pg = 0; pg < pages; pg++)
            *word(p, pg, 0) = pattern(i, pg);
        if (cfg->inject == PT_MPROTECT && i == n / 2)
            *word(p, pages - 1, 0) = pattern(i, pages - 1) + 1;
        if (mprotect(p, len, PROT_READ) != 0) {
            fail(r, "iteration %" PRIu64 ": mprotect(RO): %s", i, strerror(errno));
            break;
        }
        for (uint64_t pg = 0; pg < pages; pg++) {
            uint64_t v = pattern(i, pg), a = *word(p, pg, 0);
            if (a != v) {
                fail(r, "iteration %" PRIu64 ": read-only page %" PRIu64 " reads 0x%" PRIx64
                     ", wrote 0x%" PRIx64, i, pg, a, v);
                break;
            }
        }
        /* Only at both ends: the signal round trip would dominate the measurement. */
        if (r->ok && (i == 0 || i + 1 == n)) {
            uint64_t v = pattern(i, 0);
            int f = write_must_fault(word(p, 0, 0), ~v);
            if (f < 0)
                fail(r, "sigaction(SIGSEGV): %s", strerror(errno));
            else if (!f)
                fail(r, "iteration %" PRIu64 ": write to a PROT_READ page did not fault", i);
            else if (*word(p, 0, 0) != v)
                fail(r, "iteration %" PRIu64 ": faulting write to a PROT_READ page changed it", i);
        }
        r->iters++;
        r->ops += 2;
    }
    if (munmap(p, len) != 0)
        fail(r, "munmap: %s", strerror(errno));
}

/* ---- pagefault: one minor fault per page ---- */
static void run_pagefault(const struct pt_config *cfg, struct pt_result *r)
{
    uint64_t n = cfg->iters[PT_PAGEFAULT], pages = cfg->pf_pages;
    for (uint64_t i = 0; i < n && r->ok; i++) {
        void *p = map_pages(pages, MAP_PRIVATE);
        if (!p) {
            fail(r, "iteration %" PRIu64 ": mmap of %" PRIu64 " pages: %s", i, pages, strerror(errno));
            return;
        }
        /* Exactly one write per page: the first touch is the fault we count. */
        for (uint64_t pg = 0; pg < pages; pg++)
            *word(p, pg, 1) = pattern(i, pg);
        if (cfg->inject == PT_PAGEFAULT && i == n / 2)
            *word(p, pages / 3, 1) ^= 0x100;
        for (uint64_t pg = 0; pg < pages; pg++) {
            uint64_t v = pattern(i, pg), a = *word(p, pg, 1);
            if (a != v || *word(p, pg, 0) != 0) {
                fail(r, "iteration %" PRIu64 ": page %" PRIu64 " reads 0x%" PRIx64
                     ", wrote 0x%" PRIx64, i, pg, a, v);
                break;
            }
        }
        if (munmap(p, pages * page_size()) != 0) {
            fail(r, "iteration %" PRIu64 ": munmap: %s", i, strerror(errno));
            return;
        }
        r->iters++;
        r->ops += pages;
    }
}

/* ---- fork: copy-on-write isolation between parent and child ---- */
enum { COW_CHILD_OK = 0, COW_CHILD_SAW_WRONG = 3, COW_CHILD_READBACK = 4 };

static void cow_child(void *p, uint64_t i, uint64_t pages, uint64_t cow)
{
    for (uint64_t pg = 0; pg < pages; pg++)
        if (*word(p, pg, 0) != pattern(i, pg))
            _exit(COW_CHILD_SAW_WRONG);
    uint64_t stride = pages / cow;
    for (uint64_t k = 0; k < cow; k++) {
        uint64_t pg = k * stride;
        *word(p, pg, 0) = ~pattern(i, pg);
        if (*word(p, pg, 0) != ~pattern(i, pg))
            _exit(COW_CHILD_READBACK);
    }
    _exit(COW_CHILD_OK);
}

static void run_fork(const struct pt_config *cfg, struct pt_result *r)
{
    uint64_t n = cfg->iters[PT_FORK], pages = cfg->fork_pages, cow = cfg->cow_pages;
    /* Injected fault: a shared buffer has no copy-on-write, so the child's writes reach
     * the parent, which is exactly what the parent's check is there to catch. */
    int flags = cfg->inject == PT_FORK ? MAP_SHARED : MAP_PRIVATE;
    void *p = map_pages(pages, flags);
    if (!p) {
        fail(r, "mmap of %" PRIu64 " pages: %s", pages, strerror(errno));
        return;
    }
    for (uint64_t i = 0; i < n && r->ok; i++) {
        /* New contents every iteration, so each fork write-protects dirty PTEs. */
        for (uint64_t pg = 0; pg < pages; pg++)
            *word(p, pg, 0) = pattern(i, pg);
        pid_t pid = fork();
        if (pid < 0) {
            fail(r, "iteration %" PRIu64 ": fork: %s", i, strerror(errno));
            break;
        }
        if (pid == 0)
            cow_child(p, i, pages, cow);
        int st;
        if (waitpid(pid, &st, 0) != pid) {
            fail(r, "iteration %" PRIu64 ": waitpid: %s", i, strerror(errno));
            break;
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != COW_CHILD_OK) {
            char d[64];
            fail(r, "iteration %" PRIu64 ": child %s (%s)", i, describe_status(st, d, sizeof d),
                 WIFEXITED(st) && WEXITSTATUS(st) == COW_CHILD_SAW_WRONG ?
                     "child saw data different from the parent's" :
                 WIFEXITED(st) && WEXITSTATUS(st) == COW_CHILD_READBACK ?
                     "child's write did not read back" : "child failed");
            break;
        }
        for (uint64_t pg = 0; pg < pages; pg++) {
            uint64_t v = pattern(i, pg), a = *word(p, pg, 0);
            if (a != v) {
                fail(r, "iteration %" PRIu64 ": parent page %" PRIu64 " changed by the child "
                     "(0x%" PRIx64 " instead of 0x%" PRIx64 "): copy-on-write broken", i, pg, a, v);
                break;
            }
        }
        r->iters++;
        r->ops++;
    }
    if (munmap(p, pages * page_size()) != 0)
        fail(r, "munmap: %s", strerror(errno));
}

/* ---- pipeline: sh -c 'seq | sort -rn | gzip | gunzip | sort -n | awk' ---- */
static void run_pipeline(const struct pt_config *cfg, struct pt_result *r)
{
    uint64_t n = cfg->iters[PT_PIPELINE], lines = cfg->pipeline_lines;
    char cmd[256], want[96], got[96];
    snprintf(cmd, sizeof cmd,
             "seq 1 %" PRIu64 " | sort -rn | gzip -c | gunzip -c | sort -n | "
             "awk 'NR == 1 { a = $1 } { s += $1 } END { print a, $1, NR, s }'", lines);
    /* First, last, count and sum of 1..lines: a lost, reordered or corrupted line shows. */
    snprintf(want, sizeof want, "1 %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", lines, lines,
             lines * (lines + 1) / 2);
    for (uint64_t i = 0; i < n && r->ok; i++) {
        FILE *f = popen(cmd, "r");
        if (!f) {
            fail(r, "iteration %" PRIu64 ": popen: %s", i, strerror(errno));
            return;
        }
        size_t len = fread(got, 1, sizeof got - 1, f);
        got[len] = '\0';
        int st = pclose(f);
        if (cfg->inject == PT_PIPELINE && i == n / 2)
            got[0] ^= 1;        /* injected fault: a corrupted answer */
        if (st != 0 || strcmp(got, want) != 0) {
            char d[64];
            fail(r, "iteration %" PRIu64 ": pipeline printed '%.40s' (want '%.40s'), %s", i, got,
                 want, st == -1 ? strerror(errno) : describe_status(st, d, sizeof d));
        }
        r->iters++;
        r->ops++;
    }
}

void pt_run_phase(int phase, const struct pt_config *cfg, struct pt_result *r)
{
    memset(r, 0, sizeof *r);
    r->ok = true;
    struct wl_faults s0, s1, c0, c1;
    if (wl_faults_self(&s0) != 0 || wl_faults_children(&c0) != 0) {
        fail(r, "getrusage: %s", strerror(errno));
        return;
    }
    uint64_t t0 = dmp_mono_ns();
    switch (phase) {
    case PT_FORKEXEC:  run_forkexec(cfg, r); break;
    case PT_MMAP:      run_mmap(cfg, r); break;
    case PT_MPROTECT:  run_mprotect(cfg, r); break;
    case PT_PAGEFAULT: run_pagefault(cfg, r); break;
    case PT_FORK:      run_fork(cfg, r); break;
    case PT_PIPELINE:  run_pipeline(cfg, r); break;
    default:           fail(r, "unknown phase %d", phase); return;
    }
    r->ns_total = dmp_mono_ns() - t0;
    if (wl_faults_self(&s1) != 0 || wl_faults_children(&c1) != 0) {
        fail(r, "getrusage: %s", strerror(errno));
        return;
    }
    r->self.minflt = s1.minflt - s0.minflt;
    r->self.majflt = s1.majflt - s0.majflt;
    r->children.minflt = c1.minflt - c0.minflt;
    r->children.majflt = c1.majflt - c0.majflt;
}
