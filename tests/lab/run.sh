#!/usr/bin/env bash
# Boot the lab (our Xen + a busybox dom0 under QEMU TCG) and run one scenario, or a plan of
# several tests, in dom0. Each test's results land in $BUILD/lab/runs/<test>/ (result files,
# scenario.log, guest consoles, serial.log with the Xen and dom0 output of its part of the
# boot, elapsed, exit-code). Exit status: the scenario's (one scenario), 0 if every test of a
# plan passed and 1 otherwise; 124 if the whole boot timed out. On failure the tails of the
# relevant logs are printed.
set -euo pipefail
. "$(dirname "$0")/../../scripts/config.sh"

usage() {
    cat <<USAGE
usage: tests/lab/run.sh [--scenario NAME | --plan FILE] [--platform svm|vmx] [--timeout SECS] [--mem MB]
                       [--interactive] [--quiet]
  --scenario NAME   tests/lab/scenarios/NAME.sh, run in dom0 (default: smoke)
  --plan FILE       several tests in one boot, one per line: NAME SCENARIO TIMEOUT [KEY=VALUE ...]
                    (each bounded by its TIMEOUT inside dom0, then cleaned up after)
  --timeout SECS    bound on the whole run, boot included (default: 900; with --plan: the
                    sum of the tests' timeouts plus 300 on svm, 900 on vmx)
  --platform P      svm: AMD SVM + NPT under QEMU TCG (default); vmx: Intel VT-x + EPT under
                    Bochs (corei7_skylake_x), booted from an ISO (also LAB_PLATFORM=...)
  --mem MB          memory of the emulated host (default: 2048; dom0 gets 768)
  --set KEY=VALUE   environment for the scenario (repeatable), e.g. --set WORKLOAD_SCALE=0.5
  --run-id ID       name of the result directory build/lab/runs/ID (default: time-scenario-pid);
                    with --plan, the boot's directory (serial.log of the whole boot)
  --interactive     boot to a dom0 shell on this terminal (Ctrl-a x quits QEMU)
USAGE
}

scenario=smoke timeout= mem=2048 interactive=0 quiet=0 env=() run= plan= platform=${LAB_PLATFORM:-svm}
valid_set() { [[ $1 =~ ^[A-Z_][A-Z0-9_]*=[-A-Za-z0-9_.,:/]*$ ]]; }
while [ $# -gt 0 ]; do
    case $1 in
        --scenario) scenario=${2:?}; shift 2 ;;
        --plan) plan=${2:?}; shift 2 ;;
        --platform) platform=${2:?}; shift 2 ;;
        --timeout) timeout=${2:?}; shift 2 ;;
        --mem) mem=${2:?}; shift 2 ;;
        --set) valid_set "${2:-}" || die "--set wants KEY=VALUE, not '${2:-}'"
               env+=("$2"); shift 2 ;;
        --run-id) [[ ${2:-} =~ ^[A-Za-z0-9_.-]+$ ]] || die "--run-id wants [A-Za-z0-9_.-]+, not '${2:-}'"
                  run=$2; shift 2 ;;
        --interactive) interactive=1; shift ;;
        --quiet) quiet=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
[ -z "$timeout" ] || [[ $timeout =~ ^[0-9]+$ ]] || die "--timeout must be a number of seconds, not '$timeout'"
[[ $mem =~ ^[0-9]+$ ]] || die "--mem must be a number of MiB, not '$mem'"
[[ $platform =~ ^(svm|vmx)$ ]] || die "--platform must be svm (QEMU, AMD SVM) or vmx (Bochs, Intel VT-x), not '$platform'"
have_scenario() {
    [ -f "$TOP/tests/lab/scenarios/$1.sh" ] ||
        die "no scenario '$1' (have: $(cd "$TOP/tests/lab/scenarios" && ls ./*.sh | sed 's|./||;s|\.sh||' | grep -v 'lib$' | tr '\n' ' '))"
}

LAB="$BUILD/lab"
KREL=$(guest_kernel_release)
# LAB_XEN: another hypervisor image (e.g. one built with part of the series, for bisecting).
xen_image=${LAB_XEN:-$LAB/xen}
[ -f "$xen_image" ] && [ -f "$LAB/dom0.cpio.gz" ] || die "lab images missing ($xen_image, $LAB/dom0.cpio.gz): run 'make lab'"
# dom0's tools are copied into its image: a tool built after the image is not what runs.
stale=$(find "$BUILD/out/bin" -type f -newer "$LAB/dom0.cpio.gz" 2>/dev/null | head -n 3 | tr '\n' ' ')
[ -z "$stale" ] || [ -n "${LAB_STALE_OK:-}" ] ||
    die "the dom0 image is older than $stale: run 'make lab' (or LAB_STALE_OK=1 to run the old tools)"

