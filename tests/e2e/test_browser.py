"""A real browser through Envoy + the filter: headless Chromium loads a noVNC-like page via the
seed-003 rules (`/vnc/…` → the backend's page), the page's script opens a WebSocket to
`/websockify` (rewritten by `{CACHE_URL}` → `ws://127.0.0.1:6080/websockify`), exchanges text
and binary messages, and writes the outcome into the DOM, which the test reads back over the DevTools protocol.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from websockets.sync.client import connect

import harness
from ws_servers import EchoServer, TlsFiles

NOVNC = Path(harness.REPO) / "testdata/webconfigs/novnc-websocket.config"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

PAGE = rb"""<!doctype html>
<html><head><meta charset="utf-8"><title>ws through envoy</title></head>
<body><p id="result">PENDING</p>
<script>
(function () {
  const out = document.getElementById('result');
  const done = (text) => { out.textContent = text; };
  const big = 'noVNC frame '.repeat(40000);            // ~480 kB, compressible
  const bin = new Uint8Array(300000);
  let x = 12345;
  for (let i = 0; i < bin.length; i++) { x = (x * 1103515245 + 12345) >>> 0; bin[i] = x >>> 24; }
  const queue = [];
  for (let i = 0; i < 50; i++) queue.push('msg ' + i + ' \u00e9\u20ac\ud834\udd1e');
  queue.push(big);
  queue.push(bin);
  const expected = queue.slice();
  const ws = new WebSocket('ws://' + location.host + '/websockify', ['binary']);
  ws.binaryType = 'arraybuffer';
  let got = 0;
  const same = (a, b) => {
    if (typeof a === 'string') return a === b;
    const v = new Uint8Array(b);
    if (v.length !== a.length) return false;
    for (let i = 0; i < v.length; i++) if (v[i] !== a[i]) return false;
    return true;
  };
  ws.onopen = () => { for (const m of queue) ws.send(m); };
  ws.onmessage = (e) => {
    if (!same(expected[got], e.data)) { done('MISMATCH at ' + got); ws.close(); return; }
    got += 1;
    if (got === expected.length) {
      done('OK echoed=' + got + ' protocol=' + ws.protocol + ' extensions=' + ws.extensions);
      ws.close(1000, 'done');
    }
  };
  ws.onerror = () => done('ERROR after ' + got);
  ws.onclose = (e) => { if (got !== expected.length) done('CLOSED ' + e.code + ' after ' + got); };
})();
</script></body></html>
"""


def chromium_available() -> str | None:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    path = chromium_available()
    if path is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs Debian's chromium package)")
    return path


class Chromium:
    """Headless Chromium on a fresh profile, driven over the DevTools protocol (its own
    WebSocket, through `websockets`): `--dump-dom` with a virtual-time budget does not wait for
    WebSocket traffic, so the test polls the live DOM instead."""

    FLAGS = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
    ]

    def __init__(self, binary: str, profile: Path, url: str, extra_flags: tuple[str, ...] = ()):
        self.profile = profile
        self.proc = subprocess.Popen(
            [binary, *self.FLAGS, *extra_flags, f"--user-data-dir={profile}", url],
            stdout=subprocess.DEVNULL,
            stderr=open(profile.parent / "chromium.log", "wb"),
            start_new_session=True,
        )
        self._ids = itertools.count(1)
        self.ws = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> "Chromium":
        try:
            port = self._devtools_port()
            target = self._page_target(port)
            self.ws = self._stack.enter_context(
                connect(target, max_size=None, open_timeout=10, ping_interval=None)
            )
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def _devtools_port(self) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}")
            if marker.exists():
                first = marker.read_text().split("\n", 1)[0].strip()
                if first.isdigit():
                    return int(first)
            time.sleep(0.1)
        raise RuntimeError("chromium did not open its DevTools port")

    def _page_target(self, port: int) -> str:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.1)
        raise RuntimeError("no page target")

    def evaluate(self, expression: str):
        call_id = next(self._ids)
        self.ws.send(json.dumps({"id": call_id, "method": "Runtime.evaluate",
                                 "params": {"expression": expression, "returnByValue": True}}))
        while True:
            reply = json.loads(self.ws.recv(timeout=15))
            if reply.get("id") == call_id:
                return reply.get("result", {}).get("result", {}).get("value")

    def wait_for_text(self, element_id: str, pending: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        text = pending
        while time.monotonic() < deadline:
            text = self.evaluate(
                f"(document.getElementById({json.dumps(element_id)}) || {{}}).textContent || ''"
            )
            if text and text != pending:
                return text
            time.sleep(0.2)
        return text


def test_chromium_page_websocket_through_envoy(browser, envoy_for, tmp_path):
    with EchoServer(pages={"/index.html": PAGE}, subprotocols=["binary"]) as backend:
        envoy = envoy_for(NOVNC, extra_args=["--resolve", f"127.0.0.1:6080=127.0.0.1:{backend.port}"])
        url = envoy.url("/vnc/index.html")
        with Chromium(browser, tmp_path / "profile", url) as chrome:
            result = chrome.wait_for_text("result", "PENDING")
            dom = chrome.evaluate("document.documentElement.outerHTML")
        print(f"\nbrowser DOM result: {result}")
        # the DOM as the browser holds it carries the script's result
        assert f'<p id="result">{html.escape(result, quote=False)}</p>' in dom
        assert result.startswith("OK echoed=52 protocol=binary"), result
        assert "permessage-deflate" in result, result

        # the page came through the "noVNC client" rule, the socket through "noVNC WebSocket"
        assert [p for p, _ in backend.page_requests] == ["/index.html"]
        assert len(backend.handshakes) == 1
        hs = backend.handshakes[0]
        assert hs.path == "/websockify"
        assert hs.extensions == ["permessage-deflate"]
        assert "Chrome" in (hs.header("User-Agent") or "")
        assert hs.messages == 52
        assert hs.tls is False


def spki_sha256(cert_pem: Path) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)) of a certificate, for
    --ignore-certificate-errors-spki-list (trust this one test certificate, nothing else)."""
    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def test_chromium_https_page_wss_through_envoy(browser, envoy_for, tmp_path):
    """The same page over HTTPS: the script's `wss://` WebSocket gives `{CACHE_URL}` the scheme
    `wss`, so the rule proxies to the TLS cluster of 127.0.0.1:6080 (a websockify-style port
    that speaks TLS and plain); permessage-deflate is negotiated end to end."""
    tls = TlsFiles(tmp_path / "tls")
    page = PAGE.replace(b"'ws://' + location.host", b"'wss://' + location.host")
    assert page != PAGE
    with EchoServer(tls=tls, pages={"/index.html": page}, subprotocols=["binary"]) as backend:
        envoy = envoy_for(
            NOVNC,
            extra_args=[
                *tls.listener_args(),
                "--upstream-ca", str(tls.ca_pem),
                "--resolve", f"127.0.0.1:6080=127.0.0.1:{backend.port}",
            ],
        )
        url = f"https://localhost:{envoy.ports['https']}/vnc/index.html"
        trust = f"--ignore-certificate-errors-spki-list={spki_sha256(tls.cert_pem)}"
        with Chromium(browser, tmp_path / "profile", url, (trust,)) as chrome:
            result = chrome.wait_for_text("result", "PENDING")
        print(f"\nbrowser DOM result (https): {result}")
        assert result.startswith("OK echoed=52 protocol=binary"), result
        assert "permessage-deflate" in result, result
        assert len(backend.handshakes) == 1
        hs = backend.handshakes[0]
        assert hs.tls is True  # wss -> the TLS cluster
        assert hs.extensions == ["permessage-deflate"]
        assert hs.messages == 52
        # The page came over HTTP/2 (the listener offers h2); the WebSocket over HTTP/1.1,
        # because the generated config does not advertise RFC 8441 extended CONNECT, which
        # Envoy 1.40 would forward without a Sec-WebSocket-Key (envoyproxy/envoy#8547):
        # one HTTP/2 connection for the page, one HTTP/1.1 connection upgraded for the socket.
        stats = envoy.stats()
        assert stats["http.iis_https.downstream_cx_http2_total"] >= 1
        assert stats["http.iis_https.downstream_cx_http1_total"] >= 1
        assert stats["http.iis_https.downstream_cx_upgrades_total"] == 1
