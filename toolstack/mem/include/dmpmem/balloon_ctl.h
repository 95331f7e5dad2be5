/* Balloon control of one guest, done exactly as `xl mem-set` does it (libxl_set_memory_target
 * with enforce=1, Xen 4.17): xenstore memory/target, Xen's max memory with libxl's slack, the
 * populate-on-demand target for HVM-container guests, /vm/<uuid>/memory; and the read-back of
 * what the guest reached and whether it runs a balloon driver. Sizes are KiB (the unit of
 * memory/target). */
#ifndef DMP_BALLOON_CTL_H
#define DMP_BALLOON_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xs_handle;
struct xc_interface_core;

/* libxl__arch_extra_memory() on x86 (LIBXL_MAXMEM_CONSTANT): added to Xen's max memory and
 * to the PoD target so that the few pages Xen itself allocates to the guest fit. */
#define DMP_BALLOON_MAXMEM_SLACK_KIB 1024u
/* Lowest target dmpctl mem-set accepts: below it a Linux guest cannot boot or run its own
 * kernel, so a typo ("mem-set web 8") must not silently starve it. */
#define DMP_BALLOON_ABS_MIN_KIB (64u * 1024u)

enum dmp_balloon_feature {
    DMP_FEATURE_UNKNOWN = -1,   /* the guest did not say */
    DMP_FEATURE_ABSENT = 0,
    DMP_FEATURE_PRESENT = 1,
};

struct dmp_balloon_info {
    uint32_t domid;
    bool hvm;                   /* HVM container (PVH or HVM): the PoD target applies */
    bool hap;
    bool paused;                /* paused (also while libxl is still building it) */
    bool dying;                 /* shut down or being destroyed */
    uint64_t target_kib;        /* memory/target */
    uint64_t static_max_kib;    /* memory/static-max */
    uint64_t videoram_kib;      /* memory/videoram (0 if absent) */
    uint64_t actual_kib;        /* pages the guest holds now (Xen tot_pages) */
    uint64_t maxmem_kib;        /* Xen's max_pages */
    enum dmp_balloon_feature feature_balloon;   /* control/feature-balloon */
    bool pv_drivers_up;         /* the guest wrote a control/feature-* key (xenbus is up) */
};

/* Read the state of domid. Returns 0, or a negative errno with a message in err (-ESRCH: no
 * such domain; -ENOENT: no memory/target, as for dom0 or a domain being torn down). */
int dmp_balloon_read(struct xs_handle *xs, struct xc_interface_core *xch, uint32_t domid,
                     struct dmp_balloon_info *out, char *err, size_t errlen);

/* Set the target like `xl mem-set <dom> <memkb>` (memkb includes video memory, as in xl).
 * Refuses (-EINVAL, message naming the limit) a target above memory/static-max or below
 * min_kib, and dom0. Returns 0, or a negative errno with a message in err (-ESRCH: no such
 * domain; the errno of the Xen or xenstore call that failed). */
int dmp_balloon_set_target(struct xs_handle *xs, struct xc_interface_core *xch, uint32_t domid,
                           uint64_t memkb, uint64_t min_kib, char *err, size_t errlen);

/* The arithmetic of libxl_set_memory_target, separated for tests: from the requested size
 * and the guest's videoram/static-max, the new memory/target, the maxmem and PoD target
 * (pages) to set. Returns 0, or -EINVAL (above static-max: new target > static_max). */
struct dmp_balloon_plan {
    uint64_t target_kib;        /* written to memory/target */
    uint64_t maxmem_kib;        /* xc_domain_setmaxmem */
    uint64_t pod_pages;         /* xc_domain_set_pod_target (HVM containers) */
    uint64_t vm_memory_mib;     /* /vm/<uuid>/memory */
};
int dmp_balloon_plan(uint64_t memkb, uint64_t videoram_kib, uint64_t static_max_kib,
                     struct dmp_balloon_plan *p);

#endif
