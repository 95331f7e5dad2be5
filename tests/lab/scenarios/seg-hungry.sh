# A small guest (96 MiB) cannot run a job whose working buffer is 112 MiB; with a 112 MiB
# segment attached at run time (no reboot) and used as the job's buffer, the same job completes.
set -eu
. "$LAB_SCENARIOS/lib.sh"
. "$LAB_SCENARIOS/seg-lib.sh"
job_mib=${SEG_JOB_MIB:-112}

seg_setup_dom0
seg_guest small 96
gcmd small 30 "insmod /lib/modules/dmpseg.ko"
gcmd small 10 "grep -E 'MemTotal|MemFree' /proc/meminfo"

echo "== the job in the guest's own memory"
grc small 180 "segtool hungry $job_mib"
[ "$RC" != 0 ] && pass "job of $job_mib MiB cannot complete in a 96 MiB guest (exit $RC)" ||
    fail "job completed without the segment: the test proves nothing"
gcmd small 30 "echo small-alive" && pass "guest still up" || fail "guest died"

echo "== the job with a segment attached as its working buffer"
dmpctl segment create heap "${job_mib}m" --private
dmpctl segment allow heap small
dmpctl segment attach small heap --rw --wait 60
# Mapping 28672 grants under TCG can outlast the attach wait: the device node is the signal.
gcmd small 240 "segtool wait /dev/dmpseg/heap 600" && pass "segment device appeared in the guest" ||
    { fail "no /dev/dmpseg/heap"; gcmd small 30 "dmesg | grep -i -E 'dmpseg|grant|xen' | tail -n 20" || true; }
dmpctl segment list
grc small 300 "segtool hungry $job_mib /dev/dmpseg/heap"
expect "job completes using the segment" 0 "$RC"
grep '@@SEG hungry' "$(seg_log small)" || true
dmpctl segment detach small heap
gcmd small 10 "grep -E 'MemTotal|MemFree' /proc/meminfo"
xl destroy small || true
dmpd_stop
seg_summary
