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
