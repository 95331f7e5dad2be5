# Deliberately broken: the guest never finishes. The agent must report a timeout with the
# console tail (exit 3) instead of hanging the lab.
set -eu
. "$LAB_SCENARIOS/lib.sh"
cfg=$(guest_config hang pvh 1 128 "sleep,100000")
run_guest hang "$cfg" "${HANG_TIMEOUT:-90}"
