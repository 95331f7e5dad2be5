# libdmpxen: the thin base every Xen-facing library stands on: domains by name or id, the
# hypervisor's perf counters, and whether the running hypervisor is our build.
DMP_LIBS      += dmpxen
dmpxen_DIR    := toolstack/xen
dmpxen_USES   := dmpcommon
dmpxen_SYS    := $(XEN_SYS)
dmpxen_CSTD   := -std=gnu11 -D_GNU_SOURCE
