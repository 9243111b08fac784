#!/usr/bin/env bash
# bench-throughput: overlay throughput between two workloads on two nodes (wireguard-go), against
# a bare wireguard-go tunnel between two other nodes on the same simulated internet, in one run
# (root; real agents). Both paths cross the same underlay (node -> internet bridge -> node, two
# veths); the overlay adds what the product builds around the tunnel: the workload's veth, the
# network's bridge and namespace, nftables (forward chain with conntrack) and the node's firewall.
#   - iperf3, one TCP stream, SECS seconds, REPS runs per path, interleaved (bare, overlay, bare,
#     overlay...) so both see the same load from whatever else runs on the machine;
#   - prints every run, the medians and the ratio overlay/bare (goal >= 0.95), and the MTUs and
#     offloads of both paths.
# Usage: netns-tests/bench-throughput.sh [SECONDS] [REPS]
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh
SECS=${1:-10}
REPS=${2:-3}
for c in iperf3 wireguard-go wg jq; do command -v "$c" >/dev/null || { echo "$c missing: make deps" >&2; exit 1; }; done

sim_init tput
# The overlay: workloads wa on a and wb on b in network net1 (agents in --once mode: the data
# plane stays up after the pass).
two_hubs_net
apply_plan a >/dev/null
apply_plan b >/dev/null
WB=$(ctl plan b --json | jq -r '.networks[0].workloads[] | select(.name == "wb") | .address')
NET_ID=$(ctl plan a --json | jq -r '.networks[0].id')
OVL_MTU=$(ctl plan a --json | jq -r '.networks[0].mtu')

# The bare tunnel: wireguard-go between nodes c and d, no agent there, the MTU the baseline
# (/work/shared/baselines/throughput.sh, wg-quick's default) uses.
sim_node c
sim_node d
BARE_MTU=1420
for n in c d; do sim_exec_bg "$n" wg.log env LOG_LEVEL=error wireguard-go -f bwg0; done
for n in c d; do sim_wait_until 10 sim_exec "$n" test -S /run/wireguard/bwg0.sock; done
key() { wg genkey; }
KC=$(key) KD=$(key)
PC=$(echo "$KC" | wg pubkey) PD=$(echo "$KD" | wg pubkey)
echo "$KC" >"$SIM_DIR/c.key"; echo "$KD" >"$SIM_DIR/d.key"; chmod 600 "$SIM_DIR"/?.key
sim_exec c wg set bwg0 private-key "$SIM_DIR/c.key" listen-port 51900 peer "$PD" allowed-ips fd79::2/128 \
  endpoint "$(sim_public_addr d):51900"
sim_exec d wg set bwg0 private-key "$SIM_DIR/d.key" listen-port 51900 peer "$PC" allowed-ips fd79::1/128 \
  endpoint "$(sim_public_addr c):51900"
sim_exec c ip addr add fd79::1/64 dev bwg0 nodad; sim_exec d ip addr add fd79::2/64 dev bwg0 nodad
sim_exec c ip link set bwg0 mtu "$BARE_MTU" up; sim_exec d ip link set bwg0 mtu "$BARE_MTU" up

sim_wait_until 10 sim_exec c ping -6 -c1 -W1 fd79::2 >/dev/null || { echo "bare tunnel not up" >&2; exit 1; }
sim_wait_until 20 sim_netns_exec a wl-wa ping -6 -c1 -W1 "$WB" >/dev/null || { echo "overlay not up" >&2; exit 1; }

sim_exec_bg d iperf3-bare.log iperf3 -s -B fd79::2 -p 5201
sim_exec_bg b iperf3-ovl.log ip netns exec wl-wb iperf3 -s -B "$WB" -p 5201
sim_wait_until 10 sim_exec c ncat -z -w1 fd79::2 5201 || { echo "iperf3 server (bare) not up" >&2; exit 1; }
sim_wait_until 10 sim_netns_exec a wl-wa ncat -z -w1 "$WB" 5201 || { echo "iperf3 server (overlay) not up" >&2; exit 1; }

# iperf3 -J -> receiver Mbit/s and sender retransmits.
mbits() { jq -r '"\(.end.sum_received.bits_per_second / 1e6 | round) \(.end.sum_sent.retransmits)"'; }
run_bare() { sim_exec c iperf3 -c fd79::2 -p 5201 -t "$SECS" -J | mbits; }
run_ovl() { sim_netns_exec a wl-wa iperf3 -c "$WB" -p 5201 -t "$SECS" -J | mbits; }
bare=() ovl=()
for r in $(seq 1 "$REPS"); do
  read -r g rt < <(run_bare); bare+=("$g"); echo "run $r bare wireguard-go:  $g Mbit/s ($rt retransmits)"
  read -r g rt < <(run_ovl); ovl+=("$g"); echo "run $r overlay wa -> wb:  $g Mbit/s ($rt retransmits)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mb=$(median "${bare[@]}") mo=$(median "${ovl[@]}")

mtu() { sim_exec "$1" ${3:+ip netns exec "$3"} cat "/sys/class/net/$2/mtu"; }
offloads() {
  command -v ethtool >/dev/null || { echo "(ethtool not installed)"; return; }
  sim_exec "$1" ${3:+ip netns exec "$3"} ethtool -k "$2" 2>/dev/null |
    awk -F': ' '/^(tx-checksumming|generic-segmentation-offload|generic-receive-offload|tcp-segmentation-offload):/ {
      split($2, v, " "); printf "%s=%s ", $1, v[1] }'
}
WL_IF=$(sim_netns_exec a wl-wa ls /sys/class/net | grep -v '^lo$' | head -n1)
BR=$(sim_netns_exec a "ovl-$NET_ID" ls /sys/class/net | grep -E '^(br|ovl|b)' | head -n1 || true)
echo
echo "throughput: iperf3, 1 TCP stream, ${SECS} s, median of $REPS, interleaved"
printf '%-52s %s Mbit/s (runs: %s)\n' "bare wireguard-go tunnel (c -> d, MTU $BARE_MTU)" "$mb" "${bare[*]}"
printf '%-52s %s Mbit/s (runs: %s)\n' "overlay, workload wa on a -> wb on b (MTU $OVL_MTU)" "$mo" "${ovl[*]}"
awk -v o="$mo" -v b="$mb" 'BEGIN { printf "ratio overlay/bare: %.2f (goal >= 0.95)\n", o / b }'
echo "MTUs: bare bwg0 $(mtu c bwg0); overlay wl-wa:$WL_IF $(mtu a "$WL_IF" wl-wa), wg-$NET_ID $(mtu a "wg-$NET_ID" "ovl-$NET_ID")${BR:+, $BR $(mtu a "$BR" "ovl-$NET_ID")}"
echo "offloads: workload $WL_IF: $(offloads a "$WL_IF" wl-wa)"
echo "          underlay (node a's uplink): $(offloads a "$(sim_exec a ls /sys/class/net | grep -v -e '^lo$' -e '^wg-' | head -n1)")"
