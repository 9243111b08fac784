#!/usr/bin/env bash
# scenario-75: a controller outgrows SQLite. A throwaway PostgreSQL runs on simulated host db
# (clients authenticate with a password); one `overlayd serve` on a SQLite file on host r1 has
# three nodes (hubs a and b, h hidden behind NAT) joined with both replica URLs and traffic
# flowing. It is stopped, `overlayd migrate` copies its state into PostgreSQL, and two replicas
# (r1 with PGPASSWORD, r2 with a 0600 --db-password-file) serve that database with the SQLite
# controller's signing key and certificate.
# Proves, on that one set-up:
# - after the migration the agents carry on with no re-join, an unchanged join record and no action
#   on the data plane, and a change made then becomes traffic;
# - changes made on either replica reach every agent; a token made on PostgreSQL works;
# - 16 concurrent `workload add`s, 8 on each replica, all succeed with 16 distinct addresses;
# - SIGKILL of the replica holding the long-polls: pings run through without loss, the agents move
#   to the survivor, the CLI carries on, and a change made then becomes traffic;
# - PostgreSQL stopped and started again: pings run through without loss and no agent changes its
#   data plane; admin writes answer 503 on both replicas while it is down (the long-polls stay
#   held) and succeed afterwards without restarting overlayd, and reach traffic.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh
# shellcheck source=lib/postgres.sh
. lib/postgres.sh
unset PGPASSWORD
if [ "${OVERLAY_SKIP_POSTGRES:-0}" = 1 ]; then echo "scenario-75: skipped (OVERLAY_SKIP_POSTGRES=1)"; exit 0; fi

sim_init postgres
NODES=(a b h)
sim_node db
sim_node r1
sim_node r2
sim_node a
sim_node b
sim_node h --hidden

PW=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
PWFILE=$SIM_DIR/pg-password
(umask 077 && echo "$PW" >"$PWFILE")
pg_start --exec "sim_exec db" --listen "$(sim_public_addr db)" --port 5432 --password "$PW" >/dev/null
PGURL=$OVERLAY_TEST_POSTGRES

DB=$SIM_DIR/overlay.db
KEY=$DB.controller-key
CERT=$DB.tls-cert
PORT=7800
declare -A URL PID
for r in r1 r2; do URL[$r]="https://$(sim_public_addr "$r"):$PORT"; done

# --- The SQLite controller on r1, three agents joined, traffic ---------------------------------
TOKEN=$("$BIN/overlayd" token create --db "$DB" | tail -n1)
# Its self-signed certificate covers r2 too: the replicas serve it after the migration.
sim_exec_bg r1 overlayd-sqlite.log "$BIN/overlayd" serve --db "$DB" --listen "$(sim_public_addr r1):$PORT" \
  --tls-name "$(sim_public_addr r1)" --tls-name "$(sim_public_addr r2)"
SQLITE_PID=$SIM_LAST_BG
expect_ok "the SQLite controller serves on ${URL[r1]}" sim_wait_until 30 sim_tcp r1 "$(sim_public_addr r1)" "$PORT"
FP=$("$BIN/overlayd" tls fingerprint --db "$DB")

# CLIs on node b: both replicas (r1 first), or only one of them.
cli() { sim_exec b "$BIN/overlayctl" --token "$TOKEN" --fingerprint "$FP" "$@"; }
rctl() { cli --controller "${URL[r1]},${URL[r2]}" "$@"; }
r1ctl() { cli --controller "${URL[r1]}" "$@"; }
r2ctl() { cli --controller "${URL[r2]}" "$@"; }
rctl network create net1 >/dev/null
rctl node add a --public-address "$(sim_public_addr a)" --hub >/dev/null
rctl node add b --public-address "$(sim_public_addr b)" --hub >/dev/null
rctl node add h >/dev/null
for n in "${NODES[@]}"; do
  agent_start "$n" --controller "${URL[r1]},${URL[r2]}" --join "$(rctl node join-token "$n" --expires 10m | tail -n1)"
done
for n in "${NODES[@]}"; do
  expect_ok "agent on $n joined the SQLite controller" \
    sim_wait_until 20 grep -q "joined ${URL[r1]} as node $n" "$(sim_log_dir "$n")/agent.log"
