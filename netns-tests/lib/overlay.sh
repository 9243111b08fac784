# Helpers shared by the scenarios that drive the product's binaries in simulated nodes.
# Source after lib/sim.sh; call sim_init before using them (the database lives in $SIM_DIR).
# shellcheck shell=bash

BIN=${BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.build/debug}
[ -x "$BIN/overlay-agent" ] && [ -x "$BIN/overlayctl" ] || { echo "build first: swift build" >&2; exit 1; }

# overlayctl on the scenario's database.
ctl() { "$BIN/overlayctl" --db "$SIM_DIR/overlay.db" "$@"; }

# agent NODE ARGS...: overlay-agent inside NODE with NODE's state directory.
agent() { local n=$1; shift; sim_exec "$n" "$BIN/overlay-agent" "$@" --state-dir "$(sim_state_dir "$n")"; }

# apply_plan NODE [ARGS...]: writes NODE's plan into its state directory and applies it once.
apply_plan() {
  local n=$1; shift
  ctl plan "$n" --json >"$(sim_state_dir "$n")/plan.json"
  agent "$n" run --once "$@" --plan "$(sim_state_dir "$n")/plan.json"
}

# --- A controller (overlayd) and agents that join it -------------------------------------------
# controller_start NODE [PORT] [SERVE ARGS...]: `overlayd serve` over HTTPS on NODE's public
# address with the scenario's database (an admin token is made the first time; the self-signed
# certificate on the first start). Sets CTL_NODE, CTL_URL, CTL_PID, CTL_TOKEN, CTL_FINGERPRINT
# and CTL_CA (the certificate, for curl --cacert). Join tokens from rctl carry the fingerprint.
# Call in the scenario's main shell (not inside $(...)).
CTL_PORT=7800
controller_start() {
  CTL_NODE=$1 CTL_PORT=${2:-$CTL_PORT}
  shift $(($# < 2 ? $# : 2))
  CTL_URL="https://$(sim_public_addr "$CTL_NODE"):$CTL_PORT"
  CTL_CA="$SIM_DIR/overlay.db.tls-cert"
  [ -n "${CTL_TOKEN:-}" ] || CTL_TOKEN=$("$BIN/overlayd" token create --db "$SIM_DIR/overlay.db" | tail -n1)
  sim_exec_bg "$CTL_NODE" overlayd.log "$BIN/overlayd" serve --db "$SIM_DIR/overlay.db" \
    --listen "$(sim_public_addr "$CTL_NODE"):$CTL_PORT" "$@"
  CTL_PID=$SIM_LAST_BG
  sim_wait_until 30 sim_tcp "$CTL_NODE" "$(sim_public_addr "$CTL_NODE")" "$CTL_PORT"
  CTL_FINGERPRINT=$("$BIN/overlayd" tls fingerprint --db "$SIM_DIR/overlay.db")
}
# controller_stop: SIGTERM to overlayd (by PID), waits until it is gone.
controller_stop() { sim_bg_stop "$CTL_PID"; }

# rctl ARGS...: overlayctl against the running controller (from the controller's node).
rctl() {
  sim_exec "$CTL_NODE" "$BIN/overlayctl" --controller "$CTL_URL" --token "$CTL_TOKEN" \
    --fingerprint "$CTL_FINGERPRINT" "$@"
}

# agent_start NODE [ARGS...]: `overlay-agent run` in NODE in the background (log: agent.log in
# NODE's log dir); its PID goes to AGENT_PID[NODE]. Main shell only.
declare -gA AGENT_PID=()
agent_start() {
  local n=$1; shift
  sim_exec_bg "$n" agent.log "$BIN/overlay-agent" run --state-dir "$(sim_state_dir "$n")" "$@"
  AGENT_PID[$n]=$SIM_LAST_BG
}
# agent_stop NODE: SIGTERM to NODE's agent (the data plane stays up).
agent_stop() { sim_bg_stop "${AGENT_PID[$1]}"; unset "AGENT_PID[$1]"; }
# node_reboot NODE: what a reboot leaves of NODE's overlay: nothing. Its agent stopped, its
# wireguard-go processes killed, its namespaces and host table deleted; the host itself (uplink,
# state directory) stays.
node_reboot() {
  local n=$1 pid ns
  agent_stop "$n"
  for pid in $(sim_pids "$n"); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = wireguard-go ] && kill -KILL "$pid" 2>/dev/null || true
  done
  for ns in $(sim_exec "$n" ip netns list | awk '{ print $1 }'); do sim_exec "$n" ip netns del "$ns"; done
  sim_exec "$n" nft delete table inet overlay 2>/dev/null || true
}
# agent_log NODE: what NODE's agent logged.
agent_log() { cat "$(sim_log_dir "$1")/agent.log"; }

# two_hubs_net — the smallest overlay: public hub nodes a and b, network net1, workload wa on a
# and wb on b (in the local database; nothing applied yet).
two_hubs_net() {
  local n
  for n in a b; do
    sim_node "$n"
  done
  ctl network create net1 >/dev/null
  for n in a b; do
    ctl node add "$n" --identity "$(agent "$n" init)" --public-address "$(sim_public_addr "$n")" --hub >/dev/null
    ctl workload add "w$n" --network net1 --node "$n" >/dev/null
  done
}
