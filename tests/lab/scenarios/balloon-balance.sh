# The memory balancer end to end: three PVH guests (shadow paging; HAP=1: gc and ga on HAP)
# run wsswork; guest ga's working set ramps up past its allocation and falls back, gb and gc
# stay small. dmpd (policy POLICY, default balance) must move memory to ga while it needs it
# and give it back afterwards, never exceed the host budget, and no guest process may be
# OOM-killed.
# Run with --mem 3072. Writes $OUTDIR/balance-trace.txt and the decision log.
set -eu
. "$LAB_SCENARIOS/lib.sh"
images_in_tmpfs
PREFIX=${PREFIX:-}; OUTDIR=${OUTDIR:-$LAB_OUT}
POLICY=${POLICY:-balance}; BUDGET=${BUDGET:-1024}; RESERVE=${RESERVE:-32}; HAP=${HAP:-0}
MEM=${MEM:-320}; MAXMEM=${MAXMEM:-640}   # gb, gc: MEM; ga: MAXMEM
grep -q 'xen_extra.*-dmp' <<EOT || { echo "not the DMP-patched hypervisor"; exit 1; }
$(xl info)
EOT
# dmpd's state on dom0's tmpfs (every step writes it; the 9p share made steps take seconds),
# copied to the run's results at the end.
st=/run/dmpd-state-$POLICY; mkdir -p "$st"
trap 'cp -r "$st" "$OUTDIR/dmpd-state" 2>/dev/null || true' EXIT
cat > "$OUTDIR/dmpd.conf" <<EOT
[global]
policy = $POLICY
budget = ${BUDGET}m
reserve = ${RESERVE}m
interval = 5s
sample-pages = 2000
min = 128m
min-change-interval = 5s
stuck-timeout = 40s
# HAP=1 runs gc and ga on HAP and samples them (off by default: see docs/BALLOON.md).
hap-sampling = $HAP
EOT
export DMPD_SOCKET=/run/dmp/dmpd.sock
# ga's set grows by 48 MiB every 20 s (once each size is reached): about 2.4 MiB/s, which a
# 5 s control loop follows (sampling sees a size one interval late, the policy acts the next
# step, the other balloons deflate within a few seconds). At 48 MiB per 8 s (6 MiB/s) the
# guest's kernel OOM-killed wsswork before the balancer had moved memory to it (run bb-4).
ramp="48m:40s;96m:20s;144m:20s;192m:20s;240m:20s;288m:20s;336m:60s;48m:80s"
started() { grep -q '@@DMP-WSS' "$LAB_OUT/guests/guest-$PREFIX$1.log" 2>/dev/null; }
# gb and gc hold small sets for the whole run; ga ramps up and down.
# All three are built paused before any runs (dmpd already up): building a guest decompresses its kernel in
# dom0, and with busy guests already running that decompression failed ("unable to XZ
# decompress kernel") in this lab, up to four times in a row (docs/LAB.md).
# ga boots with MAXMEM (memory = maxmem: no populate-on-demand), more than the budget leaves
# it: the balancer first takes the excess back while ga is idle, then must return it.
# dom0 gets four times a guest's CPU weight (the usual advice for Xen hosts): with three busy
# guests on two emulated CPUs, an equal share left dmpd so slow that a guest's whole
# schedule passed before the daemon had started.
xl sched-credit2 -d Domain-0 -w 1024 || xl sched-credit -d Domain-0 -w 1024 ||
    echo "note: could not raise dom0's scheduler weight"
dmpd --config "$OUTDIR/dmpd.conf" --state-dir "$st" --log "$OUTDIR/dmpd.log" 2> "$OUTDIR/dmpd.stderr" &
dpid=$!
trap 'kill $dpid 2>/dev/null || true; cp -r "$st" "$OUTDIR/dmpd-state" 2>/dev/null || true' EXIT
t=0
until dmpctl balance status >/dev/null 2>&1; do
    t=$((t + 1)); [ $t -lt 120 ] || { echo "FAIL: dmpd did not answer within 120 s"; exit 1; }
    sleep 1
