#!/usr/bin/env bash
# Runs every shell scenario in netns-tests/ (root). Each scenario cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" != 0 ]; then echo "netns-tests: skipped (needs root)"; exit 0; fi
pass=0; fail=0
for t in scenario-*.sh; do
  [ -e "$t" ] || continue
  if bash "$t"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAILED: $t"; fi
done
echo "netns scenarios: $pass passed, $fail failed"
[ "$fail" = 0 ]
