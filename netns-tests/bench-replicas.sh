#!/usr/bin/env bash
# Replicas benchmark (root): one controller on SQLite against two replicas on PostgreSQL, on the
# same simulated hosts and agents, in one run. PostgreSQL runs on host db (password auth);
# `overlayd serve` on a SQLite file runs on host r1; hubs a and b join it naming both r1 and r2.
# Prints side by side:
# - convergence, BENCH_N rounds on each (default 5): from just before `overlayctl workload add`
#   (so the write itself counts) to the first echo reply (stamped by ping -D) from the workload on
#   the other node. First on SQLite; then the controller is stopped, `overlayd migrate` copies it
#   into PostgreSQL and two replicas serve it, the changes going alternately through r1 and r2;
# - replica failover, BENCH_KILLS runs (default 5): BENCH_KILLS more replicas are started on the
#   same database (the agents joined naming all of them); each run SIGKILLs the replica holding a's
#   long-poll and times, from the kill, a's log line "moving to controller replica" naming a live
#   one, and that replica holding a connection from a (its long-poll). Killed replicas stay down
#   (the agent meets them again as refused connections only after the last run);
# - admin writes per second, sequential and 8 concurrent clients, SQLite and PostgreSQL
#   (`overlay-bench writes`, run on r1 against the same server; OVERLAY_BENCH_WRITES each, 200).
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh
# shellcheck source=lib/postgres.sh
. lib/postgres.sh
unset PGPASSWORD
N=${BENCH_N:-5}
KILLS=${BENCH_KILLS:-5}
[[ $N =~ ^[1-9][0-9]?$ && $KILLS =~ ^[0-9]{1,2}$ ]] || { echo "BENCH_N: 1 to 99; BENCH_KILLS: 0 (skip) to 99" >&2; exit 2; }
[ -x "$BIN/overlay-bench" ] || { echo "bench: no $BIN/overlay-bench (swift build)" >&2; exit 1; }

