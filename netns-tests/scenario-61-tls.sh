#!/usr/bin/env bash
# scenario-61: the controller over HTTPS. `overlayd serve` on node `ctl` makes its self-signed
# certificate on first start (ECDSA P-256, key 0600, SANs for its address and --tls-name).
# Proves, with real TLS clients (curl, openssl s_client): the certificate is what overlayd
# reports; curl pinned by --cacert or --pinnedpubkey is served and a wrong pin is refused; plain
# HTTP gets no answer on the TLS port; --plain-http refuses a non-loopback address. Agents join
# over HTTPS with the join token alone (it carries the fingerprint) and carry traffic; a token
# with a wrong fingerprint does not join and overlayctl with a wrong fingerprint names both.
# Rotation: a staged certificate is announced in signed plans, agents pin it, and after the
# switch they keep taking plans without a new join.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib/sim.sh
. lib/sim.sh
# shellcheck source=lib/overlay.sh
. lib/overlay.sh

sim_init tls
sim_node ctl
sim_node a
sim_node b
DB="$SIM_DIR/overlay.db"
CTL_IP=$(sim_public_addr ctl)

controller_start ctl "$CTL_PORT" --tls-name ctl.overlay.test
expect_ok "overlayd made its key 0600" sh -c "[ \"\$(stat -c %a '$DB.tls-key')\" = 600 ]"
expect_output "overlayd logs the HTTPS URL and the fingerprint it serves" \
  "url=https://$CTL_IP:$CTL_PORT.*fingerprint=$CTL_FINGERPRINT|fingerprint=$CTL_FINGERPRINT.*url=https://$CTL_IP:$CTL_PORT" \
  cat "$(sim_log_dir ctl)/overlayd.log"

