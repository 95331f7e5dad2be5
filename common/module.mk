# libdmpcommon: JSON writer and reader, numbers, sizes and durations, clocks, atomic and state
# files, error messages, the unit-test harness.
# Used by every other library and tool; uses nothing of ours.
DMP_LIBS        += dmpcommon
dmpcommon_DIR   := common
dmpcommon_SYS   := -lm

# ---- fuzz-json: libFuzzer target for the JSON reader (common/fuzz/run.sh <seconds>) ----
# Built with clang (libFuzzer + ASan + UBSan) from the sources, outside the gcc library build.
FUZZ_CC ?= clang
FUZZ_JSON_SRCS := common/fuzz/fuzz_json.c common/src/json_read.c common/src/json.c common/src/util.c

$(BUILD)/fuzz/fuzz_json: $(FUZZ_JSON_SRCS) common/tests/json_walk.h common/include/dmpcommon/json.h \
                         common/include/dmpcommon/json_read.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CSTD) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Icommon/include $(FUZZ_JSON_SRCS) -o $@ -lm

.PHONY: fuzz-json
fuzz-json: $(BUILD)/fuzz/fuzz_json
