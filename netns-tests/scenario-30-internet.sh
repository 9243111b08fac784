#!/usr/bin/env bash
# scenario-30: nothing on the internet can open anything on a node. Nodes a, b (hubs) and h
# (hidden) run one network; services listen in each node's own namespace (TCP 22, TCP 8080,
# UDP 5353, and the WireGuard port's TCP twin) and in its workloads.
# Proves: from the internet namespace every TCP, UDP and ICMPv6 probe to every node address
# (IPv4 and IPv6) and port fails, including the WireGuard UDP port (wireguard-go stays silent to a
# stranger), and probes aimed at the overlay prefixes through a node whose host forwards (the
# agent's forward chain drops what goes to or from the overlay's links and /48s); the drop
# counters rise; controls: the same listeners answer from inside the node, and the nodes still
# reach out. The host's own forwarding stays its own: a Docker-like bridge on that node, with its
# own masquerade, keeps reaching the internet with the agent's table (and egress) in place.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh

sim_init internet

sim_node a
sim_node b
sim_node h --hidden
ctl network create net1 >/dev/null
ctl node add a --identity "$(agent a init)" --public-address "$(sim_public_addr a)" --hub >/dev/null
ctl node add b --identity "$(agent b init)" --public-address "$(sim_public_addr b)" --hub >/dev/null
ctl node add h --identity "$(agent h init)" >/dev/null
for n in a b h; do ctl workload add "w$n" --network net1 --node "$n" --expose tcp/8080 >/dev/null; done
PREFIX=$(ctl plan a --json | jq -r '.networks[0].prefix')
WG_PORT=$(ctl plan a --json | jq -r '.networks[0].listenPort')
NET_ID=$(ctl plan a --json | jq -r '.networks[0].id')

# Listeners in each node's own namespace, bound to every address, before the agent closes the door.
for n in a b h; do
  sim_exec_bg "$n" tcp22.log socat TCP6-LISTEN:22,fork,reuseaddr,ipv6only=0 SYSTEM:'echo ssh'
  sim_exec_bg "$n" tcp8080.log socat TCP6-LISTEN:8080,fork,reuseaddr,ipv6only=0 SYSTEM:'echo web'
  sim_exec_bg "$n" tcpwg.log socat "TCP6-LISTEN:$WG_PORT,fork,reuseaddr,ipv6only=0" SYSTEM:'echo tcp-twin'
  sim_exec_bg "$n" udp5353.log socat UDP6-RECVFROM:5353,fork,reuseaddr,ipv6only=0 SYSTEM:'echo pong'
done
tcp_answers() { [ "$(sim_exec "$1" timeout 3 ncat --recv-only -w2 "$2" "$3" 2>/dev/null)" != "" ]; }   # NODE ADDR PORT
# UDP: a datagram, then up to 2 s for any reply (socat waits; ncat -u gives up at stdin's end).
udp_answers() {
  local target=$2
  case $target in *:*) target="UDP6:[$2]:$3" ;; *) target="UDP4:$2:$3" ;; esac
  [ -n "$(sim_exec "$1" sh -c "echo probe | timeout 3 socat -T2 - '$target'" 2>/dev/null)" ]
}
for n in a b h; do
  expect_ok "control: $n's TCP 22 answers locally" sim_wait_until 5 tcp_answers "$n" 127.0.0.1 22
  expect_ok "control: $n's UDP 5353 answers locally" sim_wait_until 5 udp_answers "$n" 127.0.0.1 5353
done
expect_ok "control: before the agent, the internet reaches a:22" tcp_answers "$SIM_INET" "$(sim_public_addr a)" 22
expect_ok "control: before the agent, the internet pings a over IPv6" sim_internet_exec ping -6 -c1 -W1 "$(sim_public_addr a 6)"

for n in a b h; do expect_output "agent on $n applies its plan" 'actions$' apply_plan "$n"; done
for n in a b h; do
  sim_exec_bg "$n" listen-w.log ip netns exec "wl-w$n" socat TCP6-LISTEN:8080,fork,reuseaddr SYSTEM:'echo workload'
done
expect_ok "control: the overlay works (wh -> wa)" \
  sim_wait_until 15 sim_netns_exec h wl-wh ping -6 -c1 -W1 "$(ctl plan a --json | jq -r '.networks[0].workloads[0].address')"

