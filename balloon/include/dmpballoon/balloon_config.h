/* dmpd configuration: an INI-like file, per-domain overrides as key=value strings (the daemon
 * reads them from xenstore), and a serialized form of the effective settings that survives a
 * daemon restart.
 *
 *   # comment               ; comment
 *   [global]
 *   policy = balance        # balance | static | proportional
 *   budget = 6g             # memory for all guests (0 or absent: the daemon computes it)
 *   reserve = 256m
 *   interval = 5s
 *   headroom = 10%          # any per-domain key here is the default for every domain
 *   [domain web]
 *   min = 512m
 *   max = 2g
 *   weight = 200
 *
 * Sizes take k/m/g/t suffixes (binary; a bare number is MiB, as in xl) and must be whole KiB;
 * durations take ms/s/m/h (a bare number is seconds); percentages may end in '%'.
 * Errors name the file, the line and the key: "dmpd.conf:7: key 'weigth' unknown in
 * [domain web]", "dmpd.conf:9: min 2g is above max 1g in [domain web]". */
#ifndef DMP_BALLOON_CONFIG_H
#define DMP_BALLOON_CONFIG_H

#include "dmpballoon/balloon_policy.h"

#include <stddef.h>
#include <stdint.h>

#define DMP_CFG_MAX_KEYS 32

struct dmp_balloon_domain_cfg {
    char name[DMP_NAME_MAX];
    struct dmp_guest_settings set;          /* only keys in set_mask are meaningful */
    uint32_t set_mask;                      /* bit per key index */
    uint32_t line[DMP_CFG_MAX_KEYS];        /* where each key was set (0: override) */
    uint32_t section_line;
};

struct dmp_balloon_config {
    uint64_t budget_kib;                    /* 0: computed by the daemon */
    uint64_t reserve_kib;
    uint64_t interval_ms;
    uint32_t sample_pages;                  /* sampling estimator, per interval */
    uint32_t mrc_target_pct;                /* MRC estimator's miss-ratio target */
    uint32_t hap_sampling;                  /* 0: leave HAP guests unsampled (default 1) */
    struct dmp_policy_params params;        /* policy kind and host-wide knobs */
    struct dmp_guest_settings defaults;     /* [global] values of per-domain keys */
    uint32_t global_line[DMP_CFG_MAX_KEYS];
    struct dmp_balloon_domain_cfg *domains;
    size_t n_domains, cap_domains;
};

void dmp_balloon_config_init(struct dmp_balloon_config *c);
void dmp_balloon_config_free(struct dmp_balloon_config *c);

/* Parse text (need not be NUL-terminated) named fname in messages, on top of whatever c holds
 * (normally just initialised). Returns 0, or -EINVAL (-ENOMEM) with a message in err naming
 * the file, the line and the key. On error c may hold
 * part of the file: free it. */
int dmp_balloon_config_parse(struct dmp_balloon_config *c, const char *text, size_t len,
                             const char *fname, char *err, size_t errlen);
/* Read and parse a file. */
int dmp_balloon_config_load(struct dmp_balloon_config *c, const char *path, char *err,
                            size_t errlen);

/* Apply one "key=value" override to a domain (created if absent), validated like the file;
 * source names the origin in messages (e.g. "xenstore /local/domain/3/dmp"). On error c is
 * unchanged. */
int dmp_balloon_config_override(struct dmp_balloon_config *c, const char *domain,
                                const char *kv, const char *source, char *err, size_t errlen);

/* Effective settings of a domain: defaults overlaid by its own section. */
void dmp_balloon_config_domain(const struct dmp_balloon_config *c, const char *name,
                               struct dmp_guest_settings *out);
const struct dmp_balloon_domain_cfg *dmp_balloon_config_find(const struct dmp_balloon_config *c,
                                                             const char *name);

/* Serialize every global setting and each domain's own keys, in the file format, so that
 * parsing it back gives equal settings. *out is malloc'd, NUL-terminated. Returns 0 or -ENOMEM. */
int dmp_balloon_config_serialize(const struct dmp_balloon_config *c, char **out, size_t *len);

/* Whether two configurations hold the same settings (line numbers ignored). */
bool dmp_balloon_config_equal(const struct dmp_balloon_config *a,
                              const struct dmp_balloon_config *b);

/* Exact text forms used in messages and serialization: "2g", "1536m", "100k"; "5s",
 * "250ms". buf needs 24 bytes. */
const char *dmp_cfg_fmt_kib(uint64_t kib, char *buf, size_t len);
const char *dmp_cfg_fmt_ms(uint64_t ms, char *buf, size_t len);

#endif
