#!/usr/bin/env bash
# scenario-50: a web gateway. Node gw (public, gateway for gw.example.test) serves two networks,
# red and blue; a (public hub) and h (hidden behind NAT) host the workloads. The real agents run
# (wireguard-go, nftables, HAProxy in master-worker mode, the UDP relay); every request comes
# from the simulated internet namespace.
# Proves: HTTP by Host to a workload on another node and to one behind NAT; two routes into two
# networks; TLS passthrough by SNI (the workload's own certificate reaches the client); TLS
# termination with an operator's certificate (its key never in clear in the database); TCP and
# UDP mappings; two backends with one stopped: every request answered; an unknown name gets a
# 404 and an unknown SNI is refused; removing a route stops it at once (`run --once` returns only
# when no old worker listens); a change HAProxy cannot load (a port taken) is an error of the pass
# while the old routes keep serving; the gateway cannot reach a
# port the workload does not expose, nor another network's workload; a direct request to a
# workload fails; a client streaming through the gateway keeps its connection while 20 routes
# are added and removed (20 + 20 seamless reloads); a configuration HAProxy rejects never
# replaces the running one.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh
# shellcheck source=lib/gateway.sh
. lib/gateway.sh

sim_init gateway
DOMAIN=gw.example.test

sim_node gw
sim_node a
sim_node h --hidden
GW4=$(sim_public_addr gw)
GW6=$(sim_public_addr gw 6)
ctl network create red >/dev/null
ctl network create blue >/dev/null
ctl node add gw --identity "$(agent gw init)" --public-address "$GW4" --public-address "$GW6" --gateway --domain "$DOMAIN" >/dev/null
ctl node add a --identity "$(agent a init)" --public-address "$(sim_public_addr a)" --hub >/dev/null
ctl node add h --identity "$(agent h init)" >/dev/null
ctl workload add weba --network red --node a --expose tcp/8080 --expose tcp/8443 --expose tcp/7000 --expose udp/5353 >/dev/null
ctl workload add webh --network red --node h --expose tcp/8080 >/dev/null
ctl workload add webb --network blue --node a --expose tcp/8080 >/dev/null
wl_addr() { ctl workload show "$1" --json | jq -r '.address'; }

# Certificates: the workload's own (passthrough) and the operator's (termination at the gateway).
self_signed "$SIM_DIR" passthrough "secure.$DOMAIN"
self_signed "$SIM_DIR" terminated "term.$DOMAIN"
self_signed "$SIM_DIR" other "other.example.net"

start_agent gw; GW_AGENT=$SIM_LAST_BG
start_agent a
start_agent h
# The servers start in the workload namespaces once the agents have made them.
for w in a:weba a:webb h:webh; do
  expect_ok "agent on ${w%%:*} made wl-${w#*:}" sim_wait_until 30 sim_exec "${w%%:*}" test -e "/run/netns/wl-${w#*:}"
done
wl_http a weba 8080 "hello from weba"
wl_http a weba 9090 "weba's private port"
wl_http a weba 8443 "tls at weba" "$SIM_DIR/passthrough.pem"
wl_http h webh 8080 "hello from webh"; WEBH_PID=$SIM_LAST_BG
wl_http a webb 8080 "hello from webb"
sim_exec_bg a udp.log ip netns exec wl-weba socat UDP6-RECVFROM:5353,fork,reuseaddr SYSTEM:'echo udp at weba'
printf 'i=0\nwhile true; do i=$((i + 1)); echo $i; sleep 0.1; done\n' >"$SIM_DIR/stream.sh"
sim_exec_bg a stream.log ip netns exec wl-weba socat TCP6-LISTEN:7000,fork,reuseaddr "EXEC:sh $SIM_DIR/stream.sh"
WEBA=$(wl_addr weba) WEBB=$(wl_addr webb) WEBH=$(wl_addr webh)
RED_NS=ovl-$(ctl plan a --json | jq -r '.networks[] | select(.name == "red") | .id')

