"""WebSockets through real Envoy + the filter, on the noVNC rules.

`testdata/webconfigs/novnc-websocket.config` rewrites `/websockify` to
`{C:1}://127.0.0.1:6080/websockify`, `{C:1}` being the scheme of `{CACHE_URL}`: `ws` on a plain
upgrade, `wss` on an upgrade over TLS. IIS/ARR drops frames once permessage-deflate is
negotiated; here a real client negotiates it through Envoy with a real `websockets` backend,
and every message must come back intact.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

import harness
from ws_servers import EchoServer, TlsFiles

NOVNC = Path(harness.REPO) / "testdata/webconfigs/novnc-websocket.config"
SUBPROTOCOL = "binary"  # what noVNC offers to websockify


@pytest.fixture(scope="module")
def novnc(tmp_path_factory, wasm_path, cli_path):
    """Envoy from `iis-rewrite envoy` (HTTP and HTTPS listeners) with the noVNC rules;
    127.0.0.1:6080 resolves to one echo backend that, like websockify, accepts plain and TLS
    connections on the same port."""
    work = tmp_path_factory.mktemp("novnc")
    tls = TlsFiles(work / "tls")
    with EchoServer(tls=tls, subprotocols=[SUBPROTOCOL], name="websockify") as backend:
        bootstrap = harness.generate_bootstrap(
            NOVNC,
            0,
            extra_args=[
                *tls.listener_args(),
                "--upstream-ca", str(tls.ca_pem),
                "--resolve", f"127.0.0.1:6080=127.0.0.1:{backend.port}",
            ],
        )
        with harness.Envoy(bootstrap) as envoy:
            yield {"envoy": envoy, "backend": backend, "certs": tls}


def ws_url(novnc) -> str:
    return f"ws://127.0.0.1:{novnc['envoy'].port}/websockify"


def wss_url(novnc) -> str:
    return f"wss://localhost:{novnc['envoy'].ports['https']}/websockify"


def open_ws(url: str, **kw):
    return connect(
        url,
        compression="deflate",
        subprotocols=[SUBPROTOCOL],
        max_size=8 * 2**20,
        open_timeout=10,
        close_timeout=5,
        ping_interval=None,
        **kw,
    )


def echo(ws, message):
    ws.send(message)
    got = ws.recv(timeout=20)
    assert type(got) is type(message)
    assert got == message, f"echo differs (len {len(got)} vs {len(message)})"


def rx_bytes(envoy, prefix: str = "http.iis_http.") -> int:
    stats = envoy.stats()
    return stats[f"{prefix}downstream_cx_rx_bytes_total"]


def test_ws_handshake_negotiates_permessage_deflate_end_to_end(novnc):
    backend = novnc["backend"]
    before = len(backend.handshakes)
    with open_ws(ws_url(novnc)) as ws:
        echo(ws, "hello")
        sent = ws.request.headers
        got = ws.response.headers
        client_extensions = [e.name for e in ws.protocol.extensions]
    # ws -> the plain cluster: the backend saw a plain (not TLS) connection
    assert len(backend.handshakes) == before + 1
    hs = backend.handshakes[-1]
    assert hs.tls is False

    # the client's response carries the negotiated extension, and both ends use it
    assert "permessage-deflate" in got["Sec-WebSocket-Extensions"]
    assert client_extensions == ["permessage-deflate"]
    assert hs.extensions == ["permessage-deflate"]
    assert ws.response.status_code == 101
    assert got["Sec-WebSocket-Protocol"] == SUBPROTOCOL

    # the rewrite reached websockify's path, as an upgrade
    assert hs.path == "/websockify"
    assert hs.header("Upgrade").lower() == "websocket"
    assert "upgrade" in hs.header("Connection").lower()
    assert hs.header("x-iis-rewrite-upstream") is None

    # Sec-WebSocket-* untouched in both directions
    for name in ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol"):
        assert hs.header(name) == sent[name], name
    server_sent = dict((k.lower(), v) for k, v in hs.response_headers)
    for name in ("Sec-WebSocket-Accept", "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol"):
        assert got[name] == server_sent[name.lower()], name


def test_many_messages_text_binary_large_compressible_and_random_echo_intact(novnc):
    envoy = novnc["envoy"]
    rng = random.Random(6)
    with open_ws(ws_url(novnc)) as ws:
        assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]
        # many small and medium messages, text (with non-ASCII) and binary
        for i in range(300):
            n = rng.choice([0, 1, 10, 125, 126, 127, 1000, 65535, 65536, 70000])
            if i % 2:
                echo(ws, "".join(rng.choice("abcé€𝄞 \n") for _ in range(min(n, 5000))))
            else:
                echo(ws, rng.randbytes(n))
        # 1 MiB frames, random (incompressible) and compressible, text and binary
        echo(ws, os.urandom(2**20))
        echo(ws, rng.randbytes(2**20 - 1))
        echo(ws, "".join(rng.choice("0123456789abcdef") for _ in range(2**20)))

        # permessage-deflate really on the wire through Envoy: 4 MiB of compressible payload
        # cross the downstream connection as a few kilobytes.
        before = rx_bytes(envoy)
        for _ in range(2):
            echo(ws, b"\x00" * 2**20)
            echo(ws, "websockify " * (2**20 // 11))
        time.sleep(0.2)
        grown = rx_bytes(envoy) - before
        print(f"\n4 MiB of compressible messages took {grown} bytes on the client-to-Envoy wire")
        assert grown < 256 * 1024, f"{grown} bytes on the wire for 4 MiB of compressible messages"

        # many messages in flight at once (pipelined), then read back in order
        batch = [rng.randbytes(rng.randrange(1, 40000)) for _ in range(200)]
        for m in batch:
            ws.send(m)
        for m in batch:
            assert ws.recv(timeout=20) == m
    hs = novnc["backend"].handshakes[-1]
    assert hs.messages >= 300 + 3 + 4 + 200


def test_wss_reaches_tls_backend_with_permessage_deflate(novnc):
    backend = novnc["backend"]
    before = len(backend.handshakes)
    with open_ws(wss_url(novnc), ssl=novnc["certs"].client_context()) as ws:
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
        echo(ws, "over tls")
        echo(ws, os.urandom(2**20))
        echo(ws, "x" * 2**20)
    # wss -> the TLS cluster (verified against the test CA): the backend saw TLS
    assert len(backend.handshakes) == before + 1
    hs = backend.handshakes[-1]
    assert hs.tls is True
    assert hs.path == "/websockify"
    assert hs.extensions == ["permessage-deflate"]


def test_page_rule_and_plain_http_still_work(novnc):
    import urllib.request

    novnc["backend"].pages["/vnc.html"] = b"<!doctype html><p>novnc</p>"
    with urllib.request.urlopen(f"http://127.0.0.1:{novnc['envoy'].port}/vnc/vnc.html", timeout=10) as r:
        assert r.status == 200
        assert r.read() == b"<!doctype html><p>novnc</p>"
    path, _headers = novnc["backend"].page_requests[-1]
    assert path == "/vnc.html"


def test_connection_open_and_active_beyond_20s_is_not_cut(novnc):
    """Two WebSockets for 22.5 s: one active (an echo every 0.5 s), one idle from its first
    message to its last. Neither is cut: the route has no overall timeout (`timeout: 0s`) and
    the idle timeout is ARR's backend timeout (120 s here)."""
    backend = novnc["backend"]
    start = time.monotonic()
    count = 0
    with open_ws(ws_url(novnc)) as idle, open_ws(ws_url(novnc)) as active:
        echo(idle, "before the silence")
        idle_hs = backend.handshakes[-2:]
        while time.monotonic() - start < 22.5:
            echo(active, f"tick {count}")
            echo(active, os.urandom(1000))
            count += 1
            time.sleep(0.5)
        elapsed = time.monotonic() - start
        echo(active, "still open")
        echo(idle, "after 22 s of silence")
        echo(idle, os.urandom(2**20))
    assert elapsed > 20
    assert count >= 30
    for hs in idle_hs:
        assert hs.path == "/websockify"


