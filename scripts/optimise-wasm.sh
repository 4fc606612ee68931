#!/usr/bin/env bash
# The wasm's post-link step, in place: keep only the exports listed in filter/wasm-exports.txt
# (Envoy then never enters the VM for callbacks the filter does not implement) and optimise with
# Binaryen's wasm-opt -Oz (docs/benchmarks.md#wasm-size). Binaryen comes from npm, pinned, into
# .cache/binaryen; without npm (or offline without that folder) the module stays as cargo linked
# it, which works the same, only larger. A stamp holding the result's checksum makes a second run
# a no-op until cargo links a new module.
#
# --headers-only also strips the exports marked `body` in that list (the headers-only build).
#
#   scripts/optimise-wasm.sh [--headers-only] [WASM]   (default: the release filter)
set -euo pipefail
cd "$(dirname "$0")/.."
HEADERS_ONLY=0
if [ "${1:-}" = --headers-only ]; then
    HEADERS_ONLY=1
    shift
fi
WASM=${1:-target/wasm32-wasip1/release/iis_rewrite_filter.wasm}
STAMP=$WASM.optimised
BINARYEN_VERSION=132.0.0
BIN=.cache/binaryen/node_modules/.bin

if ! grep -qs "\"version\": \"$BINARYEN_VERSION\"" .cache/binaryen/node_modules/binaryen/package.json; then
    if ! command -v npm >/dev/null; then
        echo "optimise-wasm: npm not found: $WASM stays unoptimised" >&2
        exit 0
    fi
    echo "optimise-wasm: installing binaryen $BINARYEN_VERSION (npm) into .cache/binaryen" >&2
    mkdir -p .cache/binaryen
    npm install -q --no-audit --no-fund --no-save --prefix .cache/binaryen "binaryen@$BINARYEN_VERSION" >/dev/null \
        || { echo "optimise-wasm: npm install binaryen failed: $WASM stays unoptimised" >&2; exit 0; }
fi
if [ -f "$STAMP" ] && [ "$(sha256sum < "$WASM")" = "$(cat "$STAMP")" ]; then
    exit 0
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
EXPORTS=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' filter/wasm-exports.txt |
    awk -v headers_only=$HEADERS_ONLY 'headers_only && $2 == "body" { next } { print $1 }')
{
    printf '[{"name":"root","root":true,"reaches":['
    sed 's/.*/"&"/' <<<"$EXPORTS" | paste -sd, -
    printf ']}'
    sed 's/.*/,{"name":"&","export":"&"}/' <<<"$EXPORTS"
    printf ']\n'
} > "$WORK/graph.json"
# Rust's wasm32-wasip1 default features, all of which Envoy's V8 and wasmtime run.
FEATURES=(--enable-bulk-memory --enable-sign-ext --enable-mutable-globals
    --enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types)
BEFORE=$(stat -c %s "$WASM")
"$BIN/wasm-metadce" "${FEATURES[@]}" --graph-file "$WORK/graph.json" "$WASM" -o "$WORK/dce.wasm" >/dev/null
"$BIN/wasm-opt" "${FEATURES[@]}" -Oz --strip-debug "$WORK/dce.wasm" -o "$WORK/opt.wasm"
mv "$WORK/opt.wasm" "$WASM"
sha256sum < "$WASM" > "$STAMP"
echo "optimise-wasm: $WASM $BEFORE -> $(stat -c %s "$WASM") bytes" >&2
