#!/usr/bin/env bash
# The whole test suite, as CI runs it: build, unit tests (plain and under ASan+UBSan), the
# bounded fuzz run, then the lab (real patched Xen under QEMU) with every test listed in
# tests/lab-tests.txt and the deliberately broken scenarios that must end as reported timeouts.
# Ends with "suite: N passed, N failed". Logs: build/test-logs/.
set -euo pipefail
. "$(dirname "$0")/../scripts/config.sh"
cd "$TOP"
logs="$BUILD/test-logs"
rm -rf "$logs"
mkdir -p "$logs"
passed=0 failed=0 failures=()
jobs=$(nproc)

# run_test NAME COMMAND...: one test; its output goes to a log whose tail is shown on failure.
run_test() {
    local name=$1; shift
    local start=$SECONDS
    if "$@" > "$logs/$name.log" 2>&1; then
        passed=$((passed + 1))
        log "PASS $name ($((SECONDS - start))s)"
    else
        failed=$((failed + 1)); failures+=("$name")
        log "FAIL $name ($((SECONDS - start))s); last lines of $logs/$name.log:"
        tail -n 60 "$logs/$name.log" | sed 's/^/    /' >&2
    fi
}

# expect_status WANT 'PAT1;PAT2' COMMAND...: passes if COMMAND exits WANT and prints every PAT.
expect_status() {
    local want=$1 patterns=$2 rc=0 p; shift 2
    "$@" > "$logs/expect.out" 2>&1 || rc=$?
    cat "$logs/expect.out"
    [ "$rc" = "$want" ] || { echo "expected exit $want, got $rc"; return 1; }
    IFS=';' read -ra pats <<< "$patterns"
    for p in "${pats[@]}"; do
        grep -q -- "$p" "$logs/expect.out" || { echo "expected output matching '$p'"; return 1; }
    done
}

lab_once() {
    local name=$1 scenario=$2 timeout=$3; shift 3
    tests/lab/run.sh --scenario "$scenario" --timeout "$timeout" --run-id "$name" "$@" || return $?
    if [ -x "tests/lab/checks/$scenario" ]; then
        "tests/lab/checks/$scenario" "$BUILD/lab/runs/$name"
    fi
}

# A lab test gets one retry, reported loudly: the emulated machine on a shared, noisy host is
# slow and its timing varies by an order of magnitude. A test that fails twice fails.
lab_test() {
    local name=$1
    if lab_once "$@"; then
        return 0
    fi
    echo "RETRY: $name failed on its first attempt (logs kept in $BUILD/lab/runs/$name.first)"
    rm -rf "$BUILD/lab/runs/$name.first"
    mv "$BUILD/lab/runs/$name" "$BUILD/lab/runs/$name.first"
    lab_once "$@"
}

# Persistent segments across a reboot of the whole lab: two boots sharing a state directory
# on the host share (the first writes, the second checks); retried once like lab_test.
seg_reboot_once() {
    local p
    for p in write check; do
        tests/lab/run.sh --scenario seg-reboot --timeout 600 --run-id "lab-seg-reboot-$p" \
            --set SEG_PHASE=$p --set SEG_STATE_DIR=/lab/state/seg-reboot || return 1
    done
}
seg_reboot_test() {
    seg_reboot_once && return 0
    echo "RETRY: lab-seg-reboot failed on its first attempt"
    seg_reboot_once
}

run_test build make -j"$jobs" all
run_test unit make -j"$jobs" unit
run_test unit-sanitizers make -j"$jobs" SAN=1 unit
[ -x dmp-patcher/fuzz/run.sh ] && run_test fuzz-kimage dmp-patcher/fuzz/run.sh 60
run_test lab-build make lab

if [ $failed = 0 ] || [ -f "$BUILD/lab/dom0.cpio.gz" ]; then
    while read -r name scenario timeout rest; do
        case $name in ''|'#'*) continue ;; esac
        # shellcheck disable=SC2086
        run_test "$name" lab_test "$name" "$scenario" "$timeout" $rest
    done < tests/lab-tests.txt
    run_test lab-seg-reboot seg_reboot_test
    run_test lab-hang-guest expect_status 3 'did not finish within;last console lines of hang' \
        tests/lab/run.sh --scenario hang-guest --timeout 300 --run-id lab-hang-guest
    run_test lab-hang-dom0 expect_status 124 'timed out after;tail of.*serial.log;hang-dom0: sleeping forever' \
        tests/lab/run.sh --scenario hang-dom0 --timeout 150 --run-id lab-hang-dom0
fi

[ $failed = 0 ] || log "failed: ${failures[*]}"
echo "suite: $passed passed, $failed failed"
[ $failed = 0 ]
