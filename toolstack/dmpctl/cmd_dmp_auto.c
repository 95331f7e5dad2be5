/* dmpctl dmp auto status [--json]: what dmpd's automatic DMP service (svc_dmp.c) knows about
 * each domain. A request to the daemon; this process touches no guest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_dmp.h"
#include "dmpcli/cli.h"
#include "dmpcli/dmpd.h"

#define AUTO_TIMEOUT_MS 10000

static void auto_usage(FILE *f)
{
    fprintf(f,
            "usage: dmpctl dmp auto status [--json]\n"
            "Show dmpd's automatic DMP state: the policy ([dmp] section of dmpd's configuration),\n"
            "the operation running now, and per domain its kind (shadow/hap/pv), phase\n"
            "(watching, profiling, patch-due, patching, patched, gave-up, ignored), last rate of\n"
            "page-table exits per second, windows above the threshold, failures and back-off.\n"
            "Asks the daemon at $DMPD_SOCKET (default " DMPD_DEFAULT_SOCKET ").\n"
            "Exit status: 0 ok, 1 dmpd not reachable, 2 usage.\n");
}

int dmp_cmd_auto(int argc, char **argv)
{
    const char *cmd = "dmp auto";
    if (dmp_cli_wants_help(argc, argv)) {
        auto_usage(stdout);
        return DMP_EXIT_OK;
    }
    if (argc < 2) {
        auto_usage(stderr);
        return DMP_EXIT_USAGE;
    }
    if (strcmp(argv[1], "status") != 0)
        return dmp_cli_error(DMP_EXIT_USAGE, cmd, "unknown verb '%s' (try --help)", argv[1]);
    bool json = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else
            return dmp_cli_error(DMP_EXIT_USAGE, cmd, "unexpected argument '%s'", argv[i]);
    }
    const char *sock = dmpd_socket_path();
    char err[256], *body = NULL;
    int code = dmpd_call(sock, json ? "dmp status --json\n" : "dmp status\n", &body,
                         AUTO_TIMEOUT_MS, err, sizeof(err));
    if (code < 0)
        return dmp_cli_error(DMP_EXIT_FAIL, cmd, "dmpd not reachable at %s: %s", sock, err);
    fputs(body ? body : "", code == DMP_EXIT_OK ? stdout : stderr);
    free(body);
    return code;
}
