#!/usr/bin/env bash
# scenario-35: IPv4 beside IPv6 in every overlay. Hubs `a` and `b`, a public node `p` and a hidden
# node `h` behind its NAT run two dual-stack networks (net1 on every node, net2 on a and h) and one
# IPv6-only network (net3 on a and h), built by the real binaries.
# Proves: every net1 workload pings and opens TCP to every other over IPv4, the hidden node
# through its relay, with the addresses the controller reported (the node's /24, the workload's
# host number); the bridge carries both router addresses; net2 reaches only net2 and never net1
# (and the reverse), and net3 has no IPv4 at all; a second `run --once` changes nothing; `down`
# leaves no link, namespace or table behind.
# Egress: every net1 workload fetches from a server in the internet namespace over IPv4 through its
# own node, which the server sees as the node's public address (the hidden node's router's); net2
# (--no-egress) gets nothing out until `network set net2 --egress on`; from the internet, with
# routes to the overlay's IPv4 prefix and the transfer addresses pointed at a node, no probe gets
# in; `down` leaves no NAT, no transfer link, and the host's ip_forward as it was. IPv4 is
# masqueraded once, in the host, which routes net1's prefix to its transfer link; a second network
# with the same IPv4 prefix and egress on a node turns that node back to a masquerade in each
# network namespace, and both keep getting out.
# NAT66: a and p register their public IPv6 address too; their net1 workloads fetch from the
# internet over IPv6, seen from the node's public IPv6 address; b and h (no public IPv6) get
# nothing out over IPv6; the internet, with a route to net1's /48 through a, gets nothing in;
# the uplink keeps accepting router advertisements (accept_ra 2 while the host forwards IPv6).
# A stock wg-quick client (wireguard-go) on the internet reaches every workload over IPv4.
# `down` puts IPv6 forwarding and accept_ra back as well.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh

sim_init dualstack
# wl4 NODE WORKLOAD [NETWORK]: the workload's IPv4 address in NODE's plan.
wl4() {
  ctl plan "$1" --json | jq -r --arg w "$2" '.networks[].workloads[] | select(.name == $w) | .ipv4Address // empty'
}

sim_node a
sim_node b
sim_node p
sim_node h --hidden
ctl network create net1 >/dev/null
ctl network create net2 --ipv4 10.77.0.0/16 --no-egress >/dev/null
ctl network create net3 --no-ipv4 >/dev/null
ctl node add a --identity "$(agent a init)" --public-address "$(sim_public_addr a)" \
  --public-address "$(sim_public_addr a 6)" --hub >/dev/null
ctl node add b --identity "$(agent b init)" --public-address "$(sim_public_addr b)" --hub >/dev/null
ctl node add p --identity "$(agent p init)" --public-address "$(sim_public_addr p)" \
  --public-address "$(sim_public_addr p 6)" >/dev/null
ctl node add h --identity "$(agent h init)" >/dev/null
for n in a b p h; do ctl workload add "w$n" --network net1 --node "$n" >/dev/null; done
for n in a h; do
  ctl workload add "x$n" --network net2 --node "$n" >/dev/null
  ctl workload add "v$n" --network net3 --node "$n" >/dev/null
done
P1=$(ctl network list --json | jq -r '.[] | select(.name == "net1") | .ipv4Prefix')
expect_eq "net1 got the first /16 of 100.64.0.0/10" "100.64.0.0/16" echo "$P1"
expect_output "workload show prints the IPv4 address" '^ipv4 address +100\.64\.[0-9]+\.2$' ctl workload show wa

declare -A FWD_BEFORE FWD6_BEFORE RA_BEFORE
for n in a b p h; do FWD_BEFORE[$n]=$(sim_exec "$n" sysctl -n net.ipv4.ip_forward); done
for n in a p; do
  FWD6_BEFORE[$n]=$(sim_exec "$n" sysctl -n net.ipv6.conf.all.forwarding)
  RA_BEFORE[$n]=$(sim_exec "$n" sysctl -n net.ipv6.conf.eth0.accept_ra)
done
for n in a b p h; do
  expect_output "agent on $n applies its plan" '^plan revision [0-9]+: [1-9][0-9]* actions$' apply_plan "$n" --verbose
done
declare -A V4 X4
for n in a b p h; do V4[$n]=$(wl4 "$n" "w$n"); done
for n in a h; do X4[$n]=$(wl4 "$n" "x$n"); done
api_v4() { ctl workload show "$1" --json | jq -r .ipv4Address; }
for n in a b p h; do
  expect_eq "w$n's IPv4 address in the plan is the one the API reports" "${V4[$n]}" api_v4 "w$n"
done

