#!/usr/bin/env bash
# bench-chart.sh WORKLOAD_JSON OUT_PNG: chart of a benchmark run (tests/lab/report.py --json):
# per phase, what each paging mode costs in hypervisor entries per operation (VM exits for
# PVH guests, hypercalls + trapped exceptions for PV; log scale) and the time per operation
# as a ratio to HAP measured in the same run.
set -euo pipefail
json=${1:?usage: bench-chart.sh WORKLOAD_JSON OUT_PNG}
png=${2:?usage: bench-chart.sh WORKLOAD_JSON OUT_PNG}
command -v gnuplot >/dev/null || { echo "bench-chart: gnuplot is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$json" "$tmp" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
out = sys.argv[2]
modes = [m for m in ("pv", "pvh-hap", "pvh-shadow", "pvh-shadow-dmp") if any(r["mode"] == m for r in rows)]
phases = []
for r in rows:
    if r["phase"] not in phases:
        phases.append(r["phase"])
cell = {(r["mode"], r["phase"]): r for r in rows}
def entries(r):
    if r["mode"] == "pv":
        return r["hypercalls_per_op"] + r["pv_traps_per_op"]
    return r["exits_per_op"]
with open(f"{out}/modes.txt", "w") as f:
    f.write(" ".join(modes) + "\n")
for name, fn in (("entries", entries), ("ratio", lambda r: r["time_vs_hap"] or 0)):
    with open(f"{out}/{name}.dat", "w") as f:
        f.write("phase " + " ".join(modes) + "\n")
        for p in phases:
            vals = []
            for m in modes:
                r = cell.get((m, p))
                v = fn(r) if r else 0
                vals.append(f"{max(v, 0.01):.4g}")   # log scale: a zero shows as the floor
            f.write(p + " " + " ".join(vals) + "\n")
PY
n=$(wc -w < "$tmp/modes.txt")
gnuplot <<EOT
set terminal pngcairo size 1200,460 font ",10"
set output "$png"
set multiplot layout 1,2 title "Page-table workloads per paging mode (lab: Xen 4.17 under QEMU TCG, one run)"
set style data histograms; set style histogram clustered gap 1; set style fill solid 0.7 border -1
set boxwidth 0.9; set key top left; set xtics rotate by -20
set title "hypervisor entries per operation (PVH: VM exits; PV: hypercalls + traps)"
set logscale y; set yrange [0.1:*]; set ylabel "per op (log)"
plot for [i=2:$((n + 1))] "$tmp/entries.dat" u i:xtic(1) t columnheader(i)
set title "time per operation relative to PVH+HAP (same run)"
unset logscale y; set yrange [0:*]; set ylabel "x HAP"
plot for [i=2:$((n + 1))] "$tmp/ratio.dat" u i:xtic(1) t columnheader(i)
unset multiplot
EOT
echo "wrote $png"
