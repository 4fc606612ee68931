"""End-to-end harness: real Envoy 1.40 with the built wasm filter, real upstream servers, raw
HTTP clients. No fixed ports: listeners bind port 0 (Envoy reports what it bound through its
admin API), upstreams bind port 0, and `free_port()` asks the OS when a number is needed up
front.

API (other test files depend on it):

* ``free_port()`` — a port that was free a moment ago on 127.0.0.1.
* ``Upstream(responder=None, tls=None)`` — threaded HTTP/1.1 server; ``.port``, ``.url``,
  ``.requests`` (``Recorded``: method, path, headers, body), ``.last``, ``.wait_for(n)``,
  ``.clear()``, ``.close()``; a context manager. ``responder(recorded) -> (status, headers, body)``.
* ``generate_bootstrap(config_file, listen_port=0, default_upstream=None, extra_args=())`` —
  runs ``iis-rewrite envoy`` (with ``--admin 127.0.0.1:0``) and returns the YAML text.
* ``Envoy(yaml_text_or_path, ...)`` — context manager; starts Envoy, waits for ``/ready``;
  ``.port`` (first listener), ``.ports`` (by listener name), ``.admin_port``, ``.url(path)``,
  ``.stats()``, ``.log_text()``, ``.stop()``. ``EnvoyFailed`` (with ``.log``) when it does not
  start.
* ``request(method, url, headers=None, body=None, timeout=10, context=None)`` — one raw
  http.client exchange, no redirect following; returns ``Response(status, headers, body)``
  (headers: list of (name, value) as received; ``.header(name)``, ``.headers_named(name)``).
* ``raw_http(port, data, host="127.0.0.1")`` — send raw bytes, return raw response bytes.
* ``cargo_build(args)`` — ``cargo build --release ARGS`` in the repository unless
  ``IIS_REWRITE_E2E_NO_BUILD=1`` (scripts/test.sh built already); ``RuntimeError`` with cargo's
  output when it fails.
* ``wait_for(predicate, timeout=10, interval=0.1, what=...)`` — poll until ``predicate()`` is
  truthy and return that value; ``AssertionError`` naming ``what`` on timeout.
* ``TlsFiles(directory, names=("localhost", "127.0.0.1"))`` — a throw-away CA (trustme) and a
  server certificate for ``names``, as ``ca.pem``, ``cert.pem``, ``key.pem`` in ``directory``;
  ``.server_context()``, ``.client_context()``, ``.listener_args()`` (``iis-rewrite envoy``'s
  HTTPS listener options).
"""

from __future__ import annotations

import atexit
import collections
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WASM_DEFAULT = os.path.join(REPO, "target", "wasm32-wasip1", "release", "iis_rewrite_filter.wasm")
CLI_DEFAULT = os.path.join(REPO, "target", "release", "iis-rewrite")


def envoy_binary() -> str:
    """$ENVOY_BIN, else the repository's .venv, else PATH."""
    candidates = [
        os.environ.get("ENVOY_BIN"),
        os.path.join(REPO, ".venv", "bin", "envoy"),
        shutil.which("envoy"),
    ]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    raise RuntimeError("no envoy binary: run scripts/setup.sh (or set ENVOY_BIN)")


def wasm_file() -> str:
    return os.environ.get("IIS_REWRITE_WASM", WASM_DEFAULT)


def cli_file() -> str:
    return os.environ.get("IIS_REWRITE_CLI", CLI_DEFAULT)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# Upstream


Recorded = collections.namedtuple("Recorded", "method path headers body")
Recorded.header = lambda self, name: next(
    (v for k, v in self.headers if k.lower() == name.lower()), None
)
Recorded.headers_named = lambda self, name: [v for k, v in self.headers if k.lower() == name.lower()]


def echo_responder(req: Recorded):
    """200 with a JSON body describing what arrived."""
    body = json.dumps(
        {"method": req.method, "path": req.path, "headers": [[k, v] for k, v in req.headers]}
    ).encode()
    return 200, [("Content-Type", "application/json")], body


