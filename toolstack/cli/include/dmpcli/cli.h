/* Conventions shared by the dmpctl subcommands, so that every command behaves alike:
 * exit codes, --help, --json, and errors that name the bad input. */
#ifndef DMP_CLI_H
#define DMP_CLI_H

#include <stdbool.h>
#include <stdio.h>

enum dmp_exit {
    DMP_EXIT_OK = 0,
    DMP_EXIT_FAIL = 1,        /* the operation failed or was refused */
    DMP_EXIT_USAGE = 2,       /* bad command line or bad input */
    DMP_EXIT_NOTHING = 3,     /* valid request, nothing to do (e.g. patching a HAP guest) */
};

/* One dmpctl command family ("mem-set", "segment", "dmp", ...). argv[0] is its name. */
struct dmpctl_cmd {
    const char *name;
    const char *args;          /* one-line synopsis of the arguments */
    const char *summary;
    int (*run)(int argc, char **argv);
};

/* The table lives in toolstack/dmpctl/commands.c; a command family adds one line there. */
extern const struct dmpctl_cmd dmpctl_commands[];

/* Print "dmpctl <cmd>: <message>" to stderr; returns DMP_EXIT_USAGE or the given code. */
int dmp_cli_error(int code, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True if argv contains --help or -h (before a "--"). */
bool dmp_cli_wants_help(int argc, char **argv);

#endif
