#!/usr/bin/env bash
# Fuzz targets (fuzz/, cargo-fuzz + libFuzzer): the token endpoint's form and client
# authentication (token_request), access-token verification (access_token),
# private_key_jwt public keys and assertions (client_assertion) and the gateway's
# JSON-RPC inspection and SSE narrowing (jsonrpc), workload tokens and federation rules
# (workload_token), DPoP proofs and nonces (dpop_proof).
#
#   scripts/fuzz.sh build                     build every target and replay its corpus
#   scripts/fuzz.sh build --dev               the same unoptimised: builds in half the
#                                             time, what the test command does
#   scripts/fuzz.sh run [SECONDS] [TARGET…]   run each for SECONDS (600), then minimise
#                                             its corpus (fuzz/target/corpus/TARGET) and
#                                             keep a small sample in fuzz/corpus/TARGET
#
# Runs on the stable toolchain (RUSTC_BOOTSTRAP=1 lets it take the sanitizer flags).
# A crash is saved under fuzz/artifacts/TARGET/; replay it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-…  (in fuzz/)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
export PATH="$HOME/.cargo/bin:$PATH" RUSTC_BOOTSTRAP=1
targets=(token_request access_token client_assertion jsonrpc workload_token dpop_proof)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked --version 0.13.2 >&2
fi

case "${1:-build}" in
build)
    mode=()
    [ "${2:-}" = "--dev" ] && mode=(--dev)
    cargo fuzz build "${mode[@]}"
    for t in "${targets[@]}"; do
        # Once over the committed corpus: the targets start and find nothing.
        cargo fuzz run "${mode[@]}" "$t" "corpus/$t" -- -runs=0
    done
    ;;
run)
    seconds=${2:-600}
    shift $(($# > 1 ? 2 : 1))
    [ $# -gt 0 ] && targets=("$@")
    cargo fuzz build
    for t in "${targets[@]}"; do
        work=target/corpus/$t
        mkdir -p "$work" "corpus/$t"
        cargo fuzz run "$t" "$work" "corpus/$t" -- -max_total_time="$seconds" -print_final_stats=1
        # The repository keeps the hand-written seeds (named) and the 200 smallest inputs
        # of the minimised corpus (named by hash); the full one stays in fuzz/target.
        cargo fuzz cmin "$t" "$work"
        find "corpus/$t" -type f -regextype egrep -regex '.*/[0-9a-f]{40}' -delete
        find "$work" -type f -printf '%s %p\n' | sort -n | head -200 | cut -d' ' -f2- |
            xargs -r cp -t "corpus/$t"
    done
    ;;
*)
    sed -n '2,15p' "${BASH_SOURCE[0]}" >&2
    exit 2
    ;;
esac