# The tests of this boot: names, scenarios, in-dom0 time limits (0: none), environments.
names=() scens=() limits=() envs=()
if [ -n "$plan" ]; then
    [ -f "$plan" ] || die "no plan file '$plan'"
    [ -n "$run" ] || die "--plan needs --run-id (the boot's directory)"
    while read -r n s l rest; do
        case $n in ''|'#'*) continue ;; esac
        [[ $n =~ ^[A-Za-z0-9_.-]+$ ]] || die "plan $plan: bad test name '$n'"
        have_scenario "$s"
        [[ $l =~ ^[1-9][0-9]*$ ]] || die "plan $plan: test $n: timeout must be seconds, not '$l'"
        for kv in $rest; do valid_set "$kv" || die "plan $plan: test $n: '$kv' is not KEY=VALUE"; done
        names+=("$n") scens+=("$s") limits+=("$l") envs+=("$rest")
    done < "$plan"
    [ ${#names[@]} -gt 0 ] || die "plan $plan has no tests"
    if [ -z "$timeout" ]; then
        # Room for the boot and the shutdown on a loaded host, beyond the tests' own limits
        # (Bochs takes about five minutes to reach dom0 on this machine kind).
        timeout=300
        [ $platform = svm ] || timeout=900
        for l in "${limits[@]}"; do timeout=$((timeout + l)); done
    fi
elif [ $interactive = 0 ]; then
    have_scenario "$scenario"
    [ -n "$run" ] || run="$(date +%Y%m%d-%H%M%S)-$scenario-$$"
    # One scenario: dom0 does not bound it, the whole boot's timeout does (hang-dom0 tests that).
    names=("$run") scens=("$scenario") limits=(0) envs=("${env[*]:-}")
fi
timeout=${timeout:-900}

# A scenario that cannot run on a platform says why in a line "# skip-<platform>: <reason>";
# its test is reported as skipped (exit 77 alone, a 'skipped' file in a plan), never as passed.
skip_reason() { sed -n "s/^# skip-$platform: //p" "$TOP/tests/lab/scenarios/$1.sh" | head -n 1; }
keep=()
for i in "${!names[@]}"; do
    why=$(skip_reason "${scens[$i]}")
    if [ -z "$why" ]; then keep+=("$i"); continue; fi
    t="$LAB/runs/${names[$i]}"
    rm -rf "$t"; mkdir -p "$t"
    echo "$why" > "$t/skipped"
    log "lab: ${names[$i]} (scenario '${scens[$i]}') skipped on $platform: $why"
done
if [ ${#keep[@]} = 0 ] && [ $interactive = 0 ]; then
    exit 77
fi
kn=() ks=() kl=() ke=()
for i in "${keep[@]}"; do kn+=("${names[$i]}") ks+=("${scens[$i]}") kl+=("${limits[$i]}") ke+=("${envs[$i]}"); done
names=("${kn[@]}") scens=("${ks[@]}") limits=("${kl[@]}") envs=("${ke[@]}")

[ $interactive = 1 ] && run=shell
out="$LAB/runs/$run"
rm -rf "$out"
mkdir -p "$out"
ln -sfn "$run" "$LAB/runs/latest"
: > "$out/plan"
for i in "${!names[@]}"; do
    t="$LAB/runs/${names[$i]}"
    [ "${names[$i]}" = "$run" ] || { rm -rf "$t"; mkdir -p "$t"; }
    # Scenarios are read from the share at run time (a private copy per test, so concurrent
    # runs and edits do not interfere), so editing one needs no image rebuild.
    cp -r "$TOP/tests/lab/scenarios" "$t/scenarios"
    for kv in ${envs[$i]}; do echo "export $kv"; done > "$t/scenario.env"
    echo "${names[$i]} ${scens[$i]} ${limits[$i]}" >> "$out/plan"
done

# Xen switches FPU/SSE state lazily on AMD (CR0.TS, #NM). Under QEMU TCG that corrupts the
# register state of processes in dom0 and in guests once two domains are busy (stock Xen too;
# tests/lab/scenarios/pair-stress.sh reproduces it within minutes, docs/LAB.md has the runs), so
# the lab forces eager switching. LAB_LAZY_FPU=1 restores Xen's default, to show the bug.
fpu_arg="spec-ctrl=eager-fpu"
[ "${LAB_LAZY_FPU:-0}" = 1 ] && fpu_arg=""
# TCG threading (LAB_TCG_THREAD=multi|single); multi (one thread per vCPU) is the default.
tcg_thread=${LAB_TCG_THREAD:-multi}
[[ $tcg_thread =~ ^(single|multi)$ ]] || die "LAB_TCG_THREAD must be single or multi, not '$tcg_thread'"
smp=${LAB_SMP:-2}
# The emulated CPU model (QEMU -cpu); -monitor keeps Xen out of MWAIT idle, which TCG mishandles.
cpu=${LAB_CPU:-EPYC-Rome,-monitor}
[[ $cpu =~ ^[A-Za-z0-9_.,=+-]+$ ]] || die "LAB_CPU is not a QEMU CPU model with options: '$cpu'"
# Extra hypervisor command-line options (e.g. dom0_max_vcpus=1), validated as plain words.
xen_args=${LAB_XEN_ARGS:-}
[[ $xen_args =~ ^[A-Za-z0-9_=,.:\ -]*$ ]] || die "LAB_XEN_ARGS has characters other than option words: '$xen_args'"
[[ $smp =~ ^[1-4]$ ]] || die "LAB_SMP must be 1..4 emulated CPUs, not '$smp'"
qemu=(qemu-system-x86_64 -machine q35 -accel "tcg,thread=$tcg_thread" -cpu "$cpu" -m "$mem" -smp "$smp" -no-reboot
      -kernel "$xen_image"
      -append "console=com1 com1=115200 dom0_mem=768M,max:768M smep=0 smap=0 $fpu_arg loglvl=all guest_loglvl=all $xen_args"
      -initrd "/boot/vmlinuz-$KREL console=hvc0 quiet dmp.boot=$run,$LAB/dom0.cpio.gz"
      -virtfs "local,path=$LAB,mount_tag=lab,security_model=none,id=lab")

if [ $interactive = 1 ]; then
    [ $platform = svm ] || die "--interactive needs the svm platform (QEMU)"
    exec "${qemu[@]}" -nographic
fi
. "$TOP/tests/lab/vmx.sh"

# Each test's part of the boot's console (Xen and dom0 lines between its markers, after the
# boot's own lines up to dom0's start), so that a test's log tail is its own.
split_serial() {
    local i
    for i in "${!names[@]}"; do
        [ "${names[$i]}" = "$run" ] && continue
        awk -v n="${names[$i]}" '
            !up { print; if (index($0, "@@LAB-DOM0-UP")) up = 1; next }
            index($0, "@@LAB-TEST-BEGIN " n " ") { on = 1 }
            on { print }
            index($0, "@@LAB-TEST-END " n " ") { on = 0 }' "$out/serial.log" > "$LAB/runs/${names[$i]}/serial.log"
    done
}

tails() {
    local t=$1 f
    echo "---- tail of $t/serial.log (Xen + dom0 console) ----" >&2
    tail -n 40 "$t/serial.log" >&2 2>/dev/null || true
    if [ -f "$t/scenario.log" ]; then
        echo "---- tail of $t/scenario.log ----" >&2
        tail -n 40 "$t/scenario.log" >&2
    fi
    for f in "$t"/guests/*.log; do
        [ -f "$f" ] || continue
        echo "---- tail of $f ----" >&2
        tail -n 15 "$f" >&2
    done
}

what=${plan:+plan $plan (${names[*]})}
what=${what:-scenario \'$scenario\'}
[ $quiet = 1 ] || log "lab run $run ($platform): $what (timeout ${timeout}s)"
start=$(date +%s)
set +e
if [ $platform = vmx ]; then
    emu_log="$out/emulator.log"
    vmx_run "$out" "$timeout"
else
    emu_log="$out/qemu.log"
    timeout -k 10 "$timeout" "${qemu[@]}" -display none -monitor none -serial "file:$out/serial.log" \
        </dev/null >"$emu_log" 2>&1
    qrc=$?
fi
set -e
elapsed=$(( $(date +%s) - start ))
split_serial
rc=0
for i in "${!names[@]}"; do
    n=${names[$i]} t="$LAB/runs/${names[$i]}"
    if [ ! -f "$t/exit-code" ]; then
        if [ $qrc = 124 ] || [ $qrc = 137 ]; then
            echo "lab: run $run timed out after ${timeout}s (scenario '${scens[$i]}'${plan:+, test $n})" >&2
            trc=124
        else
            echo "lab: run $run ended after ${elapsed}s without an exit code for '${scens[$i]}'${plan:+ (test $n)} (emulator exit $qrc)" >&2
            tail -n 30 "$emu_log" >&2
            trc=1
        fi
        [ $rc != 0 ] || rc=$trc
        tails "$t"
        continue
    fi
    trc=$(cat "$t/exit-code")
    if [ "$trc" != 0 ]; then
        echo "lab: scenario '${scens[$i]}'${plan:+ (test $n)} failed with exit $trc after $(cat "$t/elapsed" 2>/dev/null || echo "$elapsed")s" >&2
        tails "$t"
        [ $rc != 0 ] || rc=$trc
    else
        [ $quiet = 1 ] || log "lab run $run: scenario '${scens[$i]}'${plan:+ (test $n)} passed in $(cat "$t/elapsed" 2>/dev/null || echo "$elapsed")s; results in $t"
    fi
done
# A plan reports pass or fail (each test's own status is in its exit-code); one scenario
# reports its own status, as the hang tests expect.
[ -z "$plan" ] || [ $rc = 0 ] || [ $rc = 124 ] || rc=1
exit "$rc"