done
for n in "${NODES[@]}"; do rctl workload add "w$n" --network net1 --node "$n" >/dev/null; done
declare -A ADDR
wl_addr() { rctl workload show "$1" --json | jq -r .address; }
pings() { sim_netns_exec "$1" "wl-$2" ping -6 -n -c1 -W1 "$3"; }
for n in "${NODES[@]}"; do ADDR[w$n]=$(wl_addr "w$n"); done
expect_ok "wa reaches wh on the SQLite controller" sim_wait_until 40 pings a wa "${ADDR[wh]}"
expect_ok "wh reaches wb on the SQLite controller" sim_wait_until 20 pings h wh "${ADDR[wb]}"

# LINES[n]: agent n's log length at a mark; logged_since n REGEX: what it logged after the mark.
declare -A LINES
mark() { local n; for n in "${NODES[@]}"; do LINES[$n]=$(wc -l <"$(sim_log_dir "$n")/agent.log"); done; }
logged_since() { tail -n +$((LINES[$1] + 1)) "$(sim_log_dir "$1")/agent.log" | grep -E "$2" || true; }
# polls_at REPLICA: established connections to REPLICA's port (each agent's long-poll holds one).
polls_at() { sim_exec "$1" ss -Htn state established "( sport = :$PORT )" | wc -l; }
polls_total_at_least() { [ $(($(polls_at r1) + $(polls_at r2))) -ge "$1" ]; }
# ping_loop NODE WL ADDR LOG COUNT: COUNT pings every 0.2 s from workload WL, in the background.
declare -a LOOPS=()
ping_loop() {
  sim_exec_bg "$1" "$4" ip netns exec "wl-$2" ping -6 -n -i 0.2 -c "$5" "$3"
  LOOPS+=("$SIM_LAST_BG")
}
loops_done() { local p; for p in "${LOOPS[@]}"; do wait "$p" || true; done; LOOPS=(); }
# serve_replica R: `overlayd serve` on PostgreSQL on host R, with the SQLite controller's key and
# certificate; r1 has the password in PGPASSWORD, r2 in the 0600 file.
serve_replica() {
  local r=$1
  local serve=("$BIN/overlayd" serve --db "$PGURL" --key "$KEY" --tls-cert "$CERT" --tls-key "$DB.tls-key"
    --listen "$(sim_public_addr "$r"):$PORT")
  if [ "$r" = r1 ]; then
    PGPASSWORD=$PW sim_exec_bg r1 overlayd.log "${serve[@]}"
  else
    sim_exec_bg "$r" overlayd.log "${serve[@]}" --db-password-file "$PWFILE"
  fi
  PID[$r]=$SIM_LAST_BG
}

# --- Migration: stop the SQLite controller, copy, two replicas on PostgreSQL ------------------
before=$(sha256sum "$(sim_state_dir a)/controller.json" | cut -d' ' -f1)
mark
sim_bg_stop "$SQLITE_PID"
out=$(sim_exec r2 "$BIN/overlayd" token list --db "$PGURL" 2>&1) && rc=0 || rc=$?
expect_ok "overlayd without the database password fails" test "$rc" != 0
expect_output "saying the server asks for a password and where it goes" 'password.*PGPASSWORD or --db-password-file' echo "$out"
cp "$PWFILE" "$PWFILE.open" && chmod 644 "$PWFILE.open"
out=$(sim_exec r2 "$BIN/overlayd" token list --db "$PGURL" --db-password-file "$PWFILE.open" 2>&1) && rc=0 || rc=$?
expect_ok "a password file others may read is refused" test "$rc" != 0
expect_output "naming the file and its mode" "$PWFILE.open.*mode is 644.*chmod 600" echo "$out"
expect_output "overlayd migrate copies the SQLite controller into PostgreSQL" "^copied $DB " \
  sim_exec r1 "$BIN/overlayd" migrate --from "$DB" --to "$PGURL" --db-password-file "$PWFILE"
for r in r1 r2; do
  serve_replica "$r"
  expect_ok "replica $r serves PostgreSQL on ${URL[$r]}" sim_wait_until 30 sim_tcp "$r" "$(sim_public_addr "$r")" "$PORT"