class Upstream:
    """A threaded HTTP/1.1 server on 127.0.0.1 (free port) that records every request."""

    def __init__(self, responder=None, tls: ssl.SSLContext | None = None, name: str = "upstream"):
        self.responder = responder or echo_responder
        self.name = name
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rec = Recorded(self.command, self.path, list(self.headers.items()), body)
                with outer._cond:
                    outer.requests.append(rec)
                    outer._cond.notify_all()
                try:
                    status, headers, rbody = outer.responder(rec)
                except Exception as e:  # a responder bug shows as a 500 with its message
                    status, headers, rbody = 500, [], f"responder error: {e!r}".encode()
                if isinstance(rbody, str):
                    rbody = rbody.encode()
                self.send_response(status)
                names = {k.lower() for k, _ in headers}
                for k, v in headers:
                    self.send_header(k, v)
                if "content-length" not in names:
                    self.send_header("Content-Length", str(len(rbody)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(rbody)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.scheme = "https" if tls else "http"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def last(self) -> Recorded | None:
        with self._lock:
            return self.requests[-1] if self.requests else None

    def wait_for(self, n: int = 1, timeout: float = 5.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.name}: {len(self.requests)} requests, wanted {n}")
                self._cond.wait(left)
            return list(self.requests)

    def clear(self):
        with self._lock:
            self.requests.clear()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------------------------
# Bootstrap generation


def generate_bootstrap(
    config_file,
    listen_port: int = 0,
    default_upstream=None,
    extra_args=(),
    wasm=None,
    admin: str = "127.0.0.1:0",
) -> str:
    """Runs `iis-rewrite envoy CONFIG --wasm … --listen 127.0.0.1:PORT [--default-upstream …]`
    and returns the YAML text. Raises CalledProcessError (with stderr) when the command fails."""
    args = [
        cli_file(),
        "envoy",
        str(config_file),
        "--wasm",
        wasm or wasm_file(),
        "--listen",
        f"127.0.0.1:{listen_port}",
    ]
    if admin:
        args += ["--admin", admin]
    if default_upstream:
        args += ["--default-upstream", str(default_upstream)]
    args += [str(a) for a in extra_args]
    r = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise subprocess.CalledProcessError(r.returncode, args, r.stdout, r.stderr)
    return r.stdout


# --------------------------------------------------------------------------------------------
# Envoy

_live: set = set()


def _kill_all():
    for e in list(_live):
        e.stop()


atexit.register(_kill_all)


class EnvoyFailed(RuntimeError):
    def __init__(self, message: str, log: str, returncode):
        super().__init__(f"{message}\n--- envoy log (tail) ---\n{log[-4000:]}")
        self.log = log
        self.returncode = returncode


class Envoy:
    """Real Envoy started from a YAML text (or file path). Listeners may use port 0."""

    def __init__(
        self,
        config,
        concurrency: int = 1,
        log_level: str = "info",
        component_log_level: str | None = "wasm:debug",
        startup_timeout: float = 30.0,
        extra_args=(),
        start: bool = True,
    ):
        if isinstance(config, (str, os.PathLike)) and os.path.exists(str(config)) and "\n" not in str(config):
            with open(config) as f:
                text = f.read()
        else:
            text = str(config)
        doc = yaml.safe_load(text)
        if "admin" not in doc:
            doc["admin"] = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}}
        self.config = doc
        self.dir = tempfile.mkdtemp(prefix="iis-e2e-envoy-")
        self.config_path = os.path.join(self.dir, "envoy.yaml")
        with open(self.config_path, "w") as f:
            json.dump(doc, f)  # JSON is YAML, and exact
        self.log_path = os.path.join(self.dir, "envoy.log")
        self.admin_path = os.path.join(self.dir, "admin.txt")
        self.concurrency = concurrency
        self.log_level = log_level
        self.component_log_level = component_log_level
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args)
        self.proc = None
        self.admin_port = None
        self.ports: dict[str, int] = {}
        if start:
            self.start()

    # -- lifecycle

    def start(self):
        args = [
            envoy_binary(),
            "-c",
            self.config_path,
            "--disable-hot-restart",
            "--concurrency",
            str(self.concurrency),
            "--admin-address-path",
            self.admin_path,
            "-l",
            self.log_level,
        ]
        if self.component_log_level:
            args += ["--component-log-level", self.component_log_level]
        args += self.extra_args
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            args, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        _live.add(self)
        deadline = time.monotonic() + self.startup_timeout
        try:
            while True:
                if self.proc.poll() is not None:
                    raise EnvoyFailed(
                        f"envoy exited with {self.proc.returncode} during startup",
                        self.log_text(),
                        self.proc.returncode,
                    )
                if time.monotonic() > deadline:
                    raise EnvoyFailed("envoy not ready in time", self.log_text(), None)
                if self.admin_port is None and os.path.exists(self.admin_path):
                    addr = open(self.admin_path).read().strip()
                    if addr:
                        self.admin_port = int(addr.rsplit(":", 1)[1])
                if self.admin_port is not None:
                    try:
                        r = request("GET", self.admin_url("/ready"), timeout=2)
                        if r.status == 200:
                            break
                    except OSError:
                        pass
                time.sleep(0.05)
            self._read_listeners()
        except BaseException:
            self.stop()
            raise
        return self

    def _read_listeners(self):
        r = request("GET", self.admin_url("/listeners?format=json"), timeout=5)
        for ls in json.loads(r.body).get("listener_statuses", []):
            sock = ls.get("local_address", {}).get("socket_address", {})
            if "port_value" in sock:
                self.ports[ls["name"]] = int(sock["port_value"])

    def stop(self):
        p = self.proc
        if p is not None and p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)
        if getattr(self, "_log", None) and not self._log.closed:
            self._log.close()
        _live.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- access

    @property
    def port(self) -> int:
        if "http" in self.ports:
            return self.ports["http"]
        return next(iter(self.ports.values()))

    def url(self, path: str = "/", listener: str | None = None, scheme: str | None = None) -> str:
        port = self.ports[listener] if listener else self.port
        scheme = scheme or ("https" if listener == "https" else "http")
        return f"{scheme}://127.0.0.1:{port}{path}"

    def admin_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.admin_port}{path}"

    def flushed_stats(self, period: float = 1.0) -> dict:
        """Admin /stats once the filter's counters hold every request made so far. The filter
        adds its counts to Envoy's counters once per `period` (docs/deploying.md), so this reads
        until two reads more than a period apart agree on every `wasmcustom.` counter."""
        def custom(stats: dict) -> dict:
            return {k: v for k, v in stats.items() if k.startswith("wasmcustom.")}

        deadline = time.monotonic() + 20 * period
        last = self.stats()
        while True:
            time.sleep(period * 1.5)
            now = self.stats()
            if custom(now) == custom(last) or time.monotonic() > deadline:
                return now
            last = now

    def stats(self) -> dict:
        """Admin /stats as {name: int or str}."""
        r = request("GET", self.admin_url("/stats"), timeout=5)
        out = {}
        for line in r.body.decode(errors="replace").splitlines():
            name, _, value = line.partition(": ")
            value = value.strip()
            try:
                out[name] = int(value)
            except ValueError:
                out[name] = value
        return out

    def log_text(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, needle: str, timeout: float = 5.0) -> str:
        """Waits until the log contains `needle` (the access log is flushed asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text()
            if needle in text or time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def validate(config, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """`envoy --mode validate` on a YAML text or file; returns the completed process."""
    is_path = isinstance(config, os.PathLike) or (
        isinstance(config, str) and "\n" not in config and len(config) < 4096 and os.path.exists(config)
    )
    if not is_path:
        fd, path = tempfile.mkstemp(prefix="iis-e2e-validate-", suffix=".yaml")
        with os.fdopen(fd, "w") as f:
            f.write(config)
    else:
        path = str(config)
    try:
        return subprocess.run(
            [envoy_binary(), "--mode", "validate", "-c", path, "--disable-hot-restart", "-l", "warn"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    finally:
        if path != str(config):
            os.unlink(path)


# --------------------------------------------------------------------------------------------
# Clients


class Response(collections.namedtuple("Response", "status headers body")):
    def header(self, name: str):
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def headers_named(self, name: str):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)


def request(method, url, headers=None, body=None, timeout=10, context=None) -> Response:
    """One request on a fresh connection; the path is sent exactly as given in `url`. Headers
    are a dict or a list of pairs; Host defaults to the URL's host:port."""
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        ctx = context or ssl._create_unverified_context()
        conn = http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if not any(k.lower() == "host" for k, _ in pairs):
            conn.putheader("Host", u.netloc)
        for k, v in pairs:
            conn.putheader(k, v)
        if body is not None:
            if isinstance(body, str):
                body = body.encode()
            if not any(k.lower() == "content-length" for k, _ in pairs):
                conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.getheaders(), data)
    finally:
        conn.close()


