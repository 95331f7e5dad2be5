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
# Filled in by the module.mk files.
BINS       :=
UNIT_TESTS :=
DMP_LIBS   :=
DMP_PROGS  :=

# Libraries and programs are declared, not written as rules, so that every consumer names
# what it uses and the include paths and link lines follow from that (rules at the end):
#   DMP_LIBS += NAME       NAME_DIR   folder with src/*.c (and *.S), include/NAME/*.h, tests/
#                          NAME_USES  libraries whose headers and code it uses (direct only)
#                          NAME_SYS   system libraries it needs (-l...)
#                          NAME_CSTD  language standard, if not $(CSTD)
#   DMP_PROGS += NAME      NAME_SRCS  object files' sources; NAME_BIN the binary; NAME_USES,
#                          NAME_SYS, NAME_CSTD as for a library; NAME_INC extra include folders
# Every NAME_DIR/tests/test_*.c is a unit-test binary linked with its library.

# $(call lib_closure,NAMES): the names and everything they use, transitively.
lib_closure = $(sort $(foreach l,$(1),$(l) $(call lib_closure,$($(l)_USES))))
lib_incs    = $(foreach l,$(call lib_closure,$(1)),-I$($(l)_DIR)/include)
lib_archives = $(foreach l,$(call lib_closure,$(1)),$(OUT)/lib$(l).a)
lib_sys     = $(sort $(foreach l,$(call lib_closure,$(1)),$($(l)_SYS)))
# Static archives in one group: the linker resolves them in any order.
link_libs   = -Wl,--start-group $(call lib_archives,$(1)) -Wl,--end-group $(call lib_sys,$(1))

$(OUT)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(or $(MOD_CSTD),$(CSTD)) $(WARN) $(CFLAGS) -MMD -MP $(MOD_CFLAGS) $(EXTRA_CFLAGS) -c $< -o $@

# Assembly: guest code that dom0 copies into a guest (toolstack/dmp/src/stub_log.S).
$(OUT)/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

include $(wildcard */module.mk */*/module.mk)

# ---- rules for the declared libraries and programs ----
define dmp_lib_rules
$(1)_TESTS := $$(patsubst $$($(1)_DIR)/tests/%.c,$$(OUT)/tests/%,$$(wildcard $$($(1)_DIR)/tests/test_*.c))
$$(OUT)/$$($(1)_DIR)/%.o: MOD_CFLAGS := $$(call lib_incs,$(1)) $$(foreach d,$$($(1)_INC),-I$$(d))
$$(OUT)/$$($(1)_DIR)/%.o: MOD_CSTD := $$($(1)_CSTD)
$$(OUT)/lib$(1).a: $$(patsubst %.c,$$(OUT)/%.o,$$(wildcard $$($(1)_DIR)/src/*.c)) \
                   $$(patsubst %.S,$$(OUT)/%.o,$$(wildcard $$($(1)_DIR)/src/*.S))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && $$(AR) rcs $$@ $$^
$$($(1)_TESTS): $$(OUT)/tests/%: $$(OUT)/$$($(1)_DIR)/tests/%.o $$(call lib_archives,$(1))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$< $$(call link_libs,$(1))
UNIT_TESTS += $$($(1)_TESTS)
endef

define dmp_prog_rules
$(1)_OBJS := $$(patsubst %.c,$$(OUT)/%.o,$$($(1)_SRCS))
$$($(1)_OBJS): MOD_CFLAGS := $$(call lib_incs,$$($(1)_USES)) $$(foreach d,$$($(1)_INC),-I$$(d))
$$($(1)_OBJS): MOD_CSTD := $$($(1)_CSTD)
$$($(1)_BIN): $$($(1)_OBJS) $$(call lib_archives,$$($(1)_USES))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$($(1)_OBJS) $$(call link_libs,$$($(1)_USES)) $$($(1)_SYS)
endef

$(foreach l,$(DMP_LIBS),$(eval $(call dmp_lib_rules,$(l))))
$(foreach p,$(DMP_PROGS),$(eval $(call dmp_prog_rules,$(p))))


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
