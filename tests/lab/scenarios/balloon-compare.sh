# Comparison in one lab run: the balloon-balance workload (ga's working set ramps past its
# allocation and falls back; gb, gc small) under the static policy, a proportional policy like
# XAPI squeezed's, and the working-set balancer. Writes $LAB_OUT/compare.json (per policy: each
# guest's wsswork summary, OOM kills, and the target/actual/estimate trace) for
# tests/lab/balloon-chart.sh. Not a pass/fail test: it exits 0 when all three runs produced data.
# Run with --mem 3072 --timeout 1500.
set -eu
out=$LAB_OUT
json=$out/compare.json
echo '{"policies":[' > "$json"
first=1
for p in static proportional balance; do
    mkdir -p "$out/$p/guests"
    echo "=== policy $p"
    # xenconsoled logs into $out/guests; each run's guests get fresh names (prefix) so the logs
    # do not mix.
    set +e
    LAB_OUT=$out OUTDIR=$out/$p POLICY=$p PREFIX=$p- sh "$LAB_SCENARIOS/balloon-balance.sh" > "$out/$p/scenario.log" 2>&1
    rc=$?
    set -e
    tail -n 12 "$out/$p/scenario.log"
    [ $first = 1 ] || echo ',' >> "$json"
    first=0
    printf '{"policy":"%s","scenario_exit":%d,"guests":[' "$p" "$rc" >> "$json"
    sep=
    for g in ga gb gc; do
        f=$out/guests/guest-$p-$g.log
        done_json=$(grep '@@DMP-DONE' "$f" 2>/dev/null | tail -n 1 | sed 's/^@@DMP-DONE //')
        last_wss=$(grep '@@DMP-WSS' "$f" 2>/dev/null | tail -n 1 | sed 's/^@@DMP-WSS //')
        oom=$(grep -c 'oom-kill\|Out of memory' "$f" 2>/dev/null || true)
        printf '%s{"guest":"%s","oom_kills":%d,"done":%s,"last_report":%s}' "$sep" "$g" "${oom:-0}" \
            "${done_json:-null}" "${last_wss:-null}" >> "$json"
        sep=,
    done
    printf '],"trace":[' >> "$json"
    awk 'BEGIN { s = "" } $9 ~ /^[0-9]+$/ || $9 == "unknown" {
             w = ($9 == "unknown") ? "null" : $9
             printf "%s{\"t\":%d,\"guest\":\"%s\",\"set_mib\":%d,\"target_mib\":%d,\"actual_mib\":%d,\"wss_mib\":%s}", s, $1, $2, $3, $6, $7, w; s = "," }' \
        "$out/$p/balance-trace.txt" >> "$json" 2>/dev/null || true
    printf ']}' >> "$json"
done
echo ']}' >> "$json"
echo "wrote $json"
