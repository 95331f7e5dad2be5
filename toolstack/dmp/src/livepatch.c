/* Live patching logic without Xen: stub area placement, site selection, passthrough
 * hv_update, vCPU position checks and the undo journal (see dmp/livepatch.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmppatcher/journal.h"
#include "dmp/livepatch.h"
#include "dmppatcher/stub.h"
#include "dmpcommon/util.h"
#include "dmpxen/abi.h"

/* ---- stub area ---- */

/* Consider the padding [lo, hi) (virtual addresses) split at every symbol start inside it
 * (code that something may branch to), keeping the best usable piece. */
static void consider_run(const struct dmp_codeview *cv, uint64_t lo, uint64_t hi,
                         uint64_t *best_lo, uint64_t *best_len)
{
    size_t n = cv->nsyms ? cv->nsyms(cv->ctx) : 0;
    uint64_t piece = lo;
    for (size_t i = 0; i <= n; i++) {
        uint64_t cut = hi;
        struct dmp_func f;
        if (i < n) {
            if (cv->sym_get(cv->ctx, i, &f) != 0 || f.start <= piece || f.start >= hi)
                continue;
            cut = f.start;
        }
        /* Usable part: a guard page of padding kept on each side, page aligned. */
        uint64_t ulo = (piece + DMP_LP_GUARD + 4095) & ~4095ull;
        uint64_t uhi = cut >= DMP_LP_GUARD ? (cut - DMP_LP_GUARD) & ~4095ull : 0;
        if (uhi > ulo && uhi - ulo > *best_len) {
            *best_lo = ulo;
            *best_len = uhi - ulo;
        }
        if (i == n || cut == hi)
            break;
        piece = cut;
    }
}

int dmp_lp_find_area(const struct dmp_codeview *cv, uint64_t *base, size_t *size, char *err,
                     size_t errlen)
{
    if (!cv || !cv->text || cv->text_end <= cv->text_start)
        return dmp_errf(err, errlen, -EINVAL, "no kernel text to place the stub area in");
    const uint8_t *t = cv->text;
    uint64_t n = cv->text_end - cv->text_start;
    uint64_t best_lo = 0, best_len = 0, longest_run = 0;
    for (uint64_t i = 0; i < n;) {
        if (t[i] != DMP_LP_PAD) {
            i++;
            continue;
        }
        uint64_t j = i;
        while (j < n && t[j] == DMP_LP_PAD)
            j++;
        if (j - i > longest_run)
            longest_run = j - i;
        if (j - i >= DMP_LP_MIN_AREA + 2 * DMP_LP_GUARD)
            consider_run(cv, cv->text_start + i, cv->text_start + j, &best_lo, &best_len);
        i = j;
    }
    if (best_len < DMP_LP_MIN_AREA)
        return dmp_errf(err, errlen, -ENOSPC,
                     "no run of int3 padding in the kernel text is long enough for the stub "
                     "area (need %u KiB + %u KiB guards, longest run %" PRIu64 " bytes)",
                     DMP_LP_MIN_AREA / 1024, 2 * DMP_LP_GUARD / 1024, longest_run);
    *base = best_lo;
    *size = best_len > DMP_LP_MAX_AREA ? DMP_LP_MAX_AREA : (size_t)best_len;
    return 0;
}

/* ---- sites ---- */

int dmp_lp_select_mmu_sites(const struct dmp_codeview *cv, const struct dmp_sites *sites,
                            uint64_t **vas, size_t *n, char *err, size_t errlen)
{
    struct dmp_func f;
    *vas = NULL;
    *n = 0;
    if (dmp_cv_by_name(cv, "native_set_pte", &f) != 0)
        return dmp_errf(err, errlen, -ENOENT,
                     "kernel not recognised: no native_set_pte symbol (not an x86-64 Linux "
                     "kernel with the paravirt MMU helpers this tool patches)");
    uint64_t *v = calloc(sites->n ? sites->n : 1, sizeof(*v));
    if (!v)
        return dmp_errf(err, errlen, -ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < sites->n; i++)
        if (sites->v[i].kind == DMP_SITE_CALL_DIRECT && sites->v[i].callee[0])
            v[k++] = sites->v[i].va;
    *vas = v;
    *n = k;
    return 0;
}

