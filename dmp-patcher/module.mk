# dmp-patcher: kernel image access, kallsyms recovery, Capstone classification,
# patch planning, stub generation and the Unicorn equivalence harness.
# Every src/*.c goes into the library; every tests/test_*.c is one unit-test binary.
MOD_CFLAGS_dmp-patcher := -Idmp-patcher/include
PATCHER_A    := $(OUT)/libdmppatcher.a
PATCHER_LIBS := -lcapstone -lunicorn -lbpf -llzma -lzstd -lz -lm
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

# ---- fuzz-kimage: libFuzzer target for the image parser + kallsyms recovery ----
# Built with clang (libFuzzer + ASan + UBSan) straight from the sources, outside the gcc
# library build. Run it with dmp-patcher/fuzz/run.sh <seconds>.
FUZZ_CC ?= clang
FUZZ_KIMAGE_SRCS := dmp-patcher/fuzz/fuzz_kimage.c common/src/util.c \
	$(wildcard dmp-patcher/src/kimage*.c) $(wildcard dmp-patcher/src/ksyms*.c)
FUZZ_KIMAGE_DEPS := $(FUZZ_KIMAGE_SRCS) $(wildcard dmp-patcher/src/kimage*.h dmp-patcher/src/ksyms*.h) \
	dmp-patcher/include/dmp/kimage.h dmp-patcher/include/dmp/ksyms.h dmp-patcher/tests/ksyms_synth.h

$(BUILD)/fuzz/fuzz_kimage: $(FUZZ_KIMAGE_DEPS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CSTD) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Icommon/include -Idmp-patcher/include $(FUZZ_KIMAGE_SRCS) -o $@ -llzma -lzstd -lz

$(BUILD)/fuzz/kimage_seeds: dmp-patcher/fuzz/kimage_seeds.c dmp-patcher/tests/ksyms_synth.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O1 -g -Idmp-patcher/include $< -o $@ -llzma -lz

.PHONY: fuzz-kimage
fuzz-kimage: $(BUILD)/fuzz/fuzz_kimage $(BUILD)/fuzz/kimage_seeds
