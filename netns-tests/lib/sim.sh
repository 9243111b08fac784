# shellcheck shell=bash
# netns-tests/lib/sim.sh — simulated nodes for the overlay's integration scenarios.
#
# Source it from a scenario (as root):
#
#     set -euo pipefail
#     . "$(dirname "$0")/lib/sim.sh"
#     sim_init mytest
#     sim_node a; sim_node b; sim_node h --hidden
#     expect_ok "a reaches b" sim_ping a "$(sim_public_addr b)"
#     sim_summary
#
# Or run it directly: `bash sim.sh leaks [PREFIX]` lists anything a (possibly killed) run left.
#
# Model (see netns-tests/README.md for the full API):
# - Every simulated machine (node, home router, the "internet") is one *holder*: a process made by
#   `unshare --net --mount --pid --fork --mount-proc`. It owns a network namespace, a mount
#   namespace (with its own tmpfs on /run, so /run/netns and /run/wireguard are private, and its
#   own sysfs) and a PID namespace whose init is the holder's child. Commands run in it through
#   `nsenter --net --mount --pid`.
# - Why a PID namespace: killing the holder's init makes the kernel kill *every* process of the
#   node, including daemons nobody recorded (wireguard-go forks into the background by default, the
#   product will start its own). Their network and mount namespaces, and every named netns
#   bind-mounted in the node's private /run/netns, then go away with them. Nothing is ever created
#   in the host's namespaces: no host links, no host `ip netns` entries, no host nftables.
# - Why `setpriv --pdeathsig KILL` + `unshare --kill-child`: if the scenario itself is SIGKILLed
#   (no trap can run), its holders still die, and with them the nodes.
# - The "internet" is a holder with a bridge carrying 192.0.2.1/24, 198.51.100.1/24 and
#   2001:db8::1/64, forwarding on. Public nodes sit on it (192.0.2.N, 2001:db8::N); a hidden node
#   sits on 10.K.0.2/24 behind its own "home router" holder (198.51.100.N on the internet,
#   nftables masquerade, inbound connections dropped).

# ---------------------------------------------------------------------------------------------
# State (globals; this library is meant to be sourced by exactly one scenario shell).
SIM_PREFIX=""            # e.g. s3f9a; prefixes every link, holder tag and temp dir
SIM_TAG=""               # the TAG given to sim_init (for scenarios' own messages)
SIM_DIR=""               # per-test temp dir: <node>/state, logs
SIM_PASS=0
SIM_FAIL=0
SIM_CLEANED=0
SIM_ERR_FD=""            # dup of the scenario's stderr (set by sim_init)
SIM_LAST_BG=""           # host PID of the last sim_exec_bg job's nsenter (what sim_bg_stop takes)
SIM_PING_WAIT=${SIM_PING_WAIT:-1}   # seconds a ping probe waits for its reply
declare -gA SIM_INIT=()      # name -> host PID of the holder's init (nsenter target)
declare -gA SIM_HOLDER=()    # name -> host PID of the holder (setpriv/unshare, our child)
declare -gA SIM_KIND=()      # name -> node | hidden | router | internet
declare -gA SIM_PUB4=() SIM_PUB6=() SIM_LAN4=() SIM_ROUTER=()
declare -gA SIM_NSINO=()     # "net:<inode>" / "pid:<inode>" of every namespace we made -> owner
declare -ga SIM_BG_PIDS=()
declare -ga SIM_CLEANUP_HOOKS=()
declare -ga SIM_ORDER=()     # holder names in creation order
SIM_NEXT_PUB=2               # next host number on 192.0.2.0/24 / 198.51.100.0/24 / 2001:db8::/64
SIM_NEXT_LAN=1               # next K for a hidden node's 10.K.0.0/24

SIM_INET="@inet"             # holder name of the internet namespace
SIM_INET4=192.0.2.1
SIM_INET4_ALT=198.51.100.1
SIM_INET6=2001:db8::1

_sim_log() { echo "# sim: $*" >&"${SIM_ERR_FD:-2}"; }
_sim_die() { echo "# sim: FATAL: $*" >&"${SIM_ERR_FD:-2}"; return 1; }

# ---------------------------------------------------------------------------------------------
# Setup