int dmp_lp_parse_hot(const char *text, uint64_t **vas, size_t *n, char *err, size_t errlen)
{
    size_t cap = 16, k = 0;
    uint64_t *v = malloc(cap * sizeof(*v));
    if (!v)
        return dmp_errf(err, errlen, -ENOMEM, "out of memory");
    unsigned lineno = 0;
    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[256];
        lineno++;
        if (len >= sizeof(line)) {
            free(v);
            return dmp_errf(err, errlen, -EINVAL, "hot file line %u is too long", lineno);
        }
        memcpy(line, p, len);
        line[len] = 0;
        p = eol ? eol + 1 : NULL;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *tok = strtok(line, " \t\r,");
        if (!tok)
            continue;
        char *end;
        errno = 0;
        unsigned long long a = strtoull(tok, &end, 0);
        if (errno || *end || a == 0) {
            free(v);
            return dmp_errf(err, errlen, -EINVAL, "hot file line %u: '%s' is not an address",
                         lineno, tok);
        }
        if (k == cap) {
            uint64_t *nv = realloc(v, 2 * cap * sizeof(*v));
            if (!nv) {
                free(v);
                return dmp_errf(err, errlen, -ENOMEM, "out of memory");
            }
            v = nv;
            cap *= 2;
        }
        v[k++] = a;
    }
    *vas = v;
    *n = k;
    return 0;
}

bool dmp_lp_kind_is_atomic(enum dmp_site_kind k)
{
    return k == DMP_SITE_XCHG || k == DMP_SITE_CMPXCHG || k == DMP_SITE_LOCK_RMW;
}

/* hv_update, passthrough: do what the replaced instruction did.
 *   endbr64                       ; reached by COMMIT's indirect call (IBT kernels)
 *   movzbl %cl,%eax ; kind
 *   STORE: movzbl %ch,%eax (size) -> mov %rdx/%edx/%dx/%dl,(%rdi)
 *   CR3: mov %rdi,%cr3   INVLPG: invlpg (%rdi)   INVPCID: invpcid (%rdi),%rsi
 *   ok: xor %eax,%eax; ret     unknown: mov $-EINVAL,%rax; ret */
static const uint8_t passthrough[] = {
    0xf3, 0x0f, 0x1e, 0xfa, 0x0f, 0xb6, 0xc1, 0x83, 0xf8, 0x01, 0x75, 0x29,
    0x0f, 0xb6, 0xc5, 0x83, 0xf8, 0x08, 0x75, 0x05, 0x48, 0x89, 0x17, 0xeb,
    0x44, 0x83, 0xf8, 0x04, 0x75, 0x04, 0x89, 0x17, 0xeb, 0x3b, 0x83, 0xf8,
    0x02, 0x75, 0x05, 0x66, 0x89, 0x17, 0xeb, 0x31, 0x83, 0xf8, 0x01, 0x75,
    0x24, 0x88, 0x17, 0xeb, 0x28, 0x83, 0xf8, 0x02, 0x75, 0x05, 0x0f, 0x22,
    0xdf, 0xeb, 0x1e, 0x83, 0xf8, 0x03, 0x75, 0x05, 0x0f, 0x01, 0x3f, 0xeb,
    0x14, 0x83, 0xf8, 0x04, 0x75, 0x07, 0x66, 0x0f, 0x38, 0x82, 0x37, 0xeb,
    0x08, 0x48, 0xc7, 0xc0, 0xea, 0xff, 0xff, 0xff, 0xc3, 0x31, 0xc0, 0xc3};

const uint8_t *dmp_lp_passthrough_code(size_t *len)
{
    *len = sizeof(passthrough);
    return passthrough;
}

/* hv_update, fast path (Xen patch 0007): for STORE ask Xen with one hypercall, which stores
 * with a compare-and-exchange and updates the shadows; on any error (fast path off, -EAGAIN
 * after a concurrent A/D update, anything else) and for every other kind, fall through to the
 * passthrough code placed right after it, i.e. exactly the store the original instruction did.
 *   0  endbr64
 *   4  movzbl %cl,%eax ; cmp $1,%eax ; jne passthrough     (kind != STORE)
 *  12  push %rdi ; push %rsi ; push %rdx ; push %rcx       (kept for the fallback)
 *  16  mov %rdx,%r10 ; mov %rsi,%rdx ; mov %rdi,%rsi ; mov %rcx,%rdi
 *  28  mov $54,%eax ; vmmcall | vmcall                     (rdi op, rsi arg, rdx old, r10 new)
 *  36  pop %rcx ; pop %rdx ; pop %rsi ; pop %rdi
 *  40  test %rax,%rax ; jne passthrough ; ret
 *  46  passthrough                                          (its endbr64 runs as a nop) */
