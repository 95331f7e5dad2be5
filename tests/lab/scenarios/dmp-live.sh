# Live introspection of running guests from dom0: 'dmpctl dmp analyze' on a PVH shadow guest and
# a PVH HAP guest, each busy with ptbench. Checks: kallsyms recovered from guest memory (tens of
# thousands of symbols), KASLR slide a multiple of 2 MiB, native_set_pte at its link address (from
# the on-disk image, via dmp-patcher) + slide, LSTAR = entry_SYSCALL_64, direct 'call
# native_set_pte' sites in the boot-patched live text, pause/unpause balanced, and the guest keeps
# running its workload afterwards. Then the refusals: an unknown domain (exit 2, named) and dom0.
# Settings: NATIVE_SET_PTE_LINK=0x... is native_set_pte's link address as 'dmp-patcher analyze'
# finds it in the image on the host; without it the scenario runs dmp-patcher on the image in
# dom0 (slow under TCG, and its whole-kernel analysis needs more memory than a 768 MiB dom0 has).
set -eu
. "$LAB_SCENARIOS/lib.sh"
# All six phases: the pipeline (many processes, compression, output checked) is the most
# sensitive check that a patched kernel still runs user space correctly.
PT_PHASES=$(echo "${PT_PHASES:-forkexec:mmap:mprotect:pagefault:fork:pipeline}" | tr : ";")   # --set PT_PHASES=a:b


# The value of a "key": value line of a pretty-printed JSON report (first match).

# Link-time address of native_set_pte, from the kernel image the guests boot.
link=${NATIVE_SET_PTE_LINK:-}
if [ -z "$link" ]; then
    t0=$(date +%s)
    dmp-patcher analyze --json "$LAB_IMAGES/vmlinuz" > "$LAB_OUT/vmlinuz-analyze.json"
    link=$(grep -A1 '"callee": "native_set_pte"' "$LAB_OUT/vmlinuz-analyze.json" |
           sed -n 's/.*"callee_va": "\(0x[0-9a-f]*\)".*/\1/p' | sort -u)
    echo "dmp-patcher analyze of the image: $(( $(date +%s) - t0 )) s; native_set_pte linked at $link"
fi
case $link in
    0xffffffff8*) ;;
    *) echo "FAIL: no single link address for native_set_pte from the image (got '$link')"; exit 1 ;;
esac

# The workload runs forever (ptbench --rounds 0) and prints a result line per phase, which is
# how we see that a guest is alive.
# Start a guest and wait for its first workload result. A guest that dies while booting (before
# any analysis touched it) is started once more, and that is reported.
start_guest() {   # NAME HAP
    local try cfg
    cfg=$(guest_config "$1" pvh "$2" 192 "ptbench,--rounds,0,--scale,0.2,--phases,$PT_PHASES")
    for try in 1 2; do
        create_guest $1 "$cfg" || return 1
        wait_results "$1" 1 300 && return 0
        echo "note: $1 did not reach its workload (attempt $try); console tail:"
        tail -n 5 "$LAB_OUT/guests/guest-$1.log" || true
        cp "$LAB_OUT/guests/guest-$1.log" "$LAB_OUT/guests/guest-$1.attempt$try.log" 2>/dev/null || true
        xl destroy "$1" 2>/dev/null || true
        : > "$LAB_OUT/guests/guest-$1.log" 2>/dev/null || true
    done
    return 1
}

