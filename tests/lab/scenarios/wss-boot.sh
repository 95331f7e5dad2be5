# Access sampling from a guest's first instruction: guests are created paused, `dmpctl
# mem-sample` arms a first sample of each, the guests are unpaused and sampled through their
# boot and a short run of wsswork. PARALLEL guests boot together (load like the balloon
# scenarios'), or one after the other with STAGGER=1 (each unpaused once the previous one's
# init runs); SAMPLE=0 boots the same guests unsampled, the control; SHRINK=N has each guest's
# balloon give back N MiB as it boots (xl mem-set), which splits p2m superpages the ordinary way.
# With these knobs it separated the lab's two nested-paging artefacts from the sampler (docs/
# LAB.md); as a test (one guest at a time) it shows that sampling a guest from its first
# instruction, through boot and a workload, harms neither a HAP nor a shadow guest.
# Fails when any guest crashes or restarts, does not finish its run (exit 0), or (SAMPLE=1) was
# sampled fewer than 5 rounds.
set -eu
. "$LAB_SCENARIOS/lib.sh"
images_in_tmpfs
MODES=${MODES:-hap:1,sh:0}; BOOTS=${BOOTS:-3}; PARALLEL=${PARALLEL:-1}; SAMPLE=${SAMPLE:-1}
ROUNDS=${ROUNDS:-60}; INTERVAL=${INTERVAL:-500}; PAGES=${PAGES:-2000}; MEM=${MEM:-384}
RUN=${RUN:-20}; STAGGER=${STAGGER:-0}; SHRINK=${SHRINK:-0}
grep -q 'xen_extra.*-dmp' <<EOT || { echo "not the DMP-patched hypervisor"; exit 1; }
$(xl info)
EOT
fail=0
: > "$LAB_OUT/wss-boot.txt"
for m in $(echo "$MODES" | tr ',' ' '); do
    mode=${m%%:*}
    for b in $(seq 1 "$BOOTS"); do
        gs=; pids=
        crashes0=$(crash_count)
        for p in $(seq 1 "$PARALLEL"); do
            g=wb-$mode-$b-$p; gs="$gs $g"
            cfg=$(guest_config "$g" pvh "${m##*:}" "$MEM" \
                  "wsswork,--schedule,32m:${RUN}s,--max-seconds,$((RUN + 30))")
            create_guest "$g" "$cfg" -p
        done
        ids0=$(domids $gs)
        t0=$(date +%s)
        if [ "$SAMPLE" = 1 ]; then
            # The first sample is armed while the guest has not run a single instruction.
            for g in $gs; do
                timeout $((ROUNDS * INTERVAL / 1000 + 120)) dmpctl mem-sample "$g" --rounds "$ROUNDS" \
                    --interval-ms "$INTERVAL" --pages "$PAGES" > "$LAB_OUT/$g.sample" 2>&1 &
                pids="$pids $!"
            done
            sleep 2
        fi
        for g in $gs; do
            xl unpause "$g"
            [ "$SHRINK" = 0 ] || xl mem-set "$g" $((MEM - SHRINK))m
            [ "$STAGGER" = 1 ] || continue
            t=0
            until grep -q '^@@DMP-GUEST-UP' "$LAB_OUT/guests/guest-$g.log" 2>/dev/null || [ $t -ge 120 ]; do
                sleep 2; t=$((t + 2))
            done
        done
        # Each guest boots, runs wsswork RUN s and reports its exit; bounded (a TCG boot takes
        # well under a minute even with three guests).
        t=0
        while [ $t -lt 300 ]; do
            left=0
            for g in $gs; do
                grep -q '^@@DMP-EXIT' "$LAB_OUT/guests/guest-$g.log" 2>/dev/null ||
                    { xl domid "$g" >/dev/null 2>&1 && left=1; }
            done
            [ $left = 0 ] && break
            sleep 2; t=$((t + 2))
        done
        for pid in $pids; do wait "$pid" || true; done
        rc=0; out=$(no_crash "$crashes0" "$ids0") || rc=1
        for g in $gs; do
            up=$(grep -q '^@@DMP-EXIT 0' "$LAB_OUT/guests/guest-$g.log" 2>/dev/null && echo yes || echo no)
            rounds=$(grep -c '^round' "$LAB_OUT/$g.sample" 2>/dev/null || true)
            echo "$g: sampled rounds ${rounds:-0}, finished ok: $up" | tee -a "$LAB_OUT/wss-boot.txt"
            [ "$up" = yes ] || { echo "FAIL: $g did not finish its run"; tail -n 5 "$LAB_OUT/guests/guest-$g.log" 2>/dev/null || true; fail=1; }
            [ "$SAMPLE" = 0 ] || [ "${rounds:-0}" -ge 5 ] ||
                { echo "FAIL: $g: fewer than 5 sampled rounds"; tail -n 3 "$LAB_OUT/$g.sample" || true; fail=1; }
            xl destroy "$g" 2>/dev/null || true
        done
        echo "$mode boot $b ($PARALLEL guests, sampled: $SAMPLE): crash: $([ $rc = 0 ] && echo no || echo YES), $(( $(date +%s) - t0 )) s" |
            tee -a "$LAB_OUT/wss-boot.txt"
        [ $rc = 0 ] || { echo "$out"; fail=1; }
    done
done
xl dmesg | grep -E "dmp_wss|$CRASH_LINES" | tail -n 20 || true
[ $fail = 0 ] && echo "PASS: no guest crashed" || echo "FAIL: see above"
exit $fail
