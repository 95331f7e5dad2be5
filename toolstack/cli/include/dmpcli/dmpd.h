/* dmpd: the dom0 daemon. It hosts services (the memory balancer, the segment registry,
 * automatic DMP) that run periodic ticks and answer requests on a local control socket.
 *
 * Control protocol (unix stream socket, one request per connection):
 *   request: one line "<service> <verb> [arg ...]\n" (args are single words; at most 4 KiB)
 *   reply:   first line "<exit code>\n" (the DMP_EXIT_* values), then the body (JSON for
 *            requests that carry --json, text otherwise), then the server closes.
 */
#ifndef DMP_DMPD_H
#define DMP_DMPD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct dmpd;
struct xs_handle;
struct xc_interface_core;

struct dmpd_service {
    const char *name;
    unsigned int interval_ms;   /* period of tick(); 0 for none */
    /* Load configuration and persistent state; a failure stops the daemon with err shown. */
    int (*init)(struct dmpd *d, void **state, char *err, size_t errlen);
    /* now_ms: the monotonic clock of ticks and deadlines, dmp_mono_ms() (dmpcommon/clock.h). */
    void (*tick)(struct dmpd *d, void *state, uint64_t now_ms);
    /* argv[0] is the verb. Write the reply body to out; return a DMP_EXIT_* code. */
    int (*request)(struct dmpd *d, void *state, int argc, char **argv, FILE *out);
    void (*fini)(struct dmpd *d, void *state);
};

/* The services compiled in (toolstack/dmpd/services.c), NULL-terminated. */
extern const struct dmpd_service *const dmpd_services[];

const char *dmpd_state_dir(const struct dmpd *d);     /* persistent state lives here */
const char *dmpd_config_path(const struct dmpd *d);
struct xs_handle *dmpd_xs(struct dmpd *d);            /* NULL when run without Xen (tests) */
struct xc_interface_core *dmpd_xch(struct dmpd *d);

/* Structured log line (one JSON object per line on stderr, plus the log file if any):
 * {"t":<ms>,"service":"...","event":"...","msg":"..."}. */
void dmpd_log(struct dmpd *d, const char *service, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Client side: send one request line to the daemon at sock_path and collect the reply.
 * Returns the daemon's exit code (>= 0) with *body malloc'd, or a negative errno with err
 * filled in when the daemon cannot be reached or answers garbage (-ECONNREFUSED, -ENOENT: no
 * daemon; -ETIMEDOUT: no whole reply within timeout_ms, which bounds the whole exchange;
 * -EPROTO: a malformed reply). */
int dmpd_call(const char *sock_path, const char *request, char **body, int timeout_ms,
              char *err, size_t errlen);

#define DMPD_DEFAULT_SOCKET "/run/dmp/dmpd.sock"
/* The socket commands talk to: $DMPD_SOCKET if set and not empty, else the default. */
const char *dmpd_socket_path(void);
#define DMPD_DEFAULT_STATE_DIR "/var/lib/dmp"
#define DMPD_DEFAULT_CONFIG "/etc/dmp/dmpd.conf"

#endif