# Routes.
ctl gateway add app --node gw --name app --backend weba:8080 >/dev/null
ctl gateway add hidden --node gw --name hidden --backend webh:8080 >/dev/null
ctl gateway add bluesite --node gw --fqdn Blue.Example.ORG --backend webb:8080 >/dev/null
ctl gateway add pool --node gw --name pool --backend weba:8080 --backend webh:8080 >/dev/null
ctl gateway add secure --node gw --name secure --tls-passthrough --backend weba:8443 >/dev/null
ctl gateway add term --node gw --name term --cert "$SIM_DIR/terminated.crt" --key "$SIM_DIR/terminated.key" --backend weba:8080 >/dev/null
ctl gateway add stream --node gw --tcp 7000 --backend weba:7000 >/dev/null
ctl gateway add dns --node gw --udp 5353 --backend weba:5353 >/dev/null
push gw a h

# curl from the internet: http HOST [ADDR] prints the body; code HOST prints the status.
http() { sim_internet_exec curl -sS --max-time 3 -H "Host: $1" "http://${2:-$GW4}/"; }
code() { sim_internet_exec curl -s -o /dev/null -w '%{http_code}' --max-time 3 -H "Host: $1" "http://$GW4/"; }
https() { sim_internet_exec curl -sS --max-time 3 --cacert "$2" --resolve "$1:443:$GW4" "https://$1/"; }
udp() { echo ping | sim_internet_exec timeout 4 socat -T2 - "UDP4:$GW4:5353"; }

answers() { [ "$(http "$1")" = "$2" ]; }
# Three answers in a row: the first health checks may see the tunnels still coming up.
settled() { answers "$1" "$2" && answers "$1" "$2" && answers "$1" "$2"; }
expect_ok "HTTP through the gateway comes up" sim_wait_until 30 settled "app.$DOMAIN" "hello from weba"
expect_eq "Host app.$DOMAIN reaches weba on a" "hello from weba" http "app.$DOMAIN"
expect_eq "over IPv6 too" "hello from weba" http "app.$DOMAIN" "[$GW6]"
expect_ok "the hidden node's workload comes up" sim_wait_until 30 settled "hidden.$DOMAIN" "hello from webh"
expect_eq "Host hidden.$DOMAIN reaches webh behind NAT" "hello from webh" http "hidden.$DOMAIN"
expect_eq "Host BLUE.example.org (any case) reaches webb in the other network" "hello from webb" http "BLUE.example.org"
expect_eq "an unknown name gets a 404" "404" code "nobody.$DOMAIN"
expect_eq "TLS passthrough by SNI: the workload's certificate and answer" "tls at weba" \
  https "secure.$DOMAIN" "$SIM_DIR/passthrough.crt"
expect_eq "TLS termination with the operator's certificate" "hello from weba" \
  https "term.$DOMAIN" "$SIM_DIR/terminated.crt"
expect_fail "an unknown SNI is refused" https "other.example.net" "$SIM_DIR/other.crt"
first_line() { sim_internet_exec sh -c "timeout 2 ncat --recv-only $GW4 7000 2>/dev/null | head -1"; }
expect_eq "TCP mapping 7000 reaches weba's stream" "1" first_line
# socat exits 0 on its idle timeout too: up means weba's answer came back.
udp_from_weba() { [ "$(udp)" = "udp at weba" ]; }
expect_ok "UDP mapping 5353 comes up (the agent's relay)" sim_wait_until 10 udp_from_weba
expect_eq "UDP mapping 5353 answers from weba" "udp at weba" udp

# The key of the terminated route is sealed: no PEM private key in the database files; on the
# gateway it is 0600.
keys_in_db() { cat "$SIM_DIR"/overlay.db* | grep -ac "PRIVATE KEY" || true; }
expect_eq "the database holds no private key in clear" "0" keys_in_db
# Named by content (term-HASH.pem): a new certificate never rewrites a file the running
# configuration loads.
expect_eq "the gateway's key file is 0600" "600" sh -c "stat -c %a '$(sim_state_dir gw)'/gateway/certs/term-*.pem"

