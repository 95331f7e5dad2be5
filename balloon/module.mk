# balloon: pure logic of the memory balancer (working-set estimators, balancing policy,
# configuration, decision/metrics output). No Xen calls: toolstack/ plugs Xen into it.
# Every src/*.c goes into the library; every tests/test_*.c is one unit-test binary.
MOD_CFLAGS_balloon := -Iballoon/include
BALLOON_A    := $(OUT)/libdmpballoon.a
# COMMON_A is defined by common/module.mk, which is included after this file.
BALLOON_LIBS := -lm

$(BALLOON_A): $(call objs,balloon/src)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

BALLOON_TESTS := $(patsubst balloon/tests/%.c,$(OUT)/tests/%,$(wildcard balloon/tests/test_*.c))
$(BALLOON_TESTS): $(OUT)/tests/%: $(OUT)/balloon/tests/%.o $(BALLOON_A) $(OUT)/libdmpcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(BALLOON_LIBS)

LIBS_A     += $(BALLOON_A)
UNIT_TESTS += $(BALLOON_TESTS)

# dmpctl (mem-set/mem-info/balance) and dmpd (the balancing service) drive this library; they
# are built by toolstack/module.mk, included after this file. The archive comes after
# libdmpcommon on their link lines, so libdmpcommon is named again after it.
EXTRA_DMPCTL_A    += $(BALLOON_A)
EXTRA_DMPCTL_LIBS += $(OUT)/libdmpcommon.a $(BALLOON_LIBS)
EXTRA_DMPD_A      += $(BALLOON_A)
EXTRA_DMPD_LIBS   += $(OUT)/libdmpcommon.a $(BALLOON_LIBS)
$(OUT)/toolstack/%.o: EXTRA_CFLAGS += -Iballoon/include
