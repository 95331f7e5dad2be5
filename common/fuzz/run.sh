#!/usr/bin/env bash
# Build and run the JSON reader's libFuzzer target for a bounded time.
# Usage: common/fuzz/run.sh <seconds>   (BUILD=<dir> to change the build directory)
# Seeds are written at run time into $BUILD/fuzz/json-run/corpus. Exits non-zero when libFuzzer
# reports a finding; the reproducer is left in $BUILD/fuzz/json-run/artifacts/.
set -euo pipefail
secs=${1:-60}
case $secs in ''|*[!0-9]*) echo "usage: $0 <seconds>" >&2; exit 2;; esac
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" fuzz-json
work=$BUILD/fuzz/json-run
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
i=0
for seed in '{"domid":3,"name":"web","totals":{"pt_write":10},"entries":[{"kind":"invlpg","rip":"0xffffffff81002000"}]}' \
            '[1,-2.5e+3,"\ud83d\ude00\u0000",true,false,null,{},[]]' '"\u00e9\\\/\b\f\n\r\t"' \
            '{"a":{"b":{"c":[[[[1]]]]}}}' '18446744073709551616' '-9223372036854775809'; do
    printf '%s' "$seed" > "$work/corpus/seed$((i++))"
done
echo "fuzz-json: $i seeds, ${secs}s"
set +e
"$BUILD/fuzz/fuzz_json" -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" 2>"$work/fuzz.log"
rc=$?
set -e
tail -n 15 "$work/fuzz.log"
if [ $rc -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
    echo "fuzz-json: FINDING (exit $rc); artifacts in $work/artifacts, log $work/fuzz.log" >&2
    exit 1
fi
echo "fuzz-json: no findings in ${secs}s"
