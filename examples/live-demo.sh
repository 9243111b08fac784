#!/usr/bin/env bash
# The live demo (root): four simulated machines on one host — the controller `ctl`, hubs `hub1` and
# `hub2` on the "internet", `home` hidden behind a NAT router. overlayd serves the desired state;
# the operator defines one overlay network with `overlayctl --controller`; every node's
# overlay-agent joins with a single-use token, pins the controller's key and long-polls for its
# signed plan. We watch it work: workloads on different nodes ping each other, the hidden node is
# reached through the hub tunnels it dialled, a probe from the internet gets nowhere, a workload on
# the hidden node fetches a page from the internet while one in a --no-egress network cannot, a CLI change
# becomes traffic in well under a second, and the overlays keep working while the controller is
# down. Uses netns-tests/lib/sim.sh; leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${BIN:-$ROOT/.build/debug}
[ "$(id -u)" = 0 ] || { echo "live-demo: needs root (network namespaces)" >&2; exit 1; }
[ -x "$BIN/overlay-agent" ] && [ -x "$BIN/overlayctl" ] || { echo "live-demo: build first (swift build)" >&2; exit 1; }
# shellcheck source=../netns-tests/lib/sim.sh
. netns-tests/lib/sim.sh

say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
run() { echo "\$ $*"; "$@"; }
check() {  # check DESCRIPTION CMD... — prints PASS/FAIL, keeps going; 3 tries (a first handshake may eat one)
  local desc=$1; shift
  if "$@" >/dev/null 2>&1 || "$@" >/dev/null 2>&1 || "$@" >/dev/null 2>&1; then echo "  PASS  $desc"; PASSED=$((PASSED + 1)); else echo "  FAIL  $desc"; FAILED=$((FAILED + 1)); fi
}
refused() { local desc=$1; shift; if "$@" >/dev/null 2>&1; then echo "  FAIL  $desc (it got through)"; FAILED=$((FAILED + 1)); else echo "  PASS  $desc (refused)"; PASSED=$((PASSED + 1)); fi; }
PASSED=0 FAILED=0

sim_init live-demo
DB=$SIM_DIR/overlay.db
# shellcheck source=../netns-tests/lib/overlay.sh
. netns-tests/lib/overlay.sh
ctl() { echo "\$ overlayctl --controller $CTL_URL --fingerprint ${CTL_FINGERPRINT:0:19}... $*"; rctl "$@"; }
ctlq() { "$BIN/overlayctl" --db "$DB" "$@"; }

say "Four machines: the controller, two public hubs and one at home behind NAT."
sim_node ctl
sim_node hub1
sim_node hub2
sim_node home --hidden
echo "ctl $(sim_public_addr ctl)   hub1 $(sim_public_addr hub1)   hub2 $(sim_public_addr hub2)   home $(sim_lan_addr home) (NAT via $(sim_router_addr home))"

say "The controller: overlayd serve over HTTPS (SQLite, signed plans, long-poll); an admin token for overlayctl."
controller_start ctl
echo "\$ overlayd serve --db overlay.db --listen $(sim_public_addr ctl):$CTL_PORT    (pid $CTL_PID)"
echo "  self-signed certificate $CTL_FINGERPRINT (join tokens carry it)"
check "overlayd answers on $CTL_URL" sim_tcp hub1 "$(sim_public_addr ctl)" "$CTL_PORT"

say "The operator defines the network remotely; each node gets a single-use join token."
ctl network create shop
ctl node add hub1 --public-address "$(sim_public_addr hub1)" --hub
ctl node add hub2 --public-address "$(sim_public_addr hub2)" --hub
ctl node add home
declare -A TOKEN
for n in hub1 hub2 home; do TOKEN[$n]=$(rctl node join-token "$n" --expires 10m | tail -n1); echo "$n: ${TOKEN[$n]:0:12}..."; done

say "Every node's agent joins (pinning the controller's key) and long-polls for its plan."
for n in hub1 hub2 home; do
  echo "\$ [$n] overlay-agent run --state-dir .../$n --controller $CTL_URL --join ${TOKEN[$n]:0:12}..."
  agent_start "$n" --controller "$CTL_URL" --join "${TOKEN[$n]}"
done
for n in hub1 hub2 home; do
  sim_wait_until 20 grep -q "joined" "$(sim_log_dir "$n")/agent.log" || true
  grep -E "joined" "$(sim_log_dir "$n")/agent.log" | sed "s/^/  [$n] /"
