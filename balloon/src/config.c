#include "dmpballoon/balloon_config.h"

#include "dmpcommon/util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum ktype { K_SIZE, K_DURATION, K_PERCENT, K_WEIGHT, K_COUNT, K_ESTIMATOR, K_POLICY };
enum kscope { S_DOMAIN, S_GLOBAL };  /* S_DOMAIN keys are also defaults in [global] */

struct key {
    const char *name;
    enum ktype type;
    enum kscope scope;
    size_t off;             /* into struct dmp_guest_settings (S_DOMAIN) or the config */
    uint64_t min, max;      /* accepted range (KiB, ms, % or count) */
};

#define GS(f) offsetof(struct dmp_guest_settings, f)
#define CF(f) offsetof(struct dmp_balloon_config, f)
#define PP(f) (offsetof(struct dmp_balloon_config, params) + offsetof(struct dmp_policy_params, f))
#define BIG UINT64_MAX

static const struct key keys[] = {
    { "min", K_SIZE, S_DOMAIN, GS(min_kib), 0, BIG },
    { "max", K_SIZE, S_DOMAIN, GS(max_kib), 0, BIG },
    { "weight", K_WEIGHT, S_DOMAIN, GS(weight), 1, 10000 },
    { "headroom", K_PERCENT, S_DOMAIN, GS(headroom_pct), 0, 1000 },
    { "base", K_SIZE, S_DOMAIN, GS(base_kib), 0, BIG },
    { "hysteresis", K_SIZE, S_DOMAIN, GS(hysteresis_kib), 0, BIG },
    { "hysteresis-pct", K_PERCENT, S_DOMAIN, GS(hysteresis_pct), 0, 100 },
    { "rate-limit", K_SIZE, S_DOMAIN, GS(rate_limit_kib), 0, BIG },
    { "min-change-interval", K_DURATION, S_DOMAIN, GS(min_change_interval_ms), 0, BIG },
    { "stuck-timeout", K_DURATION, S_DOMAIN, GS(stuck_timeout_ms), 1000, BIG },
    { "boot-grace", K_DURATION, S_DOMAIN, GS(boot_grace_ms), 0, BIG },
    { "floor-hold", K_DURATION, S_DOMAIN, GS(floor_hold_ms), 0, BIG },
    { "estimator", K_ESTIMATOR, S_DOMAIN, GS(estimator), 0, 0 },
    { "policy", K_POLICY, S_GLOBAL, PP(kind), 0, 0 },
    { "budget", K_SIZE, S_GLOBAL, CF(budget_kib), 0, BIG },
    { "reserve", K_SIZE, S_GLOBAL, CF(reserve_kib), 0, BIG },
    { "interval", K_DURATION, S_GLOBAL, CF(interval_ms), 100, BIG },
    { "granularity", K_SIZE, S_GLOBAL, PP(granularity_kib), 4, 1ULL << 30 },
    { "min-floor", K_SIZE, S_GLOBAL, PP(min_floor_kib), 0, BIG },
    { "safety-margin", K_SIZE, S_GLOBAL, PP(safety_margin_kib), 0, BIG },
    { "stuck-progress", K_PERCENT, S_GLOBAL, PP(stuck_progress_pct), 1, 100 },
    { "stuck-tolerance", K_SIZE, S_GLOBAL, PP(stuck_tolerance_kib), 0, BIG },
    { "stuck-backoff", K_DURATION, S_GLOBAL, PP(stuck_backoff_ms), 1000, BIG },
    { "stuck-backoff-max", K_DURATION, S_GLOBAL, PP(stuck_backoff_max_ms), 1000, BIG },
    { "noballoon-after", K_COUNT, S_GLOBAL, PP(noballoon_after), 1, 1000 },
    { "pressure-step", K_PERCENT, S_GLOBAL, PP(pressure_step_pct), 0, 100 },
    { "sample-pages", K_COUNT, S_GLOBAL, CF(sample_pages), 1, 1000000 },
    { "mrc-target", K_PERCENT, S_GLOBAL, CF(mrc_target_pct), 1, 99 },
    { "hap-sampling", K_COUNT, S_GLOBAL, CF(hap_sampling), 0, 1 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))
