# libdmpcommon: JSON writer and reader, numbers, sizes and durations, clocks, atomic and state
# files, error messages, the unit-test harness.
# Used by every other library and tool; uses nothing of ours.
DMP_LIBS        += dmpcommon
dmpcommon_DIR   := common
dmpcommon_SYS   := -lm

# ---- fuzz-json: libFuzzer target for the JSON reader ----
# Built with clang (libFuzzer + ASan + UBSan) from the sources, outside the gcc library build.
# 'make fuzz-json-run FUZZ_SECONDS=60' runs it from the seeds in common/fuzz/seeds and fails on a
# finding, whose reproducer stays in $(BUILD)/fuzz/json-run/artifacts/.
FUZZ_CC ?= clang
FUZZ_JSON_SRCS := common/fuzz/fuzz_json.c common/src/json_read.c common/src/json.c common/src/util.c

$(BUILD)/fuzz/fuzz_json: $(FUZZ_JSON_SRCS) common/tests/json_walk.h common/include/dmpcommon/json.h \
                         common/include/dmpcommon/json_read.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CSTD) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Icommon/include $(FUZZ_JSON_SRCS) -o $@ -lm

FUZZ_SECONDS ?= 60
FUZZ_JSON_RUN := $(BUILD)/fuzz/json-run

.PHONY: fuzz-json fuzz-json-run
fuzz-json: $(BUILD)/fuzz/fuzz_json
fuzz-json-run: $(BUILD)/fuzz/fuzz_json
	rm -rf $(FUZZ_JSON_RUN) && mkdir -p $(FUZZ_JSON_RUN)/corpus $(FUZZ_JSON_RUN)/artifacts
	cp common/fuzz/seeds/* $(FUZZ_JSON_RUN)/corpus/
	$< -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
		-print_final_stats=1 -artifact_prefix=$(FUZZ_JSON_RUN)/artifacts/ $(FUZZ_JSON_RUN)/corpus
