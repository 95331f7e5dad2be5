#!/usr/bin/env bash
# make demo: boot real Xen (ours) in QEMU and run the page-table workload in a PVH+shadow guest,
# a PVH+shadow guest whose running kernel dmpctl patches live (DMP), a PVH+HAP and a PV guest,
# then print what each paging mode costs per operation.
set -euo pipefail
. "$(dirname "$0")/../../scripts/config.sh"
scale=${DEMO_SCALE:-1}
log "demo: booting the lab; four guests run ptbench one after the other (about 3 minutes)"
"$TOP/tests/lab/run.sh" --scenario workload --timeout 1500 --run-id demo --set "WORKLOAD_SCALE=$scale"
run="$BUILD/lab/runs/demo"
echo
echo "Xen: $(grep xen_version "$run/xl-info.txt" | sed 's/.*: //'), guests: Debian's unmodified $(guest_kernel_release)"
echo "Time per operation is the guest's clock, shown as a ratio to PVH+HAP in this same run;"
echo "event counts are Xen perf counter deltas over each phase, per operation."
echo
"$TOP/tests/lab/report.py" "$run"
echo
echo "Raw results: $run/*.json"
