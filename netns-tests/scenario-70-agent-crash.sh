#!/usr/bin/env bash
# scenario-70: an agent killed in the middle of a first apply. Hubs a and b, a workload on each.
# 20 times on a: `overlay-agent down` (a bare node), then `run --once --plan` killed with SIGKILL
# after a random delay between 0 and the time a whole first apply takes here (measured first), so
# the kill lands anywhere between process start and the last action.
# Proves, every time: the next `run --once` converges (exit 0, wa reaches wb), exactly one
# wireguard-go serves the interface (a half-configured one left by the killed run is taken over,
# not doubled), and the run after that applies 0 actions.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh

ROUNDS=${ROUNDS:-20}
sim_init agentcrash
two_hubs_net
PLAN_A=$(sim_state_dir a)/plan.json
ctl plan a --json >"$PLAN_A"
REV=$(jq -r .revision "$PLAN_A")
WG=$(jq -r '.networks[0].interface' "$PLAN_A")
WB=$(ctl plan b --json | jq -r '.networks[0].workloads[0].address')
expect_output "b applies its plan" '^plan revision [0-9]+: [1-9][0-9]* actions$' apply_plan b
ping_wb() { sim_netns_exec a wl-wa ping -6 -c1 -W1 "$WB"; }
wg_count() { sim_exec a sh -c "pgrep -xc wireguard-go || true"; }
ms() { echo $(($(date +%s%N) / 1000000)); }

# How long a first apply takes here (the kill window), median of three.
times=()
for i in 1 2 3; do
  agent a down >/dev/null
  t0=$(ms)
  agent a run --once --plan "$PLAN_A" >/dev/null
  times+=($(($(ms) - t0)))
done
WINDOW=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
echo "# a first apply takes ${WINDOW} ms here (runs: ${times[*]}); kills land in 0..${WINDOW} ms"
expect_ok "a first apply connects wa to wb" sim_wait_until 10 ping_wb

killed_mid=0
for round in $(seq "$ROUNDS"); do
  agent a down >/dev/null
  delay=$((RANDOM % (WINDOW + 1)))
  sim_exec_bg a "crash-$round.log" "$BIN/overlay-agent" run --once --plan "$PLAN_A" --state-dir "$(sim_state_dir a)"
  pid=$SIM_LAST_BG
  sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
  # Killed before it finished? (A run that already printed its summary was not interrupted.)
  grep -q '^plan revision' "$(sim_log_dir a)/crash-$round.log" || killed_mid=$((killed_mid + 1))
  sim_bg_stop "$pid" KILL
  expect_output "round $round (killed after ${delay} ms): the next run converges" \
    "^plan revision $REV: [0-9]+ actions\$" agent a run --once --plan "$PLAN_A"
  expect_ok "round $round: wa reaches wb" sim_wait_until 10 ping_wb
  expect_eq "round $round: one wireguard-go" 1 wg_count
  expect_eq "round $round: the run after applies 0 actions" "plan revision $REV: 0 actions" \
    agent a run --once --plan "$PLAN_A"
done
echo "# $killed_mid of $ROUNDS kills landed before the run's summary"
expect_ok "kills interrupted runs (at least a quarter of them)" test "$killed_mid" -ge $((ROUNDS / 4))
expect_ok "the interface is $WG" sim_exec a wg show "$WG"
sim_summary
