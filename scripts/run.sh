#!/usr/bin/env bash
# Runs Clavis on a fresh machine: installs the toolchain (skipped when present), builds
# the release binary with its wasm bundle, and serves http://127.0.0.1:3000 with SQLite
# under ./data/. Arguments are passed to `clavis` (see `--help`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo leptos build --release --precompress
exec ./target/release/clavis "$@"
