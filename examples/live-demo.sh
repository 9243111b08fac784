#!/usr/bin/env bash
# The live demo (root): three simulated machines on one host — hubs `hub1` and `hub2` on the
# "internet", `home` hidden behind a NAT router — an operator defines one overlay network with
# overlayctl, every node's overlay-agent applies its plan, and we watch it work: workloads on
# different nodes ping each other, the hidden node is reached through the hub tunnels it dialled,
# and a probe from the internet gets nowhere. Uses netns-tests/lib/sim.sh; leaves nothing behind.
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
check() {  # check DESCRIPTION CMD... — prints PASS/FAIL, keeps going
  local desc=$1; shift
  if "$@" >/dev/null 2>&1; then echo "  PASS  $desc"; PASSED=$((PASSED + 1)); else echo "  FAIL  $desc"; FAILED=$((FAILED + 1)); fi
}
refused() { local desc=$1; shift; if "$@" >/dev/null 2>&1; then echo "  FAIL  $desc (it got through)"; FAILED=$((FAILED + 1)); else echo "  PASS  $desc (refused)"; PASSED=$((PASSED + 1)); fi; }
PASSED=0 FAILED=0

sim_init live-demo
DB=$SIM_DIR/overlay.db
ctl() { echo "\$ overlayctl $*"; "$BIN/overlayctl" --db "$DB" "$@"; }
ctlq() { "$BIN/overlayctl" --db "$DB" "$@"; }

say "Three machines: two public hubs and one at home behind NAT."
sim_node hub1
sim_node hub2
sim_node home --hidden
echo "hub1 $(sim_public_addr hub1)   hub2 $(sim_public_addr hub2)   home $(sim_lan_addr home) (NAT via $(sim_router_addr home))"

say "Each agent makes its identity; the operator registers the public keys."
declare -A ID
for n in hub1 hub2 home; do
  ID[$n]=$(sim_exec "$n" "$BIN/overlay-agent" init --state-dir "$(sim_state_dir "$n")")
  echo "$n: ${ID[$n]}"
done
ctl network create shop
ctl node add hub1 --identity "${ID[hub1]}" --public-address "$(sim_public_addr hub1)" --hub
ctl node add hub2 --identity "${ID[hub2]}" --public-address "$(sim_public_addr hub2)" --hub
ctl node add home --identity "${ID[home]}"
ctl workload add web --network shop --node hub1 --expose tcp/8080
ctl workload add api --network shop --node hub2
ctl workload add db --network shop --node home

say "Every node's agent applies its plan (overlayctl plan NODE --json > plan.json; overlay-agent run --once)."
for n in hub1 hub2 home; do
  ctlq plan "$n" --json >"$(sim_state_dir "$n")/plan.json"
  echo "\$ [$n] overlay-agent run --once --state-dir $(sim_state_dir "$n") --plan .../plan.json"
  sim_exec "$n" "$BIN/overlay-agent" run --once --state-dir "$(sim_state_dir "$n")" --plan "$(sim_state_dir "$n")/plan.json"
done
addr() { ctlq plan "$1" --json | jq -r --arg w "$2" '.networks[].workloads[] | select(.name == $w) | .address'; }
WEB=$(addr hub1 web) API=$(addr hub2 api) DB_ADDR=$(addr home db)
NET_ID=$(ctlq plan hub1 --json | jq -r '.networks[0].id')
echo "web $WEB (hub1)   api $API (hub2)   db $DB_ADDR (home)"

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

say "Re-applying the same plan changes nothing."
run sim_exec hub1 "$BIN/overlay-agent" run --once --state-dir "$(sim_state_dir hub1)"

# --- Web gateway (issue 6): self-contained; uses only sim.sh, ctl/ctlq and check/refused above.
say "A web gateway: node gate (public, domain demo.example) serves the workload site on hub2."
sim_node gate
GATE_ID=$(sim_exec gate "$BIN/overlay-agent" init --state-dir "$(sim_state_dir gate)")
ctl node add gate --identity "$GATE_ID" --public-address "$(sim_public_addr gate)" --gateway --domain demo.example
ctl workload add site --network shop --node hub2 --expose tcp/80
ctl gateway add shop-site --node gate --name shop --backend site:80
for n in hub1 hub2 home gate; do
  ctlq plan "$n" --json >"$(sim_state_dir "$n")/plan.json"
  sim_exec "$n" "$BIN/overlay-agent" run --once --state-dir "$(sim_state_dir "$n")" --plan "$(sim_state_dir "$n")/plan.json"
done
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
