#!/usr/bin/env bash
# Failover benchmark (root): hubs a and b, public node c and hidden node h (behind NAT), agents
# joined to a real `overlayd`; network net1 has a workload on each. P is h's primary relay hub.
# Prints:
# - failover time, BENCH_FAILOVERS runs (default 5): from cutting P off (its only uplink down) to
#   the first echo reply between c's and h's workloads (ping every 50 ms, stamped by ping -D);
# - the return to P after its uplink is back: the time until c routes h through P again, and the
#   pings lost of 250 sent in the 25 s after the uplink came back (one every 100 ms);
# - the return after P restarts, BENCH_RESTARTS runs (default 3): P's agent stopped and its data
#   plane wiped as by a reboot (WireGuard processes, namespaces, host table), then its agent
#   started again: the time from that start until c routes h through P again, and the pings lost
#   meanwhile (300, one every 100 ms, from before the start);
# - probe and keepalive traffic per relay hub peer per second on c, idle, and the agents' CPU;
# - join convergence, BENCH_JOINS runs (default 10): a new network with workloads on a and c;
#   b's first workload in it (b joins) is timed from `workload add` returning to its first echo
#   reply from each of a's and c's workloads;
# - a member with BENCH_PEERS peers (default 100, 0 skips it): network np with workloads on a, b, c
#   and h plus BENCH_PEERS - 2 members that exist only in the store (addresses in 198.18.0.0/15,
#   nothing answers there), so c has BENCH_PEERS peers, two of them relay hubs. c's agent runs from
#   a plan file, with every failover entry removed (probing off) and as planned, alternately in
#   four slots, BENCH_CPU_SECONDS (default 60) in each mode: the agent's CPU from /proc/PID/stat,
#   and the WireGuard datagrams per peer per second counted by nft in c's namespace.
# BENCH_KEEP_LOGS=DIR keeps the agents' logs (each line stamped with the time) and the ping trace
# of every return that lost a ping.
set -euo pipefail
cd "$(dirname "$0")"
if [ -n "${BENCH_KEEP_LOGS:-}" ]; then export OVERLAY_LOG_TIME=1; fi
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh
FAILOVERS=${BENCH_FAILOVERS:-5}
RESTARTS=${BENCH_RESTARTS:-3}
JOINS=${BENCH_JOINS:-10}
PEERS=${BENCH_PEERS:-100}
CPU_SECONDS=${BENCH_CPU_SECONDS:-60}
[[ $FAILOVERS =~ ^[0-9]{1,2}$ && $JOINS =~ ^[0-9]{1,2}$ && $RESTARTS =~ ^[0-9]{1,2}$ ]] ||
  { echo "BENCH_FAILOVERS, BENCH_JOINS, BENCH_RESTARTS: 0 (skip) to 99" >&2; exit 2; }
[[ $PEERS =~ ^(0|[3-9]|[1-9][0-9]{1,2})$ ]] || { echo "BENCH_PEERS: 0 (skip) or 3 to 999" >&2; exit 2; }
[[ $CPU_SECONDS =~ ^[1-9][0-9]{0,2}$ ]] || { echo "BENCH_CPU_SECONDS: 1 to 999" >&2; exit 2; }

sim_init bench-fo
NODES=(a b c h)
sim_node ctl
for n in a b c; do sim_node "$n"; done
sim_node h --hidden
controller_start ctl
rctl network create net1 >/dev/null
for n in a b; do rctl node add "$n" --public-address "$(sim_public_addr "$n")" --hub >/dev/null; done
rctl node add c --public-address "$(sim_public_addr c)" >/dev/null
rctl node add h >/dev/null
for n in "${NODES[@]}"; do agent_start "$n" --controller "$CTL_URL" --join "$(rctl node join-token "$n" | tail -n1)"; done
for n in "${NODES[@]}"; do
  sim_wait_until 30 grep -q "joined $CTL_URL" "$(sim_log_dir "$n")/agent.log" || { echo "bench: $n did not join" >&2; exit 1; }
  rctl workload add "w$n" --network net1 --node "$n" >/dev/null
