#!/usr/bin/env bash
# netns-tests/vm/run.sh [test|bench|check]: the kernel WireGuard path in a virtual machine.
#
# Boots Debian's own kernel (this machine's kernel has no WireGuard) under
# `qemu-system-x86_64 -accel tcg` with an initramfs made of two archives:
#   - the base (cached in .build-vm/, rebuilt only when its inputs change): busybox-static, the
#     release binaries and the C libraries they load, wg/ip/nft/socat for the checks, and the
#     kernel modules (WireGuard, nf_tables with conntrack and NAT, veth, bridge and what they depend on);
#   - the run's own (small, made every time): agent identities and plans made here on the host by
#     `overlay-agent init` and `overlayctl`, and the guest's scripts.
# The guest runs guest-test.sh (or the benchmark) as init, prints PASS/FAIL lines and a final
# marker, and powers off. This script fails on any FAIL, on a missing marker or on a timeout.
# The console is kept in .build-vm/console-MODE.log.
#
# `check` only tells whether the VM can run here: silent and 0, or "test-kernel SKIPPED: why"
# and 1 (`make test` runs test-kernel only then).
# Environment: BIN (release binaries, default .build/release), CTL (the host's overlayctl, default
# BIN/overlayctl; any build does, it only writes plans on the host), VM_KERNEL (a /boot/vmlinuz-*),
# VM_TIMEOUT (seconds).
set -euo pipefail
MODE=${1:-test}
case $MODE in test | bench | check) ;; *) echo "usage: $0 [test|bench|check]" >&2; exit 64 ;; esac
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VMDIR=$ROOT/netns-tests/vm
BIN=${BIN:-$ROOT/.build/release}
CACHE=$ROOT/.build-vm
TIMEOUT=${VM_TIMEOUT:-$([ "$MODE" = bench ] && echo 1200 || echo 600)}

skip() {
  echo "test-kernel SKIPPED: $*"
  exit 1
}

# A kernel image whose modules include WireGuard.
kernel_image() {
  if [ -n "${VM_KERNEL:-}" ]; then echo "$VM_KERNEL"; return; fi
  local img ver
  for img in $(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -rV); do
    ver=${img#/boot/vmlinuz-}
    if grep -qE '/wireguard\.ko(\.xz|\.zst|\.gz)?:' "/lib/modules/$ver/modules.dep" 2>/dev/null; then
      echo "$img"
      return
    fi
  done
}

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed (make deps installs qemu-system-x86)"
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || skip "busybox-static is not installed (make deps installs it)"
KERNEL=$(kernel_image)
[ -n "$KERNEL" ] && [ -r "$KERNEL" ] || skip "no readable /boot/vmlinuz-* with a WireGuard module in /lib/modules (make deps installs linux-image-amd64)"
KVER=${KERNEL#/boot/vmlinuz-}
[ "$MODE" = check ] && exit 0
CTL=${CTL:-$BIN/overlayctl}
NEEDED=("$BIN/overlay-agent" "$CTL")
[ "$MODE" = bench ] && NEEDED+=("$BIN/overlay-bench")
for b in "${NEEDED[@]}"; do
  [ -x "$b" ] || { echo "missing $b: run 'make test-kernel' or 'make bench-kernel' (they build what the VM needs)" >&2; exit 1; }
done
export CTL
for t in wg ip nft socat jq cpio gzip xz sha256sum; do
  command -v "$t" >/dev/null || { echo "missing $t: run 'make deps'" >&2; exit 1; }
done

mkdir -p "$CACHE"
WORK=$(mktemp -d /tmp/overlay-vm-XXXXXX)
QEMU_PID=
cleanup() {
  if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then kill -KILL "$QEMU_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- the base archive (cached) -------------------------------------------------------------------
BASE=$("$VMDIR/base-image.sh" "$KVER" "$BIN" "$CACHE" "$MODE")

# --- the run's archive: identities, plans, scripts ------------------------------------------------
RUN=$WORK/run
mkdir -p "$RUN/vm/state" "$RUN/vm/plans"
install -m 0755 "$VMDIR/init" "$RUN/init"
install -m 0755 "$VMDIR/guest-test.sh" "$VMDIR/guest-bench.sh" "$RUN/vm/"
echo "$MODE" >"$RUN/vm/mode"
if [ "$MODE" = test ]; then
  "$VMDIR/make-plans.sh" "$BIN" "$WORK/db" "$RUN/vm"
fi
(cd "$RUN" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -1) >"$WORK/run.cpio.gz"
cat "$BASE" "$WORK/run.cpio.gz" >"$WORK/initrd"

# --- boot ------------------------------------------------------------------------------------------
LOG=$CACHE/console-$MODE.log
: >"$LOG"
echo "vm: booting $KERNEL (TCG) with $(du -h "$WORK/initrd" | cut -f1) initramfs; console: $LOG"
start=$(date +%s)
qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 -nographic -no-reboot \
  -kernel "$KERNEL" -initrd "$WORK/initrd" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init" \
  -nic none </dev/null >"$LOG" 2>&1 &
QEMU_PID=$!
# Show the guest's results as they come; stop at the marker, a qemu exit or the timeout.
timed_out=0
while kill -0 "$QEMU_PID" 2>/dev/null; do
  if [ $(($(date +%s) - start)) -ge "$TIMEOUT" ]; then timed_out=1; break; fi
  sleep 1
done
if [ "$timed_out" = 1 ]; then
  kill -KILL "$QEMU_PID" 2>/dev/null || true
fi
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=
tr -d '\r' <"$LOG" | grep -E '^(PASS|FAIL|wg:|vm:|    )' || true
echo "vm: $(($(date +%s) - start)) s in the VM; console: $LOG"

fails=$(tr -d '\r' <"$LOG" | grep -c '^FAIL' || true)
if [ "$timed_out" = 1 ]; then echo "vm: FAILED: timed out after $TIMEOUT s (see $LOG)"; exit 1; fi
if ! tr -d '\r' <"$LOG" | grep -q '^VM-DONE'; then echo "vm: FAILED: no VM-DONE marker (see $LOG)"; exit 1; fi
if [ "$fails" != 0 ]; then echo "vm: FAILED: $fails checks failed (see $LOG)"; exit 1; fi
passes=$(tr -d '\r' <"$LOG" | grep -c '^PASS' || true)
echo "vm: $MODE passed ($passes checks)"
