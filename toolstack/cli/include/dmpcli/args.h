/* Table-driven option parsing for the commands that take "<dom> [options]": each option is
 * one row (its name, what it takes, where it goes in the command's options struct), so a
 * command declares its options instead of comparing strings. Behaviour, shared by every
 * table: --help/-h anywhere prints the usage on stdout; an option that takes a value but
 * comes last, an unknown option or a second domain prints the usage on stderr and
 * "unexpected argument 'X'"; a value not among an option's choices says "--opt takes A or B,
 * not 'X'"; no domain prints the usage and "missing domain name or id". */
#ifndef DMP_CLI_ARGS_H
#define DMP_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum dmp_cli_arg_kind {
    DMP_CLI_FLAG,      /* sets a bool */
    DMP_CLI_STRING,    /* stores the next argument (const char *) */
    DMP_CLI_CHOICE,    /* stores the index of the next argument in choices (int) */
};

struct dmp_cli_arg {
    const char *name;                /* "--mode" */
    enum dmp_cli_arg_kind kind;
    size_t offset;                   /* of the field in the command's options struct */
    const char *const *choices;      /* DMP_CLI_CHOICE: names, NULL-terminated */
    const char *choices_text;        /* for the message: "'all-mmu' or 'hot'" */
    bool sticky;                     /* DMP_CLI_CHOICE: a later lower index does not replace a
                                        higher one (--sites hot stays hot) */
};

struct dmp_cli_args {
    const char *cmd;                 /* "dmp patch": messages say "dmpctl dmp patch: ..." */
    void (*usage)(FILE *f);
    const struct dmp_cli_arg *args;
    size_t nargs;
    size_t domain_offset;            /* the positional domain (const char *) */
};

/* Parse argv (argv[0] is the subcommand) into opts, which the caller has initialised with its
 * defaults. Returns true when the command should go on; false when it is done, with *exit the
 * status (0 after --help, 2 after a usage error, whose message is printed). */
bool dmp_cli_parse(const struct dmp_cli_args *a, int argc, char **argv, void *opts, int *exit);

#endif