# sim_init TAG — start a test: random prefix, temp dir, cleanup traps, the internet namespace.
sim_init() {
  local tag=${1:?usage: sim_init TAG}
  [ "$(id -u)" = 0 ] || _sim_die "needs root" || return 1
  [[ $tag =~ ^[A-Za-z0-9_.-]{1,40}$ ]] || _sim_die "bad tag '$tag'" || return 1
  [ -z "$SIM_PREFIX" ] || _sim_die "sim_init called twice" || return 1
  local i
  for i in 1 2 3 4 5; do
    SIM_PREFIX="s$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')"
    SIM_DIR="${TMPDIR:-/tmp}/simnet-$SIM_PREFIX-$tag"
    mkdir -m 700 "$SIM_DIR" 2>/dev/null && break
    SIM_DIR=""
  done
  [ -n "$SIM_DIR" ] || _sim_die "cannot create temp dir" || return 1
  # shellcheck disable=SC2034  # read by scenarios
  SIM_TAG=$tag
  echo $$ >"$SIM_DIR/owner.pid"
  _sim_gc_stale_dirs
  # EXIT covers normal ends and `set -e` failures; INT/TERM/HUP run the same cleanup and then
  # exit with the conventional 128+signal status (bash runs a trap only after the current
  # foreground command returns, which is why every probe here has a short timeout).
  # A copy of the scenario's stderr for the traps: a signal can arrive while an expect_* has
  # redirected stdout/stderr of a shell function into its capture file.
  exec {SIM_ERR_FD}>&2
  trap '_sim_on_exit' EXIT
  trap '_sim_on_signal INT 130' INT
  trap '_sim_on_signal TERM 143' TERM
  trap '_sim_on_signal HUP 129' HUP
  _sim_log "prefix $SIM_PREFIX, dir $SIM_DIR"

  _sim_holder "$SIM_INET" internet || return 1
  local br="${SIM_PREFIX}-br"
  # A fixed MAC: otherwise the bridge takes its lowest port's, and a node that goes away (its
  # veth with it) can change the gateway's MAC under every other node's neighbour cache.
  _sim_net "$SIM_INET" sh -ec "
    ip link set lo up
    ip link add $br address 02:53:49:4d:00:01 type bridge stp_state 0 forward_delay 0
    ip link set $br up
    ip addr add $SIM_INET4/24 dev $br
    ip addr add $SIM_INET4_ALT/24 dev $br
    ip -6 addr add $SIM_INET6/64 dev $br nodad
    sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  " || _sim_die "internet namespace setup failed" || return 1
}

