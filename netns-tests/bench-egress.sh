#!/usr/bin/env bash
# bench-egress: egress and dual-stack throughput in one run (root; real agents, wireguard-go).
#   - egress: a workload on node a to an iperf3 server in the internet namespace, through the
#     overlay's egress (bridge, network namespace forwarding, transfer veth, the host's
#     masquerade, uplink), against the same trip from a namespace NATed by hand with `ip`/`nft`
#     on node c (veth, one masquerade, uplink); goal: ratio >= 0.9; the breakdown: the same trip
#     from the network namespace itself (transfer veth, the host's masquerade, uplink: the hand-made
#     path's shape), so egress/namespace is what the workload's veth, the bridge and the namespace's
#     forward chain cost, and namespace/hand-made what the transfer link and the
#     host's table cost;
#   - dual stack: IPv4 against IPv6 overlay throughput between workloads wa (on a) and wb (on b),
#     the same pair of nodes and the same tunnel; goal: about 1.
# iperf3, one TCP stream, SECS seconds, REPS runs per path, interleaved so every path sees the same
# load from whatever else runs on the machine; prints every run, the medians and the ratios.
# Usage: netns-tests/bench-egress.sh [SECONDS] [REPS]
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh
SECS=${1:-10}
REPS=${2:-3}
for c in iperf3 wireguard-go jq nft; do command -v "$c" >/dev/null || { echo "$c missing: make deps" >&2; exit 1; }; done

sim_init egress
two_hubs_net
apply_plan a >/dev/null
apply_plan b >/dev/null
wl() { ctl plan "$1" --json | jq -r --arg w "$2" --arg f "$3" '.networks[0].workloads[] | select(.name == $w) | .[$f]'; }
WB6=$(wl b wb address) WB4=$(wl b wb ipv4Address)
NET_ID=$(ctl plan a --json | jq -r '.networks[0].id')

# The hand-made NAT on node c: namespace hx behind a veth, masqueraded out of c's uplink.
sim_node c
sim_exec c ip netns add hx
sim_exec c ip link add hy0 type veth peer name hx0 netns hx
sim_exec c ip addr add 10.200.0.1/24 dev hy0
sim_exec c ip link set hy0 up
sim_exec c ip netns exec hx ip addr add 10.200.0.2/24 dev hx0
sim_exec c ip netns exec hx ip link set hx0 up
sim_exec c ip netns exec hx ip link set lo up
sim_exec c ip netns exec hx ip route add default via 10.200.0.1
sim_exec c sysctl -qw net.ipv4.ip_forward=1
sim_exec c nft -f - <<'NFT'
table ip handnat {
  chain postrouting { type nat hook postrouting priority 100; policy accept; ip saddr 10.200.0.0/24 oifname "eth0" masquerade; }
}
NFT

sim_exec_bg "$SIM_INET" "$SIM_DIR/iperf3-inet.log" iperf3 -s -B "$SIM_INET4" -p 5201
sim_exec_bg b iperf3-wb.log ip netns exec wl-wb iperf3 -s -p 5202
sim_wait_until 10 sim_exec c ip netns exec hx ncat -z -w1 "$SIM_INET4" 5201 || { echo "hand-made NAT not up" >&2; exit 1; }
sim_wait_until 20 sim_netns_exec a wl-wa ncat -4 -z -w1 "$SIM_INET4" 5201 || { echo "egress not up" >&2; exit 1; }
sim_wait_until 20 sim_netns_exec a wl-wa ncat -6 -z -w1 "$WB6" 5202 || { echo "overlay (IPv6) not up" >&2; exit 1; }
sim_wait_until 10 sim_netns_exec a wl-wa ncat -4 -z -w1 "$WB4" 5202 || { echo "overlay (IPv4) not up" >&2; exit 1; }

# iperf3 -J -> receiver Mbit/s and sender retransmits.
mbits() { jq -r '"\(.end.sum_received.bits_per_second / 1e6 | round) \(.end.sum_sent.retransmits)"'; }
run_hand() { sim_exec c ip netns exec hx iperf3 -c "$SIM_INET4" -p 5201 -t "$SECS" -J | mbits; }
run_egress() { sim_netns_exec a wl-wa iperf3 -c "$SIM_INET4" -p 5201 -t "$SECS" -J | mbits; }
run_ns() { sim_netns_exec a "ovl-$NET_ID" iperf3 -c "$SIM_INET4" -p 5201 -t "$SECS" -J | mbits; }
run_v6() { sim_netns_exec a wl-wa iperf3 -c "$WB6" -p 5202 -t "$SECS" -J | mbits; }
run_v4() { sim_netns_exec a wl-wa iperf3 -c "$WB4" -p 5202 -t "$SECS" -J | mbits; }
hand=() egress=() nsp=() v6=() v4=()
for r in $(seq 1 "$REPS"); do
  read -r g rt < <(run_hand); hand+=("$g"); echo "run $r hand-made namespace NAT (c):   $g Mbit/s ($rt retransmits)"
  read -r g rt < <(run_egress); egress+=("$g"); echo "run $r overlay egress wa -> internet: $g Mbit/s ($rt retransmits)"
  read -r g rt < <(run_ns); nsp+=("$g"); echo "run $r network namespace -> internet: $g Mbit/s ($rt retransmits)"
  read -r g rt < <(run_v6); v6+=("$g"); echo "run $r overlay IPv6 wa -> wb:        $g Mbit/s ($rt retransmits)"
  read -r g rt < <(run_v4); v4+=("$g"); echo "run $r overlay IPv4 wa -> wb:        $g Mbit/s ($rt retransmits)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mh=$(median "${hand[@]}") me=$(median "${egress[@]}") mn=$(median "${nsp[@]}") m6=$(median "${v6[@]}") m4=$(median "${v4[@]}")
echo
echo "egress and dual stack: iperf3, 1 TCP stream, ${SECS} s, median of $REPS, interleaved"
printf '%-48s %s Mbit/s (runs: %s)\n' "hand-made namespace NAT (ip/nft, node c)" "$mh" "${hand[*]}"
printf '%-48s %s Mbit/s (runs: %s)\n' "overlay egress, wa on a -> internet" "$me" "${egress[*]}"
printf '%-48s %s Mbit/s (runs: %s)\n' "from a's network namespace -> internet" "$mn" "${nsp[*]}"
printf '%-48s %s Mbit/s (runs: %s)\n' "overlay IPv6, wa on a -> wb on b" "$m6" "${v6[*]}"
printf '%-48s %s Mbit/s (runs: %s)\n' "overlay IPv4, wa on a -> wb on b" "$m4" "${v4[*]}"
awk -v e="$me" -v h="$mh" 'BEGIN { printf "ratio egress/hand-made NAT: %.2f (goal >= 0.9)\n", e / h }'
awk -v e="$me" -v n="$mn" -v h="$mh" 'BEGIN {
  printf "  breakdown: workload veth + bridge + namespace forward chain: egress/namespace %.2f\n", e / n
  printf "             transfer veth + host forward chain and masquerade: namespace/hand-made %.2f\n", n / h }'
awk -v a="$m4" -v b="$m6" 'BEGIN { printf "ratio IPv4/IPv6 overlay: %.2f (goal about 1)\n", a / b }'
