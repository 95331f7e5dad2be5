# Live patching of a running guest: 'dmpctl dmp patch / status / unpatch' on a PVH shadow guest
# busy with ptbench (forever). Mode is passthrough: the stubs' hv_update does the original
# write, so exits are unchanged; what is proven here is the patching machinery.
# Checks: patch gives N > 0 sites and status agrees (sites patched in guest memory, stub area
# installed); the workload keeps passing its own checks after the patch (new ok results, no
# "ok":false, no BUG:/Oops on the console); patching again is a no-op; unpatch restores the
# kernel text [_stext, _etext) byte for byte; 10 patch/unpatch cycles while the workload runs
# (one of them undone from the journal file alone, xenstore copy removed: a toolstack restart
# that lost xenstore state); the guest is never left paused. Refusals: a HAP guest (exit 3,
# "nothing to do"), a guest whose kernel is not running yet (created paused: no 64-bit vCPU,
# exit 1, untouched, no journal), an unknown domain (exit 2).
set -eu
. "$LAB_SCENARIOS/lib.sh"
# All six phases: the pipeline (many processes, compression, output checked) is the most
# sensitive check that a patched kernel still runs user space correctly.
PT_PHASES=$(echo "${PT_PHASES:-forkexec:mmap:mprotect:pagefault:fork:pipeline}" | tr : ";")   # --set PT_PHASES=a:b


G=lp-shadow
LOG="$LAB_OUT/guests/guest-$G.log"
not_paused() { xl list "$1" | awk 'NR == 2 { exit index($5, "p") ? 1 : 0 }'; }
record_time() { echo "$*" >> "$LAB_OUT/dmp-patch-times.txt"; }

echo "== start $G (PVH, shadow paging, ptbench forever)"
cfg=$(guest_config $G pvh 0 192 "ptbench,--rounds,0,--scale,0.2,--phases,$PT_PHASES")
create_guest $G "$cfg" || exit 1
# Bounded, but generous: on a loaded host (several TCG labs at once) the boot takes minutes.
if ! wait_results $G 1 ${BOOT_WAIT:-600}; then
    echo "FAIL: $G did not reach its workload"; tail -n 20 "$LOG" || true; exit 1
fi
ok "$G running its workload ($(results $G) results)"

set +e
dmpctl dmp status $G > "$LAB_OUT/status0.txt" 2>&1; rc=$?
set -e
[ $rc = 0 ] && grep -q "not patched" "$LAB_OUT/status0.txt" && ok "status before: $(cat "$LAB_OUT/status0.txt")" ||
    bad "status before: exit $rc: $(cat "$LAB_OUT/status0.txt")"

dmpctl dmp status $G --dump-text $LAB_OUT/text.before > /dev/null 2> "$LAB_OUT/dump0.err" ||
    { echo "FAIL: cannot dump the kernel text: $(cat "$LAB_OUT/dump0.err")"; exit 1; }
ok "kernel text dumped: $(wc -c < $LAB_OUT/text.before) bytes, md5 $(md5sum < $LAB_OUT/text.before | cut -c1-32)"

echo "== patch"
before=$(results $G)
t0=$(date +%s)
set +e
dmpctl dmp patch $G --json > "$LAB_OUT/patch1.json" 2> "$LAB_OUT/patch1.err"; rc=$?
set -e
cat "$LAB_OUT/patch1.json" "$LAB_OUT/patch1.err"
sites=$(jget "$LAB_OUT/patch1.json" applied)
if [ $rc = 0 ] && [ "${sites:-0}" -gt 0 ]; then
    ok "patched $sites sites in $(( $(date +%s) - t0 )) s (paused $(jget "$LAB_OUT/patch1.json" paused_secs) s)"
else
    echo "FAIL: patch: exit $rc, applied '$sites'"
    xl destroy $G 2>/dev/null || true; xl destroy lp-hap 2>/dev/null || true
    exit 1
fi
record_time "patch paused_secs=$(jget "$LAB_OUT/patch1.json" paused_secs) plan_secs=$(jget "$LAB_OUT/patch1.json" plan_secs) total_secs=$(jget "$LAB_OUT/patch1.json" total_secs) sites=$sites"
[ "$(jget "$LAB_OUT/patch1.json" mode)" = passthrough ] && ok "mode passthrough" || bad "mode is not passthrough"
not_paused $G && ok "not paused after patch" || bad "left paused after patch"

