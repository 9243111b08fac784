# Helpers for the gateway scenarios and benchmark. Source after lib/sim.sh and lib/overlay.sh.
# shellcheck shell=bash

# push NODE...: writes each node's current plan where its running agent watches it (atomically).
push() {
  local n f
  for n in "$@"; do
    f=$(sim_state_dir "$n")/plan.json
    ctl plan "$n" --json >"$f.tmp" && mv "$f.tmp" "$f"
  done
}

# start_agent NODE: a long-running agent on NODE following its plan file (log: NODE/log/agent.log).
start_agent() {
  push "$1"
  sim_exec_bg "$1" agent.log "$BIN/overlay-agent" run --plan "$(sim_state_dir "$1")/plan.json" \
    --state-dir "$(sim_state_dir "$1")"
}

# wl_http NODE WORKLOAD PORT BODY [PEM]: a small HTTP server (HAProxy answering BODY itself) in the
# workload's namespace on PORT; with PEM (certificate + key) it speaks HTTPS. Sets SIM_LAST_BG.
wl_http() {
  local node=$1 wl=$2 port=$3 body=$4 pem=${5:-} cfg
  cfg="$SIM_DIR/$wl-$port.cfg"
  cat >"$cfg" <<CFG
defaults
    mode http
    timeout client 30s
    timeout connect 5s
    timeout server 30s
    timeout http-keep-alive 30s
frontend serve
    bind :::$port v4v6${pem:+ ssl crt $pem}
    http-request return status 200 content-type text/plain string "$body\n"
CFG
  sim_exec_bg "$node" "http-$wl-$port.log" ip netns exec "wl-$wl" haproxy -db -f "$cfg"
}

# self_signed DIR NAME HOST: DIR/NAME.crt, DIR/NAME.key and DIR/NAME.pem (both) for HOST.
self_signed() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=$3" -addext "subjectAltName=DNS:$3" -keyout "$1/$2.key" -out "$1/$2.crt" 2>/dev/null
  cat "$1/$2.crt" "$1/$2.key" >"$1/$2.pem"
  chmod 600 "$1/$2.key" "$1/$2.pem"
}
