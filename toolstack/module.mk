# toolstack: dom0 libraries that talk to Xen (libdmpxen) and the dmpctl/dmpd commands.
# Xen's public headers use anonymous unions, a GNU extension: gnu11 for code that includes them.
MOD_CFLAGS_toolstack := -std=gnu11 -Itoolstack/include
XEN_A    := $(OUT)/libdmpxen.a
XEN_LIBS := -lxenctrl -lxenstore -lxenforeignmemory -lxencall -lxentoolcore

$(XEN_A): $(call objs,toolstack/src)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

TOOLSTACK_TESTS := $(patsubst toolstack/tests/%.c,$(OUT)/tests/%,$(wildcard toolstack/tests/test_*.c))
$(TOOLSTACK_TESTS): $(OUT)/tests/%: $(OUT)/toolstack/tests/%.o $(XEN_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(XEN_LIBS)

UNIT_TESTS += $(TOOLSTACK_TESTS)
