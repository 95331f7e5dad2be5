# The page-table workload in each paging mode, one guest at a time so that the host-wide
# hypervisor counters of a phase belong to that guest. WORKLOAD_SCALE multiplies the
# iteration counts (run.sh --set WORKLOAD_SCALE=0.5).
set -eu
. "$LAB_SCENARIOS/lib.sh"
scale=${WORKLOAD_SCALE:-1}
xl info | grep -E '^(xen_version|virt_caps)' > "$LAB_OUT/xl-info.txt"
rc=0
for mode in pvh-shadow pvh-hap pv; do
    case $mode in
        pvh-shadow) type=pvh hap=0 ;;
        pvh-hap) type=pvh hap=1 ;;
        pv) type=pv hap=0 ;;
    esac
    cfg=$(guest_config "$mode" $type $hap 256 "ptbench,--sync,--scale,$scale")
    run_guest "$mode" "$cfg" 600 --counters || rc=1
done
exit $rc