@pytest.fixture
def novnc_short_timeout(tmp_path, envoy_for):
    """The noVNC rules with ARR `<proxy timeout="00:00:03"/>`: the generated route's
    idle_timeout becomes 3 s."""
    text = NOVNC.read_text().replace(
        '<webSocket enabled="true" />', '<webSocket enabled="true" />\n    <proxy timeout="00:00:03" />'
    )
    assert "<proxy timeout" in text
    config = tmp_path / "novnc-timeout.config"
    config.write_text(text)
    with EchoServer(subprotocols=[SUBPROTOCOL]) as backend:
        envoy = envoy_for(config, extra_args=["--resolve", f"127.0.0.1:6080=127.0.0.1:{backend.port}"])
        yield envoy, backend


def test_arr_timeout_is_the_websocket_idle_timeout(novnc_short_timeout):
    """ARR's `timeout` becomes Envoy's stream idle timeout on the route: a WebSocket with no
    frame in either direction for longer is closed (as nginx's proxy_read_timeout and YARP's
    activity timeout do), an active one lives on."""
    envoy, backend = novnc_short_timeout
    url = f"ws://127.0.0.1:{envoy.port}/websockify"
    with open_ws(url) as idle, open_ws(url) as active:
        echo(idle, "hello")
        start = time.monotonic()
        while time.monotonic() - start < 5:
            echo(active, "keep-alive")
            time.sleep(0.5)
        echo(active, "active for 5 s, longer than the timeout")
        with pytest.raises(ConnectionClosed):
            idle.send("after 5 s of silence")
            idle.recv(timeout=5)
    text = envoy.wait_log("stream_idle_timeout")
    assert "stream_idle_timeout" in text


