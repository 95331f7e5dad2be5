#include "dmpcli/cli.h"

#include <stdarg.h>
#include <string.h>

int dmp_cli_error(int code, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "dmpctl %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

bool dmp_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    }
    return false;
}
