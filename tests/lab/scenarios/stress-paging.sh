# Regression test for the hypervisor patches: a shadow-paging and a HAP guest run the
# page-table workload at the same time for several rounds; every check inside the guests must
# pass (a hypervisor that corrupts a mapping shows up as a wrong value or a SIGSEGV here).
set -eu
. "$LAB_SCENARIOS/lib.sh"
rounds=${STRESS_ROUNDS:-6}
rc=0
for m in shadow hap; do
    hap=0; [ $m = hap ] && hap=1
    cfg=$(guest_config "stress-$m" pvh $hap 256 "ptbench,--phases,forkexec;fork;mmap;pagefault,--scale,0.3,--rounds,$rounds")
    create_guest "stress-$m" "$cfg" || rc=1
done
for m in shadow hap; do
    log="$LAB_OUT/guests/guest-stress-$m.log"
    i=0
    while [ $i -lt 300 ] && ! grep -q '@@DMP-EXIT' "$log" 2>/dev/null; do sleep 2; i=$((i + 1)); done
    if ! grep -q '@@DMP-EXIT 0' "$log" 2>/dev/null; then
        echo "stress-$m: FAILED (no '@@DMP-EXIT 0' within 600 s):"
        grep -E 'FAILED|ok":false|segfault|Oops|BUG' "$log" | head -5 || tail -5 "$log"
        rc=1
    else
        echo "stress-$m: $(grep -c '"ok":true' "$log") phase results, all ok"
    fi
    xl destroy "stress-$m" 2>/dev/null || true
done
exit $rc
