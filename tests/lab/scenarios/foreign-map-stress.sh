# Diagnostic (not a registered test; see docs/LAB.md): does dom0 reading one guest's memory through foreign
# mappings corrupt processes in that guest, in another guest, or in dom0? Guest "mapped" (PVH
# shadow) and guest "other" (PVH shadow) both run ptbench's pipeline phase forever; dom0 dumps
# mapped's kernel text (14.7 MB through foreign mappings) ROUNDS times and checksums each dump.
# Prints which guest's pipeline failed and whether the dumps differed.
set -u
. "$LAB_SCENARIOS/lib.sh"
rounds=${ROUNDS:-20}
for g in mapped other; do
    cfg=$(guest_config $g pvh 0 192 "ptbench,--rounds,0,--scale,0.3,--phases,pipeline")
    create_guest $g "$cfg"
done
oks() { grep -c '"phase":"pipeline".*"ok":true' "$LAB_OUT/guests/guest-$1.log" 2>/dev/null; }
t=0; while [ $t -lt 300 ] && { [ "$(oks mapped)" -lt 1 ] || [ "$(oks other)" -lt 1 ]; }; do sleep 2; t=$((t + 2)); done
echo "both running after ${t}s: mapped $(oks mapped), other $(oks other) ok results"
sums=""
r=0
while [ $r -lt $rounds ]; do
    dmpctl dmp status mapped --dump-text /run/text >/dev/null 2>&1 || echo "round $r: dump failed"
    sums="$sums $(md5sum < /run/text | cut -c1-8)"
    r=$((r + 1))
done
sleep 10
echo "dumps: $(echo $sums | tr ' ' '\n' | sort | uniq -c | tr '\n' ' ')"
for g in mapped other; do
    echo "$g: $(oks $g) ok pipeline results, $(grep -c '"ok":false' "$LAB_OUT/guests/guest-$g.log") failed, $(grep -c Segmentation "$LAB_OUT/guests/guest-$g.log") segfaults"
done
for g in mapped other; do xl destroy $g 2>/dev/null; done
exit 0
