#!/usr/bin/env bash
# Bounded soak on loopback: the generated bootstrap with block, redirect, proxy and bypass rules,
# 1,000,000 HTTP/1.1 requests of mixed kinds plus 1% over HTTP/2, while 50 WebSockets stay open.
# Stops by itself; prints Envoy's RSS before and after and exits 1 on any unexpected answer.
#   scripts/soak.sh [--requests N] [--websockets W] [--connections C] [--h2-requests N]
# Needs the release CLI and wasm (cargo build --release …, see README) and .venv (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python tests/soak/soak.py "$@"
