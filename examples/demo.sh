#!/usr/bin/env bash
# The demo: an operator defines a network across four nodes (two hubs, one public node, one node
# hidden behind NAT) with overlayctl, then looks at the plans every node's agent will realise and
# at the topology. Everything runs locally against a SQLite file in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/debug}
work=$(mktemp -d /tmp/overlay-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
export OVERLAY_DB="$work/overlay.db"
ctl() { echo "\$ overlayctl $*"; "$BIN/overlayctl" "$@"; echo; }

echo "# Each node's agent creates its identity; the operator registers the public keys."
for n in hub-eu hub-us edge-1 home-1; do
  "$BIN/overlay-agent" init --state-dir "$work/state-$n" > "$work/$n.pub"
  echo "overlay-agent init --state-dir $work/state-$n  ->  $(cat "$work/$n.pub")"
done
echo

ctl network create shop --prefix fd5a:17e0:c0de::/48
ctl node add hub-eu --identity "$(cat "$work/hub-eu.pub")" --public-address 192.0.2.10 --hub --region eu
ctl node add hub-us --identity "$(cat "$work/hub-us.pub")" --public-address 198.51.100.20 --hub --region us
ctl node add edge-1 --identity "$(cat "$work/edge-1.pub")" --public-address 2001:db8::30 --region eu
ctl node add home-1 --identity "$(cat "$work/home-1.pub")" --region eu
ctl workload add web --network shop --node edge-1 --expose tcp/80
ctl workload add db --network shop --node home-1
ctl node list
ctl network show shop

echo "# What the hidden node builds: it dials both hubs, the primary carries the whole /48."
ctl plan home-1
echo "# What a hub builds: the full mesh plus the hidden node it relays for."
ctl plan hub-eu
echo "# A laptop gets in through a hub; its private key is printed once and never stored."
ctl access add alice-laptop --network shop --hub hub-eu

echo "# Bad input is refused, naming the value and what is allowed; nothing changes."
ctl workload add web2 --network shop --node nowhere || true
ctl node add bad --identity not-a-key || true
ctl node remove edge-1 || true

echo "# The topology (Graphviz DOT; 'dot -Tsvg' draws it)."
ctl graph shop

echo "# The same kind of network, declared in a file; re-applying it changes nothing."
sed -e "s|@HUB@|$(cat "$work/hub-eu.pub")|" examples/topology.yaml > "$work/topology.yaml"
ctl apply -f "$work/topology.yaml" --dry-run
ctl apply -f "$work/topology.yaml"
ctl apply -f "$work/topology.yaml"
echo "# The agent's input: 'overlayctl plan NODE --json' (first lines)."
# Whole into a file first: head closing the pipe early would end overlayctl with SIGPIPE.
"$BIN/overlayctl" plan edge-1 --json >"$work/edge-1.plan.json"
head -25 "$work/edge-1.plan.json"
