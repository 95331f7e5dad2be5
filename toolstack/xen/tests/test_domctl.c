/* dmpxen/abi.h against the hypervisor patches themselves: every number we mirror must be the
 * one the series #defines, and every structure we lay out must have the fields, offsets and
 * size that the series' public headers give it (read from the patch texts, later patches'
 * hunks applied to the structures earlier ones add). The _Static_asserts in abi.h pin the
 * layout; this ties those numbers to xen-patches/. Also the domctl helper's own checks.
 * Run from the top of the tree (make unit does). */
#include "dmpxen/abi.h"
#include "dmpxen/domctl.h"
#include "dmpcommon/test.h"
#include "dmpcommon/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEFS 256
#define MAX_FIELDS 16

static const char *const patches[] = {
    "xen-patches/0002-dmp-wss-access-sampling.patch",
    "xen-patches/0003-dmp-trap-profile-domctl.patch",
    "xen-patches/0007-dmp-fastpath-hypercall.patch",
    "xen-patches/0008-dmp-wss-hap-accessed-bits.patch",
    "xen-patches/0009-dmp-fastpath-log-flush.patch",
};

static struct { char name[64]; unsigned long long v; } defs[MAX_DEFS];
static size_t ndefs;

/* A structure of the series as the last patch leaves it: its field declarations in order. */
struct xstruct {
    const char *name;                   /* the public header's struct name */
    char field[MAX_FIELDS][96];         /* "uint32_t op" (comment and ';' removed) */
    size_t n;
};
static struct xstruct xs[] = {
    { "xen_domctl_dmp_wss", { { 0 } }, 0 },
    { "xen_dmp_trap_entry", { { 0 } }, 0 },
    { "xen_domctl_dmp_trap_profile", { { 0 } }, 0 },
    { "xen_domctl_dmp_fastpath", { { 0 } }, 0 },
    { "xen_dmp_log_entry", { { 0 } }, 0 },
};
#define NXS (sizeof(xs) / sizeof(xs[0]))

static void define(const char *line)
{
    char name[64], val[64];
    if (sscanf(line, "#define %63s %63s", name, val) != 2 || ndefs == MAX_DEFS)
        return;
    char *end;
    unsigned long long v = strtoull(val, &end, 0);
    if (end == val || (*end && *end != 'U' && *end != 'u'))
        return;                         /* a macro with arguments or an expression */
    for (size_t i = 0; i < ndefs; i++)
        if (strcmp(defs[i].name, name) == 0) {
            defs[i].v = v;
            return;
        }
    snprintf(defs[ndefs].name, sizeof(defs[ndefs].name), "%s", name);
    defs[ndefs++].v = v;
}

static bool defined(const char *name, unsigned long long *v)
{
    for (size_t i = 0; i < ndefs; i++)
        if (strcmp(defs[i].name, name) == 0) {
            *v = defs[i].v;
            return true;
        }
    return false;
}

/* "    uint32_t op;   // IN" -> "uint32_t op"; false for anything but a field declaration. */
static bool field_decl(const char *line, char *out, size_t len)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", line);
    char *c = strstr(buf, "/*");
    if (c)
        *c = 0;
    char *s = buf;
    while (isspace((unsigned char)*s))
        s++;
    char *semi = strchr(s, ';');
    if (!semi || *s == '*' || *s == '/' || *s == '#' || strncmp(s, "struct ", 7) == 0 || strncmp(s, "typedef", 7) == 0 ||
        strncmp(s, "DEFINE_", 7) == 0 || strchr(s, '}'))
        return false;
    *semi = 0;
    /* Whitespace runs become one space: "uint64_aligned_t  stores" -> "uint64_aligned_t stores". */
    size_t k = 0;
    for (char *p = s; *p && k + 1 < len; p++) {
        if (!isspace((unsigned char)*p))
            out[k++] = *p;
        else if (k && out[k - 1] != ' ')
            out[k++] = ' ';
    }
    while (k && out[k - 1] == ' ')
        k--;
    out[k] = 0;
    return k > 0;
}

static struct xstruct *by_name(const char *name)
{
    for (size_t i = 0; i < NXS; i++)
        if (strcmp(xs[i].name, name) == 0)
            return &xs[i];
    return NULL;
}

static struct xstruct *owner_of(const char *field, size_t *pos)
{
    for (size_t i = 0; i < NXS; i++)
        for (size_t k = 0; k < xs[i].n; k++)
            if (strcmp(xs[i].field[k], field) == 0) {
                *pos = k;
                return &xs[i];
            }
    return NULL;
}

/* One patch: #defines from added lines; a struct added whole ("+struct x {" ... "+};");
 * hunks that change a known struct: a '-' field is removed, a '+' field goes after the
 * preceding context or added field of the same struct. */
