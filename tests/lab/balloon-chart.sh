#!/usr/bin/env bash
# balloon-chart.sh COMPARE_JSON OUT_PNG: chart of a balloon-compare lab run (static vs
# proportional vs balance): guest ga's target and its workload's set size over time, per
# policy, and each policy's workload throughput (pages touched per second, all guests) and
# OOM kills.
set -euo pipefail
json=${1:?usage: balloon-chart.sh COMPARE_JSON OUT_PNG}
png=${2:?usage: balloon-chart.sh COMPARE_JSON OUT_PNG}
command -v gnuplot >/dev/null || { echo "balloon-chart: gnuplot is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$json" "$tmp" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
out = sys.argv[2]
with open(f"{out}/summary.dat", "w") as s:
    for i, p in enumerate(doc["policies"]):
        name = p["policy"]
        with open(f"{out}/{name}.dat", "w") as f:
            for r in p["trace"]:
                if r["guest"] == "ga":
                    f.write(f'{r["t"]} {r["target_mib"]} {r["set_mib"]} {r["actual_mib"]}\n')
        # Throughput as a rate: a round ends when ga's workload ends, finished or killed, so
        # totals would compare rounds of different lengths.
        rate = 0.0
        for g in p["guests"]:
            r = g["done"] or g["last_report"] or {}
            if r.get("t"):
                rate += r.get("pages_touched", 0) / r["t"]
        ooms = sum(g["oom_kills"] for g in p["guests"])
        s.write(f'{i} {name} {rate / 1e6:.2f} {ooms}\n')
PY
gnuplot <<EOT
set terminal pngcairo size 1100,450 font ",10"
set output "$png"
set multiplot layout 1,2 title "Memory balancing: static vs proportional (squeezed-like) vs working-set balance"
set title "guest ga: target (lines) and its working set (points)"
set xlabel "seconds"; set ylabel "MiB"; set key top left
plot "$tmp/static.dat" u 1:2 w l lw 2 t "static target", \
     "$tmp/proportional.dat" u 1:2 w l lw 2 t "proportional target", \
     "$tmp/balance.dat" u 1:2 w l lw 2 t "balance target", \
     "$tmp/balance.dat" u 1:3 w p pt 7 ps 0.5 t "ga working set (wsswork)"
set title "all guests: workload throughput, Mpages touched/s (bars); OOM kills (labels)"
set style data histograms; set style fill solid 0.6; set boxwidth 0.6
set xlabel ""; set ylabel "Mpages/s"; unset key; set yrange [0:*]; set offsets 0, 0, graph 0.12, 0
plot "$tmp/summary.dat" u 3:xtic(2) w boxes, "" u 1:3:(sprintf("OOM %d", \$4)) w labels offset 0,1
unset multiplot
EOT
echo "wrote $png"
