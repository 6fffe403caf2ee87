#!/usr/bin/env bash
# The whole test suite, from a fresh clone: toolchain and browser (skipped when
# present), format and lint checks for both feature sets, the Rust unit and
# integration tests, then the release build driven by Playwright in Chromium, and a
# smoke run of the benchmark.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# A clean CI clone gains nothing from incremental artefacts (gigabytes on disk).
[ -n "${CI:-}" ] && export CARGO_INCREMENTAL=0
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "toolchain"
bash scripts/setup.sh --test

step "format and lints (ssr and hydrate), and no import cycle between modules"
cargo fmt --all --check
python3 scripts/module-cycles.py src server/src app/src
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p app --lib --locked --target wasm32-unknown-unknown --no-default-features \
    --features hydrate --target-dir target/front -- -D warnings

step "fuzz targets build and replay their corpora (long runs: scripts/fuzz.sh run)"
cargo fmt --check --manifest-path fuzz/Cargo.toml
bash scripts/fuzz.sh build

step "release build (server + wasm bundle, and the benchmark's upstream MCP server)"
cargo leptos build --release --precompress
cargo build --release --locked -p bench-upstream

step "end-to-end tests (Playwright, Chromium)"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd end2end && CLAVIS_E2E_PORT=$port npx playwright test)

step "admin API against its OpenAPI document (schemathesis, a short run)"
bash scripts/schemathesis.sh

step "benchmark smoke run (a few seconds: checks bench/ still works, asserts no figures)"
python3 bench/bench.py --smoke

step "unit and integration tests on SQLite"
cargo test --workspace --locked

step "the integration tests again on PostgreSQL (a fresh database per test)"
pg=$(bash scripts/postgres.sh)
# Databases left by earlier runs go first.
command -v psql >/dev/null && for db in $(psql "$pg" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'clavis\_t\_%'"); do
    psql "$pg" -qc "DROP DATABASE IF EXISTS $db" >/dev/null
done
CLAVIS_TEST_DATABASE=$pg cargo test --locked -p server --test api