done
dbctl() { "$BIN/overlayctl" --db "$SIM_DIR/overlay.db" "$@"; }
wl_addr() { dbctl plan "$1" --json | jq -r --arg net "$2" --arg w "$3" '.networks[] | select(.name == $net) | .workloads[] | select(.name == $w) | .address'; }
now_ns() { date +%s%N; }
# longest_gap PINGLOG: the most pings lost in a row (by sequence number, the last ones included).
longest_gap() {
  awk '/icmp_seq=/ { for (i = 1; i <= NF; i++) if ($i ~ /^icmp_seq=/) { split($i, a, "="); s = a[2] }
         if (s - p - 1 > g) g = s - p - 1; p = s }
       /packets transmitted/ { if ($1 - p > g) g = $1 - p }
       END { print g + 0 }' "$1"
}
# keep_logs NAME PINGLOG: with BENCH_KEEP_LOGS, the agents' logs and the ping trace of a lossy
# return, for a look afterwards.
keep_logs() {
  [ -n "${BENCH_KEEP_LOGS:-}" ] || return 0
  mkdir -p "$BENCH_KEEP_LOGS/$1"
  for n in "${NODES[@]}"; do cp "$(sim_log_dir "$n")/agent.log" "$BENCH_KEEP_LOGS/$1/$n.log"; done
  cp "$2" "$BENCH_KEEP_LOGS/$1/ping"
  echo "  logs kept in $BENCH_KEEP_LOGS/$1"
}
stats() {  # stats MS... -> "median max"
  printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%d %d\n", m, v[NR]}'
}

WH=$(wl_addr h net1 wh)
P=$(dbctl plan h --json | jq -r '.networks[0].failover.hubs[] | select(.isPrimary) | .name')
WG=$(dbctl plan c --json | jq -r '.networks[0].interface')
H_SUBNET=$(dbctl plan h --json | jq -r '.networks[0].subnet')
P_KEY=$(dbctl plan "$P" --json | jq -r '.networks[0].publicKey')
c_to_h() { sim_netns_exec c wl-wc ping -6 -c1 -W1 "$WH"; }
sim_wait_until 60 c_to_h || { echo "bench: wc never reached wh" >&2; exit 1; }
# Whether c routes h's /64 through P.
via_p() { sim_exec c wg show "$WG" allowed-ips | awk -v k="$P_KEY" -v s="$H_SUBNET" '$1 == k { for (i = 2; i <= NF; i++) if ($i == s) f = 1 } END { exit !f }'; }
uplink() { sim_internet_exec ip link set "${SIM_PREFIX}-$1" "$2"; }

echo "# failover: P ($P) cut off, first echo reply wc -> wh through the standby"
FO_MS=() BACK_MS=() LOST=() GAP=()
for r in $(seq 1 "$FAILOVERS"); do
  # Start each run in a random phase of the probe grid.
  sleep "0.$((RANDOM % 10))"
  uplink "$P" down
  t0=$(now_ns)
  sim_netns_exec c wl-wc sh -c "end=\$((\$(date +%s) + 30)); while [ \$(date +%s) -lt \$end ]; do
      ping -6 -n -D -c1 -W0.05 '$WH' 2>/dev/null | grep -m1 'bytes from' && exit 0; done; exit 1" >"$SIM_DIR/fo" 2>&1 ||
    { echo "bench: no failover within 30 s" >&2; exit 1; }
  t=$(sed -n 's/^\[\([0-9]*\)\.\([0-9]*\)\].*/\1\2/p' "$SIM_DIR/fo" | head -n1)   # µs
  ms=$(((t - t0 / 1000) / 1000))
  FO_MS+=("$ms")
  # Back: P's uplink up, pings every 100 ms for 25 s (the hold, the return and after).
  # A count, not a deadline: ping -w stops at the deadline, and the reply to the probe it sent
  # just before would count as lost.
  sim_netns_exec c wl-wc ping -6 -n -i 0.1 -c 250 -W 1 "$WH" >"$SIM_DIR/back" 2>&1 &
  ping_pid=$!
  uplink "$P" up
  t1=$(now_ns)
  sim_wait_until 40 via_p || { echo "bench: never back to $P" >&2; exit 1; }
  back=$((($(now_ns) - t1) / 1000000))
  wait "$ping_pid" 2>/dev/null || true
  lost=$(awk '/packets transmitted/ { print $1 - $4 }' "$SIM_DIR/back")
  gap=$(longest_gap "$SIM_DIR/back")
  BACK_MS+=("$back") LOST+=("$lost") GAP+=("$gap")
  echo "run $r: failover $ms ms; back to $P after $back ms with $lost of $(awk '/packets transmitted/ { print $1 }' "$SIM_DIR/back") pings lost ($gap in a row at most)"
  [ "$lost" = 0 ] || keep_logs "run$r" "$SIM_DIR/back"
  # Let h return as well before the next run.
  sleep 2
done

