/* ptbench: page-table-heavy micro-benchmarks for Xen guests (PV, PVH-HAP, PVH-shadow).
 *
 * Runs inside a busybox guest whose console is stdin/stdout; a dom0 agent reads the
 * tagged lines and, with --sync, brackets each phase with hypervisor counter snapshots.
 * Hidden test option: --inject-fault <phase> breaks that phase's expected value so the
 * self-check must fail (proves the checks can fire). */
#include "pt_phases.h"
#include "wl_proto.h"

#include "dmpcommon/util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct opts {
    struct pt_config cfg;
    bool selected[PT_NPHASES];
    uint64_t rounds;            /* 0 = forever */
    bool sync;
    unsigned sync_timeout;
    bool json;
};

static void usage(FILE *f)
{
    fprintf(f,
"usage: ptbench [options]\n"
"Page-table-heavy micro-benchmarks that verify their own results.\n"
"\n"
"  --phases LIST       comma-separated subset of: forkexec,mmap,mprotect,pagefault,fork,pipeline\n"
"                      (default: all, in that order)\n"
"  --iters N           iterations for every selected phase, or per phase:\n"
"                      --iters forkexec=10,mmap=50 (others keep their default)\n"
"  --scale F           multiply the default iterations by F (e.g. 0.1), at least 1\n"
"  --rounds R          repeat the phase sequence R times; 0 = until failure or killed\n"
"                      (default 1)\n"
"  --sync              before and after each phase print @@DMP-SYNC and wait for a\n"
"                      line \"go\" on stdin\n"
"  --sync-timeout S    give up waiting for \"go\" after S seconds (default 120)\n"
"  --json / --no-json  tagged JSON lines (default) or a human-readable summary\n"
"  --mmap-pages P      pages per mmap cycle (default 64)\n"
"  --mprotect-pages P  pages of the mprotect region (default 4)\n"
"  --pf-pages P        pages per pagefault iteration (default 4096)\n"
"  --fork-pages P      parent buffer pages in the fork phase (default 256)\n"
"  --cow-pages K       pages the child writes in the fork phase (default 64)\n"
"  --self PATH         executable to re-exec in forkexec (default /proc/self/exe)\n"
"  --help\n"
"\n"
"Default iterations: forkexec 100, mmap 400, mprotect 20000, pagefault 10, fork 100\n"
"(about 50 ms each on the development host, a KVM guest; 1-3 s in a TCG-emulated Xen guest).\n"
"Output: one @@DMP-RESULT {json} per phase and round (rounds count from 0), then\n"
"@@DMP-DONE {json}.\n"
"Exit status: 0 all checks passed, 1 a check failed, 2 usage error, 3 sync or I/O failure.\n");
}

static int parse_phases(const char *s, bool sel[PT_NPHASES])
{
    memset(sel, 0, sizeof(bool) * PT_NPHASES);
    char *dup = strdup(s), *save = NULL;
    if (!dup)
        return -1;
    int n = 0, rc = 0;
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "all") == 0) {
            for (int p = 0; p < PT_NPHASES; p++)
                sel[p] = true;
            n++;
            continue;
        }
        int p = pt_phase_lookup(tok);
        if (p < 0) {
            fprintf(stderr, "error: --phases: unknown phase \"%s\" "
                    "(known: forkexec,mmap,mprotect,pagefault,fork)\n", tok);
            rc = -1;
            break;
        }
        sel[p] = true;
        n++;
    }
    if (rc == 0 && n == 0) {
        fprintf(stderr, "error: --phases: empty list\n");
        rc = -1;
    }
    free(dup);
    return rc;
}