_Static_assert(NKEYS <= DMP_CFG_MAX_KEYS, "raise DMP_CFG_MAX_KEYS");

enum { KEY_MIN = 0, KEY_MAX = 1 };

void dmp_balloon_config_init(struct dmp_balloon_config *c)
{
    memset(c, 0, sizeof(*c));
    c->reserve_kib = 256 * 1024;
    c->interval_ms = 5000;
    c->sample_pages = 1000;
    c->mrc_target_pct = 5;
    /* Off until the triple faults of sampled HAP guests in the lab are understood. */
    c->hap_sampling = 1;
    dmp_policy_params_default(&c->params);
    dmp_guest_settings_default(&c->defaults);
}

void dmp_balloon_config_free(struct dmp_balloon_config *c)
{
    free(c->domains);
    c->domains = NULL;
    c->n_domains = c->cap_domains = 0;
}

const char *dmp_cfg_fmt_kib(uint64_t kib, char *buf, size_t len)
{
    if (kib && kib % (1ULL << 30) == 0)
        snprintf(buf, len, "%" PRIu64 "t", kib >> 30);
    else if (kib && kib % (1ULL << 20) == 0)
        snprintf(buf, len, "%" PRIu64 "g", kib >> 20);
    else if (kib && kib % 1024 == 0)
        snprintf(buf, len, "%" PRIu64 "m", kib >> 10);
    else
        snprintf(buf, len, "%" PRIu64 "k", kib);
    return buf;
}

const char *dmp_cfg_fmt_ms(uint64_t ms, char *buf, size_t len)
{
    if (ms && ms % 1000 == 0)
        snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
    else
        snprintf(buf, len, "%" PRIu64 "ms", ms);
    return buf;
}

/* "where: message" in err; returns -EINVAL, what every refusal of a configuration is. */
static int fail(char *err, size_t errlen, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, const char *where, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(err, errlen, "%s: ", where);
    if (n < 0 || (size_t)n >= errlen)
        return -EINVAL;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int parse_number(const char *s, bool allow_pct, uint64_t *v)
{
    char buf[32];
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, n + 1);
    if (allow_pct && buf[n - 1] == '%')
        buf[n - 1] = '\0';
    return dmp_parse_u64_dec(buf, v);
}

static const char *describe(enum ktype t)
{
    switch (t) {
    case K_SIZE: return "a size like 512m or 2g";
    case K_DURATION: return "a duration like 500ms, 5s or 2m";
    case K_PERCENT: return "a percentage like 10%";
    case K_WEIGHT: return "a weight from 1 to 10000";
    case K_COUNT: return "a count";
    case K_ESTIMATOR: return "one of none, sampling, mrc";
    case K_POLICY: return "one of balance, static, proportional";
    }
    return "?";
}

/* Parse a value for key k into *v (numbers) or *e (enums); message on failure. */
static int parse_value(const struct key *k, const char *val, uint64_t *v, int *e, char *err,
                       size_t errlen, const char *where)
{
    int rc = 0;
    switch (k->type) {
    case K_SIZE: {
        uint64_t bytes;
        rc = dmp_parse_size(val, 1ULL << 20, &bytes);
        if (rc == 0 && bytes % 1024)
            return fail(err, errlen, where, "%s '%s' is not a whole number of KiB", k->name, val);
        *v = bytes / 1024;
        break;
    }
    case K_DURATION: rc = dmp_parse_duration_ms(val, v); break;
    case K_PERCENT: rc = parse_number(val, true, v); break;
    case K_WEIGHT:
    case K_COUNT: rc = parse_number(val, false, v); break;
    case K_ESTIMATOR: {
        enum dmp_wss_method m;
        rc = dmp_wss_method_parse(val, &m);
        *e = (int)m;
        break;
    }
    case K_POLICY: {
        enum dmp_policy_kind pk;
        rc = dmp_policy_kind_parse(val, &pk);
        *e = (int)pk;
        break;
    }
    }
    if (rc != 0)
        return fail(err, errlen, where, "bad value '%s' for key '%s' (expected %s)", val, k->name,
                    describe(k->type));
    if ((k->type != K_ESTIMATOR && k->type != K_POLICY) && (*v < k->min || *v > k->max)) {
        char lo[24], hi[24];
        if (k->type == K_SIZE) {
            dmp_cfg_fmt_kib(k->min, lo, sizeof(lo));
            dmp_cfg_fmt_kib(k->max, hi, sizeof(hi));
        } else if (k->type == K_DURATION) {
            dmp_cfg_fmt_ms(k->min, lo, sizeof(lo));
            snprintf(hi, sizeof(hi), "any");
        } else {
            snprintf(lo, sizeof(lo), "%" PRIu64, k->min);
            snprintf(hi, sizeof(hi), "%" PRIu64, k->max);
        }
        return fail(err, errlen, where, "%s %s is out of range (%s to %s)", k->name, val, lo,
                    k->max == BIG ? "any" : hi);
    }
    return 0;
}