static int read_patch(const char *path)
{
    uint8_t *data;
    size_t len;
    if (dmp_read_file(path, &data, &len) != 0) {
        fprintf(stderr, "cannot read %s (run from the top of the tree): %s\n", path,
                strerror(errno));
        return -1;
    }
    struct xstruct *cur = NULL;          /* inside "+struct name {" */
    struct xstruct *ctx = NULL;          /* struct of the last field line seen in this hunk */
    size_t ctx_pos = 0;
    char *save = NULL;
    for (char *l = strtok_r((char *)data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char f[96];
        if (strncmp(l, "@@", 2) == 0 || strncmp(l, "diff ", 5) == 0) {
            ctx = NULL;
            continue;
        }
        if (l[0] != '+' && l[0] != ' ' && l[0] != '-')
            continue;
        if (strncmp(l, "+++", 3) == 0 || strncmp(l, "---", 3) == 0)
            continue;
        const char *body = l + 1;
        if (l[0] != '-' && strncmp(body, "#define ", 8) == 0)
            define(body);
        char sname[64];
        if (l[0] == '+' && sscanf(body, "struct %63[a-z0-9_] {", sname) == 1 && strchr(body, '{')) {
            cur = by_name(sname);
            if (cur)
                cur->n = 0;
            continue;
        }
        if (cur) {
            if (strncmp(body, "};", 2) == 0)
                cur = NULL;
            else if (field_decl(body, f, sizeof(f)) && cur->n < MAX_FIELDS)
                snprintf(cur->field[cur->n++], sizeof(cur->field[0]), "%s", f);
            continue;
        }
        if (strncmp(body, "};", 2) == 0)
            ctx = NULL;                 /* a struct ends: later lines are not its fields */
        if (!field_decl(body, f, sizeof(f)))
            continue;
        size_t pos;
        struct xstruct *o = owner_of(f, &pos);
        if (l[0] == '-' && o) {
            memmove(&o->field[pos], &o->field[pos + 1], (o->n - pos - 1) * sizeof(o->field[0]));
            o->n--;
        } else if (l[0] == ' ' && o) {
            ctx = o;
            ctx_pos = pos;
        } else if (l[0] == '+' && !o && ctx && ctx->n < MAX_FIELDS) {
            ctx_pos++;
            memmove(&ctx->field[ctx_pos + 1], &ctx->field[ctx_pos],
                    (ctx->n - ctx_pos) * sizeof(ctx->field[0]));
            snprintf(ctx->field[ctx_pos], sizeof(ctx->field[0]), "%s", f);
            ctx->n++;
        }
    }
    free(data);
    return 0;
}

/* Size of one field declaration on x86-64 ("uint64_aligned_t totals[XEN_DMP_TRAP_KIND_NR]"),
 * its name in *name; 0 if the type is not one our structures use. */
static size_t field_size(const char *decl, char *name, size_t len, size_t *align)
{
    static const struct { const char *type; size_t size; } types[] = {
        { "uint8_t", 1 }, { "uint16_t", 2 }, { "uint32_t", 4 }, { "uint64_t", 8 },
        { "uint64_aligned_t", 8 }, { "XEN_GUEST_HANDLE_64(", 8 },
    };
    const char *sp = strrchr(decl, ' ');
    if (!sp)
        return 0;
    snprintf(name, len, "%s", sp + 1);
    size_t count = 1;
    char *br = strchr(name, '[');
    if (br) {
        char idx[64];
        unsigned long long v;
        snprintf(idx, sizeof(idx), "%s", br + 1);
        *strchr(idx, ']') = 0;
        *br = 0;
        if (isdigit((unsigned char)idx[0]))
            v = strtoull(idx, NULL, 0);
        else if (!defined(idx, &v))
            return 0;
        count = (size_t)v;
    }
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strncmp(decl, types[i].type, strlen(types[i].type)) == 0 &&
            (types[i].type[strlen(types[i].type) - 1] == '(' ||
             decl[strlen(types[i].type)] == ' ')) {
            *align = types[i].size;
            return types[i].size * count;
        }
    return 0;
}

struct mirror_field { const char *name; size_t off; };

