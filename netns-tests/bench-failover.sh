#!/usr/bin/env bash
# Failover benchmark (root): hubs a and b, public node c and hidden node h (behind NAT), agents
# joined to a real `overlayd`; network net1 has a workload on each. P is h's primary relay hub.
# Prints:
# - failover time, BENCH_FAILOVERS runs (default 5): from cutting P off (its only uplink down) to
#   the first echo reply between c's and h's workloads (ping every 50 ms, stamped by ping -D);
# - the return to P after its uplink is back: the time until c routes h through P again, and the
#   pings lost in the 25 s after the uplink came back (one every 100 ms);
# - probe and keepalive traffic per relay hub peer per second on c, idle, and the agents' CPU;
# - join convergence, BENCH_JOINS runs (default 10): a new network with workloads on a and c;
#   b's first workload in it (b joins) is timed from `workload add` returning to its first echo
#   reply from each of a's and c's workloads.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh
FAILOVERS=${BENCH_FAILOVERS:-5}
JOINS=${BENCH_JOINS:-10}
[[ $FAILOVERS =~ ^[1-9][0-9]?$ && $JOINS =~ ^[1-9][0-9]?$ ]] || { echo "BENCH_FAILOVERS, BENCH_JOINS: 1 to 99" >&2; exit 2; }

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
FO_MS=() BACK_MS=() LOST=()
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
  sim_netns_exec c wl-wc ping -6 -n -i 0.1 -w 25 "$WH" >"$SIM_DIR/back" 2>&1 &
  ping_pid=$!
  uplink "$P" up
  t1=$(now_ns)
  sim_wait_until 40 via_p || { echo "bench: never back to $P" >&2; exit 1; }
  back=$((($(now_ns) - t1) / 1000000))
  wait "$ping_pid" 2>/dev/null || true
  lost=$(awk '/packets transmitted/ { print $1 - $4 }' "$SIM_DIR/back")
  BACK_MS+=("$back") LOST+=("$lost")
  echo "run $r: failover $ms ms; back to $P after $back ms with $lost of $(awk '/packets transmitted/ { print $1 }' "$SIM_DIR/back") pings lost"
  # Let h return as well before the next run.
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

read -r fm fx <<<"$(stats "${FO_MS[@]}")"
read -r bm bx <<<"$(stats "${BACK_MS[@]}")"
read -r lm lx <<<"$(stats "${LOST[@]}")"
read -r jm jx <<<"$(stats "${JOIN_MS[@]}")"
echo
echo "relay failover, hidden node h, agents under overlayd:"
printf '  %-52s median %6d ms   max %6d ms\n' "failover (P cut off -> first reply wc->wh), $FAILOVERS runs" "$fm" "$fx"
printf '  %-52s median %6d ms   max %6d ms\n' "back to P after it returns (hold 10 s)" "$bm" "$bx"
printf '  %-52s median %6d      max %6d\n' "pings lost during the return (every 100 ms)" "$lm" "$lx"
printf '  %-52s %s\n' "probe+keepalive traffic per relay hub peer on c" "${PER_PEER[*]}"
printf '  %-52s %s\n' "agent CPU, idle with probes" "$CPU_LINE"
printf '  %-52s median %6d ms   max %6d ms\n' "join (first workload on a member), $JOINS runs" "$jm" "$jx"
echo "  goals: failover max <= 10000 ms: $([ "$fx" -le 10000 ] && echo met || echo NOT met);" \
  "join max < 1000 ms: $([ "$jx" -lt 1000 ] && echo met || echo NOT met);" \
  "no loss on return: $([ "$lx" = 0 ] && echo met || echo NOT met)"
sim_summary >/dev/null 2>&1 || true
