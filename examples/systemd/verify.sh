#!/usr/bin/env bash
# Checks the systemd units with `systemd-analyze verify`: any finding (an unknown key, a bad
# value, a capability systemd does not know) fails, not only the errors verify exits non-zero on.
# The units name /usr/bin/...; here they point at the binaries built in this checkout
# (BIN, default .build/debug), which must exist: verify checks that ExecStart is executable.
# UNITS names another directory of units to check (a package's, unpacked).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:-$here/../../.build/debug}
BIN=$(cd "$BIN" && pwd)
command -v systemd-analyze >/dev/null || { echo "systemd-analyze missing: apt-get install systemd" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
units=()
UNITS=${UNITS:-$here}
for unit in "$UNITS"/*.service; do
  name=$(basename "$unit")
  sed "s|/usr/bin/|$BIN/|g" "$unit" >"$tmp/$name"
  units+=("$tmp/$name")
done
out=$(cd "$tmp" && systemd-analyze verify --man=no "${units[@]}" 2>&1) || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then echo "$out" >&2; echo "systemd units: findings above" >&2; exit 1; fi
echo "systemd units: ${#units[@]} verified ($(cd "$UNITS" && echo *.service))"
