/* What the balancer remembers about each guest across a daemon restart (dmpd keeps it in
 * <state dir>/balloon-state.txt): the policy's track, so a stuck balloon stays known, and the
 * sampling estimator's smoothed series and last estimate, so estimates do not restart from
 * nothing. The text format is versioned by its first line; unknown keys are ignored so that an
 * older dmpd reads a newer file. */
#ifndef DMP_BALLOON_STATE_H
#define DMP_BALLOON_STATE_H

#include <stdbool.h>
#include <stdio.h>

#include "dmpballoon/balloon_policy.h"

#define DMP_BALLOON_STATE_HEADER "dmp-balloon-state 1"

struct dmp_balloon_saved {
    uint32_t domid;
    char name[DMP_NAME_MAX];
    struct dmp_guest_track track;
    /* The smoothed series and primed flag; the half-lives come from the configuration. */
    struct dmp_wss_smoother smooth;
    struct dmp_wss_estimate est;
};

/* One "guest k=v ..." line, newline included. */
void dmp_balloon_state_write(FILE *f, const struct dmp_balloon_saved *g);

/* True if line (without its newline) is the header this version reads. */
bool dmp_balloon_state_header_ok(const char *line);

/* Parse one "guest k=v ..." line (without its newline; tokenised in place) into *out, zeroed
 * first. Unknown keys are ignored. Returns 0, or -EINVAL for a malformed line (a token without
 * '=', a bad number, no name, a domid or state out of range). */
int dmp_balloon_state_parse(char *line, struct dmp_balloon_saved *out);

#endif
