# dmp-patcher: kernel image access, kallsyms recovery, Capstone classification,
# patch planning, stub generation and the Unicorn equivalence harness (libdmppatcher), and the
# dmp-patcher command (cmd/main.c).
DMP_LIBS        += dmppatcher
dmppatcher_DIR  := dmp-patcher
dmppatcher_USES := dmpcommon
dmppatcher_SYS  := -lcapstone -lunicorn -lbpf -llzma -lzstd -lz -lm

DMP_PROGS        += dmp-patcher-cmd
dmp-patcher-cmd_SRCS := dmp-patcher/cmd/main.c
dmp-patcher-cmd_BIN  := $(OUT)/bin/dmp-patcher
dmp-patcher-cmd_USES := dmppatcher
BINS += $(OUT)/bin/dmp-patcher

# ---- fuzz-kimage: libFuzzer target for the image parser + kallsyms recovery ----
# Built with clang (libFuzzer + ASan + UBSan) straight from the sources, outside the gcc
# library build. Run it with dmp-patcher/fuzz/run.sh <seconds>.
FUZZ_CC ?= clang
FUZZ_KIMAGE_SRCS := dmp-patcher/fuzz/fuzz_kimage.c common/src/util.c \
	common/src/file.c $(wildcard dmp-patcher/src/kimage*.c) $(wildcard dmp-patcher/src/ksyms*.c)
FUZZ_KIMAGE_DEPS := $(FUZZ_KIMAGE_SRCS) $(wildcard dmp-patcher/src/kimage*.h dmp-patcher/src/ksyms*.h) \
	dmp-patcher/include/dmppatcher/kimage.h dmp-patcher/include/dmppatcher/ksyms.h dmp-patcher/tests/ksyms_synth.h

$(BUILD)/fuzz/fuzz_kimage: $(FUZZ_KIMAGE_DEPS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CSTD) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Icommon/include -Idmp-patcher/include $(FUZZ_KIMAGE_SRCS) -o $@ -llzma -lzstd -lz

$(BUILD)/fuzz/kimage_seeds: dmp-patcher/fuzz/kimage_seeds.c dmp-patcher/tests/ksyms_synth.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O1 -g -Idmp-patcher/include $< -o $@ -llzma -lz

.PHONY: fuzz-kimage
fuzz-kimage: $(BUILD)/fuzz/fuzz_kimage $(BUILD)/fuzz/kimage_seeds
