#!/usr/bin/env bash
# scenario-72: a stalled wireguard-go. Hubs a and b run `overlay-agent run --plan` with a workload
# each; a's wireguard-go is stopped with SIGSTOP for 4 s (its UAPI socket accepts but never
# answers, as under a swap storm or a debugger), then continued with SIGCONT.
# Proves: the agent does not take a stalled tunnel for a missing one: afterwards the same
# wireguard-go process (same PID) serves a's interface, its session with b is the same (the
# latest handshake with b did not change: the peer was not removed and re-added), the agent
# applied no action during or after the stall, and traffic resumes.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh

sim_init wgstall
two_hubs_net
for n in a b; do
  ctl plan "$n" --json >"$(sim_state_dir "$n")/plan.json"
  agent_start "$n" --plan "$(sim_state_dir "$n")/plan.json"
done
WG=$(jq -r '.networks[0].interface' "$(sim_state_dir a)/plan.json")
WB=$(jq -r '.networks[0].workloads[0].address' "$(sim_state_dir b)/plan.json")
B_KEY=$(jq -r '.networks[0].publicKey' "$(sim_state_dir b)/plan.json")
ping_wb() { sim_netns_exec a wl-wa ping -6 -c1 -W1 "$WB"; }
expect_ok "wa reaches wb" sim_wait_until 20 ping_wb

# Host PID of a's wireguard-go (the node's only one).
wg_pid() {
  local p
  for p in $(sim_pids a); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = wireguard-go ] && echo "$p"
  done
}
handshake_b() { sim_exec a wg show "$WG" latest-handshakes | awk -v k="$B_KEY" '$1 == k { print $2 }'; }
PID=$(wg_pid)
expect_output "one wireguard-go on a" '^[0-9]+$' echo "$PID"
HS=$(handshake_b)
expect_output "a has a handshake with b" '^[1-9][0-9]*$' echo "$HS"
LOG=$(sim_log_dir a)/agent.log
actions_logged() { grep -c 'applied [0-9]* actions' "$LOG" || true; }
sleep 1
ACTIONS=$(actions_logged)

kill -STOP "$PID"
expect_eq "wireguard-go is stopped" T sh -c "awk '/^State:/ { print \$2 }' /proc/$PID/status"
sleep 4
kill -CONT "$PID"
expect_ok "traffic resumes after SIGCONT" sim_wait_until 10 ping_wb
sleep 1
expect_eq "the same wireguard-go (PID $PID) serves $WG" "$PID" wg_pid
expect_eq "the session with b is the same (latest handshake unchanged)" "$HS" handshake_b
expect_eq "the agent applied no action during or after the stall" "$ACTIONS" actions_logged
expect_ok "a's agent still runs" kill -0 "${AGENT_PID[a]}"
expect_ok "wb reaches wa" sim_netns_exec b wl-wb ping -6 -c1 -W1 \
  "$(jq -r '.networks[0].workloads[0].address' "$(sim_state_dir a)/plan.json")"
sim_summary