/* "N" sets every phase; "name=N,..." sets the named ones. */
static int parse_iters(const char *s, uint64_t iters[PT_NPHASES], bool explicit_[PT_NPHASES])
{
    uint64_t v;
    if (!strchr(s, '=')) {
        if (wl_parse_count("--iters", s, 1, UINT32_MAX, &v) != 0)
            return -1;
        for (int p = 0; p < PT_NPHASES; p++) {
            iters[p] = v;
            explicit_[p] = true;
        }
        return 0;
    }
    char *dup = strdup(s), *save = NULL;
    if (!dup)
        return -1;
    int rc = 0;
    for (char *tok = strtok_r(dup, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        int p = -1;
        if (eq) {
            *eq = '\0';
            p = pt_phase_lookup(tok);
        }
        if (p < 0) {
            fprintf(stderr, "error: --iters: expected N or phase=N,..., got \"%s\"\n", tok);
            rc = -1;
        } else if (wl_parse_count("--iters", eq + 1, 1, UINT32_MAX, &v) != 0) {
            rc = -1;
        } else {
            iters[p] = v;
            explicit_[p] = true;
        }
    }
    free(dup);
    return rc;
}

#define PAGES_MAX (1u << 22)        /* of any one phase's mapping: 16 GiB */

/* The path forkexec re-executes: /proc/self/exe when /proc is mounted, else argv[0]. */
static const char *find_self(const char *argv0)
{
    static char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) {
        buf[n] = '\0';
        return buf;
    }
    if (argv0 && strchr(argv0, '/'))
        return argv0;
    return NULL;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    enum { O_PHASES = 256, O_ITERS, O_SCALE, O_ROUNDS, O_SYNC, O_SYNC_TIMEOUT, O_JSON, O_NO_JSON,
           O_MMAP_PAGES, O_MPROT_PAGES, O_PF_PAGES, O_FORK_PAGES, O_COW_PAGES, O_SELF, O_INJECT,
           O_HELP };
    static const struct option lo[] = {
        { "phases", required_argument, NULL, O_PHASES },
        { "iters", required_argument, NULL, O_ITERS },
        { "scale", required_argument, NULL, O_SCALE },
        { "rounds", required_argument, NULL, O_ROUNDS },
        { "sync", no_argument, NULL, O_SYNC },
        { "sync-timeout", required_argument, NULL, O_SYNC_TIMEOUT },
        { "json", no_argument, NULL, O_JSON },
        { "no-json", no_argument, NULL, O_NO_JSON },
        { "mmap-pages", required_argument, NULL, O_MMAP_PAGES },
        { "mprotect-pages", required_argument, NULL, O_MPROT_PAGES },
        { "pf-pages", required_argument, NULL, O_PF_PAGES },
        { "fork-pages", required_argument, NULL, O_FORK_PAGES },
        { "cow-pages", required_argument, NULL, O_COW_PAGES },
        { "self", required_argument, NULL, O_SELF },
        { "inject-fault", required_argument, NULL, O_INJECT },
        { "help", no_argument, NULL, O_HELP },
        { NULL, 0, NULL, 0 },
    };
    pt_config_defaults(&o->cfg);
    for (int p = 0; p < PT_NPHASES; p++)
        o->selected[p] = true;
    o->rounds = 1;
    o->sync = false;
    o->sync_timeout = 120;
    o->json = true;
    bool explicit_iters[PT_NPHASES] = { false };
    double scale = 1.0;
    const char *self = NULL;
    uint64_t sync_timeout = o->sync_timeout;
    const struct wl_count_opt counts[] = {
        { O_ROUNDS, "--rounds", 0, UINT32_MAX, &o->rounds },
        { O_SYNC_TIMEOUT, "--sync-timeout", 1, 86400, &sync_timeout },
        { O_MMAP_PAGES, "--mmap-pages", 1, PAGES_MAX, &o->cfg.mmap_pages },
        { O_MPROT_PAGES, "--mprotect-pages", 1, PAGES_MAX, &o->cfg.mprotect_pages },
        { O_PF_PAGES, "--pf-pages", 1, PAGES_MAX, &o->cfg.pf_pages },
        { O_FORK_PAGES, "--fork-pages", 1, PAGES_MAX, &o->cfg.fork_pages },
        { O_COW_PAGES, "--cow-pages", 1, PAGES_MAX, &o->cfg.cow_pages },
    };
    const struct wl_cmdline cl = { lo, O_HELP, usage, counts, sizeof counts / sizeof counts[0] };
    for (int c; (c = wl_getopt(argc, argv, &cl)) != -1;) {
        switch (c) {
        case WL_OPT_BAD:
            return -1;
        case O_PHASES:
            if (parse_phases(optarg, o->selected) != 0)
                return -1;
            break;
        case O_ITERS:
            if (parse_iters(optarg, o->cfg.iters, explicit_iters) != 0)
                return -1;
            break;
        case O_SCALE: {
            char *end;
            errno = 0;
            scale = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(scale > 0) || scale > 1e6) {
                fprintf(stderr, "error: --scale expects a number in (0, 1e6], got \"%s\"\n", optarg);
                return -1;
            }
            break;
        }
        case O_SYNC:
            o->sync = true;
            break;
        case O_JSON:
            o->json = true;
            break;
        case O_NO_JSON:
            o->json = false;
            break;
        case O_SELF:
            self = optarg;
            break;
        case O_INJECT:
            o->cfg.inject = pt_phase_lookup(optarg);
            if (o->cfg.inject < 0) {
                fprintf(stderr, "error: --inject-fault: unknown phase \"%s\"\n", optarg);
                return -1;
            }
            break;
        }
    }
    o->sync_timeout = (unsigned)sync_timeout;
    if (o->cfg.cow_pages > o->cfg.fork_pages) {
        fprintf(stderr, "error: --cow-pages (%" PRIu64 ") exceeds --fork-pages (%" PRIu64 ")\n",
                o->cfg.cow_pages, o->cfg.fork_pages);
        return -1;
    }
    for (int p = 0; p < PT_NPHASES; p++) {
        if (explicit_iters[p])
            continue;
        double s = round((double)o->cfg.iters[p] * scale);
        o->cfg.iters[p] = s < 1 ? 1 : (uint64_t)s;
    }
    o->cfg.self_path = self ? self : find_self(argv[0]);
    return 0;
}