done

say "Joined nodes take workloads; each agent gets its new plan by long-poll."
ctl workload add web --network shop --node hub1 --expose tcp/8080
ctl workload add api --network shop --node hub2
ctl workload add db --network shop --node home
for n in hub1 hub2 home; do
  sim_wait_until 20 grep -q "received from the controller" "$(sim_log_dir "$n")/agent.log" || true
  grep -m1 "received from the controller" "$(sim_log_dir "$n")/agent.log" | sed "s/^/  [$n] /"
done
addr() { ctlq plan "$1" --json | jq -r --arg w "$2" '.networks[].workloads[] | select(.name == $w) | .address'; }
WEB=$(addr hub1 web) API=$(addr hub2 api) DB_ADDR=$(addr home db)
NET_ID=$(ctlq plan hub1 --json | jq -r '.networks[0].id')
echo "web $WEB (hub1)   api $API (hub2)   db $DB_ADDR (home)"
sim_wait_until 20 sim_netns_exec hub1 wl-web true || true
sim_wait_until 20 sim_netns_exec home wl-db true || true

say "What the agent built on hub1."
run sim_exec hub1 ip netns list
run sim_netns_exec hub1 "ovl-$NET_ID" ip -br addr
run sim_exec hub1 wg show "wg-$NET_ID"

say "Live checks."
for n in hub1 hub2 home; do
  sim_exec_bg "$n" listen.log ip netns exec "wl-$(case $n in hub1) echo web ;; hub2) echo api ;; home) echo db ;; esac)" \
    socat TCP6-LISTEN:8080,fork,reuseaddr "SYSTEM:echo hello from $n"
done
sim_wait_until 15 sim_netns_exec home wl-db ping -6 -c1 -W1 "$WEB" || true   # home dials out first
check "web (hub1) pings api (hub2)"                          sim_netns_exec hub1 wl-web ping -6 -c1 -W1 "$API"
check "api (hub2) pings web (hub1)"                          sim_netns_exec hub2 wl-api ping -6 -c1 -W1 "$WEB"
check "web (hub1) pings db on the hidden node, through the tunnel home dialled to hub1" \
  sim_netns_exec hub1 wl-web ping -6 -c1 -W1 "$DB_ADDR"
check "api (hub2) pings db on the hidden node"               sim_netns_exec hub2 wl-api ping -6 -c1 -W1 "$DB_ADDR"
check "db (home) opens TCP to web:8080"                      sim_netns_exec home wl-db timeout 3 ncat --recv-only -w2 "$WEB" 8080
echo "  home's tunnel peers (only the hubs) and where hub1 sees home (its NAT router):"
sim_exec home wg show "wg-$NET_ID" endpoints | sed 's/^/    home -> /'
sim_exec hub1 wg show "wg-$NET_ID" endpoints | sed 's/^/    hub1 -> /'
refused "the internet opens TCP to hub1 (port 22)"            sim_internet_exec timeout 3 ncat -z -w2 "$(sim_public_addr hub1)" 22
refused "the internet pings hub1 over IPv6"                   sim_internet_exec ping -6 -c1 -W1 "$(sim_public_addr hub1 6)"
refused "the internet reaches web's overlay address"          sim_internet_exec ping -6 -c1 -W1 "$WEB"
refused "hub2's own namespace reaches web (not a member)"     sim_exec hub2 timeout 3 ncat -z -w2 "$WEB" 8080
echo "  dropped and counted on hub1:"
sim_exec hub1 nft list table inet overlay | grep -E 'counter packets [1-9]' | sed 's/^\s*/    /'

say "A change on the CLI becomes traffic: a new workload on hub2, pinged from home."
t0=$(date +%s%N)
ctl workload add cache --network shop --node hub2
CACHE=$(addr hub2 cache)
if sim_wait_until 10 sim_netns_exec home wl-db ping -6 -c1 -W1 "$CACHE"; then
  echo "  PASS  cache ($CACHE) answers db after $((($(date +%s%N) - t0) / 1000000)) ms"; PASSED=$((PASSED + 1))
else echo "  FAIL  cache never answered"; FAILED=$((FAILED + 1)); fi
echo "  what hub1's agent reported (overlayctl node show hub1):"
sleep 1
rctl node show hub1 | sed 's/^/    /'

