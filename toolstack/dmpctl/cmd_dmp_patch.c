/* dmpctl dmp patch / status / unpatch: live patching of a running guest kernel, in
 * "passthrough" mode (the stubs' hv_update does the original write) or "fastpath" mode (the
 * hv_update asks Xen to do the store, Xen patch 0007, and falls back to the passthrough store
 * on any error; the mode is in the journal, unpatch turns the fast path off after restoring
 * the text) or "log" mode (stores inside Linux's lazy MMU sections are logged per CPU and
 * applied by one hypercall at the section's end, Xen patch 0009; unpatch first switches the
 * logging off and waits for every CPU's log to empty). Safety rules and the journal:
 * docs/DMP.md "Live patching".
 *
 * Journal: written BEFORE the first guest byte changes, in two places so that a new dmpctl
 * process (a toolstack restart) can undo: xenstore /local/domain/0/dmp/<domid>/journal/
 * (dom0's own subtree: the guest can neither read nor change it; chunked because xenstored
 * limits a node's size) and the file /var/lib/dmp/dmp/<domain-uuid>.journal. */
#include <cpuid.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xenstore.h>

#include "cmd_dmp.h"
#include "dmppatcher/classify.h"
#include "dmpcli/cli.h"
#include "dmppatcher/codeview.h"
#include "dmpxen/domain.h"
#include "dmp/fastpath.h"
#include "dmppatcher/journal.h"
#include "dmpcommon/json.h"
#include "dmpintrospect/live.h"
#include "dmp/livepatch.h"
#include "dmppatcher/plan.h"
#include "dmppatcher/pvsites.h"
#include "dmpcommon/util.h"

#define JOURNAL_DIR "/var/lib/dmp/dmp"
#define XS_CHUNK 1024          /* xenstored's default node size quota is 2048 bytes */
#define XS_MAX_CHUNKS 4096
#define RIP_RETRIES 50         /* pause/unpause rounds waiting for vCPUs to leave a range */
#define GRACE_US 200000        /* after restoring sites, before removing the stubs */
#define DRAIN_ROUNDS 100       /* pause/unpause rounds waiting for per-CPU logs to empty */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- domain identity ---- */

struct dom {
    uint32_t domid;
    char name[DMP_DOMAIN_NAME_MAX];
    char uuid[64];
    char xs_dir[64];
    char file[256];
};

static int resolve(struct xs_handle *xs, const char *cmd, const char *spec, struct dom *d)
{
    char err[512];
    memset(d, 0, sizeof(*d));
    if (dmp_domain_resolve(xs, spec, &d->domid, d->name, sizeof(d->name), err, sizeof(err)))
        return dmp_cli_error(DMP_EXIT_USAGE, cmd, "%s", err);
    char path[64];
    unsigned len;
    snprintf(path, sizeof(path), "/local/domain/%u/vm", d->domid);
    char *vm = xs_read(xs, XBT_NULL, path, &len);
    const char *u = vm ? strrchr(vm, '/') : NULL;
    snprintf(d->uuid, sizeof(d->uuid), "%s", u && u[1] ? u + 1 : "");
    free(vm);
    snprintf(d->xs_dir, sizeof(d->xs_dir), "/local/domain/0/dmp/%u/journal", d->domid);
    snprintf(d->file, sizeof(d->file), "%s/%s.journal", JOURNAL_DIR,
             d->uuid[0] ? d->uuid : d->name);
    return DMP_EXIT_OK;
}

/* ---- journal storage ---- */

static int journal_store(struct xs_handle *xs, const struct dom *d, const char *text, char *err,
                         size_t errlen)
{
    size_t len = strlen(text), n = (len + XS_CHUNK - 1) / XS_CHUNK;
    if (n > XS_MAX_CHUNKS) {
        snprintf(err, errlen, "journal too large for xenstore (%zu bytes)", len);
        return -E2BIG;
    }
    int rc = dmp_mkdir_p(JOURNAL_DIR);
    if (rc == 0)
        rc = dmp_write_file_atomic(d->file, text, len);
    if (rc) {
        snprintf(err, errlen, "cannot write journal %s: %s", d->file, strerror(rc < 0 ? -rc : rc));
        return rc < 0 ? rc : -rc;
    }
    for (unsigned tries = 0; tries < 8; tries++) {
        xs_transaction_t t = xs_transaction_start(xs);
        if (t == XBT_NULL)
            break;
        bool ok = true;
        char path[128], num[32];
        xs_rm(xs, t, d->xs_dir);   /* may not exist */
        for (size_t i = 0; i < n && ok; i++) {
            snprintf(path, sizeof(path), "%s/%zu", d->xs_dir, i);
            size_t cl = len - i * XS_CHUNK < XS_CHUNK ? len - i * XS_CHUNK : XS_CHUNK;
            ok = xs_write(xs, t, path, text + i * XS_CHUNK, (unsigned)cl);
        }
        snprintf(path, sizeof(path), "%s/uuid", d->xs_dir);
        ok = ok && xs_write(xs, t, path, d->uuid, (unsigned)strlen(d->uuid));
        snprintf(path, sizeof(path), "%s/chunks", d->xs_dir);
        snprintf(num, sizeof(num), "%zu", n);
        ok = ok && xs_write(xs, t, path, num, (unsigned)strlen(num));
        if (!ok) {
            xs_transaction_end(xs, t, true);
            break;
        }
        if (xs_transaction_end(xs, t, false))
            return 0;
        if (errno != EAGAIN)
            break;
    }
    snprintf(err, errlen, "cannot write journal to xenstore %s: %s", d->xs_dir, strerror(errno));
    unlink(d->file);
    return -EIO;
}