static int emit_sync(const char *phase, const char *edge, uint64_t round)
{
    struct dmp_json j;
    wl_line_begin(&j, stdout, WL_TAG_SYNC);
    DMP_JSON_KV(&j, "phase", dmp_json_str, phase);
    DMP_JSON_KV(&j, "edge", dmp_json_str, edge);
    DMP_JSON_KV(&j, "round", dmp_json_u64, round);
    return wl_line_end(&j);
}

static int emit_result(const struct opts *o, int phase, uint64_t round, const struct pt_result *r)
{
    double per_op = r->ops ? (double)r->ns_total / (double)r->ops : 0.0;
    if (!o->json) {
        printf("%-9s round %" PRIu64 ": %6" PRIu64 " iters %8" PRIu64 " ops %10.3f ms "
               "%10.1f ns/op (%s) minflt %" PRIu64 " %s%s\n",
               pt_phase_name(phase), round, r->iters, r->ops, (double)r->ns_total / 1e6, per_op,
               pt_phase_unit(phase), r->self.minflt, r->ok ? "ok" : "FAILED: ", r->ok ? "" : r->reason);
        return fflush(stdout) == 0 ? 0 : -1;
    }
    struct dmp_json j;
    wl_line_begin(&j, stdout, WL_TAG_RESULT);
    DMP_JSON_KV(&j, "phase", dmp_json_str, pt_phase_name(phase));
    DMP_JSON_KV(&j, "iters", dmp_json_u64, r->iters);
    DMP_JSON_KV(&j, "ops", dmp_json_u64, r->ops);
    DMP_JSON_KV(&j, "unit", dmp_json_str, pt_phase_unit(phase));
    DMP_JSON_KV(&j, "ns_total", dmp_json_u64, r->ns_total);
    DMP_JSON_KV(&j, "ns_per_op", dmp_json_double, per_op);
    DMP_JSON_KV(&j, "minflt", dmp_json_u64, r->self.minflt);
    DMP_JSON_KV(&j, "majflt", dmp_json_u64, r->self.majflt);
    DMP_JSON_KV(&j, "child_minflt", dmp_json_u64, r->children.minflt);
    DMP_JSON_KV(&j, "child_majflt", dmp_json_u64, r->children.majflt);
    switch (phase) {
    case PT_MMAP:
        DMP_JSON_KV(&j, "pages", dmp_json_u64, o->cfg.mmap_pages);
        break;
    case PT_MPROTECT:
        DMP_JSON_KV(&j, "pages", dmp_json_u64, o->cfg.mprotect_pages);
        break;
    case PT_PAGEFAULT:
        /* One fault per touched page is expected; minflt/faults_expected near 1 means
         * ns_total/minflt is a per-fault cost. */
        DMP_JSON_KV(&j, "pages", dmp_json_u64, o->cfg.pf_pages);
        DMP_JSON_KV(&j, "faults_expected", dmp_json_u64, r->iters * o->cfg.pf_pages);
        DMP_JSON_KV(&j, "ns_per_fault", dmp_json_double,
                    r->self.minflt ? (double)r->ns_total / (double)r->self.minflt : 0.0);
        break;
    case PT_FORK:
        DMP_JSON_KV(&j, "pages", dmp_json_u64, o->cfg.fork_pages);
        DMP_JSON_KV(&j, "cow_pages", dmp_json_u64, o->cfg.cow_pages);
        break;
    default:
        break;
    }
    DMP_JSON_KV(&j, "ok", dmp_json_bool, r->ok);
    if (!r->ok)
        DMP_JSON_KV(&j, "reason", dmp_json_str, r->reason);
    DMP_JSON_KV(&j, "round", dmp_json_u64, round);
    return wl_line_end(&j);
}

