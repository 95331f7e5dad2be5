# Throughput of a segment through mmap and through its block device, against a disk-backed
# block device (xen-blkfront -> xen-blkback -> loop -> file in dom0's RAM) in the same run.
# Results: $LAB_OUT/seg-bench.json (one JSON object per path). TCG times: ratios only.
set -eu
. "$LAB_SCENARIOS/lib.sh"
. "$LAB_SCENARIOS/seg-lib.sh"
mib=${SEG_BENCH_MIB:-64}

seg_setup_dom0
# A file-backed disk for the baseline. libxl runs a hotplug script for the vbd; Xen's own
# "block" script needs bash, so this small one does its job: tell blkback which device to open.
dd if=/dev/zero of=/run/seg-disk.img bs=1M count="$mib" 2>/dev/null
loopdev=$(losetup -f)
losetup "$loopdev" /run/seg-disk.img
cat > /run/seg-blk-hotplug <<'SCRIPT'
#!/bin/sh
if [ "$1" = add ]; then
    dev=$(xenstore-read "$XENBUS_PATH/params")
    xenstore-write "$XENBUS_PATH/physical-device" "$(stat -L -c %t:%T "$dev")"
    xenstore-write "$XENBUS_PATH/physical-device-path" "$dev"
    xenstore-write "$XENBUS_PATH/hotplug-status" connected
fi
exit 0
SCRIPT
chmod +x /run/seg-blk-hotplug
disk="disk=['format=raw,vdev=xvdb,access=rw,backendtype=phy,script=/run/seg-blk-hotplug,target=$loopdev']"
if seg_guest bench 256 "$disk"; then
    diskdev=/dev/xvdb
else
    echo "guest with a blkback disk did not start: benchmarking without the baseline"
    xl destroy bench 2>/dev/null || true
    rm -f "$LAB_OUT/guests/guest-bench.log"
    seg_guest bench 256
    diskdev=-
fi
gcmd bench 30 "insmod /lib/modules/dmpseg.ko"
dmpctl segment create bench "${mib}m" --private
dmpctl segment allow bench bench
dmpctl segment attach bench bench
if [ "$diskdev" != - ]; then
    gcmd bench 30 "insmod /lib/modules/xen-blkfront.ko; segtool wait $diskdev 60" || true
    gcmd bench 10 "test -b $diskdev" && pass "baseline disk $diskdev present" || { fail "no $diskdev"; diskdev=-; }
fi
for round in 1 2; do
    gcmd bench 600 "echo round $round; segtool bench /dev/dmpseg/bench /dev/\$(cat /sys/class/dmpseg/dmpseg!bench/disk) $diskdev $mib" &&
        pass "benchmark round $round" || fail "benchmark round $round"
done
sed -n 's/^@@SEG-BENCH //p' "$(seg_log bench)" | sed 's/\r$//' > "$LAB_OUT/seg-bench.json"
cat "$LAB_OUT/seg-bench.json"
[ "$(grep -c '"mmap"' "$LAB_OUT/seg-bench.json")" = 2 ] && pass "mmap numbers" || fail "mmap numbers missing"
[ "$(grep -c '"segment-block"' "$LAB_OUT/seg-bench.json")" = 2 ] && pass "block numbers" || fail "block numbers missing"
if [ "$diskdev" != - ]; then
    [ "$(grep -c '"disk-block"' "$LAB_OUT/seg-bench.json")" = 2 ] && pass "disk numbers" || fail "disk numbers missing"
fi
dmpctl segment detach bench bench
xl destroy bench || true
dmpd_stop
seg_summary
