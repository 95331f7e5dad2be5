/* The "dmp" command family: subcommands share this table (cmd_dmp.c); each subcommand lives
 * in its own file cmd_dmp_<sub>.c and adds one declaration here and one row there. */
#ifndef DMPCTL_CMD_DMP_H
#define DMPCTL_CMD_DMP_H

#include "dmp/outcome.h"

struct dmp_subcmd {
    const char *name;
    const char *args;
    const char *summary;
    int (*run)(int argc, char **argv);   /* argv[0] is the subcommand name */
};

/* What the dmp subcommands share (cmd_dmp.c): a library note printed as
 * "dmpctl <cmd>: <msg>" (cmd is the note context), and a failed operation's message with the
 * exit status of its outcome (dmp/outcome.h). */
void dmp_cmd_note(void *cmd, const char *msg);
int dmp_cmd_failed(const char *cmd, enum dmp_outcome oc, const char *err);

int dmp_cmd_analyze(int argc, char **argv);
int dmp_cmd_profile(int argc, char **argv);
int dmp_cmd_patch(int argc, char **argv);
int dmp_cmd_status(int argc, char **argv);
int dmp_cmd_unpatch(int argc, char **argv);
int dmp_cmd_auto(int argc, char **argv);
int dmp_cmd_fastpath(int argc, char **argv);

#endif
