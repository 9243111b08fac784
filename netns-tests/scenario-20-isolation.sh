#!/usr/bin/env bash
# scenario-20: two overlay networks over the same three nodes (hubs a, b; h hidden). Each node
# runs one agent with both networks (two namespaces, two wireguard-go, two listen ports).
# Proves: inside a network everything works; a workload of one network reaches no address of the
# other (workloads, router addresses), neither by ping nor TCP, not even on the same node.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh

sim_init isolation
# plan_q NODE JQ — a value from NODE's plan.
plan_q() { ctl plan "$1" --json | jq -r "$2"; }

sim_node a
sim_node b
sim_node h --hidden
ctl network create red >/dev/null
ctl network create blue >/dev/null
ctl node add a --identity "$(agent a init)" --public-address "$(sim_public_addr a)" --hub >/dev/null
ctl node add b --identity "$(agent b init)" --public-address "$(sim_public_addr b)" --hub >/dev/null
ctl node add h --identity "$(agent h init)" >/dev/null
for n in a b h; do
  for net in red blue; do ctl workload add "$net-$n" --network "$net" --node "$n" >/dev/null; done
done
for n in a b h; do expect_output "agent on $n applies both networks" '[1-9][0-9]* actions$' apply_plan "$n"; done

declare -A ADDR ROUTER
for n in a b h; do
  for net in red blue; do
    ADDR[$net-$n]=$(plan_q "$n" ".networks[] | select(.name == \"$net\") | .workloads[0].address")
    ROUTER[$net-$n]=$(plan_q "$n" ".networks[] | select(.name == \"$net\") | .routerAddress")
    sim_exec_bg "$n" "listen-$net.log" ip netns exec "wl-$net-$n" socat TCP6-LISTEN:8080,fork,reuseaddr "SYSTEM:echo $net-$n"
  done
done
wg_count() { sim_exec a pgrep -c -x wireguard-go; }
expect_eq "a runs one wireguard-go per network" 2 wg_count

ping_from() { sim_netns_exec "$1" "wl-$2" ping -6 -c1 -W1 "$3"; }    # NODE WORKLOAD ADDR
tcp_from() { sim_netns_exec "$1" "wl-$2" timeout 3 ncat --recv-only -w2 "$3" 8080; }
# Positive controls: each network works end to end, including the hidden node.
for net in red blue; do
  expect_ok "$net-h reaches $net-a (handshake through NAT)" sim_wait_until 15 ping_from h "$net-h" "${ADDR[$net-a]}"
  expect_ok "$net-a reaches $net-b" sim_wait_until 10 ping_from a "$net-a" "${ADDR[$net-b]}"
  expect_eq "$net-b opens TCP to $net-h" "$net-h" tcp_from b "$net-b" "${ADDR[$net-h]}"
done
# Isolation: every workload of one network against every address of the other.
for src in a b h; do
  for net in red blue; do
    other=$([ $net = red ] && echo blue || echo red)
    for dst in a b h; do
      expect_fail "$net-$src cannot ping $other-$dst (${ADDR[$other-$dst]})" ping_from "$src" "$net-$src" "${ADDR[$other-$dst]}"
      expect_fail "$net-$src cannot open TCP to $other-$dst" tcp_from "$src" "$net-$src" "${ADDR[$other-$dst]}"
      expect_fail "$net-$src cannot ping $other's router on $dst" ping_from "$src" "$net-$src" "${ROUTER[$other-$dst]}"
    done
  done
done

sim_summary
