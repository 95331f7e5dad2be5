# Smoke test: Xen is ours, one PVH shadow-paging guest boots Debian's kernel and runs a
# short workload to completion with correct results.
set -eu
. "$LAB_SCENARIOS/lib.sh"
xl info | grep -E '^(xen_version|xen_extra|xen_caps|virt_caps)' | tee "$LAB_OUT/xl-info.txt"
grep -q 'xen_extra.*-dmp' "$LAB_OUT/xl-info.txt" || { echo "not the DMP-patched hypervisor"; exit 1; }
cfg=$(guest_config smoke pvh 0 128 "ptbench,--sync,--scale,0.05")
run_guest smoke "$cfg" 300 --counters
