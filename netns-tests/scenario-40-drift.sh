#!/usr/bin/env bash
# scenario-40: the running agent keeps its plan in the kernel. Nodes a, b (hubs) and h (hidden)
# each run `overlay-agent run` in the background. By hand we delete, on a: the overlay route, a
# WireGuard peer, the nftables tables (network namespace and host), and a workload's veth.
# Proves: each is back within a second and traffic resumes; a changed plan file is picked up;
# SIGTERM stops the agent and leaves the data plane up; a restart without --plan re-applies the
# cached plan and finds nothing to do.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh

sim_init drift
write_plan() { ctl plan "$1" --json >"$(sim_state_dir "$1")/plan.json.new" && mv "$(sim_state_dir "$1")/plan.json.new" "$(sim_state_dir "$1")/plan.json"; }
# within_1s CMD... — CMD succeeds within one second (polled every 50 ms).
within_1s() {
  local end=$(($(date +%s%N) + 1000000000))
  while :; do
    "$@" >/dev/null 2>&1 && return 0
    [ "$(date +%s%N)" -lt "$end" ] || return 1
    sleep 0.05
  done
}

sim_node a
sim_node b
sim_node h --hidden
ctl network create net1 >/dev/null
ctl node add a --identity "$(agent a init)" --public-address "$(sim_public_addr a)" --hub >/dev/null
ctl node add b --identity "$(agent b init)" --public-address "$(sim_public_addr b)" --hub >/dev/null
ctl node add h --identity "$(agent h init)" >/dev/null
for n in a b h; do ctl workload add "w$n" --network net1 --node "$n" >/dev/null; done
ctl workload add extra --network net1 --node a >/dev/null
declare -A AGENT
for n in a b h; do
  write_plan "$n"
  sim_exec_bg "$n" agent.log "$BIN/overlay-agent" run --state-dir "$(sim_state_dir "$n")" --plan "$(sim_state_dir "$n")/plan.json"
  AGENT[$n]=$SIM_LAST_BG
done
q() { ctl plan "$1" --json | jq -r "$2"; }
NET_ID=$(q a '.networks[0].id'); NS=ovl-$NET_ID; WG=wg-$NET_ID; BR=br-$NET_ID
PREFIX=$(q a '.networks[0].prefix')
WA=$(q a '.networks[0].workloads[] | select(.name == "wa") | .address')
WA_IF=$(q a '.networks[0].workloads[] | select(.name == "wa") | .hostInterface')
WB=$(q b '.networks[0].workloads[0].address'); WH=$(q h '.networks[0].workloads[0].address')
B_KEY=$(q b '.networks[0].publicKey')

ping_wa() { sim_netns_exec a wl-wa ping -6 -c1 -W1 "$1"; }
expect_ok "agents are up: wh reaches wa" sim_wait_until 20 sim_netns_exec h wl-wh ping -6 -c1 -W1 "$WA"
expect_ok "wa reaches wb" sim_wait_until 10 ping_wa "$WB"

# 1. The /48 route over the tunnel.
has_route() { sim_netns_exec a "$NS" ip -6 route show "$PREFIX" | grep -q "dev $WG"; }
expect_ok   "route $PREFIX dev $WG is there" has_route
# Deleted and checked in one command: the agent's event-driven pass may restore it before a
# separate check looks.
expect_ok "deleted by hand" sim_netns_exec a "$NS" sh -c "ip -6 route del $PREFIX dev $WG && ! ip -6 route show $PREFIX | grep -q 'dev $WG'"
expect_ok   "route restored within 1 s" within_1s has_route
expect_ok   "wa reaches wb again" sim_wait_until 3 ping_wa "$WB"

