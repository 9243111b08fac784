#!/bin/sh
# In the guest: two nodes, a (hub, 192.0.2.2) and b (192.0.2.3), each a network + mount namespace
# of its own (a private /run, so each has its own /run/netns and the agents' ovl-/wl- names do not
# clash), joined by a veth as their internet. Each node's agent applies the plans made on the host
# with the KERNEL WireGuard backend. A third namespace, i (198.51.100.1) behind a's second link,
# is the wider internet that a's workload fetches from through egress (NAT44).
# Every check prints PASS or FAIL; the host counts them.
. /vm/env
NS=ovl-$NET_ID WG=wg-$NET_ID
# busybox sh prefers its own applets: the checks name the real tools by path.
IP=/usr/local/bin/ip

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; }
# check NAME CMD...: PASS when CMD succeeds; on failure its output follows, indented.
check() {
  name=$1; shift
  if "$@" >/tmp/check.out 2>&1; then pass "$name"; else fail "$name"; tail -n 30 /tmp/check.out | sed 's/^/    /'; fi
}
# check_eq NAME EXPECTED CMD...
check_eq() {
  name=$1 want=$2; shift 2
  got=$("$@" 2>&1)
  if [ "$got" = "$want" ]; then pass "$name"; else fail "$name"; printf '    want: %s\n    got:  %s\n' "$want" "$got"; fi
}
# check_fails NAME CMD...: PASS when CMD fails.
check_fails() {
  name=$1; shift
  if "$@" >/tmp/check.out 2>&1; then fail "$name (it succeeded)"; sed 's/^/    /' /tmp/check.out | tail -n 5; else pass "$name"; fi
}
# wait_until SECONDS CMD...
wait_until() {
  t=$1; shift
  i=0
  while [ "$i" -lt "$t" ]; do "$@" && return 0; sleep 1; i=$((i + 1)); done
  "$@"
}

# --- the nodes ------------------------------------------------------------------------------------
node_start() {  # NAME ADDR
  unshare -n -m --propagation private sh -c "mount -t tmpfs run /run && mount -t sysfs sys /sys && touch /tmp/ready-$1 && exec sleep 100000" &
  eval "PID_$1=$!"
  i=0; while [ ! -e "/tmp/ready-$1" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}
on() { n=$1; shift; eval "p=\$PID_$n"; nsenter -t "$p" -n -m "$@"; }
# in_wl NODE WORKLOAD-NS CMD...: a command in a workload namespace of a node.
in_wl() { n=$1 w=$2; shift 2; on "$n" $IP netns exec "$w" "$@"; }
# The agent as a node runs it, with nothing on its PATH: it cannot run wg, ip or nft even if it
# tried (and wireguard-go is not in the VM at all: a tunnel that works is the kernel's).
agent() { n=$1; shift; on "$n" env PATH=/nonexistent /usr/local/bin/overlay-agent "$@" --state-dir "/vm/state/$n"; }

check_fails "wireguard-go is not in the VM" sh -c 'command -v wireguard-go'
node_start a
node_start b
$IP link add ia type veth peer name ib
$IP link set ia netns "$PID_a"
$IP link set ib netns "$PID_b"
for n in a b; do
  on $n $IP link set "i$n" name eth0
  on $n $IP link set lo up
  on $n $IP link set eth0 up
done
on a $IP addr add 192.0.2.2/24 dev eth0
on b $IP addr add 192.0.2.3/24 dev eth0
check "the nodes reach each other over their internet" on a ping -c1 -W2 192.0.2.3
# Beyond a, a host of the wider internet (198.51.100.1) that answers with the address it sees:
# the workloads on a fetch from it through a's egress (NAT44: the network namespace forwards over
# the transfer link, the host masquerades out of a's eth1 and routes the network's prefix back).
node_start i
$IP link add xa type veth peer name xi
$IP link set xa netns "$PID_a"
$IP link set xi netns "$PID_i"
on a $IP link set xa name eth1
on a $IP link set eth1 up
on a $IP addr add 198.51.100.2/24 dev eth1
on a $IP route add default via 198.51.100.1
on i $IP link set lo up
on i $IP link set xi up
on i $IP addr add 198.51.100.1/24 dev xi
on i socat TCP4-LISTEN:8081,fork,reuseaddr 'SYSTEM:echo $SOCAT_PEERADDR' >/dev/null 2>&1 &
check "a reaches the internet host" on a ping -c1 -W2 198.51.100.1

# A service in a's own namespace: the control answers before the agent closes the node's door.
on a socat TCP-LISTEN:22,fork,reuseaddr SYSTEM:'echo ssh' >/dev/null 2>&1 &
on a socat "TCP-LISTEN:$PORT_A,fork,reuseaddr" SYSTEM:'echo twin' >/dev/null 2>&1 &
tcp22() { on b socat -T2 - TCP4:192.0.2.2:22,connect-timeout=2 </dev/null | grep -q ssh; }
tcpwg() { on b socat -T2 - "TCP4:192.0.2.2:$PORT_A,connect-timeout=2" </dev/null | grep -q twin; }
check "control: before the agent, b opens a's TCP 22" wait_until 5 tcp22
check "control: before the agent, b opens a's TCP $PORT_A" wait_until 5 tcpwg

# --- the tunnel: apply, check ---------------------------------------------------------------------
apply() {  # NODE BACKEND REV: run --once, output kept in /tmp/NODE-REV-BACKEND.log
  agent "$1" run --once --verbose --wireguard "$2" --plan "/vm/plans/$1-$3.json" >"/tmp/$1-$3-$2.log" 2>&1
}
dump_peers() {  # NODE: the device's peers as `wg show dump` prints them (key endpoint ips keepalive)
  on "$1" $IP netns exec "$NS" wg show "$WG" dump | tail -n +2 \
    | awk '{ n = split($4, a, ","); s = ""; for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
             for (i = 1; i <= n; i++) s = s (i > 1 ? "," : "") a[i]; print $1, $3, s, $8 }' | LC_ALL=C sort
}
handshake_with() {  # NODE PEERKEY: the latest handshake (seconds), 0 for none
  on "$1" $IP netns exec "$NS" wg show "$WG" latest-handshakes | awk -v k="$2" '$1 == k { print $2 }'
}
# -t5: after its own EOF (stdin is empty) socat waits only 0.5 s for the answer by default, less
# than the listener's fork and `echo` can take in an emulated guest on a busy host.
tcp_between() {  # FROM TO-ADDR: the workload at TO-ADDR answers TCP 8080 with its name
  in_wl "$1" "wl-w$1" socat -t5 -T5 - "TCP6:[$2]:8080,connect-timeout=3" </dev/null
}