static void store(void *base, const struct key *k, uint64_t v, int e)
{
    char *p = (char *)base + k->off;
    switch (k->type) {
    case K_SIZE:
    case K_DURATION: memcpy(p, &v, sizeof(uint64_t)); break;
    case K_PERCENT:
    case K_WEIGHT:
    case K_COUNT: { uint32_t x = (uint32_t)v; memcpy(p, &x, sizeof(x)); break; }
    case K_ESTIMATOR: { enum dmp_wss_method m = (enum dmp_wss_method)e; memcpy(p, &m, sizeof(m)); break; }
    case K_POLICY: { enum dmp_policy_kind m = (enum dmp_policy_kind)e; memcpy(p, &m, sizeof(m)); break; }
    }
}

static uint64_t load_num(const void *base, const struct key *k)
{
    const char *p = (const char *)base + k->off;
    if (k->type == K_SIZE || k->type == K_DURATION) {
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    if (k->type == K_ESTIMATOR) {
        enum dmp_wss_method m;
        memcpy(&m, p, sizeof(m));
        return (uint64_t)m;
    }
    if (k->type == K_POLICY) {
        enum dmp_policy_kind m;
        memcpy(&m, p, sizeof(m));
        return (uint64_t)m;
    }
    uint32_t x;
    memcpy(&x, p, sizeof(x));
    return x;
}

static const struct key *find_key(const char *name, size_t *idx)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].name, name) == 0) {
            *idx = i;
            return &keys[i];
        }
    }
    return NULL;
}

const struct dmp_balloon_domain_cfg *dmp_balloon_config_find(const struct dmp_balloon_config *c,
                                                             const char *name)
{
    for (size_t i = 0; i < c->n_domains; i++)
        if (strcmp(c->domains[i].name, name) == 0)
            return &c->domains[i];
    return NULL;
}

static struct dmp_balloon_domain_cfg *add_domain(struct dmp_balloon_config *c, const char *name)
{
    if (c->n_domains == c->cap_domains) {
        size_t cap = c->cap_domains ? 2 * c->cap_domains : 8;
        void *p = realloc(c->domains, cap * sizeof(*c->domains));
        if (!p)
            return NULL;
        c->domains = p;
        c->cap_domains = cap;
    }
    struct dmp_balloon_domain_cfg *d = &c->domains[c->n_domains++];
    memset(d, 0, sizeof(*d));
    snprintf(d->name, sizeof(d->name), "%s", name);
    return d;
}

void dmp_balloon_config_domain(const struct dmp_balloon_config *c, const char *name,
                               struct dmp_guest_settings *out)
{
    *out = c->defaults;
    const struct dmp_balloon_domain_cfg *d = name ? dmp_balloon_config_find(c, name) : NULL;
    if (!d)
        return;
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].scope != S_DOMAIN || !(d->set_mask & (1u << i)))
            continue;
        const struct key *k = &keys[i];
        if (k->type == K_ESTIMATOR || k->type == K_POLICY)
            store(out, k, 0, (int)load_num(&d->set, k));
        else
            store(out, k, load_num(&d->set, k), 0);
    }
}

/* min <= max for the effective settings of one domain (or of the defaults). */
static int check_min_max(const struct dmp_guest_settings *s, const char *where, const char *sect,
                         char *err, size_t errlen)
{
    if (s->max_kib && s->min_kib > s->max_kib) {
        char a[24], b[24];
        return fail(err, errlen, where, "min %s is above max %s in %s",
                    dmp_cfg_fmt_kib(s->min_kib, a, sizeof(a)), dmp_cfg_fmt_kib(s->max_kib, b, sizeof(b)),
                    sect);
    }
    return 0;
}

