/* Plan serialisation and apply/verify/undo. */
#include "dmppatcher/journal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ki_read(void *ctx, uint64_t va, void *buf, size_t len)
{
    return dmp_kimage_read(ctx, va, buf, len);
}

static int ki_write(void *ctx, uint64_t va, const void *buf, size_t len)
{
    return dmp_kimage_write(ctx, va, buf, len);
}

void dmp_patch_mem_from_kimage(struct dmp_patch_mem *m, struct dmp_kimage *ki)
{
    m->ctx = ki;
    m->read = ki_read;
    m->write = ki_write;
}

void dmp_plan_json(struct dmp_json *j, const struct dmp_plan *pl)
{
    dmp_json_obj_begin(j);
    DMP_JSON_KV(j, "site", dmp_json_hex, pl->site);
    DMP_JSON_KV(j, "hot", dmp_json_hex, pl->hot);
    DMP_JSON_KV(j, "func", dmp_json_str, pl->func);
    DMP_JSON_KV(j, "kind", dmp_json_str, pl->kind ? dmp_site_kind_name(pl->kind) : "unknown");
    DMP_JSON_KV(j, "tactic", dmp_json_str, dmp_tactic_name(pl->tactic));
    if (pl->tactic == DMP_TACTIC_REFUSED) {
        DMP_JSON_KV(j, "reason", dmp_json_str, dmp_refusal_name(pl->reason));
    } else {
        dmp_json_key(j, "old_bytes");
        dmp_json_bytes(j, pl->old_bytes, pl->len);
        dmp_json_key(j, "new_bytes");
        dmp_json_bytes(j, pl->new_bytes, pl->len);
        if (pl->tramp_len) {
            DMP_JSON_KV(j, "tramp_va", dmp_json_hex, pl->tramp_va);
            dmp_json_key(j, "tramp_bytes");
            dmp_json_bytes(j, pl->tramp, pl->tramp_len);
        }
        DMP_JSON_KV(j, "stub_id", dmp_json_i64, pl->stub_id);
        DMP_JSON_KV(j, "stub_va", dmp_json_hex, pl->stub_va);
    }
    DMP_JSON_KV(j, "detail", dmp_json_str, pl->detail);
    dmp_json_obj_end(j);
}

static size_t put_hex(char *o, const uint8_t *b, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    if (n == 0) {
        o[0] = '-';
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        o[2 * i] = hx[b[i] >> 4];
        o[2 * i + 1] = hx[b[i] & 15];
    }
    return 2 * n;
}

