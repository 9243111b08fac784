#!/usr/bin/env bash
# scenario-71: bad files under the agent. Hubs a and b with a workload each, applied once; then c,
# whose state directory is a small tmpfs mounted inside c's own mount namespace.
# Proves: a truncated, garbage, incomplete or foreign (another node's) plan file given to
# `run --plan`, a truncated cached plan and a truncated identity each end the run with an error
# naming the file and what is wrong, and leave a's data plane exactly as it was (same namespaces,
# links with the same ifindexes, same peers, same wireguard-go, traffic flows); a corrupt cached
# key is rewritten from the plan's sealed key; a running agent keeps its plan when its plan file
# turns to garbage. On c the state directory fills up: a new plan is refused with "No space left
# on device", the data plane stays and is still repaired; with space again, the plan is applied.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh

sim_init agentfiles
sim_node a
sim_node b
sim_node c
FULL=$SIM_DIR/c/fullstate   # c's state directory: a 512 KiB tmpfs seen only inside c
mkdir -m 700 "$FULL"
sim_exec c mount -t tmpfs -o size=512k,mode=700 ovlfull "$FULL"
agent_c() { sim_exec c "$BIN/overlay-agent" "$@" --state-dir "$FULL"; }

ctl network create net1 >/dev/null
ctl node add a --identity "$(agent a init)" --public-address "$(sim_public_addr a)" --hub >/dev/null
ctl node add b --identity "$(agent b init)" --public-address "$(sim_public_addr b)" --hub >/dev/null
ctl node add c --identity "$(agent_c init)" --public-address "$(sim_public_addr c)" >/dev/null
for n in a b c; do ctl workload add "w$n" --network net1 --node "$n" >/dev/null; done
expect_output "a applies its plan" '^plan revision [0-9]+: [1-9][0-9]* actions$' apply_plan a
expect_output "b applies its plan" '^plan revision [0-9]+: [1-9][0-9]* actions$' apply_plan b
GOOD=$SIM_DIR/good-a.json
cp "$(sim_state_dir a)/plan.json" "$GOOD"
REV=$(jq -r .revision "$GOOD")
NS=$(jq -r '.networks[0].namespace' "$GOOD"); WG=$(jq -r '.networks[0].interface' "$GOOD")
addr() { ctl plan "$1" --json | jq -r --arg w "$2" '.networks[0].workloads[] | select(.name == $w) | .address'; }
WB=$(addr b wb)
ping_wb() { sim_netns_exec a wl-wa ping -6 -c1 -W1 "$WB"; }
expect_ok "wa reaches wb" sim_wait_until 10 ping_wb

# What a's data plane is made of: namespaces, links (ifindex and name) in the overlay namespace
# and in wa's, WireGuard peers and the wireguard-go PID. Counters and handshakes left out.
snapshot() {
  sim_exec a sh -c "ip netns list | sort
    ip netns exec $NS ip -o link | cut -d: -f1,2 | cut -d@ -f1
    ip netns exec wl-wa ip -o link | cut -d: -f1,2 | cut -d@ -f1
    ip netns exec $NS ip -6 -o route | sort
    wg show $WG peers | sort
    pgrep -x wireguard-go"
}
BEFORE=$(snapshot)
untouched() { [ "$(snapshot)" = "$BEFORE" ] && ping_wb; }
# refused DESC REGEX FILE-ARGS...: `run --once` on a fails with an error matching REGEX, and
# a's data plane is untouched.
refused() {
  local desc=$1 re=$2
  shift 2
  local out=$SIM_DIR/refused.out rc=0
  agent a run --once "$@" >"$out" 2>&1 || rc=$?
  expect_output "$desc: refused with a clear error" "$re" sh -c "[ $rc != 0 ] && cat '$out'"
  expect_ok "$desc: data plane untouched, wa reaches wb" untouched
}