/* Returns malloc'd text and where it came from, or NULL when there is no journal. */
static char *journal_fetch(struct xs_handle *xs, const struct dom *d, const char **where)
{
    char path[128];
    unsigned len;
    snprintf(path, sizeof(path), "%s/chunks", d->xs_dir);
    char *cs = xs_read(xs, XBT_NULL, path, &len);
    snprintf(path, sizeof(path), "%s/uuid", d->xs_dir);
    char *uu = xs_read(xs, XBT_NULL, path, &len);
    /* A journal left by an earlier domain with the same id (destroyed without unpatch) is
     * not this domain's. */
    bool mine = uu && strcmp(uu, d->uuid) == 0;
    free(uu);
    unsigned long n = cs ? strtoul(cs, NULL, 10) : 0;
    free(cs);
    if (mine && n > 0 && n <= XS_MAX_CHUNKS) {
        char *text = malloc(n * XS_CHUNK + 1);
        size_t tl = 0;
        bool ok = text != NULL;
        for (unsigned long i = 0; i < n && ok; i++) {
            snprintf(path, sizeof(path), "%s/%lu", d->xs_dir, i);
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
    if (dmp_read_file(d->file, &data, &dl) == 0) {
        *where = "file";
        return (char *)data;
    }
    return NULL;
}

/* 1 = journal loaded, 0 = none, -1 = present but unusable (message printed). */
static int journal_load(struct xs_handle *xs, const struct dom *d, const char *cmd,
                        struct dmp_lp_journal *j, const char **where)
{
    char *text = journal_fetch(xs, d, where);
    if (!text)
        return 0;
    char err[256];
    int rc = dmp_lp_journal_parse(text, j, err, sizeof(err));
    free(text);
    if (rc) {
        dmp_cli_error(DMP_EXIT_FAIL, cmd, "domain %s: journal (%s) unusable: %s", d->name, *where,
                      err);
        return -1;
    }
    if (strcmp(j->uuid, d->uuid) != 0) {   /* stale file of another incarnation */
        dmp_lp_journal_free(j);
        return 0;
    }
    return 1;
}

static void journal_remove(struct xs_handle *xs, const struct dom *d)
{
    char path[96];
    snprintf(path, sizeof(path), "/local/domain/0/dmp/%u", d->domid);
    xs_rm(xs, XBT_NULL, path);
    unlink(d->file);
}

/* ---- guest memory ---- */

static int ki_read(void *ctx, uint64_t va, void *buf, size_t len)
{
    return dmp_kimage_read(ctx, va, buf, len);
}
static int ki_write(void *ctx, uint64_t va, const void *buf, size_t len)
{
    return dmp_kimage_write(ctx, va, buf, len);
}

/* Write page by page (the live write path takes at most 16 pages) and read back. */
static int write_region(struct dmp_live *l, uint64_t va, const uint8_t *b, size_t len, char *err,
                        size_t errlen)
{
    struct dmp_kimage *ki = dmp_live_kimage(l);
    uint8_t back[4096];
    for (size_t off = 0; off < len;) {
        size_t n = 4096 - ((va + off) & 4095);
        if (n > len - off)
            n = len - off;
        int rc = dmp_kimage_write(ki, va + off, b + off, n);
        if (rc == 0)
            rc = dmp_kimage_read(ki, va + off, back, n);
        if (rc == 0 && memcmp(back, b + off, n) != 0)
            rc = -EIO;
        if (rc) {
            snprintf(err, errlen, "write of 0x%" PRIx64 "+%zu failed: %s%s%s", va + off, n,
                     strerror(-rc), rc == -EIO ? " (read back differs)" : "; ",
                     rc == -EIO ? "" : dmp_live_last_error(l));
            return rc;
        }
        off += n;
    }
    return 0;
}

static unsigned held_pauses(const struct dmp_live *l)
{
    struct dmp_live_stats st;
    dmp_live_get_stats(l, &st);
    return st.paused;
}

/* Drop every pause this process holds (pause_clear() and the drain leave the domain paused
 * on some paths); stops at the first unpause that fails. */
static void unpause_all(struct dmp_live *l)
{
    while (held_pauses(l))
        if (dmp_live_unpause(l) != 0)
            break;
}

static size_t vcpu_rips(struct dmp_live *l, uint64_t *rips, size_t max)
{
    const struct dmp_live_vcpu *v;
    size_t nv = dmp_live_vcpus(l, &v), k = 0;
    for (size_t i = 0; i < nv && k < max; i++)
        if (v[i].online)
            rips[k++] = v[i].rip;
    return k;
}

static bool plan_busy(const struct dmp_plan *p, const uint64_t *rips, size_t nr)
{
    return dmp_lp_any_in(rips, nr, p->site, p->len) ||
           (p->tramp_va && dmp_lp_any_in(rips, nr, p->tramp_va, p->tramp_len));
}

/* Pause and re-read vCPU states until none is in any range busy() names (bounded). */
static int pause_clear(struct dmp_live *l, bool (*busy)(const void *, const uint64_t *, size_t),
                       const void *arg, uint64_t root_va, unsigned *waits, char *err,
                       size_t errlen)
{
    uint64_t rips[DMP_LIVE_MAX_VCPUS];
    for (unsigned i = 0; i < RIP_RETRIES; i++) {
        int rc = dmp_live_pause(l);
        if (rc) {
            snprintf(err, errlen, "cannot pause: %s", strerror(-rc));
            return rc;
        }
        rc = dmp_live_refresh_vcpus(l, err, errlen);
        if (rc == 0)   /* a root that is live while we hold the pause */
            rc = dmp_live_set_root_for(l, root_va, err, errlen);
        if (rc)
            return rc;   /* still paused: the caller unpauses */
        size_t nr = vcpu_rips(l, rips, DMP_LIVE_MAX_VCPUS);
        if (!busy(arg, rips, nr))
            return 0;
        (*waits)++;
        dmp_live_unpause(l);
        usleep(10000);
    }
    snprintf(err, errlen, "a vCPU stayed inside the code to be changed for %u rounds",
             RIP_RETRIES);
    return -EBUSY;
}

static bool journal_sites_busy(const void *arg, const uint64_t *rips, size_t nr)
{
    const struct dmp_lp_journal *j = arg;
    for (size_t i = 0; i < j->nplans; i++)
        if (plan_busy(&j->plans[i], rips, nr))
            return true;
    return false;
}

static bool stub_busy(const void *arg, const uint64_t *rips, size_t nr)
{
    const struct dmp_lp_journal *j = arg;
    return dmp_lp_any_in(rips, nr, j->stub_base, j->stub_len);
}

static int find_kernel(const char *cmd, const struct dom *d, struct dmp_live *l,
                       struct dmp_live_kernel *k);

/* Open without pausing and find the kernel (the slow part runs while the guest runs). */
static int open_guest(const char *cmd, const struct dom *d, struct dmp_live **out,
                      struct dmp_live_kernel *k, bool need_shadow, bool find)
{
    char err[768];
    int rc = dmp_live_open(d->domid, 0, out, err, sizeof(err));
    if (rc)
        return dmp_cli_error(DMP_EXIT_FAIL, cmd, "%s", err);
    if (!dmp_live_is_hvm(*out)) {
        dmp_live_close(*out);
        return dmp_cli_error(DMP_EXIT_FAIL, cmd,
                             "refused: domain %s is a PV guest; its page-table updates are "
                             "already hypercalls, DMP patches HVM/PVH guests under shadow paging",
                             d->name);
    }
    if (need_shadow && dmp_live_is_hap(*out)) {
        dmp_live_close(*out);
        return dmp_cli_error(DMP_EXIT_NOTHING, cmd,
                             "nothing to do: domain %s uses HAP (its page-table writes do not "
                             "trap)", d->name);
    }
    if (!find)
        return DMP_EXIT_OK;
    rc = find_kernel(cmd, d, *out, k);
    if (rc)
        dmp_live_close(*out);
    return rc;
}

/* Locate the kernel and its symbols; a kernel that cannot be recognised is refused. */
static int find_kernel(const char *cmd, const struct dom *d, struct dmp_live *l,
                       struct dmp_live_kernel *k)
{
    char err[768];
    int rc = dmp_live_find_kernel(l, k, err, sizeof(err));
    if (rc) {
        return dmp_cli_error(DMP_EXIT_FAIL, cmd,
                             "refused: kernel of domain %s not recognised, left untouched: %s",
                             d->name, err);
    }
    return DMP_EXIT_OK;
}

/* Reach known kernel addresses (journal sites) without the slow kernel discovery. */
static int root_for(const char *cmd, const struct dom *d, struct dmp_live *l, uint64_t va)
{
    char err[256];
    if (dmp_live_set_root_for(l, va, err, sizeof(err)) != 0)
        return dmp_cli_error(DMP_EXIT_FAIL, cmd, "domain %s: %s", d->name, err);
    return DMP_EXIT_OK;
}

/* ---- patch ---- */

static void usage_patch(FILE *f)
{
    fprintf(f,
            "usage: dmpctl dmp patch <dom> [--mode passthrough|fastpath|log] [--sites all-mmu|hot]\n"
            "                        [--hot-file F] [--kernel-image F] [--dry-run] [--json]\n"
            "  Patch the running kernel of an HVM/PVH shadow-paging guest so its MMU helper\n"
            "  calls go through DMP stubs (mode " DMP_LP_MODE ": the stubs' hv_update does the\n"
            "  original write; no exit is saved until the hypervisor fast path is plugged in).\n"
            "  --sites all-mmu  direct calls of the MMU helpers in the live text (default)\n"
            "  --sites hot      the addresses in --hot-file F (one per line, e.g. hot RIPs from\n"
            "                   'dmpctl dmp profile'); atomic RMW sites are skipped in " DMP_LP_MODE
            "\n"
            "  --mode fastpath  hv_update asks Xen to do each page-table store with one\n"
            "                   hypercall that also updates the shadows (Xen patch 0007; the\n"
            "                   fast path is turned on for the domain first, and unpatch turns it\n"
            "                   off); on any error the stub does the store itself\n"
            "  --mode log       8-byte page-table stores inside Linux's lazy MMU sections (fork,\n"
            "                   munmap, mprotect) go to a per-CPU log that one hypercall applies\n"
            "                   when the section ends (Xen patch 0009); other stores as\n"
            "                   passthrough. Needs --kernel-image: the guest's vmlinuz/vmlinux\n"
            "                   (its .parainstructions and BTF locate the lazy-MMU call sites)\n"
            "  --mode passthrough  the default: hv_update does the original write\n"
            "  --dry-run        plan only, change nothing\n"
            "Exit status: 0 patched or already patched, 1 refused/failed (guest unchanged),\n"
            "2 usage or unknown domain, 3 nothing to do (HAP guest).\n");
}

struct patch_result {
    char first_refusal[200];
    size_t candidates, planned, refused, skipped_atomic, skipped_busy, skipped_changed, applied;
    unsigned refusals[DMP_REFUSE_MAX];
    double t_plan, t_paused, t_total;
};

static void print_patch_json(const struct dom *d, const struct dmp_lp_journal *j,
                             const struct patch_result *r, bool dry, bool already, bool cached)
{
    struct dmp_json js;
    dmp_json_init(&js, stdout, true);
    dmp_json_obj_begin(&js);
    DMP_JSON_KV(&js, "domain", dmp_json_str, d->name);
    DMP_JSON_KV(&js, "domid", dmp_json_u64, d->domid);
    DMP_JSON_KV(&js, "mode", dmp_json_str, j->mode[0] ? j->mode : DMP_LP_MODE);
    DMP_JSON_KV(&js, "dry_run", dmp_json_bool, dry);
    DMP_JSON_KV(&js, "already_patched", dmp_json_bool, already);
    DMP_JSON_KV(&js, "sites", dmp_json_u64, j->nplans);
    DMP_JSON_KV(&js, "stub_base", dmp_json_hex, j->stub_base);
    DMP_JSON_KV(&js, "stub_len", dmp_json_u64, j->stub_len);
    DMP_JSON_KV(&js, "hv_update", dmp_json_hex, j->hv_update);
    if (r) {
        DMP_JSON_KV(&js, "candidates", dmp_json_u64, r->candidates);
        DMP_JSON_KV(&js, "planned", dmp_json_u64, r->planned);
        DMP_JSON_KV(&js, "refused", dmp_json_u64, r->refused);
        dmp_json_key(&js, "refusals");
        dmp_json_obj_begin(&js);
        for (int i = 1; i < DMP_REFUSE_MAX; i++)
            if (r->refusals[i])
                DMP_JSON_KV(&js, dmp_refusal_name(i), dmp_json_u64, r->refusals[i]);
        dmp_json_obj_end(&js);
        DMP_JSON_KV(&js, "skipped_atomic", dmp_json_u64, r->skipped_atomic);
        DMP_JSON_KV(&js, "skipped_vcpu_inside", dmp_json_u64, r->skipped_busy);
        DMP_JSON_KV(&js, "skipped_bytes_changed", dmp_json_u64, r->skipped_changed);
        DMP_JSON_KV(&js, "applied", dmp_json_u64, r->applied);
        DMP_JSON_KV(&js, "plan_secs", dmp_json_double, r->t_plan);
        DMP_JSON_KV(&js, "paused_secs", dmp_json_double, r->t_paused);
        DMP_JSON_KV(&js, "total_secs", dmp_json_double, r->t_total);
    }
    DMP_JSON_KV(&js, "journal_xenstore", dmp_json_str, d->xs_dir);
    DMP_JSON_KV(&js, "journal_file", dmp_json_str, d->file);
    DMP_JSON_KV(&js, "plans_cached", dmp_json_bool, cached);
    dmp_json_obj_end(&js);
    dmp_json_finish(&js);
    fputc('\n', stdout);
}

#define CMD_PATCH "dmp patch"

/* Plan cache: classifying and planning the whole live text takes minutes under TCG, and the
 * result depends only on the kernel text. The last all-mmu plan set of a domain is kept in
 * <state dir>/<uuid>.plans (journal format + text_hash) and reused when the text hashes the
 * same. Every cached plan is still checked byte for byte under pause before it is written. */
static void cache_path(const struct dom *d, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s.plans", JOURNAL_DIR, d->uuid[0] ? d->uuid : d->name);
}

static bool cache_try(struct dmp_live *l, const struct dom *d, struct dmp_lp_journal *j)
{
    char path[300], err[256];
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

static void cache_save(const struct dom *d, const struct dmp_lp_journal *j)
{
    char path[300], *text;
    cache_path(d, path, sizeof(path));
    if (dmp_lp_journal_format(j, &text) != 0)
        return;
    /* Only an optimisation: a failure to save costs the next patch its planning time. */
    if (dmp_mkdir_p(JOURNAL_DIR) != 0 || dmp_write_file_atomic(path, text, strlen(text)) != 0)
        fprintf(stderr, "dmpctl dmp patch: note: cannot save the plan cache %s\n", path);
    free(text);
}

/* Build the plans and the stub area image; fills j (plans, stub_new, hv_update). */
static int plan_all(struct dmp_live *l, const struct dom *d, bool hot, const char *hot_file,
                    struct dmp_lp_journal *j, struct patch_result *r)
{
    char err[512];
    struct dmp_codeview cv;
    int rc = dmp_live_codeview(&cv, dmp_live_kimage(l), dmp_live_ksyms(l));
    if (rc)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "domain %s: no kernel text: %s", d->name,
                             strerror(-rc));
    uint64_t *vas = NULL;
    size_t nvas = 0;
    struct dmp_sites sites = { 0 };
    struct dmp_planner *pl = NULL;
    int code = DMP_EXIT_FAIL;
    uint64_t base;
    size_t area;
    if (dmp_lp_find_area(&cv, &base, &area, err, sizeof(err)) != 0) {
        dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "domain %s: %s", d->name, err);
        goto out;
    }
    if (hot) {
        uint8_t *text;
        size_t tl;
        if (dmp_read_file(hot_file, &text, &tl) != 0) {
            code = dmp_cli_error(DMP_EXIT_USAGE, CMD_PATCH, "cannot read hot file '%s'", hot_file);
            goto out;
        }
        rc = dmp_lp_parse_hot((const char *)text, &vas, &nvas, err, sizeof(err));
        free(text);
        if (rc) {
            code = dmp_cli_error(DMP_EXIT_USAGE, CMD_PATCH, "%s: %s", hot_file, err);
            goto out;
        }
    } else {
        rc = dmp_classify_all(&cv, &sites);
        if (rc) {
            dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "classification failed: %s", strerror(-rc));
            goto out;
        }
        if (dmp_lp_select_mmu_sites(&cv, &sites, &vas, &nvas, err, sizeof(err)) != 0) {
            dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "refused: domain %s left untouched: %s",
                          d->name, err);
            goto out;
        }
    }
    struct dmp_planner_opts po = { .stub_base = base, .stub_size = area };
    rc = dmp_planner_new(&cv, &po, &pl);
    if (rc) {
        dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "planner: %s", strerror(-rc));
        goto out;
    }
    j->plans = calloc(nvas ? nvas : 1, sizeof(*j->plans));
    if (!j->plans)
        goto out;
    r->candidates = nvas;
    for (size_t i = 0; i < nvas; i++) {
        struct dmp_plan *p = &j->plans[j->nplans];
        rc = dmp_plan_site(pl, vas[i], p);
        if (rc < 0) {
            dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "planning 0x%" PRIx64 ": %s", vas[i],
                          strerror(-rc));
            goto out;
        }
        if (rc == 1 || p->tactic == DMP_TACTIC_REFUSED) {
            if (r->refused++ == 0)
                snprintf(r->first_refusal, sizeof(r->first_refusal), "0x%" PRIx64 " %s: %s",
                         vas[i], dmp_refusal_name(p->reason), p->detail);
            r->refusals[p->reason < DMP_REFUSE_MAX ? p->reason : 0]++;
            continue;
        }
        r->planned++;
        if (dmp_lp_kind_is_atomic(p->kind)) {
            r->skipped_atomic++;
            continue;
        }
        j->nplans++;
    }
    uint64_t ibase;
    size_t used;
    const uint8_t *img = dmp_planner_stub_area(pl, &ibase, &used);
    rc = ibase == base ? dmp_lp_build_stub(img, base, used, dmp_planner_hv_slot_va(pl), area, j)
                       : -EINVAL;
    if (rc) {
        dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "stub area 0x%" PRIx64 "+%zu: %s (image %zu bytes)",
                      base, area, strerror(-rc), used);
        goto out;
    }
    code = DMP_EXIT_OK;
