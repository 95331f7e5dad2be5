#!/usr/bin/env bash
# Build the Xen hypervisor from the pinned Debian source with our patch series applied.
# Output: $BUILD/xen/xen (multiboot ELF for QEMU -kernel) and xen-syms.
# Rebuilt only when the series, a patch, the config fragment or this script changes.
set -euo pipefail
. "$(dirname "$0")/config.sh"

src="$DMP_CACHE/xen-src/$XEN_UPSTREAM_DIR"
[ -f "$src/.complete" ] || die "Xen source missing at $src: run 'make deps'"
# For bisecting the series: XEN_PATCHES_UPTO=N applies only the first N patches, and
# XEN_OUT puts that build elsewhere (e.g. build/xen-upto1), leaving the lab's own untouched.
upto=${XEN_PATCHES_UPTO:-all}
[[ $upto =~ ^([0-9]+|all)$ ]] || die "XEN_PATCHES_UPTO must be a number of patches or 'all', not '$upto'"
out="${XEN_OUT:-$BUILD/xen}"
work="$out/src"

inputs_hash() {
    (cd "$TOP" && cat scripts/build-xen.sh scripts/config.sh xen-patches/series xen-patches/*.patch \
        xen-patches/config-fragment 2>/dev/null; cat /boot/xen-4.17-amd64.config; echo "$upto") | sha256sum | cut -c1-16
}
want=$(inputs_hash)
if [ -f "$out/xen" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$want" ]; then
    log "Xen is up to date ($out/xen)"
    exit 0
fi

log "preparing pristine Xen source in $work"
rm -rf "$work"
mkdir -p "$out"
cp -a "$src" "$work"

# Quilt-style series: one patch per line, '#' comments. A patch that no longer applies stops
# the build and names itself, instead of building a half-patched hypervisor.
n=0
while read -r p; do
    p=${p%%#*}; p=${p//[[:space:]]/}
    [ -n "$p" ] || continue
    [ "$upto" = all ] || [ "$n" -lt "$upto" ] || break
    [ -f "$TOP/xen-patches/$p" ] || die "xen-patches/series names $p, which does not exist"
    if ! patch -d "$work" -p1 --forward --batch --silent --dry-run < "$TOP/xen-patches/$p" >/dev/null 2>&1; then
        patch -d "$work" -p1 --forward --batch --dry-run < "$TOP/xen-patches/$p" | tail -n 20 >&2 || true
        die "xen-patches/$p does not apply to xen=$XEN_SRC_VERSION; refresh it"
    fi
    patch -d "$work" -p1 --forward --batch --silent < "$TOP/xen-patches/$p"
    n=$((n + 1))
done < "$TOP/xen-patches/series"
log "applied $n patches"

cp /boot/xen-4.17-amd64.config "$work/xen/.config"
cat "$TOP/xen-patches/config-fragment" >> "$work/xen/.config"
make -C "$work/xen" olddefconfig >/dev/null
for opt in $(grep -o '^CONFIG_[A-Z0-9_]*=y' "$TOP/xen-patches/config-fragment" | cut -d= -f1); do
    grep -q "^$opt=y" "$work/xen/.config" || die "$opt did not survive olddefconfig"
done

log "building the hypervisor (about a minute on 2 cores)"
# A parent make (make lab -j2) would otherwise force this build to -j1 through MAKEFLAGS.
if ! env -u MAKEFLAGS -u MFLAGS make -C "$work/xen" -j"$(nproc)" > "$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log" >&2
    die "Xen build failed (full log: $out/build.log)"
fi
cp "$work/xen/xen" "$out/xen"
cp "$work/xen/xen-syms" "$out/xen-syms"
echo "$want" > "$out/stamp"
log "built $out/xen"