int dmp_plan_format(const struct dmp_plan *pl, char *buf, size_t len)
{
    char old[2 * DMP_PLAN_MAX_SITE + 2], nw[2 * DMP_PLAN_MAX_SITE + 2];
    char tr[2 * DMP_PLAN_MAX_TRAMP + 2], ex[DMP_PLAN_MAX_EXITS * 20 + 2] = "";
    old[put_hex(old, pl->old_bytes, pl->len)] = 0;
    nw[put_hex(nw, pl->new_bytes, pl->len)] = 0;
    tr[put_hex(tr, pl->tramp, pl->tramp_len)] = 0;
    size_t e = 0;
    for (unsigned i = 0; i < pl->nexits && i < DMP_PLAN_MAX_EXITS; i++)
        e += (size_t)snprintf(ex + e, sizeof(ex) - e, "%s%llx", i ? "," : "",
                              (unsigned long long)pl->exits[i]);
    if (!e)
        snprintf(ex, sizeof(ex), "-");
    char detail[sizeof(pl->detail)];
    snprintf(detail, sizeof(detail), "%s", pl->detail);
    for (char *c = detail; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    int n = snprintf(buf, len, "dmpplan1 %llx %llx %s %s %s %s %s %llx %s %d %llx %s %s %s",
                     (unsigned long long)pl->site, (unsigned long long)pl->hot,
                     dmp_tactic_name(pl->tactic), dmp_refusal_name(pl->reason),
                     pl->kind ? dmp_site_kind_name(pl->kind) : "unknown", old, nw,
                     (unsigned long long)pl->tramp_va, tr, pl->stub_id,
                     (unsigned long long)pl->stub_va, ex, pl->func[0] ? pl->func : "-", detail);
    return (n < 0 || (size_t)n >= len) ? -ENOSPC : 0;
}

static int get_hex(const char *s, uint8_t *out, size_t max, size_t *n)
{
    if (strcmp(s, "-") == 0) {
        *n = 0;
        return 0;
    }
    size_t l = strlen(s);
    if (l % 2 || l / 2 > max)
        return -EINVAL;
    for (size_t i = 0; i < l / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -EINVAL;
        out[i] = (uint8_t)v;
    }
    *n = l / 2;
    return 0;
}

int dmp_plan_parse(const char *line, struct dmp_plan *pl)
{
    char tok[14][2 * DMP_PLAN_MAX_TRAMP + 4];
    const char *p = line;
    memset(pl, 0, sizeof(*pl));
    for (int i = 0; i < 14; i++) {
        while (*p == ' ')
            p++;
        size_t l = strcspn(p, " ");
        if (l == 0 || l >= sizeof(tok[i]))
            return -EINVAL;
        memcpy(tok[i], p, l);
        tok[i][l] = 0;
        p += l;
    }
    while (*p == ' ')
        p++;
    snprintf(pl->detail, sizeof(pl->detail), "%s", p);
    size_t nold, nnew, ntr;
    char *end;
    if (strcmp(tok[0], "dmpplan1") != 0)
        return -EINVAL;
    pl->site = strtoull(tok[1], &end, 16);
    if (*end) return -EINVAL;
    pl->hot = strtoull(tok[2], &end, 16);
    if (*end) return -EINVAL;
    if (dmp_tactic_from_name(tok[3], &pl->tactic) || dmp_refusal_from_name(tok[4], &pl->reason))
        return -EINVAL;
    pl->kind = 0;
    for (int k = 1; k < DMP_SITE_KIND_MAX; k++)
        if (strcmp(tok[5], dmp_site_kind_name(k)) == 0)
            pl->kind = k;
    if (!pl->kind && strcmp(tok[5], "unknown") != 0)
        return -EINVAL;
    if (get_hex(tok[6], pl->old_bytes, DMP_PLAN_MAX_SITE, &nold) ||
        get_hex(tok[7], pl->new_bytes, DMP_PLAN_MAX_SITE, &nnew) || nold != nnew)
        return -EINVAL;
    pl->len = (uint8_t)nold;
    pl->tramp_va = strtoull(tok[8], &end, 16);
    if (*end) return -EINVAL;
    if (get_hex(tok[9], pl->tramp, DMP_PLAN_MAX_TRAMP, &ntr))
        return -EINVAL;
    pl->tramp_len = (uint16_t)ntr;
    pl->stub_id = (int32_t)strtol(tok[10], &end, 10);
    if (*end) return -EINVAL;
    pl->stub_va = strtoull(tok[11], &end, 16);
    if (*end) return -EINVAL;
    if (strcmp(tok[12], "-") != 0) {
        const char *q = tok[12];
        while (*q && pl->nexits < DMP_PLAN_MAX_EXITS) {
            pl->exits[pl->nexits++] = strtoull(q, &end, 16);
            if (end == q || (*end && *end != ','))
                return -EINVAL;
            q = *end ? end + 1 : end;
        }
    }
    snprintf(pl->func, sizeof(pl->func), "%.63s", strcmp(tok[13], "-") ? tok[13] : "");
    return 0;
}

static int check_bytes(const struct dmp_patch_mem *m, uint64_t va, const uint8_t *want,
                       size_t n, const char *what, char *err, size_t el)
{
    uint8_t cur[DMP_PLAN_MAX_TRAMP];
    int rc = m->read(m->ctx, va, cur, n);
    if (rc) {
        snprintf(err, el, "cannot read %s at 0x%llx", what, (unsigned long long)va);
        return rc;
    }
    if (memcmp(cur, want, n) != 0) {
        snprintf(err, el, "%s at 0x%llx does not hold the expected bytes", what,
                 (unsigned long long)va);
        return -ESTALE;
    }
    return 0;
}

static int write_checked(const struct dmp_patch_mem *m, uint64_t va, const uint8_t *b, size_t n,
                         const char *what, char *err, size_t el)
{
    int rc = m->write(m->ctx, va, b, n);
    if (rc) {
        snprintf(err, el, "cannot write %s at 0x%llx", what, (unsigned long long)va);
        return rc;
    }
    return check_bytes(m, va, b, n, what, err, el);   /* read back */
}

int dmp_stub_area_install(const struct dmp_patch_mem *m, uint64_t base, const uint8_t *img,
                          size_t len, char *err, size_t el)
{
    if (len <= 16)
        return 0;
    int rc = m->write(m->ctx, base + 16, img + 16, len - 16);
    if (rc)
        snprintf(err, el, "cannot write the stub area at 0x%llx", (unsigned long long)base);
    return rc;
}

static bool applicable(const struct dmp_plan *pl, char *err, size_t el)
{
    if (pl->tactic != DMP_TACTIC_RETARGET && pl->tactic != DMP_TACTIC_TRAMPOLINE) {
        snprintf(err, el, "plan for 0x%llx was refused", (unsigned long long)pl->site);
        return false;
    }
    return true;
}

int dmp_plan_apply(const struct dmp_plan *pl, const struct dmp_patch_mem *m, char *err, size_t el)
{
    if (!applicable(pl, err, el))
        return -EINVAL;
    int rc = check_bytes(m, pl->site, pl->old_bytes, pl->len, "site", err, el);
    if (rc)
        return rc;
    /* Trampoline first: the site must never jump to code that is not there yet. */
    if (pl->tramp_len &&
        (rc = write_checked(m, pl->tramp_va, pl->tramp, pl->tramp_len, "trampoline", err, el)))
        return rc;
    return write_checked(m, pl->site, pl->new_bytes, pl->len, "site", err, el);
}

int dmp_plan_verify(const struct dmp_plan *pl, const struct dmp_patch_mem *m, char *err,
                    size_t el)
{
    if (!applicable(pl, err, el))
        return -EINVAL;
    int rc = check_bytes(m, pl->site, pl->new_bytes, pl->len, "site", err, el);
    if (!rc && pl->tramp_len)
        rc = check_bytes(m, pl->tramp_va, pl->tramp, pl->tramp_len, "trampoline", err, el);
    return rc;
}

int dmp_plan_undo(const struct dmp_plan *pl, const struct dmp_patch_mem *m, char *err, size_t el)
{
    if (!applicable(pl, err, el))
        return -EINVAL;
    int rc = check_bytes(m, pl->site, pl->new_bytes, pl->len, "site", err, el);
    if (rc)
        return rc;
    return write_checked(m, pl->site, pl->old_bytes, pl->len, "site", err, el);
}
