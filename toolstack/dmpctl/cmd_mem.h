/* Shared by the memory commands (cmd_mem.c, cmd_mem_sample.c). */
#ifndef DMPCTL_CMD_MEM_H
#define DMPCTL_CMD_MEM_H

#include <xenctrl.h>
#include <xenstore.h>

/* Open xenstore and libxenctrl for command cmd; on failure both are closed and the dmpctl
 * exit code is returned after printing "dmpctl <cmd>: cannot reach Xen ...". */
int dmpctl_open_xen(const char *cmd, struct xs_handle **xs, xc_interface **xch);

#endif
