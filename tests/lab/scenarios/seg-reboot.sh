# Persistent segments survive a reboot of the whole lab (Xen, dom0, dmpd): run twice with the
# same SEG_STATE_DIR on the host share, first with SEG_PHASE=write (create a persistent
# segment, fill it from a guest, replace, destroy the guest), then, in a new boot, with
# SEG_PHASE=check (a new guest attaches it and must read the saved bytes; a transient segment
# created in the first boot must be gone). tests/run-all.sh runs both boots as one test.
set -eu
. "$LAB_SCENARIOS/lib.sh"
. "$LAB_SCENARIOS/seg-lib.sh"
phase=${SEG_PHASE:?SEG_PHASE=write or check}
[ -n "${SEG_STATE_DIR:-}" ] || { echo "set SEG_STATE_DIR to a directory on the host share"; exit 2; }
[ "$phase" = write ] && rm -rf "$SEG_STATE_DIR"
mkdir -p "$SEG_STATE_DIR"
seg_setup_dom0
seg_guest g 128
gcmd g 30 "insmod /lib/modules/dmpseg.ko" && pass "dmpseg loaded" || fail "insmod"
if [ "$phase" = write ]; then
    dmpctl segment create keep 8m --persistent
    dmpctl segment create gone 4m
    dmpctl segment allow keep g
    dmpctl segment attach g keep --rw
    gcmd g 120 "segtool fill /dev/dmpseg/keep 77" && pass "guest filled the persistent segment" || fail "fill"
    dmpctl segment replace keep && pass "replace saved the contents" || fail "replace"
    dmpctl segment detach g keep
    [ -s "$SEG_STATE_DIR/segments/keep.img" ] && pass "image in the state directory" || fail "no keep.img"
else
    dmpctl segment list | tee "$LAB_OUT/list-after-reboot.txt"
    grep -q '^keep ' "$LAB_OUT/list-after-reboot.txt" && pass "persistent segment listed after the reboot" ||
        fail "keep not listed after the reboot"
    grep -q '^gone ' "$LAB_OUT/list-after-reboot.txt" && pass "transient segment's registry entry kept" ||
        fail "gone not listed (the registry keeps definitions)"
    dmpctl segment attach g keep --rw
    gcmd g 120 "segtool check /dev/dmpseg/keep 77" && pass "saved bytes read back in a new boot" ||
        fail "contents lost across the reboot"
    dmpctl segment detach g keep
    dmpctl segment allow gone g
    dmpctl segment attach g gone --rw
    gcmd g 60 "segtool zero /dev/dmpseg/gone" && pass "transient segment starts zeroed after the reboot" ||
        fail "gone not zero"
    dmpctl segment detach g gone
fi
xl destroy g || true
dmpd_stop
seg_summary
