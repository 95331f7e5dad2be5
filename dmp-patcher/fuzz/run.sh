#!/usr/bin/env bash
# Build and run the kimage/ksyms libFuzzer target for a bounded time.
# Usage: dmp-patcher/fuzz/run.sh <seconds>   (BUILD=<dir> to change the build directory)
# The seed corpus is generated at run time into $BUILD/fuzz/kimage-run/. Exits non-zero when
# libFuzzer reports a finding (crash, sanitizer error, leak, timeout, OOM); the reproducer is
# left in $BUILD/fuzz/kimage-run/artifacts/.
set -euo pipefail
secs=${1:-60}
case $secs in ''|*[!0-9]*) echo "usage: $0 <seconds>" >&2; exit 2;; esac
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" fuzz-kimage
work=$BUILD/fuzz/kimage-run
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
kernel=$(ls /boot/vmlinuz-*-amd64 2>/dev/null | tail -n 1 || true)
"$BUILD/fuzz/kimage_seeds" "$work/corpus" ${kernel:+"$kernel"}
echo "fuzz-kimage: $(ls "$work/corpus" | wc -l) seeds, ${secs}s"
set +e
"$BUILD/fuzz/fuzz_kimage" -max_total_time="$secs" -max_len=131072 -timeout=20 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/corpus" 2>"$work/fuzz.log"
rc=$?
set -e
tail -n 25 "$work/fuzz.log"
if [ $rc -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
    echo "fuzz-kimage: FINDING (exit $rc); artifacts in $work/artifacts, log $work/fuzz.log" >&2
    exit 1
fi
echo "fuzz-kimage: no findings in ${secs}s"
