#!/bin/bash
# Boot Debian's guest kernel (no Xen) under QEMU TCG with a busybox initramfs holding the
# static workloads, run them once, and print their tagged lines. Two uses: check that the
# static binaries work in the real guest kernel, and size ptbench's iterations for an
# emulated CPU without booting the whole Xen lab. Takes ~30 s.
#   usage: tests/workload/tcg-check.sh [BUILD_DIR] [-- ptbench args...]
# Exit status: 0 if ptbench and wsswork both finished with ok:true, 1 otherwise.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$TOP/build
if [ $# -gt 0 ] && [ "$1" != "--" ]; then BUILD=$1; shift; fi
if [ $# -gt 0 ] && [ "$1" = "--" ]; then shift; fi
PTARGS=${*:-}
KERNEL=${KERNEL:-$(ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -1)}
BUSYBOX=${BUSYBOX:-/bin/busybox}
for f in "$BUILD/out/guest/ptbench" "$BUILD/out/guest/wsswork" "$KERNEL" "$BUSYBOX"; do
    [ -r "$f" ] || { echo "tcg-check: missing $f (run make; apt-get install busybox-static linux-image-amd64 qemu-system-x86)" >&2; exit 1; }
done
file -L "$BUSYBOX" | grep -q 'statically linked' || { echo "tcg-check: $BUSYBOX is not static (install busybox-static)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/wl-tcg.XXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,proc,sys,dev,usr/local/bin}
install -m 0755 "$BUSYBOX" "$root/bin/busybox"
install -m 0755 "$BUILD/out/guest/ptbench" "$BUILD/out/guest/wsswork" "$root/usr/local/bin/"
cat > "$root/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
export PATH=/usr/local/bin:/bin
echo "@@TCG-UP \$(uname -r)"
ptbench $PTARGS
echo "@@TCG-EXIT ptbench \$?"
wsswork --schedule 16m:3s,48m:3s,8m:2s
echo "@@TCG-EXIT wsswork \$?"
poweroff -f
INIT
chmod 0755 "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"

timeout 900 qemu-system-x86_64 -machine q35 -cpu EPYC-Rome,-monitor -accel tcg -m 256 -smp 1 \
    -nographic -no-reboot -kernel "$KERNEL" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 quiet panic=-1" > "$work/console.log" 2>&1 || true
grep -a -o '@@[A-Z-]* .*' "$work/console.log" | tr -d '\r' || true
n=$(grep -a -c -E '@@TCG-EXIT (ptbench|wsswork) 0' "$work/console.log" || true)
[ "$n" = 2 ]
