#!/usr/bin/env bash
# Regenerates the generated Envoy examples of this directory.
#   envoy/generate-examples.sh [OUTDIR]      (default: envoy)
# IIS_REWRITE_CLI: the CLI (default target/release/iis-rewrite).
# tests/e2e/test_per_route.py and test_istio.py run this into a temporary directory and compares the output
# with the committed files, so they cannot drift from the web.configs or the generator.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-envoy}"
cli="${IIS_REWRITE_CLI:-target/release/iis-rewrite}"
# SHA256: the module's sha256 for remote-wasm.yaml (default: sha256sum of the release .wasm,
# the file you publish at that URL).
wasm=target/wasm32-wasip1/release/iis_rewrite_filter.wasm
sha="${SHA256:-$(sha256sum "$wasm" | cut -d' ' -f1)}"

# per-route.yaml: two applications with their own web.config behind one listener.
#  - media.example runs the Jellyfin rules (proxy to localhost:8096, / -> /web/);
#  - shop.example runs the site-migration rules (legacy redirects, proxy to 127.0.0.1:5000);
#  - every other host runs envoy/sites/default.config (404);
#  - /healthz skips the filter on every host and goes to the site's default upstream.
"$cli" envoy envoy/sites/default.config \
    --site media.example=testdata/webconfigs/jellyfin-basic.config \
    --site shop.example=testdata/webconfigs/redirect-map.config \
    --site-upstream media.example=localhost:8096 \
    --site-upstream shop.example=127.0.0.1:5000 \
    --bypass /healthz \
    --wasm /etc/envoy/iis_rewrite_filter.wasm \
    --listen 0.0.0.0:8080 --admin 127.0.0.1:9901 \
    -o "$out/per-route.yaml"

# remote-wasm.yaml: Envoy downloads the module over HTTPS and refuses it unless its sha256 is
# this one (cluster iis-wasm-download, TLS verified against the system CA bundle).
"$cli" envoy envoy/istio/web.config \
    --wasm https://downloads.example.com/iis-rewrite/0.1.0/plugin.wasm --wasm-sha256 "$sha" \
    --listen 0.0.0.0:8080 --admin 127.0.0.1:9901 --default-upstream 127.0.0.1:8096 \
    -o "$out/remote-wasm.yaml"