#define FP_LEN 46
#define FP_INSN_OFF 33
_Static_assert(DMP_XEN_HYPERCALL_DMP_OP == 0x36, "the imm32 of mov $54,%eax below");
_Static_assert(DMP_XEN_OP_STORE == 1, "the cmp $1 (kind STORE) below");
static const uint8_t fastpath_vmmcall[FP_LEN] = {
    0xf3, 0x0f, 0x1e, 0xfa,
    0x0f, 0xb6, 0xc1, 0x83, 0xf8, 0x01, 0x75, FP_LEN - 12,
    0x57, 0x56, 0x52, 0x51,
    0x49, 0x89, 0xd2, 0x48, 0x89, 0xf2, 0x48, 0x89, 0xfe, 0x48, 0x89, 0xcf,
    0xb8, 0x36, 0x00, 0x00, 0x00, 0x0f, 0x01, 0xd9,
    0x59, 0x5a, 0x5e, 0x5f,
    0x48, 0x85, 0xc0, 0x75, FP_LEN - 45, 0xc3};
_Static_assert(sizeof(fastpath_vmmcall) == FP_LEN, "fast path layout");

const uint8_t *dmp_lp_fastpath_code(enum dmp_lp_hvcall insn, size_t *len)
{
    static uint8_t vmcall[FP_LEN];
    if (insn == DMP_LP_VMMCALL) {
        *len = FP_LEN;
        return fastpath_vmmcall;
    }
    memcpy(vmcall, fastpath_vmmcall, FP_LEN);
    vmcall[FP_INSN_OFF + 2] = 0xc1;   /* 0f 01 c1: vmcall (VMX) */
    *len = FP_LEN;
    return vmcall;
}

const char *dmp_lp_hvcall_name(enum dmp_lp_hvcall insn)
{
    return insn == DMP_LP_VMMCALL ? "vmmcall" : "vmcall";
}

int dmp_lp_hvcall_for_vendor(const char *vendor, enum dmp_lp_hvcall *insn)
{
    if (strcmp(vendor, "AuthenticAMD") == 0 || strcmp(vendor, "HygonGenuine") == 0)
        *insn = DMP_LP_VMMCALL;
    else if (strcmp(vendor, "GenuineIntel") == 0 || strcmp(vendor, "CentaurHauls") == 0 ||
             strcmp(vendor, "  Shanghai  ") == 0)
        *insn = DMP_LP_VMCALL;
    else
        return -ENOTSUP;
    return 0;
}

int dmp_lp_insert_code(struct dmp_lp_journal *j, const uint8_t *code, size_t code_len,
                       size_t entry, const char *mode)
{
    size_t pt_len;
    const uint8_t *pt = dmp_lp_passthrough_code(&pt_len);
    /* Only a passthrough layout is converted: image, padding, passthrough at the end, slot at
     * the area's start pointing at it. */
    if (strcmp(j->mode, DMP_LP_MODE_PASSTHROUGH) != 0 || !j->stub_new || !j->stub_old ||
        j->hv_update < j->stub_base || j->hv_update - j->stub_base + pt_len != j->stub_len ||
        j->stub_len < DMP_STUB_HV_SLOT_OFF + 8 || entry >= code_len ||
        memcmp(j->stub_new + (j->hv_update - j->stub_base), pt, pt_len) != 0)
        return -EINVAL;
    size_t pt_off = j->hv_update - j->stub_base;
    uint64_t slot;
    memcpy(&slot, j->stub_new + DMP_STUB_HV_SLOT_OFF, 8);
    if (slot != j->hv_update)
        return -EINVAL;
    size_t len = pt_off + code_len + pt_len;
    uint8_t *nb = malloc(len), *ob = malloc(len);
    if (!nb || !ob) {
        free(nb);
        free(ob);
        return -ENOMEM;
    }
    memcpy(nb, j->stub_new, pt_off);
    memcpy(nb + pt_off, code, code_len);
    memcpy(nb + pt_off + code_len, pt, pt_len);
    uint64_t hv = j->stub_base + pt_off + entry;
    for (int i = 0; i < 8; i++)
        nb[DMP_STUB_HV_SLOT_OFF + (size_t)i] = (uint8_t)(hv >> (8 * i));
    memset(ob, DMP_LP_PAD, len);
    free(j->stub_new);
    free(j->stub_old);
    j->stub_new = nb;
    j->stub_old = ob;
    j->stub_len = len;
    j->hv_update = hv;
    snprintf(j->mode, sizeof(j->mode), "%s", mode);
    return 0;
}

int dmp_lp_use_fastpath(struct dmp_lp_journal *j, enum dmp_lp_hvcall insn)
{
    size_t fp_len;
    const uint8_t *fp = dmp_lp_fastpath_code(insn, &fp_len);
    return dmp_lp_insert_code(j, fp, fp_len, 0, DMP_LP_MODE_FASTPATH);
}