out:
    dmp_planner_free(pl);
    dmp_sites_free(&sites);
    free(vas);
    dmp_cv_release(&cv);
    return code;
}

/* Log mode, guest paused: where each online vCPU's CPU keeps its log (per-CPU base + log
 * offset), with its entry count and "in a logged section" flag. */
struct log_hdr {
    uint64_t va;
    uint32_t count, active;
};

static int log_headers(struct dmp_live *l, uint64_t log_off, struct log_hdr *h, size_t *n,
                       char *err, size_t errlen)
{
    const struct dmp_live_vcpu *v;
    size_t nv = dmp_live_vcpus(l, &v);
    *n = 0;
    for (size_t i = 0; i < nv; i++) {
        if (!v[i].online)
            continue;
        uint64_t base = dmp_live_vcpu_percpu_base(&v[i]);
        uint32_t w[2];
        if (!base || dmp_kimage_read(dmp_live_kimage(l), base + log_off, w, sizeof(w)) != 0) {
            snprintf(err, errlen, "cannot read the per-CPU log of vCPU %u (per-CPU base 0x%"
                     PRIx64 ")", v[i].id, base);
            return -EIO;
        }
        h[*n] = (struct log_hdr){ base + log_off, w[0], w[1] };
        (*n)++;
    }
    return 0;
}

