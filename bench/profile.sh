#!/usr/bin/env bash
# Profiles one benchmark target under load: starts the release binary on a fresh
# database, loads the target with wrk (2 threads, 64 connections, as bench/run.sh does)
# while `perf record` samples the server, then prints the load figures and the top of
# the flat profile (self time per function). Build first (bench/run.sh or
# `cargo leptos build --release --precompress`; the gateway also needs `cargo build --release -p
# bench-upstream`).
#
#   bench/profile.sh tokens|mcp|static|gateway|dpop-mcp [SECONDS] [perf record options]
#
# dpop-mcp: /mcp with a DPoP-bound token and a fresh proof per call (made ahead of the
# run by bench-assertions --dpop, so it also needs `cargo build --release -p bench-upstream`).
#
# CLAVIS_ARGS adds flags to the server's (e.g. CLAVIS_ARGS="--otlp-endpoint
# http://127.0.0.1:4318 --trace-sampling 0" with `bench-upstream 4318 --otlp` running).
#
# The perf data stays in bench/out/perf-<target>.data for `perf report -i …` (add
# `--call-graph dwarf` to the options for call chains; release builds have no frame
# pointers).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target=${1:?"target: tokens, mcp, static, gateway or dpop-mcp"}
seconds=${2:-10}
shift $(($# < 2 ? $# : 2))
BIN=${CLAVIS_BIN:-target/release/clavis}
UPSTREAM=target/release/bench-upstream
[ -x "$BIN" ] || { echo "build first: cargo leptos build --release --precompress" >&2; exit 1; }
command -v perf >/dev/null || { echo "perf is not installed (apt install linux-perf)" >&2; exit 1; }
command -v wrk >/dev/null || bash scripts/setup.sh --bench

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
json_field() { python3 -c 'import json, sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$1"; }

dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
port=$(free_port)
base="http://127.0.0.1:$port"
export DATABASE_URL="sqlite://$dir/clavis.db" CLAVIS_MASTER_KEY_FILE="$dir/master.key" CLAVIS_ISSUER="$base"
# shellcheck disable=SC2086 # CLAVIS_ARGS is a list of flags
"$BIN" --addr "127.0.0.1:$port" --log warn ${CLAVIS_ARGS:-} >"$dir/server.log" 2>&1 &
server=$!
pids+=("$server")
until curl -sf "$base/healthz" >/dev/null; do sleep 0.1; done
echo "profile password 1" | "$BIN" create-user --email profile@example.com >/dev/null

token_for() { # client_id secret resource
    curl -sf -u "$1:$2" -d grant_type=client_credentials --data-urlencode "resource=$3" \
        "$base/mcp/oauth/token" | json_field access_token
}
lua="$dir/load.lua"
mcp_lua() { # tool arguments
    cat >"$lua" <<EOF
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"$1","arguments":$2}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-06-18"
wrk.headers["Authorization"] = "Bearer $3"
EOF
}
case "$target" in
    tokens | mcp)
        created=$("$BIN" credential create --user profile@example.com --name profile)
        id=$(json_field client_id <<<"$created")
        secret=$(json_field client_secret <<<"$created")
        url="$base/mcp/oauth/token"
        if [ "$target" = tokens ]; then
            cat >"$lua" <<EOF
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=mcp&resource=$base/mcp"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(printf '%s:%s' "$id" "$secret" | base64 -w0)"
EOF
        else
            url="$base/mcp"
            mcp_lua whoami '{}' "$(token_for "$id" "$secret" "$base/mcp")"
        fi
        ;;
    static)
        url="$base/.well-known/oauth-protected-resource"
        : >"$lua"
        ;;
    gateway)
        [ -x "$UPSTREAM" ] || { echo "build first: cargo build --release -p bench-upstream" >&2; exit 1; }
        up_port=$(free_port)
        "$UPSTREAM" "$up_port" >"$dir/upstream.log" 2>&1 &
        pids+=("$!")
        until curl -s -o /dev/null "http://127.0.0.1:$up_port/mcp"; do sleep 0.1; done
        "$BIN" server add --name Upstream --slug up --mode gateway \
            --upstream-url "http://127.0.0.1:$up_port/mcp" >/dev/null
        until curl -sf "$base/.well-known/oauth-protected-resource/mcp/up" >/dev/null; do sleep 0.5; done
        created=$("$BIN" credential create --user profile@example.com --name profile --server up)
        id=$(json_field client_id <<<"$created")
        secret=$(json_field client_secret <<<"$created")
        url="$base/mcp/up"
        mcp_lua echo '{"text":"hello"}' "$(token_for "$id" "$secret" "$url")"
        ;;
    dpop-mcp)
        [ -x target/release/bench-assertions ] || { echo "build first: cargo build --release -p bench-upstream" >&2; exit 1; }
        created=$("$BIN" credential create --user profile@example.com --name profile)
        id=$(json_field client_id <<<"$created")
        secret=$(json_field client_secret <<<"$created")
        seed=$(python3 -c 'import os; print(os.urandom(32).hex())')
        proof=$(target/release/bench-assertions --dpop "$seed" "$base/mcp/oauth/token" 1)
        token=$(curl -sf -u "$id:$secret" -H "DPoP: $proof" -d grant_type=client_credentials \
            --data-urlencode "resource=$base/mcp" "$base/mcp/oauth/token" | json_field access_token)
        # Enough for 30,000 calls a second: none is used twice.
        # The warm-up and the run each read their own file from its first line.
        target/release/bench-assertions --dpop "$seed" "$base/mcp" $((30000 * 3)) "$token" >"$dir/warm.txt"
        target/release/bench-assertions --dpop "$seed" "$base/mcp" $((30000 * seconds)) "$token" >"$dir/proofs.txt"
        url="$base/mcp"
        cat bench/lua/lines.lua bench/lua/dpop.lua >"$lua"
        export BENCH_TYPE=application/json BENCH_AUTH="DPoP $token" \
            BENCH_BODY='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}'
        ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
esac

BENCH_LINES="$dir/warm.txt" wrk -t2 -c64 -d3s -s "$lua" "$url" >/dev/null # warm-up
mkdir -p bench/out
data="bench/out/perf-$target.data"
perf record -F 999 -p "$server" -o "$data" "$@" -- sleep "$seconds" 2>/dev/null &
perf_pid=$!
BENCH_LINES="$dir/proofs.txt" wrk -t2 -c64 -d"${seconds}s" --latency -s "$lua" "$url" | grep -E "Requests/sec|Non-2xx|Socket errors|^ +(50|99)%"
wait "$perf_pid"
echo "RSS of the server: $(awk '/VmRSS|VmHWM/ {printf "%s %s MiB  ", $1, int($2 / 1024)}' "/proc/$server/status")"
perf report -i "$data" --no-children --sort symbol --percent-limit 0.7 --stdio 2>/dev/null \
    | grep -E "^ +[0-9]" | sed -E "s/ +-? +-? *$//" | cut -c1-150 | head -40