dmpctl dmp status $G --json > "$LAB_OUT/status1.json" 2>&1 || bad "status after patch failed: $(cat "$LAB_OUT/status1.json")"
sp=$(jget "$LAB_OUT/status1.json" sites_patched)
if [ "$(jget "$LAB_OUT/status1.json" patched)" = true ] && [ "$sp" = "$sites" ] &&
   [ "$(jget "$LAB_OUT/status1.json" stub_state)" = installed ]; then
    ok "status: patched, $sp sites hold the patched bytes, stub area installed"
else
    bad "status after patch: $(cat "$LAB_OUT/status1.json")"
fi
dmpctl dmp status $G

if wait_results $G $((before + 3)) 240; then
    ok "workload goes on patched: $(results $G) ok results ($before before the patch)"
else
    bad "workload stalled after the patch ($(results $G) ok results, $before before)"
fi
guest_healthy "$LOG" && ok "no failed check, no oops after the patch"

set +e
dmpctl dmp patch $G > "$LAB_OUT/patch2.out" 2>&1; rc=$?
set -e
[ $rc = 0 ] && grep -q "already patched: $sites sites" "$LAB_OUT/patch2.out" &&
    ok "patch again: $(cat "$LAB_OUT/patch2.out")" || bad "patch again: exit $rc: $(cat "$LAB_OUT/patch2.out")"

echo "== unpatch"
set +e
dmpctl dmp unpatch $G --json > "$LAB_OUT/unpatch1.json" 2> "$LAB_OUT/unpatch1.err"; rc=$?
set -e
cat "$LAB_OUT/unpatch1.json" "$LAB_OUT/unpatch1.err"
[ $rc = 0 ] && [ "$(jget "$LAB_OUT/unpatch1.json" restored)" = "$sites" ] && ok "unpatched $sites sites" ||
    bad "unpatch: exit $rc"
record_time "unpatch paused_sites_secs=$(jget "$LAB_OUT/unpatch1.json" paused_sites_secs) paused_stubs_secs=$(jget "$LAB_OUT/unpatch1.json" paused_stubs_secs) total_secs=$(jget "$LAB_OUT/unpatch1.json" total_secs)"
dmpctl dmp status $G --dump-text $LAB_OUT/text.after > "$LAB_OUT/status2.txt" 2>&1 || bad "dump after unpatch failed"
if cmp $LAB_OUT/text.before $LAB_OUT/text.after > "$LAB_OUT/cmp1.txt" 2>&1; then
    ok "kernel text byte-for-byte identical after unpatch ($(wc -c < $LAB_OUT/text.after) bytes)"
else
    bad "kernel text differs after unpatch: $(head -n 3 "$LAB_OUT/cmp1.txt")"
fi
grep -q "not patched" "$LAB_OUT/status2.txt" && ok "status: not patched" || bad "status after unpatch: $(cat "$LAB_OUT/status2.txt")"
set +e
dmpctl dmp unpatch $G > "$LAB_OUT/unpatch2.out" 2>&1; rc=$?
set -e
[ $rc = 3 ] && ok "unpatch again: exit 3 ($(cat "$LAB_OUT/unpatch2.out"))" || bad "unpatch again: exit $rc: $(cat "$LAB_OUT/unpatch2.out")"

