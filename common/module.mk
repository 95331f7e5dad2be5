# libdmpcommon: JSON writer and validator, sizes, atomic files, the unit-test harness.
# Used by every other library and tool; uses nothing of ours.
DMP_LIBS        += dmpcommon
dmpcommon_DIR   := common
dmpcommon_SYS   := -lm
