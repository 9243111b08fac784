#!/usr/bin/env bash
# bench-admin: admin request latency (`GET /v1/networks`, the request behind `overlayctl network
# list`) against a live overlayd on loopback, side by side in one run:
#   - over HTTPS (the default, self-signed certificate) against plain HTTP (--plain-http): the
#     cost of TLS on one kept-alive connection, as a ratio;
#   - over HTTPS with N idle connections held open (each finished its TLS handshake, then sends
#     nothing) against none: what thousands of idle clients cost everyone else, as a ratio.
# No root needed. Usage: netns-tests/bench-admin.sh [IDLE] [REQUESTS]
#   BIN: where overlayd and overlayctl are (default .build/release if overlayd is there, else .build/debug).
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE=${1:-2000}
REQUESTS=${2:-300}
if [ -z "${BIN:-}" ]; then
  if [ -x .build/release/overlayd ]; then BIN=.build/release; else BIN=.build/debug; fi
fi
[ -x "$BIN/overlayd" ] || { echo "bench-admin: no $BIN/overlayd (swift build first)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/overlay-bench-admin.XXXXXX)
chmod 700 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

DB=$WORK/state.db
for i in $(seq 10); do "$BIN/overlayctl" --db "$DB" network create "net$i" >/dev/null; done
TOKEN=$("$BIN/overlayd" token create --db "$DB" --name bench | tail -n1)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# One overlayd, serving HTTPS or plain HTTP; the idle connections need room past the per-source cap.
serve() { # serve PORT [--plain-http]
  "$BIN/overlayd" serve --db "$DB" --listen "127.0.0.1:$1" --log-level warning \
    --connections-per-source $((IDLE + 100)) --max-connections $((IDLE + 1000)) "${@:2}" 2>>"$WORK/overlayd.log" &
  PIDS+=($!)
}
TLS_PORT=$(free_port)
serve "$TLS_PORT"
PLAIN_PORT=$(free_port)
serve "$PLAIN_PORT" --plain-http
for _ in $(seq 100); do
  curl -fsSk "https://127.0.0.1:$TLS_PORT/healthz" >/dev/null 2>&1 \
    && curl -fsS "http://127.0.0.1:$PLAIN_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

python3 - "$TLS_PORT" "$PLAIN_PORT" "$TOKEN" "$IDLE" "$REQUESTS" <<'EOF'
import http.client, socket, ssl, statistics, sys, time
tls_port, plain_port, token, idle, requests = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # the fingerprint is checked by the product's own clients; here only time counts

def latencies(conn, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        conn.request("GET", "/v1/networks", headers={"Authorization": "Bearer " + token})
        r = conn.getresponse()
        body = r.read()
        out.append((time.perf_counter() - t) * 1000)
        if r.status != 200:
            sys.exit(f"bench-admin: GET /v1/networks answered {r.status}: {body[:200]!r}")
    return out

def phase(tls, n):
    conn = (http.client.HTTPSConnection("127.0.0.1", tls_port, context=ctx, timeout=10) if tls
            else http.client.HTTPConnection("127.0.0.1", plain_port, timeout=10))
    latencies(conn, 20)  # warm-up: connection, handshake, caches
    out = latencies(conn, n)
    conn.close()
    return out

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]

rows = []
# HTTPS and plain alternately, twice each, so drift on a noisy machine hits both.
https, plain = [], []
for _ in range(2):
    https += phase(True, requests // 2)
    plain += phase(False, requests // 2)

# Idle clients: each connects, finishes the TLS handshake, and then says nothing.
t0 = time.perf_counter()
held = []
for i in range(idle):
    s = socket.create_connection(("127.0.0.1", tls_port), timeout=10)
    held.append(ctx.wrap_socket(s))
opened = time.perf_counter() - t0
loaded = phase(True, requests)
# Still held? The server closes idle connections after its idle timeout, not before.
alive = 0
for s in held:
    s.setblocking(False)
    try:
        alive += 0 if s.recv(1) == b"" else 1
    except (ssl.SSLWantReadError, BlockingIOError):
        alive += 1
    except OSError:
        pass
for s in held:
    s.close()

def row(name, a, b, unit="ms"):
    print(f"{name:<44} {a:>10.2f} {unit} {b:>10.2f} {unit} {a / b:>8.2f}")

print(f"GET /v1/networks (10 networks), {requests} requests per column, one kept-alive connection each")
print(f"{'':<44} {'A':>13} {'B':>13} {'A/B':>8}")
print("A = HTTPS, B = plain HTTP")
row("  p50", statistics.median(https), statistics.median(plain))
row("  p99", pct(https, 0.99), pct(plain, 0.99))
print(f"A = HTTPS with {idle} idle TLS connections held ({alive} still open after), B = HTTPS alone")
row("  p50", statistics.median(loaded), statistics.median(https))
row("  p99", pct(loaded, 0.99), pct(https, 0.99))
print(f"(opening the {idle} idle connections took {opened:.1f} s)")
if alive < idle:
    sys.exit(f"bench-admin: only {alive} of {idle} idle connections were still held: the figure is not what it says")
EOF
