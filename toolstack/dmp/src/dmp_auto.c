/* Automatic DMP: configuration, decision state machine and its persistent form (dmp_auto.h). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmp/auto.h"
#include "dmpcommon/util.h"

#define MAX_THRESHOLD 100000000ull
#define MAX_WINDOW_S 3600u
#define MAX_SUSTAIN 100u
#define DAY_MS (24ull * 3600 * 1000)
/* The back-off doubles per consecutive failure up to this many times the base. */
#define BACKOFF_MAX_FACTOR 64ull

static const char *const mode_names[] = { "off", "observe", "patch" };
static const char *const sites_names[] = { "all-mmu", "hot" };
static const char *const phase_names[DMP_AUTO_PHASE_NR] = {
    "watching", "profiling", "patch-due", "patching", "patched", "gave-up", "ignored",
};

const char *dmp_auto_mode_name(enum dmp_auto_mode m)
{
    return (unsigned)m < 3 ? mode_names[m] : "?";
}

const char *dmp_auto_sites_name(enum dmp_auto_sites s)
{
    return (unsigned)s < 2 ? sites_names[s] : "?";
}

const char *dmp_auto_phase_name(enum dmp_auto_phase p)
{
    return (unsigned)p < DMP_AUTO_PHASE_NR ? phase_names[p] : "?";
}

void dmp_auto_config_init(struct dmp_auto_config *c)
{
    memset(c, 0, sizeof(*c));
    /* Observe unless told to patch: an admin who only adds the section sees what would
     * happen before anything is written into a guest. */
    c->set.mode = DMP_AUTO_OBSERVE;
    c->set.threshold = 2000;
    c->set.window_s = 5;
    c->set.sustain = 2;
    c->set.sites = DMP_AUTO_SITES_ALL_MMU;
    c->recheck_ms = 300000;
    c->delay_ms = 10000;
    c->backoff_ms = 60000;
    c->patch_timeout_ms = 600000;
    c->max_failures = 3;
}

/* ---- values ---- */