fetch_internet() { in_wl a wl-wa socat -t5 -T5 - "TCP4:198.51.100.1:8081,connect-timeout=3" </dev/null; }
internet_to_wa() {  # with a route to the network's IPv4 prefix through a
  on i $IP route replace "$PREFIX4" via 198.51.100.2
  on i socat -T2 - "TCP4:$ADDR4_A:8080,connect-timeout=2" </dev/null | grep -q wa
}

is_wireguard() { on "$1" $IP -n "$NS" -d link show "$WG" | grep -qw wireguard; }
has_table() { on "$@" nft list tables | grep -qx 'table inet overlay'; }  # NODE [ip netns exec NS]
device_line() { on "$1" $IP netns exec "$NS" wg show "$WG" dump | head -n 1 | awk '{print $2, $3}'; }
peers_sent() { grep "^action: configure $WG" "$1" | grep -oE '[-+~]peer' | wc -l | tr -d ' '; }
down_ok() { agent "$1" down | grep -qE '^down: [1-9][0-9]* actions$' && echo ok; }
leftovers() { on "$1" $IP netns list; on "$1" $IP -d link show type wireguard; }

bring_up() {  # BACKEND REV
  for n in a b; do
    check "[$1] agent on $n applies plan revision $2" apply $n "$1" "$2"
    sed 's/^/    /' "/tmp/$n-$2-$1.log" | grep -E 'backend|actions' | head -n 3
    check "[$1] $WG on $n is a link of kind wireguard in $NS" is_wireguard $n
  done
}
check_tunnel() {  # BACKEND REV
  for n in a b; do
    on $n $IP netns exec wl-w$n socat TCP6-LISTEN:8080,fork,reuseaddr SYSTEM:"echo w$n" >/dev/null 2>&1 &
  done
  check "[$1] wa pings wb over the tunnel (first handshake)" wait_until 20 in_wl a wl-wa ping6 -c1 -W2 "$ADDR_B"
  check "[$1] wb pings wa over the tunnel" wait_until 10 in_wl b wl-wb ping6 -c1 -W2 "$ADDR_A"
  check_eq "[$1] wa opens TCP to wb:8080" wb wait_until 5 tcp_between a "$ADDR_B"
  check_eq "[$1] wb opens TCP to wa:8080" wa wait_until 5 tcp_between b "$ADDR_A"
  hs=$(handshake_with a "$KEY_B")
  check "[$1] a has a handshake with b (latest ${hs:-none})" test "${hs:-0}" -gt 0
  for n in a b; do
    check "[$1] $n's node table inet overlay is in place" has_table $n
    check "[$1] $n's network table inet overlay is in $NS" has_table $n $IP netns exec "$NS"
    check_eq "[$1] wg show dump on $n matches plan revision $2 (keys, endpoints, AllowedIPs, keepalive)" \
      "$(cat /vm/plans/$n-$2.expect)" dump_peers $n
    eval "port=\$PORT_$(echo $n | tr ab AB) key=\$KEY_$(echo $n | tr ab AB)"
    check_eq "[$1] $n's device listens on port $port with the planned key" "$key $port" \
      device_line $n
    eval "rev=\$REV_${n}_$2"
    check_eq "[$1] a second run --once on $n sends nothing (library read-back equals the plan)" \
      "plan revision $rev: 0 actions" agent $n run --once --wireguard "$1" --plan "/vm/plans/$n-$2.json"
  done
  check_eq "[$1] wa fetches from the internet host over IPv4 egress; it sees a's address" 198.51.100.2 \
    wait_until 5 fetch_internet
  check_fails "[$1] the internet host cannot open wa's TCP 8080 (routed at a)" internet_to_wa
  check_fails "[$1] from outside, b cannot open a's TCP 22 (node table)" tcp22
  check_fails "[$1] from outside, b cannot open a's TCP $PORT_A (the WireGuard port's twin)" tcpwg
  # Listeners die with the workload namespaces (`down`) or the VM.
}