/* Clear the flags of CPUs that hold no entries (a section's flag can outlive the log mode
 * that set it, when the vCPU was stopped between enter's check and its write). */
static int log_clear_flags(struct dmp_live *l, const struct log_hdr *h, size_t n)
{
    const uint32_t zero = 0;
    for (size_t i = 0; i < n; i++)
        if (h[i].count == 0 && h[i].active &&
            dmp_kimage_write(dmp_live_kimage(l), h[i].va + 4, &zero, 4) != 0)
            return -EIO;
    return 0;
}

/* Patch time: the log's memory must be unused (no entries, nothing in the reserved word). */
static int log_check_unused(struct dmp_live *l, const struct dmp_lp_journal *j, char *err,
                            size_t errlen)
{
    uint64_t on_va, log_off;
    struct log_hdr h[DMP_LIVE_MAX_VCPUS];
    size_t n;
    if (dmp_lp_log_info(j, &on_va, &log_off) != 0) {
        snprintf(err, errlen, "log stub image damaged");
        return -EINVAL;
    }
    int rc = log_headers(l, log_off, h, &n, err, errlen);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint64_t rsv = 1;
        if (h[i].count != 0 || dmp_kimage_read(dmp_live_kimage(l), h[i].va + 8, &rsv, 8) != 0 ||
            rsv != 0) {
            snprintf(err, errlen, "the per-CPU buffer at 0x%" PRIx64 " (Linux's Xen PV multicall "
                     "buffer) is in use", h[i].va);
            rc = -EBUSY;
        }
    }
    if (rc == 0 && log_clear_flags(l, h, n) != 0) {
        snprintf(err, errlen, "cannot reset the per-CPU log flags");
        rc = -EIO;
    }
    return rc;
}

/* With the guest paused: checks, journal, writes. Returns DMP_EXIT_*; on failure every byte
 * written is restored and the journal removed. */
static int apply_paused(struct dmp_live *l, struct xs_handle *xs, const struct dom *d,
                        struct dmp_lp_journal *j, struct patch_result *r)
{
    char err[768];
    struct dmp_kimage *ki = dmp_live_kimage(l);
    int rc = dmp_live_refresh_vcpus(l, err, sizeof(err));
    /* A page-table root from a vCPU's current CR3, taken now: live while we hold the pause. */
    if (rc == 0)
        rc = dmp_live_set_root_for(l, j->stub_base, err, sizeof(err));
    if (rc)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "%s", err);
    uint64_t rips[DMP_LIVE_MAX_VCPUS];
    size_t nr = vcpu_rips(l, rips, DMP_LIVE_MAX_VCPUS);
    rc = dmp_kimage_read(ki, j->stub_base, j->stub_old, j->stub_len);
    if (rc)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "cannot read the stub area: %s",
                             dmp_live_last_error(l));
    for (size_t i = 0; i < j->stub_len; i++)
        if (j->stub_old[i] != DMP_LP_PAD)
            return dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH,
                                 "refused: stub area 0x%" PRIx64 " is no longer int3 padding "
                                 "(byte 0x%02x at +%zu); guest untouched",
                                 j->stub_base, j->stub_old[i], i);
    if (dmp_lp_any_in(rips, nr, j->stub_base, j->stub_len))
        return dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "refused: a vCPU executes in the stub area");
    /* Keep only sites with no vCPU inside and the expected bytes in place. */
    size_t k = 0;
    for (size_t i = 0; i < j->nplans; i++) {
        struct dmp_plan *p = &j->plans[i];
        uint8_t cur[DMP_PLAN_MAX_SITE];
        if (plan_busy(p, rips, nr)) {
            r->skipped_busy++;
            continue;
        }
        if (dmp_kimage_read(ki, p->site, cur, p->len) != 0 || memcmp(cur, p->old_bytes, p->len)) {
            r->skipped_changed++;
            continue;
        }
        j->plans[k++] = *p;
    }
    /* Log mode is all or nothing: a lazy-MMU enter site patched without its leave sites
     * would leave logged stores unapplied. */
    if (strcmp(j->mode, DMP_LP_MODE_LOG) == 0 && k != j->nplans)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "refused: %zu sites are busy or changed "
                             "and log mode needs every one; guest untouched (try again)",
                             j->nplans - k);
    j->nplans = k;
    if (k == 0)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "no site can be patched now; guest untouched");
    if (strcmp(j->mode, DMP_LP_MODE_LOG) == 0 && (rc = log_check_unused(l, j, err, sizeof(err))))
        return dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "refused: %s; guest untouched", err);
    char *text;
    rc = dmp_lp_journal_format(j, &text);
    if (rc)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "journal: %s", strerror(-rc));
    rc = journal_store(xs, d, text, err, sizeof(err));
    free(text);
    if (rc)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "%s; guest untouched", err);
    /* Stub area first (nothing reaches it yet), then the sites. */
    rc = write_region(l, j->stub_base, j->stub_new, j->stub_len, err, sizeof(err));
    struct dmp_patch_mem pm = { ki, ki_read, ki_write };
    size_t applied = 0;
    for (; rc == 0 && applied < j->nplans; applied++) {
        rc = dmp_plan_apply(&j->plans[applied], &pm, err, sizeof(err));
        if (rc)
            break;
    }
    if (rc == 0) {
        r->applied = applied;
        return DMP_EXIT_OK;
    }
    /* Roll back whatever went in, newest first, then the stub area. */
    char uerr[256];
    int bad = 0;
    while (applied-- > 0)
        if (dmp_plan_undo(&j->plans[applied], &pm, uerr, sizeof(uerr)) != 0)
            bad++;
    if (write_region(l, j->stub_base, j->stub_old, j->stub_len, uerr, sizeof(uerr)) != 0)
        bad++;
    if (bad == 0)
        journal_remove(xs, d);
    return dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "patching failed: %s; %s", err,
                         bad ? "ROLLBACK INCOMPLETE: journal kept, run 'dmpctl dmp unpatch'"
                             : "rolled back, guest text as before");
}

/* The hypercall instruction for the guest: Xen 4.17 gives an HVM guest the host's CPU vendor
 * (no cross-vendor guests), so dom0's CPUID vendor is the guest's: AMD SVM needs vmmcall,
 * Intel VMX vmcall. */
static int guest_hvcall(enum dmp_lp_hvcall *insn, char *vendor)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d))
        return -ENOTSUP;
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = '\0';
    return dmp_lp_hvcall_for_vendor(vendor, insn);
}

/* Log mode: configure the log blob for this kernel (per-CPU offsets from the image's BTF)
 * and add the lazy-MMU pv-op sites (from the image's .parainstructions, moved by the KASLR
 * slide) to the plans. The image must be the running kernel: every site must hold, live, the
 * NOP Linux leaves there on HVM, which a different kernel would not. */