# 2. A WireGuard peer (b), removed over wireguard-go's UAPI: no rtnetlink event, the resync catches it.
has_peer() { sim_exec a wg show "$WG" peers | grep -qx "$B_KEY"; }
# The agent's resync may put it back within milliseconds, before any check could see it gone; its
# log proves that it did see it gone: one more "+peer" line for b than before.
A_LOG="$(sim_log_dir a)/agent.log"
peer_b_repairs() { grep -c "configure $WG: +peer ${B_KEY:0:8}" "$A_LOG" || true; }
REPAIRS=$(peer_b_repairs)
expect_ok "peer b deleted by hand" sim_exec a wg set "$WG" peer "$B_KEY" remove
expect_ok "the agent found peer b missing and added it again" \
  sim_wait_until 2 sh -c "[ \$(grep -c 'configure $WG: +peer ${B_KEY:0:8}' '$A_LOG') -gt $REPAIRS ]"
expect_ok   "peer b restored within 1 s" within_1s has_peer
expect_ok   "wa reaches wb again" sim_wait_until 5 ping_wa "$WB"

# 3. The nftables tables, in the network namespace and on the host.
has_table() { sim_exec a ${1:+ip netns exec "$1"} nft list table inet overlay; }
sim_netns_exec a "$NS" nft delete table inet overlay
expect_ok "network namespace table restored within 1 s" within_1s has_table "$NS"
sim_exec a nft delete table inet overlay
expect_ok "host table restored within 1 s" within_1s has_table ""
# ... and a table that is not the agent's is left alone.
sim_exec a nft add table inet mine
sim_exec a nft add chain inet mine keep
sleep 1
expect_ok "a foreign table survives the agent's passes" sim_exec a nft list chain inet mine keep

# 4. A workload's veth (its pair ovl0 goes with it).
has_veth() { sim_netns_exec a wl-wa ip -6 addr show dev ovl0 | grep -q "$WA/64"; }
ifindex() { sim_netns_exec a "$NS" cat "/sys/class/net/$WA_IF/ifindex"; }
old_index=$(ifindex)
new_veth() { has_veth && [ "$(ifindex)" != "$old_index" ]; }
sim_netns_exec a "$NS" ip link del "$WA_IF"
# (The agent may already have made a new one by now: that is why the check is the ifindex.)
expect_ok   "veth (a new one, not #$old_index) and ovl0 with its address restored within 1 s" within_1s new_veth
expect_ok   "wa reaches wb again" sim_wait_until 5 ping_wa "$WB"
expect_ok   "wa reaches wh again" sim_wait_until 5 ping_wa "$WH"

# 5. A new plan: workload 'extra' leaves; the agent takes the file within a second or so.
EXTRA_IF=$(q a '.networks[0].workloads[] | select(.name == "extra") | .hostInterface')
br_mac() { sim_netns_exec a "$NS" cat "/sys/class/net/$BR/address"; }
expect_eq "the bridge has the agent's fixed MAC" "02:${NET_ID:0:2}:${NET_ID:2:2}:${NET_ID:4:2}:${NET_ID:6:2}:01" br_mac
ctl workload remove extra >/dev/null
write_plan a
extra_gone() { ! sim_exec a ip netns list | grep -q '^wl-extra' && ! sim_netns_exec a "$NS" ip link show "$EXTRA_IF"; }
expect_ok "removed workload's namespace and veth are gone within 2 s" sim_wait_until 2 extra_gone
expect_ok "wa still reaches wb (the router's MAC did not change with the port gone)" ping_wa "$WB"
expect_eq "the bridge kept its MAC" "02:${NET_ID:0:2}:${NET_ID:2:2}:${NET_ID:4:2}:${NET_ID:6:2}:01" br_mac

# 6. SIGTERM: the agent stops, the tunnel stays.
sim_bg_stop "${AGENT[a]}"
expect_output "agent logged a clean stop" 'stopping on signal' cat "$(sim_log_dir a)/agent.log"
expect_ok "wa reaches wb with the agent stopped" ping_wa "$WB"
expect_ok "a's wireguard-go still runs" sim_exec a pgrep -x wireguard-go
# 7. Restart with no plan source: the cached plan, nothing to do.
expect_eq "run --once without --plan re-applies the cached plan: nothing to do" \
  "plan revision $(q a .revision): 0 actions" agent a run --once
expect_output "no errors in a's agent log" '^' sh -c "! grep -i 'failed\|error' '$(sim_log_dir a)/agent.log' && echo clean"
sim_summary