def raw_http(port: int, data: bytes, host: str = "127.0.0.1", timeout: float = 5.0) -> bytes:
    """Sends `data` as is and returns everything read until the peer closes (or times out).
    An empty result means the stream was reset / closed without a response."""
    out = b""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                # a complete response with Content-Length: stop reading
                head, sep, rest = out.partition(b"\r\n\r\n")
                if sep:
                    for line in head.split(b"\r\n")[1:]:
                        k, _, v = line.partition(b":")
                        if k.strip().lower() == b"content-length" and len(rest) >= int(v):
                            return out
        except (socket.timeout, ConnectionResetError):
            pass
    return out


def wait_for(predicate, timeout: float = 10, interval: float = 0.1, what: str = "condition"):
    """Polls `predicate` until it returns something truthy, and returns that."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class TlsFiles:
    """A fresh CA and a server certificate for `names`, as PEM files in `directory`."""

    def __init__(self, directory, names: tuple[str, ...] = ("localhost", "127.0.0.1")):
        import trustme

        directory = Path(directory)
        self.ca = trustme.CA()
        self.server_cert = self.ca.issue_cert(*names)
        directory.mkdir(parents=True, exist_ok=True)
        self.ca_pem = directory / "ca.pem"
        self.cert_pem = directory / "cert.pem"
        self.key_pem = directory / "key.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_pem))
        self.server_cert.cert_chain_pems[0].write_to_path(str(self.cert_pem))
        for extra in self.server_cert.cert_chain_pems[1:]:
            with open(self.cert_pem, "ab") as f:
                f.write(extra.bytes())
        self.server_cert.private_key_pem.write_to_path(str(self.key_pem))

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_cert.configure_cert(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx

    def listener_args(self) -> list[str]:
        """`iis-rewrite envoy` options for an HTTPS listener on a free port with this certificate."""
        return [
            "--https-listen", "127.0.0.1:0",
            "--tls-cert", str(self.cert_pem),
            "--tls-key", str(self.key_pem),
        ]


def cargo_build(args) -> None:
    """Builds unless IIS_REWRITE_E2E_NO_BUILD=1. Cargo serialises concurrent builds (xdist
    workers) with its own lock; an up-to-date build is a no-op."""
    if os.environ.get("IIS_REWRITE_E2E_NO_BUILD") == "1":
        return
    r = subprocess.run(["cargo", "build", "--release", *args], cwd=REPO, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"cargo build {' '.join(args)} failed:\n{r.stderr[-4000:]}")


# --------------------------------------------------------------------------------------------
# Hostile-input helpers (tests/e2e/test_security_*.py, test_faults.py)


class FileServer:
    """Python's file server over `root` on 127.0.0.1 (free port): it percent-decodes the path
    and resolves it inside `root`, as PHP front controllers and web-server docroots do. Records
    the raw request targets it received in ``.paths``."""

    def __init__(self, root):
        import functools
        from http.server import SimpleHTTPRequestHandler

        self.paths: list[str] = []
        outer = self

        class Handler(SimpleHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes: without TCP_NODELAY the body waits for a
            # delayed ACK (40 ms a request under load).
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def send_head(self):
                outer.paths.append(self.path)
                return super().send_head()

        handler = functools.partial(Handler, directory=str(root))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def raw_request(port: int, target: bytes, headers=(), method: bytes = b"GET", timeout: float = 5.0) -> Response:
    """One HTTP/1.1 request with the request target and header bytes sent exactly as given (no
    client-side validation); the response parsed. Status 0 when the connection closed without a
    response."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [k + b": " + v for k, v in headers]
    data = raw_http(port, b"\r\n".join(lines) + b"\r\n\r\n", timeout=timeout)
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 "):
        return Response(0, [], data)
    status_line, *header_lines = head.split(b"\r\n")
    parsed = []
    for line in header_lines:
        k, _, v = line.partition(b":")
        parsed.append((k.decode("latin-1").strip(), v.decode("latin-1").strip()))
    return Response(int(status_line.split(b" ")[1]), parsed, body)


