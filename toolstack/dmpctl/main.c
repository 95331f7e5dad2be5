/* dmpctl: the administrator's command for the DMP toolkit, in the style of xl:
 *   dmpctl <command> [<domain>] [options]
 * Each command family is a file of its own, registered in commands.c. */
#include <stdio.h>
#include <string.h>

#include "dmpcli/cli.h"

#define DMPCTL_VERSION "0.1"

static void usage(FILE *f)
{
    fprintf(f, "usage: dmpctl <command> [args] [--json] [--help]\n\ncommands:\n");
    for (const struct dmpctl_cmd *c = dmpctl_commands; c->name; c++)
        fprintf(f, "  %-10s %-34s %s\n", c->name, c->args, c->summary);
    fprintf(f, "\nDomains are given by name or id; sizes take k/m/g suffixes (default MiB).\n"
               "Exit status: 0 ok, 1 failed or refused, 2 bad usage or input, 3 nothing to do.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? DMP_EXIT_USAGE : DMP_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("dmpctl %s\n", DMPCTL_VERSION);
        return DMP_EXIT_OK;
    }
    for (const struct dmpctl_cmd *c = dmpctl_commands; c->name; c++)
        if (strcmp(c->name, argv[1]) == 0)
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "dmpctl: unknown command '%s' (try 'dmpctl help')\n", argv[1]);
    return DMP_EXIT_USAGE;
}
