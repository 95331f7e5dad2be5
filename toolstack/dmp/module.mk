# libdmp: dynamic memory paravirtualization on a running guest: the live-patch procedure
# (patch, status, unpatch) and its journal, the stubs' modes (passthrough, fast path, log), the
# hypervisor's trap profiler and a profiling window, the JSON reports of these operations, the
# worker process dmpd runs them in, and the automatic policy. It uses dmpcli for the exit
# statuses its outcomes map to. profop_hostile is a lab tool, not a unit test.
DMP_LIBS      += dmp
dmp_DIR       := toolstack/dmp
dmp_USES      := dmpintrospect dmpxen dmppatcher dmpcli dmpcommon
dmp_CSTD      := -std=gnu11 -D_GNU_SOURCE

DMP_PROGS                += dmp-profop-hostile
dmp-profop-hostile_SRCS  := toolstack/dmp/tests/profop_hostile.c
dmp-profop-hostile_BIN   := $(OUT)/bin/dmp-profop-hostile
dmp-profop-hostile_USES  := dmp
dmp-profop-hostile_CSTD  := -std=gnu11 -D_GNU_SOURCE
BINS += $(dmp-profop-hostile_BIN)
