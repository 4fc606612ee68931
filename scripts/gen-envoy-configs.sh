#!/usr/bin/env bash
# Regenerates every committed example configuration from the web.configs and rule files in
# testdata/ and envoy/, with the `iis-rewrite` CLI, so the examples never drift from the
# generator:
#   envoy/demo.yaml, jellyfin-basic.yaml, jellyfin-advanced.yaml, websocket.yaml,
#   per-route.yaml, remote-wasm.yaml        (`iis-rewrite envoy`: Envoy bootstraps)
#   envoy/istio/wasmplugin.yaml, wasmplugin-https.yaml   (`iis-rewrite istio`: WasmPlugins)
#
# Usage:
#   scripts/gen-envoy-configs.sh             rewrite the committed files in place
#   scripts/gen-envoy-configs.sh --check     compare instead of writing; exit 1 on a difference
#   scripts/gen-envoy-configs.sh --out DIR   write into DIR (DIR/*.yaml, DIR/istio/*.yaml)
#
# Environment:
#   IIS_REWRITE_CLI  the CLI (default target/release/iis-rewrite; build it first).
#   SHA256           the module digest written into the two remote-module examples (default: the
#                    one already committed in envoy/remote-wasm.yaml, since their download URL is
#                    an example; set it to `sha256sum` of the .wasm you publish).
#
# The bootstraps name the wasm by its path relative to the repository root (run Envoy from
# there), except per-route.yaml, which shows a container path (/etc/envoy/...).
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${IIS_REWRITE_CLI:-target/release/iis-rewrite}
WASM=target/wasm32-wasip1/release/iis_rewrite_filter.wasm
REMOTE_URL=https://downloads.example.com/iis-rewrite/0.1.0/plugin.wasm

MODE=write
OUT=.
case "${1:-}" in
    "") ;;
    --check) MODE=check ;;
    --out) MODE=out; OUT=${2:?--out needs a directory}; mkdir -p "$OUT/envoy/istio" ;;
    *) echo "usage: $0 [--check | --out DIR]" >&2; exit 2 ;;
esac
if [ -z "${SHA256:-}" ]; then
    SHA256=$(sed -n 's/^ *sha256: "\{0,1\}\([0-9a-f]\{64\}\)"\{0,1\}$/\1/p' envoy/remote-wasm.yaml | head -1)
    [ -n "$SHA256" ] || { echo "gen: no sha256 in envoy/remote-wasm.yaml; set SHA256" >&2; exit 2; }
fi
STATUS=0

# gen FILE SUBCOMMAND ARGS...: run `iis-rewrite SUBCOMMAND ARGS... -o tmp`, then write, copy or
# compare tmp as FILE (a path relative to the repository root).
gen() {
    local file=$1; shift
    local tmp
    tmp=$(mktemp)
    if ! "$CLI" "$@" -o "$tmp" 2>"$tmp.err"; then
        echo "gen: iis-rewrite $* failed:" >&2
        cat "$tmp.err" >&2
        rm -f "$tmp" "$tmp.err"
        exit 1
    fi
    rm -f "$tmp.err"
    case $MODE in
        check)
            if ! cmp -s "$tmp" "$file"; then
                echo "gen: $file differs from the generator output (run scripts/gen-envoy-configs.sh)" >&2
                diff -u "$file" "$tmp" | head -20 >&2 || true
                STATUS=1
            fi
            rm -f "$tmp" ;;
        write)
            chmod 644 "$tmp"
            mv "$tmp" "$file"
            echo "wrote $file" ;;
        out)
            chmod 644 "$tmp"
            mv "$tmp" "$OUT/$file" ;;
    esac
}

LOCAL=(--wasm "$WASM" --listen 127.0.0.1:8080 --admin 127.0.0.1:9901)

# The demo (scripts/demo.sh): the Jellyfin basic inbound rules as JSON, demo upstream on :8096.
gen envoy/demo.yaml envoy testdata/jellyfin-basic-inbound.json \
    "${LOCAL[@]}" --default-upstream 127.0.0.1:8096
# The two web.configs of Jellyfin's reverse-proxy documentation (advanced: with its typo fixed).
gen envoy/jellyfin-basic.yaml envoy testdata/webconfigs/jellyfin-basic.config \
    "${LOCAL[@]}" --default-upstream 127.0.0.1:8096
gen envoy/jellyfin-advanced.yaml envoy testdata/webconfigs/jellyfin-advanced.config \
    "${LOCAL[@]}" --default-upstream 127.0.0.1:8096
# noVNC behind IIS: WebSocket upgrades proxied to websockify on :6080.
gen envoy/websocket.yaml envoy testdata/webconfigs/novnc-websocket.config \
    "${LOCAL[@]}" --default-upstream 127.0.0.1:6080

# Two applications with their own web.config behind one listener:
#  - media.example runs the Jellyfin rules (proxy to localhost:8096, / -> /web/);
#  - shop.example runs the site-migration rules (legacy redirects, proxy to 127.0.0.1:5000);
#  - every other host runs envoy/sites/default.config (404);
#  - /healthz skips the filter on every host and goes to the site's default upstream.
gen envoy/per-route.yaml envoy envoy/sites/default.config \
    --site media.example=testdata/webconfigs/jellyfin-basic.config \
    --site shop.example=testdata/webconfigs/redirect-map.config \
    --site-upstream media.example=localhost:8096 \
    --site-upstream shop.example=127.0.0.1:5000 \
    --bypass /healthz \
    --wasm /etc/envoy/iis_rewrite_filter.wasm \
    --listen 0.0.0.0:8080 --admin 127.0.0.1:9901

# Envoy downloads the module over HTTPS and refuses it unless its sha256 is $SHA256 (cluster
# iis-wasm-download, TLS verified against the system CA bundle).
gen envoy/remote-wasm.yaml envoy envoy/istio/web.config \
    --wasm "$REMOTE_URL" --wasm-sha256 "$SHA256" \
    --listen 0.0.0.0:8080 --admin 127.0.0.1:9901 --default-upstream 127.0.0.1:8096

# Istio sidecar of the `web` workloads: inbound traffic to the application port, module from an
# OCI registry (image built with envoy/istio/Dockerfile).
gen envoy/istio/wasmplugin.yaml istio envoy/istio/web.config \
    --image oci://registry.example.com/filters/iis-rewrite:0.1.0 \
    --name iis-rewrite --namespace web --selector app=web \
    --mode SERVER --port 8080 --phase AUTHN --fail-strategy FAIL_RELOAD
# Istio ingress gateway: the module over HTTPS, pinned by its sha256.
gen envoy/istio/wasmplugin-https.yaml istio envoy/istio/web.config \
    --image "$REMOTE_URL" --sha256 "$SHA256" \
    --name iis-rewrite-gateway --namespace istio-system --selector istio=ingressgateway \
    --mode CLIENT --port 8080 --port 8443 --phase AUTHN --priority 10 --fail-strategy FAIL_RELOAD

exit $STATUS