static int setup_log(struct dmp_live *l, const struct dom *d, const char *image,
                     enum dmp_lp_hvcall insn, struct dmp_lp_journal *j)
{
    char err[768];
    struct dmp_kimage *img = NULL;
    struct btf *btf = NULL;
    struct dmp_pv_layout lay = { 0 };
    int code = DMP_EXIT_FAIL;
    const struct dmp_ksyms *ks = dmp_live_ksyms(l);
    if (!ks)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "domain %s: no kernel symbols", d->name);
    if (dmp_kimage_open_file(image, &img, err, sizeof(err)) != 0)
        return dmp_cli_error(DMP_EXIT_USAGE, CMD_PATCH, "--kernel-image %s: %s", image, err);
    if (dmp_pv_lazy_sites(img, &lay, err, sizeof(err)) != 0 ||
        dmp_btf_load(img, &btf, err, sizeof(err)) != 0) {
        dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "refused: %s: %s; guest untouched", image, err);
        goto out;
    }
    if (lay.count[DMP_PV_LAZY_ENTER] == 0 || lay.count[DMP_PV_LAZY_LEAVE] == 0) {
        dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "refused: %s has no lazy-MMU enter/leave sites; "
                      "guest untouched", image);
        goto out;
    }
    static const char *const vars[3] = { "this_cpu_off", "__preempt_count", "mc_buffer" };
    struct dmp_percpu_var pv[3];
    for (int i = 0; i < 3; i++)
        if (dmp_btf_percpu_lookup(btf, vars[i], &pv[i], err, sizeof(err)) != 0) {
            dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "refused: %s: per-CPU %s: %s; guest "
                          "untouched", image, vars[i], err);
            goto out;
        }
    struct dmp_lp_log_cfg cfg = { pv[0].offset, pv[1].offset, pv[2].offset, pv[2].size,
                                  DMP_LP_LOG_MIN_FLUSH };
    uint64_t enter, leave;
    int rc = dmp_lp_use_log(j, insn, &cfg, &enter, &leave);
    if (rc) {
        dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "cannot build the log stub: %s (log %" PRIu64
                      " bytes)", strerror(-rc), pv[2].size);
        goto out;
    }
    struct dmp_plan *np = realloc(j->plans, (j->nplans + lay.nsites) * sizeof(*np));
    if (!np)
        goto out;
    j->plans = np;
    int64_t slide = dmp_ksyms_slide(ks);
    for (size_t i = 0; i < lay.nsites; i++) {
        const struct dmp_pv_site *ps = &lay.sites[i];
        uint64_t va = ps->va + (uint64_t)slide;
        uint8_t live[DMP_PLAN_MAX_SITE];
        /* A flush ends the logged section early: correct, only less batched. */
        bool in = ps->op == DMP_PV_LAZY_ENTER;
        if (ps->len > sizeof(live) || dmp_kimage_read(dmp_live_kimage(l), va, live, ps->len)) {
            dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "refused: cannot read the %s site 0x%" PRIx64
                          "; guest untouched", dmp_pv_lazy_op_name(ps->op), va);
            goto out;
        }
        if (dmp_lp_pv_site_plan(va, live, ps->len, in ? enter : leave,
                                dmp_pv_lazy_op_name(ps->op), &j->plans[j->nplans], err,
                                sizeof(err)) != 0) {
            dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "refused: %s is not the running kernel or "
                          "not patchable: %s; guest untouched", image, err);
            goto out;
        }
        j->nplans++;
    }
    code = DMP_EXIT_OK;
out:
    dmp_pv_layout_free(&lay);
    dmp_btf_free(btf);
    dmp_kimage_close(img);
    return code;
}