done
expect_eq "the replicas sign with the SQLite controller's key" 1 \
  sh -c "grep -ho 'controllerKey=[^ ]*' '$(sim_log_dir r1)/overlayd-sqlite.log' '$(sim_log_dir r1)/overlayd.log' '$(sim_log_dir r2)/overlayd.log' | sort -u | wc -l"
expect_ok "all three agents long-poll the replicas again" sim_wait_until 20 polls_total_at_least 3
sleep 1
for n in "${NODES[@]}"; do
  expect_eq "agent on $n did not join again after the migration" "" logged_since "$n" 'joined '
  expect_eq "agent on $n changed nothing on the data plane for the migration" "" logged_since "$n" 'applied [0-9]+ actions'
done
expect_eq "a's join record is unchanged (pinned key, certificate, replicas)" "$before" \
  sh -c "sha256sum '$(sim_state_dir a)/controller.json' | cut -d' ' -f1"
expect_output "the replicas list what the SQLite controller held" '^wh ' rctl workload list
rctl workload add wa2 --network net1 --node a >/dev/null
ADDR[wa2]=$(wl_addr wa2)
expect_ok "wb reaches wa2, added after the migration" sim_wait_until 20 pings b wb "${ADDR[wa2]}"
expect_ok "wh reaches wa2" sim_wait_until 20 pings h wh "${ADDR[wa2]}"

# --- Changes on either replica reach every agent ----------------------------------------------
r1ctl workload add wb2 --network net1 --node b >/dev/null
r2ctl workload add wh2 --network net1 --node h >/dev/null
ADDR[wb2]=$(wl_addr wb2)
ADDR[wh2]=$(wl_addr wh2)
expect_ok "wa reaches wb2 (added on r1)" sim_wait_until 20 pings a wa "${ADDR[wb2]}"
expect_ok "wh reaches wb2 (added on r1)" sim_wait_until 20 pings h wh "${ADDR[wb2]}"
expect_ok "wa reaches wh2 (added on r2)" sim_wait_until 20 pings a wa "${ADDR[wh2]}"
expect_ok "wb reaches wh2 (added on r2)" sim_wait_until 20 pings b wb "${ADDR[wh2]}"
PGTOKEN=$(sim_exec r2 "$BIN/overlayd" token create --db "$PGURL" --db-password-file "$PWFILE" | tail -n1)
expect_output "a token made on PostgreSQL works on r1" '^net1 ' \
  sim_exec b "$BIN/overlayctl" --controller "${URL[r1]}" --token "$PGTOKEN" --fingerprint "$FP" network list

# --- 16 concurrent workload adds, 8 on each replica -------------------------------------------
pids=()
for i in $(seq 1 16); do
  if [ $((i % 2)) = 1 ]; then c=r1ctl; else c=r2ctl; fi
  n=${NODES[$((i % 3))]}
  ($c workload add "c$i" --network net1 --node "$n" >"$SIM_DIR/c$i.out" 2>&1; echo $? >"$SIM_DIR/c$i.rc") &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
expect_eq "16 concurrent workload adds over both replicas all succeed" 16 sh -c "cat '$SIM_DIR'/c*.rc | grep -cx 0"
for i in $(seq 1 16); do
  [ "$(cat "$SIM_DIR/c$i.rc")" = 0 ] || sed "s/^/# c$i: /" "$SIM_DIR/c$i.out"
done
cwl() { rctl workload list --json | jq -r --arg f "$1" '.[] | select(.name | test("^c[0-9]+$")) | .[$f]' | sort -u | wc -l; }
expect_eq "they hold 16 distinct IPv6 addresses" 16 cwl address
expect_eq "and 16 distinct IPv4 addresses" 16 cwl ipv4Address
ADDR[c16]=$(wl_addr c16)
expect_ok "wa reaches c16 (on ${NODES[1]})" sim_wait_until 20 pings a wa "${ADDR[c16]}"

