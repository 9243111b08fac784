#!/usr/bin/env bash
# Convergence benchmark (root): ten simulated nodes with agents joined to a real `overlayd`.
# Each round adds one workload with `overlayctl --controller ... workload add` and measures the
# time from that command returning until the new workload answers ping from the workload of
# every member node (the first echo reply of each, timestamped by ping -D). Then, in the same
# run on the same nodes, the baseline: the agents apply plan files (`run --plan FILE`, watched)
# and each change is `overlayctl --db ... workload add` followed by rewriting every node's plan
# file, as a file-based deployment would. Prints median and p90 of both and their ratio.
# BENCH_N rounds per path (default 10).
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh
N=${BENCH_N:-10}
[[ $N =~ ^[1-9][0-9]?$ ]] || { echo "BENCH_N: 1 to 99 rounds" >&2; exit 2; }

sim_init bench-conv
NODES=()
for i in $(seq 1 10); do NODES+=("n$i"); done
sim_node ctl
for n in "${NODES[@]}"; do sim_node "$n"; done
controller_start ctl
rctl network create net1 >/dev/null
for n in "${NODES[@]}"; do
  hub=(); case $n in n1 | n2) hub=(--hub) ;; esac
  rctl node add "$n" --public-address "$(sim_public_addr "$n")" "${hub[@]}" >/dev/null
done
for n in "${NODES[@]}"; do agent_start "$n" --controller "$CTL_URL" --join "$(rctl node join-token "$n" | tail -n1)"; done
for n in "${NODES[@]}"; do
  sim_wait_until 30 grep -q "joined $CTL_URL" "$(sim_log_dir "$n")/agent.log" || { echo "bench: $n did not join" >&2; exit 1; }
  rctl workload add "m$n" --network net1 --node "$n" >/dev/null
done

dbctl() { "$BIN/overlayctl" --db "$SIM_DIR/overlay.db" "$@"; }
wl_addr() { dbctl plan "$1" --json | jq -r --arg w "$2" '.networks[].workloads[] | select(.name == $w) | .address'; }
now_ns() { date +%s%N; }

# Everyone reaches everyone before measuring.
for n in "${NODES[@]}"; do
  a=$(wl_addr "$n" "m$n")
  for m in "${NODES[@]}"; do
    sim_wait_until 60 sim_netns_exec "$m" "wl-m$m" ping -6 -c1 -W1 "$a" || { echo "bench: mesh did not come up ($m -> $n)" >&2; exit 1; }
  done
done

# converge T0_NS ADDR: waits until ADDR answers from every member's workload; prints the time
# from T0_NS to the last first-reply in milliseconds.
converge() {
  local t0=$1 addr=$2 m pids=() last=0 t
  for m in "${NODES[@]}"; do
    # One process per member, retrying inside the workload namespace; ping -D stamps the reply.
    sim_netns_exec "$m" "wl-m$m" sh -c "end=\$((\$(date +%s) + 30)); while [ \$(date +%s) -lt \$end ]; do
        ping -6 -n -D -c1 -W0.2 '$addr' 2>/dev/null | grep -m1 'bytes from' && exit 0; sleep 0.01; done; exit 1" \
      >"$SIM_DIR/conv-$m" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { echo "bench: $addr never answered" >&2; return 1; }; done
  for m in "${NODES[@]}"; do
    t=$(sed -n 's/^\[\([0-9]*\)\.\([0-9]*\)\].*/\1\2/p' "$SIM_DIR/conv-$m" | head -n1)   # µs
    [ "$t" -gt "$last" ] && last=$t
  done
  echo $(((last - t0 / 1000) / 1000))
}

stats() {  # stats MS... -> "median p90"
  printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; i=int(0.9*NR+0.999); if(i<1)i=1; printf "%d %d\n", m, v[i]}'
}

echo "# controller path: overlayctl --controller workload add -> long-poll -> agent"
CTL_MS=()
for r in $(seq 1 "$N"); do
  node=${NODES[$(((r - 1) % 10))]}
  rctl workload add "c$r" --network net1 --node "$node" >/dev/null
  t0=$(now_ns)
  ms=$(converge "$t0" "$(wl_addr "$node" "c$r")")
  echo "round $r: c$r on $node answered every member after $ms ms"
  CTL_MS+=("$ms")
done

echo "# baseline: overlayctl --db workload add, plan files rewritten, agents watching them"
for n in "${NODES[@]}"; do agent_stop "$n"; done
controller_stop
for n in "${NODES[@]}"; do
  dbctl plan "$n" --json >"$(sim_state_dir "$n")/plan.json"
  agent_start "$n" --plan "$(sim_state_dir "$n")/plan.json"
done
sleep 2
FILE_MS=()
for r in $(seq 1 "$N"); do
  node=${NODES[$(((r - 1) % 10))]}
  dbctl workload add "f$r" --network net1 --node "$node" >/dev/null
  t0=$(now_ns)
  for n in "${NODES[@]}"; do
    f=$(sim_state_dir "$n")/plan.json
    dbctl plan "$n" --json >"$f.tmp" && mv "$f.tmp" "$f"
  done
  ms=$(converge "$t0" "$(wl_addr "$node" "f$r")")
  echo "round $r: f$r on $node answered every member after $ms ms"
  FILE_MS+=("$ms")
done

read -r cm cp <<<"$(stats "${CTL_MS[@]}")"
read -r fm fp <<<"$(stats "${FILE_MS[@]}")"
echo
echo "convergence, 10 nodes, $N changes each (workload add -> answers ping from every member):"
printf '  %-44s median %5d ms   p90 %5d ms\n' "controller (overlayd long-poll, signed plans)" "$cm" "$cp"
printf '  %-44s median %5d ms   p90 %5d ms\n' "baseline (plan files rewritten, agent watches)" "$fm" "$fp"
awk -v c="$cm" -v f="$fm" 'BEGIN { if (c > 0) printf "  ratio baseline/controller (median): %.2fx\n", f / c }'
echo "  goal: controller median < 1000 ms: $([ "$cm" -lt 1000 ] && echo met || echo NOT met)"
sim_summary >/dev/null 2>&1 || true
