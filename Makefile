# Top-level build of the dynamic memory paravirtualization toolkit.
# Non-recursive: every component contributes rules through its module.mk.
# See README.md for the user-facing targets.

.DEFAULT_GOAL := all
SHELL := /bin/bash

BUILD     ?= build
OUT       := $(BUILD)/out
SAN       ?=
CC        ?= gcc
CSTD      := -std=c11 -D_GNU_SOURCE
WARN      := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter
CFLAGS    ?= -O2 -g
ifeq ($(SAN),1)
OUT       := $(BUILD)/san
CFLAGS    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS   += -fsanitize=address,undefined
endif
ALL_CFLAGS = $(CSTD) $(WARN) $(CFLAGS) -MMD -MP -Icommon/include

# Filled in by the module.mk files.
BINS       :=
UNIT_TESTS :=
LIBS_A     :=

# $(call objs,<dir>) -> object files for every C file in <dir>.
objs = $(patsubst %.c,$(OUT)/%.o,$(wildcard $(1)/*.c))

$(OUT)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(MOD_CFLAGS_$(firstword $(subst /, ,$<))) $(EXTRA_CFLAGS) -c $< -o $@

# Assembly: guest code that dom0 copies into a guest (toolstack/src/stub_log.S).
$(OUT)/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

include $(wildcard */module.mk */*/module.mk)

.PHONY: all unit unit-san deps xen lab demo test bench lab-shell clean

all: $(BINS) $(UNIT_TESTS)

# Unit tests: every binary prints "N passed, N failed" and exits non-zero on failure.
unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

unit-san:
	$(MAKE) SAN=1 unit

deps:
	scripts/deps.sh

xen: deps
	scripts/locked.sh xen scripts/build-xen.sh

lab: xen all
	scripts/locked.sh images tests/lab/build-images.sh

demo: lab
	tests/lab/demo.sh

bench: lab
	tests/lab/bench.sh

lab-shell: lab
	tests/lab/run.sh --interactive

test: deps
	tests/run-all.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(OUT) -name '*.d' -type f 2>/dev/null)