int dmp_cmd_patch(int argc, char **argv)
{
    bool json = false, dry = false, hot = false, fastpath = false, logm = false;
    const char *dom = NULL, *hot_file = NULL, *image = NULL;
    if (dmp_cli_wants_help(argc, argv)) {
        usage_patch(stdout);
        return DMP_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--dry-run") == 0)
            dry = true;
        else if (strcmp(argv[i], "--sites") == 0 && i + 1 < argc) {
            i++;
            if (strcmp(argv[i], "hot") == 0)
                hot = true;
            else if (strcmp(argv[i], "all-mmu") != 0)
                return dmp_cli_error(DMP_EXIT_USAGE, CMD_PATCH,
                                     "--sites takes 'all-mmu' or 'hot', not '%s'", argv[i]);
        } else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            i++;
            fastpath = strcmp(argv[i], DMP_LP_MODE_FASTPATH) == 0;
            logm = strcmp(argv[i], DMP_LP_MODE_LOG) == 0;
            if (!fastpath && !logm && strcmp(argv[i], DMP_LP_MODE_PASSTHROUGH) != 0)
                return dmp_cli_error(DMP_EXIT_USAGE, CMD_PATCH,
                                     "--mode takes 'passthrough', 'fastpath' or 'log', not '%s'",
                                     argv[i]);
        } else if (strcmp(argv[i], "--hot-file") == 0 && i + 1 < argc)
            hot_file = argv[++i];
        else if (strcmp(argv[i], "--kernel-image") == 0 && i + 1 < argc)
            image = argv[++i];
        else if (argv[i][0] == '-' || dom) {
            usage_patch(stderr);
            return dmp_cli_error(DMP_EXIT_USAGE, CMD_PATCH, "unexpected argument '%s'", argv[i]);
        } else
            dom = argv[i];
    }
    if (!dom) {
        usage_patch(stderr);
        return dmp_cli_error(DMP_EXIT_USAGE, CMD_PATCH, "missing domain name or id");
    }
    if (hot && !hot_file)
        return dmp_cli_error(DMP_EXIT_USAGE, CMD_PATCH, "--sites hot needs --hot-file F");
    if (logm && !image)
        return dmp_cli_error(DMP_EXIT_USAGE, CMD_PATCH,
                             "--mode log needs --kernel-image F (the guest's kernel image)");
    if (image && !logm)
        return dmp_cli_error(DMP_EXIT_USAGE, CMD_PATCH, "--kernel-image is for --mode log");
    if (hot_file)
        hot = true;
    double t_start = now();
    struct xs_handle *xs = xs_open(0);
    if (!xs)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "cannot reach xenstore: %s", strerror(errno));
    struct dom d;
    int code = resolve(xs, CMD_PATCH, dom, &d);
    if (code) {
        xs_close(xs);
        return code;
    }
    struct dmp_live *l;
    struct dmp_live_kernel k;
    memset(&k, 0, sizeof(k));
    code = open_guest(CMD_PATCH, &d, &l, &k, true, false);
    if (code) {
        xs_close(xs);
        return code;
    }
    struct dmp_lp_journal j;
    memset(&j, 0, sizeof(j));
    const char *where = NULL;
    int jl = journal_load(xs, &d, CMD_PATCH, &j, &where);
    if (jl > 0 && j.nplans > 0 && dmp_live_set_root_for(l, j.plans[0].site, NULL, 0) != 0)
        jl = 1;   /* cannot look: trust the journal (unpatch will check every byte) */
    else if (jl > 0) {
        /* Patched already, unless the journal outlived the text it describes (the domain
         * rebooted in place: same uuid, fresh kernel): then no site holds the patched bytes
         * and the stub area is padding, and the journal is dropped. */
        size_t held = 0;
        uint8_t cur[DMP_PLAN_MAX_SITE];
        for (size_t i = 0; i < j.nplans; i++)
            if (dmp_kimage_read(dmp_live_kimage(l), j.plans[i].site, cur, j.plans[i].len) == 0 &&
                memcmp(cur, j.plans[i].new_bytes, j.plans[i].len) == 0)
                held++;
        if (held == 0) {
            fprintf(stderr, "dmpctl %s: domain %s: stale journal (no site holds the patched "
                    "bytes) removed\n", CMD_PATCH, d.name);
            journal_remove(xs, &d);
            dmp_lp_journal_free(&j);
            jl = 0;
        }
    }
    if (jl != 0) {
        if (jl > 0) {
            if (json)
                print_patch_json(&d, &j, NULL, dry, true, false);
            else
                printf("already patched: %zu sites (domain %s, mode %s, journal in %s)\n",
                       j.nplans, d.name, j.mode, where);
        }
        dmp_lp_journal_free(&j);
        dmp_live_close(l);
        xs_close(xs);
        return jl > 0 ? DMP_EXIT_OK : DMP_EXIT_FAIL;
    }
    struct patch_result r;
    memset(&r, 0, sizeof(r));
    double t0 = now();
    bool cached = !hot && cache_try(l, &d, &j);
    if (cached) {
        r.candidates = r.planned = j.nplans;
    } else {
        code = find_kernel(CMD_PATCH, &d, l, &k);
        if (code) {
            dmp_live_close(l);
            xs_close(xs);
            return code;
        }
        j.text_start = k.text_start;
        j.text_end = k.text_end;
        const uint8_t *tb;
        uint64_t ts, te;
        if (dmp_kimage_text(dmp_live_kimage(l), &ts, &te, &tb) == 0)
            j.text_hash = dmp_lp_text_hash(tb, te - ts);
        code = plan_all(l, &d, hot, hot_file, &j, &r);
    }
    j.domid = d.domid;
    snprintf(j.uuid, sizeof(j.uuid), "%s", d.uuid);
    snprintf(j.name, sizeof(j.name), "%s", d.name);
    snprintf(j.mode, sizeof(j.mode), "%s", DMP_LP_MODE);
    j.created = (uint64_t)time(NULL);
    if (code == DMP_EXIT_OK && !cached && !hot && !dry && j.nplans > 0)
        cache_save(&d, &j);   /* always in passthrough layout: either mode can reuse it */
    r.t_plan = now() - t0;
    bool fp_enabled = false;
    enum dmp_lp_hvcall insn = DMP_LP_VMMCALL;
    if (code == DMP_EXIT_OK && (fastpath || logm) && j.nplans > 0) {
        char vendor[13] = "", err[256];
        int frc = guest_hvcall(&insn, vendor);
        if (frc)
            code = dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "CPU vendor '%s' unknown: cannot "
                                 "choose vmcall or vmmcall; guest untouched", vendor);
        else if (fastpath && (frc = dmp_lp_use_fastpath(&j, insn)) != 0)
            code = dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "cannot build the fast path stub: %s",
                                 strerror(-frc));
        else if (logm && (!dmp_live_ksyms(l) && (code = find_kernel(CMD_PATCH, &d, l, &k)) != 0))
            ;   /* cached plans: the symbols (for the KASLR slide) were not needed until now */
        else if (logm && (code = setup_log(l, &d, image, insn, &j)) != 0)
            ;
        else if (!dry) {
            /* On before any stub can call it; a stub finding it off would only fall back. */
            struct dmp_fastpath_stats st;
            frc = dmp_fastpath_ctl(d.domid, DMP_FASTPATH_ENABLE, &st, err, sizeof(err));
            if (frc)
                code = dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "%s; guest untouched", err);
            else
                fp_enabled = true;
        }
    }
    if (code == DMP_EXIT_OK && j.nplans == 0)
        code = dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH,
                             "domain %s: none of %zu candidate sites could be planned (%zu "
                             "refused, %zu atomic; first refusal: %s); untouched",
                             d.name, r.candidates, r.refused, r.skipped_atomic,
                             r.first_refusal[0] ? r.first_refusal : "-");
    if (code == DMP_EXIT_OK && !dry) {
        t0 = now();
        int prc = dmp_live_pause(l);
        if (prc)
            code = dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "cannot pause domain %s: %s", d.name,
                                 strerror(-prc));
        else {
            code = apply_paused(l, xs, &d, &j, &r);
            /* Unpause always; the VM exit/entry around the pause serialises every vCPU, so
             * each one fetches the new bytes (see docs/DMP.md, "Live patching"). */
            int urc = dmp_live_unpause(l);
            r.t_paused = now() - t0;
            if (urc && code == DMP_EXIT_OK)
                code = dmp_cli_error(DMP_EXIT_FAIL, CMD_PATCH, "cannot unpause %s: %s", d.name,
                                     strerror(-urc));
        }
    }
    if (code != DMP_EXIT_OK && fp_enabled) {
        /* Nothing of ours calls it now: do not leave the switch on. */
        struct dmp_fastpath_stats st;
        char err[256];
        if (dmp_fastpath_ctl(d.domid, DMP_FASTPATH_DISABLE, &st, err, sizeof(err)))
            fprintf(stderr, "dmpctl %s: note: %s\n", CMD_PATCH, err);
    }
    r.t_total = now() - t_start;
    if (code == DMP_EXIT_OK) {
        if (json)
            print_patch_json(&d, &j, &r, dry, false, cached);
        else {
            printf("%s domain %s (id %u): %zu sites, mode %s\n", dry ? "would patch" : "patched",
                   d.name, d.domid, dry ? j.nplans : r.applied, j.mode);
            if (fastpath || logm)
                printf("  fast path: hypercall %u by %s (from the CPU vendor), fast path %s\n",
                       DMP_FASTPATH_HYPERCALL, dmp_lp_hvcall_name(insn),
                       dry ? "not enabled (dry run)" : "enabled");
            printf("  candidates %zu, planned %zu, refused %zu, skipped: atomic %zu, vCPU inside "
                   "%zu, bytes changed %zu\n", r.candidates, r.planned, r.refused,
                   r.skipped_atomic, r.skipped_busy, r.skipped_changed);
            printf("  stub area 0x%" PRIx64 "+%zu (int3 padding in the kernel text), hv_update "
                   "0x%" PRIx64 "\n", j.stub_base, j.stub_len, j.hv_update);
            if (!dry)
                printf("  journal: xenstore %s, file %s\n", d.xs_dir, d.file);
            printf("  plans: %s\n", cached ? "from the plan cache (same kernel text)" : "computed");
            printf("  time: plan %.3f s, paused %.3f s, total %.3f s\n", r.t_plan, r.t_paused,
                   r.t_total);
        }
    }
    dmp_lp_journal_free(&j);
    dmp_live_close(l);
    xs_close(xs);
    return code;
}

/* ---- status ---- */

#define CMD_STATUS "dmp status"

static void usage_status(FILE *f)
{
    fprintf(f,
            "usage: dmpctl dmp status <dom> [--json] [--dump-text FILE]\n"
            "  Say whether the guest is live-patched (from the journal), check each patched\n"
            "  site's bytes in guest memory, and show the mode, stub area and journal location.\n"
            "  --dump-text FILE  also write the live kernel text [_stext, _etext) to FILE\n");
}

