# Working-set estimation in the hypervisor (XEN_DOMCTL_dmp_wss sampling, driven by dmpd), in
# shadow mode and with HAP: a PVH guest runs wsswork with a known working set (WSS_A then
# WSS_B MiB); dmpd runs with the static policy (estimates only, targets never move) and its
# estimate is checked against the set the guest reports, in each phase. One guest at a time
# (a shadow guest under TCG is several times slower than a HAP one; together their phases
# would not overlap). Driven by what the guest reports (its own clock), so a slow host only
# makes it longer. Also measures the estimator's cost: the workload's touch rate with sampling
# off (per-domain override estimator=none in xenstore) and on, and dmpd's hypercall time.
set -eu
. "$LAB_SCENARIOS/lib.sh"
images_in_tmpfs
WSS_A=${WSS_A:-64}; WSS_B=${WSS_B:-160}; PHASE_A=${PHASE_A:-240}; PHASE_B=${PHASE_B:-120}
MEM=${MEM:-384}; NEED=${NEED:-8}; DEADLINE=${DEADLINE:-900}; MODES=${MODES:-sh:0,hap:1}
# Stated error: estimate - wsswork set within [-LO%, +HI MiB] (HI covers the guest kernel's,
# init's and wsswork's own memory, which the guest really uses besides the set).
LO=${LO:-10}; HI=${HI:-48}
grep -q 'xen_extra.*-dmp' <<EOT || { echo "not the DMP-patched hypervisor"; exit 1; }
$(xl info)
EOT
# dmpd's state on dom0's tmpfs (every step writes it; the 9p share made steps take seconds),
# copied to the run's results at the end.
st=/run/dmpd-state; mkdir -p "$st"
trap 'cp -r "$st" "$LAB_OUT/dmpd-state" 2>/dev/null || true' EXIT
cat > "$LAB_OUT/dmpd.conf" <<EOT
[global]
policy = static
interval = 5s
sample-pages = 2000
EOT
export DMPD_SOCKET=/run/dmp/dmpd.sock
dmpd --config "$LAB_OUT/dmpd.conf" --state-dir "$st" --log "$LAB_OUT/dmpd.log" 2> "$LAB_OUT/dmpd.stderr" &
dpid=$!
trap 'kill $dpid 2>/dev/null || true; cp -r "$st" "$LAB_OUT/dmpd-state" 2>/dev/null || true' EXIT
last() {  # GUEST FIELD -> the field of the guest's latest report (0 if none yet)
    # One awk over the file: busybox tail/grep pipelines on the 9p share, while xenconsoled
    # appends to the file, died with SIGSEGV in this lab.
    awk -v f="\"$2\":" 'index($0, "@@DMP-WSS") == 1 { l = $0 }
        END { v = 0; i = index(l, f); if (i) { v = substr(l, i + length(f)); sub(/[,}].*/, "", v) } print v + 0 }' \
        "$LAB_OUT/guests/guest-$1.log" 2>/dev/null || echo 0
}
fail=0
# dom0 gets four times a guest's CPU weight (the usual advice for Xen hosts): the samples below
# are taken in dom0 time while the phases run in guest time.
xl sched-credit2 -d Domain-0 -w 1024 || xl sched-credit -d Domain-0 -w 1024 ||
    echo "note: could not raise dom0's scheduler weight"