static int check_global(const struct dmp_balloon_config *c, const char *where, char *err,
                        size_t errlen)
{
    char a[24], b[24];
    if (c->budget_kib && c->reserve_kib >= c->budget_kib)
        return fail(err, errlen, where, "reserve %s is not below budget %s in [global]",
                    dmp_cfg_fmt_kib(c->reserve_kib, a, sizeof(a)), dmp_cfg_fmt_kib(c->budget_kib, b, sizeof(b)));
    if (c->params.granularity_kib % 4)
        return fail(err, errlen, where, "granularity %s is not a multiple of the 4k page",
                    dmp_cfg_fmt_kib(c->params.granularity_kib, a, sizeof(a)));
    if (c->params.stuck_backoff_max_ms < c->params.stuck_backoff_ms)
        return fail(err, errlen, where, "stuck-backoff-max %s is below stuck-backoff %s",
                    dmp_cfg_fmt_ms(c->params.stuck_backoff_max_ms, a, sizeof(a)),
                    dmp_cfg_fmt_ms(c->params.stuck_backoff_ms, b, sizeof(b)));
    return 0;
}

/* Set key=val in the global section (d == NULL) or in domain d. */
static int set_key(struct dmp_balloon_config *c, struct dmp_balloon_domain_cfg *d,
                   const char *key, const char *val, uint32_t line, const char *where,
                   const char *sect, char *err, size_t errlen)
{
    size_t idx;
    const struct key *k = find_key(key, &idx);
    if (!k)
        return fail(err, errlen, where, "key '%s' unknown in %s", key, sect);
    if (d && k->scope == S_GLOBAL)
        return fail(err, errlen, where, "key '%s' is only valid in [global], not in %s", key, sect);
    uint32_t *lines = d ? d->line : c->global_line;
    if (line && lines[idx])
        return fail(err, errlen, where, "key '%s' set twice in %s (first at line %u)", key, sect,
                    lines[idx]);
    uint64_t v = 0;
    int e = 0;
    int rc = parse_value(k, val, &v, &e, err, errlen, where);
    if (rc < 0)
        return rc;
    void *base = k->scope == S_GLOBAL ? (void *)c : d ? (void *)&d->set : (void *)&c->defaults;
    store(base, k, v, e);
    lines[idx] = line;
    if (d)
        d->set_mask |= 1u << idx;
    return 0;
}

static bool valid_domain_name(const char *s)
{
    if (!*s || strlen(s) >= DMP_NAME_MAX)
        return false;
    for (; *s; s++)
        if (isspace((unsigned char)*s) || *s == '[' || *s == ']' || *s == '=' || !isprint((unsigned char)*s))
            return false;
    return true;
}

