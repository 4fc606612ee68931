#!/usr/bin/env bash
# Regenerates the WasmPlugin manifests of this directory from envoy/istio/web.config.
#   envoy/istio/generate.sh [OUTDIR]      (default: envoy/istio)
# IIS_REWRITE_CLI: the CLI (default target/release/iis-rewrite).
# SHA256: the module's sha256 for the https:// variant (default: sha256sum of the release
#   .wasm, the file you publish at that URL).
# tests/e2e/test_istio.py runs this into a temporary directory and compares the output with
# the committed manifests, so they cannot drift from the web.config or the generator.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-envoy/istio}"
cli="${IIS_REWRITE_CLI:-target/release/iis-rewrite}"
wasm=target/wasm32-wasip1/release/iis_rewrite_filter.wasm
sha="${SHA256:-$(sha256sum "$wasm" | cut -d' ' -f1)}"

# Sidecar of the `web` workloads: inbound traffic to the application port, image from a registry.
"$cli" istio envoy/istio/web.config \
    --image oci://registry.example.com/filters/iis-rewrite:0.1.0 \
    --name iis-rewrite --namespace web --selector app=web \
    --mode SERVER --port 8080 --phase AUTHN --fail-strategy FAIL_RELOAD \
    -o "$out/wasmplugin.yaml"

# Ingress gateway: the module over HTTPS, pinned by its sha256.
"$cli" istio envoy/istio/web.config \
    --image https://downloads.example.com/iis-rewrite/0.1.0/plugin.wasm --sha256 "$sha" \
    --name iis-rewrite-gateway --namespace istio-system --selector istio=ingressgateway \
    --mode CLIENT --port 8080 --port 8443 --phase AUTHN --priority 10 --fail-strategy FAIL_RELOAD \
    -o "$out/wasmplugin-https.yaml"
