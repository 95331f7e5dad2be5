#!/usr/bin/env bash
# Boot the lab (our Xen + a busybox dom0 under QEMU TCG) and run one scenario in dom0.
# Results land in $BUILD/lab/runs/<run>/ (result files, scenario.log, guest consoles,
# serial.log with Xen and dom0 output). Exit status is the scenario's; 124 if the whole
# boot timed out. On failure the tails of the relevant logs are printed.
set -euo pipefail
. "$(dirname "$0")/../../scripts/config.sh"

usage() {
    cat <<USAGE
usage: tests/lab/run.sh [--scenario NAME] [--timeout SECS] [--mem MB] [--interactive] [--quiet]
  --scenario NAME   tests/lab/scenarios/NAME.sh, run in dom0 (default: smoke)
  --timeout SECS    bound on the whole run, boot included (default: 900)
  --mem MB          memory of the emulated host (default: 2048; dom0 gets 768)
  --set KEY=VALUE   environment for the scenario (repeatable), e.g. --set WORKLOAD_SCALE=0.5
  --run-id ID       name of the result directory build/lab/runs/ID (default: time-scenario-pid)
  --interactive     boot to a dom0 shell on this terminal (Ctrl-a x quits QEMU)
USAGE
}

scenario=smoke timeout=900 mem=2048 interactive=0 quiet=0 env=() run=
while [ $# -gt 0 ]; do
    case $1 in
        --scenario) scenario=${2:?}; shift 2 ;;
        --timeout) timeout=${2:?}; shift 2 ;;
        --mem) mem=${2:?}; shift 2 ;;
        --set) [[ ${2:-} =~ ^[A-Z_][A-Z0-9_]*=[-A-Za-z0-9_.,:/]*$ ]] || die "--set wants KEY=VALUE, not '${2:-}'"
               env+=("$2"); shift 2 ;;
        --run-id) [[ ${2:-} =~ ^[A-Za-z0-9_.-]+$ ]] || die "--run-id wants [A-Za-z0-9_.-]+, not '${2:-}'"
                  run=$2; shift 2 ;;
        --interactive) interactive=1; shift ;;
        --quiet) quiet=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout must be a number of seconds, not '$timeout'"
[[ $mem =~ ^[0-9]+$ ]] || die "--mem must be a number of MiB, not '$mem'"
[ $interactive = 1 ] && scenario=shell
[ $scenario = shell ] || [ -f "$TOP/tests/lab/scenarios/$scenario.sh" ] ||
    die "no scenario '$scenario' (have: $(cd "$TOP/tests/lab/scenarios" && ls ./*.sh | sed 's|./||;s|\.sh||' | grep -v '^lib$' | tr '\n' ' '))"

LAB="$BUILD/lab"
KREL=$(guest_kernel_release)
# LAB_XEN: another hypervisor image (e.g. one built with part of the series, for bisecting).
xen_image=${LAB_XEN:-$LAB/xen}
[ -f "$xen_image" ] && [ -f "$LAB/dom0.cpio.gz" ] || die "lab images missing ($xen_image, $LAB/dom0.cpio.gz): run 'make lab'"
# dom0's tools are copied into its image: a tool built after the image is not what runs.
stale=$(find "$BUILD/out/bin" -type f -newer "$LAB/dom0.cpio.gz" 2>/dev/null | head -n 3 | tr '\n' ' ')
[ -z "$stale" ] || [ -n "${LAB_STALE_OK:-}" ] ||
    die "the dom0 image is older than $stale: run 'make lab' (or LAB_STALE_OK=1 to run the old tools)"

[ -n "$run" ] || run="$(date +%Y%m%d-%H%M%S)-$scenario-$$"
out="$LAB/runs/$run"
rm -rf "$out"
mkdir -p "$out"
# Scenarios are read from the share at run time (a private copy per run, so concurrent runs
# and edits do not interfere), so editing one needs no image rebuild.
cp -r "$TOP/tests/lab/scenarios" "$out/scenarios"
ln -sfn "$run" "$LAB/runs/latest"
for kv in ${env[@]+"${env[@]}"}; do echo "export $kv"; done > "$out/scenario.env"

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
      -initrd "/boot/vmlinuz-$KREL console=hvc0 quiet dmp.scenario=$scenario dmp.run=$run,$LAB/dom0.cpio.gz"
      -virtfs "local,path=$LAB,mount_tag=lab,security_model=none,id=lab")

if [ $interactive = 1 ]; then
    exec "${qemu[@]}" -nographic
fi

tails() {
    local f
    echo "---- tail of $out/serial.log (Xen + dom0 console) ----" >&2
    tail -n 40 "$out/serial.log" >&2 2>/dev/null || true
    if [ -f "$out/scenario.log" ]; then
        echo "---- tail of $out/scenario.log ----" >&2
        tail -n 40 "$out/scenario.log" >&2
    fi
    for f in "$out"/guests/*.log; do
        [ -f "$f" ] || continue
        echo "---- tail of $f ----" >&2
        tail -n 15 "$f" >&2
    done
}

[ $quiet = 1 ] || log "lab run $run: scenario '$scenario' (timeout ${timeout}s)"
start=$(date +%s)
set +e
timeout -k 10 "$timeout" "${qemu[@]}" -display none -monitor none -serial "file:$out/serial.log" \
    </dev/null >"$out/qemu.log" 2>&1
qrc=$?
set -e
elapsed=$(( $(date +%s) - start ))
if [ $qrc = 124 ] || [ $qrc = 137 ]; then
    echo "lab: run $run timed out after ${timeout}s (scenario '$scenario')" >&2
    tails
    exit 124
fi
if [ ! -f "$out/exit-code" ]; then
    echo "lab: run $run ended after ${elapsed}s without a scenario exit code (QEMU exit $qrc)" >&2
    cat "$out/qemu.log" >&2
    tails
    exit 1
fi
rc=$(cat "$out/exit-code")
if [ "$rc" != 0 ]; then
    echo "lab: scenario '$scenario' failed with exit $rc after ${elapsed}s" >&2
    tails
else
    [ $quiet = 1 ] || log "lab run $run: scenario '$scenario' passed in ${elapsed}s; results in $out"
fi
exit "$rc"
