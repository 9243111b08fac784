#!/usr/bin/env bash
# bench-gateway: the gateway's cost, side by side in one run (root; real agents, wireguard-go,
# HAProxy). Node gw (gateway) and node a (hosting workload weba, whose HTTP server is a tiny
# HAProxy answering itself) share network red.
#   - requests/s and p50/p99 latency with wrk (HTTP keep-alive, small responses), the same client
#     on gw: through the gateway (Host routing, public address) vs straight to weba over the
#     overlay from gw's network namespace; the ratio (goal >= 0.7);
#   - the time from `overlayctl gateway add` to the first successful request through the new route
#     (median of 5), through a controller (overlayd, a gateway node joined by token and
#     long-polling) beside the plan-file path (the running agent watches its file).
# Usage: netns-tests/bench-gateway.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh
# shellcheck source=lib/gateway.sh
. lib/gateway.sh
SECS=${1:-5}
CONNS=${2:-16}
command -v wrk >/dev/null || { echo "wrk missing: make deps" >&2; exit 1; }

sim_init gwbench
DOMAIN=gw.example.test
sim_node gw
sim_node a
GW4=$(sim_public_addr gw)
ctl network create red >/dev/null
ctl node add gw --identity "$(agent gw init)" --public-address "$GW4" --gateway --domain "$DOMAIN" >/dev/null
ctl node add a --identity "$(agent a init)" --public-address "$(sim_public_addr a)" --hub >/dev/null
ctl workload add weba --network red --node a --expose tcp/8080 >/dev/null
ctl gateway add app --node gw --name app --backend weba:8080 >/dev/null
start_agent gw
start_agent a
sim_wait_until 30 sim_exec a test -e /run/netns/wl-weba
wl_http a weba 8080 "ok"
WEBA=$(ctl workload show weba --json | jq -r '.address')
RED_NS=ovl-$(ctl plan a --json | jq -r '.networks[0].id')
ok() { [ "$(sim_exec gw curl -s --max-time 2 -H "Host: $1.$DOMAIN" "http://$GW4/")" = ok ]; }
sim_wait_until 30 ok app || { echo "the gateway did not come up" >&2; exit 1; }
sim_wait_until 10 sim_netns_exec gw "$RED_NS" curl -sf --max-time 2 "http://[$WEBA]:8080/" || { echo "no overlay path" >&2; exit 1; }

# wrk's summary -> "RPS P50 P99" (latencies in ms).
summarise() {
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec:/ { rps = $2 }
    END { printf "%.0f %.2f %.2f\n", rps, p50, p99 }'
}
run_wrk() { wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "$@" 2>&1 | summarise; }
sim_exec gw wrk -t1 -c"$CONNS" -d1s -H "Host: app.$DOMAIN" "http://$GW4/" >/dev/null  # warm-up
read -r g_rps g_p50 g_p99 < <(sim_exec gw sh -c "$(declare -f summarise run_wrk); CONNS=$CONNS SECS=$SECS; run_wrk -H 'Host: app.$DOMAIN' http://$GW4/")
read -r d_rps d_p50 d_p99 < <(sim_netns_exec gw "$RED_NS" sh -c "$(declare -f summarise run_wrk); CONNS=$CONNS SECS=$SECS; run_wrk 'http://[$WEBA]:8080/'")

# Time from `gateway add` to the first answer through the new route, two ways in the same run:
# plan files (the agents above: write the file, the agent's 500 ms check picks it up), and the
# product path: an overlayd on node c, a gateway node gw2 that joined it with a token and
# long-polls (same workload weba as backend: a joins nothing new, the plan reaches gw2 at once).
median5() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
times=()
for i in 1 2 3 4 5; do
  t0=$(date +%s%N)
  ctl gateway add "new$i" --node gw --name "new$i" --backend weba:8080 >/dev/null
  push gw
  until ok "new$i"; do sleep 0.02; done
  t1=$(date +%s%N)
  times+=($(( (t1 - t0) / 1000000 )))
done
median=$(median5 "${times[@]}")

sim_node c
sim_node gw2
GW2=$(sim_public_addr gw2)
controller_start c
rctl node add gw2 --public-address "$GW2" --gateway --domain "two.$DOMAIN" >/dev/null
agent_start gw2 --controller "$CTL_URL" --join "$(rctl node join-token gw2 | tail -n1)"
sim_wait_until 30 grep -q "joined" "$(sim_log_dir gw2)/agent.log" || { echo "gw2 did not join" >&2; exit 1; }
rctl gateway add warm --node gw2 --name warm --backend weba:8080 >/dev/null
push a  # a learns gw2 (the a agent follows its plan file)
ok2() { [ "$(sim_exec gw2 curl -s --max-time 2 -H "Host: $1.two.$DOMAIN" "http://$GW2/")" = ok ]; }
sim_wait_until 30 ok2 warm || { echo "the controller-driven gateway did not come up" >&2; exit 1; }
ctimes=()
for i in 1 2 3 4 5; do
  t0=$(date +%s%N)
  rctl gateway add "two$i" --node gw2 --name "two$i" --backend weba:8080 >/dev/null
  until ok2 "two$i"; do sleep 0.02; done
  t1=$(date +%s%N)
  ctimes+=($(( (t1 - t0) / 1000000 )))
done
cmedian=$(median5 "${ctimes[@]}")

echo
echo "gateway benchmark: wrk -t1 -c$CONNS -d${SECS}s, keep-alive, 3-byte responses, client on the gateway node"
printf '%-44s %10s %9s %9s\n' "path" "req/s" "p50 ms" "p99 ms"
printf '%-44s %10s %9s %9s\n' "through the gateway (HAProxy, Host routing)" "$g_rps" "$g_p50" "$g_p99"
printf '%-44s %10s %9s %9s\n' "direct over the overlay (baseline)" "$d_rps" "$d_p50" "$d_p99"
awk -v g="$g_rps" -v d="$d_rps" 'BEGIN { printf "ratio gateway/direct: %.2f (goal >= 0.7)\n", g / d }'
echo "gateway add -> first answer through the route, controller (long-poll): median ${cmedian} ms (runs: ${ctimes[*]} ms)"
echo "gateway add -> first answer through the route, plan file (baseline): median ${median} ms (runs: ${times[*]} ms)"