# 1. Plan files handed to `run --plan`.
head -c 200 "$GOOD" >"$SIM_DIR/truncated.json"
refused "truncated plan file" "^error: plan $SIM_DIR/truncated.json: not a plan document: .*not valid JSON" \
  --plan "$SIM_DIR/truncated.json"
head -c 4096 /dev/urandom >"$SIM_DIR/garbage.json"
refused "random bytes as plan file" "^error: plan $SIM_DIR/garbage.json: not a plan document" --plan "$SIM_DIR/garbage.json"
jq 'del(.networks[0].peers)' "$GOOD" >"$SIM_DIR/incomplete.json"
refused "plan without peers" "^error: plan $SIM_DIR/incomplete.json: not a plan document: .*'peers'" \
  --plan "$SIM_DIR/incomplete.json"
refused "missing plan file" "^error: plan $SIM_DIR/nonexistent.json: cannot read it" --plan "$SIM_DIR/nonexistent.json"
# b's plan: same network, same interface name; its key is sealed to b, and the key a keeps for
# that interface is not b's.
ctl plan b --json >"$SIM_DIR/b-plan.json"
refused "b's plan given to a" "^error: network net1: cannot open its sealed private key with this node's identity" \
  --plan "$SIM_DIR/b-plan.json"

# 2. Files in a's state directory.
STATE=$(sim_state_dir a)
cp "$STATE/applied-plan.json" "$SIM_DIR/applied.bak"
head -c 100 "$SIM_DIR/applied.bak" >"$STATE/applied-plan.json"
refused "truncated cached plan" "^error: $STATE/applied-plan.json: not a plan document"
expect_eq "a good plan replaces the truncated cache; nothing to do" "plan revision $REV: 0 actions" \
  agent a run --once --plan "$GOOD"
expect_ok "the cached plan is whole again" cmp -s "$STATE/applied-plan.json" "$SIM_DIR/applied.bak"
cp "$STATE/identity.key" "$SIM_DIR/identity.bak"
head -c 10 "$SIM_DIR/identity.bak" >"$STATE/identity.key"
refused "truncated identity" "^error: $STATE/identity.key is not a 32-byte Ed25519 seed" --plan "$GOOD"
install -m 600 "$SIM_DIR/identity.bak" "$STATE/identity.key"
KEYFILE=$STATE/keys/$WG.key
cp "$KEYFILE" "$SIM_DIR/key.bak"
head -c 32 /dev/urandom >"$KEYFILE"
expect_eq "a corrupt cached key: the plan's sealed key is used, nothing to do" "plan revision $REV: 0 actions" \
  agent a run --once --plan "$GOOD"
expect_ok "the cached key is rewritten from the plan" cmp -s "$KEYFILE" "$SIM_DIR/key.bak"
expect_eq "the cached key stays 0600" 600 stat -c %a "$KEYFILE"
expect_ok "data plane untouched, wa reaches wb" untouched

# 3. A running agent whose plan file turns to garbage keeps its plan.
WATCHED=$SIM_DIR/watched-a.json
cp "$GOOD" "$WATCHED"
agent_start a --plan "$WATCHED"
expect_ok "a's agent runs" sim_wait_until 10 grep -q "running plan revision $REV" "$(sim_log_dir a)/agent.log"
head -c 300 "$GOOD" >"$WATCHED.new" && mv "$WATCHED.new" "$WATCHED"
expect_ok "the running agent keeps revision $REV and says why" \
  sim_wait_until 5 grep -q "keeping revision $REV: plan $WATCHED: not a plan document" "$(sim_log_dir a)/agent.log"
sleep 1
expect_ok "data plane untouched, wa reaches wb" untouched
expect_ok "the agent is still running" kill -0 "${AGENT_PID[a]}"
agent_stop a

