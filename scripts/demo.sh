#!/usr/bin/env bash
# The one demo command: Envoy + the filter + a demo upstream, on the Jellyfin basic inbound rules
# (envoy/demo.yaml, generated from testdata/jellyfin-basic-inbound.json). Runs in the foreground;
# Ctrl-C stops everything.
#   scripts/demo.sh               run (ports 8080, admin 9901, upstream 8096; DEMO_PORT,
#                                 DEMO_ADMIN_PORT, DEMO_UPSTREAM_PORT override; a busy port is
#                                 replaced by a free one)
#   scripts/demo.sh --regenerate  rewrite every committed example (scripts/gen-envoy-configs.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

scripts/setup.sh

if [ "${1:-}" = "--regenerate" ]; then
    exec scripts/gen-envoy-configs.sh
fi

PY=.venv/bin/python
port_or_free() {  # the wanted port when free on 127.0.0.1, else a free one
    "$PY" - "$1" <<'PYEOF'
import socket, sys
want = int(sys.argv[1])
s = socket.socket()
try:
    s.bind(("127.0.0.1", want))
except OSError:
    s.close(); s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
PYEOF
}
PORT=$(port_or_free "${DEMO_PORT:-8080}")
ADMIN=$(port_or_free "${DEMO_ADMIN_PORT:-9901}")
UP=$(port_or_free "${DEMO_UPSTREAM_PORT:-8096}")

WORK=$(mktemp -d -t iis-rewrite-demo.XXXXXX)
PIDS=()
cleanup() {
    trap - INT TERM EXIT
    echo
    echo "demo: stopping"
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup INT TERM EXIT

if [ "$PORT:$ADMIN:$UP" = "8080:9901:8096" ]; then
    CONFIG=envoy/demo.yaml
else
    # Same generator, other ports; the rules' localhost:8096 is pointed at the demo upstream.
    CONFIG=$WORK/demo.yaml
    target/release/iis-rewrite envoy testdata/jellyfin-basic-inbound.json \
        --wasm target/wasm32-wasip1/release/iis_rewrite_filter.wasm \
        --listen "127.0.0.1:$PORT" --admin "127.0.0.1:$ADMIN" \
        --default-upstream "127.0.0.1:$UP" --resolve "localhost:8096=127.0.0.1:$UP" -o "$CONFIG" 2>/dev/null
    echo "demo: ports 8080/9901/8096 busy, using $PORT (admin $ADMIN, upstream $UP)"
fi

"$PY" scripts/demo_upstream.py --port "$UP" &
PIDS+=($!)
.venv/bin/envoy -c "$CONFIG" --disable-hot-restart --concurrency 1 -l warn \
    --component-log-level wasm:info --log-path "$WORK/envoy.log" &
PIDS+=($!)

for _ in $(seq 1 100); do
    if curl -fs "http://127.0.0.1:$ADMIN/ready" >/dev/null 2>&1; then break; fi
    if ! kill -0 "${PIDS[1]}" 2>/dev/null; then echo "demo: envoy did not start:"; cat "$WORK/envoy.log"; exit 1; fi
    sleep 0.1
done

B="http://127.0.0.1:$PORT"
cat <<MSG

Envoy with the IIS rewrite filter is listening on $B (admin http://127.0.0.1:$ADMIN).
Rules: testdata/jellyfin-basic-inbound.json (the Jellyfin basic web.config); upstream: demo server on :$UP.

Try:
  curl -i $B/                                   # 302 Location: /web/          (rule "Redirect")
  curl -s $B/web/ -H 'Accept: application/json' # upstream sees /web/index.html (rules "web", "Proxy")
  curl -s $B/Items/1 -H 'Accept: application/json' -H 'X-Forwarded-Proto: https'   # replaced by http
  curl -s $B/.well-known/acme-challenge/x -H 'Accept: application/json'           # not proxied
  curl -s $B/ -H 'x-iis-rewrite-upstream: anything' -o /dev/null -w '%{http_code}\n'  # cannot pick a cluster
  .venv/bin/python -m websockets ws://127.0.0.1:$PORT/socket   # type a line: the upstream echoes it
  open $B/web/ in a browser (the page has a WebSocket button)
  curl -s http://127.0.0.1:$ADMIN/stats | grep wasmcustom   # per-rule and per-action counters

Envoy log: $WORK/envoy.log. Ctrl-C stops everything.
MSG

wait -n "${PIDS[@]}" || true
echo "demo: a process exited"
