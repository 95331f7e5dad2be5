# Named memory segments end to end (docs/SEGMENTS.md): two running PVH guests share a segment
# through mmap, a read-only attach refuses writes, replace/detach/re-attach (also across a dmpd
# restart) keeps saved contents, transient segments start zeroed, the access list and input
# checks refuse what they must, and detaching a mapped segment is safe (SIGBUS in the guest,
# or - for a guest that does not answer - the pages stay owned by dom0 until it lets go).
set -eu
. "$LAB_SCENARIOS/lib.sh"
. "$LAB_SCENARIOS/seg-lib.sh"

seg_setup_dom0

echo "== input checks"
rc_of dmpctl segment create 'bad/name' 4m; expect "bad name refused" 2 "$RC"
echo "$OUT" | grep -q "character '/'" && pass "bad name error names the character" || fail "bad name message: $OUT"
rc_of dmpctl segment create odd 5k; expect "non-page size refused" 2 "$RC"
echo "$OUT" | grep -q "'5k'.*multiple of the 4 KiB page" && pass "size error names the input" || fail "size message: $OUT"
rc_of dmpctl segment create huge 2g; expect "oversized segment refused" 2 "$RC"
rc_of dmpctl segment create x0 0; expect "zero size refused" 2 "$RC"
rc_of dmpctl segment create xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx 4k
expect "65-character name refused" 2 "$RC"

dmpctl segment create shm 16m --shared
dmpctl segment create pers 8m --persistent
dmpctl segment create scratch 4m --private
rc_of dmpctl segment create shm 4m; expect "duplicate name refused" 1 "$RC"
for g in ga gb; do dmpctl segment allow shm $g; done
dmpctl segment allow pers ga
dmpctl segment allow scratch gb

echo "== guests"
seg_guest ga 128
seg_guest gb 128
for g in ga gb; do
    gcmd $g 30 "insmod /lib/modules/dmpseg.ko" && pass "dmpseg loaded in $g" || fail "insmod in $g"
done

echo "== shared segment: rw in ga, ro in gb"
dmpctl segment attach ga shm --rw
dmpctl segment attach gb shm --ro
dmpctl segment list
dmpctl segment list --json > "$LAB_OUT/list-attached.json"
[ "$(grep -c '"connected"' "$LAB_OUT/list-attached.json")" = 2 ] && pass "both attachments connected" ||
    fail "attachments not connected: $(cat "$LAB_OUT/list-attached.json")"
gcmd ga 60 "segtool fill /dev/dmpseg/shm 11" && pass "ga wrote pattern 11 through mmap" || fail "fill in ga"
gcmd gb 60 "segtool check /dev/dmpseg/shm 11" && pass "gb reads ga's bytes through mmap" || fail "check in gb"
gcmd gb 30 "segtool rofail /dev/dmpseg/shm" && pass "read-only attach refuses every write path" ||
    fail "read-only attach allowed a write"
grc gb 30 'segtool blkfill /dev/$(cat /sys/class/dmpseg/dmpseg!shm/disk) 99 1'
expect "block write on a read-only attach refused" 2 "$RC"
gcmd ga 60 'segtool blkfill /dev/$(cat /sys/class/dmpseg/dmpseg!shm/disk) 12' && pass "ga wrote pattern 12 through the block device" ||
    fail "blkfill in ga"
gcmd gb 60 "segtool check /dev/dmpseg/shm 12" && pass "gb sees block writes of ga through mmap" || fail "check 12 in gb"
gcmd gb 60 'segtool blkcheck /dev/$(cat /sys/class/dmpseg/dmpseg!shm/disk) 12' && pass "gb reads them through its block device" ||
    fail "blkcheck in gb"

echo "== access list"
rc_of dmpctl segment attach gb pers; expect "domain not on the access list refused" 1 "$RC"
echo "$OUT" | grep -q "not on the access list" && pass "refusal says why" || fail "refusal message: $OUT"
rc_of dmpctl segment attach ga scratch; expect "ga not allowed on scratch" 1 "$RC"

echo "== persistent segment: replace, detach, re-attach"
dmpctl segment attach ga pers
gcmd ga 60 "segtool fill /dev/dmpseg/pers 21"
dmpctl segment replace pers && pass "replace" || fail "replace pers"
[ -f "$DMPD_STATE/segments/pers.img" ] && pass "saved contents in the state directory" || fail "no pers.img"
gcmd ga 60 "segtool fill /dev/dmpseg/pers 22"    # changed after the replace: must not come back
dmpctl segment detach ga pers
gcmd ga 30 "segtool gone /dev/dmpseg/pers 10" && pass "device removed in ga on detach" || fail "pers still in ga"
dmpctl segment attach ga pers
gcmd ga 60 "segtool check /dev/dmpseg/pers 21" && pass "re-attach shows the replaced contents" || fail "pers after re-attach"
dmpctl segment detach ga pers