def test_jellyfin_socket_through_header_setting_rules(envoy_for):
    """Jellyfin's WebSocket (`/socket?api_key=…`) through the published Jellyfin rules,
    which set X-Forwarded-*, X-Real-IP and custom response headers on the same request. The
    rules' headers arrive, the Sec-WebSocket-* headers are exactly the client's, and the
    extension is negotiated end to end."""
    jellyfin = Path(harness.REPO) / "testdata/webconfigs/jellyfin-basic.config"
    with EchoServer() as backend:
        envoy = envoy_for(jellyfin, extra_args=["--resolve", f"localhost:8096=127.0.0.1:{backend.port}"])
        url = f"ws://127.0.0.1:{envoy.port}/socket?api_key=k1&deviceId=d2"
        with connect(url, compression="deflate", max_size=8 * 2**20, open_timeout=10, ping_interval=None) as ws:
            echo(ws, '{"MessageType":"KeepAlive"}')
            echo(ws, os.urandom(2**20))
            sent = ws.request.headers
            got = ws.response.headers
    hs = backend.handshakes[-1]
    assert hs.path == "/socket?api_key=k1&deviceId=d2"
    assert hs.extensions == ["permessage-deflate"]
    assert "permessage-deflate" in got["Sec-WebSocket-Extensions"]
    for name in ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions"):
        assert hs.header(name) == sent[name], name
    server_sent = dict((k.lower(), v) for k, v in hs.response_headers)
    assert got["Sec-WebSocket-Accept"] == server_sent["sec-websocket-accept"]
    # what the rules set reached the backend with the upgrade
    assert hs.header("X-Forwarded-Proto") == "http"
    assert hs.header("X-Real-IP") == "127.0.0.1"
    assert hs.header("Host") == "localhost:8096"
    # customHeaders are added to the 101 as to any response the filter sees
    assert got["X-Content-Type-Options"] == "nosniff"
