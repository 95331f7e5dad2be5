# Guest workloads (ptbench, wsswork): statically linked programs that run inside the
# busybox initramfs of a Xen guest, plus their smoke test.
#
# Normal build: static binaries in $(OUT)/guest/ (what the lab images copy), and the smoke
# test runs exactly those. SAN build: ASan cannot link statically, so the same sources are
# linked dynamically into $(OUT)/workload/ and the smoke test runs those instead.
WL_DIR       := tests/workload
WL_COMMON    := $(OUT)/$(WL_DIR)/wl_proto.o
WL_PT_OBJS   := $(OUT)/$(WL_DIR)/ptbench.o $(OUT)/$(WL_DIR)/pt_phases.o $(WL_COMMON)
WL_WSS_OBJS  := $(OUT)/$(WL_DIR)/wsswork.o $(OUT)/$(WL_DIR)/wss_set.o \
                $(OUT)/$(WL_DIR)/wss_schedule.o $(WL_COMMON)

ifeq ($(SAN),1)
WL_BIN_DIR   := $(OUT)/workload
WL_LINK      :=
else
WL_BIN_DIR   := $(OUT)/guest
WL_LINK      := -static
BINS         += $(WL_BIN_DIR)/ptbench $(WL_BIN_DIR)/wsswork
endif
WL_PROGRAMS  := $(WL_BIN_DIR)/ptbench $(WL_BIN_DIR)/wsswork

$(WL_BIN_DIR)/ptbench: $(WL_PT_OBJS) $(OUT)/libdmpcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(WL_LINK) -o $@ $^ -lm

$(WL_BIN_DIR)/wsswork: $(WL_WSS_OBJS) $(OUT)/libdmpcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(WL_LINK) -o $@ $^ -lm

# The test finds the programs relative to its own executable ($(OUT)/tests/).
$(OUT)/$(WL_DIR)/test/test_workload.o: CFLAGS += -DWL_BIN_SUBDIR='"$(notdir $(WL_BIN_DIR))"'

$(OUT)/tests/test_workload: $(patsubst %.c,$(OUT)/%.o,$(wildcard $(WL_DIR)/test/*.c)) \
                            $(OUT)/$(WL_DIR)/wss_schedule.o $(OUT)/libdmpcommon.a | $(WL_PROGRAMS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) -lm

UNIT_TESTS += $(OUT)/tests/test_workload

# Headers of libdmpcommon (the JSON writer); lazy: common/module.mk may come later.
$(OUT)/$(WL_DIR)/%.o: MOD_CFLAGS = $(call lib_incs,dmpcommon)
