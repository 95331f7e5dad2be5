# The lab's Intel VT-x platform (sourced by tests/lab/run.sh): Xen, dom0 and guests on Bochs'
# corei7_skylake_x (VMX with EPT, A/D bits, VPID, PML), because QEMU's software emulation has
# AMD SVM only. Bochs cannot load a multiboot kernel and has no virtio, so:
#   - an ISO boots GRUB, which loads Xen, dom0's kernel and its initramfs (multiboot2); it
#     depends only on those images and is cached under $LAB/vmx/;
#   - an input disk holds a tar of lab/ (the boot's id, plan, the tests' scenarios and
#     environments, the guest images), which dom0's init unpacks;
#   - dom0 writes a tar of lab/runs to an empty results disk before it powers off, and the host
#     unpacks it into $LAB/runs.
# Pitfalls met on the way (docs/LAB.md): Debian's Bochs has no 'nogui' display (sdl2 with
# SDL_VIDEODRIVER=dummy), its ALSA plugin aborts unless sound names dummy drivers, the 'term'
# display panics when GRUB sets a 32 bpp mode, and the built-in debugger stops at the first
# instruction unless a command file continues.

# Disk geometry Bochs wants for a flat image: 16 heads, 63 sectors, whole cylinders.
VMX_CYL_BYTES=$((16 * 63 * 512))

# vmx_disk FILE MIN_BYTES: grow FILE (sparse) to whole cylinders; prints the cylinder count.
vmx_disk() {
    local f=$1 min=$2 cyl
    cyl=$(( (min + VMX_CYL_BYTES - 1) / VMX_CYL_BYTES ))
    [ "$cyl" -ge 2 ] || cyl=2
    truncate -s $((cyl * VMX_CYL_BYTES)) "$f"
    echo "$cyl"
}

# vmx_iso XEN_IMAGE: the cached boot ISO for this hypervisor and dom0 image (path on stdout).
vmx_iso() {
    local xen=$1 key dir iso root
    key=$( (sha256sum "$xen" "$LAB/dom0.cpio.gz" "/boot/vmlinuz-$KREL"; echo "$xen_args"; sed -n '/^vmx_grub_cfg()/,/^}/p' "$TOP/tests/lab/vmx.sh") |
           sha256sum | cut -c1-16)
    dir="$LAB/vmx"
    iso="$dir/lab-$key.iso"
    if [ ! -f "$iso" ]; then
        mkdir -p "$dir"
        rm -f "$dir"/lab-*.iso
        root=$(mktemp -d "$dir/iso-root.XXXX")
        mkdir -p "$root/boot/grub"
        gzip -1 -c "$xen" > "$root/boot/xen.gz"
        cp "/boot/vmlinuz-$KREL" "$root/boot/vmlinuz"
        cp "$LAB/dom0.cpio.gz" "$root/boot/dom0.cpio.gz"
        vmx_grub_cfg > "$root/boot/grub/grub.cfg"
        grub-mkrescue -o "$iso.tmp" "$root" >"$dir/grub-mkrescue.log" 2>&1 ||
            { cat "$dir/grub-mkrescue.log" >&2; rm -rf "$root"; die "grub-mkrescue failed"; }
        mv "$iso.tmp" "$iso"
        rm -rf "$root"
    fi
    echo "$iso"
}

# GRUB on the serial line in text mode (a graphics mode would need a display Bochs lacks here).
# apicv=0: with Xen's APIC register virtualization and virtual interrupt delivery on Bochs, a
# shadow-paged guest takes a #PF that has no cause right after it enables its local APIC
# (docs/LAB.md, artefact C; stock Xen too); EPT guests do not, and without them neither does.
vmx_grub_cfg() {
    cat <<CFG
set timeout=0
set default=0
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set gfxpayload=text
menuentry "Xen (DMP lab, VT-x)" {
    multiboot2 /boot/xen.gz console=com1 com1=115200 dom0_mem=768M,max:768M apicv=0 loglvl=all guest_loglvl=all $xen_args
    module2 /boot/vmlinuz console=hvc0 quiet dmp.platform=vmx
    module2 /boot/dom0.cpio.gz
}
CFG
}

