# Helpers for scenarios (sourced in dom0). LAB_OUT is this run's result directory on the
# host share, LAB_IMAGES holds the guest kernel and initramfs.

# guest_config NAME TYPE HAP MEM_MB "prog,arg,arg" -> path of an xl config for that guest.
# TYPE is pvh or pv; HAP is 1 (hardware paging) or 0 (shadow paging; ignored for pv).
guest_config() {
    local name=$1 type=$2 hap=$3 mem=$4 run=$5 cfg="$LAB_OUT/$1.cfg"
    {
        echo "name=\"$name\""
        echo "type=\"$type\""
        echo "memory=$mem"
        echo "vcpus=1"
        echo "kernel=\"$LAB_IMAGES/vmlinuz\""
        echo "ramdisk=\"$LAB_IMAGES/guest.cpio.gz\""
        # GUEST_VERBOSE=1: kernel info messages on the console (segfault lines name ip and address).
        local verbose=""; [ "${GUEST_VERBOSE:-0}" = 1 ] && verbose="loglevel=7 "
        # GUEST_CMDLINE: more kernel options for every guest (words joined by ':' in --set).
        local more=""; [ -n "${GUEST_CMDLINE:-}" ] && more="$(echo "$GUEST_CMDLINE" | tr : ' ') "
        echo "extra=\"console=hvc0 quiet ${verbose}${more}dmp.run=$run\""
        [ "$type" = pv ] || echo "hap=$hap"
        # TCG has no NRIP-save: without this the guest loops on RDTSCP emulation.
        echo "tsc_mode=\"${GUEST_TSC_MODE:-native}\""
        echo "on_poweroff=\"destroy\""
        echo "on_crash=\"destroy\""
    } > "$cfg"
    echo "$cfg"
}

# run_guest NAME CONFIG TIMEOUT [agent options] -> $LAB_OUT/NAME.json; returns the agent's status.
run_guest() {
    local name=$1 cfg=$2 t=$3
    shift 3
    echo "== guest $name ($(grep -E '^(type|hap)=' "$cfg" | tr '\n' ' '))"
    lab-guest --name "$name" --config "$cfg" --timeout "$t" --out "$LAB_OUT/$name.json" "$@"
}

# images_in_tmpfs: guests boot from copies in dom0's tmpfs. libxenguest mmaps the kernel, and
# reading it over the 9p share while guest consoles are logged there is slow on a busy host.
images_in_tmpfs() {
    mkdir -p /run/img && cp "$LAB_IMAGES/vmlinuz" "$LAB_IMAGES/guest.cpio.gz" /run/img/ &&
        LAB_IMAGES=/run/img
}

# try CMD...: up to four attempts a second apart, for steps that must happen (a dom0 tool can
# time out talking to a daemon starved of CPU by busy guests).
try() { n=0; until "$@"; do n=$((n + 1)); [ $n -lt 4 ] || return 1; sleep 1; done; }

# Guest crashes Xen has logged so far (xl dmesg is its console ring). xl restarts a crashed
# guest and its workload starts over, which a scenario's other checks may not notice.
CRASH_LINES='Triple fault\|crashed'
crash_count() { xl dmesg | grep -c "$CRASH_LINES" || true; }
# domids GUEST...: "name:domid" words, for no_crash (a guest still there under another domid
# was restarted; the console ring may have wrapped).
domids() { for g in "$@"; do echo "$g:$(xl domid "$g" 2>/dev/null)"; done; }
# no_crash COUNT0 DOMIDS: 0 if no crash was logged since COUNT0 and no guest was restarted.
no_crash() {
    local n e id rc=0
    n=$(( $(crash_count) - $1 ))
    if [ "$n" -gt 0 ]; then
        echo "FAIL: $n guest crash(es) during the run:"; xl dmesg | grep "$CRASH_LINES" | tail -n 5
        rc=1
    fi
    for e in $2; do
        id=$(xl domid "${e%%:*}" 2>/dev/null || true)
        [ -z "$id" ] || [ "$id" = "${e#*:}" ] || { echo "FAIL: ${e%%:*} was restarted (domain ${e#*:} is now $id)"; rc=1; }
    done
    return $rc
}

# create_guest NAME CONFIG [xl create options, e.g. -p]: xl create, retried (up to five
# attempts): on a loaded lab host libxl's kernel loader has failed with "unable to XZ decompress
# kernel" and then succeeded, after dom0's page cache was dropped (docs/LAB.md), and xl itself
# has crashed after building the domain, so what counts is whether the domain exists. xl's
# output goes to $LAB_OUT/NAME.create.log.
create_guest() {
    local name=$1 cfg=$2 n; shift 2
    for n in 1 2 3 4 5; do
        xl create "$@" "$cfg" > "$LAB_OUT/$name.create.log" 2>&1 && return 0
        xl domid "$name" > /dev/null 2>&1 && { echo "xl create $name failed but the domain exists"; return 0; }
        echo "xl create $name failed (attempt $n): $(grep -m1 -i error "$LAB_OUT/$name.create.log")"
        sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null
        sleep 3
    done
    cat "$LAB_OUT/$name.create.log"
    return 1
}

# Checks: "ok: ..." and "FAIL: ..." lines (with the time of day), and fail=1 on the first FAIL;
# a scenario ends with "exit $fail".
fail=0
ok() { echo "$(date +%T) ok: $*"; }
bad() { echo "$(date +%T) FAIL: $*"; fail=1; }
# jget FILE KEY: the value of the first '"KEY": value' line of a pretty-printed JSON report
# (quotes and the trailing comma removed). awk, not sed: busybox sed has crashed on these reports.
jget() {
    awk -v k="\"$2\":" '{ l = $0; sub(/^ +/, "", l) }
        index(l, k) == 1 { v = substr(l, length(k) + 1); gsub(/^[ "]+|[",]+$/, "", v); print v; exit }' "$1"
}

# results GUEST: how many passing workload results ('@@DMP-RESULT ... "ok":true') GUEST's console
# shows so far; running GUEST: whether it exists; wait_results GUEST MIN TIMEOUT: wait (1 s
# steps) until it has MIN results, failing at TIMEOUT or when it is gone.
results() {
    local n
    n=$(grep -c '^@@DMP-RESULT.*"ok":true' "$LAB_OUT/guests/guest-$1.log" 2>/dev/null) || true
    echo "${n:-0}"
}
running() { xl list "$1" > /dev/null 2>&1; }
wait_results() {
    local i=0
    while [ "$(results "$1")" -lt "$2" ]; do
        i=$((i + 1))
        if [ $i -gt "$3" ] || ! running "$1"; then return 1; fi
        sleep 1
    done
}

# guest_healthy CONSOLE_LOG: no workload result failed its check and the kernel printed no
# BUG/Oops/panic (a FAIL line says which); 0 if healthy.
KERNEL_TROUBLE='BUG:|Oops|general protection|invalid opcode|Kernel panic'
guest_healthy() {
    if grep -q '"ok":false' "$1"; then bad "workload failed a check: $(grep '"ok":false' "$1" | head -n 2 | cut -c1-300)"; return 1; fi
    if grep -qE "$KERNEL_TROUBLE" "$1"; then
        bad "kernel trouble on the console: $(grep -E "$KERNEL_TROUBLE" "$1" | head -n 3)"
        return 1
    fi
    return 0
}
