# Two busy guests at once, for a bounded time: the reproducer (and regression test) for the
# memory corruption seen when two guests compete for the emulated CPUs (docs/LAB.md).
# PAIR_MODES=a:b (each shadow or hap, default shadow:shadow), PAIR_SECONDS (default 240),
# PAIR_PHASES (ptbench phases, ';'-separated, default pipeline). Both guests run the phases
# forever; the scenario fails if either guest reports a failed check or a segfault, or never
# finishes a round.
set -u
. "$LAB_SCENARIOS/lib.sh"
modes=${PAIR_MODES:-shadow:shadow}
secs=${PAIR_SECONDS:-240}
phases=${PAIR_PHASES:-pipeline}
names=""
i=0
for m in $(echo "$modes" | tr ':' ' '); do
    case $m in shadow) hap=0 ;; hap) hap=1 ;; *) echo "PAIR_MODES: '$m' is not shadow or hap"; exit 2 ;; esac
    i=$((i + 1)); g="p$i-$m"; names="$names $g"
    cfg=$(guest_config "$g" pvh $hap 192 "ptbench,--rounds,0,--scale,0.3,--phases,$phases")
    create_guest "$g" "$cfg" -p || exit 1
done
for g in $names; do xl unpause "$g"; done
echo "running$names for ${secs}s (phases $phases)"
sleep "$secs"
rc=0
for g in $names; do
    log="$LAB_OUT/guests/guest-$g.log"
    okn=$(grep -c '"ok":true' "$log" 2>/dev/null); bad=$(grep -c '"ok":false' "$log" 2>/dev/null)
    segv=$(grep -ci 'segmentation fault\|segfault' "$log" 2>/dev/null)
    oops=$(grep -c 'Oops\|BUG:\|Kernel panic' "$log" 2>/dev/null)
    echo "$g: ${okn:-0} ok, ${bad:-0} failed, ${segv:-0} segfaults, ${oops:-0} kernel errors"
    if [ "${okn:-0}" -lt 1 ] || [ "${bad:-0}" -gt 0 ] || [ "${segv:-0}" -gt 0 ] || [ "${oops:-0}" -gt 0 ]; then
        rc=1
        grep -iE 'ok":false|segmentation|segfault|Oops|BUG:|panic' "$log" | head -5
    fi
    xl destroy "$g" 2>/dev/null || true
done
exit $rc