static int verr(char *err, size_t errlen, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int verr(char *err, size_t errlen, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(err, errlen, "%s: ", where);
    if (n >= 0 && (size_t)n < errlen)
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* A count as configuration files write it: decimal digits only ("010" is ten). */
static int parse_count(const char *val, uint64_t lo, uint64_t hi, uint64_t *out)
{
    uint64_t v;
    if (dmp_parse_u64_dec(val, &v) < 0 || v < lo || v > hi)
        return -EINVAL;
    *out = v;
    return 0;
}

enum key_scope { K_DOMAIN, K_GLOBAL };

/* One key of the [dmp] section or of a per-domain override; where and sect name it in
 * messages. Per-domain keys go into set, the others into c (NULL for overrides). */
static int set_key(struct dmp_auto_config *c, struct dmp_auto_settings *set, const char *key,
                   const char *val, const char *where, const char *sect, char *err, size_t errlen)
{
    uint64_t v;
    if (strcmp(key, "mode") == 0) {
        for (int i = 0; i < 3; i++)
            if (strcmp(val, mode_names[i]) == 0) {
                set->mode = (enum dmp_auto_mode)i;
                return 0;
            }
        return verr(err, errlen, where, "mode '%s' is not off, observe or patch in %s", val, sect);
    }
    if (strcmp(key, "threshold") == 0) {
        if (parse_count(val, 1, MAX_THRESHOLD, &v) < 0)
            return verr(err, errlen, where,
                        "threshold '%s' is not a number of exits per second (1..%llu) in %s",
                        val, MAX_THRESHOLD, sect);
        set->threshold = v;
        return 0;
    }
    if (strcmp(key, "window") == 0) {
        if (dmp_parse_duration_ms(val, &v) < 0 || v % 1000 || v < 1000 ||
            v > MAX_WINDOW_S * 1000ull)
            return verr(err, errlen, where,
                        "window '%s' is not a whole number of seconds in 1s..%us in %s", val,
                        MAX_WINDOW_S, sect);
        set->window_s = (uint32_t)(v / 1000);
        return 0;
    }
    if (strcmp(key, "sustain") == 0) {
        if (parse_count(val, 1, MAX_SUSTAIN, &v) < 0)
            return verr(err, errlen, where, "sustain '%s' is not a count of windows (1..%u) in %s",
                        val, MAX_SUSTAIN, sect);
        set->sustain = (uint32_t)v;
        return 0;
    }
    if (strcmp(key, "sites") == 0) {
        for (int i = 0; i < 2; i++)
            if (strcmp(val, sites_names[i]) == 0) {
                set->sites = (enum dmp_auto_sites)i;
                return 0;
            }
        return verr(err, errlen, where, "sites '%s' is not all-mmu or hot in %s", val, sect);
    }
    if (!c)
        return verr(err, errlen, where, "key '%s' cannot be overridden per domain "
                    "(mode, threshold, window, sustain, sites can)", key);
    struct { const char *name; uint64_t *dst; uint64_t lo; } durs[] = {
        { "recheck", &c->recheck_ms, 1000 },
        { "delay", &c->delay_ms, 0 },
        { "backoff", &c->backoff_ms, 1000 },
        { "patch-timeout", &c->patch_timeout_ms, 10000 },
    };
    for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
        if (strcmp(key, durs[i].name) != 0)
            continue;
        if (dmp_parse_duration_ms(val, &v) < 0 || v < durs[i].lo || v > DAY_MS)
            return verr(err, errlen, where, "%s '%s' is not a duration in %llums..1d (e.g. 30s, 5m) in %s",
                        key, val, (unsigned long long)durs[i].lo, sect);
        *durs[i].dst = v;
        return 0;
    }
    if (strcmp(key, "max-failures") == 0) {
        if (parse_count(val, 1, 1000, &v) < 0)
            return verr(err, errlen, where, "max-failures '%s' is not a count (1..1000) in %s", val,
                        sect);
        c->max_failures = (uint32_t)v;
        return 0;
    }
    if (strcmp(key, "exclude") == 0) {
        c->n_exclude = 0;
        char buf[1024];
        snprintf(buf, sizeof(buf), "%s", val);
        char *save = NULL;
        for (char *t = strtok_r(buf, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
            if (strlen(t) >= DMP_AUTO_NAME_MAX)
                return verr(err, errlen, where, "exclude: name '%.40s...' too long in %s", t, sect);
            if (c->n_exclude >= DMP_AUTO_EXCLUDE_MAX)
                return verr(err, errlen, where, "exclude: more than %d names in %s",
                            DMP_AUTO_EXCLUDE_MAX, sect);
            snprintf(c->exclude[c->n_exclude++], DMP_AUTO_NAME_MAX, "%s", t);
        }
        return 0;
    }
    if (strcmp(key, "dmpctl") == 0) {
        if (val[0] != '/' || strlen(val) >= sizeof(c->dmpctl))
            return verr(err, errlen, where, "dmpctl '%s' is not an absolute path in %s", val, sect);
        snprintf(c->dmpctl, sizeof(c->dmpctl), "%s", val);
        return 0;
    }
    return verr(err, errlen, where, "key '%s' unknown in %s", key, sect);
}

int dmp_auto_config_parse(struct dmp_auto_config *c, const char *text, size_t len,
                          const char *fname, char *err, size_t errlen)
{
    char where[512];
    bool in_dmp = false;
    uint32_t seen[16] = { 0 };
    static const char *const once[] = { "mode", "threshold", "window", "sustain", "sites",
                                        "recheck", "delay", "backoff", "patch-timeout",
                                        "max-failures", "exclude", "dmpctl" };
    struct dmp_conf_reader rd;
    struct dmp_conf_line l;
    dmp_conf_open(&rd, text, len);
    /* Every service reads the whole file; lines outside [dmp] are the other parsers' to judge. */
    while (dmp_conf_next(&rd, &l)) {
        snprintf(where, sizeof(where), "%s:%u", fname, l.lineno);
        if (l.kind == DMP_CONF_SECTION) {
            in_dmp = strcmp(l.name, "dmp") == 0;
            if (in_dmp) {
                if (c->present)
                    return verr(err, errlen, where, "section [dmp] appears twice (first at line %u)",
                                c->section_line);
                c->present = true;
                c->section_line = l.lineno;
            }
            continue;
        }
        if (l.kind == DMP_CONF_BAD_SECTION) {
            in_dmp = false;     /* malformed headers are the balloon parser's to report */
            continue;
        }
        if (!in_dmp)
            continue;
        if (l.kind == DMP_CONF_TOO_LONG)
            return verr(err, errlen, where, "line longer than %d characters", DMP_CONF_LINE_MAX);
        if (l.kind == DMP_CONF_NUL)
            return verr(err, errlen, where, "NUL byte in line in [dmp]");
        if (l.kind == DMP_CONF_NOT_KEY)
            return verr(err, errlen, where, "expected 'key = value', got '%s' in [dmp]", l.text);
        const char *key = l.key, *val = l.value;
        if (!*val)
            return verr(err, errlen, where, "key '%s' has no value in [dmp]", key);
        for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++)
            if (strcmp(key, once[i]) == 0) {
                if (seen[i])
                    return verr(err, errlen, where, "key '%s' set twice in [dmp] (first at line %u)",
                                key, seen[i]);
                seen[i] = l.lineno;
            }
        int rc = set_key(c, &c->set, key, val, where, "[dmp]", err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int dmp_auto_settings_override(struct dmp_auto_settings *set, const char *key, const char *val,
                               const char *source, char *err, size_t errlen)
{
    struct dmp_auto_settings tmp = *set;
    char v[256];
    snprintf(v, sizeof(v), "%s", val);
    int rc = set_key(NULL, &tmp, key, dmp_str_trim(v), source, "the override", err, errlen);
    if (rc < 0)
        return rc;
    *set = tmp;
    return 0;
}

bool dmp_auto_config_excludes(const struct dmp_auto_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_exclude; i++)
        if (strcmp(c->exclude[i], name) == 0)
            return true;
    return false;
}

/* ---- decisions ---- */

void dmp_auto_dom_init(struct dmp_auto_dom *d, const struct dmp_auto_config *c, uint32_t domid,
                       const char *uuid, const char *name, uint64_t now_ms)
{
    memset(d, 0, sizeof(*d));
    d->domid = domid;
    snprintf(d->uuid, sizeof(d->uuid), "%s", uuid);
    snprintf(d->name, sizeof(d->name), "%s", name);
    d->phase = DMP_AUTO_WATCHING;
    d->next_ms = now_ms + c->delay_ms;
    d->last_rate = -1.0;
}

enum dmp_auto_action dmp_auto_due(const struct dmp_auto_settings *s, const struct dmp_auto_dom *d,
                                  uint64_t now_ms)
{
    if (s->mode == DMP_AUTO_OFF || now_ms < d->next_ms)
        return DMP_AUTO_ACT_NONE;
    if (d->phase == DMP_AUTO_WATCHING)
        return DMP_AUTO_ACT_PROFILE;
    /* A patch that became due under "patch" is not run after a switch to observe. */
    if (d->phase == DMP_AUTO_PATCH_DUE && s->mode == DMP_AUTO_PATCH)
        return DMP_AUTO_ACT_PATCH;
    return DMP_AUTO_ACT_NONE;
}

void dmp_auto_started(struct dmp_auto_dom *d, enum dmp_auto_action a)
{
    if (a == DMP_AUTO_ACT_PROFILE)
        d->phase = DMP_AUTO_PROFILING;
    else if (a == DMP_AUTO_ACT_PATCH)
        d->phase = DMP_AUTO_PATCHING;
}

void dmp_auto_on_profile(const struct dmp_auto_config *c, const struct dmp_auto_settings *s,
                         struct dmp_auto_dom *d, double rate, uint64_t now_ms,
                         struct dmp_auto_verdict *v)
{
    d->windows++;
    d->failures = 0;
    d->last_rate = rate;
    d->last_profile_ms = now_ms;
    d->note[0] = '\0';
    d->phase = DMP_AUTO_WATCHING;
    if (rate < (double)s->threshold) {
        snprintf(v->reason, sizeof(v->reason),
                 "rate %.1f/s below threshold %" PRIu64 "/s (%u window%s above before); next "
                 "profile in %" PRIu64 " s", rate, s->threshold, d->above, d->above == 1 ? "" : "s",
                 c->recheck_ms / 1000);
        d->above = 0;
        d->next_ms = now_ms + c->recheck_ms;
        v->decision = "below";
        return;
    }
    d->above++;
    if (d->above < s->sustain) {
        /* The next window follows at once: "sustained" means consecutive windows. */
        snprintf(v->reason, sizeof(v->reason),
                 "rate %.1f/s at or above threshold %" PRIu64 "/s, %u of %u windows", rate,
                 s->threshold, d->above, s->sustain);
        d->next_ms = now_ms;
        v->decision = "above";
        return;
    }
    if (s->mode == DMP_AUTO_PATCH) {
        snprintf(v->reason, sizeof(v->reason),
                 "rate %.1f/s at or above threshold %" PRIu64 "/s for %u of %u windows: patch "
                 "(sites %s)", rate, s->threshold, d->above, s->sustain,
                 dmp_auto_sites_name(s->sites));
        d->phase = DMP_AUTO_PATCH_DUE;
        d->next_ms = now_ms;
        v->decision = "patch";
        return;
    }
    snprintf(v->reason, sizeof(v->reason),
             "rate %.1f/s at or above threshold %" PRIu64 "/s for %u of %u windows: would patch "
             "(mode observe); next profile in %" PRIu64 " s", rate, s->threshold, d->above,
             s->sustain, c->recheck_ms / 1000);
    d->would_patch = true;
    d->above = 0;
    d->next_ms = now_ms + c->recheck_ms;
    v->decision = "would-patch";
}

void dmp_auto_on_patched(struct dmp_auto_dom *d, uint32_t sites, uint64_t now_ms)
{
    d->phase = DMP_AUTO_PATCHED;
    d->sites = sites;
    d->patched_ms = now_ms;
    d->failures = 0;
    d->note[0] = '\0';
}

void dmp_auto_on_ignored(struct dmp_auto_dom *d, const char *why)
{
    d->phase = DMP_AUTO_IGNORED;
    snprintf(d->note, sizeof(d->note), "%s", why);
}

bool dmp_auto_on_failure(const struct dmp_auto_config *c, struct dmp_auto_dom *d, uint64_t now_ms,
                         const char *why)
{
    snprintf(d->note, sizeof(d->note), "%s", why);
    d->failures++;
    if (d->failures >= c->max_failures) {
        d->phase = DMP_AUTO_GAVE_UP;
        return true;
    }
    /* Retry what failed; a profile that failed also loses its place in the sustain count. */
    if (d->phase == DMP_AUTO_PROFILING || d->phase == DMP_AUTO_WATCHING) {
        d->phase = DMP_AUTO_WATCHING;
        d->above = 0;
    } else {
        d->phase = DMP_AUTO_PATCH_DUE;
    }
    uint64_t f = 1;
    for (uint32_t i = 1; i < d->failures && f < BACKOFF_MAX_FACTOR; i++)
        f *= 2;
    d->next_ms = now_ms + c->backoff_ms * f;
    return false;
}

void dmp_auto_after_restart(struct dmp_auto_dom *d, uint64_t now_ms)
{
    if (d->phase == DMP_AUTO_PROFILING) {
        d->phase = DMP_AUTO_WATCHING;
        d->next_ms = now_ms;
    } else if (d->phase == DMP_AUTO_PATCHING) {
        d->phase = DMP_AUTO_PATCH_DUE;
        d->next_ms = now_ms;
    }
}

/* ---- persistence ---- */

#define STATE_HEADER "dmp-auto-state 1"

static bool token_ok(const char *s)
{
    for (; *s; s++)
        if (isspace((unsigned char)*s) || *s == '=')
            return false;
    return true;
}

int dmp_auto_state_format(const struct dmp_auto_dom *d, size_t n, char **out, size_t *len)
{
    FILE *f = open_memstream(out, len);
    if (!f)
        return -ENOMEM;
    fprintf(f, STATE_HEADER "\n");
    for (size_t i = 0; i < n; i++) {
        const struct dmp_auto_dom *x = &d[i];
        /* Names with blanks cannot appear in xenstore domain names; be safe anyway. */
        char note[sizeof(x->note)];
        snprintf(note, sizeof(note), "%s", x->note);
        for (char *p = note; *p; p++)
            if (isspace((unsigned char)*p) || *p == '=')
                *p = '_';
        fprintf(f, "dom domid=%u uuid=%s name=%s phase=%s next_ms=%" PRIu64 " above=%u windows=%u"
                " failures=%u would_patch=%d rate=%.3f last_profile_ms=%" PRIu64 " sites=%u"
                " patched_ms=%" PRIu64 " pid=%d note=%s\n",
                x->domid, x->uuid[0] ? x->uuid : "-", token_ok(x->name) ? x->name : "-",
                dmp_auto_phase_name(x->phase), x->next_ms, x->above, x->windows, x->failures,
                x->would_patch, x->last_rate, x->last_profile_ms, x->sites, x->patched_ms, x->pid,
                note[0] ? note : "-");
    }
    if (fclose(f) != 0) {
        free(*out);
        *out = NULL;
        return -ENOMEM;
    }
    return 0;
}

static int parse_dom_line(char *line, struct dmp_auto_dom *d)
{
    memset(d, 0, sizeof(*d));
    d->last_rate = -1.0;
    bool have_id = false, have_uuid = false, have_phase = false;
    char *save = NULL;
    strtok_r(line, " ", &save);    /* "dom" */
    for (char *t = strtok_r(NULL, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(t, '=');
        if (!eq)
            return -1;
        *eq++ = '\0';
        char *end;
        errno = 0;
        if (strcmp(t, "uuid") == 0) {
            if (strlen(eq) >= sizeof(d->uuid) || strcmp(eq, "-") == 0)
                return -1;
            snprintf(d->uuid, sizeof(d->uuid), "%s", eq);
            have_uuid = true;
        } else if (strcmp(t, "name") == 0) {
            snprintf(d->name, sizeof(d->name), "%s", strcmp(eq, "-") ? eq : "");
        } else if (strcmp(t, "note") == 0) {
            snprintf(d->note, sizeof(d->note), "%s", strcmp(eq, "-") ? eq : "");
        } else if (strcmp(t, "phase") == 0) {
            for (int p = 0; p < DMP_AUTO_PHASE_NR; p++)
                if (strcmp(eq, phase_names[p]) == 0) {
                    d->phase = (enum dmp_auto_phase)p;
                    have_phase = true;
                }
            if (!have_phase)
                return -1;
        } else if (strcmp(t, "rate") == 0) {
            d->last_rate = strtod(eq, &end);
            if (errno || *end || end == eq)
                return -1;
        } else if (strcmp(t, "pid") == 0) {
            long v = strtol(eq, &end, 10);
            if (errno || *end || end == eq || v < 0 || v > INT32_MAX)
                return -1;
            d->pid = (int32_t)v;
        } else {
            unsigned long long v = strtoull(eq, &end, 10);
            if (errno || *end || end == eq || eq[0] == '-')
                return -1;
            if (strcmp(t, "domid") == 0) {
                if (v >= 0x7ff0)
                    return -1;
                d->domid = (uint32_t)v;
                have_id = true;
            } else if (strcmp(t, "next_ms") == 0) {
                d->next_ms = v;
            } else if (strcmp(t, "above") == 0 && v <= UINT32_MAX) {
                d->above = (uint32_t)v;
            } else if (strcmp(t, "windows") == 0 && v <= UINT32_MAX) {
                d->windows = (uint32_t)v;
            } else if (strcmp(t, "failures") == 0 && v <= UINT32_MAX) {
                d->failures = (uint32_t)v;
            } else if (strcmp(t, "would_patch") == 0) {
                d->would_patch = v != 0;
            } else if (strcmp(t, "last_profile_ms") == 0) {
                d->last_profile_ms = v;
            } else if (strcmp(t, "sites") == 0 && v <= UINT32_MAX) {
                d->sites = (uint32_t)v;
            } else if (strcmp(t, "patched_ms") == 0) {
                d->patched_ms = v;
            }
            /* other numeric keys: from a newer version, ignored */
        }
    }
    return have_id && have_uuid && have_phase ? 0 : -1;
}

int dmp_auto_state_parse(const char *text, struct dmp_auto_dom *d, size_t max, size_t *n,
                         size_t *skipped, char *err, size_t errlen)
{
    *n = 0;
    *skipped = 0;
    const char *p = text;
    bool first = true;
    char line[1024];
    while (*p) {
        size_t l = strcspn(p, "\n");
        const char *next = p[l] ? p + l + 1 : p + l;
        if (first) {
            if (l != strlen(STATE_HEADER) || memcmp(p, STATE_HEADER, l) != 0) {
                return dmp_errf(err, errlen, -EINVAL, "not a dmp auto state file (first line "
                                "'%.*s')", (int)(l > 40 ? 40 : l), p);
            }
            first = false;
        } else if (l > 0) {
            if (l >= sizeof(line) || strncmp(p, "dom ", 4) != 0 || *n >= max) {
                (*skipped)++;
            } else {
                memcpy(line, p, l);
                line[l] = '\0';
                if (parse_dom_line(line, &d[*n]) == 0)
                    (*n)++;
                else
                    (*skipped)++;
            }
        }
        p = next;
    }
    if (first)
        return dmp_errf(err, errlen, -EINVAL, "empty dmp auto state file");
    return 0;
}
