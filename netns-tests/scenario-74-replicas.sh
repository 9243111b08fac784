#!/usr/bin/env bash
# scenario-74: a controller running as two replicas. Two `overlayd serve` processes on simulated
# hosts r1 and r2 share one SQLite database (WAL) and one signing key; three nodes (hubs a and b,
# h hidden behind NAT) join with both URLs; the CLI names both. r1 gets SIGKILL while every
# agent long-polls it.
# Proves: each agent moves to r2 within 5 s of the kill (its log names r2, and r2 holds its
# long-poll), without joining again or changing its join record and without a single action on
# the data plane; pings between workloads run through the move with no loss; the CLI given both
# URLs (as flags, and as OVERLAY_CONTROLLER) carries on through r2 and names each replica's
# failure when none answers; a workload added after the kill becomes traffic.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh

sim_init replicas
NODES=(a b h)
sim_node r1
sim_node r2
sim_node a
sim_node b
sim_node h --hidden

DB=$SIM_DIR/overlay.db
KEY=$SIM_DIR/controller-key
PORT=7800
declare -A URL PID
TOKEN=$("$BIN/overlayd" token create --db "$DB" | tail -n1)
for r in r1 r2; do
  URL[$r]="https://$(sim_public_addr "$r"):$PORT"
  # One after the other: the first creates the key and the certificate (covering both replicas'
  # addresses), the second reads the same ones: replicas present one certificate.
  sim_exec_bg "$r" overlayd.log "$BIN/overlayd" serve --db "$DB" --key "$KEY" --listen "$(sim_public_addr "$r"):$PORT" \
    --tls-name "$(sim_public_addr r1)" --tls-name "$(sim_public_addr r2)"
  PID[$r]=$SIM_LAST_BG
  expect_ok "replica $r serves on ${URL[$r]}" sim_wait_until 30 sim_tcp "$r" "$(sim_public_addr "$r")" "$PORT"
done
expect_eq "both replicas sign with the one controller key" 1 \
  sh -c "grep -ho 'controllerKey=[^ ]*' '$(sim_log_dir r1)/overlayd.log' '$(sim_log_dir r2)/overlayd.log' | sort -u | wc -l"

# The CLI from node b with both replicas named, r1 first, pinning their one certificate.
FP=$("$BIN/overlayd" tls fingerprint --db "$DB")
rctl() {
  sim_exec b "$BIN/overlayctl" --controller "${URL[r1]}" --controller "${URL[r2]}" --token "$TOKEN" \
    --fingerprint "$FP" "$@"
}
rctl network create net1 >/dev/null
rctl node add a --public-address "$(sim_public_addr a)" --hub >/dev/null
rctl node add b --public-address "$(sim_public_addr b)" --hub >/dev/null
rctl node add h >/dev/null
for n in "${NODES[@]}"; do
  agent_start "$n" --controller "${URL[r1]},${URL[r2]}" --join "$(rctl node join-token "$n" --expires 10m | tail -n1)"
done
for n in "${NODES[@]}"; do
  expect_ok "agent on $n joined through r1" \
    sim_wait_until 20 grep -q "joined ${URL[r1]} as node $n" "$(sim_log_dir "$n")/agent.log"
done
expect_eq "the join record keeps both replicas, r1 first" "${URL[r1]} ${URL[r2]}" \
  sh -c "jq -r '.urls | join(\" \")' '$(sim_state_dir a)/controller.json'"

for n in "${NODES[@]}"; do rctl workload add "w$n" --network net1 --node "$n" >/dev/null; done
wl_addr() { ctl plan "$1" --json | jq -r --arg w "$2" '.networks[].workloads[] | select(.name == $w) | .address'; }
pings() { sim_netns_exec "$1" "wl-$2" ping -6 -n -c1 -W1 "$3"; }
declare -A ADDR
for n in "${NODES[@]}"; do ADDR[w$n]=$(wl_addr "$n" "w$n"); done
expect_ok "wa reaches wh (plans through r1)" sim_wait_until 40 pings a wa "${ADDR[wh]}"
expect_ok "wh reaches wb" sim_wait_until 20 pings h wh "${ADDR[wb]}"

