#!/usr/bin/env bash
# Builds the two release modules of the filter and runs their post-link step
# (scripts/optimise-wasm.sh):
#   target/wasm32-wasip1/release/iis_rewrite_filter.wasm          every feature, body rules included
#   target/wasm32-wasip1/release/iis_rewrite_filter_headers.wasm  headers only: without the body
#       callbacks, so Envoy never enters it per response body chunk; it refuses configurations
#       with body rules (docs/deploying.md#which-module)
# The headers-only build has its own target directory (another feature set of the same crate).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/wasm32-wasip1/release
cargo build -q --release -p iis-rewrite-filter --target wasm32-wasip1
scripts/optimise-wasm.sh "$OUT/iis_rewrite_filter.wasm"
cargo build -q --release -p iis-rewrite-filter --target wasm32-wasip1 --features headers-only \
    --target-dir target/headers-only
HEADERS=target/headers-only/wasm32-wasip1/release/iis_rewrite_filter.wasm
scripts/optimise-wasm.sh --headers-only "$HEADERS"
cp "$HEADERS" "$OUT/iis_rewrite_filter_headers.wasm"
