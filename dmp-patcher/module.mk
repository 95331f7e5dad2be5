# dmp-patcher: kernel image access, kallsyms recovery, Capstone classification,
# patch planning, stub generation and the Unicorn equivalence harness.
# Every src/*.c goes into the library; every tests/test_*.c is one unit-test binary.
MOD_CFLAGS_dmp-patcher := -Idmp-patcher/include
PATCHER_A    := $(OUT)/libdmppatcher.a
PATCHER_LIBS := -lcapstone -lunicorn -llzma -lzstd -lz -lm
PATCHER_LIB_OBJS := $(filter-out $(OUT)/dmp-patcher/src/main.o,$(call objs,dmp-patcher/src))

$(PATCHER_A): $(PATCHER_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(OUT)/bin/dmp-patcher: $(OUT)/dmp-patcher/src/main.o $(PATCHER_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PATCHER_LIBS)

PATCHER_TESTS := $(patsubst dmp-patcher/tests/%.c,$(OUT)/tests/%,$(wildcard dmp-patcher/tests/test_*.c))
$(PATCHER_TESTS): $(OUT)/tests/%: $(OUT)/dmp-patcher/tests/%.o $(PATCHER_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PATCHER_LIBS)

ifneq ($(wildcard dmp-patcher/src/main.c),)
BINS += $(OUT)/bin/dmp-patcher
endif
UNIT_TESTS += $(PATCHER_TESTS)
