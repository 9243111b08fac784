#!/usr/bin/env bash
# scenario-10: one overlay network over four simulated nodes — hubs `a` and `b` and a plain node
# `c` on the public internet, `h` hidden behind NAT — built by the real binaries: overlayctl plans
# it, each node's overlay-agent applies its plan (wireguard-go, namespaces, bridge, veths, nftables).
# Proves: every workload pings and opens TCP to every other; the hidden node has tunnels only to
# the hubs and dials them through its NAT; `c` has no tunnel to `h` and reaches it relayed by h's
# primary hub (two WireGuard hops, WireGuard's source checks passing at each end); a second
# `run --once` changes nothing; `down` removes exactly what the agent made.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh

sim_init mesh
DB=$SIM_DIR/overlay.db
wl_addr() { ctl plan "$1" --json | jq -r --arg w "$2" '.networks[].workloads[] | select(.name == $w) | .address'; }

sim_node a
sim_node b
sim_node c
sim_node h --hidden
ctl network create net1 >/dev/null
ctl node add a --identity "$(agent a init)" --public-address "$(sim_public_addr a)" --hub >/dev/null
ctl node add b --identity "$(agent b init)" --public-address "$(sim_public_addr b)" --hub >/dev/null
ctl node add c --identity "$(agent c init)" --public-address "$(sim_public_addr c)" >/dev/null
ctl node add h --identity "$(agent h init)" >/dev/null
for n in a b h c; do ctl workload add "w$n" --network net1 --node "$n" >/dev/null; done
NET_ID=$(ctl plan a --json | jq -r '.networks[0].id')
NS=ovl-$NET_ID WG=wg-$NET_ID

for n in a b h c; do
  expect_output "agent on $n applies its plan" '^plan revision [0-9]+: [1-9][0-9]* actions$' apply_plan "$n" --verbose
done
declare -A ADDR
for n in a b h c; do ADDR[$n]=$(wl_addr "$n" "w$n"); done

# Listeners in every workload (TCP 8080 answers with the workload's name).
for n in a b h c; do
  sim_exec_bg "$n" "listen-w$n.log" ip netns exec "wl-w$n" socat "TCP6-LISTEN:8080,fork,reuseaddr" "SYSTEM:echo w$n"
done

# The hidden node's tunnels come up once it has dialled out (keepalive 25 s, but the first packet
# starts the handshake at once).
expect_ok "w h reaches w a (first handshake through NAT)" \
  sim_wait_until 15 sim_netns_exec h wl-wh ping -6 -c1 -W1 "${ADDR[a]}"
for src in a b h c; do
  for dst in a b h c; do
    [ "$src" = "$dst" ] && continue
    expect_ok "w$src pings w$dst (${ADDR[$dst]})" \
      sim_wait_until 10 sim_netns_exec "$src" "wl-w$src" ping -6 -c1 -W1 "${ADDR[$dst]}"
    expect_eq "w$src opens TCP to w$dst:8080" "w$dst" \
      sim_netns_exec "$src" "wl-w$src" timeout 3 ncat --recv-only -w2 "${ADDR[$dst]}" 8080
  done
done

# The hidden node talks only to the hubs, and they see it at its NAT address.
hub_keys=$( { ctl plan a --json; ctl plan b --json; } | jq -r '.networks[0].publicKey' | sort)
h_peers() { sim_exec h wg show "$WG" peers | sort; }
expect_eq "h's tunnel peers are exactly the hubs a and b" "$hub_keys" h_peers
expect_output "a sees h's endpoint at h's router ($(sim_router_addr h))" "$(sim_router_addr h | sed 's/\./\\./g'):[0-9]+" \
  sim_exec a wg show "$WG" endpoints
expect_fail "h has no public endpoint in a's plan" \
  sh -c "'$BIN/overlayctl' --db '$DB' plan a --json | jq -e '.networks[0].peers[] | select(.name == \"h\") | .endpoint' >/dev/null"
h_rx_on_a() { sim_exec a wg show "$WG" transfer | grep -v "$(ctl plan b --json | jq -r '.networks[0].publicKey')" | awk '{print $2}'; }
expect_output "a received bytes from h over the tunnel" '^[1-9][0-9]*$' h_rx_on_a

# c holds no tunnel to h: its traffic to h was relayed by h's primary hub.
key_of() { ctl plan "$1" --json | jq -r '.networks[0].publicKey'; }
c_peers() { sim_exec c wg show "$WG" peers | sort; }
expect_eq "c's tunnel peers are a and b only (no h)" "$(printf '%s\n%s\n' "$(key_of a)" "$(key_of b)" | sort)" c_peers
primary_of_h=$(ctl plan h --json | jq -r '.networks[0].failover.hubs[] | select(.isPrimary) | .publicKey')
relay=$(for n in a b; do [ "$(key_of $n)" = "$primary_of_h" ] && echo $n; done)
h_routes_via() { ctl plan c --json | jq -r --arg k "$primary_of_h" '.networks[0].peers[] | select(.publicKey == $k) | .allowedIPs[]'; }
expect_output "on c, h's /64 is carried by h's primary hub ($relay)" "$(ctl plan h --json | jq -r '.networks[0].subnet' | sed 's/\./\\./g')" h_routes_via

# Idempotence: the same plan again sends nothing.
for n in a b h c; do
  expect_eq "second run --once on $n does nothing" "plan revision $(ctl plan "$n" --json | jq .revision): 0 actions" \
    agent "$n" run --once --verbose
done

# down: everything the agent made goes; a namespace of someone else's stays.
sim_exec a ip netns add keep-me
expect_output "down on a" '^down: [1-9][0-9]* actions$' agent a down
netns_of_a() { sim_exec a ip netns list | awk '{print $1}'; }
expect_eq "a has only the foreign namespace left" "keep-me" netns_of_a
expect_fail "a has no wireguard-go left" sim_exec a pgrep -x wireguard-go
expect_fail "a has no inet overlay table" sim_exec a nft list table inet overlay
expect_ok "down twice is fine" agent a down
expect_fail "b lost its way to w a" sim_netns_exec b wl-wb ping -6 -c1 -W1 "${ADDR[a]}"
expect_ok "b still reaches w h" sim_netns_exec b wl-wb ping -6 -c1 -W1 "${ADDR[h]}"

sim_summary