echo "# restart: P's data plane gone as after a reboot (agent stopped, WireGuard and namespaces gone), then P's agent started again"
RS_BACK_MS=() RS_LOST=() RS_GAP=()
for r in $(seq 1 "$RESTARTS"); do
  sleep "0.$((RANDOM % 10))"
  node_reboot "$P"
  sim_wait_until 30 c_to_h || { echo "bench: no failover after $P's restart began" >&2; exit 1; }
  sleep 2
  sim_netns_exec c wl-wc ping -6 -n -i 0.1 -c 300 -W 1 "$WH" >"$SIM_DIR/restart" 2>&1 &
  ping_pid=$!
  agent_start "$P" --controller "$CTL_URL" --join "$(rctl node join-token "$P" | tail -n1)"
  t1=$(now_ns)
  sim_wait_until 40 via_p || { echo "bench: never back to $P after its restart" >&2; exit 1; }
  back=$((($(now_ns) - t1) / 1000000))
  wait "$ping_pid" 2>/dev/null || true
  lost=$(awk '/packets transmitted/ { print $1 - $4 }' "$SIM_DIR/restart")
  gap=$(longest_gap "$SIM_DIR/restart")
  RS_BACK_MS+=("$back") RS_LOST+=("$lost") RS_GAP+=("$gap")
  echo "restart $r: back to $P $back ms after its agent started, with $lost of 300 pings lost ($gap in a row at most)"
  [ "$lost" = 0 ] || keep_logs "restart$r" "$SIM_DIR/restart"
  sleep 2
done

echo "# probes: traffic per relay hub peer on c and agent CPU over 20 s, idle"
declare -A RX0 TX0
while read -r k rx tx; do RX0[$k]=$rx TX0[$k]=$tx; done < <(sim_exec c wg show "$WG" transfer)
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
agent_pid() { local p; for p in $(sim_pids "$1"); do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = overlay-agent ] && echo "$p"; done; }
declare -A CPU0
for n in c h; do CPU0[$n]=$(cpu "$(agent_pid "$n")"); done
sleep 20
PER_PEER=()
while read -r k rx tx; do
  for hub in a b; do
    [ "$(dbctl plan "$hub" --json | jq -r '.networks[0].publicKey')" = "$k" ] || continue
    PER_PEER+=("$hub: $(((rx - RX0[$k] + tx - TX0[$k]) / 20)) bytes/s")
  done
done < <(sim_exec c wg show "$WG" transfer)
TICKS=$(getconf CLK_TCK)
CPU_LINE=""
for n in c h; do
  CPU_LINE+="$n $(awk -v d=$(($(cpu "$(agent_pid "$n")") - CPU0[$n])) -v t="$TICKS" 'BEGIN { printf "%.2f%%", 100 * d / t / 20 }') "
done

echo "# join: b's first workload in a new network (a and c already in it)"
JOIN_MS=()
for r in $(seq 1 "$JOINS"); do
  rctl network create "j$r" >/dev/null
  rctl workload add "ja$r" --network "j$r" --node a >/dev/null
  rctl workload add "jc$r" --network "j$r" --node c >/dev/null
  JC=$(wl_addr c "j$r" "jc$r")
  sim_wait_until 30 sim_netns_exec a "wl-ja$r" ping -6 -c1 -W1 "$JC" || { echo "bench: j$r did not come up" >&2; exit 1; }
  rctl workload add "jb$r" --network "j$r" --node b >/dev/null
  t0=$(now_ns)
  JB=$(wl_addr b "j$r" "jb$r")
  pids=()
  for m in a c; do
    sim_netns_exec "$m" "wl-j$m$r" sh -c "end=\$((\$(date +%s) + 30)); while [ \$(date +%s) -lt \$end ]; do
        ping -6 -n -D -c1 -W0.2 '$JB' 2>/dev/null | grep -m1 'bytes from' && exit 0; sleep 0.01; done; exit 1" \
      >"$SIM_DIR/join-$m" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { echo "bench: jb$r never answered" >&2; exit 1; }; done
  last=0
  for m in a c; do
    t=$(sed -n 's/^\[\([0-9]*\)\.\([0-9]*\)\].*/\1\2/p' "$SIM_DIR/join-$m" | head -n1)
    [ "$t" -gt "$last" ] && last=$t
  done
  ms=$(((last - t0 / 1000) / 1000))
  echo "run $r: b joined j$r, answered a and c after $ms ms"
  JOIN_MS+=("$ms")
done