# The workload's interface and the bridge carry both families.
NET1_ID=$(ctl network list --json | jq -r '.[] | select(.name == "net1") | .id')
ovl0_v4() { sim_netns_exec p wl-wp ip -4 -o addr show dev ovl0 | awk '{print $4}'; }
expect_eq "wp's ovl0 has its address on the node's /24" "${V4[p]}/24" ovl0_v4
router_v4() { sim_netns_exec p "ovl-$NET1_ID" ip -4 -o addr show dev "br-$NET1_ID" | awk '{print $4}'; }
expect_eq "p's bridge has .1 of p's /24" "$(ctl plan p --json | jq -r '.networks[] | select(.name == "net1") | .ipv4.routerAddress')/24" router_v4

for n in a b p h; do
  sim_exec_bg "$n" "listen-w$n.log" ip netns exec "wl-w$n" socat "TCP4-LISTEN:8080,fork,reuseaddr" "SYSTEM:echo w$n"
done
expect_ok "wh reaches wa over IPv4 (first handshake through NAT)" \
  sim_wait_until 15 sim_netns_exec h wl-wh ping -4 -c1 -W1 "${V4[a]}"
for src in a b p h; do
  for dst in a b p h; do
    [ "$src" = "$dst" ] && continue
    expect_ok "w$src pings w$dst over IPv4 (${V4[$dst]})" \
      sim_wait_until 10 sim_netns_exec "$src" "wl-w$src" ping -4 -c1 -W1 "${V4[$dst]}"
    expect_eq "w$src opens TCP to w$dst:8080 over IPv4" "w$dst" \
      sim_netns_exec "$src" "wl-w$src" timeout 3 ncat -4 --recv-only -w2 "${V4[$dst]}" 8080
  done
done

# net2: its own prefix, reachable inside, nothing across networks.
expect_output "net2's workloads are in 10.77.0.0/16" '^10\.77\.[0-9]+\.2$' echo "${X4[a]}"
expect_ok "xh pings xa over IPv4 inside net2" sim_wait_until 15 sim_netns_exec h wl-xh ping -4 -c1 -W1 "${X4[a]}"
expect_fail "xa (net2) cannot ping wh (net1) over IPv4" sim_netns_exec a wl-xa ping -4 -c1 -W1 "${V4[h]}"
expect_fail "xa (net2) cannot open TCP to wa (net1)" sim_netns_exec a wl-xa timeout 3 ncat -4 -z -w2 "${V4[a]}" 8080
expect_fail "wh (net1) cannot ping xa (net2)" sim_netns_exec h wl-wh ping -4 -c1 -W1 "${X4[a]}"
# net3: IPv6 only, not even an IPv4 address.
va_v4() { sim_netns_exec a wl-va ip -4 -o addr show dev ovl0; }
expect_eq "va (net3, --no-ipv4) has no IPv4 address" "" va_v4
expect_fail "va (net3) cannot ping wa over IPv4" sim_netns_exec a wl-va ping -4 -c1 -W1 "${V4[a]}"

# A forged IPv4 source inside net1 is dropped by the network namespace's table.
sim_netns_exec p wl-wp ip addr add 10.99.0.2/32 dev ovl0
expect_fail "a spoofed IPv4 source (10.99.0.2) does not get through p's network namespace" \
  sim_netns_exec p wl-wp ping -4 -c1 -W1 -I 10.99.0.2 "${V4[a]}"
sim_netns_exec p wl-wp ip addr del 10.99.0.2/32 dev ovl0
spoofed() { sim_netns_exec p "ovl-$NET1_ID" nft list chain inet overlay forward | grep 'ip saddr != 100.64.0.0/16' | grep -E 'packets [1-9]'; }
expect_ok "p's forward chain counted the spoofed packet" spoofed

# Egress: a server in the internet namespace answers with the address it sees.
sim_exec_bg "$SIM_INET" "$SIM_DIR/web.log" socat TCP4-LISTEN:8081,fork,reuseaddr 'SYSTEM:echo $SOCAT_PEERADDR'
fetch() { sim_netns_exec "$1" "wl-$2" timeout 5 ncat -4 --recv-only -w3 "$SIM_INET4" 8081; }
sim_wait_until 10 sim_tcp "$SIM_INET" "$SIM_INET4" 8081 || true
for n in a b p; do
  expect_eq "w$n fetches from the internet over IPv4; the server sees $n's public address" "$(sim_public_addr "$n" 4)" fetch "$n" "w$n"
