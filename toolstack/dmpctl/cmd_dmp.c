/* dmpctl dmp <subcommand>: the DMP command family. Each subcommand lives in its own file
 * cmd_dmp_<sub>.c, is declared in cmd_dmp.h and adds one row to the table below. */
#include <stdio.h>
#include <string.h>

#include "cmd_dmp.h"
#include "dmpcli/cli.h"

int cmd_dmp(int argc, char **argv);

static const struct dmp_subcmd dmp_subcmds[] = {
    { "analyze", "<dom> [--json]",
      "find the running kernel, its symbols, KASLR slide and page-table sites", dmp_cmd_analyze },
    { "profile", "<dom> [--seconds N]",
      "count page-table exits per guest instruction (shadow paging)", dmp_cmd_profile },
    { "patch", "<dom> [--sites all-mmu|hot]",
      "live-patch the guest kernel's MMU sites (passthrough mode), with a journal", dmp_cmd_patch },
    { "status", "<dom> [--json]", "is the guest live-patched: sites, mode, stub area, journal",
      dmp_cmd_status },
    { "unpatch", "<dom>", "restore the original kernel bytes from the journal", dmp_cmd_unpatch },
    { "auto", "status [--json]", "automatic DMP in dmpd: each domain's profile/patch state",
      dmp_cmd_auto },
    { "fastpath", "<dom> on|off|stats", "the hypervisor fast path for patched page-table stores",
      dmp_cmd_fastpath },
};

void dmp_cmd_note(void *cmd, const char *msg)
{
    fprintf(stderr, "dmpctl %s: %s\n", (const char *)cmd, msg);
}

int dmp_cmd_failed(const char *cmd, enum dmp_outcome oc, const char *err)
{
    return dmp_cli_error(dmp_outcome_exit(oc), cmd, "%s", err);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: dmpctl dmp <subcommand> <dom> [options]\n\nsubcommands:\n");
    for (size_t i = 0; i < sizeof(dmp_subcmds) / sizeof(dmp_subcmds[0]); i++)
        fprintf(f, "  %-9s %-24s %s\n", dmp_subcmds[i].name, dmp_subcmds[i].args,
                dmp_subcmds[i].summary);
    fprintf(f, "\nRun 'dmpctl dmp <subcommand> --help' for details.\n");
}

int cmd_dmp(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return DMP_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return DMP_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(dmp_subcmds) / sizeof(dmp_subcmds[0]); i++)
        if (strcmp(dmp_subcmds[i].name, argv[1]) == 0)
            return dmp_subcmds[i].run(argc - 1, argv + 1);
    dmp_cli_error(DMP_EXIT_USAGE, "dmp", "unknown subcommand '%s'", argv[1]);
    usage(stderr);
    return DMP_EXIT_USAGE;
}
