/* Named memory segments (docs/SEGMENTS.md): the rules both dmpctl and dmpd apply to names
 * and sizes, and the registry file dmpd keeps in its state directory. Pure logic, no Xen. */
#ifndef DMP_SEGMENT_H
#define DMP_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DMP_SEG_NAME_MAX 64
#define DMP_SEG_PAGE 4096ULL
/* The largest segment. Grant tables bound what can be attached at once far below this
 * (dom0's 64 grant frames hold 32768 grants = 128 MiB); the limit is the driver ABI's. */
#define DMP_SEG_MAX_SIZE (1ULL << 30)
#define DMP_SEG_MAX_ALLOW 32
#define DMP_SEG_DOMNAME_MAX 64
#define DMP_SEG_MAX_SEGMENTS 64

struct dmp_seg_def {
    char name[DMP_SEG_NAME_MAX + 1];
    uint64_t size;
    bool shared;          /* several domains may attach at once */
    bool persistent;      /* initial contents live in the state directory */
    bool saved;           /* a replace stored initial contents (else they are zero) */
    int nallow;
    char allow[DMP_SEG_MAX_ALLOW][DMP_SEG_DOMNAME_MAX + 1];
};

/* Names: [A-Za-z0-9_.-]{1,64}, not "." or "..". Return 0, or -EINVAL with the reason in err
 * (as do the size functions below). */
int dmp_seg_name_check(const char *name, char *err, size_t errlen);
/* Domain names on access lists: the same alphabet, at most 64 characters. */
int dmp_seg_domname_check(const char *name, char *err, size_t errlen);
/* Sizes: k/m/g suffixes, bare numbers in MiB (like xl), a page multiple, 4 KiB..1 GiB. */
int dmp_seg_size_parse(const char *s, uint64_t *bytes, char *err, size_t errlen);
/* The same bounds for a size already in bytes. */
int dmp_seg_size_check(uint64_t bytes, char *err, size_t errlen);

bool dmp_seg_allowed(const struct dmp_seg_def *s, const char *domname);
/* Add or remove a domain name; 0 on change, 1 if nothing to do, -ENOSPC if the list is full
 * (-ENAMETOOLONG for a name longer than DMP_SEG_DOMNAME_MAX). */
int dmp_seg_allow(struct dmp_seg_def *s, const char *domname);
int dmp_seg_deny(struct dmp_seg_def *s, const char *domname);

/* Registry text:  "segment NAME BYTES shared|private persistent|transient saved|unsaved"
 * followed by "allow NAME DOMNAME" lines; '#' comments. Parse validates every field and
 * names the bad line in err (-EINVAL; -ENOMEM). *defs is malloc'd (may be NULL when *n == 0). */
int dmp_seg_registry_parse(const char *text, size_t len, struct dmp_seg_def **defs, int *n,
                           char *err, size_t errlen);
/* Serialise; returns a malloc'd NUL-terminated string or NULL. */
char *dmp_seg_registry_format(const struct dmp_seg_def *defs, int n);

#endif
