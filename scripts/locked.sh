#!/usr/bin/env bash
# locked.sh NAME COMMAND...: run COMMAND holding build/.NAME.lock (bounded wait).
set -euo pipefail
. "$(dirname "$0")/config.sh"
name=${1:?usage: locked.sh NAME COMMAND...}
shift
with_lock "$name" "$@"