# Balancing over two backends, then one stopped: every request still answered.
pool_bodies() { for _ in 1 2 3 4 5 6; do http "pool.$DOMAIN"; echo; done | sort -u | tr '\n' ','; }
expect_eq "pool balances over weba and webh" ",hello from weba,hello from webh," pool_bodies
sim_bg_stop "$WEBH_PID"
pool_all_answered() {
  local i ok=0
  for i in $(seq 1 30); do [ "$(http "pool.$DOMAIN")" = "hello from weba" ] && ok=$((ok + 1)); sleep 0.1; done
  echo "$ok/30"
}
expect_eq "with webh stopped, all 30 requests over 3 s are answered (by weba)" "30/30" pool_all_answered

# Isolation.
expect_fail "a direct request from the internet to weba fails" \
  sim_internet_exec curl -sS --max-time 3 "http://[$WEBA]:8080/"
expect_fail "the gateway's public address has no port 8080" \
  sim_internet_exec curl -sS --max-time 3 "http://$GW4:8080/"
expect_fail "a route to a port weba does not expose is refused" \
  ctl gateway add sneaky --node gw --name sneaky --backend weba:9090
expect_ok "from the gateway's red namespace (where the proxy connects from) weba:8080 opens" \
  sim_netns_exec gw "$RED_NS" timeout 3 ncat -z -w2 "$WEBA" 8080
expect_fail "but not weba:9090, which weba does not expose" \
  sim_netns_exec gw "$RED_NS" timeout 3 ncat -z -w2 "$WEBA" 9090
expect_fail "nor webb, the blue network's workload" sim_netns_exec gw "$RED_NS" timeout 3 ncat -z -w2 "$WEBB" 8080
expect_fail "the gateway's own namespace (HAProxy's listeners) reaches no overlay" \
  sim_exec gw timeout 3 ncat -z -w2 "$WEBA" 8080

# Removing a route stops it at once (the next plan, one reload).
ctl gateway remove app >/dev/null
push gw
gone() { [ "$(code "app.$DOMAIN")" = 404 ]; }
expect_ok "after 'gateway remove app' the name answers 404 within 3 s" sim_wait_until 3 gone
expect_eq "the other routes still answer" "hello from webb" http "blue.example.org"

# The file HAProxy runs with is the last one that passed 'haproxy -c' (a rejected one never
# replaces it: Tests/OverlayAgentTests/HAProxySupervisorTests.swift shows that with a real HAProxy).
cfg=$(sim_state_dir gw)/gateway/haproxy.cfg
expect_ok "the running configuration passes haproxy -c" sim_exec gw haproxy -c -q -f "$cfg"

# Hot reload: a client streams through the TCP mapping while 20 routes are added, then removed.
sim_exec_bg "$SIM_INET" "$SIM_DIR/stream-client.log" sh -c "ncat --recv-only $GW4 7000 > '$SIM_DIR/stream.out'"
STREAM_CLIENT=$SIM_LAST_BG
sleep 1
# Each change waits for the agent to log its (confirmed) reload, so every one is a reload of its own.
reloads() { grep -c "haproxy reloaded" "$(sim_log_dir gw)/agent.log" || true; }
reloaded_since() { [ "$(reloads)" -gt "$1" ]; }
R0=$(reloads)
for i in $(seq 1 20); do
  n=$(reloads)
  ctl gateway add "tmp$i" --node gw --name "tmp$i" --backend weba:8080 >/dev/null
  push gw; sim_wait_until 10 reloaded_since "$n" || true
done
tmp_up() { [ "$(http "tmp20.$DOMAIN")" = "hello from weba" ]; }
expect_ok "the 20th added route answers" sim_wait_until 5 tmp_up
for i in $(seq 1 20); do
  n=$(reloads)
  ctl gateway remove "tmp$i" >/dev/null
  push gw; sim_wait_until 10 reloaded_since "$n" || true