/* The series' struct must have exactly these fields at these offsets, and this size. */
static void check_struct(const char *xname, const struct mirror_field *mf, size_t nmf,
                         size_t size)
{
    struct xstruct *x = by_name(xname);
    CHECK(x && x->n == nmf);
    if (!x || x->n != nmf) {
        fprintf(stderr, "%s: %zu fields in the patches, %zu mirrored\n", xname, x ? x->n : 0, nmf);
        return;
    }
    size_t off = 0, max_align = 1;
    for (size_t i = 0; i < x->n; i++) {
        char name[64];
        size_t align = 1, sz = field_size(x->field[i], name, sizeof(name), &align);
        CHECK(sz > 0);
        off = (off + align - 1) / align * align;
        if (align > max_align)
            max_align = align;
        CHECK_STREQ(name, mf[i].name);
        CHECK_EQ_U64(off, mf[i].off);
        off += sz;
    }
    CHECK_EQ_U64((off + max_align - 1) / max_align * max_align, size);
}

#define MF(s, f) { #f, offsetof(struct s, f) }

static void test_against_patches(void)
{
    for (size_t i = 0; i < sizeof(patches) / sizeof(patches[0]); i++)
        CHECK(read_patch(patches[i]) == 0);

    static const struct { const char *name; unsigned long long ours; } nums[] = {
        { "XEN_DOMCTL_dmp_wss", DMP_XEN_DOMCTL_WSS },
        { "XEN_DOMCTL_dmp_trap_profile", DMP_XEN_DOMCTL_TRAP_PROFILE },
        { "XEN_DOMCTL_dmp_fastpath", DMP_XEN_DOMCTL_FASTPATH },
        { "__HYPERVISOR_dmp_op", DMP_XEN_HYPERCALL_DMP_OP },
        { "XEN_DMP_OP_STORE", DMP_XEN_OP_STORE }, { "XEN_DMP_OP_CR3", DMP_XEN_OP_CR3 },
        { "XEN_DMP_OP_INVLPG", DMP_XEN_OP_INVLPG }, { "XEN_DMP_OP_INVPCID", DMP_XEN_OP_INVPCID },
        { "XEN_DMP_OP_FLUSH", DMP_XEN_OP_FLUSH },
        { "XEN_DMP_OP_RESERVED_SHIFT", DMP_XEN_OP_RESERVED_SHIFT },
        { "XEN_DMP_LOG_MAX", DMP_XEN_LOG_MAX },
        { "XEN_DOMCTL_DMP_WSS_ARM", DMP_WSS_ARM }, { "XEN_DOMCTL_DMP_WSS_HARVEST", DMP_WSS_HARVEST },
        { "XEN_DOMCTL_DMP_WSS_DISABLE", DMP_WSS_DISABLE }, { "XEN_DOMCTL_DMP_WSS_MAX", DMP_WSS_MAX },
        { "XEN_DMP_TRAP_PROFILE_ENABLE", DMP_TRAP_PROFILE_ENABLE },
        { "XEN_DMP_TRAP_PROFILE_DISABLE", DMP_TRAP_PROFILE_DISABLE },
        { "XEN_DMP_TRAP_PROFILE_READ", DMP_TRAP_PROFILE_READ },
        { "XEN_DMP_TRAP_PROFILE_RESET", DMP_TRAP_PROFILE_RESET },
        { "XEN_DMP_TRAP_PROFILE_MIN_SLOTS", DMP_TRAP_PROFILE_MIN_SLOTS },
        { "XEN_DMP_TRAP_PROFILE_MAX_SLOTS", DMP_TRAP_PROFILE_MAX_SLOTS },
        { "XEN_DMP_TRAP_KIND_PT_WRITE", DMP_TRAP_PT_WRITE },
        { "XEN_DMP_TRAP_KIND_PF_FIXED", DMP_TRAP_PF_FIXED },
        { "XEN_DMP_TRAP_KIND_PF_GUEST", DMP_TRAP_PF_GUEST },
        { "XEN_DMP_TRAP_KIND_PF_MMIO", DMP_TRAP_PF_MMIO },
        { "XEN_DMP_TRAP_KIND_CR3_WRITE", DMP_TRAP_CR3_WRITE },
        { "XEN_DMP_TRAP_KIND_INVLPG", DMP_TRAP_INVLPG },
        { "XEN_DMP_TRAP_KIND_INVPCID", DMP_TRAP_INVPCID },
        { "XEN_DMP_TRAP_KIND_NR", DMP_TRAP_KIND_NR },
        { "XEN_DMP_FASTPATH_ENABLE", DMP_FASTPATH_ENABLE },
        { "XEN_DMP_FASTPATH_DISABLE", DMP_FASTPATH_DISABLE },
        { "XEN_DMP_FASTPATH_GET_STATS", DMP_FASTPATH_GET_STATS },
        { "XEN_DMP_FASTPATH_REJ_DISABLED", DMP_FP_REJ_DISABLED },
        { "XEN_DMP_FASTPATH_REJ_OP", DMP_FP_REJ_OP },
        { "XEN_DMP_FASTPATH_REJ_ARG", DMP_FP_REJ_ARG },
        { "XEN_DMP_FASTPATH_REJ_FAULT", DMP_FP_REJ_FAULT },
        { "XEN_DMP_FASTPATH_REJ_MEMTYPE", DMP_FP_REJ_MEMTYPE },
        { "XEN_DMP_FASTPATH_REJ_MISMATCH", DMP_FP_REJ_MISMATCH },
        { "XEN_DMP_FASTPATH_REJ_NR", DMP_FP_REJ_NR },
    };
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        unsigned long long v = ~0ull;
        bool found = defined(nums[i].name, &v);
        CHECK(found);
        CHECK_EQ_U64(v, nums[i].ours);
        if (!found || v != nums[i].ours)
            fprintf(stderr, "  %s: patches %llu, ours %llu\n", nums[i].name, v, nums[i].ours);
    }

    static const struct mirror_field wss[] = {
        MF(dmp_wss_op, op), MF(dmp_wss_op, nr), MF(dmp_wss_op, armed), MF(dmp_wss_op, touched),
        MF(dmp_wss_op, gfns), MF(dmp_wss_op, state),
    };
    check_struct("xen_domctl_dmp_wss", wss, 6, sizeof(struct dmp_wss_op));
    static const struct mirror_field entry[] = {
        MF(dmp_trap_entry, rip), MF(dmp_trap_entry, count), MF(dmp_trap_entry, kind),
        MF(dmp_trap_entry, vcpu),
    };
    check_struct("xen_dmp_trap_entry", entry, 4, sizeof(struct dmp_trap_entry));
    static const struct mirror_field prof[] = {
        MF(dmp_trap_profile_op, op), MF(dmp_trap_profile_op, slots),
        MF(dmp_trap_profile_op, vcpu), MF(dmp_trap_profile_op, nr_entries),
        MF(dmp_trap_profile_op, buffer), MF(dmp_trap_profile_op, overflow),
        MF(dmp_trap_profile_op, totals),
    };
    check_struct("xen_domctl_dmp_trap_profile", prof, 7, sizeof(struct dmp_trap_profile_op));
    static const struct mirror_field fp[] = {
        MF(dmp_fastpath_op_arg, op), MF(dmp_fastpath_op_arg, enabled),
        MF(dmp_fastpath_op_arg, stores), MF(dmp_fastpath_op_arg, rejected),
        MF(dmp_fastpath_op_arg, flushes),
    };
    check_struct("xen_domctl_dmp_fastpath", fp, 5, sizeof(struct dmp_fastpath_op_arg));
    static const struct mirror_field log[] = {
        MF(dmp_xen_log_entry, va), MF(dmp_xen_log_entry, val),
    };
    check_struct("xen_dmp_log_entry", log, 2, sizeof(struct dmp_xen_log_entry));
    /* Every op fits the domctl union. */
    CHECK(sizeof(struct dmp_trap_profile_op) <= DMP_XEN_DOMCTL_UNION_SIZE);
    CHECK(sizeof(struct dmp_fastpath_op_arg) <= DMP_XEN_DOMCTL_UNION_SIZE);
}

