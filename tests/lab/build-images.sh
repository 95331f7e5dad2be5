#!/usr/bin/env bash
# Build the lab's boot images from the installed Debian packages plus this project's binaries:
#   $BUILD/lab/dom0.cpio.gz   busybox dom0 with Xen tools, kernel modules, our tools
#   $BUILD/lab/images/        guest kernel (Debian's, unmodified) and guest initramfs
# Each image is rebuilt only when its inputs change (content hash stamp).
set -euo pipefail
. "$(dirname "$0")/../../scripts/config.sh"

KREL=$(guest_kernel_release)
LAB="$BUILD/lab"
OUTBIN="$BUILD/out/bin"
GUESTBIN="$BUILD/out/guest"
mkdir -p "$LAB/images"

# Stamp = hash of everything that goes into an image; rebuild only on change.
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1.stamp" 2>/dev/null)" = "$2" ]; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# Copy an executable and the shared libraries it needs into a root.
copy_with_libs() {
    local root=$1 bin=$2 dest=$3
    install -D -m 0755 "$bin" "$root$dest"
    ldd "$bin" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
        [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
    done
}

# virtio and 9p: the host share under QEMU; ata_piix and sd_mod: the input and results disks
# under Bochs (tests/lab/vmx.sh).
dom0_modules="xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs virtio_pci 9pnet_virtio 9p xen-blkback loop ata_piix sd_mod"
xen_tools="xl xenstored xenconsoled xenconsole xen-init-dom0 xenperf xen-memshare xenpaging"
dom0_inputs=("$0" "$TOP/tests/lab/dom0/init" /usr/bin/busybox "/boot/vmlinuz-$KREL" /usr/libexec/xen-qemu-system-i386)
for t in $xen_tools; do dom0_inputs+=("/usr/lib/xen-4.17/bin/$t"); done
dom0_inputs+=($(ls "$OUTBIN"/* 2>/dev/null || true))
# Out-of-tree dom0 modules (guest-kernel/module.mk), loaded by the scenarios that use them.
dom0_inputs+=($(ls "$BUILD"/out/dom0-modules/*.ko 2>/dev/null || true))
want=$( (cat "${dom0_inputs[@]}"; echo "$dom0_modules $KREL") | sha256sum | cut -c1-16)
if ! stamp_ok "$LAB/dom0.cpio.gz" "$want"; then
    log "building dom0 initramfs ($KREL)"
    root=$(mktemp -d "$LAB/dom0-root.XXXX")
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,var/lib/xen,var/log/xen,var/run/xen,lab,lib64}
    install -m 0755 /usr/bin/busybox "$root/bin/busybox"
    install -m 0755 "$TOP/tests/lab/dom0/init" "$root/init"
    : > "$root/etc/modules.order"
    for m in $dom0_modules; do
        modprobe -S "$KREL" --show-depends "$m" | awk '$1 == "insmod" {print $2}' | while read -r ko; do
            grep -qx "$ko" "$root/etc/modules.order" && continue
            install -D -m 0644 "$ko" "$root$ko"
            echo "$ko" >> "$root/etc/modules.order"
        done
    done
    for t in $xen_tools; do copy_with_libs "$root" "/usr/lib/xen-4.17/bin/$t" "/usr/lib/xen-4.17/bin/$t"; done
    # xenstore-read/-write/-ls/... are links to one multi-call binary.
    copy_with_libs "$root" /usr/bin/xenstore /usr/bin/xenstore
    for l in /usr/bin/xenstore-{chmod,exists,list,ls,read,rm,watch,write}; do ln -sf xenstore "$root$l"; done
    # glibc dlopen()s libgcc_s for pthread_cancel (xl uses it); ldd cannot see that.
    install -D -m 0644 /lib/x86_64-linux-gnu/libgcc_s.so.1 "$root/lib/x86_64-linux-gnu/libgcc_s.so.1"
    cp -a /etc/xen "$root/etc/"
    # Full HVM guests: the device model, hvmloader and the firmware blobs QEMU loads.
    copy_with_libs "$root" /usr/libexec/xen-qemu-system-i386 /usr/libexec/xen-qemu-system-i386
    for f in /usr/lib/xen-4.17/boot/hvmloader /usr/share/seabios/bios-256k.bin \
             /usr/share/seabios/vgabios-stdvga.bin /usr/share/qemu/linuxboot_dma.bin \
             /usr/share/qemu/linuxboot.bin /usr/share/qemu/kvmvapic.bin; do
        install -D -m 0644 "$(readlink -f "$f")" "$root$f"
    done
    cp -r /usr/share/qemu/keymaps "$root/usr/share/qemu/"   # read even with -vnc none
    for b in "$OUTBIN"/*; do [ -f "$b" ] && copy_with_libs "$root" "$b" "/usr/local/bin/$(basename "$b")"; done
    for k in "$BUILD"/out/dom0-modules/*.ko; do [ -f "$k" ] && install -D -m 0644 "$k" "$root/lib/modules/$(basename "$k")"; done
    (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$LAB/dom0.cpio.gz.tmp"
    mv "$LAB/dom0.cpio.gz.tmp" "$LAB/dom0.cpio.gz"
    echo "$want" > "$LAB/dom0.cpio.gz.stamp"
    rm -rf "$root"; trap - EXIT
fi

guest_inputs=("$0" "$TOP/tests/lab/guest/init" /usr/bin/busybox)
guest_inputs+=($(ls "$GUESTBIN"/* "$BUILD"/out/guest-modules/*.ko 2>/dev/null || true))
guest_inputs+=("/lib/modules/$KREL/kernel/drivers/block/xen-blkfront.ko")
want=$(hash_of "${guest_inputs[@]}")
if ! stamp_ok "$LAB/images/guest.cpio.gz" "$want"; then
    log "building guest initramfs"
    root=$(mktemp -d "$LAB/guest-root.XXXX")
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root"/{bin,proc,sys,dev,tmp,usr/local/bin}
    install -m 0755 /usr/bin/busybox "$root/bin/busybox"
    install -m 0755 "$TOP/tests/lab/guest/init" "$root/init"
    for b in "$GUESTBIN"/*; do [ -f "$b" ] && install -m 0755 "$b" "$root/usr/local/bin/"; done
    # Out-of-tree guest modules: the guest init does not load them, scenarios insmod what they need.
    for k in "$BUILD"/out/guest-modules/*.ko; do [ -f "$k" ] && install -D -m 0644 "$k" "$root/lib/modules/$(basename "$k")"; done
    # xen-blkfront for guests given a disk (the segment benchmark's baseline); loaded on demand.
    install -D -m 0644 "/lib/modules/$KREL/kernel/drivers/block/xen-blkfront.ko" "$root/lib/modules/xen-blkfront.ko"
    (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$LAB/images/guest.cpio.gz.tmp"
    mv "$LAB/images/guest.cpio.gz.tmp" "$LAB/images/guest.cpio.gz"
    echo "$want" > "$LAB/images/guest.cpio.gz.stamp"
    rm -rf "$root"; trap - EXIT
fi

# Guests boot Debian's own kernel, byte for byte.
cmp -s "/boot/vmlinuz-$KREL" "$LAB/images/vmlinuz" || cp "/boot/vmlinuz-$KREL" "$LAB/images/vmlinuz"
cp "$BUILD/xen/xen" "$LAB/xen" 2>/dev/null || die "no hypervisor at $BUILD/xen/xen: run 'make xen'"
log "lab images ready in $LAB"