done
expect_eq "wh (hidden) fetches from the internet; the server sees h's router" "$(sim_router_addr h)" fetch h wh
expect_fail "xa (net2, --no-egress) gets nothing out" fetch a xa
expect_fail "xh (net2, --no-egress) gets nothing out" fetch h xh
expect_fail "va (net3, IPv6 only) gets nothing out over IPv4" fetch a va
# One masquerade for IPv4, in the host: the network namespace forwards, the host routes the prefix back.
ns_nat() { sim_netns_exec "$1" "ovl-$NET1_ID" nft list table inet overlay | grep -c masquerade || true; }
host_route4() { sim_exec "$1" ip -4 route show "$P1" | awk '{print $1, $2, $3, $4, $5}'; }
for n in a b p h; do
  expect_eq "$n's net1 namespace does not masquerade (the host does, once)" "0" ns_nat "$n"
  expect_eq "$n's host routes net1's prefix to the transfer link" \
    "$P1 via $(ctl plan "$n" --json | jq -r '.networks[] | select(.name == "net1") | .egress.address') dev ovx-$NET1_ID" \
    host_route4 "$n"
done
# A network on a with net1's prefix (--ipv4) and egress: a can route the prefix to one link only,
# so both namespaces masquerade first and both still get out; once it goes, the route is back.
ctl network create net4 --ipv4 "$P1" >/dev/null
ctl workload add ya --network net4 --node a >/dev/null
apply_plan a >/dev/null
NET4_ID=$(ctl network list --json | jq -r '.[] | select(.name == "net4") | .id')
host_routes_p1() { sim_exec a ip -4 route show "$P1"; }
expect_eq "a no longer routes $P1 (net1 and net4 share it)" "" host_routes_p1
expect_eq "a's net1 namespace masquerades again" "1" ns_nat a
expect_eq "wa still fetches from the internet" "$(sim_public_addr a 4)" fetch a wa
expect_eq "ya (net4, same prefix) fetches from the internet" "$(sim_public_addr a 4)" fetch a ya
ctl network delete net4 >/dev/null
apply_plan a >/dev/null
ns_list_a() { sim_exec a ip netns list | grep -c "ovl-$NET4_ID" || true; }
expect_eq "net4's namespace is gone from a" "0" ns_list_a
expect_eq "a routes $P1 to net1's transfer link again" \
  "$P1 via $(ctl plan a --json | jq -r '.networks[] | select(.name == "net1") | .egress.address') dev ovx-$NET1_ID" host_route4 a
expect_eq "a's net1 namespace masquerades no more" "0" ns_nat a
expect_eq "wa fetches from the internet again" "$(sim_public_addr a 4)" fetch a wa

# NAT66: the same server over IPv6, from the nodes with a public IPv6 address.
sim_exec_bg "$SIM_INET" "$SIM_DIR/web6.log" socat TCP6-LISTEN:8086,fork,reuseaddr,ipv6only=1 'SYSTEM:echo $SOCAT_PEERADDR'
# socat prints the peer's IPv6 address in full; compressed here to compare with the plan's.
fetch6() {
  sim_netns_exec "$1" "wl-$2" timeout 5 ncat -6 --recv-only -w3 "$SIM_INET6" 8086 | tr -d '[]' |
    python3 -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.stdin.read().strip()))'
}
sim_wait_until 10 sim_tcp "$SIM_INET" "$SIM_INET6" 8086 || true
for n in a p; do
  expect_eq "w$n fetches from the internet over IPv6; the server sees $n's public IPv6 address" \
    "$(sim_public_addr "$n" 6)" fetch6 "$n" "w$n"
done
expect_fail "wb (b has no public IPv6) gets nothing out over IPv6" fetch6 b wb
expect_fail "wh (hidden) gets nothing out over IPv6" fetch6 h wh
expect_fail "xa (net2, --no-egress) gets nothing out over IPv6" fetch6 a xa
for n in a p; do
  expect_eq "$n's host forwards IPv6 for NAT66" "1" sim_exec "$n" sysctl -n net.ipv6.conf.all.forwarding
  expect_eq "$n's uplink still accepts router advertisements (accept_ra 2)" "2" \
    sim_exec "$n" sysctl -n net.ipv6.conf.eth0.accept_ra
done
# From the internet, with net1's /48 routed to a (whose host now routes it to its transfer link).
PREFIX1=$(ctl plan a --json | jq -r '.networks[] | select(.name == "net1") | .prefix')
WA6=$(ctl plan a --json | jq -r '.networks[] | select(.name == "net1") | .workloads[0].address')
host_fwd_drops() {
  sim_exec a nft list chain inet overlay forward | grep overlay-forward-dropped |
    sed -n 's/.*counter packets \([0-9]*\).*/\1/p' | awk '{s += $1} END {print s + 0}'
}
drops_before=$(host_fwd_drops)
sim_internet_exec ip -6 route replace "$PREFIX1" via "$(sim_public_addr a 6)"
expect_fail "internet -> wa ($WA6) via a over IPv6: ping" sim_internet_exec ping -6 -c1 -W1 "$WA6"
expect_fail "internet -> wa:8080 via a over IPv6" sim_internet_exec timeout 3 ncat -6 -z -w2 "$WA6" 8080
sim_internet_exec ip -6 route del "$PREFIX1"
expect_ok "a's host forward chain counted them" test "$(host_fwd_drops)" -gt "$drops_before"