: > "$LAB_OUT/wss-trace.txt"
for m in $(echo "$MODES" | tr ',' ' '); do
    g=wss-${m%%:*}
    ov=/local/domain/0/dmp/balloon/$g/estimator
    try xenstore-write "$ov" none
    cfg=$(guest_config "$g" pvh "${m##*:}" "$MEM" \
          "wsswork,--schedule,${WSS_A}m:${PHASE_A}s;${WSS_B}m:${PHASE_B}s,--max-seconds,$((PHASE_A + PHASE_B + 30))")
    crashes0=$(crash_count)
    create_guest "$g" "$cfg"
    ids0=$(domids "$g")
    # Baseline: the guest holds WSS_A for 20 s of its own time with sampling off.
    full=; t=0
    while [ $t -lt 600 ]; do
        [ -z "$full" ] && [ "$(last $g set_bytes)" = $((WSS_A << 20)) ] && full=$(last $g t)
        [ "$full" = 0 ] && full=
        [ -n "$full" ] && awk -v a="$(last $g t)" -v b="$full" 'BEGIN { exit !(a - b >= 20) }' && break
        sleep 2; t=$((t + 2))
    done
    [ -n "$full" ] || { echo "FAIL: $g did not reach ${WSS_A} MiB within 600 s"; fail=1; continue; }
    t0=$(last $g t)
    try xenstore-write "$ov" sampling
    echo "$g: sampling on at guest time ${t0}s"
    s=0
    while [ $s -lt $DEADLINE ]; do
        echo "$s $g $(( $(last $g set_bytes) / 1048576 )) $(dmpctl mem-info "$g" 2>/dev/null | tail -n 1)" >> "$LAB_OUT/wss-trace.txt"
        c=$(awk -v g=$g -v a=$WSS_A -v b=$WSS_B '$2 == g && $9 ~ /^[0-9]+$/ { if ($3 == a) na++; if ($3 == b) nb++ }
                END { print (na < nb ? na : nb) + 0 }' "$LAB_OUT/wss-trace.txt")
        [ "$c" -ge $((NEED + 3)) ] && break
        grep -q '@@DMP-DONE' "$LAB_OUT/guests/guest-$g.log" && break
        sleep 5; s=$((s + 5))
    done
    # In each phase, skip the first 3 samples (the step change and the estimator's first
    # intervals), then require NEED samples and at most 2 outside [set*(100-LO)/100, set+HI].
    for want in $WSS_A $WSS_B; do
        res=$(awk -v g=$g -v w=$want -v lo=$((want * (100 - LO) / 100)) -v hi=$((want + HI)) '
            $2 == g && $3 == w && $9 ~ /^[0-9]+$/ { k++; if (k <= 3) next; n++; if ($9 >= lo && $9 <= hi) ok++; else bad++
                e = $9 - w; se += e; if (n == 1 || e > mx) mx = e; if (n == 1 || e < mn) mn = e }
            END { printf "%d %d %d %.1f %d %d", n, ok, bad, n ? se / n : 0, mn, mx }' "$LAB_OUT/wss-trace.txt")
        set -- $res
        echo "$g set ${want} MiB: $1 samples, $2 in [$((want * (100 - LO) / 100)), $((want + HI))] MiB, $3 outside; estimate - set: mean $4, min $5, max $6 MiB" | tee -a "$LAB_OUT/wss-result.txt"
        [ "$1" -ge "$NEED" ] && [ "$3" -le 2 ] || { echo "FAIL: estimate does not track $g at ${want} MiB"; fail=1; }
    done
    # Overhead: touch rate (pages per second of guest time) over the 20 s before sampling and
    # from 10 to 30 s after, at the same set size.
    grep '@@DMP-WSS' "$LAB_OUT/guests/guest-$g.log" | sed 's/^@@DMP-WSS //' |
        awk -v g=$g -v t0="$t0" -v a=$((WSS_A << 20)) '
            { t = $0; sub(/.*"t":/, "", t); sub(/,.*/, "", t); p = $0; sub(/.*"pages_touched":/, "", p); sub(/,.*/, "", p)
              s = $0; sub(/.*"set_bytes":/, "", s); sub(/,.*/, "", s)
              t += 0; p += 0; s += 0      # numbers: sub() leaves strings, which compare as text
              if (s != a) next
              if (t >= t0 - 20 && t <= t0) { if (!b0) { b0 = t; p0 = p } b1 = t; p1 = p }
              if (t >= t0 + 10 && t <= t0 + 30) { if (!c0) { c0 = t; q0 = p } c1 = t; q1 = p } }
            END { r0 = (b1 > b0) ? (p1 - p0) / (b1 - b0) : 0; r1 = (c1 > c0) ? (q1 - q0) / (c1 - c0) : 0
                  printf "overhead %s: touch rate %d pages/s without sampling, %d pages/s with (%+.1f%%)\n", g, r0, r1, r0 ? (r1 - r0) * 100 / r0 : 0 }' |
        tee -a "$LAB_OUT/wss-result.txt"
    grep "\"event\":\"sampling\",\"msg\":\"domain [0-9]* ($g)" "$LAB_OUT/dmpd.log" | tail -n 1 | tee -a "$LAB_OUT/wss-result.txt"
    grep -q 'Out of memory\|oom-kill' "$LAB_OUT/guests/guest-$g.log" && { echo "FAIL: OOM in $g"; fail=1; }
    grep -q '"ok":false' "$LAB_OUT/guests/guest-$g.log" && { echo "FAIL: wsswork in $g reported a failed check"; fail=1; }
    no_crash "$crashes0" "$ids0" || fail=1
    xl destroy "$g" 2>/dev/null || true
done
cat "$LAB_OUT/wss-trace.txt"
grep -q '"event":"estimator-unavailable"' "$LAB_OUT/dmpd.log" && { echo "FAIL: estimator unavailable"; grep estimator-unavailable "$LAB_OUT/dmpd.log"; fail=1; }
exit $fail