int dmp_cmd_status(int argc, char **argv)
{
    bool json = false;
    const char *dom = NULL, *dump = NULL;
    if (dmp_cli_wants_help(argc, argv)) {
        usage_status(stdout);
        return DMP_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--dump-text") == 0 && i + 1 < argc)
            dump = argv[++i];
        else if (argv[i][0] == '-' || dom) {
            usage_status(stderr);
            return dmp_cli_error(DMP_EXIT_USAGE, CMD_STATUS, "unexpected argument '%s'", argv[i]);
        } else
            dom = argv[i];
    }
    if (!dom) {
        usage_status(stderr);
        return dmp_cli_error(DMP_EXIT_USAGE, CMD_STATUS, "missing domain name or id");
    }
    struct xs_handle *xs = xs_open(XS_OPEN_READONLY);
    if (!xs)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD_STATUS, "cannot reach xenstore: %s", strerror(errno));
    struct dom d;
    int code = resolve(xs, CMD_STATUS, dom, &d);
    struct dmp_lp_journal j;
    memset(&j, 0, sizeof(j));
    const char *where = "";
    int jl = code ? 0 : journal_load(xs, &d, CMD_STATUS, &j, &where);
    xs_close(xs);
    if (code || jl < 0)
        return code ? code : DMP_EXIT_FAIL;
    size_t patched = 0, original = 0, other = 0;
    const char *stub_state = "-";
    if (jl > 0 || dump) {
        struct dmp_live *l;
        struct dmp_live_kernel k;
        code = open_guest(CMD_STATUS, &d, &l, &k, false, dump != NULL);
        if (code == DMP_EXIT_OK && !dump) {
            code = root_for(CMD_STATUS, &d, l, j.stub_base);
            if (code)
                dmp_live_close(l);
        }
        if (code) {
            dmp_lp_journal_free(&j);
            return code;
        }
        struct dmp_kimage *ki = dmp_live_kimage(l);
        for (size_t i = 0; i < j.nplans; i++) {
            uint8_t cur[DMP_PLAN_MAX_SITE];
            const struct dmp_plan *p = &j.plans[i];
            if (dmp_kimage_read(ki, p->site, cur, p->len) != 0)
                other++;
            else if (memcmp(cur, p->new_bytes, p->len) == 0)
                patched++;
            else if (memcmp(cur, p->old_bytes, p->len) == 0)
                original++;
            else
                other++;
        }
        if (jl > 0) {
            uint8_t *cur = malloc(j.stub_len);
            if (cur && dmp_kimage_read(ki, j.stub_base, cur, j.stub_len) == 0)
                stub_state = memcmp(cur, j.stub_new, j.stub_len) == 0   ? "installed"
                             : memcmp(cur, j.stub_old, j.stub_len) == 0 ? "padding"
                                                                        : "modified";
            else
                stub_state = "unreadable";
            free(cur);
        }
        if (dump) {
            uint64_t ts, te;
            const uint8_t *tb;
            if (dmp_kimage_text(ki, &ts, &te, &tb) != 0 ||
                dmp_write_file_atomic(dump, tb, te - ts) != 0)
                code = dmp_cli_error(DMP_EXIT_FAIL, CMD_STATUS, "cannot dump the text to %s",
                                     dump);
        }
        dmp_live_close(l);
    }
    /* Fast path counters when the journal says fastpath (1: not asked). */
    struct dmp_fastpath_stats fp;
    char fp_err[256] = "";
    int fp_rc = 1;
    if (code == DMP_EXIT_OK && jl > 0 &&
        (strcmp(j.mode, DMP_LP_MODE_FASTPATH) == 0 || strcmp(j.mode, DMP_LP_MODE_LOG) == 0))
        fp_rc = dmp_fastpath_ctl(d.domid, DMP_FASTPATH_GET_STATS, &fp, fp_err, sizeof(fp_err));
    if (code == DMP_EXIT_OK) {
        if (json) {
            struct dmp_json js;
            dmp_json_init(&js, stdout, true);
            dmp_json_obj_begin(&js);
            DMP_JSON_KV(&js, "domain", dmp_json_str, d.name);
            DMP_JSON_KV(&js, "domid", dmp_json_u64, d.domid);
            DMP_JSON_KV(&js, "patched", dmp_json_bool, jl > 0);
            if (jl > 0) {
                DMP_JSON_KV(&js, "mode", dmp_json_str, j.mode);
                DMP_JSON_KV(&js, "sites", dmp_json_u64, j.nplans);
                DMP_JSON_KV(&js, "sites_patched", dmp_json_u64, patched);
                DMP_JSON_KV(&js, "sites_original", dmp_json_u64, original);
                DMP_JSON_KV(&js, "sites_other", dmp_json_u64, other);
                DMP_JSON_KV(&js, "stub_base", dmp_json_hex, j.stub_base);
                DMP_JSON_KV(&js, "stub_len", dmp_json_u64, j.stub_len);
                DMP_JSON_KV(&js, "stub_state", dmp_json_str, stub_state);
                DMP_JSON_KV(&js, "hv_update", dmp_json_hex, j.hv_update);
                DMP_JSON_KV(&js, "journal_source", dmp_json_str, where);
                DMP_JSON_KV(&js, "created", dmp_json_u64, j.created);
                if (fp_rc == 0) {
                    dmp_json_key(&js, "fastpath");
                    dmp_fastpath_stats_json(&js, &fp);
                } else if (fp_rc != 1) {
                    DMP_JSON_KV(&js, "fastpath_error", dmp_json_str, fp_err);
                }
            }
            DMP_JSON_KV(&js, "journal_xenstore", dmp_json_str, d.xs_dir);
            DMP_JSON_KV(&js, "journal_file", dmp_json_str, d.file);
            dmp_json_obj_end(&js);
            dmp_json_finish(&js);
            fputc('\n', stdout);
        } else if (jl > 0) {
            printf("domain %s (id %u): patched, %zu sites, mode %s\n", d.name, d.domid, j.nplans,
                   j.mode);
            printf("  in guest memory: %zu patched, %zu original, %zu other; stub area "
                   "0x%" PRIx64 "+%zu %s, hv_update 0x%" PRIx64 "\n", patched, original, other,
                   j.stub_base, j.stub_len, stub_state, j.hv_update);
            printf("  journal: xenstore %s, file %s (read from %s)\n", d.xs_dir, d.file, where);
            if (fp_rc == 0) {
                printf("  ");
                dmp_fastpath_stats_text(stdout, &fp);
            } else if (fp_rc != 1)
                printf("  fast path: %s\n", fp_err);
        } else {
            printf("domain %s (id %u): not patched\n", d.name, d.domid);
        }
    }
    dmp_lp_journal_free(&j);
    return code;
}

/* ---- unpatch ---- */

#define CMD_UNPATCH "dmp unpatch"

/* Log mode, before any byte is restored: switch logging off (the blob's "on" word; also in
 * the in-memory journal image, which the restore checks compare with) and wait
 * until no CPU holds logged stores. With logging off a CPU empties its log at its next
 * page-table store or at its section's end, and sections are short (they hold a page-table
 * lock), so a few rounds do. Leaves the domain unpaused. */
static int log_drain(struct dmp_live *l, struct dmp_lp_journal *j, unsigned *waits,
                     char *err, size_t errlen)
{
    uint64_t on_va, log_off;
    if (dmp_lp_log_info(j, &on_va, &log_off) != 0) {
        snprintf(err, errlen, "the journal's log-mode stub image is damaged");
        return -EINVAL;
    }
    const uint64_t off = 0;
    int rc = dmp_live_pause(l);
    if (rc)
        snprintf(err, errlen, "cannot pause: %s", strerror(-rc));
    else
        rc = dmp_live_set_root_for(l, j->stub_base, err, errlen);
    if (rc == 0)
        rc = write_region(l, on_va, (const uint8_t *)&off, sizeof(off), err, errlen);
    /* The stub area now differs from the journal's image in this word; the checks before
     * restoring compare with the image, so it takes the new value too. */
    if (rc == 0)
        memcpy(j->stub_new + (on_va - j->stub_base), &off, sizeof(off));
    for (unsigned round = 0; rc == 0; round++) {
        unpause_all(l);
        if (round == DRAIN_ROUNDS) {
            snprintf(err, errlen, "a CPU still held logged page-table stores after %u rounds "
                     "(log mode is off; the guest stores directly; try unpatch again)",
                     DRAIN_ROUNDS);
            return -EBUSY;
        }
        usleep(round ? 20000 : 1000);
        struct log_hdr h[DMP_LIVE_MAX_VCPUS];
        size_t n;
        bool busy = false;
        if ((rc = dmp_live_pause(l)) != 0)
            snprintf(err, errlen, "cannot pause: %s", strerror(-rc));
        else if ((rc = dmp_live_refresh_vcpus(l, err, errlen)) == 0 &&
            (rc = dmp_live_set_root_for(l, j->stub_base, err, errlen)) == 0 &&
            (rc = log_headers(l, log_off, h, &n, err, errlen)) == 0) {
            for (size_t i = 0; i < n; i++)
                busy |= h[i].count != 0;
            if (!busy) {
                rc = log_clear_flags(l, h, n);
                unpause_all(l);
                if (rc)
                    snprintf(err, errlen, "cannot reset the per-CPU log flags");
                return rc;
            }
            (*waits)++;
        }
    }
    unpause_all(l);
    return rc;
}

static void usage_unpatch(FILE *f)
{
    fprintf(f,
            "usage: dmpctl dmp unpatch <dom> [--json]\n"
            "  Undo 'dmpctl dmp patch' from its journal: with the domain paused and no vCPU in\n"
            "  a site, check every site holds the patched (or original) bytes, restore the\n"
            "  original bytes and read back; let the guest run briefly so no code is left\n"
            "  inside a stub, pause again and restore the stub area's padding; delete the\n"
            "  journal. Works from a new process (after a toolstack restart).\n"
            "Exit status: 0 restored, 1 refused/failed, 2 usage, 3 not patched.\n");
}

