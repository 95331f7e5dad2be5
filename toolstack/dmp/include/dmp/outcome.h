/* How a DMP operation (patch, status, unpatch, profile) ended, beyond its return value (0 or a
 * negative errno with a message): what a command's exit status and dmpd's policy make of it.
 * Shared by every operation of the library so that dmpctl and dmpd read them alike. */
#ifndef DMP_OUTCOME_H
#define DMP_OUTCOME_H

enum dmp_outcome {
    DMP_DONE = 0,          /* it did what was asked, or found it done already */
    DMP_FAILED,            /* refused or failed; the message says in what state it left things */
    DMP_BAD_INPUT,         /* the request names a domain or a file that is not there or not usable */
    DMP_NOTHING_TO_DO,     /* a valid request with nothing to do (a HAP guest, nothing patched) */
};

/* The dmpctl exit status of an outcome (DMP_EXIT_* of dmpcli/cli.h). */
int dmp_outcome_exit(enum dmp_outcome o);

/* Remarks an operation makes on the way that do not change its outcome ("stale journal
 * removed", "cannot save the plan cache"); dmpctl prints them on stderr after its name.
 * NULL: not reported. */
typedef void (*dmp_note_fn)(void *ctx, const char *msg);
/* Format a note and hand it to fn (nothing when fn is NULL). */
void dmp_notef(dmp_note_fn fn, void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
