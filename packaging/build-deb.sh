#!/usr/bin/env bash
# Builds the Debian package from release binaries already built (`make package` builds them
# first, with the Swift runtime linked in): overlayd, overlayctl and overlay-agent in /usr/bin,
# the systemd units, the documentation. Files are owned by root in the archive whoever builds it.
# Its dependencies are the Debian packages that hold the C libraries the binaries link.
# Usage: packaging/build-deb.sh [OUTDIR]   (default .build/package; prints the .deb's path)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$root/.build/release}
out=${1:-$root/.build/package}
programs=(overlayd overlayctl overlay-agent)
for p in "${programs[@]}"; do
  [ -x "$BIN/$p" ] || { echo "missing $BIN/$p: build it with swift build -c release --static-swift-stdlib" >&2; exit 1; }
done

# 0.1.0+git<commit date>.<commit>: orders by commit date, names the commit.
version=${VERSION:-0.1.0+git$(git -C "$root" log -1 --format=%cd.%h --date=format:%Y%m%d%H%M%S)}
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/overlay
install -d -m 755 "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/lib/systemd/system" "$pkg/usr/share/doc/overlay/docs"
for p in "${programs[@]}"; do
  install -m 755 "$BIN/$p" "$pkg/usr/bin/$p"
  strip --strip-unneeded "$pkg/usr/bin/$p"
done
install -m 644 "$root"/examples/systemd/*.service "$pkg/lib/systemd/system/"
install -m 644 "$root/README.md" "$pkg/usr/share/doc/overlay/"
install -m 644 "$root"/docs/*.md "$root/docs/api.yaml" "$pkg/usr/share/doc/overlay/docs/"

# The packages that own the shared libraries the binaries load (libc, libsodium, libmnl, ...).
libs=$(for p in "${programs[@]}"; do ldd "$pkg/usr/bin/$p"; done | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u)
owners=()
for l in $libs; do
  # dpkg knows a library by the path it installed, with or without the /usr of merged-usr.
  owner=""
  for path in "$l" "$(readlink -f "$l")" "${l#/usr}"; do
    owner=$(dpkg -S "$path" 2>/dev/null | awk 'NR == 1') || owner=""
    [ -z "$owner" ] || break
  done
  [ -n "$owner" ] || {
    echo "$l is not from a Debian package (the Swift runtime must be linked in: --static-swift-stdlib)" >&2
    exit 1
  }
  owners+=("${owner%%:*}")
done
depends=$(printf '%s\n' "${owners[@]}" | sort -u | paste -sd, | sed 's/,/, /g')
size=$(du -sk "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: overlay
Version: $version
Architecture: $arch
Maintainer: overlay maintainers <root@localhost>
Installed-Size: $size
Depends: $depends
Recommends: wireguard-go, haproxy
Suggests: postgresql
Section: net
Priority: optional
Description: overlay networks over WireGuard for a peer-to-peer cloud
 overlayd is the controller (one or several replicas on one database),
 overlay-agent realises a node's plan in the kernel (WireGuard, nftables,
 namespaces), overlayctl is the admin CLI. systemd units for overlayd and
 overlay-agent are installed but not enabled; see
 /usr/share/doc/overlay/docs/operations.md.
CONTROL
mkdir -p "$out"
deb=$out/overlay_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zgzip --build "$pkg" "$deb" >/dev/null
echo "$deb"
