"""Helpers shared by the deployment tests (per-route, hot reload, metrics, Istio, remote wasm).

Real Envoy, real sockets: every listener and admin port is bound by the OS (port 0) and read
back from the admin API, so tests can run beside other Envoys; every process started here is
stopped by the context managers, also when a test fails.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
WASM = REPO / "target/wasm32-wasip1/release/iis_rewrite_filter.wasm"
CLI = REPO / "target/release/iis-rewrite"


def envoy_binary() -> str:
    for candidate in (
        os.environ.get("ENVOY_BIN"),
        str(REPO / ".venv/bin/envoy"),
        "/work/venv-shared/bin/envoy",
        shutil.which("envoy"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("no envoy binary: run scripts/setup.sh or set ENVOY_BIN")


_built = False


def build() -> None:
    """Builds the release wasm and CLI once per session (incremental, so cheap when fresh)."""
    global _built
    if _built or os.environ.get("IIS_REWRITE_SKIP_BUILD"):
        _built = True
        return
    for args in (
        ["cargo", "build", "-q", "-p", "iis-rewrite-filter", "--release", "--target", "wasm32-wasip1"],
        ["cargo", "build", "-q", "-p", "iis-rewrite", "--release"],
    ):
        subprocess.run(args, cwd=REPO, check=True)
    _built = True


def cli(*args: str, check: bool = True, cwd: Path = REPO) -> subprocess.CompletedProcess:
    build()
    proc = subprocess.run([str(CLI), *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"iis-rewrite {' '.join(args)} -> {proc.returncode}\n{proc.stderr}")
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_ports(config: dict) -> dict:
    """Rewrites every listener and the admin address to 127.0.0.1:0 (the OS picks the ports)."""
    config.setdefault("admin", {})["address"] = {
        "socket_address": {"address": "127.0.0.1", "port_value": 0}
    }
    for listener in config.get("static_resources", {}).get("listeners", []):
        listener["address"] = {"socket_address": {"address": "127.0.0.1", "port_value": 0}}
    return config


class Envoy:
    """A real Envoy from a bootstrap (dict or YAML text). Listener and admin ports should be 0;
    `port(name)` reads the bound port of a listener from the admin API."""

    def __init__(self, config, *, log_level: str = "info", component_log_level: str | None = "wasm:debug",
                 concurrency: int = 1, workdir: Path | None = None):
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="iis-deploy-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        self.config_path = self.dir / "envoy.yaml"
        self.config_path.write_text(text)
        self.log_path = self.dir / "envoy.log"
        self.admin_path = self.dir / "admin.txt"
        self.args = [
            envoy_binary(), "-c", str(self.config_path), "--concurrency", str(concurrency),
            "--use-dynamic-base-id", "--admin-address-path", str(self.admin_path),
            "-l", log_level, "--disable-hot-restart",
        ]
        if component_log_level:
            self.args += ["--component-log-level", component_log_level]
        self.proc: subprocess.Popen | None = None
        self.admin = ""

    def __enter__(self) -> "Envoy":
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if not self.log.closed:
            self.log.close()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"envoy exited {self.proc.returncode}:\n{self.log_text()[-4000:]}")
            if self.admin_path.exists() and self.admin_path.read_text().strip():
                self.admin = self.admin_path.read_text().strip()
                try:
                    status, _, body = request("GET", f"http://{self.admin}/ready", timeout=2)
                    if status == 200 and body.strip() == b"LIVE":
                        return
                except OSError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"envoy not ready in {timeout}s:\n{self.log_text()[-4000:]}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def admin_get(self, path: str) -> str:
        status, _, body = request("GET", f"http://{self.admin}{path}")
        assert status == 200, (path, status, body[:300])
        return body.decode()

    def port(self, listener: str | None = None) -> int:
        data = json.loads(self.admin_get("/listeners?format=json"))
        for item in data.get("listener_statuses", []):
            if listener is None or item.get("name") == listener:
                return int(item["local_address"]["socket_address"]["port_value"])
        raise KeyError(listener)

    def stats(self, prefix: str = "") -> dict[str, str]:
        out = {}
        for line in self.admin_get("/stats").splitlines():
            name, _, value = line.partition(": ")
            if name.startswith(prefix):
                out[name] = value
        return out

    def counter(self, name: str) -> int:
        value = self.stats(name).get(name)
        return int(value) if value is not None else 0


def request(method: str, url: str, headers: dict | list | None = None, body: bytes | None = None,
            timeout: float = 10):
    """One HTTP/1.1 request, no redirect following. Returns (status, [(name, value)], body)."""
    assert url.startswith("http://")
    hostport, _, path = url[len("http://"):].partition("/")
    host, _, port = hostport.partition(":")
    conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        conn.putrequest(method, "/" + path, skip_host=True, skip_accept_encoding=True)
        items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        if not any(k.lower() == "host" for k, _ in items):
            items.insert(0, ("Host", hostport))
        for k, v in items:
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


def header(headers, name: str) -> str | None:
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


class Upstream:
    """A threaded HTTP/1.1 server on a free loopback port. Answers 200 with a JSON echo of what
    it received (method, path, headers) and records every request. `responder(handler)` may
    take over a request (return True when it answered)."""

    def __init__(self, name: str = "upstream", responder=None):
        self.name = name
        self.requests: list[dict] = []
        self.responder = responder
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                record = {"method": self.command, "path": self.path,
                          "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                outer.requests.append(record)
                if outer.responder and outer.responder(self):
                    return
                payload = json.dumps({"upstream": outer.name, "method": self.command,
                                      "path": self.path, "headers": record["headers"]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Upstream":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate, timeout: float = 10, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
