#!/usr/bin/env bash
# make bench: the page-table benchmark across paging modes (PV, PVH+HAP, PVH+shadow, PVH+shadow
# patched live by DMP) in one lab run, written as a Markdown table (for docs/RESULTS.md), JSON
# and a PNG chart under build/bench/.
set -euo pipefail
. "$(dirname "$0")/../../scripts/config.sh"
scale=${BENCH_SCALE:-1}
out="$BUILD/bench"
mkdir -p "$out"
"$TOP/tests/lab/run.sh" --scenario workload --timeout 1800 --run-id bench --set "WORKLOAD_SCALE=$scale"
run="$BUILD/lab/runs/bench"
"$TOP/tests/lab/report.py" "$run" --check --markdown | tee "$out/workload.md"
"$TOP/tests/lab/report.py" "$run" --json > "$out/workload.json"
"$TOP/tests/lab/bench-chart.sh" "$out/workload.json" "$out/bench.png"
{
    echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(. /etc/os-release && echo "$PRETTY_NAME"), QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}') TCG"
    echo "xen: $(grep xen_version "$run/xl-info.txt" | sed 's/.*: //'), guest kernel: $(guest_kernel_release), scale: $scale"
} | tee "$out/machine.txt"
log "bench results in $out"
