# Helpers for the named-memory-segment scenarios (docs/SEGMENTS.md), sourced after lib.sh.
# Guests run an interactive busybox shell on their console (dmp.run=sh); dom0 types commands
# into the console pty and reads the answers from the console log, with bounded waits.

SEG_FAILS=0
SEG_CHECKS=0

pass() { SEG_CHECKS=$((SEG_CHECKS + 1)); echo "PASS: $*"; }
fail() { SEG_CHECKS=$((SEG_CHECKS + 1)); SEG_FAILS=$((SEG_FAILS + 1)); echo "FAIL: $*"; }
# expect WHAT EXPECTED SEEN
expect() { if [ "$2" = "$3" ]; then pass "$1 ($3)"; else fail "$1: expected $2, saw $3"; fi; }

seg_log() { echo "$LAB_OUT/guests/guest-$1.log"; }

# wait_log NAME REGEX SECS: wait until the guest's console log has a line matching REGEX.
wait_log() {
    local i=0
    while [ $i -lt "$3" ]; do
        grep -Eq "$2" "$(seg_log "$1")" 2>/dev/null && return 0
        sleep 1
        i=$((i + 1))
    done
    echo "timeout after $3 s waiting for /$2/ in $(seg_log "$1")"
    return 1
}

# seg_guest NAME MEM_MB [extra xl config lines...]: boot a PVH guest with a console shell.
seg_guest() {
    local name=$1 mem=$2 cfg domid
    shift 2
    cfg=$(guest_config "$name" pvh 1 "$mem" "sh")
    for l in "$@"; do echo "$l" >> "$cfg"; done
    create_guest "$name" "$cfg" || return 1
    domid=$(xl domid "$name")
    # The tty node appears once xenconsoled has set the console up.
    local i=0 tty=""
    while [ $i -lt 30 ] && [ -z "$tty" ]; do
        tty=$(xenstore-read "/local/domain/$domid/console/tty" 2>/dev/null || true)
        [ -n "$tty" ] || sleep 1
        i=$((i + 1))
    done
    [ -n "$tty" ] || { echo "no console tty for $name"; return 1; }
    echo "$tty" > "$LAB_OUT/$name.tty"
    echo 0 > "$LAB_OUT/$name.seq"
    wait_log "$name" '@@DMP-GUEST-UP' 600
}

# gcmd NAME SECS COMMAND: run COMMAND in the guest's shell; returns its exit status
# (255 if no answer within SECS seconds).
gcmd() {
    local name=$1 secs=$2 cmd=$3 seq tty rc
    seq=$(( $(cat "$LAB_OUT/$name.seq") + 1 ))
    echo "$seq" > "$LAB_OUT/$name.seq"
    tty=$(cat "$LAB_OUT/$name.tty")
    echo "$(date +%T) [$name] \$ $cmd"
    printf '%s; echo @@R-%d $?\n' "$cmd" "$seq" > "$tty"
    # Bounds are generous (x SEG_SLOW, default 3): TCG on a shared, loaded host is slow.
    wait_log "$name" "^@@R-$seq [0-9]+" "$((secs * ${SEG_SLOW:-3}))" || return 255
    rc=$(sed -n "s/^@@R-$seq \([0-9]*\).*/\1/p" "$(seg_log "$name")" | tail -n 1)
    [ -n "$rc" ] || return 255
    return "$rc"
}

# gsend NAME COMMAND: start COMMAND in the guest without waiting for it.
gsend() {
    echo "[$1] \$ $2 &"
    printf '%s &\n' "$2" > "$(cat "$LAB_OUT/$1.tty")"
}

# run a command and capture "rc text" (for dom0 commands whose failure is the expected outcome)
rc_of() { set +e; OUT=$("$@" 2>&1); RC=$?; set -e; echo "$OUT"; }

# dom0-local by default (fsync on the 9p share is slow); SEG_STATE_DIR=/lab/... keeps it across runs.
DMPD_STATE=${SEG_STATE_DIR:-/var/lib/dmp}
export DMPD_SOCKET=/run/dmp/dmpd.sock
# xenstore-read and friends live in /usr/bin, outside the lab PATH.
export PATH=$PATH:/usr/bin

# dmpd also hosts the memory balancer; its working-set sampling ticks can hold the
# single-threaded daemon for seconds on a loaded TCG host, and it must not move these guests'
# targets mid-test: run it static, without an estimator, rarely.
dmpd_start() {
    printf '[global]\npolicy = static\nestimator = none\ninterval = 1h\n' > "$LAB_OUT/dmpd.conf"
    local conf="--config $LAB_OUT/dmpd.conf" try i
    for try in 1 2; do
        # shellcheck disable=SC2086
        dmpd --state-dir "$DMPD_STATE" --socket "$DMPD_SOCKET" --log "$LAB_OUT/dmpd.log" \
            $conf 2>>"$LAB_OUT/dmpd.stderr" &
        echo $! > "$LAB_OUT/dmpd.pid"
        i=0
        while [ $i -lt 50 ]; do
            dmpctl segment list >/dev/null 2>&1 && return 0
            kill -0 "$(cat "$LAB_OUT/dmpd.pid")" 2>/dev/null || break
            sleep 0.2
            i=$((i + 1))
        done
        echo "dmpd did not come up with '$conf'"; tail -n 3 "$LAB_OUT/dmpd.stderr"
        kill "$(cat "$LAB_OUT/dmpd.pid")" 2>/dev/null || true
        conf="--config /nonexistent"
    done
    return 1
}

dmpd_stop() {
    local pid i=0
    pid=$(cat "$LAB_OUT/dmpd.pid")
    kill "$pid" 2>/dev/null || return 0
    while [ $i -lt 100 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.2; i=$((i + 1)); done
    kill -0 "$pid" 2>/dev/null && { echo "dmpd $pid did not stop"; return 1; }
    return 0
}

seg_setup_dom0() {
    # A test earlier in the same boot may have loaded it.
    grep -q "^dmpsegback " /proc/modules || insmod /lib/modules/dmpsegback.ko || { echo "cannot load dmpsegback.ko"; return 1; }
    [ -c /dev/dmpsegback ] || { echo "no /dev/dmpsegback"; return 1; }
    dmpd_start
}

seg_summary() {
    echo "== $SEG_CHECKS checks, $SEG_FAILS failed"
    dmpctl segment list > "$LAB_OUT/segment-list.txt" 2>&1 || true
    [ "$SEG_FAILS" = 0 ]
}

# grc NAME SECS COMMAND: like gcmd, for commands expected to fail; the status lands in RC.
grc() { set +e; gcmd "$@"; RC=$?; set -e; }
