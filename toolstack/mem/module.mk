# libdmpmem: the Xen side of memory balancing: balloon targets and actual allocations through
# xenstore, and the hypervisor's access sampling (XEN_DOMCTL_dmp_wss) behind the estimators.
DMP_LIBS      += dmpmem
dmpmem_DIR    := toolstack/mem
dmpmem_USES   := dmpxen dmpcommon
dmpmem_CSTD   := -std=gnu11 -D_GNU_SOURCE
