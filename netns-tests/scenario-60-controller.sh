#!/usr/bin/env bash
# scenario-60: the controller and its agents. A real `overlayd serve` on a simulated node `ctl`
# (its public address); five nodes — hubs `a` and `b`, plain `c` and `d`, `h` hidden behind NAT —
# whose agents join through single-use join tokens made with `overlayctl --controller ...
# node join-token`, pin the controller's key and long-poll for their plans.
# Proves: a CLI change (workload add) becomes traffic; status reaches `node show`; a used join
# token and a plan under another key are refused; with the controller stopped the overlays keep
# working and an agent restarted after its node lost its whole data plane restores it from its
# state directory; the controller restarted, agents resume without re-joining and a new change
# converges.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh

sim_init controller
NODES=(a b c d h)
sim_node ctl
sim_node a
sim_node b
sim_node c
sim_node d
sim_node h --hidden

controller_start ctl
expect_ok "overlayd serves on $CTL_URL" sim_tcp a "$(sim_public_addr ctl)" "$CTL_PORT"
expect_ok "remote overlayctl creates the network" rctl network create net1
rctl node add a --public-address "$(sim_public_addr a)" --hub >/dev/null
rctl node add b --public-address "$(sim_public_addr b)" --hub >/dev/null
rctl node add c --public-address "$(sim_public_addr c)" >/dev/null
rctl node add d --public-address "$(sim_public_addr d)" >/dev/null
rctl node add h >/dev/null
# Every node joins with its own single-use token.
declare -A TOKEN
for n in "${NODES[@]}"; do TOKEN[$n]=$(rctl node join-token "$n" --expires 10m | tail -n1); done
expect_output "a join token looks like one and carries the certificate's fingerprint" '^ovlj_[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$' echo "${TOKEN[a]}"
expect_fail "a workload cannot go on a node that has not joined" rctl workload add early --network net1 --node a
for n in "${NODES[@]}"; do agent_start "$n" --controller "$CTL_URL" --join "${TOKEN[$n]}"; done

wl_addr() { "$BIN/overlayctl" --db "$SIM_DIR/overlay.db" plan "$1" --json | jq -r --arg w "$2" '.networks[].workloads[] | select(.name == $w) | .address'; }
pings() { sim_netns_exec "$1" "wl-$2" ping -6 -c1 -W1 "$3"; }
tcp_hello() { sim_netns_exec "$1" "wl-$2" timeout 3 ncat --recv-only -w2 "$3" 8080; }
listen() { sim_exec_bg "$1" "listen-$2.log" ip netns exec "wl-$2" socat TCP6-LISTEN:8080,fork,reuseaddr "SYSTEM:echo $2"; }

for n in "${NODES[@]}"; do
  expect_ok "agent on $n joined as $n and pinned the controller key" \
    sim_wait_until 20 grep -q "joined $CTL_URL as node $n; pinned controller key" "$(sim_log_dir "$n")/agent.log"
  expect_ok "agent on $n keeps its join record 0600" \
    sh -c "[ \"\$(stat -c %a '$(sim_state_dir "$n")/controller.json')\" = 600 ]"
done
# Joined nodes take workloads.
for n in a b h; do rctl workload add "w$n" --network net1 --node "$n" >/dev/null; done
declare -A ADDR
for w in wa wb wh; do ADDR[$w]=$(wl_addr "${w#w}" "$w"); done
for w in wa wb wh; do listen "${w#w}" "$w"; done
expect_ok "wh reaches wa (plans delivered by long-poll, tunnel dialled through NAT)" \
  sim_wait_until 30 pings h wh "${ADDR[wa]}"
for src in a b h; do for dst in a b h; do
  [ "$src" = "$dst" ] && continue
  expect_ok "w$src pings w$dst" sim_wait_until 10 pings "$src" "w$src" "${ADDR[w$dst]}"
done; done

# A CLI change becomes traffic: workloads on c and d.
rctl workload add wc --network net1 --node c >/dev/null
rctl workload add wd --network net1 --node d >/dev/null
ADDR[wc]=$(wl_addr c wc) ADDR[wd]=$(wl_addr d wd)
listen c wc; listen d wd
expect_ok "the new wc answers wa" sim_wait_until 10 pings a wa "${ADDR[wc]}"
expect_ok "the new wd answers wh" sim_wait_until 10 pings h wh "${ADDR[wd]}"
expect_eq "wc opens TCP to wd:8080" wd tcp_hello c wc "${ADDR[wd]}"
expect_eq "wh opens TCP to wc:8080" wc tcp_hello h wh "${ADDR[wc]}"

# Status reaches the controller.
shows_status() { rctl node show a | grep -Eq "applied revision +$("$BIN/overlayctl" --db "$SIM_DIR/overlay.db" plan a --json | jq .revision), up to date"; }
expect_ok "node show a: a's agent reported the plan revision it applied" sim_wait_until 20 shows_status
expect_output "node show a lists a's peers with handshake age and bytes" 'wg-[0-9a-f]{8} +[A-Za-z0-9+/=]{44} +[0-9]+s +[1-9]' \
  rctl node show a