done
# gb and gc report every 5 s (ga every second): every console line is logged by dom0 over 9p.
# All three run under shadow paging: sampled HAP guests triple-faulted in this lab (runs
# bb-7, bb-8, bc-1: ten crashes, every one a HAP guest, also under the static policy where no
# balloon moved), each silently rebooted by xl; see docs/BALLOON.md. HAP=1 puts gc and ga
# back on HAP.
# Each guest touches its set at a bounded rate (pages/s): a working set is what a guest touches
# within the sampling interval (5 s), and gb and gc pass over theirs every 1-2 s, ga over its
# largest (336 MiB) every 2.6 s. Touching as fast as possible measured the same sets but kept
# both emulated CPUs busy (181 % of the host), which made the guests' boot take three minutes.
for spec in "gb 0 $MEM 64m:1500s 5s 8192" "gc $HAP $MEM 32m:1500s 5s 8192" "ga $HAP $MAXMEM $ramp 1s 32768"; do
    set -- $spec
    cfg=$(guest_config "$PREFIX$1" pvh "$2" "$3" "wsswork,--schedule,$4,--interval,$5,--touch-rate,$6,--hold-at-size,--max-seconds,1500")
    create_guest "$PREFIX$1" "$cfg" -p
done
# Guest crashes so far (xl dmesg is Xen's console ring): a crashed guest is restarted by xl
# and its workload starts over, which the other checks would not notice.
crashes0=$(crash_count); ids0=$(domids "${PREFIX}ga" "${PREFIX}gb" "${PREFIX}gc")
# Unpaused together: a paused guest's balloon cannot move, and the policy would count it as
# stuck if it waited for the others to boot.
for g in gb gc ga; do try xl unpause "$PREFIX$g"; done
# Static allocation, fairly: the budget split once and never changed (ga boots with MAXMEM,
# more than the budget leaves it; the static policy itself moves nothing).
if [ "$POLICY" = static ]; then
    try xl mem-set "${PREFIX}ga" $((BUDGET - RESERVE - 2 * MEM))m
fi
# The trace starts at once: a shadow guest booting next to two busy ones took over four
# minutes, by which time ga (HAP) had run its whole schedule. Its time column is dom0's clock
# (seconds since the guests were unpaused), not a count of loop turns: under load one turn
# of this loop has taken a minute.
: > "$OUTDIR/balance-trace.txt"
t0=$(date +%s); s=0
while [ $s -lt 1500 ]; do
    for g in ga gb gc; do
        # The last report line from the tail of the console log (the whole log grows by a line
        # a second per guest and is read over 9p).
        set_b=$(tail -c 4096 "$LAB_OUT/guests/guest-$PREFIX$g.log" 2>/dev/null |
            awk -v f='"set_bytes":' 'index($0, "@@DMP-WSS") == 1 { l = $0 }
            END { v = 0; i = index(l, f); if (i) { v = substr(l, i + length(f)); sub(/[,}].*/, "", v) } print v + 0 }' || echo 0)
        echo "$s $g $((${set_b:-0} / 1048576)) $(dmpctl mem-info "$PREFIX$g" 2>/dev/null | tail -n 1)" >> "$OUTDIR/balance-trace.txt"
    done
    # DONE when wsswork finished its schedule, EXIT also when it was killed (OOM).
    grep -q '@@DMP-DONE\|@@DMP-EXIT' "$LAB_OUT/guests/guest-${PREFIX}ga.log" && break
    sleep 5; s=$(($(date +%s) - t0))
done
for g in gb gc ga; do
    started "$g" || { echo "FAIL: wsswork did not start in $PREFIX$g within ${s}s"; exit 1; }
