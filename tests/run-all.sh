#!/usr/bin/env bash
# The whole test suite, as CI runs it (make test): the build, unit tests (plain and under
# ASan+UBSan), the bounded fuzz run, the lab images and every lab test of tests/lab-tests.txt,
# several jobs side by side as the machine's CPUs allow (tests/suite.py --help). Ends with a
# per-test time table and "suite: N passed, N failed". Logs: build/test-logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tests/suite.py "$@"
