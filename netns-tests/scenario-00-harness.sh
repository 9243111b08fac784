#!/usr/bin/env bash
# scenario-00: self-test of the simulation harness (netns-tests/lib/sim.sh).
#
# Uses only standard tools (ip, ping, socat, ncat, wireguard-go, wg), never the product: it proves
# that simulated nodes are isolated the way later scenarios rely on:
#   1. underlay: public <-> public works (v4 and v6); hidden -> public works through NAT and is
#      seen as the router's address; nothing reaches the hidden node from outside;
#   2. sysctls are writable inside a node without touching the host's;
#   3. /run/netns is private per node (`ip netns add` in a node is invisible to the host and to
#      other nodes, same names do not collide, `ip netns exec` works inside);
#   4. /run/wireguard is private per node: two wireguard-go processes with the SAME interface name
#      run side by side and form a tunnel (public node <-> hidden node dialling out through NAT with
#      a persistent keepalive) carrying IPv6 ULA traffic;
#   5. teardown leaves nothing: no host netns entries, no links, no processes (also the ones the
#      harness did not start itself: a daemonised wireguard-go, a process in a node's inner netns).
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh

started=$(date +%s)
sim_init harness
P=$SIM_PREFIX

sim_node pa
sim_node pb
sim_node hc --hidden
A4=$(sim_public_addr pa 4); A6=$(sim_public_addr pa 6)
B4=$(sim_public_addr pb 4); B6=$(sim_public_addr pb 6)
C_LAN=$(sim_lan_addr hc); C_NAT=$(sim_router_addr hc)

# --- 1. underlay ---------------------------------------------------------------------------------
expect_ok   "pa -> pb over IPv4"                  sim_ping pa "$B4"
expect_ok   "pa -> pb over IPv6"                  sim_ping pa "$B6"
expect_ok   "pb -> pa over IPv4"                  sim_ping pb "$A4"
expect_ok   "pb -> pa over IPv6"                  sim_ping pb "$A6"
expect_ok   "internet -> pa"                      sim_internet_exec ping -n -q -c1 -W1 "$A4"
expect_ok   "hc (hidden) -> pa through NAT"       sim_ping hc "$A4"
expect_ok   "hc (hidden) -> pb through NAT"       sim_ping hc "$B4"
expect_eq   "hidden node has no public address" "" sim_public_addr hc
expect_fail "hc has no IPv6 underlay"             sim_ping hc "$A6"
expect_fail "pa -> hc's LAN address"              sim_ping pa "$C_LAN"
expect_fail "internet -> hc's LAN address"        sim_internet_exec ping -n -q -c1 -W1 "$C_LAN"

# pa sees connections from hc as coming from the home router's public address.
# shellcheck disable=SC2016  # $SOCAT_PEERADDR is for socat's shell
sim_exec_bg pa peer-echo.log socat TCP-LISTEN:7000,reuseaddr,fork 'SYSTEM:echo $SOCAT_PEERADDR'
sim_wait_until 5 sim_tcp pa 127.0.0.1 7000 || true
expect_eq   "pa sees hc as $C_NAT (masquerade)" "$C_NAT" \
  sim_exec hc timeout 3 ncat --recv-only -w2 "$A4" 7000

# A listener on hc: reachable on its LAN (so the listener works) but not from outside, not even
# for a neighbour on the internet segment that routes hc's private prefix to the router.
sim_exec_bg hc listen.log socat TCP-LISTEN:7001,reuseaddr,fork 'SYSTEM:echo hi'
sim_wait_until 5 sim_tcp hc 127.0.0.1 7001 || true
expect_ok   "router reaches hc:7001 on the LAN"   sim_router_exec hc timeout 3 ncat -z -w2 "$C_LAN" 7001
expect_fail "pa -> hc's router:7001 (no port forward)" sim_tcp pa "$C_NAT" 7001
sim_internet_exec ip route add "${C_LAN%.*}.0/24" via "$C_NAT"
expect_fail "internet -> hc even with a route to its LAN (router drops inbound)" \
  sim_internet_exec ping -n -q -c1 -W1 "$C_LAN"