static int unpatch_checks(struct dmp_live *l, const struct dmp_lp_journal *j, bool *need,
                          char *err, size_t errlen)
{
    struct dmp_kimage *ki = dmp_live_kimage(l);
    for (size_t i = 0; i < j->nplans; i++) {
        const struct dmp_plan *p = &j->plans[i];
        uint8_t cur[DMP_PLAN_MAX_SITE];
        if (dmp_kimage_read(ki, p->site, cur, p->len) != 0) {
            snprintf(err, errlen, "cannot read site 0x%" PRIx64 ": %s", p->site,
                     dmp_live_last_error(l));
            return -EFAULT;
        }
        if (memcmp(cur, p->new_bytes, p->len) == 0)
            need[i] = true;
        else if (memcmp(cur, p->old_bytes, p->len) == 0)
            need[i] = false;
        else {
            snprintf(err, errlen, "site 0x%" PRIx64 " (%s) holds neither the patched nor the "
                     "original bytes: someone else changed it", p->site, p->func);
            return -EILSEQ;
        }
    }
    uint8_t *cur = malloc(j->stub_len);
    int rc = cur ? dmp_kimage_read(ki, j->stub_base, cur, j->stub_len) : -ENOMEM;
    if (rc == 0 && memcmp(cur, j->stub_new, j->stub_len) != 0 &&
        memcmp(cur, j->stub_old, j->stub_len) != 0) {
        snprintf(err, errlen, "stub area 0x%" PRIx64 " holds unexpected bytes", j->stub_base);
        rc = -EILSEQ;
    } else if (rc)
        snprintf(err, errlen, "cannot read the stub area");
    free(cur);
    return rc;
}

int dmp_cmd_unpatch(int argc, char **argv)
{
    bool json = false;
    const char *dom = NULL;
    if (dmp_cli_wants_help(argc, argv)) {
        usage_unpatch(stdout);
        return DMP_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (argv[i][0] == '-' || dom) {
            usage_unpatch(stderr);
            return dmp_cli_error(DMP_EXIT_USAGE, CMD_UNPATCH, "unexpected argument '%s'", argv[i]);
        } else
            dom = argv[i];
    }
    if (!dom) {
        usage_unpatch(stderr);
        return dmp_cli_error(DMP_EXIT_USAGE, CMD_UNPATCH, "missing domain name or id");
    }
    double t_start = now();
    struct xs_handle *xs = xs_open(0);
    if (!xs)
        return dmp_cli_error(DMP_EXIT_FAIL, CMD_UNPATCH, "cannot reach xenstore: %s",
                             strerror(errno));
    struct dom d;
    int code = resolve(xs, CMD_UNPATCH, dom, &d);
    struct dmp_lp_journal j;
    memset(&j, 0, sizeof(j));
    const char *where = "";
    int jl = code ? 0 : journal_load(xs, &d, CMD_UNPATCH, &j, &where);
    if (code || jl <= 0) {
        xs_close(xs);
        if (code)
            return code;
        if (jl < 0)
            return DMP_EXIT_FAIL;
        return dmp_cli_error(DMP_EXIT_NOTHING, CMD_UNPATCH,
                             "nothing to do: domain %s is not patched (no journal)", d.name);
    }
    struct dmp_live *l;
    struct dmp_live_kernel k;
    code = open_guest(CMD_UNPATCH, &d, &l, &k, false, false);
    if (code == DMP_EXIT_OK) {
        code = root_for(CMD_UNPATCH, &d, l, j.stub_base);
        if (code)
            dmp_live_close(l);
    }
    if (code) {
        dmp_lp_journal_free(&j);
        xs_close(xs);
        return code;
    }
    char err[768];
    bool *need = calloc(j.nplans ? j.nplans : 1, sizeof(*need));
    unsigned waits = 0;
    size_t restored = 0;
    double paused1 = 0, paused2 = 0, t0 = now();
    int rc = need ? 0 : -ENOMEM;
    if (rc == 0 && strcmp(j.mode, DMP_LP_MODE_LOG) == 0)
        rc = log_drain(l, &j, &waits, err, sizeof(err));
    if (rc == 0)
        rc = pause_clear(l, journal_sites_busy, &j, j.stub_base, &waits, err, sizeof(err));
    if (rc == 0)
        rc = unpatch_checks(l, &j, need, err, sizeof(err));
    struct dmp_kimage *ki = dmp_live_kimage(l);
    struct dmp_patch_mem pm = { ki, ki_read, ki_write };
    for (size_t i = 0; rc == 0 && i < j.nplans; i++)
        if (need[i]) {
            rc = dmp_plan_undo(&j.plans[i], &pm, err, sizeof(err));
            restored += rc == 0;
        }
    unpause_all(l);
    paused1 = now() - t0;
    if (rc == 0) {
        /* Sites are original again, so nothing new enters a stub; give a vCPU that was
         * interrupted inside one time to leave before its bytes go. */
        usleep(GRACE_US);
        t0 = now();
        rc = pause_clear(l, stub_busy, &j, j.stub_base, &waits, err, sizeof(err));
        if (rc == 0)
            rc = write_region(l, j.stub_base, j.stub_old, j.stub_len, err, sizeof(err));
        unpause_all(l);
        paused2 = now() - t0;
    }
    /* Fast path: off once no stub can call it (the text is restored); counters first. */
    struct dmp_fastpath_stats fp;
    char fp_err[256] = "";
    int fp_rc = 1;
    if (rc == 0 &&
        (strcmp(j.mode, DMP_LP_MODE_FASTPATH) == 0 || strcmp(j.mode, DMP_LP_MODE_LOG) == 0)) {
        fp_rc = dmp_fastpath_ctl(d.domid, DMP_FASTPATH_DISABLE, &fp, fp_err, sizeof(fp_err));
        if (fp_rc)
            fprintf(stderr, "dmpctl %s: warning: text restored but the fast path was not turned "
                    "off: %s\n", CMD_UNPATCH, fp_err);
    }
    if (rc == 0) {
        journal_remove(xs, &d);
        if (json) {
            struct dmp_json js;
            dmp_json_init(&js, stdout, true);
            dmp_json_obj_begin(&js);
            DMP_JSON_KV(&js, "domain", dmp_json_str, d.name);
            DMP_JSON_KV(&js, "sites", dmp_json_u64, j.nplans);
            DMP_JSON_KV(&js, "restored", dmp_json_u64, restored);
            DMP_JSON_KV(&js, "journal_source", dmp_json_str, where);
            DMP_JSON_KV(&js, "rip_waits", dmp_json_u64, waits);
            DMP_JSON_KV(&js, "paused_sites_secs", dmp_json_double, paused1);
            DMP_JSON_KV(&js, "paused_stubs_secs", dmp_json_double, paused2);
            DMP_JSON_KV(&js, "total_secs", dmp_json_double, now() - t_start);
            DMP_JSON_KV(&js, "mode", dmp_json_str, j.mode);
            if (fp_rc == 0) {
                dmp_json_key(&js, "fastpath");
                dmp_fastpath_stats_json(&js, &fp);
            }
            dmp_json_obj_end(&js);
            dmp_json_finish(&js);
            fputc('\n', stdout);
        } else {
            printf("unpatched domain %s: %zu sites restored (%zu already original), stub area "
                   "0x%" PRIx64 "+%zu back to padding; journal (from %s) removed\n", d.name,
                   restored, j.nplans - restored, j.stub_base, j.stub_len, where);
            printf("  paused %.3f s (sites) + %.3f s (stub area), vCPU waits %u, total %.3f s\n",
                   paused1, paused2, waits, now() - t_start);
            if (fp_rc == 0) {
                printf("  turned off: ");
                dmp_fastpath_stats_text(stdout, &fp);
            }
        }
    } else {
        code = dmp_cli_error(DMP_EXIT_FAIL, CMD_UNPATCH,
                             "domain %s: %s; journal kept (sites restored so far: %zu)", d.name,
                             err, restored);
    }
    free(need);
    dmp_lp_journal_free(&j);
    dmp_live_close(l);
    xs_close(xs);
    return code;
}
