# libdmpcommon: JSON writer, size parsing, atomic files. Linked into every tool.
COMMON_A := $(OUT)/libdmpcommon.a
LIBS_A   += $(COMMON_A)

$(COMMON_A): $(call objs,common/src)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(OUT)/tests/test_common: $(OUT)/common/tests/test_common.o $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lm

UNIT_TESTS += $(OUT)/tests/test_common