sim_init bench-repl
REPLICAS=()
for i in $(seq 1 $((KILLS < 1 ? 2 : KILLS + 1))); do REPLICAS+=("r$i"); done
[ ${#REPLICAS[@]} -ge 2 ] || REPLICAS=(r1 r2)
for n in db "${REPLICAS[@]}" a b; do sim_node "$n"; done
PW=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
PWFILE=$SIM_DIR/pg-password
(umask 077 && echo "$PW" >"$PWFILE")
pg_start --exec "sim_exec db" --listen "$(sim_public_addr db)" --port 5432 --password "$PW" >/dev/null
PGURL=$OVERLAY_TEST_POSTGRES

DB=$SIM_DIR/overlay.db
PORT=7800
declare -A URL PID
ALL=""
for r in "${REPLICAS[@]}"; do
  URL[$r]="https://$(sim_public_addr "$r"):$PORT"
  ALL+="${ALL:+,}${URL[$r]}"
done
TLS_NAMES=()
for r in "${REPLICAS[@]}"; do TLS_NAMES+=(--tls-name "$(sim_public_addr "$r")"); done
TOKEN=$("$BIN/overlayd" token create --db "$DB" | tail -n1)
sim_exec_bg r1 overlayd-sqlite.log "$BIN/overlayd" serve --db "$DB" --listen "$(sim_public_addr r1):$PORT" "${TLS_NAMES[@]}"
SQLITE_PID=$SIM_LAST_BG
sim_wait_until 30 sim_tcp r1 "$(sim_public_addr r1)" "$PORT" || { echo "bench: overlayd did not start" >&2; exit 1; }
FP=$("$BIN/overlayd" tls fingerprint --db "$DB")
cli() { sim_exec b "$BIN/overlayctl" --token "$TOKEN" --fingerprint "$FP" "$@"; }
rctl() { cli --controller "${URL[r1]},${URL[r2]}" "$@"; }

rctl network create net1 >/dev/null
for n in a b; do rctl node add "$n" --public-address "$(sim_public_addr "$n")" --hub >/dev/null; done
for n in a b; do
  agent_start "$n" --controller "$ALL" --join "$(rctl node join-token "$n" | tail -n1)"
done
for n in a b; do
  sim_wait_until 30 grep -q "joined ${URL[r1]}" "$(sim_log_dir "$n")/agent.log" || { echo "bench: $n did not join" >&2; exit 1; }
  rctl workload add "w$n" --network net1 --node "$n" >/dev/null
done
wl_addr() { rctl workload show "$1" --json | jq -r .address; }
now_ns() { date +%s%N; }
stats() {  # stats MS... -> "median max"
  printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%d %d\n", m, v[NR]}'
}
sim_wait_until 60 sim_netns_exec a wl-wa ping -6 -c1 -W1 "$(wl_addr wb)" || { echo "bench: wa never reached wb" >&2; exit 1; }

# round CLI NAME NODE FROM: adds workload NAME on NODE through CLI; prints the ms from just before
# the command, and from its return, to the first echo reply from FROM's workload to it.
round() {
  local c=$1 name=$2 node=$3 from=$4 t0 t1 addr t
  t0=$(now_ns)
  $c workload add "$name" --network net1 --node "$node" >/dev/null
  t1=$(now_ns)
  addr=$(wl_addr "$name")
  sim_netns_exec "$from" "wl-w$from" sh -c "end=\$((\$(date +%s) + 30)); while [ \$(date +%s) -lt \$end ]; do
      ping -6 -n -D -c1 -W0.2 '$addr' 2>/dev/null | grep -m1 'bytes from' && exit 0; sleep 0.01; done; exit 1" \
    >"$SIM_DIR/conv" 2>&1 || { echo "bench: $name never answered" >&2; return 1; }
  t=$(sed -n 's/^\[\([0-9]*\)\.\([0-9]*\)\].*/\1\2/p' "$SIM_DIR/conv" | head -n1)   # µs
  echo $(((t - t0 / 1000) / 1000)) $(((t - t1 / 1000) / 1000))
}
other() { [ "$1" = a ] && echo b || echo a; }

echo "# convergence on SQLite (one overlayd)"
SQ_MS=() SQ_AFTER=()
for r in $(seq 1 "$N"); do
  node=$([ $((r % 2)) = 1 ] && echo a || echo b)
  read -r ms after <<<"$(round rctl "s$r" "$node" "$(other "$node")")"
  echo "round $r: s$r on $node answered after $ms ms ($after ms after the command returned)"
  SQ_MS+=("$ms")
  SQ_AFTER+=("$after")
done

echo "# migrating to PostgreSQL, two replicas"
sim_bg_stop "$SQLITE_PID"
sim_exec r1 "$BIN/overlayd" migrate --from "$DB" --to "$PGURL" --db-password-file "$PWFILE"
serve_replica() {
  sim_exec_bg "$1" overlayd.log "$BIN/overlayd" serve --db "$PGURL" --db-password-file "$PWFILE" \
    --key "$DB.controller-key" --tls-cert "$DB.tls-cert" --tls-key "$DB.tls-key" --listen "$(sim_public_addr "$1"):$PORT"
  PID[$1]=$SIM_LAST_BG
  sim_wait_until 30 sim_tcp "$1" "$(sim_public_addr "$1")" "$PORT" || { echo "bench: replica $1 did not start" >&2; exit 1; }
}
serve_replica r1
serve_replica r2
# holds REPLICA NODE: REPLICA has an established connection from NODE (its long-poll).
holds() {
  sim_exec "$1" ss -Htn state established "( sport = :$PORT )" | awk '{print $4}' | grep -q "^$(sim_public_addr "$2"):"
}
held() { (holds r1 a || holds r2 a) && (holds r1 b || holds r2 b); }
sim_wait_until 30 held || { echo "bench: the agents did not come back to the replicas" >&2; exit 1; }
sleep 1

echo "# convergence on PostgreSQL (two replicas, changes through r1 and r2 in turn)"
for n in a b; do
  for r in r1 r2; do if holds "$r" "$n"; then echo "# $n polls $r"; fi; done
done
r1ctl() { cli --controller "${URL[r1]}" "$@"; }
r2ctl() { cli --controller "${URL[r2]}" "$@"; }
PG_MS=() PG_AFTER=()
for r in $(seq 1 "$N"); do
  node=$([ $((r % 2)) = 1 ] && echo a || echo b)
  via=$([ $((r % 2)) = 1 ] && echo r1 || echo r2)
  read -r ms after <<<"$(round "${via}ctl" "p$r" "$node" "$(other "$node")")"
  echo "round $r: p$r on $node through $via answered after $ms ms ($after ms after the command returned)"
  PG_MS+=("$ms")
  PG_AFTER+=("$after")
done

# on_replica: the replica a's agent polls now, from the last line of its log that names one.
on_replica() {
  local url r
  url=$(grep -oE "(joined|moving to controller replica|moved to controller replica|trying|controller) https://[0-9.]+:$PORT( as node| in| reachable again| \(from|;|$)" \
    "$(sim_log_dir a)/agent.log" | grep -v "^controller .*;$" | tail -n1 | grep -oE "https://[0-9.]+:$PORT")
  for r in "${REPLICAS[@]}"; do if [ "${URL[$r]}" = "$url" ]; then echo "$r"; fi; done
}
MOVE_MS=() POLL_MS=()
declare -A ALIVE=([r1]=1 [r2]=1)
if [ "$KILLS" -gt 0 ]; then
  echo "# failover: ${#REPLICAS[@]} replicas; SIGKILL the one holding a's long-poll, $KILLS times"
  for r in "${REPLICAS[@]:2}"; do serve_replica "$r"; ALIVE[$r]=1; done
fi
for k in $(seq 1 "$KILLS"); do
  dead=$(on_replica)
  [ -n "$dead" ] && sim_wait_until 10 holds "$dead" a || { echo "bench: a's long-poll not found (log names '$dead')" >&2; exit 1; }
  lines=$(wc -l <"$(sim_log_dir a)/agent.log")
  sleep "0.$((RANDOM % 10))"
  # The signal straight to overlayd (sim_bg_stop would first wait for it to go).
  _sim_bg_signal "${PID[$dead]}" KILL
  t0=$(now_ns)
  unset "ALIVE[$dead]"
  moved="" polled="" live=""
  while [ -z "$moved" ] || [ -z "$polled" ]; do
    now=$(now_ns)
    [ $(((now - t0) / 1000000)) -lt 30000 ] || { echo "bench: a did not move within 30 s" >&2; exit 1; }
    if [ -z "$moved" ]; then
      for url in $(tail -n +$((lines + 1)) "$(sim_log_dir a)/agent.log" | grep -oE "moving to controller replica https://[0-9.:]+" | awk '{print $NF}'); do
        for r in "${!ALIVE[@]}"; do if [ "${URL[$r]}" = "$url" ]; then live=$r; fi; done
        [ -z "$live" ] || { moved=$(((now - t0) / 1000000)); break; }
      done
    fi
    if [ -n "$live" ] && [ -z "$polled" ] && holds "$live" a; then polled=$(((now - t0) / 1000000)); fi
    sleep 0.02
  done
  echo "run $k: killed $dead; a logged its move to $live after $moved ms, $live held its long-poll after $polled ms"
  MOVE_MS+=("$moved")
  POLL_MS+=("$polled")
  sim_bg_stop "${PID[$dead]}" KILL
  sleep 1
done

echo "# admin writes (overlay-bench writes, on r1)"
OVERLAY_BENCH_POSTGRES=$PGURL PGPASSWORD=$PW sim_exec r1 "$BIN/overlay-bench" writes >"$SIM_DIR/writes"

read -r sm sx <<<"$(stats "${SQ_MS[@]}")"
read -r pm px <<<"$(stats "${PG_MS[@]}")"
read -r sam sax <<<"$(stats "${SQ_AFTER[@]}")"
read -r pam pax <<<"$(stats "${PG_AFTER[@]}")"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "replicas, side by side (one run, same hosts and agents):"
echo "  convergence, $N changes each (workload add -> first reply from the other node):"
printf '    %-32s %-34s %s\n' "" "from before the command" "from the command's return"
printf '    %-32s median %5d ms  max %5d ms   median %5d ms  max %5d ms\n' "SQLite, one overlayd" "$sm" "$sx" "$sam" "$sax"
printf '    %-32s median %5d ms  max %5d ms   median %5d ms  max %5d ms\n' "PostgreSQL, two replicas" "$pm" "$px" "$pam" "$pax"
echo "    ratio PostgreSQL/SQLite: median $(ratio "$pm" "$sm"), max $(ratio "$px" "$sx"); after the return: median $(ratio "$pam" "$sam"), max $(ratio "$pax" "$sax")"
echo "    goal: both medians < 1000 ms after the return: $([ "$sam" -lt 1000 ] && [ "$pam" -lt 1000 ] && echo met || echo NOT met)"
if [ "$KILLS" -gt 0 ]; then
  read -r mm mx <<<"$(stats "${MOVE_MS[@]}")"
  read -r qm qx <<<"$(stats "${POLL_MS[@]}")"
  echo "  replica failover, $KILLS SIGKILLs of the replica holding a's long-poll:"
  printf '    %-32s median %5d ms   max %5d ms\n' "kill -> agent logs the move" "$mm" "$mx"
  printf '    %-32s median %5d ms   max %5d ms\n' "kill -> survivor holds its poll" "$qm" "$qx"
  echo "    goal: within 5000 ms: $([ "$qx" -le 5000 ] && echo met || echo NOT met)"
fi
sed 's/^/  /' "$SIM_DIR/writes"
sim_summary >/dev/null 2>&1 || true
