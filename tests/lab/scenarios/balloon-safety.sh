# Safety of the balancer: a malformed configuration is refused with a message naming file,
# line and key; a guest whose balloon cannot move (paused: "stuck") and one whose balloon never
# reacted (created paused, never ran: "no balloon") are detected and left alone while the
# budget forces shrinking; restarting dmpd mid-run loses no settings and no guest state.
set -eu
. "$LAB_SCENARIOS/lib.sh"
images_in_tmpfs
fail=0
export DMPD_SOCKET=/run/dmp/dmpd.sock
# dom0 gets four times a guest's CPU weight (the usual advice for Xen hosts), so the daemon and
# the checks keep pace with busy guests on the two emulated CPUs.
xl sched-credit2 -d Domain-0 -w 1024 || xl sched-credit -d Domain-0 -w 1024 ||
    echo "note: could not raise dom0's scheduler weight"
# --- 1. malformed configurations --------------------------------------------------------
printf '[global]\ninterval = 5s\n[domain web]\nweigth = 3\n' > "$LAB_OUT/bad1.conf"
printf '[global]\n[domain web]\nmin = 2g\nmax = 1g\n' > "$LAB_OUT/bad2.conf"
for b in bad1:"bad1.conf:4: key 'weigth' unknown in [domain web]" bad2:"bad2.conf:4: min 2g is above max 1g in [domain web]"; do
    f=${b%%:*}; want=${b#*:}
    set +e
    timeout 10 dmpd --config "$LAB_OUT/$f.conf" --state-dir /tmp/st-$f > "$LAB_OUT/$f.out" 2>&1
    rc=$?
    set -e
    echo "dmpd with $f.conf: exit $rc: $(cat "$LAB_OUT/$f.out")"
    [ $rc = 1 ] && grep -qF "$want" "$LAB_OUT/$f.out" || { echo "FAIL: expected exit 1 and '$want'"; fail=1; }
done
# --- 2. stuck and balloon-less guests ---------------------------------------------------
# dmpd's state on dom0's tmpfs (every step writes it; the 9p share made steps take seconds),
# copied to the run's results at the end.
st=/run/dmpd-state; mkdir -p "$st"
trap 'cp -r "$st" "$LAB_OUT/dmpd-state" 2>/dev/null || true' EXIT
cat > "$LAB_OUT/dmpd.conf" <<EOT
[global]
policy = balance
budget = 768m
reserve = 32m
interval = 5s
min = 128m
min-change-interval = 5s
stuck-timeout = 15s
stuck-backoff = 15s
stuck-backoff-max = 30s
noballoon-after = 2
# nob never runs: judge it by its balloon's behaviour 20 s after dmpd first sees it.
boot-grace = 20s
EOT
start_dmpd() {
    dmpd --config "$LAB_OUT/dmpd.conf" --state-dir "$st" --log "$LAB_OUT/dmpd.log" 2>> "$LAB_OUT/dmpd.stderr" &
    dpid=$!
}
for spec in "ok 1 384" "stk 1 384" "nob 0 256"; do
    set -- $spec
    # 8192 pages/s: the 32 MiB set once a second, busy enough for the balloons to be judged,
    # without keeping the emulated CPUs busy (see balloon-balance.sh).
    cfg=$(guest_config "$1" pvh "$2" "$3" "wsswork,--schedule,32m:400s,--touch-rate,8192,--max-seconds,400")
    create_guest "$1" "$cfg" -p
done
# Started together once all exist (libxl's console wait timed out for a guest created while
# another booted on a loaded host); nob stays paused: it never runs, its balloon never reacts.
crashes0=$(crash_count); ids0=$(domids ok stk nob)
try xl unpause ok; try xl unpause stk
t=0
while [ $t -lt 120 ]; do
    n=0
    for g in ok stk; do grep -q '@@DMP-WSS' "$LAB_OUT/guests/guest-$g.log" 2>/dev/null && n=$((n + 1)); done
    [ $n = 2 ] && break
    sleep 1; t=$((t + 1))
done
[ $n = 2 ] || { echo "FAIL: guests did not start"; exit 1; }
# The guest's own balloon driver (xen-balloon, built into Debian's kernel) and how fast it moves
# under TCG, driven exactly like xl mem-set. Linux 6.1 writes no control/feature-balloon; dmpd
# takes its PV drivers as up once it announces its shutdown handlers (control/feature-poweroff),
# which happens when its balloon driver starts watching memory/target.
t=0
while [ $t -lt 60 ] && ! xenstore-read "/local/domain/$(xl domid ok)/control/feature-poweroff" >/dev/null 2>&1; do
    sleep 1; t=$((t + 1))
done
echo "control/feature-poweroff after ${t}s; ok's control/: $(xenstore-ls "/local/domain/$(xl domid ok)/control" 2>&1 | tr -s ' \n' ' ')"
xenstore-read "/local/domain/$(xl domid ok)/control/feature-poweroff" >/dev/null 2>&1 ||
    { echo "FAIL: ok never announced its PV drivers (control/feature-poweroff)"; fail=1; }
dmpctl mem-info ok | tee "$LAB_OUT/balloon-driver.txt"
dmpctl mem-set ok 256 --wait 300 | tee -a "$LAB_OUT/balloon-speed.txt" || { echo "FAIL: ok's balloon did not reach 256 MiB"; fail=1; }
dmpctl mem-set ok 384 --wait 300 | tee -a "$LAB_OUT/balloon-speed.txt" || { echo "FAIL: ok's balloon did not return to 384 MiB"; fail=1; }
set +e
dmpctl mem-set ok 2g; r1=$?
dmpctl mem-set ok 16; r2=$?
set -e
[ $r1 = 2 ] && [ $r2 = 2 ] || { echo "FAIL: mem-set above static-max / below the floor not refused with exit 2 ($r1, $r2)"; fail=1; }
start_dmpd
trap 'kill $dpid 2>/dev/null || true; cp -r "$st" "$LAB_OUT/dmpd-state" 2>/dev/null || true' EXIT
# Let stk's balloon be seen moving (the budget forces shrinking) before it gets stuck.
t=0
while [ $t -lt 120 ]; do
    a=$(dmpctl mem-info stk | awk 'NR == 2 { print $4 }')
    [ "${a:-384}" -lt 376 ] && break
    sleep 2; t=$((t + 2))
done
echo "stk's balloon moved to ${a} MiB after ${t}s"
sleep 6
try xl pause stk
echo "stk paused at $(date +%s); its balloon cannot move"
# a per-domain override and a rejected one (xenstore, dom0's area)
try xenstore-write /local/domain/0/dmp/balloon/ok/weight 300
try xenstore-write /local/domain/0/dmp/balloon/stk/headroom 'lots'
# A status query that failed (dmpd busy writing its state under load) is asked again, so that
# a check never reads an empty answer as a state.
state_of() {
    local i s=
    for i in 1 2 3; do
        s=$(dmpctl balance status 2>/dev/null | awk -v g="$1" '$1 == g { print $8 }')
        [ -z "$s" ] || break
        sleep 1
    done
    echo "$s"
}
t=0
while [ $t -lt 150 ]; do
    [ "$(state_of stk)" = stuck ] && [ "$(state_of nob)" = no-balloon ] && break
    sleep 5; t=$((t + 5))
done
dmpctl balance status | tee "$LAB_OUT/status-before.txt"
echo "stk: $(state_of stk), nob: $(state_of nob) after ${t}s"
[ "$(state_of stk)" = stuck ] || { echo "FAIL: paused guest stk not detected as stuck"; fail=1; }
[ "$(state_of nob)" = no-balloon ] || { echo "FAIL: never-run guest nob not detected as no-balloon"; fail=1; }
grep -q '"event":"stuck"' "$LAB_OUT/dmpd.log" || { echo "FAIL: no stuck event in the log"; fail=1; }
grep -q "override-rejected.*headroom" "$LAB_OUT/dmpd.log" || { echo "FAIL: bad override not reported"; fail=1; }
grep "override" "$LAB_OUT/dmpd.log" || true
# left alone: the balloon-less guest's target no longer moves; the stuck one stays stuck (it
# is only re-tried after its back-off, and fails again while paused)
tgt() { xenstore-read /local/domain/$(xl domid "$1")/memory/target; }
n1=$(tgt nob); sleep 15; n2=$(tgt nob)
echo "nob's target: $n1 -> $n2 KiB; stk: $(state_of stk)"
[ "$n1" = "$n2" ] || { echo "FAIL: the no-balloon guest was pushed again"; fail=1; }
[ "$(state_of stk)" = stuck ] || { echo "FAIL: stk left the stuck state while paused"; fail=1; }
# --- 3. restart ----------------------------------------------------------------------------
dmpctl balance settings > "$LAB_OUT/settings-before.conf"
lines=$(wc -l < "$st/balloon-decisions.jsonl")
kill $dpid; wait $dpid 2>/dev/null || true
start_dmpd
t=0
while [ $t -lt 30 ] && [ "$(wc -l < "$st/balloon-decisions.jsonl")" -lt $((lines + 3)) ]; do sleep 1; t=$((t + 1)); done
dmpctl balance settings > "$LAB_OUT/settings-after.conf"
cmp "$LAB_OUT/settings-before.conf" "$LAB_OUT/settings-after.conf" || { echo "FAIL: settings differ after restart"; diff "$LAB_OUT/settings-before.conf" "$LAB_OUT/settings-after.conf" || true; fail=1; }
grep -q 'weight = 300' "$LAB_OUT/settings-after.conf" || { echo "FAIL: override lost"; fail=1; }
tail -n +$((lines + 1)) "$st/balloon-decisions.jsonl" | head -n 3 > "$LAB_OUT/after-restart.jsonl"
cat "$LAB_OUT/after-restart.jsonl"
grep -q '"domain":"stk".*"state":"stuck"' "$LAB_OUT/after-restart.jsonl" || { echo "FAIL: stk's stuck state lost on restart"; fail=1; }
grep -q '"domain":"nob".*"state":"no-balloon"' "$LAB_OUT/after-restart.jsonl" || { echo "FAIL: nob's state lost on restart"; fail=1; }
grep -q '"event":"state-loaded","msg":"3 guests' "$LAB_OUT/dmpd.log" || { echo "FAIL: state not reloaded"; fail=1; }
grep -q 'Out of memory\|oom-kill' "$LAB_OUT/guests/guest-ok.log" && { echo "FAIL: OOM in ok"; fail=1; }
no_crash "$crashes0" "$ids0" || fail=1
for g in ok stk nob; do xl destroy "$g" 2>/dev/null || true; done
exit $fail
