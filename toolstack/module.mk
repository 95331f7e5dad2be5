# toolstack: dom0 libraries that talk to Xen (libdmpxen) and the dmpctl/dmpd commands.
# Xen's public headers use anonymous unions, a GNU extension: gnu11 for code that includes them.
MOD_CFLAGS_toolstack := -std=gnu11 -Itoolstack/include -Idmp-patcher/include
XEN_A    := $(OUT)/libdmpxen.a
XEN_LIBS := -lxenctrl -lxenstore -lxenforeignmemory -lxencall -lxentoolcore

$(XEN_A): $(call objs,toolstack/src) $(patsubst %.S,$(OUT)/%.o,$(wildcard toolstack/src/*.S))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

TOOLSTACK_TESTS := $(patsubst toolstack/tests/%.c,$(OUT)/tests/%,$(wildcard toolstack/tests/test_*.c))
$(TOOLSTACK_TESTS): $(OUT)/tests/%: $(OUT)/toolstack/tests/%.o $(XEN_A) $(PATCHER_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(XEN_LIBS) $(PATCHER_LIBS)

UNIT_TESTS += $(TOOLSTACK_TESTS)

# The live-guest backend (toolstack/src/live_*.c) runs dmp-patcher's analysis on guest memory.
# COMMON_A again after the patcher archive: it uses libdmpcommon and comes later on the line.
EXTRA_DMPCTL_A    += $(PATCHER_A)
EXTRA_DMPCTL_LIBS += $(COMMON_A) $(PATCHER_LIBS)

# dmpctl: xl-style administrator command. Command families live in toolstack/dmpctl/cmd_*.c
# and register in toolstack/dmpctl/commands.c.
$(OUT)/bin/dmpctl: $(call objs,toolstack/dmpctl) $(XEN_A) $(COMMON_A) $(EXTRA_DMPCTL_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(XEN_LIBS) $(EXTRA_DMPCTL_LIBS)

BINS += $(OUT)/bin/dmpctl

# dmpd: the dom0 daemon. Services live in toolstack/dmpd/svc_*.c and register in services.c.
$(OUT)/bin/dmpd: $(call objs,toolstack/dmpd) $(XEN_A) $(COMMON_A) $(EXTRA_DMPD_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(XEN_LIBS) $(EXTRA_DMPD_LIBS)

BINS += $(OUT)/bin/dmpd

# Lab-only tool: hostile and edge-case calls of the hypervisor's trap profiler op
# (tests/lab/scenarios/dmp-profile.sh). Not a unit test: it needs our Xen and a guest.
$(OUT)/bin/dmp-profop-hostile: $(OUT)/toolstack/tests/profop_hostile.o $(XEN_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(XEN_LIBS)

BINS += $(OUT)/bin/dmp-profop-hostile