say "Egress: workloads dial out through their own node (the hidden one too); a sealed network cannot."
cat >"$SIM_DIR/hello.sh" <<'SH'
printf 'HTTP/1.0 200 OK\r\n\r\nhello from the internet; you came from %s\n' "$SOCAT_PEERADDR"
SH
sim_exec_bg "$SIM_INET" "$SIM_DIR/web-inet.log" socat TCP4-LISTEN:80,fork,reuseaddr "SYSTEM:sh $SIM_DIR/hello.sh"
ctl network create vault --no-egress
ctl workload add safe --network vault --node home
sim_wait_until 20 sim_netns_exec home wl-safe true || true
DB4=$(ctlq plan home --json | jq -r '.networks[] | select(.name == "shop") | .workloads[] | select(.name == "db") | .ipv4Address')
fetch() { sim_netns_exec home "wl-$1" curl -sf --max-time 3 "http://$SIM_INET4/"; }
echo "\$ [home, in workload db at $DB4] curl http://$SIM_INET4/"
sim_wait_until 10 fetch db || true
fetch db | sed 's/^/    /' || true
check "db (hidden node) fetches a page from the internet, seen as home's router $(sim_router_addr home)" fetch db
refused "safe (network vault, --no-egress) fetches the same page" fetch safe

say "The controller stops: the overlays do not notice; agents retry with backoff."
controller_stop
echo "\$ kill -TERM <overlayd>"
check "db (home) still pings web (hub1)"                     sim_netns_exec home wl-db ping -6 -c1 -W1 "$WEB"
check "api (hub2) still opens TCP to web:8080"               sim_netns_exec hub2 wl-api timeout 3 ncat --recv-only -w2 "$WEB" 8080
sleep 1
grep -m1 "retrying with backoff" "$(sim_log_dir hub1)/agent.log" | sed 's/^/  [hub1] /' || true

say "The controller comes back: agents resume without joining again."
controller_start ctl
ctl workload remove cache >/dev/null 2>&1 || true
cache_gone() { ! sim_exec hub2 ip netns list | grep -q wl-cache; }
joined_once() { local n; for n in hub1 hub2 home; do [ "$(grep -c 'joined http' "$(sim_log_dir "$n")/agent.log")" = 1 ] || return 1; done; }
check "the removal reaches hub2 (wl-cache gone)"              sim_wait_until 10 cache_gone
check "each agent joined exactly once (no re-join after the restart)" joined_once

# --- Web gateway: a fifth node joins as a gateway; HAProxy, driven by its agent, is the only public door.
say "A web gateway: node gate (public, domain demo.example) serves the workload site on hub2."
sim_node gate
ctl node add gate --public-address "$(sim_public_addr gate)" --gateway --domain demo.example
GATE_TOKEN=$(rctl node join-token gate --expires 10m | tail -n1)
agent_start gate --controller "$CTL_URL" --join "$GATE_TOKEN"
sim_wait_until 20 grep -q "joined" "$(sim_log_dir gate)/agent.log" || true
ctl workload add site --network shop --node hub2 --expose tcp/80
ctl gateway add shop-site --node gate --name shop --backend site:80
sim_wait_until 20 sim_netns_exec hub2 wl-site true || true
SITE=$(addr hub2 site)
cat >"$SIM_DIR/site.cfg" <<'CFG'
defaults
    mode http
    timeout client 10s
    timeout connect 5s
    timeout server 10s
frontend site
    bind :::80 v4v6
    http-request return status 200 content-type text/plain string "hello from site, a workload on hub2\n"
CFG
sim_exec_bg hub2 site.log ip netns exec wl-site haproxy -db -f "$SIM_DIR/site.cfg"
echo "\$ curl -H 'Host: shop.demo.example' http://$(sim_public_addr gate)/   (from the internet namespace)"
through_gateway() { sim_internet_exec curl -sf --max-time 3 -H 'Host: shop.demo.example' "http://$(sim_public_addr gate)/"; }
sim_wait_until 20 through_gateway || true
through_gateway | sed 's/^/    /' || true
check "the internet reaches site's HTTP server through the gateway" through_gateway
refused "the internet reaches site directly ($SITE)"          sim_internet_exec curl -sf --max-time 3 "http://[$SITE]/"
refused "an unknown name on the gateway gets no page"          sim_internet_exec curl -sf --max-time 3 -H 'Host: nope.demo.example' "http://$(sim_public_addr gate)/"
# --- end of the web gateway section

echo
echo "live demo: $PASSED checks passed, $FAILED failed"
[ "$FAILED" = 0 ]
