# guest-kernel: Linux modules, built out of tree against the headers of the exact Debian kernel
# the lab boots (scripts/config.sh), one folder per side they run on:
#   guest/dmpseg         guest xenbus frontend of memory segments  -> $(OUT)/guest-modules/
#   guest/segtool        static guest program that exercises one   -> $(OUT)/guest/
#   dom0/dmpsegback      dom0 grant helper for dmpd's segments     -> $(OUT)/dom0-modules/
#   test/dmpfast_hostile lab test of the fast-path hypercall       -> $(OUT)/guest-modules/
#   include/             ABIs shared with dom0 tools (dmpsegback's ioctls)
# Kbuild cannot put an external module's objects elsewhere (no O= for M=), so each module is
# built in a copy of its sources under $(BUILD)/kbuild: nothing lands in the source tree.
# Expanded lazily: 'make demo' on a fresh machine installs the kernel headers (deps) in the same
# make run, after this file has been read.
GUEST_KREL    = $(shell bash -c '. scripts/config.sh && guest_kernel_release' 2>/dev/null)
GUEST_KDIR    = /usr/src/linux-headers-$(GUEST_KREL)
KBUILD_TMP   := $(BUILD)/kbuild

# $(call kmod_rule,<side>/<module>,<output dir>)
define kmod_rule
$(OUT)/$(2)/$(notdir $(1)).ko: $(wildcard guest-kernel/$(1)/*) $(wildcard guest-kernel/include/*)
	@test -d $$(GUEST_KDIR) || { echo "no kernel headers at $$(GUEST_KDIR): run 'make deps'"; exit 1; }
	rm -rf $(KBUILD_TMP)/$(notdir $(1)) && mkdir -p $(KBUILD_TMP) $(OUT)/$(2)
	cp -r guest-kernel/$(1) $(KBUILD_TMP)/$(notdir $(1)) && cp -r guest-kernel/include $(KBUILD_TMP)/$(notdir $(1))/include
	+$(MAKE) -C $$(GUEST_KDIR) M=$(abspath $(KBUILD_TMP)/$(notdir $(1))) modules
	cp $(KBUILD_TMP)/$(notdir $(1))/$(notdir $(1)).ko $$@
endef

# Static and without libdmpcommon's other dependencies: only the clock is compiled in.
$(OUT)/guest/segtool: guest-kernel/guest/segtool/segtool.c common/src/clock.c common/include/dmpcommon/clock.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O2 -static -Icommon/include -o $@ $(filter %.c,$^)

# Sanitizer builds are for unit tests; kernel modules and static guest tools stay out of them.
ifneq ($(SAN),1)
$(eval $(call kmod_rule,guest/dmpseg,guest-modules))
$(eval $(call kmod_rule,dom0/dmpsegback,dom0-modules))
BINS += $(OUT)/guest-modules/dmpseg.ko $(OUT)/dom0-modules/dmpsegback.ko $(OUT)/guest/segtool
# Lab test of the fast path hypercall (tests/lab/scenarios/dmp-fastpath.sh).
$(eval $(call kmod_rule,test/dmpfast_hostile,guest-modules))
BINS += $(OUT)/guest-modules/dmpfast_hostile.ko
endif