struct outcome {
    bool ok;
    int exit_code;
    uint64_t rounds_done, results;
    int failed_phase;           /* -1 if none */
    char reason[300];
};

static void emit_done(const struct opts *o, int nphases, const struct outcome *out)
{
    if (!o->json) {
        printf("done: %s, %d phases, %" PRIu64 " rounds%s%s\n", out->ok ? "ok" : "FAILED", nphases,
               out->rounds_done, out->ok ? "" : ": ", out->ok ? "" : out->reason);
        fflush(stdout);
        return;
    }
    struct dmp_json j;
    wl_line_begin(&j, stdout, WL_TAG_DONE);
    DMP_JSON_KV(&j, "ok", dmp_json_bool, out->ok);
    DMP_JSON_KV(&j, "phases", dmp_json_u64, (uint64_t)nphases);
    DMP_JSON_KV(&j, "rounds", dmp_json_u64, out->rounds_done);
    DMP_JSON_KV(&j, "results", dmp_json_u64, out->results);
    if (!out->ok) {
        DMP_JSON_KV(&j, "failed_phase", dmp_json_str,
                    out->failed_phase >= 0 ? pt_phase_name(out->failed_phase) : NULL);
        DMP_JSON_KV(&j, "reason", dmp_json_str, out->reason);
    }
    (void)wl_line_end(&j);      /* nothing left to report a broken console to */
}

/* Bracket a phase for the dom0 agent. Returns 0 or -1 with out filled in. */
static int sync_edge(const struct opts *o, int phase, const char *edge, uint64_t round,
                     struct outcome *out)
{
    if (!o->sync)
        return 0;
    char err[160];
    if (emit_sync(pt_phase_name(phase), edge, round) != 0) {
        snprintf(err, sizeof err, "writing the sync line to stdout failed");
    } else if (wl_sync_wait(STDIN_FILENO, o->sync_timeout, err, sizeof err) == 0) {
        return 0;
    }
    fprintf(stderr, "ptbench: sync at the %s of phase %s: %s\n", edge, pt_phase_name(phase), err);
    if (out->ok) {              /* keep the first failure as the reported one */
        out->failed_phase = phase;
        snprintf(out->reason, sizeof out->reason, "sync %s: %s", edge, err);
    }
    out->ok = false;
    out->exit_code = WL_EXIT_ENV;
    return -1;
}

int main(int argc, char **argv)
{
    /* Child of the forkexec phase: as little work as possible before exiting. */
    if (argc == 3 && strcmp(argv[1], "--child") == 0) {
        uint64_t n;
        if (dmp_parse_u64(argv[2], &n) != 0)
            return 126;
        return pt_child_code(n);
    }

    struct opts o;
    if (parse_args(argc, argv, &o) != 0)
        return WL_EXIT_USAGE;

    int order[PT_NPHASES], nphases = 0;
    for (int p = 0; p < PT_NPHASES; p++)
        if (o.selected[p])
            order[nphases++] = p;

    struct outcome out = { .ok = true, .exit_code = WL_EXIT_OK, .failed_phase = -1 };
    for (uint64_t round = 0; out.ok && (o.rounds == 0 || round < o.rounds); round++) {
        for (int k = 0; k < nphases; k++) {
            int p = order[k];
            if (sync_edge(&o, p, "begin", round, &out) != 0)
                goto done;
            struct pt_result r;
            pt_run_phase(p, &o.cfg, &r);
            out.results++;
            if (emit_result(&o, p, round, &r) != 0) {
                fprintf(stderr, "ptbench: writing results to stdout failed\n");
                return WL_EXIT_ENV;
            }
            if (!r.ok) {
                fprintf(stderr, "ptbench: phase %s round %" PRIu64 " FAILED: %s\n",
                        pt_phase_name(p), round, r.reason);
                if (out.ok) {
                    out.ok = false;
                    out.exit_code = WL_EXIT_CHECK;
                    out.failed_phase = p;
                    snprintf(out.reason, sizeof out.reason, "%s", r.reason);
                }
            }
            if (sync_edge(&o, p, "end", round, &out) != 0)
                goto done;
        }
        out.rounds_done++;
    }
done:
    emit_done(&o, nphases, &out);
    return out.exit_code;
}
