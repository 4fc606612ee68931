"""Long media streams through real Envoy + the filter, on the Jellyfin rules
(testdata/webconfigs/jellyfin-basic.config).

A Jellyfin-like backend serves a generated body of more than 100 MB with Range support. Every
byte that crosses Envoy is hashed and compared with the generated content; Envoy's memory is
read from its admin `/stats` (tcmalloc's `server.memory_allocated`) and from `/proc` while the
body passes, and must stay far below the body size. A slow reader must hold the backend back
(flow control) instead of making Envoy buffer the rest, and a download that lasts longer than
Envoy's default 15 s route timeout must not be cut.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import threading
import time
from pathlib import Path

import pytest

import harness
from ws_servers import MediaServer, media_chunks, media_sha256

JELLYFIN = Path(harness.REPO) / "testdata/webconfigs/jellyfin-basic.config"
MEDIA_PATH = "/Videos/5f1c/stream.mp4?static=true"
MiB = 2**20


@pytest.fixture(scope="module")
def jellyfin(wasm_path, cli_path):
    with MediaServer() as media:
        bootstrap = harness.generate_bootstrap(
            JELLYFIN, 0, extra_args=["--resolve", f"localhost:8096=127.0.0.1:{media.port}"]
        )
        # access log and wasm debug lines are not what is measured here
        with harness.Envoy(bootstrap, log_level="warning", component_log_level=None) as envoy:
            yield envoy, media


@pytest.fixture(scope="module")
def whole_sha(jellyfin):
    _, media = jellyfin
    return media_sha256(0, media.size - 1)


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process, in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0]) * 1024
    return out


class MemorySampler:
    """Envoy's memory while a transfer runs. RSS is read live from /proc, and the kernel's
    high-water mark (VmHWM) catches any peak between samples; tcmalloc's
    `server.memory_allocated` is only refreshed at each stats flush (every 5 s), so it counts for
    the long transfer only."""

    def __init__(self, envoy):
        self.envoy = envoy
        self.base_allocated = self._allocated()
        self.base_rss = proc_status(envoy.proc.pid)["VmRSS"]
        self.peak_allocated = self.base_allocated
        self.peak_rss = self.base_rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.05)

    def _allocated(self) -> int:
        # one stat, not the whole /stats page: cheap even on a loaded machine
        r = harness.request("GET", self.envoy.admin_url("/stats?filter=^server%5C.memory_allocated$"), timeout=20)
        name, _, value = r.body.decode().strip().partition(": ")
        assert name == "server.memory_allocated", r.body
        return int(value)

    def _sample(self):
        try:
            allocated = self._allocated()
        except OSError:
            return  # a sample lost to a slow admin reply; VmHWM still bounds the peak
        rss = proc_status(self.envoy.proc.pid)["VmRSS"]
        self.peak_allocated = max(self.peak_allocated, allocated)
        self.peak_rss = max(self.peak_rss, rss)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()
        # the high-water mark bounds every peak since start-up, so this is an upper bound
        self.peak_rss = max(self.peak_rss, proc_status(self.envoy.proc.pid)["VmHWM"])

    @property
    def allocated_growth(self) -> int:
        return self.peak_allocated - self.base_allocated

    @property
    def rss_growth(self) -> int:
        return self.peak_rss - self.base_rss


def get(envoy, path: str, headers: dict | None = None, sock: socket.socket | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=60)
    if sock is not None:
        conn.sock = sock
    conn.request("GET", path, headers={"Host": "media.example.com", **(headers or {})})
    return conn, conn.getresponse()


def read_hash(resp, h=None, piece: int = MiB) -> tuple[int, "hashlib._Hash"]:
    h = h or hashlib.sha256()
    n = 0
    while True:
        data = resp.read(piece)
        if not data:
            return n, h
        h.update(data)
        n += len(data)


def socket_buffer_bound() -> int:
    """The most loopback TCP can hold between the backend and the reader: Envoy's upstream
    receive buffer (autotuned up to tcp_rmem max) and the send buffers of backend and Envoy."""
    rmem = int(Path("/proc/sys/net/ipv4/tcp_rmem").read_text().split()[2])
    wmem = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    return rmem + 2 * wmem


def warm_up(envoy):
    conn, resp = get(envoy, MEDIA_PATH, {"Range": "bytes=0-1023"})
    resp.read()
    conn.close()
    assert resp.status == 206


def test_whole_media_body_byte_exact_with_bounded_envoy_memory(jellyfin, whole_sha):
    envoy, media = jellyfin
    warm_up(envoy)
    with MemorySampler(envoy) as mem:
        start = time.monotonic()
        conn, resp = get(envoy, MEDIA_PATH)
        assert resp.status == 200
        assert int(resp.getheader("Content-Length")) == media.size
        assert resp.getheader("Accept-Ranges") == "bytes"
        n, h = read_hash(resp)
        elapsed = time.monotonic() - start
        conn.close()
    assert n == media.size
    assert h.hexdigest() == whole_sha
    # the Jellyfin rule proxied it, with the rule's headers, to the backend's path
    method, path, headers = media.requests[-1]
    assert path == MEDIA_PATH
    assert dict((k.lower(), v) for k, v in headers)["x-forwarded-proto"] == "http"
    print(
        f"\n{media.size / MiB:.0f} MiB in {elapsed:.2f}s ({media.size / MiB / elapsed:.0f} MiB/s); "
        f"envoy allocated +{mem.allocated_growth / MiB:.1f} MiB, RSS +{mem.rss_growth / MiB:.1f} MiB"
    )
    assert mem.allocated_growth < 16 * MiB, mem.allocated_growth
    assert mem.rss_growth < 32 * MiB, mem.rss_growth


def test_range_requests_cover_the_body_byte_exact(jellyfin, whole_sha):
    envoy, media = jellyfin
    size = media.size
    cuts = [(0, 999_999), (1_000_000, 49_999_999), (50_000_000, size - 2_000_001), (size - 2_000_000, None)]
    h = hashlib.sha256()
    for first, last in cuts:
        value = f"bytes={first}-{'' if last is None else last}"
        conn, resp = get(envoy, MEDIA_PATH, {"Range": value})
        end = size - 1 if last is None else last
        assert resp.status == 206, value
        assert resp.getheader("Content-Range") == f"bytes {first}-{end}/{size}"
        assert int(resp.getheader("Content-Length")) == end - first + 1
        n, h = read_hash(resp, h)
        assert n == end - first + 1
        conn.close()
        # the Range header reached the backend as sent
        _, _, headers = media.requests[-1]
        assert dict((k.lower(), v) for k, v in headers)["range"] == value
    assert h.hexdigest() == whole_sha

    # a suffix range: the last 1000 bytes, as players ask for the index at the end of a file
    conn, resp = get(envoy, MEDIA_PATH, {"Range": "bytes=-1000"})
    assert resp.status == 206
    assert resp.getheader("Content-Range") == f"bytes {size - 1000}-{size - 1}/{size}"
    assert hashlib.sha256(resp.read()).hexdigest() == media_sha256(size - 1000, size - 1)
    conn.close()

    # a range beyond the end: 416 with the size, through the filter unchanged
    conn, resp = get(envoy, MEDIA_PATH, {"Range": f"bytes={size}-"})
    resp.read()
    conn.close()
    assert resp.status == 416
    assert resp.getheader("Content-Range") == f"bytes */{size}"


def test_slow_reader_holds_the_backend_back_and_outlives_the_route_timeout(jellyfin, whole_sha):
    """A reader slower than the backend: Envoy must apply flow control (the backend stops
    writing) rather than buffer the body, and the download lasts > 15 s (Envoy's default route
    timeout, which the generated route disables) without being cut."""
    envoy, media = jellyfin
    warm_up(envoy)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.settimeout(60)
    sock.connect(("127.0.0.1", envoy.port))
    with MemorySampler(envoy) as mem:
        sent_before = media.bytes_sent
        start = time.monotonic()
        conn, resp = get(envoy, MEDIA_PATH, sock=sock)
        assert resp.status == 200
        h = hashlib.sha256()
        read = 0
        ahead = 0
        # ~1 MiB/s for 16 s
        while time.monotonic() - start < 16:
            data = resp.read(64 * 1024)
            h.update(data)
            read += len(data)
            ahead = max(ahead, media.bytes_sent - sent_before - read)
            time.sleep(0.06)
        slow_elapsed = time.monotonic() - start
        sent_in_slow_phase = media.bytes_sent - sent_before
        read_in_slow_phase = read
        n, h = read_hash(resp, h)
        read += n
        conn.close()
    assert read == media.size
    assert h.hexdigest() == whole_sha
    print(
        f"\nslow phase {slow_elapsed:.1f}s; backend at most {ahead / MiB:.1f} MiB ahead of the reader; "
        f"envoy allocated +{mem.allocated_growth / MiB:.1f} MiB, RSS +{mem.rss_growth / MiB:.1f} MiB"
    )
    # Flow control: at 100+ MiB/s the backend would have written the whole body within a second
    # if Envoy kept reading it; instead it stayed ahead of the reader by no more than what the
    # kernel's socket buffers hold (tcp_rmem autotunes Envoy's upstream receive buffer up to
    # 32 MiB here) plus Envoy's 1 MiB per-connection buffer limit, and Envoy's own heap did
    # not grow with the body.
    figures = dict(read=read_in_slow_phase, sent=sent_in_slow_phase, ahead=ahead,
                   allocated=mem.allocated_growth, rss=mem.rss_growth, bound=socket_buffer_bound())
    assert read_in_slow_phase < 24 * MiB, figures
    assert sent_in_slow_phase < media.size - 32 * MiB, figures
    assert ahead < socket_buffer_bound() + 8 * MiB, figures
    assert mem.allocated_growth < 16 * MiB, figures
    assert mem.rss_growth < 32 * MiB, figures
    assert slow_elapsed > 15


def test_arr_timeout_is_the_idle_timeout_of_a_paused_download(tmp_path, envoy_for):
    """With `<proxy timeout="00:00:03"/>` the route's idle timeout is 3 s: a reader that pauses
    for less keeps its download, one that stops reading for longer (a paused player) is reset,
    as IIS's minBytesPerSecond would eventually do; players resume with a Range request."""
    text = JELLYFIN.read_text().replace("<httpProtocol>", '<proxy timeout="00:00:03" />\n        <httpProtocol>')
    assert "<proxy timeout" in text
    config = tmp_path / "jellyfin-timeout.config"
    config.write_text(text)
    with MediaServer(size=40 * MiB) as media:
        envoy = envoy_for(config, extra_args=["--resolve", f"localhost:8096=127.0.0.1:{media.port}"])

        def download_with_pause(pause: float) -> int:
            conn, resp = get(envoy, MEDIA_PATH)
            assert resp.status == 200
            got = len(resp.read(MiB))
            time.sleep(pause)
            try:
                n, _ = read_hash(resp)
                got += n
            except (http.client.IncompleteRead, ConnectionError) as e:
                got += len(getattr(e, "partial", b""))
            conn.close()
            return got

        assert download_with_pause(0.5) == media.size
        assert download_with_pause(5.0) < media.size
    assert "stream_idle_timeout" in envoy.wait_log("stream_idle_timeout")


def test_large_upload_streams_through_byte_exact(jellyfin):
    """A 64 MiB chunked upload (a media library import, a backup) through the Jellyfin rules:
    Envoy and the filter pass the request body on as it arrives (no buffering: Envoy's memory
    stays flat) and the backend receives it byte-exact."""
    envoy, media = jellyfin
    size = 64 * MiB + 5
    warm_up(envoy)
    with MemorySampler(envoy) as mem:
        conn = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=60)
        conn.request(
            "POST",
            "/Library/Media/Upload",
            body=(bytes(piece) for piece in media_chunks(0, size - 1)),
            headers={"Host": "media.example.com", "Content-Type": "application/octet-stream"},
            encode_chunked=True,
        )
        resp = conn.getresponse()
        reply = resp.read().decode()
        conn.close()
    assert resp.status == 200, reply
    assert reply.split() == [str(size), media_sha256(0, size - 1)]
    method, path, headers = media.requests[-1]
    assert (method, path) == ("POST", "/Library/Media/Upload")
    print(f"\nupload 64 MiB: envoy RSS +{mem.rss_growth / MiB:.1f} MiB")
    assert mem.rss_growth < 32 * MiB, mem.rss_growth
