/* The segment service's parts (svc_segment*.c), one job per file:
 *   svc_segment.c         the requests, the listing, the periodic tick, the service interface
 *   svc_segment_xenbus.c  the xenbus device a guest's dmpseg driver connects to (xenstore)
 *   svc_segment_backing.c the memory behind a segment, its grants (dmpsegback), the registry
 *                         and saved contents in the state directory
 * Internal to dmpd. */
#ifndef DMPD_SVC_SEGMENT_H
#define DMPD_SVC_SEGMENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <xenstore.h>

#include "dmpcli/dmpd.h"
#include "dmpseg/segment.h"
#include "dmpxen/domain.h"

#define SVC "segment"
#define MAX_ATTACH 16
#define MAX_WAIT_MS 60000
#define POLL_MS 50
#define NUDGE_MS 2000
#define REGISTRY_FILE "registry"

/* xenbus states (xen/io/xenbus.h) */
enum { XB_UNKNOWN = 0, XB_INITIALISING = 1, XB_INITWAIT = 2, XB_CONNECTED = 4, XB_CLOSING = 5, XB_CLOSED = 6 };

enum att_state { ATT_WAITING, ATT_CONNECTED, ATT_LEAKED };

struct attachment {
    uint32_t domid;
    char domname[DMP_DOMAIN_NAME_MAX];
    bool ro;
    unsigned int devid;
    uint32_t grant_id;
    enum att_state state;
    uint64_t next_nudge_ms;   /* detach pending: when to repeat the Closing request */
};

struct segment {
    struct dmp_seg_def def;
    uint8_t *initial;       /* replaced contents of a transient segment (NULL = zero) */
    int memfd;              /* live memory while attached, else -1 */
    uint8_t *mem;
    struct attachment att[MAX_ATTACH];
    int natt;
};

struct segsvc {
    struct dmpd *d;
    char dir[512];
    int backfd;             /* /dev/dmpsegback, opened on first attach */
    struct segment seg[DMP_SEG_MAX_SEGMENTS];
    int nseg;
};

/* ---- svc_segment_xenbus.c ---- */

/* xenstore paths of an attachment's backend (dom0's area) and frontend (the guest's);
 * key NULL for the device's directory. */
void seg_be_path(const struct attachment *a, const char *key, char *buf, size_t len);
void seg_fe_path(const struct attachment *a, const char *key, char *buf, size_t len);
int seg_xs_printf(struct xs_handle *xs, xs_transaction_t t, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* State of a xenbus node: XB_UNKNOWN if absent. */
int seg_xb_state(struct xs_handle *xs, const char *path);
bool seg_domain_exists(struct xs_handle *xs, uint32_t domid);
/* Lowest device number not present in the guest's device/dmpseg directory. */
unsigned int seg_pick_devid(struct xs_handle *xs, uint32_t domid, const struct segsvc *s);
/* Publish the device (both halves, in one transaction): 0 or a negative errno. */
int seg_publish(struct xs_handle *xs, const struct segment *g, const struct attachment *a,
                const uint32_t *dir_refs, unsigned int nr_dir);
void seg_unpublish(struct xs_handle *xs, const struct attachment *a);
/* Wait up to wait_ms for the frontend to reach want (or to give up on it); its last state. */
int seg_wait_frontend(struct xs_handle *xs, const struct attachment *a, int want, int wait_ms);

/* ---- svc_segment_backing.c ---- */

struct segment *seg_find(struct segsvc *s, const char *name);
int seg_find_att(const struct segment *g, uint32_t domid);
/* Where a persistent segment's saved contents live. */
void seg_img_path(const struct segsvc *s, const char *name, char *buf, size_t len);
/* Write the registry: 0, or a negative errno with the reason also printed to out (if any). */
int seg_save_registry(struct segsvc *s, FILE *out);
/* Load the registry at start: 0 (also when there is none yet), or a negative errno with err. */
int seg_load_registry(struct segsvc *s, char *err, size_t errlen);
/* The segment's live memory, with its initial contents; 0 or -1 with the reason on out. */
int seg_mem_open(struct segsvc *s, struct segment *g, FILE *out);
void seg_mem_close(struct segment *g);
/* /dev/dmpsegback, opened once; -1 with the reason on out. */
int seg_backend_fd(struct segsvc *s, FILE *out);
/* End the grants of an attachment; returns how many are still mapped by the guest. */
int seg_grants_end(struct segsvc *s, struct attachment *a);
void seg_drop_attachment(struct segment *g, int idx);

#endif
