#!/usr/bin/env bash
# base-image.sh KVER BIN CACHE MODE: prints the path of the VM's base archive (cpio.gz), assembling it
# only when its inputs changed. The inputs are every file that goes in (binaries, the libraries
# `ldd` names for them, the kernel modules) and this script; their SHA-256 names the archive.
set -euo pipefail
KVER=$1 BIN=$2 CACHE=$3 MODE=${4:-test}
MODDIR=/lib/modules/$KVER
# What the guest needs from the kernel: WireGuard, nftables with conntrack (`ct state`) and NAT
# (the agent's egress masquerade chains), fib (`fib daddr type local`, the host table's notrack rule), veth
# and bridge. Their dependencies come from modules.dep.
MODULES=(crc32c_generic wireguard nf_tables nft_ct nf_conntrack nft_chain_nat nft_masq nft_nat nf_nat nft_fib_inet veth bridge)
# Tools for the checks (the product uses none of them) and the product's own binaries.
TOOLS=("$(command -v wg)" "$(command -v ip)" "$(command -v nft)" "$(command -v socat)")
# The benchmark binary only goes in for `bench`: the test does not run it, and so needs no release build of it.
PRODUCT=("$BIN/overlay-agent")
[ "$MODE" = bench ] && PRODUCT+=("$BIN/overlay-bench")

# module paths (relative to MODDIR) with their dependencies, dependencies first.
module_closure() {
  local -A seen=()
  local -a order=()
  visit() {
    local path=$1 dep
    [ -n "${seen[$path]:-}" ] && return
    seen[$path]=1
    for dep in $(awk -v m="$path:" '$1 == m { for (i = 2; i <= NF; i++) print $i }' "$MODDIR/modules.dep"); do
      visit "$dep"
    done
    order+=("$path")
  }
  local m path
  for m in "${MODULES[@]}"; do
    path=$(grep -E "/$m\.ko(\.xz|\.zst|\.gz)?:" "$MODDIR/modules.dep" | cut -d: -f1)
    if [ -z "$path" ]; then
      grep -qE "/$m\.ko$" "$MODDIR/modules.builtin" || { echo "module $m is neither in modules.dep nor built in" >&2; exit 1; }
      continue
    fi
    visit "$path"
  done
  printf '%s\n' "${order[@]}"
}

mapfile -t MODS < <(module_closure)
# Every shared library the binaries load, and the dynamic loader.
mapfile -t LIBS < <(ldd "${PRODUCT[@]}" "${TOOLS[@]}" 2>/dev/null \
  | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(0x/ { print $1 }' | LC_ALL=C sort -u)

inputs() {
  printf '%s\n' "$0" /bin/busybox "${PRODUCT[@]}" "${TOOLS[@]}" "${LIBS[@]}"
  printf "$MODDIR/%s\n" "${MODS[@]}"
}
HASH=$({ echo "$KVER"; inputs | while read -r f; do echo "$f $(sha256sum <"$f" | cut -d' ' -f1)"; done; } | sha256sum | cut -c1-16)
OUT=$CACHE/base-$HASH.cpio.gz
if [ -s "$OUT" ]; then
  echo "vm: base image cached ($OUT)" >&2
  echo "$OUT"
  exit 0
fi

echo "vm: assembling the base image ($OUT)" >&2
STAGE=$(mktemp -d /tmp/overlay-vm-base-XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,lib,lib64,etc,proc,sys,dev,run,tmp,var/run,vm}
cp /bin/busybox "$STAGE/bin/busybox"
for f in "${PRODUCT[@]}" "${TOOLS[@]}"; do cp "$f" "$STAGE/usr/local/bin/"; done
for f in "${PRODUCT[@]}"; do strip --strip-unneeded "$STAGE/usr/local/bin/$(basename "$f")" 2>/dev/null || true; done
for l in "${LIBS[@]}"; do
  mkdir -p "$STAGE$(dirname "$l")"
  cp -L "$l" "$STAGE$l"
done
# Modules uncompressed (busybox's insmod does not read .xz) under their own paths, with a
# modules.dep of just these, so `modprobe` and the kernel's own module requests find them.
: >"$STAGE/vm/modules"
for m in "${MODS[@]}"; do
  plain=${m%.xz}; plain=${plain%.zst}; plain=${plain%.gz}
  mkdir -p "$STAGE$MODDIR/$(dirname "$m")"
  case $m in
    *.xz) xz -dc "$MODDIR/$m" >"$STAGE$MODDIR/$plain" ;;
    *.zst) zstd -qdc "$MODDIR/$m" >"$STAGE$MODDIR/$plain" ;;
    *.gz) gzip -dc "$MODDIR/$m" >"$STAGE$MODDIR/$plain" ;;
    *) cp "$MODDIR/$m" "$STAGE$MODDIR/$plain" ;;
  esac
  echo "$MODDIR/$plain" >>"$STAGE/vm/modules"
done
for m in "${MODS[@]}"; do
  awk -v m="$m:" '$1 == m' "$MODDIR/modules.dep"
done | sed -E 's/\.ko\.(xz|zst|gz)/.ko/g' >"$STAGE$MODDIR/modules.dep"
cp "$MODDIR/modules.builtin" "$STAGE$MODDIR/" 2>/dev/null || true
echo "root:x:0:0:root:/:/bin/sh" >"$STAGE/etc/passwd"
echo "root:x:0:" >"$STAGE/etc/group"
rm -f "$CACHE"/base-*.cpio.gz
(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -1) >"$OUT.tmp.$$"
mv "$OUT.tmp.$$" "$OUT"
echo "vm: base image $(du -h "$OUT" | cut -f1)" >&2
echo "$OUT"