# Every agent long-polls r1 now (r2 holds no poll of a node).
# polls_at REPLICA N: at least N connections to REPLICA's port (each agent's long-poll holds one).
polls_at() { [ "$(sim_exec "$1" ss -Htn state established "( sport = :$PORT )" | wc -l)" -ge "$2" ]; }
expect_ok "every agent's long-poll is on r1" sim_wait_until 10 polls_at r1 3
before=$(sha256sum "$(sim_state_dir a)/controller.json" | cut -d' ' -f1)
declare -A LINES
for n in "${NODES[@]}"; do LINES[$n]=$(wc -l <"$(sim_log_dir "$n")/agent.log"); done

# Traffic across the move: a ping every 0.2 s from wa to wh (through the relay hub) and wh to wb.
sim_exec_bg a ping-move.log ip netns exec wl-wa ping -6 -n -i 0.2 -c 50 "${ADDR[wh]}"
PING_A=$SIM_LAST_BG
sim_exec_bg h ping-move.log ip netns exec wl-wh ping -6 -n -i 0.2 -c 50 "${ADDR[wb]}"
PING_H=$SIM_LAST_BG
sleep 2

# logged_since NODE REGEX: what NODE's agent logged since the kill, matching REGEX.
logged_since() { tail -n +$((LINES[$1] + 1)) "$(sim_log_dir "$1")/agent.log" | grep -E "$2" || true; }
sim_bg_stop "${PID[r1]}" KILL
killed=$(date +%s%N)
moved_in() { grep -q "moving to controller replica ${URL[r2]}" <(tail -n +$((LINES[$1] + 1)) "$(sim_log_dir "$1")/agent.log"); }
for n in "${NODES[@]}"; do
  if sim_wait_until 10 moved_in "$n"; then
    ms=$((($(date +%s%N) - killed) / 1000000))
    echo "# agent on $n: moving to r2 logged ${ms} ms after the kill"
    expect_ok "agent on $n moved to r2 within 5 s (${ms} ms)" test "$ms" -le 5000
  else
    expect_ok "agent on $n logged its move to r2" false
  fi
done
expect_ok "r2 holds the long-polls of all three agents within 5 s of the kill" sim_wait_until 5 polls_at r2 3
echo "# r2's long-polls $((($(date +%s%N) - killed) / 1000000)) ms after the kill"
logged_since a 'controller replica' | sed 's/^/# a: /'

wait "$PING_A" || true
wait "$PING_H" || true
for n in a h; do
  expect_output "pings from $n ran through the move without loss" ' 0% packet loss' cat "$(sim_log_dir "$n")/ping-move.log"
done
for n in "${NODES[@]}"; do
  expect_eq "agent on $n changed nothing on the data plane while moving" "" logged_since "$n" 'applied [0-9]+ actions'
  expect_eq "agent on $n did not join again" "" logged_since "$n" 'joined '
done
expect_eq "a's join record is unchanged (pinned key, replicas)" "$before" \
  sh -c "sha256sum '$(sim_state_dir a)/controller.json' | cut -d' ' -f1"

# The CLI with both URLs carries on through r2, given as flags or in OVERLAY_CONTROLLER.
expect_output "overlayctl with both replicas lists the network through r2" '^net1 ' rctl network list
expect_output "OVERLAY_CONTROLLER=r1,r2 works the same" '^net1 ' \
  sim_exec b env OVERLAY_CONTROLLER="${URL[r1]},${URL[r2]}" OVERLAY_TOKEN="$TOKEN" OVERLAY_FINGERPRINT="$FP" "$BIN/overlayctl" network list
# A change after the kill reaches traffic.
expect_ok "workload wa2 is added through the surviving replica" rctl workload add wa2 --network net1 --node a
ADDR[wa2]=$(wl_addr a wa2)
expect_ok "wb reaches the new wa2" sim_wait_until 20 pings b wb "${ADDR[wa2]}"
expect_ok "wh reaches the new wa2" sim_wait_until 20 pings h wh "${ADDR[wa2]}"

# No replica answering: one line per replica, naming it.
sim_bg_stop "${PID[r2]}" KILL
expect_fail "overlayctl fails when no replica answers" rctl network list
out=$(rctl network list 2>&1 || true)
expect_output "its error names r1's failure" "cannot connect to the controller at ${URL[r1]}" echo "$out"
expect_output "its error names r2's failure" "cannot connect to the controller at ${URL[r2]}" echo "$out"
expect_ok "traffic goes on with no replica at all" pings a wa "${ADDR[wb]}"
sim_summary