# 4. c's state directory on a full file system.
PLAN_C=$SIM_DIR/plan-c.json
ctl plan c --json >"$PLAN_C"
sim_exec_bg c agent.log "$BIN/overlay-agent" run --plan "$PLAN_C" --state-dir "$FULL"
C_AGENT=$SIM_LAST_BG
WC=$(addr c wc)
expect_ok "c's agent (state on a 512 KiB tmpfs) connects wc to wa" \
  sim_wait_until 20 sim_netns_exec c wl-wc ping -6 -c1 -W1 "$(addr a wa)"
sim_exec c sh -c "dd if=/dev/zero of='$FULL/filler' bs=4k 2>/dev/null; true"
expect_eq "c's state directory is full" 0 sim_exec c sh -c "df --output=avail -k '$FULL' | tail -n1 | tr -d ' '"
ctl workload add wc2 --network net1 --node c >/dev/null
ctl plan c --json >"$PLAN_C.new" && mv "$PLAN_C.new" "$PLAN_C"
expect_ok "the new plan is refused: the state directory is full" \
  sim_wait_until 5 grep -q "keeping revision .*No space left on device" "$(sim_log_dir c)/agent.log"
expect_fail "wc2 was not built from a plan that could not be kept" sim_exec c ip netns exec wl-wc2 true
expect_ok "c still reaches wa" sim_netns_exec c wl-wc ping -6 -c1 -W1 "$(addr a wa)"
C_NS=$(jq -r '.networks[0].namespace' "$PLAN_C"); C_PREFIX=$(jq -r '.networks[0].prefix' "$PLAN_C")
sim_netns_exec c "$C_NS" ip -6 route del "$C_PREFIX"
c_route() { sim_netns_exec c "$C_NS" ip -6 route show "$C_PREFIX" | grep -q dev; }
expect_ok "with the disk full a deleted route is still restored" sim_wait_until 3 c_route
expect_ok "the agent still runs" kill -0 "$C_AGENT"
once_full() { ! agent_c run --once --plan "$PLAN_C" 2>&1; }
expect_output "--once with the disk full: the error names the file and ENOSPC" \
  "^error: write $FULL/applied-plan.json(.tmp)?: No space left on device" once_full
sim_exec c rm -f "$FULL/filler"
touch "$PLAN_C"
expect_ok "with space again (and the plan file touched) wc2 is built" \
  sim_wait_until 10 sim_exec c ip netns exec wl-wc2 true

# Files are owner-only: under umask 000 the database and its missing parents are created 0600 and
# 0700; a database, an identity or a state directory opened to others is refused, named, and kept.
PERM=$SIM_DIR/perm
(umask 000 && "$BIN/overlayctl" --db "$PERM/a/b/c.db" network create x >/dev/null)
modes() { stat -c '%a' "$PERM" "$PERM/a" "$PERM/a/b" "$PERM/a/b/c.db" | tr '\n' ' '; }
expect_eq "umask 000: the database 0600, its new parent directories 0700" "700 700 700 600 " modes
chmod 644 "$PERM/a/b/c.db"
expect_output "a database others may read is refused, with the fix" \
  "database $PERM/a/b/c.db is open to other users \(mode 644\).*chmod 600" \
  sh -c "! '$BIN/overlayctl' --db '$PERM/a/b/c.db' network list 2>&1"
STATE=$SIM_DIR/perm-state
mkdir -m 700 "$STATE"
"$BIN/overlay-agent" init --state-dir "$STATE" >/dev/null
chmod 644 "$STATE/identity.key"
expect_output "an identity others may read is refused, with the fix" \
  "$STATE/identity.key is open to other users \(mode 644\); refused: chmod 600" \
  sh -c "! '$BIN/overlay-agent' init --state-dir '$STATE' 2>&1"
chmod 600 "$STATE/identity.key"
chmod 777 "$STATE"
expect_output "a state directory others may write to is refused, with the fix" \
  "$STATE is open to other users \(mode 777\); refused: chmod 700" \
  sh -c "! '$BIN/overlay-agent' init --state-dir '$STATE' 2>&1"
sim_summary