# vmx_run OUT TIMEOUT: boot the plan of $out under Bochs; sets qrc (124 on timeout) and unpacks
# the results disk into $LAB/runs.
vmx_run() {
    local out=$1 limit=$2 iso work in_cyl res_cyl pid t0 done_at=
    command -v bochs >/dev/null || die "bochs is not installed: run 'make deps'"
    iso=$(vmx_iso "$xen_image")
    work="$out/vmx"
    mkdir -p "$work/stage/lab/images" "$work/stage/lab/runs"
    echo "$run" > "$work/stage/lab/boot"
    cp "$LAB/images/vmlinuz" "$LAB/images/guest.cpio.gz" "$work/stage/lab/images/"
    mkdir -p "$work/stage/lab/runs/$run"
    cp "$out/plan" "$work/stage/lab/runs/$run/plan"
    for n in "${names[@]}"; do
        [ "$n" = "$run" ] && { cp -r "$out/scenarios" "$out/scenario.env" "$work/stage/lab/runs/$run/"; continue; }
        cp -r "$LAB/runs/$n" "$work/stage/lab/runs/"
    done
    tar cf "$work/input.img" -C "$work/stage" lab
    rm -rf "$work/stage"
    in_cyl=$(vmx_disk "$work/input.img" "$(stat -c %s "$work/input.img")")
    rm -f "$work/results.img"
    res_cyl=$(vmx_disk "$work/results.img" $((256 << 20)))
    cat > "$work/bochsrc" <<RC
megs: $mem
cpu: model=corei7_skylake_x, count=1, ips=200000000, reset_on_triple_fault=0
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14
ata0-master: type=cdrom, path=$iso, status=inserted
ata0-slave: type=disk, path=$work/input.img, mode=flat, cylinders=$in_cyl, heads=16, spt=63
ata1: enabled=1, ioaddr1=0x170, ioaddr2=0x370, irq=15
ata1-master: type=disk, path=$work/results.img, mode=flat, cylinders=$res_cyl, heads=16, spt=63
boot: cdrom
display_library: sdl2
com1: enabled=1, mode=file, dev=$out/serial.log
sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy
clock: sync=none
log: $out/bochs.log
RC
    echo c > "$work/cmds"
    : > "$out/serial.log"
    # Bochs wants a terminal (script gives it one) and stops in its debugger without 'c'.
    SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy timeout -k 10 "$limit" \
        script -qec "bochs -q -f '$work/bochsrc' -rc '$work/cmds'" /dev/null \
        </dev/null >"$out/emulator.log" 2>&1 &
    pid=$!
    t0=$(date +%s)
    # dom0 powers off after writing the results disk; Bochs may stop in its debugger instead of
    # exiting, so the end is also taken from the console: the done marker, then a grace period.
    while kill -0 "$pid" 2>/dev/null; do
        if [ -z "$done_at" ] && grep -q '@@LAB-DOM0-DONE' "$out/serial.log" 2>/dev/null; then
            done_at=$(date +%s)
        fi
        if [ -n "$done_at" ] && [ $(( $(date +%s) - done_at )) -ge 20 ]; then
            kill "$pid" 2>/dev/null
            break
        fi
        sleep 2
    done
    wait "$pid"
    qrc=$?
    [ -n "$done_at" ] && qrc=0
    # The results disk: a tar of lab/runs, zeros after it.
    if tar xf "$work/results.img" -C "$work" lab/runs 2>/dev/null; then
        cp -r "$work/lab/runs/." "$LAB/runs/"
        rm -rf "$work/lab"
    elif [ "$qrc" = 0 ]; then
        echo "lab: the results disk holds no results (dom0 wrote none)" >&2
    fi
    rm -f "$work/input.img" "$work/results.img"
    log "vmx: Bochs ran $(( $(date +%s) - t0 ))s"
}