# Failed authentications are limited per source address: 40 wrong admin tokens from the internet
# get 401 for the source's budget (20), then 429 with Retry-After, while a good token from another
# address is served meanwhile.
# One curl for all 40, on one kept-alive connection: 40 TLS handshakes could outlast the 5 s in
# which the budget earns one back.
wrong_tokens() {
  local args=() i
  for i in $(seq 40); do args+=(-o /dev/null "$CTL_URL/v1/networks"); done
  sim_internet_exec curl --cacert "$CTL_CA" -s -w '%{http_code}\n' -H "Authorization: Bearer ovla_wrong" "${args[@]}" \
    | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}'
}
expect_eq "40 wrong tokens from one address: 20 answered 401, then 429" "401:20 429:20 " wrong_tokens
expect_output "the 429 says when to try again" '^[Rr]etry-[Aa]fter: [0-9]+' \
  sim_internet_exec curl --cacert "$CTL_CA" -s -D - -o /dev/null -H "Authorization: Bearer ovla_wrong" "$CTL_URL/v1/networks"
expect_eq "meanwhile a good token from another address is served" 200 \
  sim_exec b curl --cacert "$CTL_CA" -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $CTL_TOKEN" "$CTL_URL/v1/networks"
expect_output "the failures are counted in /metrics" '^overlay_auth_failures_total 2[0-9]' \
  sim_exec b curl --cacert "$CTL_CA" -s "$CTL_URL/metrics"

# Refusals: a used join token; a plan under another key than the pinned one.
mkdir -p "$SIM_DIR/intruder" && chmod 700 "$SIM_DIR/intruder"
expect_fail "a used join token does not join again" \
  sim_exec c timeout 20 "$BIN/overlay-agent" run --state-dir "$SIM_DIR/intruder" --controller "$CTL_URL" --join "${TOKEN[c]}"
agent_stop d
jq --arg k "$(sim_exec d "$BIN/overlay-agent" init --state-dir "$SIM_DIR/intruder")" '.controllerKey = $k' \
  "$(sim_state_dir d)/controller.json" >"$SIM_DIR/forged.json"
cp "$(sim_state_dir d)/controller.json" "$SIM_DIR/good.json"
install -m 600 "$SIM_DIR/forged.json" "$(sim_state_dir d)/controller.json"
agent_start d
rctl workload add wd2 --network net1 --node d >/dev/null
expect_ok "d refuses the controller's plan: it does not match the key d pinned" \
  sim_wait_until 15 grep -q 'does not match the pinned controller key' "$(sim_log_dir d)/agent.log"
expect_fail "d did not build wd2 from a plan under another key" sim_exec d ip netns exec wl-wd2 true
expect_ok "d keeps its last good plan: wd still answers" pings a wa "${ADDR[wd]}"
agent_stop d
install -m 600 "$SIM_DIR/good.json" "$(sim_state_dir d)/controller.json"
agent_start d
expect_ok "with the right pin d builds wd2" sim_wait_until 15 sim_exec d ip netns exec wl-wd2 true
rctl workload remove wd2 >/dev/null 2>&1 || true

# The controller goes away: the data plane does not notice.
controller_stop
expect_fail "the controller is down" sim_tcp a "$(sim_public_addr ctl)" "$CTL_PORT"
sleep 2
for src in a c h; do
  expect_ok "controller down: w$src still pings wb" pings "$src" "w$src" "${ADDR[wb]}"
done
expect_eq "controller down: wa still opens TCP to wh:8080" wh tcp_hello a wa "${ADDR[wh]}"
expect_ok "agents retry with backoff" sim_wait_until 10 grep -q 'retrying with backoff' "$(sim_log_dir a)/agent.log"

# b's agent restarts after its node lost everything it built (as after a reboot), controller
# still down: it restores from its state directory alone.
agent_stop b
wipe_node() {
  local n=$1 p
  for p in $(sim_pids "$n"); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = wireguard-go ] && kill -KILL "$p"
  done
  sim_exec "$n" sh -c 'for ns in $(ip netns list | cut -d" " -f1); do ip netns del "$ns"; done'
}
wipe_node b
expect_fail "b lost its data plane" pings a wa "${ADDR[wb]}"
agent_start b
expect_ok "b's restarted agent restores wb from its state dir (controller down)" \
  sim_wait_until 20 pings a wa "${ADDR[wb]}"
# h (hidden) still holds session keys of b's old wireguard-go and b cannot dial a hidden node: h
# re-handshakes once its data goes unanswered (WireGuard: 10 s keepalive + 5 s rekey timeout).
expect_ok "wh reaches wb again (h re-handshakes with the restored b)" sim_wait_until 40 pings h wh "${ADDR[wb]}"
expect_ok "wb reaches wh again" sim_wait_until 10 pings b wb "${ADDR[wh]}"

# The controller comes back: agents resume without re-joining; a new change converges.
controller_start ctl
rctl workload add wc2 --network net1 --node c >/dev/null
ADDR[wc2]=$(wl_addr c wc2)
for src in a b d h; do
  expect_ok "after the restart the new wc2 answers w$src" sim_wait_until 20 pings "$src" "w$src" "${ADDR[wc2]}"
done
for n in "${NODES[@]}"; do
  expect_eq "agent on $n joined exactly once" 1 sh -c "grep -c 'joined http' '$(sim_log_dir "$n")/agent.log'"
done
# Backoff is capped at 30 s; the first poll that reaches the restarted controller is only logged
# when it is answered, which for a node whose plan did not change is its 30 s wait later.
for n in "${NODES[@]}"; do
  expect_ok "agent on $n resumed its long-poll" sim_wait_until 75 grep -q 'reachable again' "$(sim_log_dir "$n")/agent.log"
done
rctl workload add wa2 --network net1 --node a >/dev/null
ADDR[wa2]=$(wl_addr a wa2)
expect_ok "a change for a converges after the restart: wa2 answers wh" sim_wait_until 10 pings h wh "${ADDR[wa2]}"

sim_summary