# sim_node NAME [--hidden] — a simulated machine. Public: uplink eth0 on the internet bridge with
# 192.0.2.N/24 + 2001:db8::N/64 and default routes via the internet. Hidden: eth0 on a private
# LAN 10.K.0.2/24 behind a home router (198.51.100.N, masquerade, no inbound), IPv4 only.
sim_node() {
  local name=${1:?usage: sim_node NAME [--hidden]} hidden=0
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --hidden) hidden=1 ;;
      *) _sim_die "sim_node: unknown option $1"; return 1 ;;
    esac
    shift
  done
  [ -n "$SIM_PREFIX" ] || _sim_die "call sim_init first" || return 1
  # Link names are "<prefix>-<name>" / "<prefix>R<name>": 5+1+8 = 14 <= 15 (IFNAMSIZ-1).
  [[ $name =~ ^[a-z][a-z0-9]{0,7}$ ]] || _sim_die "node name '$name': use [a-z][a-z0-9]{0,7}" || return 1
  [ -z "${SIM_KIND[$name]:-}" ] || _sim_die "node $name exists" || return 1
  local n=$SIM_NEXT_PUB
  [ "$n" -lt 255 ] || _sim_die "out of addresses" || return 1
  SIM_NEXT_PUB=$((n + 1))
  local br="${SIM_PREFIX}-br"

  _sim_holder "$name" "$([ $hidden = 1 ] && echo hidden || echo node)" || return 1
  mkdir -p "$SIM_DIR/$name/state" "$SIM_DIR/$name/log"
  chmod 700 "$SIM_DIR/$name/state"

  if [ $hidden = 0 ]; then
    local up="${SIM_PREFIX}-${name}"
    # Created from inside the internet namespace (host PID namespace so the node's PID resolves),
    # the peer end lands directly in the node: no link ever exists on the host.
    _sim_net "$SIM_INET" sh -ec "
      ip link add $up type veth peer name eth0 netns ${SIM_INIT[$name]}
      ip link set $up master $br up
    " || _sim_die "uplink for $name failed" || return 1
    _sim_net "$name" sh -ec "
      ip link set eth0 up
      ip addr add 192.0.2.$n/24 dev eth0
      ip -6 addr add 2001:db8::$n/64 dev eth0 nodad
      ip route add default via $SIM_INET4
      ip -6 route add default via $SIM_INET6
    " || _sim_die "addressing $name failed" || return 1
    SIM_PUB4[$name]=192.0.2.$n
    SIM_PUB6[$name]=2001:db8::$n
  else
    local k=$SIM_NEXT_LAN r="@r-$name" wan="${SIM_PREFIX}R${name}"
    SIM_NEXT_LAN=$((k + 1))
    _sim_holder "$r" router || return 1
    SIM_ROUTER[$name]=$r
    _sim_net "$SIM_INET" sh -ec "
      ip link add $wan type veth peer name wan0 netns ${SIM_INIT[$r]}
      ip link set $wan master $br up
    " || _sim_die "router uplink for $name failed" || return 1
    _sim_net "$r" sh -ec "
      ip link add lan0 type veth peer name eth0 netns ${SIM_INIT[$name]}
      ip link set wan0 up
      ip link set lan0 up
      ip addr add 198.51.100.$n/24 dev wan0
      ip addr add 10.$k.0.1/24 dev lan0
      ip route add default via $SIM_INET4_ALT
      sysctl -qw net.ipv4.ip_forward=1
    " || _sim_die "router for $name failed" || return 1
    # A typical home router: LAN may go out (masqueraded), nothing may come in unless it belongs
    # to a connection the LAN opened. The table lives in the router's own netns only.
    _sim_net "$r" nft -f - <<'EOF' || { _sim_die "router nftables for $name failed"; return 1; }
table ip homerouter {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" masquerade
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan0" oifname "wan0" accept
  }
}
EOF
    _sim_net "$name" sh -ec "
      ip link set eth0 up
      ip addr add 10.$k.0.2/24 dev eth0
      ip route add default via 10.$k.0.1
    " || _sim_die "addressing $name failed" || return 1
    SIM_PUB4[$r]=198.51.100.$n
    SIM_LAN4[$name]=10.$k.0.2
  fi
}

# ---------------------------------------------------------------------------------------------
# Running things

