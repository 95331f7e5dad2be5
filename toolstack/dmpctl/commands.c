/* The dmpctl command table. A command family adds its declaration and one line here. */
#include <stddef.h>

#include "dmpcli/cli.h"

int cmd_list(int argc, char **argv);
int cmd_mem_set(int argc, char **argv);
int cmd_mem_info(int argc, char **argv);
int cmd_balance(int argc, char **argv);
int cmd_mem_sample(int argc, char **argv);
int cmd_dmp(int argc, char **argv);
int cmd_segment(int argc, char **argv);

const struct dmpctl_cmd dmpctl_commands[] = {
    { "list", "[--json]", "list domains and their paging mode", cmd_list },
    { "dmp", "<subcommand> <dom> [options]", "live kernel analysis and patching (dmp help)", cmd_dmp },
    { "mem-set", "<dom> <size> [--wait S]", "set a guest's memory target like xl mem-set", cmd_mem_set },
    { "mem-info", "[<dom>] [--json]", "target, actual, working set, floor and ceiling", cmd_mem_info },
    { "mem-sample", "<dom> [--pages N] [--rounds K]", "measure a guest's working set by sampling", cmd_mem_sample },
    { "balance", "status|metrics [--json|--prom]", "the memory balancer in dmpd", cmd_balance },
    { "segment", "<verb> ... [--json]", "named memory segments for guests (segment help)", cmd_segment },
    { NULL, NULL, NULL, NULL },
};
