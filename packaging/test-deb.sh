#!/usr/bin/env bash
# Checks a built package without installing it: unpacked with `dpkg-deb -x` into a temporary
# directory, its files are root's, its binaries run from there (no Swift runtime needed beside
# them), its units pass `systemd-analyze verify`, and a short overlayctl and overlayd session on
# a scratch database works.
# Usage: packaging/test-deb.sh DEB
set -euo pipefail
deb=${1:?usage: test-deb.sh DEB}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
check() {
  local what=$1; shift
  if "$@" >"$tmp/out" 2>&1; then pass=$((pass + 1)); echo "ok - $what"; else
    echo "not ok - $what"; sed 's/^/# /' "$tmp/out"; exit 1
  fi
}
x=$tmp/x
mkdir "$x"
check "dpkg-deb -x unpacks $(basename "$deb")" dpkg-deb -x "$deb" "$x"
check "every file in the archive is root's" sh -c "! dpkg-deb -c '$deb' | awk '\$2 != \"root/root\"' | grep ."
check "the control file names the package and its library dependencies" \
  sh -c "dpkg-deb -f '$deb' Package Depends | grep -qx 'Package: overlay' && dpkg-deb -f '$deb' Depends | grep -q libsodium"
for p in overlayd overlayctl overlay-agent; do
  check "$p is in /usr/bin" test -x "$x/usr/bin/$p"
  check "$p links no Swift runtime library" sh -c "! ldd '$x/usr/bin/$p' | grep -q libswift"
  check "$p --help runs from the unpacked tree" sh -c "'$x/usr/bin/$p' --help | grep -q '^USAGE: $p'"
done
check "the units and the operations guide are there" \
  test -f "$x/lib/systemd/system/overlayd.service" -a -f "$x/lib/systemd/system/overlay-agent.service" \
  -a -f "$x/usr/share/doc/overlay/docs/operations.md"
check "the packaged units pass systemd-analyze verify with the packaged binaries" \
  env BIN="$x/usr/bin" UNITS="$x/lib/systemd/system" "$root/examples/systemd/verify.sh"

# A tiny session with the unpacked binaries on a scratch database.
db=$tmp/overlay.db
ctl() { "$x/usr/bin/overlayctl" --db "$db" "$@"; }
check "overlayctl creates a network" ctl network create net1 --prefix fd12:3456:789a::/48
check "overlayctl adds a hub" ctl node add hub1 --identity "$("$x/usr/bin/overlay-agent" init --state-dir "$tmp/agent")" \
  --public-address 192.0.2.1 --hub
check "overlayctl attaches it" ctl network attach net1 hub1
check "overlayctl lists the network" sh -c "'$x/usr/bin/overlayctl' --db '$db' network list | grep -q '^net1 '"
check "overlayctl shows hub1's plan" sh -c "'$x/usr/bin/overlayctl' --db '$db' plan hub1 --json | grep -q '\"node\" *: *\"hub1\"'"
check "overlayd makes an admin token" sh -c "'$x/usr/bin/overlayd' token create --db '$db' | tail -n1 | grep -q '^ovla_'"
echo "package checks: $pass passed"
