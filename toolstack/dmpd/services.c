/* The services compiled into dmpd. A service adds its declaration and one line here. */
#include <stddef.h>

#include "dmpcli/dmpd.h"

extern const struct dmpd_service dmpd_service_balloon;
extern const struct dmpd_service dmpd_service_segment;
extern const struct dmpd_service dmpd_service_dmp;

const struct dmpd_service *const dmpd_services[] = {
    &dmpd_service_balloon,
    &dmpd_service_segment,
    &dmpd_service_dmp,
    NULL,
};
