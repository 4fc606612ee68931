"""Bounded soak of the generated deployment on loopback: N requests of mixed kinds (plain,
blocked, redirected, proxied with server variables, encoded separators, oversized headers,
HTTP/2) over keep-alive connections, while W WebSockets stay open and echo. Stops by itself;
prints Envoy's RSS before and after, the status counts and the wasm VM counters, and exits 1
when a request got an undefined answer, a WebSocket broke, or a blocked file was served.

    .venv/bin/python tests/soak/soak.py --requests 1000000 --websockets 50
(scripts/soak.sh runs it with the full numbers.)
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.client
import itertools
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "e2e"))

import harness  # noqa: E402
from test_security_paths import BLOCK_RULE, SECRET, docroot  # noqa: E402
from websockets.sync.client import connect as ws_connect  # noqa: E402
from ws_servers import EchoServer  # noqa: E402


def rules(app: str, ws: str) -> str:
    return f"""<configuration><system.webServer><rewrite><rules>{BLOCK_RULE}
  <rule name="go" stopProcessing="true">
    <match url="^go/(.*)" />
    <action type="Redirect" url="/{{R:1}}" redirectType="Found" />
  </rule>
  <rule name="ws" stopProcessing="true">
    <match url="^ws$" />
    <action type="Rewrite" url="http://{ws}/ws" />
  </rule>
  <rule name="app" stopProcessing="true">
    <match url="^app/(.*)" />
    <serverVariables>
      <set name="HTTP_X_REAL_IP" value="{{REMOTE_ADDR}}" />
      <set name="HTTP_X_FROM_QUERY" value="{{QUERY_STRING}}" />
    </serverVariables>
    <action type="Rewrite" url="http://{app}/{{R:1}}" />
  </rule>
</rules></rewrite></system.webServer></configuration>
"""


# (kind, path, extra headers, allowed statuses)
MIX = [
    ("page", "/web/index.html", {}, {200}),
    ("blocked", "/system/config/secret.txt", {}, {403}),
    ("encoded-slash", "/%2Fsystem/config/secret.txt", {}, {403}),
    ("backslash", "/static/..%5Csystem/config/secret.txt", {}, {403}),
    ("double-escape", "/%252Fsystem/config/secret.txt", {}, {404}),
    ("redirect", "/go/web/index.html", {}, {302}),
    ("proxied", "/app/item?id=1", {"X-Forwarded-For": "203.0.113.9"}, {200}),
    ("big-header", "/web/index.html", {"X-Big": "a" * 8000}, {200}),
    ("bypass", "/static/app.css", {}, {200}),
]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def http_worker(port, count, counts, failures, lock):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    mix = itertools.cycle(MIX)
    local = collections.Counter()
    for _ in range(count):
        kind, path, headers, allowed = next(mix)
        try:
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            body = r.read()
            status = r.status
            if r.getheader("connection", "").lower() == "close":
                conn.close()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            status, body = f"error:{type(e).__name__}", b""
        local[(kind, status)] += 1
        if status not in allowed or (kind != "page" and SECRET in body):
            with lock:
                failures.append((kind, path, status))
    with lock:
        counts.update(local)
    conn.close()


def h2_worker(port, count, counts, failures, lock):
    local = collections.Counter()
    for i in range(count):
        kind, path, _, allowed = MIX[i % len(MIX)]
        r = harness.h2_request(port, path.encode())
        local[(f"h2-{kind}", r.status)] += 1
        if r.status not in allowed or SECRET in r.body:
            with lock:
                failures.append((f"h2-{kind}", path, r.status))
    with lock:
        counts.update(local)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1_000_000, help="HTTP/1.1 requests in all")
    ap.add_argument("--h2-requests", type=int, default=None, help="HTTP/2 requests (default: 1%%)")
    ap.add_argument("--websockets", type=int, default=50, help="WebSockets held open throughout")
    ap.add_argument("--connections", type=int, default=8, help="keep-alive HTTP/1.1 connections")
    args = ap.parse_args()
    h2_count = args.requests // 100 if args.h2_requests is None else args.h2_requests

    with tempfile.TemporaryDirectory(prefix="iis-soak-") as tmp:
        root = docroot(Path(tmp) / "root")
        (root / "item").write_bytes(b"ok")  # the proxied application's answer
        with harness.FileServer(root) as files, EchoServer() as ws, contextlib.ExitStack() as stack:
            config = Path(tmp) / "web.config"
            config.write_text(rules(files.address, f"127.0.0.1:{ws.port}"))
            text = harness.generate_bootstrap(config, 0, files.address, ["--bypass", "/static"])
            with harness.Envoy(text, log_level="warning", component_log_level=None) as envoy:
                port, pid = envoy.port, envoy.proc.pid
                sockets = [stack.enter_context(ws_connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10))
                           for _ in range(args.websockets)]
                for i, s in enumerate(sockets):
                    s.send(f"open {i}")
                    assert s.recv(timeout=10) == f"open {i}"
                # Warm-up so the "before" figure is a running Envoy, not an idle one.
                http_worker(port, 2_000, collections.Counter(), [], threading.Lock())
                rss_before = rss_kib(pid)
                counts, failures, lock = collections.Counter(), [], threading.Lock()
                per = args.requests // args.connections
                threads = [threading.Thread(target=http_worker, args=(port, per, counts, failures, lock))
                           for _ in range(args.connections)]
                threads.append(threading.Thread(target=h2_worker, args=(port, h2_count, counts, failures, lock)))
                started = time.monotonic()
                for t in threads:
                    t.start()
                ws_broken = 0
                tick = 0
                while any(t.is_alive() for t in threads):
                    time.sleep(1)
                    tick += 1
                    s = sockets[tick % len(sockets)] if sockets else None
                    if s is not None:
                        try:
                            s.send(f"tick {tick}")
                            if s.recv(timeout=10) != f"tick {tick}":
                                ws_broken += 1
                        except Exception:
                            ws_broken += 1
                elapsed = time.monotonic() - started
                for i, s in enumerate(sockets):
                    try:
                        s.send(f"close {i}")
                        if s.recv(timeout=10) != f"close {i}":
                            ws_broken += 1
                    except Exception:
                        ws_broken += 1
                    s.close()
                rss_after = rss_kib(pid)
                stats = envoy.stats()

    total = sum(counts.values())
    print(f"requests: {total} in {elapsed:.1f}s ({total / elapsed:.0f}/s), "
          f"{args.websockets} WebSockets open throughout, {ws_broken} broken")
    print(f"envoy RSS: before {rss_before} KiB, after {rss_after} KiB, "
          f"delta {rss_after - rss_before:+d} KiB")
    for (kind, status), n in sorted(counts.items(), key=lambda kv: str(kv[0])):
        print(f"  {kind:22} {status!s:>18} {n}")
    for k in sorted(stats):
        if k.startswith("wasm.") and "vm_reload" in k or k == "wasm.wasm_vm_count":
            print(f"  {k} {stats[k]}")
    for f in failures[:20]:
        print("UNEXPECTED", f)
    return 1 if failures or ws_broken else 0


if __name__ == "__main__":
    sys.exit(main())
