#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/) for SECONDS each (default 60) and prints the executions
# per target. Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Needs the nightly toolchain and cargo-fuzz; both are installed when missing (rustup, crates.io).
# Exit 0: no finding. Exit 1: a target failed; its input is in fuzz/artifacts/<target>/: fix the
# bug, then copy the input to fuzz/regressions/<target>/ so `cargo test` replays it for good.
# Exit 3: the nightly toolchain or cargo-fuzz cannot be installed (the caller decides whether that
# is a skip). The working corpus (fuzz/corpus/, not committed) starts from the committed seeds,
# the regressions and the project's own test data, and grows from run to run.
set -uo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(import json_config request)

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz: installing the nightly toolchain" >&2
    rustup toolchain install nightly --profile minimal >&2 ||
        { echo "fuzz: the nightly toolchain cannot be installed" >&2; exit 3; }
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked >&2 || { echo "fuzz: cargo-fuzz cannot be installed" >&2; exit 3; }
fi

# Seeds for each target, besides fuzz/seeds/<target> and fuzz/regressions/<target>.
seeds() {
    case $1 in
        import) echo testdata/webconfigs testdata/broken testdata/examples ;;
        json_config) echo testdata/examples ;;
        *) ;;
    esac
}

# No sanitizer: the code is safe Rust (no unsafe block in the workspace), so AddressSanitizer
# would only slow the runs down; a panic, an abort or a timeout is what the targets look for.
FUZZ_FLAGS=(--sanitizer none)
cargo +nightly fuzz build "${FUZZ_FLAGS[@]}" >&2 || { echo "fuzz: the targets do not build" >&2; exit 1; }

FAILED=0
declare -a SUMMARY=()
for t in "${TARGETS[@]}"; do
    corpus=fuzz/corpus/$t
    mkdir -p "$corpus" "fuzz/regressions/$t"
    dirs=("$corpus" "fuzz/regressions/$t")
    [ -d "fuzz/seeds/$t" ] && dirs+=("fuzz/seeds/$t")
    for d in $(seeds "$t"); do dirs+=("$d"); done
    log=fuzz/artifacts/$t.log
    mkdir -p fuzz/artifacts
    echo "== fuzz $t: ${SECONDS_PER_TARGET}s" >&2
    cargo +nightly fuzz run "${FUZZ_FLAGS[@]}" "$t" "${dirs[@]}" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1
    rc=$?
    runs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -1)
    [ -n "$runs" ] || runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
    if [ "$rc" = 0 ]; then
        SUMMARY+=("$t: ${runs:-?} executions in ${SECONDS_PER_TARGET}s, no finding")
    else
        FAILED=1
        SUMMARY+=("$t: FAILED after ${runs:-?} executions (exit $rc): see $log and fuzz/artifacts/$t/")
        grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -8 >&2
    fi
done
printf '%s\n' "${SUMMARY[@]}"
exit "$FAILED"