# drops NODE -> packets counted by the drop rules of the node's own table.
drops() {
  sim_exec "$1" nft list table inet overlay | sed -n 's/.*counter packets \([0-9]*\).*drop.*/\1/p' | awk '{s += $1} END {print s + 0}'
}
declare -A BEFORE
for n in a b; do BEFORE[$n]=$(drops "$n"); done

targets=("a $(sim_public_addr a 4)" "a $(sim_public_addr a 6)" "b $(sim_public_addr b 4)" "b $(sim_public_addr b 6)"
         "h $(sim_router_addr h)")
for t in "${targets[@]}"; do
  read -r n addr <<<"$t"
  for port in 22 8080 "$WG_PORT"; do
    expect_fail "internet -> $n $addr tcp/$port" tcp_answers "$SIM_INET" "$addr" "$port"
  done
  expect_fail "internet -> $n $addr udp/5353" udp_answers "$SIM_INET" "$addr" 5353
  expect_fail "internet -> $n $addr udp/$WG_PORT (WireGuard stays silent)" udp_answers "$SIM_INET" "$addr" "$WG_PORT"
  case $addr in *:*) expect_fail "internet -> $n $addr icmpv6 echo" sim_internet_exec ping -6 -c1 -W1 "$addr" ;; esac
done
# Aim at the overlay through the nodes: a route for the /48 via each public node. Forwarding is
# turned on in a's own namespace (a misconfigured host), so only the agent's forward chain stands
# in the way there; on b the kernel does not forward at all.
sim_exec a sysctl -qw net.ipv6.conf.all.forwarding=1
for n in a b; do
  sim_internet_exec ip -6 route replace "$PREFIX" via "$(sim_public_addr "$n" 6)"
  for w in a b h; do
    waddr=$(ctl plan "$w" --json | jq -r '.networks[0].workloads[0].address')
    expect_fail "internet -> w$w ($waddr) routed via $n: ping" sim_internet_exec ping -6 -c1 -W1 "$waddr"
    expect_fail "internet -> w$w routed via $n: tcp/8080 (exposed to gateways only)" tcp_answers "$SIM_INET" "$waddr" 8080
  done
  sim_internet_exec ip -6 route del "$PREFIX"
done

# h sits behind its NAT router, which already drops what is not a reply: nothing reaches h to count.
for n in a b; do
  after=$(drops "$n")
  expect_ok "$n's drop counters rose (${BEFORE[$n]} -> $after)" test "$after" -gt "${BEFORE[$n]}"
done
fwd_drops() { sim_exec a nft list chain inet overlay forward | grep -E 'counter packets [1-9]'; }
expect_ok "a's host forward chain counted the packets aimed at the overlay" fwd_drops
# Controls after: the node itself still reaches out (replies are let back in), the overlay still works.
expect_ok "a still reaches the internet (replies come back)" sim_ping a "$SIM_INET4"
expect_ok "h still reaches the internet through NAT" sim_ping h "$SIM_INET4"
expect_ok "control: a's TCP 22 still answers locally" tcp_answers a 127.0.0.1 22
expect_ok "control: the overlay still works (wa -> wh)" \
  sim_netns_exec a wl-wa ping -6 -c1 -W1 "$(ctl plan h --json | jq -r '.networks[0].workloads[0].address')"

# Forwarding that is not the overlay's is the host's business: a Docker-like bridge on a (a
# namespace behind a bridge, masqueraded by a table of its own) still reaches the internet.
sim_exec a ip link add dkbr0 type bridge
sim_exec a ip addr add 172.31.77.1/24 dev dkbr0
sim_exec a ip link set dkbr0 up
sim_exec a ip netns add dk1
sim_exec a ip link add dkv0 type veth peer name eth0 netns dk1
sim_exec a ip link set dkv0 master dkbr0 up
sim_exec a ip netns exec dk1 ip addr add 172.31.77.2/24 dev eth0
sim_exec a ip netns exec dk1 ip link set eth0 up
sim_exec a ip netns exec dk1 ip route add default via 172.31.77.1
sim_exec a nft -f - <<'NFT'
table ip dockerlike {
  chain postrouting { type nat hook postrouting priority 100; policy accept; ip saddr 172.31.77.0/24 oifname "eth0" masquerade; }
}
NFT
expect_eq "a's host forwards IPv4 (egress is on)" "1" sim_exec a sysctl -n net.ipv4.ip_forward
expect_ok "a Docker-like bridge on a still forwards to the internet beside the agent's table" \
  sim_exec a ip netns exec dk1 ping -c1 -W2 "$SIM_INET4"
sim_exec a ip netns del dk1
sim_summary
