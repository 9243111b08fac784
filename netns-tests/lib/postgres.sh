#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests: Debian's server, a cluster initialised in a temporary
# directory and run as the `postgres` user, listening on 127.0.0.1 at a free port. It is stopped
# and removed when the shell that started it exits.
#
#   source netns-tests/lib/postgres.sh; pg_start   # exports OVERLAY_TEST_POSTGRES
#   netns-tests/lib/postgres.sh run CMD ARGS...    # runs CMD with OVERLAY_TEST_POSTGRES set

pg_bin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] || { echo "postgres.sh: no PostgreSQL server installed (apt-get install postgresql)" >&2; return 1; }
    echo "$d"
}

pg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_stop() {
    [ -n "${PG_TEST_DIR:-}" ] || return 0
    if [ -f "$PG_TEST_DIR/data/postmaster.pid" ]; then
        runuser -u postgres -- "$PG_TEST_BIN/pg_ctl" -D "$PG_TEST_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_TEST_DIR"
    PG_TEST_DIR=
}

pg_start() {
    PG_TEST_BIN=$(pg_bin) || return 1
    id postgres >/dev/null 2>&1 || { echo "postgres.sh: no 'postgres' user (apt-get install postgresql)" >&2; return 1; }
    PG_TEST_DIR=$(mktemp -d /tmp/overlay-pg.XXXXXX)
    chown postgres "$PG_TEST_DIR"
    trap pg_stop EXIT
    local port
    port=$(pg_free_port)
    # Trust on loopback only: a cluster of the test's own, gone when it ends.
    runuser -u postgres -- "$PG_TEST_BIN/initdb" -D "$PG_TEST_DIR/data" -U postgres -A trust --no-sync \
        >"$PG_TEST_DIR/initdb.log" 2>&1 || { cat "$PG_TEST_DIR/initdb.log" >&2; return 1; }
    runuser -u postgres -- "$PG_TEST_BIN/pg_ctl" -D "$PG_TEST_DIR/data" -l "$PG_TEST_DIR/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_TEST_DIR -c fsync=off -c synchronous_commit=off -c max_connections=300" \
        start >/dev/null || { cat "$PG_TEST_DIR/server.log" >&2; return 1; }
    runuser -u postgres -- "$PG_TEST_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres overlay_test
    export OVERLAY_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/overlay_test"
    echo "postgres.sh: PostgreSQL at $OVERLAY_TEST_POSTGRES (data in $PG_TEST_DIR)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ] && [ "${1:-}" = run ]; then
    shift
    set -euo pipefail
    pg_start
    "$@"
fi