done
sleep 1
reloads_meanwhile() { echo $(($(reloads) - R0)); }
expect_output "HAProxy was reloaded at least 40 times meanwhile" '^([4-9][0-9]|[1-9][0-9]{2,})$' reloads_meanwhile
stream_alive() { kill -0 "$STREAM_CLIENT"; }
expect_ok "the streaming client's connection is still open" stream_alive
gapless() {
  # Lines are 1, 2, 3...: a reset connection would end the file or restart at 1.
  local n last
  # Complete lines only: the client may be writing the next one.
  n=$(wc -l <"$SIM_DIR/stream.out"); last=$(head -n "$n" "$SIM_DIR/stream.out" | tail -n 1)
  echo "lines=$n last=$last"
  [ "$n" -gt 200 ] && [ "$last" = "$n" ]
}
expect_ok "it received every line without a gap or restart" gapless
grow() { local a b; a=$(wc -l <"$SIM_DIR/stream.out"); sleep 0.5; b=$(wc -l <"$SIM_DIR/stream.out"); [ "$b" -gt "$a" ]; }
expect_ok "and it still receives" grow
sim_bg_stop "$STREAM_CLIENT"

# `run --once` returns only when HAProxy's master CLI shows the new workers and every old one
# stopping (its listeners closed): no answer from the old configuration after that, no waiting.
# The running agent stops first (HAProxy keeps serving; the one-shot agent adopts its master).
sim_bg_stop "$GW_AGENT"
ctl gateway add once --node gw --name once --backend weba:8080 >/dev/null
expect_output "run --once adds route 'once' (a confirmed reload)" 'plan revision' apply_plan gw
expect_eq "it answers right after run --once returned" "hello from weba" http "once.$DOMAIN"
ctl gateway remove once >/dev/null
expect_output "run --once removes it" 'plan revision' apply_plan gw
once_404s() { local i; for i in 1 2 3 4 5; do code "once.$DOMAIN"; echo; done | sort -u; }
expect_eq "right after run --once returned it answers 404, five times out of five" "404" once_404s

# A change HAProxy cannot load: another program holds TCP port 7100 in the gateway's namespace,
# where HAProxy binds. `haproxy -c` passes, the reload fails at bind time: the pass reports it,
# the old workers keep serving and haproxy.cfg stays what they run.
sim_exec_bg gw blocker.log python3 -c 'import socket, time
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 7100)); s.listen(); time.sleep(600)'
BLOCKER=$SIM_LAST_BG
port_taken() { sim_exec gw ss -Hltn 'sport = :7100' | grep -q LISTEN; }
expect_ok "another program listens on port 7100 on gw" sim_wait_until 5 port_taken
ctl gateway add clash --node gw --tcp 7100 --backend weba:7000 >/dev/null
clash_fails() { ! apply_plan gw >"$SIM_DIR/clash.out" 2>&1; }
expect_ok "run --once fails: HAProxy could not bind port 7100" clash_fails
expect_output "and says why" 'did not load the new configuration.*7100' cat "$SIM_DIR/clash.out"
expect_eq "the old routes keep serving" "hello from webb" http "blue.example.org"
expect_eq "the TCP mapping too" "1" first_line
expect_fail "haproxy.cfg is still the configuration the workers run (no port 7100)" grep -q 7100 "$cfg"
ctl gateway remove clash >/dev/null
expect_output "without the clashing route run --once succeeds again" 'plan revision' apply_plan gw
sim_bg_stop "$BLOCKER"
term_files() { find "$(sim_state_dir gw)/gateway/certs" -name 'term-*.pem' | wc -l; }
expect_eq "after confirmed reloads one certificate file of route term is left" "1" term_files

# The agent's down stops HAProxy (by PID) and removes its files.
hapid=$(cat "$(sim_state_dir gw)/gateway/haproxy.pid")
expect_ok "HAProxy's master runs before down" sim_exec gw kill -0 "$hapid"
expect_output "down on gw" '^down: [0-9]+ actions$' agent gw down
expect_fail "HAProxy's master is gone after down" sim_exec gw kill -0 "$hapid"
expect_fail "and port 80 is closed" sim_internet_exec curl -sS --max-time 2 -H "Host: pool.$DOMAIN" "http://$GW4/"

sim_summary