# --- SIGKILL the replica holding most long-polls ----------------------------------------------
expect_ok "the agents' long-polls are held" sim_wait_until 10 polls_total_at_least 3
if [ "$(polls_at r1)" -ge "$(polls_at r2)" ]; then dead=r1 live=r2; else dead=r2 live=r1; fi
echo "# long-polls: r1 $(polls_at r1), r2 $(polls_at r2); killing $dead"
mark
ping_loop a wa "${ADDR[wh]}" ping-kill.log 40
ping_loop h wh "${ADDR[wb]}" ping-kill.log 40
sleep 1
sim_bg_stop "${PID[$dead]}" KILL
live_holds_all() { [ "$(polls_at "$live")" -ge 3 ]; }
expect_ok "$live holds the long-polls of all three agents within 10 s of the kill" sim_wait_until 10 live_holds_all
expect_output "overlayctl with both replicas carries on through $live" '^net1 ' rctl network list
rctl workload add wb3 --network net1 --node b >/dev/null
ADDR[wb3]=$(wl_addr wb3)
expect_ok "wa reaches wb3, added after the kill" sim_wait_until 20 pings a wa "${ADDR[wb3]}"
expect_ok "wh reaches wb3" sim_wait_until 20 pings h wh "${ADDR[wb3]}"
loops_done
for n in a h; do
  expect_output "pings from $n ran through the kill without loss" ' 0% packet loss' cat "$(sim_log_dir "$n")/ping-kill.log"
done
for n in "${NODES[@]}"; do
  expect_eq "agent on $n did not join again after the kill" "" logged_since "$n" 'joined '
done
# Back to two replicas for the database restart.
serve_replica "$dead"
expect_ok "replica $dead serves again" sim_wait_until 30 sim_tcp "$dead" "$(sim_public_addr "$dead")" "$PORT"

# --- PostgreSQL stopped and started again -----------------------------------------------------
post_workload() {  # post_workload REPLICA NAME: the HTTP status of an admin write
  sim_exec b curl -s -o "$SIM_DIR/post.out" -w '%{http_code}' --max-time 10 --cacert "$CERT" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"name\":\"$2\",\"network\":\"net1\",\"node\":\"a\"}" "${URL[$1]}/v1/workloads"
}
mark
ping_loop a wa "${ADDR[wh]}" ping-pg.log 50
ping_loop h wh "${ADDR[wb]}" ping-pg.log 50
sleep 1
pg_server_stop
down=$(date +%s%N)
for r in r1 r2; do
  expect_eq "an admin write on $r answers 503 while PostgreSQL is down" 503 post_workload "$r" "down$r"
  expect_output "its message names the unavailable database" 'unavailable' cat "$SIM_DIR/post.out"
done
out=$(rctl workload add down3 --network net1 --node a 2>&1 || true)
expect_output "overlayctl says the database is unavailable" 'unavailable.*try again' echo "$out"
expect_ok "the replicas keep holding the agents' long-polls" polls_total_at_least 3
sleep 2
pg_server_start
echo "# PostgreSQL down for $((($(date +%s%N) - down) / 1000000)) ms"
expect_ok "the replicas answer again once PostgreSQL is back (no restart)" sim_wait_until 30 rctl network list
for n in "${NODES[@]}"; do
  expect_eq "agent on $n changed nothing on the data plane through the restart" "" logged_since "$n" 'applied [0-9]+ actions'
done
expect_ok "an admin write on r1 succeeds again" r1ctl workload add up1 --network net1 --node a
expect_ok "an admin write on r2 succeeds again" r2ctl workload add up2 --network net1 --node h
downs() { rctl workload list | grep -E '^down' || true; }
expect_eq "the writes refused while it was down changed nothing" "" downs
ADDR[up1]=$(wl_addr up1)
ADDR[up2]=$(wl_addr up2)
expect_ok "wb reaches up1, added after the restart" sim_wait_until 20 pings b wb "${ADDR[up1]}"
expect_ok "wb reaches up2" sim_wait_until 20 pings b wb "${ADDR[up2]}"
loops_done
for n in a h; do
  expect_output "pings from $n ran through the PostgreSQL restart without loss" ' 0% packet loss' \
    cat "$(sim_log_dir "$n")/ping-pg.log"
done
sim_summary
