# libdmpxen: the thin base every Xen-facing library stands on: domains by name or id, the
# hypervisor's perf counters, whether the running hypervisor is our build, the ABI of our
# patches (dmpxen/abi.h, layout-checked) and the one helper that issues our domctls.
DMP_LIBS      += dmpxen
dmpxen_DIR    := toolstack/xen
dmpxen_USES   := dmpcommon
dmpxen_SYS    := $(XEN_SYS)
dmpxen_CSTD   := -std=gnu11 -D_GNU_SOURCE
