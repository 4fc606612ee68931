#!/usr/bin/env python3
"""Demo upstream for scripts/demo.sh: plays the Jellyfin server behind the rules.

* any path: an HTML page (or JSON with `Accept: application/json`) showing the request line and
  the headers exactly as they arrived — the rewritten path, X-Forwarded-*, X-Real-IP, Host;
* `/socket`: a WebSocket echo endpoint (what the browser page's button and `websockets`
  one-liner talk to).

Usage: demo_upstream.py [--host 127.0.0.1] [--port 8096]
"""

import argparse
import asyncio
import html
import json
import signal
from http import HTTPStatus

from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Response

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>demo upstream</title>
<style>body{{font-family:sans-serif;margin:2em}}td{{padding:2px 8px;font-family:monospace}}</style>
</head><body>
<h1>Demo upstream (plays Jellyfin on :{port})</h1>
<p>Request as it arrived: <code>{method} {path}</code></p>
<table>{rows}</table>
<h2>WebSocket</h2>
<p><button id="b">echo over /socket</button> <span id="o"></span></p>
<script>
document.getElementById('b').onclick = function () {{
  var s = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/socket');
  s.onopen = function () {{ s.send('hello through Envoy'); }};
  s.onmessage = function (e) {{ document.getElementById('o').textContent = 'echo: ' + e.data; s.close(); }};
  s.onerror = function () {{ document.getElementById('o').textContent = 'WebSocket failed'; }};
}};
</script>
</body></html>
"""


def make_process_request(port):
    def process_request(connection, request):
        if request.path.split("?")[0] == "/socket":
            return None  # continue with the WebSocket handshake
        headers = list(request.headers.raw_items())
        if "application/json" in request.headers.get("Accept", ""):
            body = json.dumps({"path": request.path, "headers": headers}, indent=1).encode()
            ctype = "application/json"
        else:
            rows = "".join(
                f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in headers
            )
            body = PAGE.format(port=port, method="GET", path=html.escape(request.path), rows=rows).encode()
            ctype = "text/html; charset=utf-8"
        return Response(
            HTTPStatus.OK.value,
            HTTPStatus.OK.phrase,
            Headers([("Content-Type", ctype), ("Content-Length", str(len(body))), ("Connection", "close")]),
            body,
        )

    return process_request


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8096)
    args = ap.parse_args()
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(echo, args.host, args.port, process_request=make_process_request(args.port)):
        print(f"demo upstream on http://{args.host}:{args.port} (WebSocket echo at /socket)", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
