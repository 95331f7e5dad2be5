# The page-table workload in each paging mode, one guest at a time so that the host-wide
# hypervisor counters of a phase belong to that guest. WORKLOAD_SCALE multiplies the
# iteration counts (run.sh --set WORKLOAD_SCALE=0.5). pvh-shadow-dmp is the shadow guest
# patched live by `dmpctl dmp patch` (arguments DMP_PATCH_ARGS) once its kernel is up, while
# it waits at its first phase: the patch is not counted in any phase.
set -eu
. "$LAB_SCENARIOS/lib.sh"
scale=${WORKLOAD_SCALE:-1}
xl info | grep -E '^(xen_version|virt_caps)' > "$LAB_OUT/xl-info.txt"
rc=0
for mode in $(echo "${WORKLOAD_MODES:-pvh-shadow pvh-shadow-dmp pvh-hap pv}" | tr : " "); do
    case $mode in
        pvh-shadow|pvh-shadow-dmp) type=pvh hap=0 ;;
        pvh-hap) type=pvh hap=1 ;;
        pv) type=pv hap=0 ;;
    esac
    cfg=$(guest_config "$mode" $type $hap 256 "ptbench,--sync,--sync-timeout,900,--scale,$scale")
    set -- --counters
    [ $mode = pvh-shadow-dmp ] &&
        set -- "$@" --before-first-phase "dmpctl dmp patch $mode --json ${DMP_PATCH_ARGS:-} > $LAB_OUT/$mode.patch.json"
    run_guest "$mode" "$cfg" 900 "$@" || rc=1
done
exit $rc