int dmp_lp_build_stub(const uint8_t *img, uint64_t base, size_t used, uint64_t slot_va,
                      size_t area, struct dmp_lp_journal *j)
{
    size_t pt_off = (used + 15) & ~(size_t)15;
    if (pt_off + sizeof(passthrough) > area)
        return -ENOSPC;
    if (slot_va < base || slot_va + 8 > base + used)
        return -EINVAL;
    uint8_t *nb = malloc(pt_off + sizeof(passthrough));
    uint8_t *ob = malloc(pt_off + sizeof(passthrough));
    if (!nb || !ob) {
        free(nb);
        free(ob);
        return -ENOMEM;
    }
    memset(nb, DMP_LP_PAD, pt_off);
    memcpy(nb, img, used);
    memcpy(nb + pt_off, passthrough, sizeof(passthrough));
    uint64_t hv = base + pt_off;
    for (int i = 0; i < 8; i++)   /* the slot is read by x86 code: little endian */
        nb[slot_va - base + (size_t)i] = (uint8_t)(hv >> (8 * i));
    memset(ob, DMP_LP_PAD, pt_off + sizeof(passthrough));
    free(j->stub_new);
    free(j->stub_old);
    j->stub_new = nb;
    j->stub_old = ob;
    j->stub_base = base;
    j->stub_len = pt_off + sizeof(passthrough);
    j->hv_update = hv;
    return 0;
}

bool dmp_lp_any_in(const uint64_t *addrs, size_t n, uint64_t start, uint64_t len)
{
    for (size_t i = 0; i < n; i++)
        if (addrs[i] >= start && addrs[i] - start < len)
            return true;
    return false;
}

uint64_t dmp_lp_text_hash(const uint8_t *b, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* ---- journal ---- */

struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_add(struct sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *s, const char *fmt, ...)
{
    if (s->oom)
        return;
    for (int pass = 0; pass < 2; pass++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            s->oom = true;
            return;
        }
        if ((size_t)n < s->cap - s->len) {
            s->len += (size_t)n;
            return;
        }
        size_t ncap = (s->cap + (size_t)n + 1) * 2;
        char *np = realloc(s->p, ncap);
        if (!np) {
            s->oom = true;
            return;
        }
        s->p = np;
        s->cap = ncap;
    }
}

static void sb_hex(struct sbuf *s, const char *key, const uint8_t *b, size_t n)
{
    sb_add(s, "%s ", key);
    for (size_t i = 0; i < n && !s->oom; i++)
        sb_add(s, "%02x", b[i]);
    sb_add(s, "\n");
}

int dmp_lp_journal_format(const struct dmp_lp_journal *j, char **out)
{
    struct sbuf s = { malloc(4096), 0, 4096, false };
    if (!s.p)
        return -ENOMEM;
    s.p[0] = 0;
    sb_add(&s, "dmplive1\n");
    sb_add(&s, "domid %u\nuuid %s\nname %s\nmode %s\n", j->domid, j->uuid[0] ? j->uuid : "-",
           j->name[0] ? j->name : "-", j->mode);
    sb_add(&s, "created %" PRIu64 "\ntext 0x%" PRIx64 " 0x%" PRIx64 "\n", j->created,
           j->text_start, j->text_end);
    if (j->text_hash)
        sb_add(&s, "text_hash 0x%" PRIx64 "\n", j->text_hash);
    sb_add(&s, "stub 0x%" PRIx64 " %zu\nhv_update 0x%" PRIx64 "\n", j->stub_base, j->stub_len,
           j->hv_update);
    sb_hex(&s, "stub_old", j->stub_old, j->stub_len);
    sb_hex(&s, "stub_new", j->stub_new, j->stub_len);
    char line[4096];
    for (size_t i = 0; i < j->nplans; i++) {
        if (dmp_plan_format(&j->plans[i], line, sizeof(line)) != 0) {
            free(s.p);
            return -ENOSPC;
        }
        sb_add(&s, "plan %s\n", line);
    }
    sb_add(&s, "end %zu\n", j->nplans);
    if (s.oom) {
        free(s.p);
        return -ENOMEM;
    }
    *out = s.p;
    return 0;
}

