# toolstack: the dom0 side. One folder per library, each with its own header namespace
# (include/<library>/), plus the two commands:
#   xen/        libdmpxen        thin Xen access: domains by name, perf counters, build identity,
#                                our patches' ABI (abi.h) and the domctl helper
#   cli/        libdmpcli        command conventions (exit codes, errors, option parsing) and
#                                dmpd's control protocol
#   introspect/ libdmpintrospect live guest access: vCPUs, page-table walks, kernel and KASLR
#   dmp/        libdmp           DMP: live patching, fast path and log mode, trap profiler, auto policy
#   mem/        libdmpmem        memory balancing against Xen: balloon targets, access sampling
#   segment/    libdmpseg        named memory segments: names, sizes, the registry file
#   dmpctl/, dmpd/               the administrator's command and the daemon
# Xen's public headers use anonymous unions, a GNU extension: gnu11 for code that includes them.
XEN_SYS := -lxenctrl -lxenstore -lxenforeignmemory -lxencall -lxentoolcore

# dmpctl: xl-style administrator command. Command families live in toolstack/dmpctl/cmd_*.c
# and register in toolstack/dmpctl/commands.c.
DMP_PROGS    += dmpctl
dmpctl_SRCS  := $(wildcard toolstack/dmpctl/*.c)
dmpctl_BIN   := $(OUT)/bin/dmpctl
dmpctl_USES  := dmpcli dmpxen dmpintrospect dmp dmpmem dmpseg dmpballoon
dmpctl_CSTD  := -std=gnu11 -D_GNU_SOURCE
BINS += $(dmpctl_BIN)

# dmpd: the dom0 daemon. Services live in toolstack/dmpd/svc_*.c and register in services.c;
# the segment service talks to the dom0 module dmpsegback through its ioctl ABI.
DMP_PROGS    += dmpd
dmpd_SRCS    := $(wildcard toolstack/dmpd/*.c)
dmpd_BIN     := $(OUT)/bin/dmpd
dmpd_USES    := dmpcli dmpxen dmp dmpmem dmpseg dmpballoon
dmpd_INC     := guest-kernel/include
dmpd_CSTD    := -std=gnu11 -D_GNU_SOURCE
BINS += $(dmpd_BIN)