expect_fail "internet -> hc:7001 with that route"  sim_internet_exec timeout 3 ncat -z -w2 "$C_LAN" 7001
sim_internet_exec ip route del "${C_LAN%.*}.0/24" via "$C_NAT"

# --- 2. sysctls ------------------------------------------------------------------------------------
host_fwd=$(sysctl -n net.ipv6.conf.all.forwarding)
expect_ok     "pa can turn IPv6 forwarding on"     sim_exec pa sysctl -qw net.ipv6.conf.all.forwarding=1
expect_eq     "pa has IPv6 forwarding on"          1 sim_exec pa sysctl -n net.ipv6.conf.all.forwarding
expect_eq     "host's IPv6 forwarding unchanged"   "$host_fwd" sysctl -n net.ipv6.conf.all.forwarding

# --- 3. private /run/netns -------------------------------------------------------------------------
NS="${P}-ovl"        # the same name in two nodes
ONLY="${P}-only"     # only in pa
expect_ok   "pa: ip netns add $NS"                 sim_exec pa ip netns add "$NS"
expect_ok   "pb: ip netns add $NS (same name)"     sim_exec pb ip netns add "$NS"
expect_ok   "pa: ip netns add $ONLY"               sim_exec pa ip netns add "$ONLY"
lists_ns() { sim_exec "$1" ip netns list | grep -q "^$2\b"; }   # lists_ns NODE NS
expect_fail "host's ip netns list does not show them" sh -c "ip netns list | grep -q '^$P'"
expect_ok   "pa lists $ONLY"                       lists_ns pa "$ONLY"
expect_fail "pb does not see pa's $ONLY"           lists_ns pb "$ONLY"
ino_a=$(sim_exec pa stat -L -c %i "/run/netns/$NS")
ino_b=$(sim_exec pb stat -L -c %i "/run/netns/$NS")
expect_fail "the two $NS are different namespaces ($ino_a vs $ino_b)" test "$ino_a" = "$ino_b"
# ip netns exec inside a node, with a veth between the node and its inner namespace.
expect_ok "pa: veth into $NS and ping across it" sim_exec pa sh -ec "
  ip link add v-out type veth peer name v-in netns $NS
  ip addr add 169.254.7.1/30 dev v-out; ip link set v-out up
  ip netns exec $NS ip addr add 169.254.7.2/30 dev v-in
  ip netns exec $NS ip link set v-in up
  ip netns exec $NS ip link set lo up
  ping -n -q -c1 -W1 169.254.7.2"
expect_output "sim_netns_exec sees the inner veth" 'v-in' sim_netns_exec pa "$NS" ip -br link
# A process the harness does not record, living in the inner netns (teardown must still end it).
sim_exec pa sh -c "ip netns exec $NS sleep 1000 >/dev/null 2>&1 </dev/null &"
inner_pids=""
for p in $(sim_pids pa); do
  [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "net:[$ino_a]" ] && inner_pids="$inner_pids $p"
done
expect_output "an unrecorded process runs in pa's $NS (${inner_pids# })" '[0-9]' echo "$inner_pids"

# --- 4. private /run/wireguard: same interface name in two nodes, tunnel through NAT --------------
KEYS="$SIM_DIR/keys"; mkdir -m 700 "$KEYS"
(umask 077; for n in pa hc; do wg genkey >"$KEYS/$n.key"; wg pubkey <"$KEYS/$n.key" >"$KEYS/$n.pub"; done)
ULA="fd5e:ed00:${P:1}"            # a ULA /64 unique to this run
had_host_sock=0; [ -e /run/wireguard/wg-test.sock ] && had_host_sock=1

