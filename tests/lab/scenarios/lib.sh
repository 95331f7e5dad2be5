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
        echo "extra=\"console=hvc0 quiet ${verbose}dmp.run=$run\""
        [ "$type" = pv ] || echo "hap=$hap"
        # TCG has no NRIP-save: without this the guest loops on RDTSCP emulation.
        echo "tsc_mode=\"native\""
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

# create_guest NAME CONFIG [xl create options]: xl create, retried after removing what a failed
# attempt left behind.
create_guest() {
    local name=$1 cfg=$2; shift 2
    try sh -c "xl create $* '$cfg' >/dev/null || { xl destroy '$name' 2>/dev/null; exit 1; }"
}