def h2_request(port: int, path: bytes, headers=(), method: bytes = b"GET", timeout: float = 5.0) -> Response:
    """One HTTP/2 request with prior knowledge (cleartext) on a fresh connection; header names
    and values (bytes) are sent as given, without the h2 library's validation. Status 0 when
    the stream or connection was reset without a response."""
    import h2.config
    import h2.connection
    import h2.events

    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, validate_outbound_headers=False,
                                  normalize_outbound_headers=False, validate_inbound_headers=False)
    )
    conn.initiate_connection()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(conn.data_to_send())
        pseudo = [(b":method", method), (b":scheme", b"http"), (b":authority", b"127.0.0.1"), (b":path", path)]
        conn.send_headers(1, pseudo + list(headers), end_stream=True)
        s.sendall(conn.data_to_send())
        status, got, body = 0, [], b""
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                done = False
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.ResponseReceived):
                        for k, v in ev.headers:
                            k, v = bytes(k).decode("latin-1"), bytes(v).decode("latin-1")
                            if k == ":status":
                                status = int(v)
                            else:
                                got.append((k, v))
                    elif isinstance(ev, h2.events.DataReceived):
                        body += ev.data
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset,
                                         h2.events.ConnectionTerminated)):
                        done = True
                s.sendall(conn.data_to_send())
                if done:
                    break
        except (socket.timeout, ConnectionResetError):
            pass
    return Response(status, got, body)