MANY_LINES=()
if [ "$PEERS" -gt 0 ]; then
  echo "# a member with $PEERS peers: c from a plan file, probing off and on alternately, $CPU_SECONDS s each"
  SLOT=$((CPU_SECONDS > 1 ? CPU_SECONDS / 2 : 1))
  topo=$SIM_DIR/many.yaml
  mkdir -p "$SIM_DIR/paper"
  {
    echo "networks: [{name: np}]"
    echo "nodes:"
    for i in $(seq 1 $((PEERS - 2))); do
      id=$("$BIN/overlay-agent" init --state-dir "$SIM_DIR/paper/p$i")
      echo "  - {name: p$i, identity: \"$id\", publicAddresses: [198.18.$((i / 256)).$((i % 256))]}"
    done
    echo "workloads:"
    for n in a b c h; do echo "  - {name: np$n, network: np, node: $n}"; done
    for i in $(seq 1 $((PEERS - 2))); do echo "  - {name: npp$i, network: np, node: p$i}"; done
  } >"$topo"
  rctl apply -f "$topo" >/dev/null
  np_peers() { dbctl plan c --json | jq '.networks[] | select(.name == "np") | .peers | length'; }
  [ "$(np_peers)" = "$PEERS" ] || { echo "bench: c has $(np_peers) peers in np, not $PEERS" >&2; exit 1; }
  # c's agent as it was, but from plan files: one as planned, one without failover entries.
  agent_stop c
  dbctl plan c --json >"$SIM_DIR/c-plan.json"
  agent_start c --plan "$SIM_DIR/c-plan.json"
  # A plan file only moves forward: each switch gets the next revision.
  REV=$(jq .revision "$SIM_DIR/c-plan.json")
  switch_plan() {  # switch_plan on|off
    REV=$((REV + 1))
    if [ "$1" = on ]; then jq --argjson r "$REV" '.revision = $r' "$SIM_DIR/c-on.json"; else
      jq --argjson r "$REV" '.revision = $r | del(.networks[].failover)' "$SIM_DIR/c-on.json"; fi >"$SIM_DIR/c-next.json"
    mv "$SIM_DIR/c-next.json" "$SIM_DIR/c-plan.json"
  }
  cp "$SIM_DIR/c-plan.json" "$SIM_DIR/c-on.json"
  np_dev_peers() { sim_exec c wg show "$(jq -r '.networks[] | select(.name == "np") | .interface' "$SIM_DIR/c-on.json")" peers | wc -l; }
  have_np() { [ "$(np_dev_peers 2>/dev/null)" = "$PEERS" ]; }
  sim_wait_until 60 have_np || { echo "bench: c's np device never had $PEERS peers" >&2; exit 1; }
  # Counters in c's namespace: datagrams to and from each relay hub's endpoint in np, and all of np's.
  NP_PORT=$(jq -r '.networks[] | select(.name == "np") | .listenPort' "$SIM_DIR/c-on.json")
  hub_ep() { jq -r --arg h "$1" '.networks[] | select(.name == "np") | .peers[] | select(.name == $h) | .endpoint' "$SIM_DIR/c-on.json"; }
  ep_addr() { local e; e=$(hub_ep "$1"); echo "${e%:*}"; }
  ep_port() { local e; e=$(hub_ep "$1"); echo "${e##*:}"; }
  sim_exec c nft -f - <<NFT
