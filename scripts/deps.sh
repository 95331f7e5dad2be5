#!/usr/bin/env bash
# Install the Debian packages the project needs and fetch the pinned Xen source package.
# Idempotent: a second run checks and does nothing.
set -euo pipefail
. "$(dirname "$0")/config.sh"

missing=()
for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    [ "$(id -u)" = 0 ] || die "need root to install packages: ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

src_dir="$DMP_CACHE/xen-src/$XEN_UPSTREAM_DIR"
if [ ! -f "$src_dir/.complete" ]; then
    # Source packages need a deb-src line mirroring the existing deb entry.
    if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
        [ -f /etc/apt/sources.list.d/debian.sources ] || die "no /etc/apt/sources.list.d/debian.sources to derive deb-src from"
        log "enabling Debian source packages"
        sed -e 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
            > /etc/apt/sources.list.d/dmp-debian-src.sources
        apt-get update -q
    fi
    log "fetching Xen source package xen=$XEN_SRC_VERSION"
    mkdir -p "$DMP_CACHE/xen-src"
    rm -rf "$src_dir"
    (cd "$DMP_CACHE/xen-src" && apt-get source -q --download-only "xen=$XEN_SRC_VERSION" &&
        dpkg-source --no-check -x "xen_${XEN_SRC_VERSION}.dsc" "$XEN_UPSTREAM_DIR") ||
        die "could not fetch or unpack xen=$XEN_SRC_VERSION (is deb-src enabled?)"
    touch "$src_dir/.complete"
fi
log "dependencies ready (Xen source: $src_dir)"