for g in live-shadow live-hap; do
    echo "== $g"
    hap=0
    [ $g = live-hap ] && hap=1
    if ! start_guest $g $hap; then
        bad "$g: the guest did not start its workload"
        continue
    fi
    out="$LAB_OUT/$g-analyze.json"
    t0=$(date +%s)
    if ! dmpctl dmp analyze $g --json > "$out" 2> "$LAB_OUT/$g-analyze.err"; then
        bad "$g: dmpctl dmp analyze failed: $(cat "$LAB_OUT/$g-analyze.err")"
        continue
    fi
    wall=$(( $(date +%s) - t0 ))
    # The human-readable form too (without classification, which the JSON run already timed).
    dmpctl dmp analyze $g --no-sites > "$LAB_OUT/$g-analyze.txt" 2>&1 ||
        bad "$g: human-readable analyze failed: $(cat "$LAB_OUT/$g-analyze.txt")"
    p=$(jget "$out" pauses) u=$(jget "$out" unpauses)
    after=$(results $g)
    nsyms=$(jget "$out" symbols)
    slide=$(jget "$out" slide)
    pte=$(sed -n 's/^ *"native_set_pte": "\(0x[0-9a-f]*\)".*/\1/p' "$out" | head -n 1)
    direct=$(sed -n 's/^ *"native_set_pte": \([0-9]*\),\{0,1\}$/\1/p' "$out" | head -n 1)
    banner=$(sed -n 's/^ *"banner": "\(.*\)",$/\1/p' "$out" | head -n 1)
    echo "$g: banner '$banner'"
    echo "$g: $nsyms symbols, slide $slide, native_set_pte $pte, $direct direct calls to it"
    echo "$g: paging $(jget "$out" paging), paused $(jget "$out" paused_secs) s, analyze total" \
         "$(jget "$out" total_secs) s (kallsyms $(jget "$out" kallsyms_secs) s, classify" \
         "$(jget "$out" classify_secs) s), wall $wall s"
    echo "$g $(jget "$out" paging) total_secs=$(jget "$out" total_secs) paused_secs=$(jget "$out" paused_secs) wall=$wall" \
        >> "$LAB_OUT/dmp-live-times.txt"
    [ "${nsyms:-0}" -gt 20000 ] && ok "$g: $nsyms symbols" || bad "$g: expected > 20000 symbols, got '$nsyms'"
    case $banner in Linux\ version*) ok "$g: linux_banner read" ;; *) bad "$g: banner '$banner'" ;; esac
    if [ -n "$slide" ] && [ $((slide % 2097152)) -eq 0 ]; then
        ok "$g: slide $slide is a multiple of 2 MiB"
    else
        bad "$g: slide '$slide' is not a multiple of 2 MiB"
    fi
    [ "$slide" != 0 ] || echo "note: $g: slide is 0 (no KASLR: PVH boot enters the kernel at its link address)"
    if [ -n "$pte" ] && [ $((pte)) -eq $((link + slide)) ]; then
        ok "$g: native_set_pte $pte = link $link + slide $slide"
    else
        bad "$g: native_set_pte '$pte' != link $link + slide $slide"
    fi
    [ "${direct:-0}" -gt 0 ] && ok "$g: $direct direct calls to native_set_pte in the live text" ||
        bad "$g: expected direct calls to native_set_pte in the live text, got '$direct'"
    [ "$(jget "$out" lstar_is_entry_syscall_64)" = true ] && ok "$g: LSTAR = entry_SYSCALL_64" ||
        bad "$g: LSTAR is not entry_SYSCALL_64"
    [ "$p" = 1 ] && [ "$u" = 1 ] && ok "$g: paused once, unpaused once" || bad "$g: pauses $p unpauses $u"
    if xl list $g | awk 'NR == 2 { exit index($5, "p") ? 1 : 0 }'; then
        ok "$g: not paused (xl list)"
    else
        bad "$g: left paused: $(xl list $g | tail -n 1)"
    fi
    # The workload goes on after the analysis: two more result lines within 180 s.
    if wait_results $g $((after + 2)) 180; then
        ok "$g: workload still running ($(results $g) results, $after at the end of the analysis)"
    else
        bad "$g: workload stopped after the analysis ($(results $g) results)"
    fi
    if grep -q '"ok":false' "$LAB_OUT/guests/guest-$g.log"; then
        bad "$g: the workload reported a failed check"
    fi
    # One guest at a time: under TCG a second busy guest halves the speed of everything else.
    xl destroy $g 2>/dev/null || true
done

echo "== refusals"
set +e
dmpctl dmp analyze no-such-guest > "$LAB_OUT/nosuch.out" 2>&1
rc=$?
set -e
[ $rc = 2 ] && grep -q "no-such-guest" "$LAB_OUT/nosuch.out" && ok "unknown domain: exit 2, named" ||
    bad "unknown domain: exit $rc, '$(cat "$LAB_OUT/nosuch.out")'"
set +e
dmpctl dmp analyze 0 > "$LAB_OUT/dom0.out" 2>&1
rc=$?
set -e
[ $rc = 1 ] && grep -q "dom0" "$LAB_OUT/dom0.out" && ok "dom0 refused: $(cat "$LAB_OUT/dom0.out")" ||
    bad "dom0: exit $rc, '$(cat "$LAB_OUT/dom0.out")'"

for g in live-shadow live-hap; do xl destroy $g 2>/dev/null || true; done
[ $fail = 0 ] && echo "dmp-live: all checks passed" || echo "dmp-live: FAILED"
exit $fail