echo "== transient segment: zeroed, replace lives until dmpd restarts"
dmpctl segment attach gb scratch
gcmd gb 60 "segtool zero /dev/dmpseg/scratch" && pass "new transient segment is zero" || fail "scratch not zero"
gcmd gb 60 "segtool fill /dev/dmpseg/scratch 31"
dmpctl segment replace scratch
dmpctl segment detach gb scratch
dmpctl segment attach gb scratch
gcmd gb 60 "segtool check /dev/dmpseg/scratch 31" && pass "transient replace survives detach" || fail "scratch after re-attach"
dmpctl segment detach gb scratch

echo "== dmpd restart"
dmpctl segment detach ga shm
dmpctl segment detach gb shm
dmpd_stop
dmpd_start
dmpctl segment list
dmpctl segment attach ga pers
gcmd ga 60 "segtool check /dev/dmpseg/pers 21" && pass "persistent contents survive a dmpd restart" ||
    fail "pers after restart"
dmpctl segment detach ga pers
dmpctl segment attach gb scratch
gcmd gb 60 "segtool zero /dev/dmpseg/scratch" && pass "transient segment is zero again after restart" ||
    fail "scratch after restart"
dmpctl segment detach gb scratch

echo "== detach while mapped (responsive guest: SIGBUS)"
dmpctl segment attach ga shm
dmpctl segment attach gb shm
gcmd ga 60 "segtool fill /dev/dmpseg/shm 41"
gsend ga "segtool hold /dev/dmpseg/shm 41 120"
wait_log ga '@@SEG holding' 90
rc_of dmpctl segment detach ga shm --timeout 10; expect "detach of a mapped segment completes" 0 "$RC"
wait_log ga '@@SEG hold SIGBUS after [0-9]+ verified passes, [0-9]+ bad words' 90 && pass "the process holding the mapping got SIGBUS" || fail "no SIGBUS in ga"
grep -q '@@SEG hold SIGBUS after [0-9]* verified passes, 0 bad words' "$(seg_log ga)" &&
    pass "it read correct data until then" || fail "bad data before SIGBUS"
gcmd ga 30 "echo ga-alive; test ! -e /dev/dmpseg/shm" && pass "ga survives, its device is gone" || fail "ga after detach"
gcmd gb 60 "segtool check /dev/dmpseg/shm 41" && pass "gb keeps the shared data" || fail "gb after ga's detach"

echo "== detach while mapped (guest that does not answer: pages stay owned)"
gcmd gb 10 "echo 1 > /sys/module/dmpseg/parameters/hold_on_close"
gsend gb "segtool hold /dev/dmpseg/shm 41 120"
wait_log gb '@@SEG holding' 90
rc_of dmpctl segment detach gb shm --timeout 3; expect "detach of an unresponsive guest is deferred" 1 "$RC"
echo "$OUT" | grep -q "not freed" && pass "deferral reported" || fail "deferral message: $OUT"
dmpctl segment list | tee "$LAB_OUT/list-pending.txt"
grep -q "detach-pending" "$LAB_OUT/list-pending.txt" && pass "list shows the pending detach" || fail "no pending detach"
rc_of dmpctl segment destroy shm; expect "destroy refused while pages are out" 1 "$RC"
sleep 3
grep -q '@@SEG hold SIGBUS' "$(seg_log gb)" && fail "gb lost the mapping while it ignored Closing" ||
    pass "gb still reads its mapping (nothing was freed under it)"
gcmd gb 10 "echo 0 > /sys/module/dmpseg/parameters/hold_on_close"
wait_log gb '@@SEG hold SIGBUS after [0-9]+ verified passes, [0-9]+ bad words' 90 && pass "after the guest answers, its process gets SIGBUS" || fail "no SIGBUS in gb"
grep -q '@@SEG hold SIGBUS after [0-9]* verified passes, 0 bad words' "$(seg_log gb)" &&
    pass "gb read correct data throughout" || fail "bad data in gb"
i=0
while [ $i -lt 20 ] && dmpctl segment list | grep -q "detach-pending"; do sleep 1; i=$((i + 1)); done
dmpctl segment list | grep -q "detach-pending" && fail "dmpd never reclaimed the pages" ||
    pass "dmpd reclaimed the pages once the guest let go"
grep -q '"event":"reclaimed"' "$LAB_OUT/dmpd.log" && pass "reclaim logged" || fail "no reclaim log line"
gcmd gb 30 "echo gb-alive" && pass "gb survives" || fail "gb dead"
dmpctl segment destroy shm && pass "destroy after detach" || fail "destroy shm"

for g in ga gb; do xl destroy $g || true; done
dmpd_stop
seg_summary
