/* The balancer's per-guest state file lines (balloon_state.h). */
#include "dmpballoon/balloon_state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void dmp_balloon_state_write(FILE *f, const struct dmp_balloon_saved *g)
{
    const struct dmp_guest_track *t = &g->track;
    const struct dmp_wss_smoother *sm = &g->smooth;
    const struct dmp_wss_estimate *e = &g->est;
    /* %a: the doubles come back bit for bit. */
    fprintf(f,
            "guest domid=%u name=%s state=%d changed_once=%d last_change_ms=%" PRIu64
            " pushing=%d push_start_ms=%" PRIu64 " push_from_kib=%" PRIu64
            " push_to_kib=%" PRIu64 " retry_at_ms=%" PRIu64 " stuck_count=%u ever_moved=%d"
            " seen_report=%d last_swap_in=%" PRIu64 " last_oom=%" PRIu64
            " primed=%d lv=%a ll=%a lu=%a fv=%a fl=%a fu=%a sv=%a sl=%a su=%a"
            " e_valid=%d e_bytes=%" PRIu64 " e_lower=%" PRIu64 " e_upper=%" PRIu64
            " e_samples=%" PRIu64 " e_intervals=%u e_time=%" PRIu64 " e_sat=%d retrying=%d\n",
            g->domid, g->name, (int)t->state, t->changed_once, t->last_change_ms,
            t->pushing, t->push_start_ms, t->push_from_kib, t->push_to_kib, t->retry_at_ms,
            t->stuck_count, t->ever_moved, t->seen_report, t->last_swap_in, t->last_oom,
            sm->primed, sm->latest.value, sm->latest.lower, sm->latest.upper, sm->fast.value,
            sm->fast.lower, sm->fast.upper, sm->slow.value, sm->slow.lower, sm->slow.upper,
            e->valid, e->bytes, e->lower, e->upper, e->samples, e->intervals, e->time_ms,
            e->saturated, t->retrying);
}

bool dmp_balloon_state_header_ok(const char *line)
{
    return strcmp(line, DMP_BALLOON_STATE_HEADER) == 0;
}

/* "lv", "fu", ...: a bound of one of the three smoothed series. */
static double *series_field(struct dmp_wss_smoother *sm, const char *k)
{
    struct dmp_wss_series *ser = k[0] == 'l' ? &sm->latest : k[0] == 'f' ? &sm->fast
                               : k[0] == 's' ? &sm->slow : NULL;
    if (!ser)
        return NULL;
    return k[1] == 'v' ? &ser->value : k[1] == 'l' ? &ser->lower : &ser->upper;
}

int dmp_balloon_state_parse(char *line, struct dmp_balloon_saved *out)
{
    uint64_t domid = UINT64_MAX;
    char *save = NULL;
    struct dmp_guest_track t = { 0 };
    struct dmp_wss_smoother sm = { 0 };
    struct dmp_wss_estimate e = { 0 };
    memset(out, 0, sizeof(*out));
    strtok_r(line, " \n", &save);   /* "guest" */
    for (char *tok = strtok_r(NULL, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            return -EINVAL;
        *eq++ = '\0';
        if (strcmp(tok, "name") == 0) {
            snprintf(out->name, sizeof(out->name), "%s", eq);
            continue;
        }
        char *end;
        errno = 0;
        if ((tok[1] == 'v' || tok[1] == 'l' || tok[1] == 'u') && strlen(tok) == 2) {
            double v = strtod(eq, &end);
            double *dst = series_field(&sm, tok);
            if (*end || errno || !dst)
                return -EINVAL;
            *dst = v;
            continue;
        }
        uint64_t v = strtoull(eq, &end, 10);
        if (*end || errno || end == eq)
            return -EINVAL;
#define K(n, dst) else if (strcmp(tok, n) == 0) dst = v
        if (0) {}
        K("domid", domid);
        K("state", t.state);
        K("changed_once", t.changed_once);
        K("last_change_ms", t.last_change_ms);
        K("pushing", t.pushing);
        K("push_start_ms", t.push_start_ms);
        K("push_from_kib", t.push_from_kib);
        K("push_to_kib", t.push_to_kib);
        K("retry_at_ms", t.retry_at_ms);
        K("stuck_count", t.stuck_count);
        K("retrying", t.retrying);
        K("ever_moved", t.ever_moved);
        K("seen_report", t.seen_report);
        K("last_swap_in", t.last_swap_in);
        K("last_oom", t.last_oom);
        K("primed", sm.primed);
        K("e_valid", e.valid);
        K("e_bytes", e.bytes);
        K("e_lower", e.lower);
        K("e_upper", e.upper);
        K("e_samples", e.samples);
        K("e_intervals", e.intervals);
        K("e_time", e.time_ms);
        K("e_sat", e.saturated);
#undef K
    }
    if (domid >= 0x7ff0 || !out->name[0] || t.state > DMP_GUEST_NO_BALLOON)
        return -EINVAL;
    out->domid = (uint32_t)domid;
    t.domid = out->domid;
    out->track = t;
    out->smooth = sm;
    out->est = e;
    return 0;
}