echo "== 10 patch/unpatch cycles while the workload runs"
before=$(results $G)
cycles=0
for c in 1 2 3 4 5 6 7 8 9 10; do
    if ! dmpctl dmp patch $G --json > "$LAB_OUT/cycle$c-patch.json" 2> "$LAB_OUT/cycle$c-patch.err"; then
        bad "cycle $c: patch failed: $(cat "$LAB_OUT/cycle$c-patch.err")"; break
    fi
    sleep 2
    if [ $c = 5 ]; then
        # A toolstack restart that lost xenstore state: undo from the journal file alone.
        xenstore-rm /local/domain/0/dmp 2>/dev/null || true
    fi
    if ! dmpctl dmp unpatch $G --json > "$LAB_OUT/cycle$c-unpatch.json" 2> "$LAB_OUT/cycle$c-unpatch.err"; then
        bad "cycle $c: unpatch failed: $(cat "$LAB_OUT/cycle$c-unpatch.err")"; break
    fi
    [ $c = 5 ] && { [ "$(jget "$LAB_OUT/cycle$c-unpatch.json" journal_source)" = file ] &&
        ok "cycle 5: undone from the journal file (xenstore copy removed)" ||
        bad "cycle 5: journal source $(jget "$LAB_OUT/cycle$c-unpatch.json" journal_source)"; }
    record_time "cycle $c patch_paused=$(jget "$LAB_OUT/cycle$c-patch.json" paused_secs) unpatch_paused=$(jget "$LAB_OUT/cycle$c-unpatch.json" paused_sites_secs)+$(jget "$LAB_OUT/cycle$c-unpatch.json" paused_stubs_secs)"
    not_paused $G || { bad "cycle $c: guest left paused"; break; }
    running $G || { bad "cycle $c: guest died"; break; }
    [ "$(jget "$LAB_OUT/cycle$c-patch.json" plans_cached)" = true ] || echo "note: cycle $c planned afresh"
    cycles=$c
done
[ $cycles = 10 ] && ok "10 cycles done"
if wait_results $G $((before + 2)) 240; then
    ok "workload still passing after the cycles: $(results $G) ok results ($before before)"
else
    bad "workload stalled during/after the cycles ($(results $G) ok results, $before before)"
fi
guest_healthy "$LOG" && ok "no failed check, no oops across the cycles"
dmpctl dmp status $G --dump-text $LAB_OUT/text.after > /dev/null 2>&1 || bad "dump after the cycles failed"
cmp $LAB_OUT/text.before $LAB_OUT/text.after > /dev/null 2>&1 &&
    ok "kernel text identical to the first dump after 10 cycles" || bad "kernel text differs after the cycles"

echo "== refusals"
# HAP is decided from the domain itself, before its kernel is looked at: a HAP guest that is
# still booting is refused the same way.
xl destroy $G 2>/dev/null || true
cfg_hap=$(guest_config lp-hap pvh 1 128 "ptbench,--rounds,0,--scale,0.1,--phases,$PT_PHASES")
create_guest lp-hap "$cfg_hap" || bad "cannot create lp-hap"
set +e
dmpctl dmp patch lp-hap > "$LAB_OUT/hap.out" 2>&1; rc=$?
set -e
[ $rc = 3 ] && grep -q "nothing to do: domain lp-hap uses HAP" "$LAB_OUT/hap.out" &&
    ok "HAP guest: exit 3, $(cat "$LAB_OUT/hap.out")" || bad "HAP guest: exit $rc: $(cat "$LAB_OUT/hap.out")"
xl destroy lp-hap 2>/dev/null || true

# A guest whose kernel is not running: created paused, its vCPU is still at the PVH entry
# point (32-bit, paging off), so no kernel can be recognised.
cfg_p=$(guest_config lp-early pvh 0 128 "true")
create_guest lp-early "$cfg_p" -p || bad "cannot create lp-early"
set +e
dmpctl dmp patch lp-early > "$LAB_OUT/early.out" 2>&1; rc=$?
set -e
if [ $rc = 1 ] && grep -q "not recognised, left untouched" "$LAB_OUT/early.out"; then
    ok "unrecognised kernel: exit 1, $(cat "$LAB_OUT/early.out")"
else
    bad "unrecognised kernel: exit $rc: $(cat "$LAB_OUT/early.out")"
fi
dmpctl dmp status lp-early 2>&1 | grep -q "not patched" && ok "lp-early: no journal written" || bad "lp-early has a journal"
xl destroy lp-early 2>/dev/null || true

set +e
dmpctl dmp patch no-such-guest > "$LAB_OUT/nosuch.out" 2>&1; rc=$?
set -e
[ $rc = 2 ] && grep -q no-such-guest "$LAB_OUT/nosuch.out" && ok "unknown domain: exit 2" ||
    bad "unknown domain: exit $rc: $(cat "$LAB_OUT/nosuch.out")"

xl destroy $G 2>/dev/null || true
echo "times:"; cat "$LAB_OUT/dmp-patch-times.txt" 2>/dev/null || true
[ $fail = 0 ] && echo "dmp-patch: all checks passed" || echo "dmp-patch: FAILED"
exit $fail