# Round 1: --wireguard kernel, revision 1, then the one-peer change to revision 2.
bring_up kernel 1
check_tunnel kernel 1

before=$(handshake_with a "$KEY_B")
for n in a b; do
  check "[kernel] agent on $n applies plan revision 2" apply $n kernel 2
  grep '^action: configure' "/tmp/$n-2-kernel.log" | sed 's/^/    /'
  check_eq "[kernel] revision 2 sends exactly one peer to $n's device" 1 peers_sent "/tmp/$n-2-kernel.log"
  check_eq "[kernel] $n's device matches plan revision 2 (wg show dump)" "$(cat /vm/plans/$n-2.expect)" dump_peers $n
  eval "rev=\$REV_${n}_2"
  check_eq "[kernel] a second run --once on $n sends nothing at revision 2" \
    "plan revision $rev: 0 actions" agent $n run --once --wireguard kernel --plan "/vm/plans/$n-2.json"
done
check_eq "[kernel] a's session with b survived the change (same handshake)" "$before" handshake_with a "$KEY_B"
check "[kernel] wa still reaches wb" in_wl a wl-wa ping6 -c1 -W2 "$ADDR_B"

# Down: everything goes, the node table last.
for n in a b; do
  check_eq "[kernel] down on $n" "ok" down_ok $n
  check_eq "[kernel] $n has no namespace and no wireguard link left" "" leftovers $n
done

# Round 2: the same with --wireguard auto, at revision 2: it must pick the kernel.
bring_up auto 2
check_tunnel auto 2
# The long-running agent names its backend, keeps the plan (no pass fails) and stops on SIGTERM.
# nsenter and env exec: $! is the agent itself.
nsenter -t "$PID_a" -n -m env PATH=/nonexistent /usr/local/bin/overlay-agent run --wireguard auto \
  --plan /vm/plans/a-2.json --state-dir /vm/state/a >/tmp/a-run.log 2>&1 &
agent_pid=$!
sleep 4
kill -TERM "$agent_pid"
wait "$agent_pid" 2>/dev/null
sed 's/^/    /' /tmp/a-run.log
check "[auto] the running agent on a reports the kernel backend" grep -q 'wireguard backend: kernel$' /tmp/a-run.log
check_fails "[auto] the running agent on a had no failed pass" grep -q 'pass failed' /tmp/a-run.log
check "[auto] the running agent on a stopped cleanly" grep -q 'stopping on signal' /tmp/a-run.log
