# libdmpintrospect: a running guest seen from dom0: vCPU registers, guest page-table walks,
# virtual-memory reads and writes, the kernel image and its KASLR slide, and dmp-patcher's
# code view over live memory.
DMP_LIBS             += dmpintrospect
dmpintrospect_DIR    := toolstack/introspect
dmpintrospect_USES   := dmpxen dmppatcher dmpcommon
dmpintrospect_CSTD   := -std=gnu11 -D_GNU_SOURCE
