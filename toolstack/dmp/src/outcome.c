/* Outcomes of DMP operations as dmpctl exit statuses (dmp/outcome.h). */
#include "dmp/outcome.h"

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
