#!/usr/bin/env bash
# scenario-15: a pass over a kernel that already matches the plan sends no change request at all,
# counted on the agent's netlink sockets, nftables batches and WireGuard set path (with --verbose
# the agent prints "netlink writes: N" for any pass that acted or wrote, so a silent pass proves
# N = 0; the count itself is checked on passes that do work); and a tunnel
# whose wireguard-go does not answer is left alone (not restarted), the pass reporting why.
# Nodes a and b (hubs), one workload each, `overlay-agent run --once --verbose`.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh

sim_init noop
two_hubs_net
q() { ctl plan "$1" --json | jq -r "$2"; }
NET_ID=$(q a '.networks[0].id'); NS=ovl-$NET_ID; WG=wg-$NET_ID
PREFIX=$(q a '.networks[0].prefix')
WB=$(q b '.networks[0].workloads[0].address')
# The count printed by a verbose pass; 0 when it printed none (it prints any non-zero count).
writes() { grep '^netlink writes: ' "$1" | sed 's/^netlink writes: //' | grep . || echo 0; }

OUT=$SIM_DIR/out; mkdir -p "$OUT"
apply_plan b >/dev/null
apply_plan a --verbose >"$OUT/first"
expect_ok "the first pass writes (netlink writes: $(writes "$OUT/first"))" test "$(writes "$OUT/first")" -gt 0
expect_ok "wa reaches wb" sim_wait_until 10 sim_netns_exec a wl-wa ping -6 -c1 -W1 "$WB"

apply_plan a --verbose >"$OUT/second"
expect_eq "the second pass has nothing to do and sends no write to the kernel" \
  "plan revision $(q a .revision): 0 actions" cat "$OUT/second"
expect_eq "(no write counted)" "0" writes "$OUT/second"

# One change by hand: one action, one write.
sim_netns_exec a "$NS" ip -6 route del "$PREFIX" dev "$WG"
apply_plan a --verbose >"$OUT/third"
expect_eq "a deleted route is one action" "plan revision $(q a .revision): 1 actions" grep '^plan revision' "$OUT/third"
expect_eq "and one write" "1" writes "$OUT/third"

# wireguard-go stops answering (SIGSTOP): its device is unreadable, not absent.
PID=$(sim_exec a pgrep -x wireguard-go)
sim_exec a kill -STOP "$PID"
stalled_pass() { ! apply_plan a --verbose >"$OUT/stalled" 2>&1; }
expect_ok "a pass over a stalled wireguard-go fails" stalled_pass
expect_output "naming the device it could not read" "could not read wireguard $WG" cat "$OUT/stalled"
expect_output "without stopping or starting a tunnel" '^' sh -c "! grep -E 'wireguard|delete' '$OUT/stalled' | grep '^action' && echo none"
expect_eq "the same wireguard-go still serves the tunnel (not restarted)" "$PID" sim_exec a pgrep -x wireguard-go
sim_exec a kill -CONT "$PID"
apply_plan a --verbose >"$OUT/fourth"
expect_eq "once it answers, nothing to do" "0" writes "$OUT/fourth"
expect_ok "wa still reaches wb" sim_wait_until 5 sim_netns_exec a wl-wa ping -6 -c1 -W1 "$WB"
sim_summary
