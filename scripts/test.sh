#!/usr/bin/env bash
# The one test command: setup, then formatting, lints (native and wasm32), unit tests, the engine
# tests compiled to wasm32-wasip1 and run under wasmtime, and the end-to-end tests against real
# Envoy. Every step runs even when an earlier one failed; a summary lists what failed.
# Environment: PYTEST_ARGS (extra pytest arguments), IIS_REWRITE_E2E_WORKERS (xdist workers, 2),
# IIS_REWRITE_FUZZ_SECONDS (seconds per fuzz target, 20).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

scripts/setup.sh || { echo "test: setup failed" >&2; exit 1; }

LOGDIR=target/test-logs
mkdir -p "$LOGDIR"
declare -a NAMES=() RESULTS=() TIMES=()
FAILED=0
T0=$(date +%s)

step() {
    local name=$1; shift
    local log="$LOGDIR/$name.log"
    local t=$(date +%s)
    printf '\n\033[1m== %s\033[0m: %s\n' "$name" "$*"
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    NAMES+=("$name"); TIMES+=($(( $(date +%s) - t )))
    if [ "$rc" = 0 ]; then RESULTS+=("ok"); else RESULTS+=("FAILED (exit $rc, log $log)"); FAILED=1; fi
}

WASI_RUNNER="$ROOT/.venv/bin/python $ROOT/scripts/wasi-run.py"

step fmt cargo fmt --all --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
step clippy-wasm32 cargo clippy -p iis-rewrite-filter --target wasm32-wasip1 --all-targets -- -D warnings
step unit cargo test --workspace
step wasm-tests env CARGO_TARGET_WASM32_WASIP1_RUNNER="$WASI_RUNNER" cargo test -p iis-rewrite-filter --target wasm32-wasip1
# A short run of every fuzz target (scripts/fuzz.sh); skipped only when the nightly toolchain or
# cargo-fuzz cannot be installed (fuzz.sh exits 3), never when a target fails.
fuzz_short() {
    scripts/fuzz.sh "${IIS_REWRITE_FUZZ_SECONDS:-20}"
    local rc=$?
    if [ "$rc" = 3 ]; then
        echo "fuzz: SKIPPED: the nightly toolchain or cargo-fuzz cannot be installed here"
        return 0
    fi
    return "$rc"
}
step fuzz fuzz_short
step e2e env IIS_REWRITE_E2E_NO_BUILD=1 .venv/bin/python -m pytest tests/e2e -n "${IIS_REWRITE_E2E_WORKERS:-2}" ${PYTEST_ARGS:-}

printf '\n\033[1m== summary\033[0m (%ss total)\n' "$(( $(date +%s) - T0 ))"
for i in "${!NAMES[@]}"; do
    printf '  %-14s %5ss  %s\n' "${NAMES[$i]}" "${TIMES[$i]}" "${RESULTS[$i]}"
done
if [ "$FAILED" != 0 ]; then
    grep -h -E '^(FAILED|ERROR) ' "$LOGDIR/e2e.log" 2>/dev/null | sed 's/^/  /' | head -40
    echo "test: FAILED" >&2
    exit 1
fi
echo "test: all passed"
