# Exits per fork+exec with the DMP fast path (Xen patches 0007, 0009) against the unpatched
# shadow guest, from the lab's perf counter snapshots (tests/lab/report.py). Two guests, one at
# a time, so that the host-wide counters of a phase belong to that guest:
#   pvh-shadow      unpatched (what passthrough mode also gives: same exits by construction)
#   pvh-shadow-dmp  patched live with `dmpctl dmp patch --mode $FPM_PATCH_MODE` while it waits
#                   at its first phase (the patch is not counted in any phase), then unpatched
#                   by the agent's end of run (the guest is destroyed; stats are read before)
# FPM_PATCH_MODE: fastpath (default; one hypercall per store) or log (lazy-MMU sections log
# their stores, one hypercall per section; needs the guest's kernel image: $LAB_IMAGES/vmlinuz).
# FPM_PHASES (default forkexec) and FPM_SCALE (default 0.5) choose the ptbench work;
# FPM_MODES=pvh-shadow runs the unpatched guest only.
# Exit 0 only if both guests passed their own checks, the patch used the mode asked for, and
# Xen counted fast path stores (and, in log mode, log flushes) during the patched guest's
# phases.
set -eu
. "$LAB_SCENARIOS/lib.sh"
export PATH=$PATH:/usr/bin
phases=$(echo "${FPM_PHASES:-forkexec}" | tr : ";")   # --set FPM_PHASES=a:b
scale=${FPM_SCALE:-0.5}
pmode=${FPM_PATCH_MODE:-fastpath}
popts="--mode $pmode"
[ "$pmode" = log ] && popts="$popts --kernel-image $LAB_IMAGES/vmlinuz"
rc=0
for mode in ${FPM_MODES:-pvh-shadow pvh-shadow-dmp}; do
    cfg=$(guest_config "$mode" pvh 0 256 "ptbench,--sync,--sync-timeout,900,--phases,$phases,--scale,$scale")
    set -- --counters
    [ $mode = pvh-shadow-dmp ] &&
        set -- "$@" --before-first-phase "dmpctl dmp patch $mode $popts --json > $LAB_OUT/$mode.patch.json 2> $LAB_OUT/$mode.patch.err"
    run_guest "$mode" "$cfg" 1200 "$@" || { echo "FAIL: $mode"; cat "$LAB_OUT/$mode.patch.err" 2>/dev/null || true; rc=1; }
done
# FPM_MODES=pvh-shadow: the unpatched guest alone (a control run, e.g. on another Xen).
[ "${FPM_MODES:-}" = pvh-shadow ] && exit $rc
cat "$LAB_OUT/pvh-shadow-dmp.patch.json" 2>/dev/null || true
grep -q "\"mode\": \"$pmode\"" "$LAB_OUT/pvh-shadow-dmp.patch.json" 2>/dev/null && echo "ok: patched in mode $pmode" ||
    { echo "FAIL: the patch did not report mode $pmode"; rc=1; }
# The agent's JSON carries each phase's counter deltas; the fast path stores must be there.
if grep -q '"dmp fastpath stores"' "$LAB_OUT/pvh-shadow-dmp.json" 2>/dev/null; then
    echo "ok: fast path perf counters present in the patched guest's phases"
else
    echo "FAIL: no 'dmp fastpath stores' counter in $LAB_OUT/pvh-shadow-dmp.json"; rc=1
fi
if [ "$pmode" = log ]; then
    grep -q '"dmp fastpath log flushes"' "$LAB_OUT/pvh-shadow-dmp.json" 2>/dev/null &&
        echo "ok: log flushes counted in the patched guest's phases" ||
        { echo "FAIL: no 'dmp fastpath log flushes' counter in $LAB_OUT/pvh-shadow-dmp.json"; rc=1; }
fi
exit $rc
