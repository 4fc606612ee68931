"""Helpers shared by the deployment tests (per-route, hot reload, metrics, Istio, remote wasm).

Real Envoy, real sockets: every listener and admin port is bound by the OS (port 0) and read
back from the admin API, so tests can run beside other Envoys; every process started here is
stopped by the context managers, also when a test fails.
"""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import harness
from harness import EnvoyFailed, envoy_binary, request, wait_for  # noqa: F401  (re-exported)

REPO = Path(harness.REPO)
WASM = Path(harness.wasm_file())
CLI = Path(harness.cli_file())

_built = False


def build() -> None:
    """Builds the release wasm and CLI once per process (nothing when scripts/test.sh already
    did: IIS_REWRITE_E2E_NO_BUILD=1, as conftest.py)."""
    global _built
    if not _built:
        harness.cargo_build(["-p", "iis-rewrite-filter", "--target", "wasm32-wasip1"])
        harness.cargo_build(["-p", "iis-rewrite"])
        _built = True


def cli(*args: str, check: bool = True, cwd: Path = REPO) -> subprocess.CompletedProcess:
    build()
    proc = subprocess.run([str(CLI), *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"iis-rewrite {' '.join(args)} -> {proc.returncode}\n{proc.stderr}")
    return proc


def loopback_ports(config: dict) -> dict:
    """Rewrites every listener and the admin address to 127.0.0.1:0 (the OS picks the ports)."""
    config.setdefault("admin", {})["address"] = {
        "socket_address": {"address": "127.0.0.1", "port_value": 0}
    }
    for listener in config.get("static_resources", {}).get("listeners", []):
        listener["address"] = {"socket_address": {"address": "127.0.0.1", "port_value": 0}}
    return config


class Envoy(harness.Envoy):
    """The harness's Envoy (started on construction, stopped on exit), also from a dict, plus
    stat helpers."""

    def __init__(self, config, **kwargs):
        if isinstance(config, dict):
            config = json.dumps(config)  # JSON is YAML
        super().__init__(config, **kwargs)

    def stats_with(self, prefix: str) -> dict:
        return {k: v for k, v in self.stats().items() if k.startswith(prefix)}

    def counter(self, name: str) -> int:
        value = self.stats().get(name)
        return value if isinstance(value, int) else 0

    def admin_get(self, path: str) -> str:
        r = request("GET", self.admin_url(path))
        assert r.status == 200, (path, r.status, r.body[:300])
        return r.body.decode()


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

