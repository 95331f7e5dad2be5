#include "wss_schedule.h"

#include "dmpcommon/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int wss_schedule_parse(const char *s, struct wss_schedule *out, char *err, size_t errlen)
{
    out->n = 0;
    const char *p = s;
    if (!*p) {
        snprintf(err, errlen, "empty schedule");
        return -1;
    }
    for (;;) {
        size_t len = strcspn(p, ",");
        char step[64];
        if (len == 0 || len >= sizeof step) {
            snprintf(err, errlen, "step %zu: expected SIZE:DURATION, got \"%.*s\"",
                     out->n + 1, (int)(len < 40 ? len : 40), p);
            return -1;
        }
        memcpy(step, p, len);
        step[len] = '\0';
        char *colon = strchr(step, ':');
        if (!colon) {
            snprintf(err, errlen, "step %zu \"%s\": expected SIZE:DURATION (e.g. 32m:20s)",
                     out->n + 1, step);
            return -1;
        }
        *colon = '\0';
        if (out->n == WSS_MAX_STEPS) {
            snprintf(err, errlen, "more than %d steps", WSS_MAX_STEPS);
            return -1;
        }
        struct wss_step *st = &out->steps[out->n];
        if (dmp_parse_size(step, 1ull << 20, &st->bytes) != 0) {
            snprintf(err, errlen, "step %zu: bad size \"%s\" (e.g. 512k, 32m, 1g)", out->n + 1, step);
            return -1;
        }
        if (dmp_parse_duration_ms(colon + 1, &st->ms) != 0 || st->ms == 0) {
            snprintf(err, errlen, "step %zu: bad duration \"%s\" (e.g. 500ms, 20s, 2m; > 0)",
                     out->n + 1, colon + 1);
            return -1;
        }
        out->n++;
        p += len;
        if (!*p)
            return 0;
        p++;                    /* skip ',' */
    }
}

uint64_t wss_schedule_total_ms(const struct wss_schedule *s)
{
    uint64_t t = 0;
    for (size_t i = 0; i < s->n; i++)
        t += s->steps[i].ms;
    return t;
}
