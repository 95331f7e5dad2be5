/* The dmpctl command table. A command family adds its declaration and one line here. */
#include <stddef.h>

#include "dmp/cli.h"

int cmd_list(int argc, char **argv);

const struct dmpctl_cmd dmpctl_commands[] = {
    { "list", "[--json]", "list domains and their paging mode", cmd_list },
    { NULL, NULL, NULL, NULL },
};
