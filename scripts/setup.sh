#!/usr/bin/env bash
# Installs everything Clavis needs to build and test on a fresh machine.
# Every step checks first and is skipped when already done, so a warm re-run takes seconds.
#
#   scripts/setup.sh          toolchain for building and running (wasm target, cargo-leptos,
#                             wasm-bindgen CLI, wasm-opt)
#   scripts/setup.sh --test   also the browser and the end-to-end test dependencies, and
#                             what the benchmark needs (its smoke run is part of the tests)
#   scripts/setup.sh --bench  also the benchmark's load generator (wrk) and peer (node
#                             oidc-provider)
set -euo pipefail

CARGO_LEPTOS_VERSION=0.3.11
BINARYEN_VERSION=132.0.0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# The wasm-bindgen CLI must match the wasm-bindgen crate in Cargo.lock exactly.
wasm_bindgen_version() {
    awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# `cargo install` of a pinned tool whose own lock file no longer resolves on this registry or
# toolchain: unpack its sources, adjust the lock with the given `cargo update` arguments, install.
install_from_source() {
    local crate=$1 version=$2
    shift 2
    local src
    src=$(find "$HOME/.cargo/registry/src" -maxdepth 2 -type d -name "$crate-$version" 2>/dev/null | head -n1 || true)
    if [ -z "$src" ]; then
        # Unpacks the sources into the registry cache; the build itself may fail, which is why we are here.
        cargo install "$crate" --version "$version" --locked >/dev/null 2>&1 || true
        src=$(find "$HOME/.cargo/registry/src" -maxdepth 2 -type d -name "$crate-$version" | head -n1)
    fi
    local work
    work=$(mktemp -d)
    cp -r "$src" "$work/src"
    rm -f "$work/src/rust-toolchain.toml" "$work/src/rust-toolchain"
    (
        cd "$work/src"
        while [ $# -gt 0 ]; do
            cargo update "$1" "$2" --precise "$3"
            shift 3
        done
        CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
            cargo install --path . --locked
    )
    rm -rf "$work"
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
fi

if ! command -v wasm-opt >/dev/null || ! wasm-opt --version | grep -q "version ${BINARYEN_VERSION%%.*}"; then
    # Debian's binaryen (v108) produces wasm that fails in the browser: use npm's.
    log "installing wasm-opt (npm binaryen@$BINARYEN_VERSION)"
    npm install -g --no-fund --no-audit "binaryen@$BINARYEN_VERSION"
fi

WB_VERSION=$(wasm_bindgen_version)
if [ -z "$WB_VERSION" ]; then
    echo "setup: Cargo.lock names no wasm-bindgen version" >&2
    exit 1
fi
if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$WB_VERSION" ]; then
    log "installing wasm-bindgen-cli $WB_VERSION (a few minutes)"
    cargo install wasm-bindgen-cli --version "$WB_VERSION" --locked \
        || install_from_source wasm-bindgen-cli "$WB_VERSION" -p webpki-roots 1.0.10
fi

if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
    log "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 25 minutes on 2 cores, once)"
    install_from_source cargo-leptos "$CARGO_LEPTOS_VERSION" -p cargo-util-schemas 0.14.1
fi

apt_install() {
    log "installing Debian's $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "$@" >/dev/null
}

if [ "${1:-}" = "--test" ] || [ "${1:-}" = "--bench" ]; then
    command -v wrk >/dev/null || apt_install wrk
    if [ ! -d "$ROOT/bench/peer/node_modules" ] || [ "$ROOT/bench/peer/package-lock.json" -nt "$ROOT/bench/peer/node_modules/.package-lock.json" ]; then
        log "installing the benchmark's peer (npm ci)"
        (cd "$ROOT/bench/peer" && npm ci --no-fund --no-audit)
    fi
fi

if [ "${1:-}" = "--test" ]; then
    command -v chromium >/dev/null || apt_install chromium
    # The cluster test puts two instances behind a real load balancer.
    command -v haproxy >/dev/null || apt_install haproxy
    # The official Python MCP SDK, for the end-to-end test that it finds its own way in.
    venv="$ROOT/end2end/.venv"
    if [ ! -x "$venv/bin/python" ] || [ "$ROOT/end2end/python/requirements.txt" -nt "$venv/.installed" ]; then
        log "installing the Python MCP SDK into end2end/.venv (pip)"
        python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$venv"; }
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$ROOT/end2end/python/requirements.txt"
        touch "$venv/.installed"
    fi
    # Schemathesis (pinned) checks the admin API against its OpenAPI document.
    venv="$ROOT/end2end/.venv-schemathesis"
    if [ ! -x "$venv/bin/schemathesis" ] || [ "$ROOT/end2end/schemathesis/requirements.txt" -nt "$venv/.installed" ]; then
        log "installing schemathesis into end2end/.venv-schemathesis (pip)"
        python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$venv"; }
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$ROOT/end2end/schemathesis/requirements.txt"
        touch "$venv/.installed"
    fi
    if [ ! -d "$ROOT/end2end/node_modules" ] || [ "$ROOT/end2end/package-lock.json" -nt "$ROOT/end2end/node_modules/.package-lock.json" ]; then
        log "installing end-to-end test dependencies (npm ci)"
        (cd "$ROOT/end2end" && npm ci --no-fund --no-audit)
    fi
fi
log "toolchain ready"
