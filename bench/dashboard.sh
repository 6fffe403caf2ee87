#!/usr/bin/env bash
# Measures how long the server takes to render the first page of /credentials for a
# user with N credentials (default 10,000), and of /audit with their N+ events (one
# credential.created each): a fresh database, the release binary on a free loopback
# port, one signed-in session, warm-up, then timed requests.
#
#   bench/dashboard.sh [N] [REQUESTS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
N=${1:-10000}
REQUESTS=${2:-50}
BIN=target/release/clavis
[ -x "$BIN" ] || cargo leptos build --release --precompress

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
export DATABASE_URL="sqlite://$dir/clavis.db"
"$BIN" --addr "127.0.0.1:$port" --log warn &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$dir"' EXIT
until curl -sf "$base/healthz" >/dev/null; do sleep 0.1; done

echo "bench password 1234" | "$BIN" create-user --email bench@example.com >/dev/null
started=$(date +%s.%N)
"$BIN" credential create --user bench@example.com --name "bench credential" --count "$N" >/dev/null
created=$(date +%s.%N)
cookie=$(curl -s -o /dev/null -D - -H "origin: $base" \
    --data-urlencode email=bench@example.com --data-urlencode "password=bench password 1234" \
    "$base/api/sign_in" | awk -F'[ ;]' 'tolower($1) == "set-cookie:" { print $2 }')
[ -n "$cookie" ] || { echo "sign-in failed" >&2; exit 1; }

page() { curl -s -o /dev/null -w '%{http_code} %{time_total} %{size_download}\n' \
    -H "cookie: $cookie" -H 'accept: text/html' "$base$1"; }
for path in /credentials /audit; do
    for _ in 1 2 3 4 5; do page "$path" >/dev/null; done
    for _ in $(seq "$REQUESTS"); do page "$path"; done | PAGE="$path" python3 -c '
import os, statistics, sys
rows = [line.split() for line in sys.stdin]
assert all(r[0] == "200" for r in rows), "a request failed"
ms = sorted(float(r[1]) * 1000 for r in rows)
print(f"first page of {os.environ['"'"'PAGE'"'"']} with '"$N"' credentials, {len(ms)} requests, {rows[0][2]} bytes each")
print(f"  median {statistics.median(ms):.1f} ms   p95 {ms[int(len(ms) * 0.95) - 1]:.1f} ms   max {ms[-1]:.1f} ms")
'
done
rows=$(curl -s -H "cookie: $cookie" -H 'accept: text/html' "$base/credentials" | grep -o 'data-testid="credential-row"' | wc -l)
events=$(curl -s -H "cookie: $cookie" -H 'accept: text/html' "$base/audit" | grep -o 'data-testid="audit-row"' | wc -l)
echo "  rows on the pages: $rows credentials, $events events; creating $N credentials with the CLI took $(python3 -c "print(f'{$created - $started:.1f}')") s"
echo "  machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
