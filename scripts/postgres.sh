#!/usr/bin/env bash
# Prints the URL of a PostgreSQL server the tests may create databases on.
#
# - CLAVIS_TEST_POSTGRES_URL, when set, is used as it is.
# - Otherwise a server answering at 127.0.0.1:5432 is used if it accepts
#   postgres:postgres (the usual CI service).
# - Otherwise a throwaway cluster is started under /tmp/clavis-pg on port 55432 (trust
#   authentication, loopback only), after installing Debian's `postgresql` if needed.
#   It is reused while it runs; a warm start takes a second.
set -euo pipefail

log() { printf '\033[1m[postgres]\033[0m %s\n' "$*" >&2; }

if [ -n "${CLAVIS_TEST_POSTGRES_URL:-}" ]; then
    echo "$CLAVIS_TEST_POSTGRES_URL"
    exit 0
fi

pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
    [ -n "$dir" ] && echo "$dir"
}

if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432 \
    && PGPASSWORD=postgres psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
    echo "postgres://postgres:postgres@127.0.0.1:5432/postgres"
    exit 0
fi

BIN=$(pg_bin || true)
if [ -z "$BIN" ]; then
    log "installing Debian's postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
    BIN=$(pg_bin)
fi

DIR=/tmp/clavis-pg
PORT=55432
if ! "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
    log "starting a throwaway cluster in $DIR on port $PORT"
    as_postgres() { runuser -u postgres -- "$@"; }
    if [ ! -f "$DIR/data/PG_VERSION" ]; then
        rm -rf "$DIR"
        mkdir -p "$DIR"
        chown postgres: "$DIR"
        as_postgres "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    # Tests create and drop many databases: durability of this throwaway cluster does
    # not matter, speed does.
    as_postgres "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -o \
        "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
        start >/dev/null
fi
echo "postgres://postgres@127.0.0.1:$PORT/postgres"