# Nothing from the internet gets in, even with routes to the overlay and the transfer addresses
# pointed at a node whose host forwards (egress turned ip_forward on there).
A4=$(sim_public_addr a 4)
XFER_A=$(ctl plan a --json | jq -r '.networks[] | select(.name == "net1") | .egress.address')
sim_internet_exec ip route replace 100.64.0.0/16 via "$A4"
sim_internet_exec ip route replace 100.127.0.0/16 via "$A4"
sim_exec_bg a listen-ns.log ip netns exec "ovl-$NET1_ID" socat TCP4-LISTEN:8082,fork,reuseaddr SYSTEM:'echo ns'
expect_fail "internet -> wa (${V4[a]}) via a: ping" sim_internet_exec ping -4 -c1 -W1 "${V4[a]}"
expect_fail "internet -> wa:8080 via a" sim_internet_exec timeout 3 ncat -4 -z -w2 "${V4[a]}" 8080
expect_fail "internet -> a's transfer address ($XFER_A):8082 via a" sim_internet_exec timeout 3 ncat -4 -z -w2 "$XFER_A" 8082
expect_fail "internet -> a's transfer address: ping" sim_internet_exec ping -4 -c1 -W1 "$XFER_A"
sim_internet_exec ip route del 100.64.0.0/16
sim_internet_exec ip route del 100.127.0.0/16
expect_eq "a's host forwards IPv4 for egress" "1" sim_exec a sysctl -n net.ipv4.ip_forward

# Egress switched on for net2 reaches its members' plans; off again closes it.
ctl network set net2 --egress on >/dev/null
for n in a h; do apply_plan "$n" >/dev/null; done
expect_eq "after 'network set net2 --egress on', xa fetches from the internet" "$A4" fetch a xa
ctl network set net2 --egress off >/dev/null
for n in a h; do apply_plan "$n" >/dev/null; done
expect_fail "after '--egress off', xa gets nothing out" fetch a xa

# A person's device: the wg-quick file from `access add`, brought up by stock wg-quick.
sim_node l
mkdir -p "$SIM_DIR/wgq"
ctl access add laptop --network net1 --hub a >"$SIM_DIR/wgq/lap0.conf"
chmod 600 "$SIM_DIR/wgq/lap0.conf"
expect_output "the wg-quick file has an IPv4 address and the IPv4 prefix" '^AllowedIPs = .*, 100\.64\.0\.0/16$' \
  cat "$SIM_DIR/wgq/lap0.conf"
for n in a b p h; do apply_plan "$n" >/dev/null; done
expect_ok "wg-quick up on l" sim_exec l env WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go wg-quick up "$SIM_DIR/wgq/lap0.conf"
for n in a b p h; do
  expect_ok "the wg-quick client pings w$n over IPv4 (${V4[$n]})" sim_wait_until 15 sim_ping l "${V4[$n]}"
done
expect_eq "the wg-quick client opens TCP to wh:8080 over IPv4" "wh" sim_exec l timeout 3 ncat -4 --recv-only -w2 "${V4[h]}" 8080

for n in a b p h; do
  expect_eq "second run --once on $n does nothing" "plan revision $(ctl plan "$n" --json | jq .revision): 0 actions" \
    agent "$n" run --once --verbose
done

expect_output "down on p" '^down: [1-9][0-9]* actions$' agent p down
netns_of_p() { sim_exec p ip netns list; }
expect_eq "p has no namespace left" "" netns_of_p
links_of_p() { sim_exec p ip -o link show | awk -F': ' '{print $2}' | grep -v -x -e lo -e 'eth0@.*' -e eth0 || true; }
expect_eq "p has no link left but lo and eth0" "" links_of_p
expect_fail "p has no inet overlay table (no NAT left)" sim_exec p nft list table inet overlay
expect_eq "p's ip_forward is back to ${FWD_BEFORE[p]}" "${FWD_BEFORE[p]}" sim_exec p sysctl -n net.ipv4.ip_forward
expect_eq "p's IPv6 forwarding is back to ${FWD6_BEFORE[p]}" "${FWD6_BEFORE[p]}" sim_exec p sysctl -n net.ipv6.conf.all.forwarding
expect_eq "p's accept_ra is back to ${RA_BEFORE[p]}" "${RA_BEFORE[p]}" sim_exec p sysctl -n net.ipv6.conf.eth0.accept_ra
routes6_of_p() { sim_exec p ip -6 route show proto static; }
expect_eq "p has no static IPv6 route left" "" routes6_of_p
nat_of_p() { sim_exec p nft list ruleset | grep -c masquerade || true; }
expect_eq "p has no masquerade rule left" "0" nat_of_p
sim_summary
