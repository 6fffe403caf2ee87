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
# Each step says how long the one before took and how far in the run is: where a slow
# run spent its time is in its log (which ends with the test runner's summary).
started=$SECONDS
last=
step() {
    [ -n "$last" ] && printf '(%d s)\n' $((SECONDS - last))
    last=$SECONDS
    printf '\n\033[1m== %s\033[0m  [%d min in]\n' "$*" $(((SECONDS - started) / 60))
}
# A step that hangs fails on its own, naming itself, instead of running into CI's limit
# with nothing said (libtest names a test running for over 60 s before that).
bounded() {
    local minutes=$1 rc=0
    shift
    timeout -k 20s "${minutes}m" "$@" || rc=$?
    [ "$rc" -eq 124 ] && printf '\ntest command: stopped after %s min: %s\n' "$minutes" "$*" >&2
    return "$rc"
}

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
bash scripts/fuzz.sh build --dev

step "release build (server + wasm bundle, and the benchmark's upstream MCP server)"
# What the tests check is the code, not the optimiser: the release build here skips LTO
# and optimises lightly (the server in 15 min instead of 22.5 on 2 cores). Run or bench
# (scripts/run.sh, bench/run.sh) and cargo rebuilds with the shipping profile.
quick_release=(env CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_LTO=false
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=64 CARGO_PROFILE_WASM_RELEASE_LTO=false
    CARGO_PROFILE_WASM_RELEASE_CODEGEN_UNITS=16)
"${quick_release[@]}" cargo leptos build --release --precompress
"${quick_release[@]}" cargo build --release --locked -p bench-upstream

step "end-to-end tests (Playwright, Chromium)"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd end2end && CLAVIS_E2E_PORT=$port bounded 30 npx playwright test)

step "admin API against its OpenAPI document (schemathesis, a short run)"
bash scripts/schemathesis.sh

step "benchmark smoke run (a few seconds: checks bench/ still works, asserts no figures)"
python3 bench/bench.py --smoke

step "unit and integration tests on SQLite"
bounded 40 cargo test --workspace --locked

step "the integration tests again on PostgreSQL (a fresh database per test)"
pg=$(bash scripts/postgres.sh)
# Databases left by earlier runs go first.
command -v psql >/dev/null && for db in $(psql "$pg" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'clavis\_t\_%'"); do
    psql "$pg" -qc "DROP DATABASE IF EXISTS $db" >/dev/null
done
# `--workspace` as above: the same features, so nothing is built again.
CLAVIS_TEST_DATABASE=$pg bounded 20 cargo test --workspace --locked --test api