static void test_helper(void)
{
    CHECK_STREQ(dmp_domctl_name(DMP_XEN_DOMCTL_WSS), "dmp_wss");
    CHECK_STREQ(dmp_domctl_name(DMP_XEN_DOMCTL_TRAP_PROFILE), "dmp_trap_profile");
    CHECK_STREQ(dmp_domctl_name(DMP_XEN_DOMCTL_FASTPATH), "dmp_fastpath");
    CHECK(dmp_domctl_name(1) == NULL);
    /* Without Xen (a build machine) opening fails with the reason and a negative errno; on a
     * Xen host it succeeds. Either way no -1-with-errno. */
    char err[256] = "";
    struct dmp_domctl *h = NULL;
    int rc = dmp_domctl_open(&h, err, sizeof(err));
    if (rc == 0) {
        /* A domid that would be truncated never reaches Xen. */
        struct dmp_fastpath_op_arg a = { .op = DMP_FASTPATH_GET_STATS };
        CHECK(dmp_domctl(h, DMP_XEN_DOMCTL_FASTPATH, 0x10000, &a, sizeof(a), err,
                         sizeof(err)) == -EINVAL);
        CHECK(strstr(err, "out of range") != NULL);
        dmp_domctl_close(h);
    } else {
        CHECK(rc < -1 || rc == -EPERM);
        CHECK(h == NULL);
        CHECK(strncmp(err, "cannot open libxencall: ", 24) == 0);
    }
}

int main(void)
{
    test_against_patches();
    test_helper();
    return DMP_TEST_SUMMARY("domctl");
}
