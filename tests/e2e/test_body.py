"""Outbound rules on response bodies through real Envoy (testdata/webconfigs/arr-app-under-prefix.config
and the Microsoft walkthrough fixtures): an application that believes it lives at
`http://app.internal:8090/` is published under `/app/`; its pages are rewritten as they stream.

The backend (`AppServer`) writes every body in tiny chunks with a pause between them, so tags
and attributes reach the filter split across chunk boundaries; it can also gzip a page, send a
body in a legacy charset, or stream 50 MB of HTML without holding it.
"""

from __future__ import annotations

import gzip
import http.client
import re
import socket
import socketserver
import struct
import threading
import time
import zlib
from pathlib import Path

import pytest

import harness
from test_browser import Chromium, chromium_available

APP = Path(harness.REPO) / "testdata/webconfigs/arr-app-under-prefix.config"
WALKTHROUGH = Path(harness.REPO) / "testdata/webconfigs/ms-reverse-proxy-walkthrough.config"
CLEAN_URLS = Path(harness.REPO) / "testdata/webconfigs/ms-outbound-clean-urls.config"

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>app</title>
<link rel="stylesheet" href="http://app.internal:8090/style.css">
<script>window.apiBase = "http://app.internal:8090/";</script>
<script src="/app.js"></script></head>
<body>
<p id="result">PENDING</p>
<a id="home" href="/index.html?x=1&amp;y=2">home</a>
<a id="abs" href='http://app.internal:8090/docs/'>docs</a>
<a id="ext" href="https://example.org/">elsewhere</a>
<a id="proto" href="//cdn.example.org/lib.js">protocol-relative</a>
<form id="f" action=/submit method=get><input name=q value=1></form>
<img id="logo" src="/logo.png" alt="">
<video id="v" poster="/poster.png"></video>
<p>Links in text stay: /docs/ and http://app.internal:8090/docs/</p>
</body></html>
"""

EXPECTED_PAGE = (
    PAGE.replace(b'href="http://app.internal:8090/style.css"', b'href="/app/style.css"')
    .replace(b'apiBase = "http://app.internal:8090/"', b'apiBase = "/app/"')
    .replace(b'src="/app.js"', b'src="/app/app.js"')
    .replace(b'href="/index.html?x=1&amp;y=2"', b'href="/app/index.html?x=1&amp;y=2"')
    .replace(b"href='http://app.internal:8090/docs/'", b"href='/app/docs/'")
    .replace(b"action=/submit", b"action=/app/submit")
    .replace(b'src="/logo.png"', b'src="/app/logo.png"')
    .replace(b'poster="/poster.png"', b'poster="/app/poster.png"')
)

APP_JS = b"""
(function () {
  const problems = [];
  const expect = (what, ok) => { if (!ok) problems.push(what); };
  const path = (el, attr) => new URL(el.getAttribute(attr), location.href).pathname;
  window.addEventListener('load', () => {
    const out = document.getElementById('result');
    expect('link', path(document.getElementById('home'), 'href') === '/app/index.html');
    expect('abs', path(document.getElementById('abs'), 'href') === '/app/docs/');
    expect('form', path(document.getElementById('f'), 'action') === '/app/submit');
    expect('poster', path(document.getElementById('v'), 'poster') === '/app/poster.png');
    expect('img', document.getElementById('logo').naturalWidth === 1);
    expect('css', getComputedStyle(out).color === 'rgb(1, 2, 3)');
    fetch(window.apiBase + 'api/data').then(r => r.json()).then(data => {
      expect('api', data.ok === true);
      out.textContent = problems.length ? 'FAIL ' + problems.join(',') : 'OK ' + data.served;
    }).catch(e => { out.textContent = 'FAIL fetch ' + e; });
  });
})();
"""


def png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


# A body that looks like markup but is not text: it must pass byte for byte.
BLOB = bytes((i * 7919) % 251 for i in range(200_000)) + b'<a href="/x">' + bytes(range(256))

LATIN1 = '<a href="/caf\xe9.html">caf\xe9</a> <img src=/\xe9t\xe9.png>'.encode("latin-1")

BIG_BLOCK = (
    b'<div class="row"><a href="/item/0123456789">item</a> <img src="/i.png" alt="">'
    b"<p>lorem ipsum dolor sit amet, consectetur adipiscing elit</p></div>\n"
)
BIG_SIZE = 50 * 1024 * 1024


class AppServer:
    """The published application: HTTP/1.1, every body chunked in `chunk`-byte pieces with a
    short pause, so Envoy hands the filter small chunks."""

    def __init__(self, chunk: int = 5, pause: float = 0.0005):
        self.chunk = chunk
        self.pause = pause
        self.requests: list[tuple[str, dict]] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    method, target, _ = line.decode("latin-1").split(" ", 2)
                    headers = {}
                    while True:
                        h = self.rfile.readline()
                        if h in (b"\r\n", b"\n", b""):
                            break
                        k, v = h.decode("latin-1").split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                    outer.requests.append((target, headers))
                    outer.respond(self.connection, method, target, headers)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_chunked(self, conn, status, headers, parts, small=True):
        head = [f"HTTP/1.1 {status} OK"] + [f"{k}: {v}" for k, v in headers] + ["Transfer-Encoding: chunked", "", ""]
        conn.sendall("\r\n".join(head).encode("latin-1"))
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for part in parts:
            pieces = [part[i:i + self.chunk] for i in range(0, len(part), self.chunk)] if small else [part]
            for piece in pieces:
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                if small and self.pause:
                    time.sleep(self.pause)
        conn.sendall(b"0\r\n\r\n")

    def send_slowly(self, conn, status, headers, body):
        """With Content-Length, but written `chunk` bytes at a time."""
        head = [f"HTTP/1.1 {status} OK"] + [f"{k}: {v}" for k, v in headers] + [f"Content-Length: {len(body)}", "", ""]
        conn.sendall("\r\n".join(head).encode("latin-1"))
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(body), self.chunk):
            conn.sendall(body[i:i + self.chunk])
            if self.pause:
                time.sleep(self.pause)

    def send_whole(self, conn, status, headers, body):
        head = [f"HTTP/1.1 {status} OK"] + [f"{k}: {v}" for k, v in headers] + [f"Content-Length: {len(body)}", "", ""]
        conn.sendall("\r\n".join(head).encode("latin-1") + body)

    def respond(self, conn, method, target, headers):
        path = target.split("?", 1)[0]
        if path in ("/page.html", "/index.html"):
            self.send_slowly(conn, 200, [("Content-Type", "text/html; charset=utf-8")], PAGE)
        elif path == "/chunked.html":
            self.send_chunked(conn, 200, [("Content-Type", "text/html; charset=utf-8")], [PAGE])
        elif path == "/app.js":
            self.send_whole(conn, 200, [("Content-Type", "application/javascript")], APP_JS)
        elif path == "/style.css":
            self.send_whole(conn, 200, [("Content-Type", "text/css")], b"#result { color: rgb(1, 2, 3); }")
        elif path == "/logo.png":
            self.send_whole(conn, 200, [("Content-Type", "image/png")], png_1x1())
        elif path == "/login":
            cookies = [("Set-Cookie", "a=1; Domain=.app.internal; Path=/"), ("Set-Cookie", "b=2; Path=/"),
                       ("Set-Cookie", "c=3; domain=app.internal; HttpOnly")]
            self.send_whole(conn, 200, [("Content-Type", "text/plain"), *cookies], b"ok")
        elif path == "/api/data":
            self.send_whole(conn, 200, [("Content-Type", "application/json")], b'{"ok": true, "served": "api"}')
        elif path == "/blob.bin":
            self.send_chunked(conn, 200, [("Content-Type", "application/octet-stream")], [BLOB])
        elif path == "/latin1.html":
            self.send_chunked(conn, 200, [("Content-Type", "text/html; charset=ISO-8859-1")], [LATIN1])
        elif path == "/sjis.html":
            body = '<a href="/x">\u30c6\u30b9\u30c8</a>'.encode("shift_jis")
            self.send_whole(conn, 200, [("Content-Type", "text/html; charset=Shift_JIS")], body)
        elif path == "/gzip.html":
            body = gzip.compress(PAGE)
            self.send_whole(conn, 200, [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip")], body)
        elif path == "/big.html":
            count = BIG_SIZE // len(BIG_BLOCK)
            batch = BIG_BLOCK * 256

            def parts():
                sent = 0
                while sent < count:
                    n = min(256, count - sent)
                    yield batch if n == 256 else BIG_BLOCK * n
                    sent += n

            self.send_chunked(conn, 200, [("Content-Type", "text/html")], parts(), small=False)
        else:
            self.send_whole(conn, 404, [("Content-Type", "text/plain")], b"not found")


@pytest.fixture
def app():
    with AppServer() as server:
        yield server


def envoy_for_app(envoy_for, app: AppServer, config=APP, host="app.internal:8090"):
    return envoy_for(config, extra_args=["--resolve", f"{host}=127.0.0.1:{app.port}"])


def get(envoy, path, headers=None):
    return harness.request("GET", envoy.url(path), headers=headers or {}, timeout=60)


def test_links_are_rewritten_across_tiny_chunks(envoy_for, app):
    envoy = envoy_for_app(envoy_for, app)
    r = get(envoy, "/app/page.html")
    assert r.status == 200
    assert r.body == EXPECTED_PAGE
    # The length changed: no Content-Length, the body came chunked.
    assert r.header("content-length") is None
    assert r.header("transfer-encoding") == "chunked"
    stats = envoy.stats()
    assert stats["wasmcustom.iis_rewrite.body_rewritten"] == 1


def test_a_chunked_backend_gets_every_tag_and_text_within_a_chunk(envoy_for, app):
    """Without Content-Length a body may end with trailers, so text look-ahead stops at each
    chunk (host/body.rs): every tag is still rewritten whole across the 5-byte chunks; the
    inline-script text match, split over several chunks, is not."""
    envoy = envoy_for_app(envoy_for, app)
    r = get(envoy, "/app/chunked.html")
    unsplit = EXPECTED_PAGE.replace(b'apiBase = "/app/"', b'apiBase = "http://app.internal:8090/"')
    assert r.body == unsplit


def test_every_chunk_size_gives_the_same_page(envoy_for):
    for size in (1, 2, 3, 7, 64):
        with AppServer(chunk=size, pause=0.0002 if size < 4 else 0.0005) as server:
            envoy = envoy_for_app(envoy_for, server)
            r = get(envoy, "/app/page.html")
            assert r.body == EXPECTED_PAGE, f"chunks of {size}"


def test_a_non_text_body_passes_byte_for_byte(envoy_for, app):
    envoy = envoy_for_app(envoy_for, app)
    r = get(envoy, "/app/blob.bin")
    assert r.status == 200
    assert r.body == BLOB
    assert envoy.stats().get("wasmcustom.iis_rewrite.body_rewritten", 0) == 0


def test_single_byte_charsets_rewrite_and_others_pass_counted(envoy_for, app):
    envoy = envoy_for_app(envoy_for, app)
    r = get(envoy, "/app/latin1.html")
    assert r.body == '<a href="/app/caf\xe9.html">caf\xe9</a> <img src=/app/\xe9t\xe9.png>'.encode("latin-1")
    r = get(envoy, "/app/sjis.html")
    assert r.body == '<a href="/x">\u30c6\u30b9\u30c8</a>'.encode("shift_jis")
    assert r.header("content-length") is not None
    assert envoy.stats()["wasmcustom.iis_rewrite.body_skipped_charset"] == 1


def test_a_gzip_backend_is_decompressed_rewritten_and_compressed_again(envoy_for, app):
    envoy = envoy_for_app(envoy_for, app)
    # A client that accepts gzip gets the rewritten page gzipped by Envoy's compressor.
    r = get(envoy, "/app/gzip.html", {"Accept-Encoding": "gzip"})
    assert r.status == 200
    assert r.header("content-encoding") == "gzip"
    assert gzip.decompress(r.body) == EXPECTED_PAGE
    # One that does not gets it plain.
    r = get(envoy, "/app/gzip.html")
    assert r.header("content-encoding") is None
    assert r.body == EXPECTED_PAGE
    # The ARR trick still runs: the rule blanked the client's Accept-Encoding towards the
    # backend, and the decompressor offered its own encodings instead.
    sent = [h for t, h in app.requests if t == "/gzip.html"]
    assert sent and all(h.get("x-original-accept-encoding", "") in ("gzip", "") for h in sent)
    assert "gzip" in sent[0]["accept-encoding"]
    assert envoy.stats().get("wasmcustom.iis_rewrite.body_skipped_encoded", 0) == 0


def test_fifty_megabytes_of_html_stream_with_bounded_memory(envoy_for, app):
    envoy = envoy_for_app(envoy_for, app)
    get(envoy, "/app/page.html")  # warm: the worker's VM and buffers exist
    baseline = rss_kib(envoy.proc.pid)
    conn = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=120)
    conn.request("GET", "/app/big.html", headers={"Host": f"127.0.0.1:{envoy.port}"})
    resp = conn.getresponse()
    assert resp.status == 200
    received = rewritten = 0
    tail = b""
    peak_rss = 0
    started = time.monotonic()
    while True:
        data = resp.read(1 << 20)
        if not data:
            break
        received += len(data)
        window = tail + data
        rewritten += window.count(b'href="/app/item/') - tail.count(b'href="/app/item/')
        tail = window[-64:]
        peak_rss = max(peak_rss, rss_kib(envoy.proc.pid))
    elapsed = time.monotonic() - started
    conn.close()
    blocks = BIG_SIZE // len(BIG_BLOCK)
    expected_size = blocks * (len(BIG_BLOCK) + 2 * len(b"/app"))
    print(f"\n50 MB HTML through the body rules: {received} bytes in {elapsed:.1f} s; "
          f"Envoy RSS {baseline / 1024:.1f} MiB before, peak {peak_rss / 1024:.1f} MiB")
    assert received == expected_size
    assert rewritten == blocks
    # Streaming, not buffering: Envoy grows by a small fraction of the body's 50 MB.
    assert peak_rss - baseline < 24 * 1024, f"Envoy RSS {baseline} -> {peak_rss} KiB"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_set_cookie_domains_are_reverse_rewritten_and_all_cookies_kept(envoy_for, app):
    envoy = envoy_for_app(envoy_for, app)
    r = get(envoy, "/app/login", {"Host": "public.example:8443"})
    assert r.status == 200
    assert r.headers_named("set-cookie") == [
        "a=1; Domain=.public.example:8443; Path=/",
        "b=2; Path=/",
        "c=3; Domain=public.example:8443; HttpOnly",
    ]


def test_microsoft_walkthrough_prefixes_links_with_the_application_folder(envoy_for, app):
    envoy = envoy_for(WALKTHROUGH, extra_args=[
        "--resolve", f"localhost:8081=127.0.0.1:{app.port}",
        "--resolve", f"localhost:8082=127.0.0.1:{app.port}",
    ])
    for folder in ("webmail", "payroll"):
        r = get(envoy, f"/{folder}/page.html")
        assert f'<a id="home" href="/{folder}/index.html?x=1&amp;y=2">'.encode() in r.body
        # Only A is filtered in the walkthrough: the script keeps its path.
        assert b'<script src="/app.js">' in r.body


def test_microsoft_clean_url_walkthrough(envoy_for, make_upstream):
    page = (b'<a href="/article.aspx?id=1&amp;title=some-title">1</a> '
            b'<a href="/article.aspx?id=2&title=other">2</a> <a href="/about.aspx">a</a>')

    def responder(req):
        return 200, [("Content-Type", "text/html")], page

    upstream = make_upstream(responder)
    envoy = envoy_for(CLEAN_URLS, default_upstream=upstream.address)
    r = get(envoy, "/index.html")
    assert r.body == (b'<a href="/article/1/some-title">1</a> '
                      b'<a href="/article/2/other">2</a> <a href="/about.aspx">a</a>')
    # And the clean URL reaches the page again.
    get(envoy, "/article/1/some-title")
    assert upstream.last.path == "/article.aspx?id=1&title=some-title"


@pytest.fixture(scope="module")
def browser():
    path = chromium_available()
    if path is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs Debian's chromium package)")
    return path


def test_chromium_uses_the_application_through_the_proxy(browser, envoy_for, app, tmp_path):
    envoy = envoy_for_app(envoy_for, app)
    with Chromium(browser, tmp_path / "profile", envoy.url("/app/page.html")) as chrome:
        result = chrome.wait_for_text("result", "PENDING")
    print(f"\nbrowser result: {result}")
    assert result == "OK api", result
    paths = [t.split("?", 1)[0] for t, _ in app.requests]
    # Every resource came through the /app/ prefix (the backend saw its own paths).
    for p in ("/page.html", "/style.css", "/app.js", "/logo.png", "/api/data"):
        assert p in paths, (p, paths)
