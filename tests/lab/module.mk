# The lab's dom0 agent: runs one guest, answers its workload's sync points with hypervisor
# counter snapshots, and writes the results as JSON. Installed into the dom0 initramfs.
$(OUT)/tests/lab/agent/%.o: EXTRA_CFLAGS := -std=gnu11 -Itoolstack/include

$(OUT)/bin/lab-guest: $(call objs,tests/lab/agent) $(XEN_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(XEN_LIBS)

ifneq ($(SAN),1)
BINS += $(OUT)/bin/lab-guest
endif
