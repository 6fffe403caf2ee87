#!/usr/bin/env bash
# The benchmark, one command: builds the release binary, installs wrk and the peer
# (node oidc-provider, pinned in bench/peer/package-lock.json) when missing, then runs
# bench/bench.py, which prints a table and writes bench/results.md.
#
#   bench/run.sh [--smoke] [--duration S] [--rounds N] [--connections C]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh --bench
cargo leptos build --release --precompress
cargo build --release --locked -p bench-upstream
exec python3 bench/bench.py "$@"