# sim_exec NAME CMD... — run CMD inside the node (net + mount + PID namespaces); exit code and
# stdin/stdout/stderr pass through; the environment is inherited, plus SIM_NODE and SIM_STATE_DIR.
sim_exec() {
  local name=${1:?usage: sim_exec NAME CMD...}
  shift
  local pid=${SIM_INIT[$name]:-}
  [ -n "$pid" ] || { _sim_die "no such node '$name'"; return 127; }
  # nsenter --mount would leave us in "/"; keep the caller's directory (host paths are visible in
  # the node, except under the node's private /run).
  local wd=$PWD
  case $wd in /run | /run/* | /var/run | /var/run/*) wd=/ ;; esac
  SIM_NODE=$name SIM_STATE_DIR="$SIM_DIR/$name/state" \
    nsenter --target "$pid" --net --mount --pid --wd="$wd" -- "$@"
}

# sim_exec_bg NAME LOGFILE CMD... — start CMD in the node in the background, stdout+stderr to
# LOGFILE (relative names go to the node's log dir, appended). Sets SIM_LAST_BG to the job's PID
# (its nsenter; the command is nsenter's only child) for sim_bg_stop; teardown stops it anyway.
# Do not call it inside $(...): the PID would be recorded in a subshell and lost.
sim_exec_bg() {
  local name=${1:?usage: sim_exec_bg NAME LOGFILE CMD...} log=${2:?usage: sim_exec_bg NAME LOGFILE CMD...}
  shift 2
  [ "$BASHPID" = "$$" ] || _sim_die "sim_exec_bg must run in the scenario's main shell" || return 1
  [ -n "${SIM_INIT[$name]:-}" ] || _sim_die "no such node '$name'" || return 1
  case $log in /*) ;; *) log="$SIM_DIR/$name/log/$log" ;; esac
  local wd=$PWD
  case $wd in /run | /run/* | /var/run | /var/run/*) wd=/ ;; esac
  # setsid: a session of its own, so a signal for the scenario's process group (Ctrl-C, timeout)
  # does not kill nsenter before its command; the trap then stops the command in order.
  SIM_NODE=$name SIM_STATE_DIR="$SIM_DIR/$name/state" \
    setsid nsenter --target "${SIM_INIT[$name]}" --net --mount --pid --wd="$wd" -- "$@" \
    >>"$log" 2>&1 </dev/null {SIM_ERR_FD}>&- &
  SIM_LAST_BG=$!
  SIM_BG_PIDS+=("$SIM_LAST_BG")
}

# sim_bg_stop PID [SIGNAL] — stop a job started by sim_exec_bg: SIGNAL (default TERM) to the
# command itself, KILL after 3 s; returns once it is gone. The command, not its nsenter, gets the
# signal: nsenter then reaps it and exits. (Killing nsenter first would orphan the command to the
# host's init, where it can linger as a zombie.)
sim_bg_stop() {
  local pid=${1:?usage: sim_bg_stop PID [SIGNAL]} sig=${2:-TERM}
  _sim_bg_signal "$pid" "$sig"
  _sim_bg_wait_gone 30 "$pid" || _sim_bg_signal "$pid" KILL
  _sim_bg_wait_gone 30 "$pid" || kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

# sim_netns_exec NAME NS CMD... — run CMD in the named netns NS that exists inside node NAME
# (`ip netns exec` inside the node's mount namespace, so its private /run/netns is used).
sim_netns_exec() {
  local name=${1:?usage: sim_netns_exec NAME NS CMD...} ns=${2:?usage: sim_netns_exec NAME NS CMD...}
  shift 2
  sim_exec "$name" ip netns exec "$ns" "$@"
}

# sim_internet_exec CMD... — run CMD in the internet namespace (a probe from "anywhere").
sim_internet_exec() { sim_exec "$SIM_INET" "$@"; }

# sim_router_exec NAME CMD... — run CMD in the home router in front of hidden node NAME.
sim_router_exec() {
  local name=${1:?usage: sim_router_exec NAME CMD...}
  shift
  local r=${SIM_ROUTER[$name]:-}
  [ -n "$r" ] || { _sim_die "'$name' is not a hidden node"; return 127; }
  sim_exec "$r" "$@"
}

# ---------------------------------------------------------------------------------------------
# Facts about nodes

# sim_public_addr NAME [4|6] — the node's public address (default 4); empty for a hidden node.
sim_public_addr() {
  local name=${1:?usage: sim_public_addr NAME [4|6]} fam=${2:-4}
  [ -n "${SIM_KIND[$name]:-}" ] || { _sim_die "no such node '$name'"; return 1; }
  case $fam in
    4) echo "${SIM_PUB4[$name]:-}" ;;
    6) echo "${SIM_PUB6[$name]:-}" ;;
    *) _sim_die "family must be 4 or 6"; return 1 ;;
  esac
}
# sim_lan_addr NAME — a hidden node's private address (10.K.0.2); empty for public nodes.
sim_lan_addr() { echo "${SIM_LAN4[${1:?usage: sim_lan_addr NAME}]:-}"; }
# sim_router_addr NAME — the public IPv4 of the home router of hidden node NAME (its NAT address).
sim_router_addr() {
  local r=${SIM_ROUTER[${1:?usage: sim_router_addr NAME}]:-}
  [ -n "$r" ] && echo "${SIM_PUB4[$r]}"
}
# sim_state_dir NAME — the node's private state directory (same path inside and outside the node).
sim_state_dir() { [ -n "${SIM_KIND[$1]:-}" ] && echo "$SIM_DIR/$1/state"; }
# sim_log_dir NAME — where sim_exec_bg puts relative log files.
sim_log_dir() { [ -n "${SIM_KIND[$1]:-}" ] && echo "$SIM_DIR/$1/log"; }
# sim_holder_pid NAME — host PID of the node's init (for nsenter/setns from other tools).
sim_holder_pid() { echo "${SIM_INIT[${1:?}]:-}"; }

# sim_pids NAME — host PIDs of every process now running in the node (its PID namespace),
# except its init. Daemons nobody recorded (e.g. a forked wireguard-go) show up here.
sim_pids() {
  local init=${SIM_INIT[${1:?usage: sim_pids NAME}]:-} want
  [ -n "$init" ] || return 1
  want=$(readlink "/proc/$init/ns/pid") || return 1
  _sim_ns_members "$want" | grep -vx "$init" || true
}

# ---------------------------------------------------------------------------------------------
# Probes (all bounded in time, so a blocked path fails in seconds, not minutes)

# sim_ping NAME ADDR — one ping from node NAME to ADDR (IPv4 or IPv6), waiting SIM_PING_WAIT s.
sim_ping() {
  local name=${1:?usage: sim_ping NAME ADDR} addr=${2:?usage: sim_ping NAME ADDR} fam=-4
  case $addr in *:*) fam=-6 ;; esac
  sim_exec "$name" timeout $((SIM_PING_WAIT + 2)) ping "$fam" -n -q -c1 -W"$SIM_PING_WAIT" "$addr"
}
# sim_tcp NAME ADDR PORT — can node NAME open a TCP connection to ADDR:PORT (2 s)?
sim_tcp() {
  sim_exec "${1:?usage: sim_tcp NAME ADDR PORT}" timeout 3 ncat -z -w2 "${2:?}" "${3:?}"
}
# sim_wait_until SECONDS CMD... — retry CMD every 0.2 s until it succeeds or SECONDS pass.
sim_wait_until() {
  local secs=${1:?usage: sim_wait_until SECONDS CMD...} end
  shift
  end=$(($(date +%s%N) + secs * 1000000000))
  while :; do
    "$@" >/dev/null 2>&1 && return 0
    [ "$(date +%s%N)" -lt "$end" ] || return 1
    sleep 0.2
  done
}

# ---------------------------------------------------------------------------------------------
# Assertions. Each prints "ok - DESC" or "not ok - DESC" (then the command's output, indented)
# and counts; none of them stops the scenario, so one run reports every failure.

_sim_record() {
  local good=$1 desc=$2 out=$3
  if [ "$good" = 1 ]; then
    SIM_PASS=$((SIM_PASS + 1)); echo "ok - $desc"
  else
    SIM_FAIL=$((SIM_FAIL + 1)); echo "not ok - $desc"
    [ -s "$out" ] && tail -n 20 "$out" | sed 's/^/#   /'
  fi
  return 0
}
# Captured output of the current expectation; outside the temp dir once sim_cleanup removed it
# (a scenario checks for leaks after teardown), then deleted on exit.
_sim_outfile() {
  if [ -n "$SIM_DIR" ] && [ -d "$SIM_DIR" ]; then echo "$SIM_DIR/.expect.out"
  else echo "${TMPDIR:-/tmp}/.simnet-expect.$$"; fi
}

# expect_ok DESC CMD... — CMD must exit 0.
expect_ok() {
  local desc=${1:?usage: expect_ok DESC CMD...} out rc=0
  shift
  out=$(_sim_outfile)
  "$@" >"$out" 2>&1 || rc=$?
  [ $rc = 0 ] || echo "(exit $rc: $*)" >>"$out"
  _sim_record "$([ $rc = 0 ] && echo 1 || echo 0)" "$desc" "$out"
}
# expect_fail DESC CMD... — CMD must exit non-zero.
expect_fail() {
  local desc=${1:?usage: expect_fail DESC CMD...} out rc=0
  shift
  out=$(_sim_outfile)
  "$@" >"$out" 2>&1 || rc=$?
  [ $rc != 0 ] || echo "(exit 0, expected failure: $*)" >>"$out"
  _sim_record "$([ $rc != 0 ] && echo 1 || echo 0)" "$desc" "$out"
}
# expect_output DESC REGEX CMD... — CMD must exit 0 and its output must match REGEX (grep -E).
expect_output() {
  local desc=${1:?usage: expect_output DESC REGEX CMD...} re=${2:?} out rc=0
  shift 2
  out=$(_sim_outfile)
  "$@" >"$out" 2>&1 || rc=$?
  if [ $rc = 0 ] && grep -Eq -- "$re" "$out"; then
    _sim_record 1 "$desc" "$out"
  else
    echo "(exit $rc; wanted output matching /$re/: $*)" >>"$out"
    _sim_record 0 "$desc" "$out"
  fi
}
# expect_eq DESC EXPECTED CMD... — CMD must exit 0 and print exactly EXPECTED (trailing newlines
# ignored; no regex, so keys and addresses compare literally).
expect_eq() {
  local desc=${1:?usage: expect_eq DESC EXPECTED CMD...} want=${2?} out rc=0 got
  shift 2
  out=$(_sim_outfile)
  "$@" >"$out" 2>&1 || rc=$?
  got=$(cat "$out")
  if [ $rc = 0 ] && [ "$got" = "$want" ]; then
    _sim_record 1 "$desc" "$out"
  else
    echo "(exit $rc; wanted exactly '$want': $*)" >>"$out"
    _sim_record 0 "$desc" "$out"
  fi
}
# sim_summary — prints "N passed, M failed"; returns 1 if anything failed or nothing was checked.
sim_summary() {
  echo "$SIM_PASS passed, $SIM_FAIL failed"
  [ "$SIM_FAIL" = 0 ] && [ "$SIM_PASS" -gt 0 ]
}

# ---------------------------------------------------------------------------------------------
# Teardown

# sim_on_cleanup CMD... — run CMD (a word list, e.g. a function name and args) first at teardown.
sim_on_cleanup() { SIM_CLEANUP_HOOKS+=("$(printf '%q ' "$@")"); }

# sim_cleanup — tear everything down; idempotent (traps call it too). Order: hooks, recorded
# background jobs (TERM, then KILL), then every holder's init (KILL: the kernel kills everything in
# the node's PID namespace, then frees its netns, mount namespace and the named netns inside).
sim_cleanup() {
  [ "$SIM_CLEANED" = 0 ] || return 0
  SIM_CLEANED=1
  local had_e=0
  case $- in *e*) had_e=1 ;; esac
  set +e   # best effort from here on: one failure must not stop the rest of the teardown
  local h pid name i
  for h in "${SIM_CLEANUP_HOOKS[@]}"; do eval "$h" >/dev/null 2>&1; done
  # Background jobs: TERM to each command (see sim_bg_stop), 2 s grace, then KILL.
  for pid in "${SIM_BG_PIDS[@]}"; do _sim_bg_signal "$pid" TERM; done
  _sim_bg_wait_gone 20 "${SIM_BG_PIDS[@]}" || {
    for pid in "${SIM_BG_PIDS[@]}"; do _sim_bg_signal "$pid" KILL; done
    _sim_bg_wait_gone 20 "${SIM_BG_PIDS[@]}"
  }
  for pid in "${SIM_BG_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  # Nodes first, the internet last (order does not matter to the kernel; it reads better in logs).
  # Only the init is killed; its parent (unshare --fork) then collects it and exits by itself.
  local holders=()
  for ((i = ${#SIM_ORDER[@]} - 1; i >= 0; i--)); do
    name=${SIM_ORDER[i]}
    [ -n "${SIM_INIT[$name]:-}" ] && kill -KILL "${SIM_INIT[$name]}" 2>/dev/null
    holders+=("${SIM_HOLDER[$name]}")
  done
  if [ ${#holders[@]} -gt 0 ]; then
    _sim_bg_wait_gone 50 "${holders[@]}" || kill -KILL "${holders[@]}" 2>/dev/null
    for pid in "${holders[@]}"; do wait "$pid" 2>/dev/null; done
  fi
  # PID-namespace teardown is asynchronous: wait until no process is left in any of ours.
  for i in $(seq 50); do
    [ -z "$(_sim_procs_in_our_namespaces)" ] && break
    sleep 0.1
  done
  if [ -n "$(_sim_procs_in_our_namespaces)" ]; then
    _sim_log "WARNING: processes still in test namespaces: $(_sim_procs_in_our_namespaces)"
  fi
  if [ -n "$SIM_DIR" ] && [ -d "$SIM_DIR" ]; then
    if [ "${SIM_KEEP_LOGS:-0}" = 1 ]; then _sim_log "logs kept in $SIM_DIR"; else rm -rf "$SIM_DIR"; fi
  fi
  [ $had_e = 0 ] || set -e
  return 0
}

# sim_leaks [PREFIX] — print anything left by runs with PREFIX (default: this run's prefix, or any
# run if none): host `ip netns` entries, host links, holder processes, processes still inside our
# namespaces, temp dirs. Returns 1 if something was found.
sim_leaks() {
  local p=${1:-$SIM_PREFIX} found=0 x
  [ -n "$p" ] || p='s[0-9a-f]{4}'
  x=$(ip netns list 2>/dev/null | grep -E "^$p" || true)
  [ -z "$x" ] || { echo "leak: host netns: $x"; found=1; }
  x=$(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | grep -E "^$p" || true)
  [ -z "$x" ] || { echo "leak: host links: $x"; found=1; }
  # "[s]..." so the pattern does not match grep's own command line.
  x=$(grep -lasE "simnet-[${p:0:1}]${p:1}-" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 || true)
  [ -z "$x" ] || { echo "leak: holder processes: ${x//$'\n'/ }"; found=1; }
  x=$(_sim_procs_in_our_namespaces)
  [ -z "$x" ] || { echo "leak: processes in test namespaces: $x"; found=1; }
  x=$(find "${TMPDIR:-/tmp}" -maxdepth 1 -regextype egrep -regex ".*/simnet-$p-.*" 2>/dev/null || true)
  [ -z "$x" ] || { echo "leak: temp dirs: ${x//$'\n'/ }"; found=1; }
  [ $found = 0 ]
}

