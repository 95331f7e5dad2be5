# Diagnostic (not a registered test): does dom0 memory get corrupted more while dmpd samples
# the guests' working sets (XEN_DOMCTL_dmp_wss)? Two guests (HAP, shadow) run wsswork; dom0
# decompresses the guest initramfs over and over and compares checksums, in alternating
# phases with sampling off (estimator=none) and on, PHASE_SECS each; counts bad checksums and
# programs killed by a signal per phase.
set -u
. "$LAB_SCENARIOS/lib.sh"
mkdir -p /run/img && cp "$LAB_IMAGES/vmlinuz" "$LAB_IMAGES/guest.cpio.gz" /run/img/
LAB_IMAGES=/run/img
secs=${PHASE_SECS:-90}
ref=$(gunzip -c /run/img/guest.cpio.gz | md5sum)
echo "reference: $ref"
for spec in ${STRESS_GUESTS:-dh:1 ds:0}; do
    n=${spec%%:*}; h=${spec##*:}
    cfg=$(guest_config "$n" pvh "$h" 320 "wsswork,--schedule,96m:3000s,--max-seconds,3000")
    create_guest "$n" "$cfg"
done
sleep 30
st=/run/st; mkdir -p "$st"
printf '[global]\npolicy = static\ninterval = 2s\nsample-pages = 4000\nestimator = none\n' > /run/a.conf
printf '[global]\npolicy = static\ninterval = 2s\nsample-pages = 4000\n' > /run/b.conf
for phase in ${STRESS_PHASES:-a b a b}; do
    dmpd --config /run/$phase.conf --state-dir $st --log "$LAB_OUT/dmpd-$phase.log" 2>/dev/null &
    dp=$!
    sleep 3
    end=$(( $(date +%s) + secs )); rounds=0; bad=0; sig=0
    while [ "$(date +%s)" -lt $end ]; do
        out=$(gunzip -c /run/img/guest.cpio.gz | md5sum); rc=$?
        [ $rc -ge 128 ] && sig=$((sig + 1))
        [ "$out" = "$ref" ] || bad=$((bad + 1))
        rounds=$((rounds + 1))
    done
    kill $dp; wait $dp 2>/dev/null
    echo "RESULT phase=$phase sampling=$([ $phase = a ] && echo off || echo on) rounds=$rounds bad_checksums=$bad killed=$sig samples=$(grep -c '"event":"sampling"' "$LAB_OUT/dmpd-$phase.log")"
done
for g in dh ds; do echo "$g: $(grep -c '"ok":false' "$LAB_OUT/guests/guest-$g.log" 2>/dev/null) failed checks, $(grep -c 'Segmentation' "$LAB_OUT/guests/guest-$g.log" 2>/dev/null) segfaults"; xl destroy $g 2>/dev/null; done
exit 0
