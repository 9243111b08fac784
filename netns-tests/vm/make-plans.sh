#!/usr/bin/env bash
# make-plans.sh BIN DB OUT: on the host, two nodes' identities (`overlay-agent init`) and their
# plans (`overlayctl plan NODE --json`) for the VM scenario:
#   revision 1: network net1 over hub a (192.0.2.2) and node b (192.0.2.3), workloads wa and wb;
#   revision 2: an access peer `laptop` on hub a: one more peer on a, one changed peer on b.
# Writes OUT/state/{a,b} (0700, identity 0600), OUT/plans/{a,b}-{1,2}.json, the peers each
# device must hold as `wg show dump` prints them (OUT/plans/NODE-REV.expect: public key,
# endpoint, sorted AllowedIPs, keepalive) and OUT/env (names and addresses for the guest).
set -euo pipefail
BIN=$1 DB=$2 OUT=$3
# overlayctl runs here on the host, so any build of it does (CTL; default: the one beside the agent).
CTL=${CTL:-$BIN/overlayctl}
ctl() { "$CTL" --db "$DB" "$@"; }
mkdir -p "$OUT/state" "$OUT/plans"
chmod 0700 "$OUT/state"

ctl network create net1 >/dev/null
ctl node add a --identity "$("$BIN/overlay-agent" init --state-dir "$OUT/state/a")" --public-address 192.0.2.2 --hub >/dev/null
ctl node add b --identity "$("$BIN/overlay-agent" init --state-dir "$OUT/state/b")" --public-address 192.0.2.3 >/dev/null
ctl workload add wa --network net1 --node a >/dev/null
ctl workload add wb --network net1 --node b >/dev/null

expect() {  # PLAN.json -> the peers in `wg show dump` terms, sorted
  jq -r '.networks[0].peers[] | [.publicKey, (.endpoint // "(none)"), (.allowedIPs | sort | join(",")),
         (if (.persistentKeepalive // 0) == 0 then "off" else (.persistentKeepalive | tostring) end)] | join(" ")' "$1" \
    | LC_ALL=C sort
}
plans() {
  local rev=$1 n
  for n in a b; do
    ctl plan "$n" --json >"$OUT/plans/$n-$rev.json"
    expect "$OUT/plans/$n-$rev.json" >"$OUT/plans/$n-$rev.expect"
  done
}
plans 1
ctl access add laptop --network net1 --hub a >/dev/null  # the generated wg-quick file is not needed
plans 2

q() { jq -r "$1" "$OUT/plans/a-1.json"; }
{
  echo "NET_ID=$(q '.networks[0].id')"
  echo "PORT_A=$(q '.networks[0].listenPort')"
  echo "KEY_A=$(q '.networks[0].publicKey')"
  echo "ADDR_A=$(q '.networks[0].workloads[0].address')"
  echo "ADDR4_A=$(q '.networks[0].workloads[0].ipv4Address')"
  echo "PREFIX4=$(q '.networks[0].ipv4.prefix')"
  echo "PORT_B=$(jq -r '.networks[0].listenPort' "$OUT/plans/b-1.json")"
  echo "KEY_B=$(jq -r '.networks[0].publicKey' "$OUT/plans/b-1.json")"
  echo "ADDR_B=$(jq -r '.networks[0].workloads[0].address' "$OUT/plans/b-1.json")"
  for n in a b; do for rev in 1 2; do echo "REV_${n}_$rev=$(jq -r '.revision' "$OUT/plans/$n-$rev.json")"; done; done
} >"$OUT/env"