# ---------------------------------------------------------------------------------------------
# Internals

# _sim_holder NAME KIND — start a holder and prepare its mount namespace.
_sim_holder() {
  local name=$1 kind=$2 ready pid init i
  # The holder must be a child of the scenario's main shell: its parent-death signal is tied to
  # that process, and the PID bookkeeping lives in this shell's variables.
  [ "$BASHPID" = "$$" ] || _sim_die "sim_node/sim_init must run in the scenario's main shell" || return 1
  ready="$SIM_DIR/.ready-${name//[^A-Za-z0-9-]/_}"
  # init: a shell that only sleeps and reaps (orphans in a PID namespace are re-parented to it;
  # `sleep infinity` as init would leave zombies that look alive to `kill -0`). Its argv carries
  # "simnet-<prefix>-<name>" so leftovers of a killed run can be found by sim_leaks.
  # setsid: not in the scenario's process group, so Ctrl-C or `timeout` reach only the scenario,
  # whose trap then tears down in order (init first, so its parent unshare collects it; a holder
  # killed out of order would leave its init to the host's init as a zombie for a while).
  # shellcheck disable=SC2016  # $1/$! belong to the inner bash
  setsid setpriv --pdeathsig KILL -- \
    unshare --net --mount --propagation private --pid --fork --kill-child --mount-proc \
    bash -c 'trap "" TERM INT HUP; touch "$1"; while :; do sleep 3600 & wait $!; done' \
    "simnet-$SIM_PREFIX-$name" "$ready" </dev/null >/dev/null 2>&1 {SIM_ERR_FD}>&- &
  pid=$!
  SIM_HOLDER[$name]=$pid
  SIM_KIND[$name]=$kind
  SIM_ORDER+=("$name")
  for i in $(seq 100); do [ -e "$ready" ] && break; sleep 0.02; done
  init=$(awk '{print $1}' "/proc/$pid/task/$pid/children" 2>/dev/null)
  [ -e "$ready" ] && [ -n "$init" ] || _sim_die "holder for $name did not start" || return 1
  rm -f "$ready"
  SIM_INIT[$name]=$init
  SIM_NSINO["$(readlink "/proc/$init/ns/net")"]=$name
  SIM_NSINO["$(readlink "/proc/$init/ns/pid")"]=$name
  # Private /run (so /run/netns for `ip netns add` and /run/wireguard for wireguard-go's UAPI
  # sockets are this node's own, and nothing is created on the host's /run), and a sysfs that
  # shows this node's network devices.
  nsenter --target "$init" --net --mount --pid -- sh -ec '
    mount -t tmpfs -o mode=755,size=16m simrun /run
    mkdir -p /run/netns /run/wireguard /run/lock /run/shm
    chmod 1777 /run/lock /run/shm
    umount -l /sys
    mount -t sysfs sysfs /sys
    ip link set lo up
  ' || _sim_die "mount setup for $name failed" || return 1
}