static int unhex(const char *h, uint8_t *out, size_t n)
{
    if (strlen(h) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(h + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

void dmp_lp_journal_free(struct dmp_lp_journal *j)
{
    if (!j)
        return;
    free(j->stub_old);
    free(j->stub_new);
    free(j->plans);
    memset(j, 0, sizeof(*j));
}

int dmp_lp_journal_parse(const char *text, struct dmp_lp_journal *j, char *err, size_t errlen)
{
    memset(j, 0, sizeof(*j));
    if (!text || strncmp(text, "dmplive1\n", 9) != 0)
        return dmp_errf(err, errlen, -EINVAL, "not a live-patch journal (no 'dmplive1' header)");
    char *copy = strdup(text);
    if (!copy)
        return dmp_errf(err, errlen, -ENOMEM, "out of memory");
    size_t cap = 0;
    bool ended = false, have_stub = false, have_old = false, have_new = false;
    int rc = 0;
    unsigned lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (ended) {
            rc = dmp_errf(err, errlen, -EINVAL, "journal line %u: data after 'end'", lineno);
            break;
        }
        char *sp = strchr(line, ' ');
        const char *val = sp ? sp + 1 : "";
        if (sp)
            *sp = 0;
        unsigned long long a, b;
        size_t z;
        if (strcmp(line, "dmplive1") == 0) {
            continue;
        } else if (strcmp(line, "domid") == 0 && sscanf(val, "%llu", &a) == 1) {
            j->domid = (uint32_t)a;
        } else if (strcmp(line, "uuid") == 0) {
            snprintf(j->uuid, sizeof(j->uuid), "%s", strcmp(val, "-") ? val : "");
        } else if (strcmp(line, "name") == 0) {
            snprintf(j->name, sizeof(j->name), "%s", strcmp(val, "-") ? val : "");
        } else if (strcmp(line, "mode") == 0) {
            snprintf(j->mode, sizeof(j->mode), "%s", val);
        } else if (strcmp(line, "created") == 0 && sscanf(val, "%llu", &a) == 1) {
            j->created = a;
        } else if (strcmp(line, "text") == 0 && sscanf(val, "%llx %llx", &a, &b) == 2) {
            j->text_start = a;
            j->text_end = b;
        } else if (strcmp(line, "text_hash") == 0 && sscanf(val, "%llx", &a) == 1) {
            j->text_hash = a;
        } else if (strcmp(line, "stub") == 0 && sscanf(val, "%llx %zu", &a, &z) == 2 && z > 0 &&
                   z <= DMP_LP_MAX_AREA) {
            j->stub_base = a;
            j->stub_len = z;
            have_stub = true;
        } else if (strcmp(line, "hv_update") == 0 && sscanf(val, "%llx", &a) == 1) {
            j->hv_update = a;
        } else if ((strcmp(line, "stub_old") == 0 || strcmp(line, "stub_new") == 0) && have_stub) {
            bool old = line[5] == 'o';
            uint8_t **dst = old ? &j->stub_old : &j->stub_new;
            if (*dst || !(*dst = malloc(j->stub_len)) || unhex(val, *dst, j->stub_len) != 0) {
                rc = dmp_errf(err, errlen, -EINVAL, "journal line %u: bad %s bytes", lineno, line);
                break;
            }
            *(old ? &have_old : &have_new) = true;
        } else if (strcmp(line, "plan") == 0) {
            if (j->nplans == cap) {
                size_t ncap = cap ? 2 * cap : 64;
                struct dmp_plan *np = realloc(j->plans, ncap * sizeof(*np));
                if (!np) {
                    rc = dmp_errf(err, errlen, -ENOMEM, "out of memory");
                    break;
                }
                j->plans = np;
                cap = ncap;
            }
            if (dmp_plan_parse(val, &j->plans[j->nplans]) != 0) {
                rc = dmp_errf(err, errlen, -EINVAL, "journal line %u: bad plan record", lineno);
                break;
            }
            j->nplans++;
        } else if (strcmp(line, "end") == 0 && sscanf(val, "%llu", &a) == 1) {
            if (a != j->nplans) {
                rc = dmp_errf(err, errlen, -EINVAL, "journal says %llu plans but holds %zu", a,
                           j->nplans);
                break;
            }
            ended = true;
        } else {
            rc = dmp_errf(err, errlen, -EINVAL, "journal line %u: unexpected '%s'", lineno, line);
            break;
        }
    }
    free(copy);
    if (rc == 0 && !ended)
        rc = dmp_errf(err, errlen, -EINVAL, "journal is truncated (no 'end' line)");
    if (rc == 0 && (!have_stub || !have_old || !have_new || !j->mode[0]))
        rc = dmp_errf(err, errlen, -EINVAL, "journal lacks the stub area record");
    if (rc)
        dmp_lp_journal_free(j);
    return rc;
}
