"""Upstream and control-plane faults behind the generated bootstrap, each with the outcome
docs/security.md documents: the client gets a defined answer, nothing passes unfiltered, and
Envoy serves the next request.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
import yaml

import harness

PLAIN_RULES = """<configuration><system.webServer>
  <proxy enabled="true" timeout="00:00:02" />
  <rewrite><rules>
  <rule name="block-internal" stopProcessing="true">
    <match url="^system/.*" />
    <action type="CustomResponse" statusCode="403" statusReason="Forbidden" statusDescription="blocked" />
  </rule>
</rules></rewrite></system.webServer></configuration>
"""


class RawUpstream:
    """A TCP server on 127.0.0.1 whose every connection is handled by `behave(conn)` after the
    request head has been read."""

    def __init__(self, behave):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.behave = behave
        self.connections = 0
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            try:
                self.behave(conn)
            except OSError:
                pass

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def close(self):
        self._stop = True
        self.sock.close()


def reset_mid_body(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nContent-Type: text/plain\r\n\r\n")
    conn.sendall(b"x" * 1000)
    time.sleep(0.1)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def slow_answer(conn):
    time.sleep(4)  # past the 2 s proxy timeout
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate")


def garbage(conn):
    conn.sendall(b"\x00\x01garbage that is not HTTP\r\n\r\n")


def bad_header(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Bad: a\x00b\r\nContent-Length: 2\r\n\r\nok")


# (name, upstream behaviour or None for "nothing listens", expected statuses, what it means)
FAULTS = [
    ("upstream-down", None, {502}),  # connect refused: Envoy 503 UF, shown as ARR's 502
    ("slow-past-timeout", slow_answer, {502}),  # idle past proxy@timeout: 504 SI, shown as 502
    ("garbage-response", garbage, {502}),  # Envoy's own 502, flag UPE (protocol error)
    ("nul-in-response-header", bad_header, {502}),  # the same: never relayed
    ("reset-mid-body", reset_mid_body, {200}),  # headers were sent: the body is cut short
]


@pytest.mark.parametrize("name,behave,statuses", FAULTS, ids=[f[0] for f in FAULTS])
def test_upstream_fault(tmp_path, make_envoy, name, behave, statuses):
    upstream = RawUpstream(behave) if behave else None
    address = upstream.address if upstream else f"127.0.0.1:{harness.free_port()}"
    rules = tmp_path / "web.config"
    rules.write_text(PLAIN_RULES)
    e = make_envoy(harness.generate_bootstrap(rules, 0, address))
    try:
        raw = harness.raw_http(e.port, b"GET /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                               timeout=10)
        status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else 0
        assert status in statuses, raw[:300]
        if name == "reset-mid-body":
            body = raw.partition(b"\r\n\r\n")[2]
            assert len(body) < 100000  # cut short, the connection closed: never a false whole
        # The rules still run and Envoy still answers.
        assert harness.raw_request(e.port, b"/system/x").status == 403
        assert e.alive
    finally:
        if upstream:
            upstream.close()


def test_ecds_reload_with_an_unreadable_file_keeps_the_old_rules(tmp_path, make_envoy, upstream):
    """A reload whose file is not even YAML: Envoy rejects the update, the rules in force stay,
    the rejection is counted."""
    rules = tmp_path / "web.config"
    rules.write_text(PLAIN_RULES)
    ecds = tmp_path / "ecds"
    e = make_envoy(harness.generate_bootstrap(rules, 0, upstream.address, ["--ecds", str(ecds)]))
    ecds_file = ecds / "iis-rewrite.yaml"
    config = yaml.safe_load(ecds_file.read_text())["resources"][0]["typed_config"]["config"]
    assert config["failure_policy"] == "FAIL_RELOAD"
    assert harness.raw_request(e.port, b"/system/x").status == 403

    def counter(name):
        return e.stats().get(f"extension_config_discovery.http_filter.iis.rewrite.{name}", 0)

    rejected = counter("update_rejected") + counter("update_failure")
    tmp = ecds / ".edit.tmp"
    tmp.write_text("resources: [ {{{ not yaml")
    os.rename(tmp, ecds_file)
    harness.wait_for(lambda: counter("update_rejected") + counter("update_failure") > rejected,
                     what="ECDS rejection")
    assert harness.raw_request(e.port, b"/system/x").status == 403
    assert harness.raw_request(e.port, b"/page").status == 200