done
dmpctl balance status > "$OUTDIR/balance-status.txt" 2>&1 || true
dmpctl balance metrics --prom > "$OUTDIR/balance-metrics.prom" 2>&1 || true
cat "$OUTDIR/balance-trace.txt"
fail=0
# 1. sum of targets <= budget - reserve at every step once it first fit (the guests boot with
#    more than the budget; until the balloons gave it back the sum may only go down), and
#    no step leaves out a guest that was decided for before and after it (such a step handed
#    that guest's memory to the others: run bb-7).
awk -v lim=$(( (BUDGET - RESERVE) * 1024 )) '
    { t = $0; sub(/.*"time_ms":/, "", t); sub(/,.*/, "", t)
      v = $0; sub(/.*"new_target_kib":/, "", v); sub(/,.*/, "", v)
      g = $0; sub(/.*"domain":"/, "", g); sub(/".*/, "", g)
      if (!(t in sum)) order[++n] = t; sum[t] += v; in_step[n, g] = 1
      if (!(g in first)) first[g] = n; last[g] = n }
    END { fit = 0; bad = 0; prev = -1
          for (g in first) for (i = first[g]; i <= last[g]; i++)
              if (!((i, g) in in_step)) { bad++; print "step", order[i], "left out", g }
          for (i = 1; i <= n; i++) { x = sum[order[i]]
              if (fit && x > lim) { bad++; print "over budget at", order[i], x }
              if (!fit && prev >= 0 && x > prev) { bad++; print "overcommitted sum grew at", order[i], x }
              if (x <= lim && !fit) { fit = 1; print "fits the budget from step", i }
              prev = x }
          print n, "steps checked, limit", lim, "KiB,", bad, "violations"; exit (bad > 0 || !fit) }' \
    "$st/balloon-decisions.jsonl" || { echo "FAIL: budget exceeded or a guest left out of a step"; fail=1; }
grep '"step-skipped"' "$OUTDIR/dmpd.log" | head -n 5 || true
# 2. no guest crashed, no OOM, no workload saw wrong data (wsswork checks every page it
#    touches)
no_crash "$crashes0" "$ids0" || fail=1
for g in ga gb gc; do
    f=$LAB_OUT/guests/guest-$PREFIX$g.log
    grep -q 'Out of memory\|oom-kill\|oom_reaper' "$f" && { echo "FAIL: OOM in $g"; fail=1; }
    grep -q '"ok":false' "$f" && { echo "FAIL: wsswork in $g reported a failed check"; fail=1; }
done
if [ "$POLICY" = balance ]; then
    # 3. ga got memory while its set was 336 MiB: peak target >= set + 32 MiB, reached within
    #    60 s of the set reaching 336 MiB; 4. it gave memory back: its target at the end is at
    #    least 96 MiB below the peak.
    first=$(awk '$2 == "ga" && $3 >= 336 { print $1; exit }' "$OUTDIR/balance-trace.txt")
    [ -n "$first" ] || { echo "FAIL: ga never reported a 336 MiB set"; fail=1; first=0; }
    got=$(awk -v f="$first" '$2 == "ga" && $1 >= f && $6 >= 368 { print $1; exit }' "$OUTDIR/balance-trace.txt")
    # The peak from the moment the set reached 336 MiB: before, ga's target is its boot size
    # (MAXMEM), which would make the give-back check pass on its own.
    peak=$(awk -v f="$first" '$2 == "ga" && $1 >= f && $6 ~ /^[0-9]+$/ && $6 > p { p = $6 } END { print p + 0 }' "$OUTDIR/balance-trace.txt")
    last=$(awk '$2 == "ga" { v = $6 } END { print v + 0 }' "$OUTDIR/balance-trace.txt")
    echo "ga: set 336 MiB at t=$first s, target >= 368 MiB at t=${got:-never} s, peak $peak MiB, last $last MiB"
    [ -n "$got" ] && [ $((got - first)) -le 60 ] || { echo "FAIL: memory did not reach ga within 60 s"; fail=1; }
    [ $((peak - last)) -ge 96 ] || { echo "FAIL: ga kept its memory after demand fell"; fail=1; }
    grep '@@DMP-DONE {"ok":true' "$LAB_OUT/guests/guest-${PREFIX}ga.log" >/dev/null || { echo "FAIL: wsswork in ga did not finish ok"; fail=1; }
    grep -q "\"domain\":\"${PREFIX}ga\".*\"reason\":\"grow" "$st/balloon-decisions.jsonl" || { echo "FAIL: no grow decision for ga"; fail=1; }
    grep -q '"reason":"shrink"' "$st/balloon-decisions.jsonl" || { echo "FAIL: no shrink decision"; fail=1; }
fi
for g in ga gb gc; do xl destroy "$PREFIX$g" 2>/dev/null || true; done
exit $fail