# _sim_net NAME CMD... — CMD in the holder's network namespace only (host PID and mount
# namespaces), used for plumbing that refers to other holders by host PID.
_sim_net() {
  local name=$1
  shift
  nsenter --target "${SIM_INIT[$name]}" --net -- "$@"
}

# _sim_bg_signal PID SIG — signal the command(s) nsenter PID forked (the job's real process);
# if nsenter has no child (yet/any more), signal nsenter itself.
_sim_bg_signal() {
  local pid=$1 sig=$2 kids
  kids=$(cat /proc/"$pid"/task/*/children 2>/dev/null || true)
  if [ -n "${kids// /}" ]; then
    # shellcheck disable=SC2086
    kill -"$sig" $kids 2>/dev/null || true
  else
    kill -"$sig" "$pid" 2>/dev/null || true
  fi
}
# _sim_bg_wait_gone TENTHS PID... — wait up to TENTHS*0.1 s until all PIDs have exited.
_sim_bg_wait_gone() {
  local n=$1 i p alive
  shift
  for ((i = 0; i < n; i++)); do
    alive=0
    for p in "$@"; do _sim_alive "$p" && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.1
  done
  return 1
}
# _sim_alive PID — running (a zombie counts as gone: it has exited, only its parent has not
# collected it yet).
_sim_alive() {
  local st
  st=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# Host PIDs of processes inside any net or PID namespace this run created.
_sim_procs_in_our_namespaces() {
  [ ${#SIM_NSINO[@]} -gt 0 ] || return 0
  _sim_ns_members "${!SIM_NSINO[@]}" | sort -un | tr '\n' ' ' | sed 's/ $//'
}
# _sim_ns_members NS... — host PIDs of processes whose net or pid namespace is one of NS
# ("net:[4026532...]" as readlink shows it). One find over /proc, no process per PID.
_sim_ns_members() {
  find /proc -mindepth 3 -maxdepth 3 -path '/proc/[0-9]*/ns/*' \( -name net -o -name pid \) \
    -printf '%l %p\n' 2>/dev/null |
    awk -v want="$*" 'BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) ok[w[i]] = 1 }
                      ($1 in ok) { split($2, f, "/"); print f[3] }' | sort -un
}

# Temp dirs of earlier runs whose scenario died without its trap (SIGKILL).
_sim_gc_stale_dirs() {
  local d o
  for d in "${TMPDIR:-/tmp}"/simnet-s????-*; do
    if [ ! -d "$d" ] || [ "$d" = "$SIM_DIR" ]; then continue; fi
    o=$(cat "$d/owner.pid" 2>/dev/null) || continue
    _sim_alive "$o" || rm -rf "$d"
  done
}

_sim_on_exit() {
  local rc=$?
  sim_cleanup
  rm -f "${TMPDIR:-/tmp}/.simnet-expect.$$"
  exit $rc
}
_sim_on_signal() {
  echo "# sim: caught SIG$1 after $SIM_PASS passed, $SIM_FAIL failed; tearing down" >&"${SIM_ERR_FD:-2}"
  sim_cleanup
  rm -f "${TMPDIR:-/tmp}/.simnet-expect.$$"
  trap - EXIT
  exit "$2"
}

# Direct use: bash sim.sh leaks [PREFIX]
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case ${1:-} in
    leaks) shift; if sim_leaks "$@"; then echo "no leaks"; else exit 1; fi ;;
    *) echo "usage: bash $0 leaks [PREFIX]   (or source it from a scenario)" >&2; exit 2 ;;
  esac
fi