int dmp_balloon_config_parse(struct dmp_balloon_config *c, const char *text, size_t len,
                             const char *fname, char *err, size_t errlen)
{
    char where[512], sect[DMP_NAME_MAX + 16] = "";
    struct dmp_balloon_domain_cfg *dom = NULL;
    bool in_section = false;
    bool other_service = false;     /* in [dmp]: dmpd's automatic DMP service parses it */
    struct dmp_conf_reader rd;
    struct dmp_conf_line l;
    dmp_conf_open(&rd, text, len);
    while (dmp_conf_next(&rd, &l)) {
        uint32_t lineno = l.lineno;
        snprintf(where, sizeof(where), "%s:%u", fname, lineno);
        if (l.kind == DMP_CONF_TOO_LONG)
            return fail(err, errlen, where, "line longer than %d characters", DMP_CONF_LINE_MAX);
        if (l.kind == DMP_CONF_NUL)
            return fail(err, errlen, where, "NUL byte in line");
        if (l.kind == DMP_CONF_BAD_SECTION)
            return fail(err, errlen, where, "malformed section header '%s'", l.text);
        if (l.kind == DMP_CONF_SECTION) {
            char *name = l.name;
            other_service = strcmp(name, "dmp") == 0;
            if (other_service) {
                continue;
            } else if (strcmp(name, "global") == 0) {
                dom = NULL;
                snprintf(sect, sizeof(sect), "[global]");
            } else if (strncmp(name, "domain", 6) == 0 && isspace((unsigned char)name[6])) {
                char *dn = dmp_str_trim(name + 6);
                if (!valid_domain_name(dn))
                    return fail(err, errlen, where, "bad domain name '%s' in section header", dn);
                const struct dmp_balloon_domain_cfg *prev = dmp_balloon_config_find(c, dn);
                if (prev && prev->section_line)
                    return fail(err, errlen, where, "section [domain %s] appears twice (first at line %u)",
                                dn, prev->section_line);
                dom = prev ? (struct dmp_balloon_domain_cfg *)prev : add_domain(c, dn);
                if (!dom) {
                    fail(err, errlen, where, "out of memory");
                    return -ENOMEM;
                }
                dom->section_line = lineno;
                snprintf(sect, sizeof(sect), "[domain %s]", dn);
            } else {
                return fail(err, errlen, where, "unknown section [%s] (expected [global] or [domain <name>])",
                            name);
            }
            in_section = true;
            continue;
        }
        if (other_service)
            continue;
        if (l.kind == DMP_CONF_NOT_KEY)
            return fail(err, errlen, where, "expected 'key = value', got '%s'", l.text);
        char *key = l.key, *val = l.value;
        if (!in_section)
            return fail(err, errlen, where, "key '%s' before any section ([global] or [domain <name>])",
                        key);
        if (!*val)
            return fail(err, errlen, where, "key '%s' has no value in %s", key, sect);
        int rc = set_key(c, dom, key, val, lineno, where, sect, err, errlen);
        if (rc < 0)
            return rc;
        /* min/max are checked as soon as both are known, so the message points at the
         * line that made them inconsistent. */
        size_t ki;
        if (find_key(key, &ki) && (ki == KEY_MIN || ki == KEY_MAX)) {
            struct dmp_guest_settings eff;
            dmp_balloon_config_domain(c, dom ? dom->name : NULL, &eff);
            rc = check_min_max(&eff, where, sect, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
    snprintf(where, sizeof(where), "%s", fname);
    int rc = check_global(c, where, err, errlen);
    if (rc < 0)
        return rc;
    /* Defaults set in [global] after a domain section can still contradict it. */
    for (size_t i = 0; i < c->n_domains; i++) {
        struct dmp_guest_settings eff;
        dmp_balloon_config_domain(c, c->domains[i].name, &eff);
        char sn[DMP_NAME_MAX + 16];
        snprintf(sn, sizeof(sn), "[domain %s]", c->domains[i].name);
        snprintf(where, sizeof(where), "%s:%u", fname, c->domains[i].section_line);
        rc = check_min_max(&eff, where, sn, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int dmp_balloon_config_load(struct dmp_balloon_config *c, const char *path, char *err,
                            size_t errlen)
{
    uint8_t *data;
    size_t len;
    int rrc = dmp_read_file(path, &data, &len);
    if (rrc < 0)
        return dmp_errf(err, errlen, rrc, "%s: cannot read: %s", path, strerror(-rrc));
    const char *base = strrchr(path, '/');
    int rc = dmp_balloon_config_parse(c, (const char *)data, len, base ? base + 1 : path, err,
                                      errlen);
    free(data);
    return rc;
}

int dmp_balloon_config_override(struct dmp_balloon_config *c, const char *domain,
                                const char *kv, const char *source, char *err, size_t errlen)
{
    char where[512], sect[DMP_NAME_MAX + 16], buf[512];
    snprintf(where, sizeof(where), "%s", source);
    if (!valid_domain_name(domain))
        return fail(err, errlen, where, "bad domain name '%s'", domain);
    snprintf(sect, sizeof(sect), "[domain %s]", domain);
    if (strlen(kv) >= sizeof(buf))
        return fail(err, errlen, where, "override too long");
    snprintf(buf, sizeof(buf), "%s", kv);
    char *eq = strchr(buf, '=');
    if (!eq)
        return fail(err, errlen, where, "expected key=value, got '%s'", kv);
    *eq = '\0';
    char *key = dmp_str_trim(buf), *val = dmp_str_trim(eq + 1);
    /* Work on a copy so a rejected override leaves the configuration as it was. */
    const struct dmp_balloon_domain_cfg *prev = dmp_balloon_config_find(c, domain);
    struct dmp_balloon_domain_cfg tmp;
    if (prev) {
        tmp = *prev;
    } else {
        memset(&tmp, 0, sizeof(tmp));
        snprintf(tmp.name, sizeof(tmp.name), "%s", domain);
    }
    int rc = set_key(c, &tmp, key, val, 0, where, sect, err, errlen);
    if (rc < 0)
        return rc;
    struct dmp_guest_settings eff = c->defaults;
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].scope != S_DOMAIN || !(tmp.set_mask & (1u << i)))
            continue;
        if (keys[i].type == K_ESTIMATOR)
            store(&eff, &keys[i], 0, (int)load_num(&tmp.set, &keys[i]));
        else
            store(&eff, &keys[i], load_num(&tmp.set, &keys[i]), 0);
    }
    rc = check_min_max(&eff, where, sect, err, errlen);
    if (rc < 0)
        return rc;
    struct dmp_balloon_domain_cfg *d = prev ? (struct dmp_balloon_domain_cfg *)prev
                                            : add_domain(c, domain);
    if (!d) {
        fail(err, errlen, where, "out of memory");
        return -ENOMEM;
    }
    *d = tmp;
    return 0;
}

static void emit(FILE *f, const void *base, const struct key *k)
{
    char b[32];
    uint64_t v = load_num(base, k);
    switch (k->type) {
    case K_SIZE: fprintf(f, "%s = %s\n", k->name, dmp_cfg_fmt_kib(v, b, sizeof(b))); break;
    case K_DURATION: fprintf(f, "%s = %s\n", k->name, dmp_cfg_fmt_ms(v, b, sizeof(b))); break;
    case K_PERCENT: fprintf(f, "%s = %" PRIu64 "%%\n", k->name, v); break;
    case K_WEIGHT:
    case K_COUNT: fprintf(f, "%s = %" PRIu64 "\n", k->name, v); break;
    case K_ESTIMATOR: fprintf(f, "%s = %s\n", k->name, dmp_wss_method_name((enum dmp_wss_method)v)); break;
    case K_POLICY: fprintf(f, "%s = %s\n", k->name, dmp_policy_kind_name((enum dmp_policy_kind)v)); break;
    }
}

int dmp_balloon_config_serialize(const struct dmp_balloon_config *c, char **out, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return -ENOMEM;
    fprintf(f, "# dmpd effective settings (written by dmpd; parsed back on restart)\n[global]\n");
    for (size_t i = 0; i < NKEYS; i++)
        emit(f, keys[i].scope == S_GLOBAL ? (const void *)c : (const void *)&c->defaults, &keys[i]);
    for (size_t d = 0; d < c->n_domains; d++) {
        fprintf(f, "\n[domain %s]\n", c->domains[d].name);
        for (size_t i = 0; i < NKEYS; i++)
            if (c->domains[d].set_mask & (1u << i))
                emit(f, &c->domains[d].set, &keys[i]);
    }
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

bool dmp_balloon_config_equal(const struct dmp_balloon_config *a,
                              const struct dmp_balloon_config *b)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const void *ba = keys[i].scope == S_GLOBAL ? (const void *)a : (const void *)&a->defaults;
        const void *bb = keys[i].scope == S_GLOBAL ? (const void *)b : (const void *)&b->defaults;
        if (load_num(ba, &keys[i]) != load_num(bb, &keys[i]))
            return false;
    }
    if (a->n_domains != b->n_domains)
        return false;
    for (size_t d = 0; d < a->n_domains; d++) {
        const struct dmp_balloon_domain_cfg *x = &a->domains[d];
        const struct dmp_balloon_domain_cfg *y = dmp_balloon_config_find(b, x->name);
        if (!y || x->set_mask != y->set_mask)
            return false;
        for (size_t i = 0; i < NKEYS; i++)
            if ((x->set_mask & (1u << i)) && load_num(&x->set, &keys[i]) != load_num(&y->set, &keys[i]))
                return false;
    }
    return true;
}
