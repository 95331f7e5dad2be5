# The lab's dom0 agent: runs one guest, answers its workload's sync points with hypervisor
# counter snapshots, and writes the results as JSON. Installed into the dom0 initramfs.
DMP_PROGS       += lab-guest
lab-guest_SRCS  := $(wildcard tests/lab/agent/*.c)
lab-guest_BIN   := $(OUT)/bin/lab-guest
lab-guest_USES  := dmpxen dmpcommon
lab-guest_CSTD  := -std=gnu11 -D_GNU_SOURCE

ifneq ($(SAN),1)
BINS += $(lab-guest_BIN)
endif
