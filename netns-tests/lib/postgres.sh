#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests: Debian's server, a cluster initialised in a temporary
# directory and run as the `postgres` user, listening on 127.0.0.1 at a free port. It is stopped
# and removed when the shell that started it exits.
#
#   source netns-tests/lib/postgres.sh; pg_start   # exports OVERLAY_TEST_POSTGRES
#   netns-tests/lib/postgres.sh run CMD ARGS...    # runs CMD with OVERLAY_TEST_POSTGRES set
#
# A scenario puts the server on a simulated host instead (after sim_init and sim_node db):
#
#   pg_start --exec "sim_exec db" --listen "$(sim_public_addr db)" --port 5432 --password "$PW"
#
# --exec runs every server command (initdb, pg_ctl, psql) through that prefix, so the server lives
# in the host's namespaces and dies with them; --password makes TCP clients authenticate
# (scram-sha-256; the Unix socket in the data directory stays trusted for the set-up). Under
# lib/sim.sh the stop is a sim_on_cleanup hook (its EXIT trap stays in place); otherwise an EXIT
# trap. pg_server_stop / pg_server_start stop and start the same cluster again (a restart).

pg_bin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] || { echo "postgres.sh: no PostgreSQL server installed (apt-get install postgresql)" >&2; return 1; }
    echo "$d"
}

pg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# _pg CMD ARGS...: a server command as the postgres user, through the --exec prefix if any.
_pg() {
    # shellcheck disable=SC2086  # the prefix is a word list
    ${PG_TEST_EXEC:-} runuser -u postgres -- "$PG_TEST_BIN/$1" "${@:2}"
}

pg_stop() {
    [ -n "${PG_TEST_DIR:-}" ] || return 0
    if [ -f "$PG_TEST_DIR/data/postmaster.pid" ]; then
        _pg pg_ctl -D "$PG_TEST_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_TEST_DIR"
    PG_TEST_DIR=
}

# pg_server_stop: stops the server (open connections are terminated), keeping its data.
pg_server_stop() {
    _pg pg_ctl -D "$PG_TEST_DIR/data" -m fast -w stop >/dev/null
}

# pg_server_start: starts the cluster that pg_start made (again).
pg_server_start() {
    _pg pg_ctl -D "$PG_TEST_DIR/data" -l "$PG_TEST_DIR/server.log" -w \
        -o "-c listen_addresses=$PG_TEST_LISTEN -p $PG_TEST_PORT -k $PG_TEST_DIR -c fsync=off -c synchronous_commit=off -c max_connections=300" \
        start >/dev/null || { cat "$PG_TEST_DIR/server.log" >&2; return 1; }
}

pg_start() {
    PG_TEST_EXEC="" PG_TEST_LISTEN=127.0.0.1 PG_TEST_PORT=""
    local password=""
    while [ $# -gt 0 ]; do
        case $1 in
            --exec) PG_TEST_EXEC=$2 ;;
            --listen) PG_TEST_LISTEN=$2 ;;
            --port) PG_TEST_PORT=$2 ;;
            --password) password=$2 ;;
            *) echo "postgres.sh: pg_start: unknown option '$1' (--exec, --listen, --port, --password)" >&2; return 1 ;;
        esac
        shift 2
    done
    PG_TEST_BIN=$(pg_bin) || return 1
    id postgres >/dev/null 2>&1 || { echo "postgres.sh: no 'postgres' user (apt-get install postgresql)" >&2; return 1; }
    PG_TEST_DIR=$(mktemp -d /tmp/overlay-pg.XXXXXX)
    chown postgres "$PG_TEST_DIR"
    if [ -n "${SIM_PREFIX:-}" ]; then sim_on_cleanup pg_stop; else trap pg_stop EXIT; fi
    [ -n "$PG_TEST_PORT" ] || PG_TEST_PORT=$(pg_free_port)
    local auth=(-A trust)
    [ -z "$password" ] || auth=(--auth-local=trust --auth-host=scram-sha-256)
    # Trust on loopback only (without --password): a cluster of the test's own, gone when it ends.
    _pg initdb -D "$PG_TEST_DIR/data" -U postgres "${auth[@]}" --no-sync \
        >"$PG_TEST_DIR/initdb.log" 2>&1 || { cat "$PG_TEST_DIR/initdb.log" >&2; return 1; }
    if [ -n "$password" ]; then
        # Clients from the test's own simulated hosts, with the password.
        echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PG_TEST_DIR/data/pg_hba.conf"
    fi
    pg_server_start || return 1
    if [ -n "$password" ]; then
        _pg psql -h "$PG_TEST_DIR" -p "$PG_TEST_PORT" -U postgres -q -v ON_ERROR_STOP=1 \
            -c "ALTER USER postgres PASSWORD '$password'" >/dev/null || return 1
    fi
    _pg createdb -h "$PG_TEST_DIR" -p "$PG_TEST_PORT" -U postgres overlay_test
    export OVERLAY_TEST_POSTGRES="postgres://postgres@$PG_TEST_LISTEN:$PG_TEST_PORT/overlay_test"
    echo "postgres.sh: PostgreSQL at $OVERLAY_TEST_POSTGRES (data in $PG_TEST_DIR)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ] && [ "${1:-}" = run ]; then
    shift
    set -euo pipefail
    pg_start
    "$@"
fi
