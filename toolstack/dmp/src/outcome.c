/* Outcomes of DMP operations as dmpctl exit statuses, and their notes (dmp/outcome.h). */
#include "dmp/outcome.h"

#include <stdarg.h>
#include <stdio.h>

#include "dmpcli/cli.h"

int dmp_outcome_exit(enum dmp_outcome o)
{
    switch (o) {
    case DMP_DONE: return DMP_EXIT_OK;
    case DMP_BAD_INPUT: return DMP_EXIT_USAGE;
    case DMP_NOTHING_TO_DO: return DMP_EXIT_NOTHING;
    case DMP_FAILED: break;
    }
    return DMP_EXIT_FAIL;
}

void dmp_notef(dmp_note_fn fn, void *ctx, const char *fmt, ...)
{
    if (!fn)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fn(ctx, msg);
}
