# Shared settings for the build and lab scripts (sourced, not executed).
# Pinned inputs: changing any of these invalidates the cached artifacts that depend on them.
XEN_SRC_VERSION="4.17.5+72-g01140da4e8-1"
XEN_UPSTREAM_DIR="xen-4.17.5+72-g01140da4e8"
GUEST_KERNEL_FLAVOUR="amd64"

TOP="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD:-$TOP/build}"
# Downloads are cached outside the tree so that 'make clean' and fresh clones reuse them.
DMP_CACHE="${DMP_CACHE:-/var/cache/dmp-toolkit}"

# Debian packages the project needs on the build host (which is also the lab's source of
# dom0 binaries, Xen tools and the unmodified guest kernel).
DEB_PACKAGES=(
    build-essential dpkg-dev flex bison python3 clang
    qemu-system-x86 xen-hypervisor-4.17-amd64 xen-utils-4.17 libxen-dev
    libcapstone-dev libunicorn-dev libbpf-dev liblzma-dev zlib1g-dev libzstd-dev
    "linux-image-$GUEST_KERNEL_FLAVOUR" "linux-headers-$GUEST_KERNEL_FLAVOUR"
    busybox-static cpio kmod xz-utils zstd gnuplot-nox xenstore-utils qemu-system-xen seabios
    # the VT-x platform (tests/lab/vmx.sh): Bochs and a GRUB ISO to boot our xen.gz from
    bochs bochsbios vgabios bochs-sdl grub-pc-bin grub-common xorriso mtools
)

die() { echo "error: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# The newest installed Debian guest kernel release, e.g. 6.1.0-56-amd64.
guest_kernel_release() {
    local k
    k=$(ls /boot/vmlinuz-*-"$GUEST_KERNEL_FLAVOUR" 2>/dev/null | sort -V | tail -n 1)
    [ -n "$k" ] || die "no /boot/vmlinuz-*-$GUEST_KERNEL_FLAVOUR: run 'make deps'"
    basename "$k" | sed 's/^vmlinuz-//'
}

# Serialise a build step across concurrent invocations (several engineers or CI jobs on one
# machine share build/): with_lock NAME command...
with_lock() {
    local name=$1; shift
    mkdir -p "$BUILD"
    ( flock -w 900 9 || die "timed out waiting for the $name lock"; "$@" ) 9>"$BUILD/.$name.lock"
}