table inet bench_count {
  chain out { type filter hook output priority 0; policy accept;
    ip daddr $(ep_addr a) udp dport $(ep_port a) counter
    ip daddr $(ep_addr b) udp dport $(ep_port b) counter
    udp sport $NP_PORT counter
  }
  chain in { type filter hook input priority 0; policy accept;
    ip saddr $(ep_addr a) udp sport $(ep_port a) counter
    ip saddr $(ep_addr b) udp sport $(ep_port b) counter
    udp dport $NP_PORT counter
  }
}
NFT
  counts() { sim_exec c nft list table inet bench_count | awk '/counter packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") printf "%s ", $(i + 1) } END { print "" }'; }
  # Off and on alternate in four slots, so the machine's other load drifts into both alike.
  declare -A TICKS_IN=([off]=0 [on]=0) PKTS=()
  for mode in off on off on; do
    switch_plan "$mode"
    sleep 5   # the agent picks the file up and settles
    pid=$(agent_pid c)
    read -r -a k0 <<<"$(counts)"
    c0=$(cpu "$pid")
    sleep "$SLOT"
    c1=$(cpu "$pid")
    read -r -a k1 <<<"$(counts)"
    TICKS_IN[$mode]=$((TICKS_IN[$mode] + c1 - c0))
    for i in 0 1 2 3 4 5; do PKTS[$mode.$i]=$((${PKTS[$mode.$i]:-0} + k1[i] - k0[i])); done
  done
  declare -A MANY_CPU
  for mode in off on; do
    MANY_CPU[$mode]=$(awk -v d="${TICKS_IN[$mode]}" -v t="$TICKS" -v s=$((SLOT * 2)) 'BEGIN { printf "%.2f", 100 * d / t / s }')
    # out a, out b, out all, in a, in b, in all -> per relay hub peer, per other peer (datagrams/s)
    d=()
    for i in 0 1 2 3 4 5; do d[i]=${PKTS[$mode.$i]}; done
    span=$((SLOT * 2))
    per_hub=$(awk -v s="$span" -v x=$((d[0] + d[1] + d[3] + d[4])) 'BEGIN { printf "%.2f", x / 2 / s }')
    per_other=$(awk -v s="$span" -v n=$((PEERS - 2)) -v x=$((d[2] + d[5] - d[0] - d[1] - d[3] - d[4])) 'BEGIN { printf "%.3f", x / n / s }')
    echo "probing $mode: agent CPU ${MANY_CPU[$mode]}% of a core; datagrams/s per relay hub peer $per_hub, per other peer $per_other"
    MANY_LINES+=("$(printf '%-52s %s' "probing $mode, c with $PEERS peers ($span s)" "agent CPU ${MANY_CPU[$mode]}%; datagrams/s per relay hub peer $per_hub, per other peer $per_other")")
  done
  MANY_LINES+=("$(printf '%-52s %s' "agent CPU for probing with $PEERS peers" "$(awk -v a="${MANY_CPU[on]}" -v b="${MANY_CPU[off]}" 'BEGIN { printf "%+.2f points of a core (on/off %.2f)", a - b, (b > 0 ? a / b : 0) }')")")
fi

echo
echo "relay failover, hidden node h, agents under overlayd:"
GOALS=()
if [ "$FAILOVERS" -gt 0 ]; then
  read -r fm fx <<<"$(stats "${FO_MS[@]}")"
  read -r bm bx <<<"$(stats "${BACK_MS[@]}")"
  read -r lm lx <<<"$(stats "${LOST[@]}")"
  printf '  %-52s median %6d ms   max %6d ms\n' "failover (P cut off -> first reply wc->wh), $FAILOVERS runs" "$fm" "$fx"
  printf '  %-52s median %6d ms   max %6d ms\n' "back to P after it returns (hold 10 s, 5 s grid)" "$bm" "$bx"
  printf '  %-52s median %6d      max %6d\n' "pings lost during the return (every 100 ms)" "$lm" "$lx"
  GOALS+=("failover max <= 10000 ms: $([ "$fx" -le 10000 ] && echo met || echo NOT met);")
  read -r _ gx <<<"$(stats "${GAP[@]}")"
  # No outage: never two pings (200 ms) in a row lost; no loss: not a single ping.
  GOALS+=("no outage on return: $([ "$gx" -le 1 ] && echo met || echo NOT met);")
  GOALS+=("no ping lost on return: $([ "$lx" = 0 ] && echo met || echo NOT met);")
fi
if [ "$RESTARTS" -gt 0 ]; then
  read -r bm bx <<<"$(stats "${RS_BACK_MS[@]}")"
  read -r lm lx <<<"$(stats "${RS_LOST[@]}")"
  printf '  %-52s median %6d ms   max %6d ms\n' "back to P after its restart (agent start), $RESTARTS runs" "$bm" "$bx"
  printf '  %-52s median %6d      max %6d\n' "pings lost during that return (every 100 ms)" "$lm" "$lx"
  read -r _ gx <<<"$(stats "${RS_GAP[@]}")"
  GOALS+=("no outage on return after a restart: $([ "$gx" -le 1 ] && echo met || echo NOT met);")
  GOALS+=("no ping lost on return after a restart: $([ "$lx" = 0 ] && echo met || echo NOT met);")
fi
printf '  %-52s %s\n' "probe+keepalive traffic per relay hub peer on c" "${PER_PEER[*]}"
printf '  %-52s %s\n' "agent CPU, idle with probes" "$CPU_LINE"
if [ "$JOINS" -gt 0 ]; then
  read -r jm jx <<<"$(stats "${JOIN_MS[@]}")"
  printf '  %-52s median %6d ms   max %6d ms\n' "join (first workload on a member), $JOINS runs" "$jm" "$jx"
  GOALS+=("join max < 1000 ms: $([ "$jx" -lt 1000 ] && echo met || echo NOT met)")
fi
for l in "${MANY_LINES[@]}"; do echo "  $l"; done
echo "  goals: ${GOALS[*]}"
sim_summary >/dev/null 2>&1 || true