# pa: foreground, recorded by the harness. hc: wireguard-go daemonises itself (like a product
# would start it), so only the PID namespace teardown can end it.
sim_exec_bg pa wg.log wireguard-go -f wg-test
expect_ok "hc: wireguard-go wg-test (daemonised)" sim_exec hc wireguard-go wg-test
expect_ok "pa: wg-test UAPI socket in its private /run/wireguard" \
  sim_wait_until 5 sim_exec pa test -S /run/wireguard/wg-test.sock
expect_ok "hc: wg-test UAPI socket in its private /run/wireguard" \
  sim_wait_until 5 sim_exec hc test -S /run/wireguard/wg-test.sock
if [ $had_host_sock = 0 ]; then
  expect_fail "host has no /run/wireguard/wg-test.sock" test -e /run/wireguard/wg-test.sock
fi
expect_fail "host has no wg-test link" ip link show wg-test

expect_ok "pa: configure wg-test" sim_exec pa sh -ec "
  wg set wg-test listen-port 51820 private-key $KEYS/pa.key \
     peer $(cat "$KEYS/hc.pub") allowed-ips $ULA::3/128
  ip -6 addr add $ULA::2/64 dev wg-test nodad
  ip link set wg-test mtu 1420 up"
expect_ok "hc: configure wg-test (dials pa through NAT, keepalive 1 s)" sim_exec hc sh -ec "
  wg set wg-test private-key $KEYS/hc.key \
     peer $(cat "$KEYS/pa.pub") endpoint $A4:51820 allowed-ips $ULA::2/128 persistent-keepalive 1
  ip -6 addr add $ULA::3/64 dev wg-test nodad
  ip link set wg-test mtu 1420 up"
expect_eq "pa's wg-test is pa's device" "$(cat "$KEYS/pa.pub")" sim_exec pa wg show wg-test public-key
expect_eq "hc's wg-test is hc's device" "$(cat "$KEYS/hc.pub")" sim_exec hc wg show wg-test public-key
expect_ok "hc -> pa over the tunnel (ping6 $ULA::2)" sim_wait_until 10 sim_ping hc "$ULA::2"
expect_ok "pa -> hc over the tunnel (ping6 $ULA::3)" sim_ping pa "$ULA::3"
expect_output "pa sees hc's endpoint at the NAT address" "${C_NAT//./\\.}:[0-9]+" \
  sim_exec pa wg show wg-test endpoints
expect_fail "pb cannot use the tunnel"             sim_ping pb "$ULA::3"

wg_pids=""
for n in pa hc; do
  for p in $(sim_pids "$n"); do
    [ "$(readlink /proc/"$p"/exe 2>/dev/null)" = /usr/bin/wireguard-go ] && wg_pids="$wg_pids $p"
  done
done
expect_output "two wireguard-go processes found (${wg_pids# })" '^ *[0-9]+ +[0-9]+ *$' echo "$wg_pids"

# --- 5. teardown -----------------------------------------------------------------------------------
sim_cleanup
# none_alive PID... — fails, listing them, if any of the PIDs still exists (zombies included).
none_alive() { local p bad=""; for p in "$@"; do [ -d "/proc/$p" ] && bad="$bad $p"; done; [ -z "$bad" ] || { echo "alive:$bad"; return 1; }; }
expect_ok     "nothing leaked (sim_leaks $P)"         sim_leaks
# shellcheck disable=SC2086
expect_ok     "no wireguard-go left (${wg_pids# })"   none_alive $wg_pids
# shellcheck disable=SC2086
expect_ok     "no process left from pa's inner netns" none_alive $inner_pids
expect_fail   "host ip netns list has nothing of ours" sh -c "ip netns list | grep -q '$P'"
expect_fail   "host has no link named with $P"        sh -c "ip -o link | grep -q '$P'"
expect_fail   "temp dir removed"                      test -e "$SIM_DIR"
elapsed=$(($(date +%s) - started))
expect_ok     "finished in ${elapsed}s (< 60 s)"       test "$elapsed" -lt 60

sim_summary
