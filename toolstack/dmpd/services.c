/* The services compiled into dmpd. A service adds its declaration and one line here. */
#include <stddef.h>

#include "dmp/dmpd.h"

const struct dmpd_service *const dmpd_services[] = {
    NULL,
};