# What a TLS client sees: openssl s_client.
presented() { sim_exec a sh -c "openssl s_client -connect $CTL_IP:$CTL_PORT </dev/null 2>/dev/null | openssl x509 $*"; }
# openssl prints SHA256 Fingerprint=AB:CD:...; overlayd prints sha256:abcd...
openssl_fp() { presented -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f' | sed 's/^/sha256:/'; }
expect_eq "openssl s_client sees the certificate overlayd fingerprints" "$CTL_FINGERPRINT" openssl_fp
expect_output "the key is ECDSA P-256" 'prime256v1|P-256' presented -noout -text
sans() { presented -noout -ext subjectAltName | tr -d '\n'; }
expect_output "SANs: the listen address and --tls-name" \
  "IP Address:$CTL_IP.*DNS:ctl.overlay.test|DNS:ctl.overlay.test.*IP Address:$CTL_IP" sans

# curl: pinned by the certificate (hostname checked against the SANs) or by the public key.
expect_eq "curl --cacert: /healthz answers 200" 200 \
  sim_exec a curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$CTL_CA" "$CTL_URL/healthz"
expect_eq "curl --cacert by the DNS name in the SANs" 200 \
  sim_exec a curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$CTL_CA" \
  --resolve "ctl.overlay.test:$CTL_PORT:$CTL_IP" "https://ctl.overlay.test:$CTL_PORT/healthz"
PKH=$(openssl x509 -in "$CTL_CA" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
expect_eq "curl --pinnedpubkey with the right key: 200" 200 \
  sim_exec a curl -sk -o /dev/null -w '%{http_code}' --max-time 5 --pinnedpubkey "sha256//$PKH" "$CTL_URL/healthz"
WRONG_PKH=$(head -c 32 /dev/zero | base64)
expect_fail "curl --pinnedpubkey with another key is refused" \
  sim_exec a curl -sk -o /dev/null --max-time 5 --pinnedpubkey "sha256//$WRONG_PKH" "$CTL_URL/healthz"
expect_fail "curl without a pin does not trust the self-signed certificate" \
  sim_exec a curl -s -o /dev/null --max-time 5 "$CTL_URL/healthz"
expect_fail "plain HTTP on the TLS port gets no HTTP answer" \
  sim_exec a curl -sf -o /dev/null --max-time 5 "http://$CTL_IP:$CTL_PORT/healthz"
expect_output "--plain-http refuses a non-loopback listen address" "plain-http serves loopback only, not '$CTL_IP'" \
  sh -c "'$BIN/overlayd' serve --db '$SIM_DIR/other.db' --listen '$CTL_IP:7801' --plain-http 2>&1; true"

# overlayctl: the right fingerprint works; a wrong one is refused naming both.
WRONG=sha256:$(printf '%064d' 0)
# pinned_ctl FINGERPRINT ARGS...: overlayctl from node a pinned to FINGERPRINT; its output whatever the status.
pinned_ctl() {
  local f=$1; shift
  sim_exec a "$BIN/overlayctl" --controller "$CTL_URL" --token "$CTL_TOKEN" --fingerprint "$f" "$@" 2>&1 || true
}
expect_output "overlayctl with a wrong fingerprint names the expected and the presented one" \
  "presents a certificate with fingerprint $CTL_FINGERPRINT, expected $WRONG" pinned_ctl "$WRONG" network list
expect_ok "overlayctl --ca works too" \
  sim_exec a env OVERLAY_CA="$CTL_CA" "$BIN/overlayctl" --controller "$CTL_URL" --token "$CTL_TOKEN" network list
expect_ok "remote overlayctl (pinned by OVERLAY_FINGERPRINT) creates the network" \
  sim_exec a env OVERLAY_FINGERPRINT="$CTL_FINGERPRINT" "$BIN/overlayctl" --controller "$CTL_URL" \
  --token "$CTL_TOKEN" network create net1

# Agents join over HTTPS with the token alone.
for n in a b; do rctl node add "$n" --public-address "$(sim_public_addr "$n")" --hub >/dev/null; done
declare -A TOKEN
for n in a b; do TOKEN[$n]=$(rctl node join-token "$n" --expires 10m | tail -n1); done
# A token whose fingerprint is another certificate's: the agent refuses the controller.
mkdir -p "$SIM_DIR/intruder" && chmod 700 "$SIM_DIR/intruder"
OTHER_FP=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
wrong_join() {
  sim_exec a timeout 20 "$BIN/overlay-agent" run --state-dir "$SIM_DIR/intruder" --controller "$CTL_URL" \
    --join "${TOKEN[a]%%.*}.$OTHER_FP" 2>&1 || true
}
expect_output "a token with a wrong fingerprint does not join: the agent names both fingerprints" \
  "presents a certificate with fingerprint $CTL_FINGERPRINT, expected sha256:" wrong_join
# The same token with the right fingerprint still joins below: the refused attempt did not use it.
for n in a b; do agent_start "$n" --controller "$CTL_URL" --join "${TOKEN[$n]}"; done
for n in a b; do
  expect_ok "agent on $n joined over HTTPS and pinned the certificate from the token" \
    sim_wait_until 20 grep -q "joined $CTL_URL as node $n; pinned controller key .*; pinned certificate $CTL_FINGERPRINT" \
    "$(sim_log_dir "$n")/agent.log"
done
for n in a b; do rctl workload add "w$n" --network net1 --node "$n" >/dev/null; done
wl_addr() { "$BIN/overlayctl" --db "$DB" plan "$1" --json | jq -r --arg w "$2" '.networks[].workloads[] | select(.name == $w) | .address'; }
pings() { sim_netns_exec "$1" "wl-$2" ping -6 -c1 -W1 "$3"; }
expect_ok "wa reaches wb (plans delivered over HTTPS)" sim_wait_until 30 pings a wa "$(wl_addr b wb)"
expect_ok "wb reaches wa" sim_wait_until 10 pings b wb "$(wl_addr a wa)"

# Rotation: stage the next certificate, announce it, switch, and no node joins again.
OLD_FP=$CTL_FINGERPRINT
NEXT_FP=$("$BIN/overlayd" tls stage --db "$DB")
expect_output "the staged key is 0600 too" '^600$' stat -c %a "$DB.tls-next-key"
controller_stop
controller_start ctl "$CTL_PORT"
expect_eq "after the restart overlayd still serves the current certificate" "$OLD_FP" openssl_fp
for n in a b; do
  expect_ok "agent on $n pinned the announced certificate" \
    sim_wait_until 40 grep -q "pinned the controller's announced certificates: $OLD_FP, $NEXT_FP" "$(sim_log_dir "$n")/agent.log"
  expect_eq "agent on $n keeps both fingerprints in its state directory" "$OLD_FP $NEXT_FP" \
    sh -c "jq -r '.tlsFingerprints | join(\" \")' '$(sim_state_dir "$n")/controller.json'"
done
expect_eq "overlayd tls promote makes the staged certificate current" "$NEXT_FP" "$BIN/overlayd" tls promote --db "$DB"
controller_stop
controller_start ctl "$CTL_PORT"
expect_eq "overlayd serves the new certificate" "$NEXT_FP" openssl_fp
expect_eq "the new certificate is the one overlayd fingerprints" "$NEXT_FP" echo "$CTL_FINGERPRINT"
rctl workload add wa2 --network net1 --node a >/dev/null
expect_ok "after the switch a change reaches a: wb reaches the new wa2" \
  sim_wait_until 40 pings b wb "$(wl_addr a wa2)"
for n in a b; do
  expect_eq "agent on $n joined once only" 1 grep -c "joined $CTL_URL" "$(sim_log_dir "$n")/agent.log"
done
expect_output "a client that pinned only the old certificate is refused" \
  "presents a certificate with fingerprint $NEXT_FP, expected $OLD_FP" pinned_ctl "$OLD_FP" network list

sim_summary
