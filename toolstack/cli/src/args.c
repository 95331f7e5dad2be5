/* Table-driven option parsing (dmpcli/args.h). */
#include "dmpcli/args.h"

#include <string.h>

#include "dmpcli/cli.h"

static const struct dmp_cli_arg *lookup(const struct dmp_cli_args *a, const char *name)
{
    for (size_t i = 0; i < a->nargs; i++)
        if (strcmp(a->args[i].name, name) == 0)
            return &a->args[i];
    return NULL;
}

/* Index of value among the choices, or -1. */
static int choice(const struct dmp_cli_arg *o, const char *value)
{
    for (int i = 0; o->choices[i]; i++)
        if (strcmp(o->choices[i], value) == 0)
            return i;
    return -1;
}

static bool usage_error(const struct dmp_cli_args *a, int *exit, const char *what, const char *arg)
{
    a->usage(stderr);
    *exit = arg ? dmp_cli_error(DMP_EXIT_USAGE, a->cmd, "%s '%s'", what, arg)
                : dmp_cli_error(DMP_EXIT_USAGE, a->cmd, "%s", what);
    return false;
}

bool dmp_cli_parse(const struct dmp_cli_args *a, int argc, char **argv, void *opts, int *exit)
{
    char *base = opts;
    const char **dom = (const char **)(void *)(base + a->domain_offset);
    *exit = DMP_EXIT_OK;
    if (dmp_cli_wants_help(argc, argv)) {
        a->usage(stdout);
        return false;
    }
    for (int i = 1; i < argc; i++) {
        const struct dmp_cli_arg *o = lookup(a, argv[i]);
        /* An option that takes a value but comes last is just an unexpected argument. */
        if (o && o->kind != DMP_CLI_FLAG && i + 1 >= argc)
            o = NULL;
        if (!o) {
            if (argv[i][0] == '-' || *dom)
                return usage_error(a, exit, "unexpected argument", argv[i]);
            *dom = argv[i];
            continue;
        }
        void *field = base + o->offset;
        if (o->kind == DMP_CLI_FLAG) {
            *(bool *)field = true;
        } else if (o->kind == DMP_CLI_STRING) {
            *(const char **)field = argv[++i];
        } else {
            int c = choice(o, argv[++i]);
            if (c < 0) {
                *exit = dmp_cli_error(DMP_EXIT_USAGE, a->cmd, "%s takes %s, not '%s'", o->name,
                                      o->choices_text, argv[i]);
                return false;
            }
            if (!o->sticky || c > *(int *)field)
                *(int *)field = c;
        }
    }
    if (!*dom)
        return usage_error(a, exit, "missing domain name or id", NULL);
    return true;
}
