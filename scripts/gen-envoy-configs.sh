#!/usr/bin/env bash
# Writes the committed bootstraps envoy/*.yaml with `iis-rewrite envoy` from testdata/, so they
# never drift from the generator. --check compares instead of writing (exit 1 on a difference).
# The bootstraps name the wasm by its path relative to the repository root: run Envoy from there.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${IIS_REWRITE_CLI:-target/release/iis-rewrite}
WASM=target/wasm32-wasip1/release/iis_rewrite_filter.wasm
CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1
STATUS=0

gen() {
    local out=$1; shift
    local tmp
    tmp=$(mktemp)
    "$CLI" envoy "$@" --wasm "$WASM" -o "$tmp" 2>/dev/null || { echo "gen: iis-rewrite envoy $* failed" >&2; "$CLI" envoy "$@" --wasm "$WASM" >/dev/null; exit 1; }
    if [ "$CHECK" = 1 ]; then
        if ! cmp -s "$tmp" "$out"; then
            echo "gen: $out differs from the generator output (run scripts/gen-envoy-configs.sh)" >&2
            diff -u "$out" "$tmp" | head -20 >&2 || true
            STATUS=1
        fi
        rm -f "$tmp"
    else
        chmod 644 "$tmp"
        mv "$tmp" "$out"
        echo "wrote $out"
    fi
}

# The demo: Jellyfin basic inbound rules, demo upstream on :8096 (scripts/demo.sh).
gen envoy/demo.yaml testdata/jellyfin-basic-inbound.json \
    --listen 127.0.0.1:8080 --admin 127.0.0.1:9901 --default-upstream 127.0.0.1:8096
# The Jellyfin web.configs from the Jellyfin documentation (advanced: with the typo fixed).
gen envoy/jellyfin-basic.yaml testdata/webconfigs/jellyfin-basic.config \
    --listen 127.0.0.1:8080 --admin 127.0.0.1:9901 --default-upstream 127.0.0.1:8096
gen envoy/jellyfin-advanced.yaml testdata/webconfigs/jellyfin-advanced.config \
    --listen 127.0.0.1:8080 --admin 127.0.0.1:9901 --default-upstream 127.0.0.1:8096
# noVNC behind IIS: WebSocket upgrades proxied to websockify on :6080.
gen envoy/websocket.yaml testdata/webconfigs/novnc-websocket.config \
    --listen 127.0.0.1:8080 --admin 127.0.0.1:9901 --default-upstream 127.0.0.1:6080
exit $STATUS
