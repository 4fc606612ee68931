"""Hot reload through ECDS (`iis-rewrite envoy --ecds DIR`): Envoy watches DIR/iis-rewrite.yaml;
replacing it atomically swaps the rules for new requests while an open WebSocket and a running
download continue on the connections they have; a configuration the filter refuses is rejected
with a located error in Envoy's log, the old rules stay, and the rejection is counted.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time

import pytest
import yaml
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import serve as ws_serve

from deploy_support import (
    WASM, Envoy, Upstream, build, cli, header, request, wait_for,
)

RULES = """<?xml version="1.0" encoding="UTF-8"?>
<configuration><system.webServer><rewrite><rules>
  <rule name="Version" stopProcessing="true">
    <match url="^version$" />
    <action type="Redirect" url="/{version}" redirectType="Found" />
  </rule>
  <rule name="Socket" stopProcessing="true">
    <match url="^ws$" />
    <action type="Rewrite" url="http://ws.test:8001/echo" />
  </rule>
  <rule name="App" stopProcessing="true">
    <match url=".*" />
    <action type="Rewrite" url="http://app.test:8000/{{R:0}}" />
  </rule>
</rules></rewrite></system.webServer></configuration>
"""

CHUNKS = 50
CHUNK_DELAY = 0.1


def slow_download(handler) -> bool:
    """/download streams CHUNKS numbered chunks, CHUNK_DELAY apart (a long download)."""
    if not handler.path.startswith("/download"):
        return False
    handler.send_response(200)
    handler.send_header("content-type", "application/octet-stream")
    handler.send_header("transfer-encoding", "chunked")
    handler.end_headers()
    for i in range(CHUNKS):
        data = f"chunk {i:03d}\n".encode()
        handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        handler.wfile.flush()
        time.sleep(CHUNK_DELAY)
    handler.wfile.write(b"0\r\n\r\n")
    handler.wfile.flush()
    return True


class EchoServer:
    """A WebSocket echo server on a free loopback port."""

    def __init__(self):
        def echo(conn):
            for message in conn:
                conn.send(f"echo:{message}")

        self.server = ws_serve(echo, "127.0.0.1", 0)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()


def write_rules(path, version: str) -> None:
    path.write_text(RULES.format(version=version))


@pytest.fixture()
def deployment(tmp_path):
    build()
    ecds_dir = tmp_path / "ecds"
    rules = tmp_path / "web.config"
    write_rules(rules, "v1")
    with Upstream("app", responder=slow_download) as app, EchoServer() as echo:
        args = [str(rules), "--ecds", str(ecds_dir), "--wasm", str(WASM),
                "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                "--resolve", f"app.test:8000=127.0.0.1:{app.port}",
                "--resolve", f"ws.test:8001=127.0.0.1:{echo.port}"]
        bootstrap = cli("envoy", *args).stdout
        assert (ecds_dir / "iis-rewrite.yaml").is_file()

        def regenerate(version: str) -> None:
            write_rules(rules, version)
            cli("envoy", *args, "-o", os.devnull)

        with Envoy(bootstrap) as envoy:
            yield envoy, envoy.ports["http"], ecds_dir / "iis-rewrite.yaml", regenerate


def version(port: int) -> str | None:
    status, hdrs, _ = request("GET", f"http://127.0.0.1:{port}/version", {"Host": "site.test"})
    return header(hdrs, "location") if status == 302 else f"status {status}"


def ecds_stat(envoy, name: str) -> int:
    return envoy.counter(f"extension_config_discovery.http_filter.iis.rewrite.{name}")


def test_new_rules_apply_while_websocket_and_download_continue(deployment):
    envoy, port, ecds_file, regenerate = deployment
    assert version(port) == "/v1"
    successes = ecds_stat(envoy, "update_success")

    # A download in progress and an open WebSocket, both through the v1 filter.
    result = {}

    def download():
        status, _, body = request("GET", f"http://127.0.0.1:{port}/download", {"Host": "site.test"},
                                  timeout=30)
        result["status"], result["body"] = status, body

    t = threading.Thread(target=download)
    t.start()
    with ws_connect(f"ws://127.0.0.1:{port}/ws", additional_headers={"Host": "site.test"},
                    open_timeout=10) as ws:
        ws.send("before")
        assert ws.recv(timeout=5) == "echo:before"
        time.sleep(CHUNK_DELAY * 5)  # the download is under way

        regenerate("v2")
        wait_for(lambda: ecds_stat(envoy, "update_success") > successes, what="ECDS update")
        # New requests see the new rules ...
        wait_for(lambda: version(port) == "/v2", timeout=5, what="v2 rules")
        # ... while the download started before is still running ...
        assert t.is_alive(), "the download ended before the reload: the test proves nothing"
        # ... and the WebSocket opened before goes on.
        for i in range(3):
            ws.send(f"after {i}")
            assert ws.recv(timeout=5) == f"echo:after {i}"
    t.join(30)
    assert not t.is_alive()
    # The download was not cut: every chunk, in order.
    assert result["status"] == 200
    assert result["body"] == b"".join(f"chunk {i:03d}\n".encode() for i in range(CHUNKS))
    # And a WebSocket opened after the reload works too.
    with ws_connect(f"ws://127.0.0.1:{port}/ws", additional_headers={"Host": "site.test"},
                    open_timeout=10) as ws2:
        ws2.send("new")
        assert ws2.recv(timeout=5) == "echo:new"


def test_a_refused_configuration_keeps_the_old_rules(deployment):
    envoy, port, ecds_file, _ = deployment
    assert version(port) == "/v1"
    rejected = ecds_stat(envoy, "update_rejected")
    counted = envoy.counter("wasmcustom.iis_rewrite.config_rejected")

    # A hand edit that breaks the rules: an invalid pattern in rule "Version".
    break_rules(ecds_file)

    wait_for(lambda: ecds_stat(envoy, "update_rejected") > rejected, what="ECDS rejection")
    log = envoy.log_text()
    assert re.search(r'iis-rewrite: configuration refused: rule "Version" <match> attribute url: '
                     r'invalid pattern "\^\(version\$"', log), log[-3000:]
    # The old rules are still in force, for new connections too.
    assert version(port) == "/v1"
    status, _, body = request("GET", f"http://127.0.0.1:{port}/page", {"Host": "site.test"})
    assert status == 200 and json.loads(body)["path"] == "/page"
    # The filter's own rejection counter (defined by the VM that refused the configuration).
    assert envoy.counter("wasmcustom.iis_rewrite.config_rejected") == counted + 1


def test_a_duplicate_key_is_refused_and_keeps_the_old_rules(deployment):
    """A hand edit that repeats "rules" with an empty list: a reader that kept the last of the two
    would load no rules at all. The filter refuses the update, as `iis-rewrite check` does."""
    envoy, port, ecds_file, _ = deployment
    assert version(port) == "/v1"
    rejected = ecds_stat(envoy, "update_rejected")

    edit_configuration(ecds_file, lambda text: text.rstrip()[:-1] + ', "rules": []}')

    wait_for(lambda: ecds_stat(envoy, "update_rejected") > rejected, what="ECDS rejection")
    log = envoy.log_text()
    assert re.search(r"configuration refused: invalid configuration JSON: duplicate field `rules`",
                     log), log[-3000:]
    assert version(port) == "/v1"


def break_rules(ecds_file) -> None:
    """Replaces the ECDS file (atomically) with one whose rule "Version" has an invalid pattern."""

    def invalid_pattern(text: str) -> str:
        config = json.loads(text)
        config["rules"][0]["match"]["url"] = "^(version$"
        return json.dumps(config)

    edit_configuration(ecds_file, invalid_pattern)


def edit_configuration(ecds_file, edit) -> None:
    """Replaces the ECDS file (atomically) with one whose plugin configuration text is
    `edit(old text)`."""
    doc = yaml.safe_load(ecds_file.read_text())
    value = doc["resources"][0]["typed_config"]["config"]["configuration"]
    value["value"] = edit(value["value"])
    tmp = ecds_file.parent / ".edit.tmp"
    tmp.write_text(yaml.safe_dump(doc))
    os.rename(tmp, ecds_file)


def test_without_a_valid_configuration_requests_fail_closed(tmp_path):
    """ECDS failure policy: Envoy refuses to start when the file is missing; when the first
    configuration is one the filter refuses, the listener starts but every request through the
    filter gets 500 (nothing passes unrewritten) until a valid configuration arrives."""
    build()
    ecds_dir = tmp_path / "ecds"
    rules = tmp_path / "web.config"
    write_rules(rules, "v1")
    with Upstream("app") as app:
        args = [str(rules), "--ecds", str(ecds_dir), "--wasm", str(WASM),
                "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                "--resolve", f"app.test:8000=127.0.0.1:{app.port}",
                "--resolve", "ws.test:8001=127.0.0.1:9"]
        bootstrap = cli("envoy", *args).stdout
        ecds_file = ecds_dir / "iis-rewrite.yaml"

        saved = ecds_file.read_text()
        ecds_file.unlink()
        with pytest.raises(RuntimeError, match="does not exist"):
            with Envoy(bootstrap):
                pass
        ecds_file.write_text(saved)

        break_rules(ecds_file)
        with Envoy(bootstrap) as envoy:
            port = envoy.ports["http"]
            status, _, _ = request("GET", f"http://127.0.0.1:{port}/page", {"Host": "site.test"})
            assert status == 500 and app.requests == []
            assert 'configuration refused: rule "Version"' in envoy.log_text()
            # A valid configuration (the CLI rewrites the file atomically) takes over.
            cli("envoy", *args, "-o", os.devnull)
            wait_for(lambda: ecds_stat(envoy, "update_success") >= 1, what="ECDS update")
            assert version(port) == "/v1"
            status, _, body = request("GET", f"http://127.0.0.1:{port}/page", {"Host": "site.test"})
            assert status == 200 and json.loads(body)["path"] == "/page"


def test_reloads_under_load_fail_no_request(deployment):
    """Requests sent back to back while the rules are replaced three times: every one is
    answered by a complete rule set (old or new, never an error), and once a worker has served
    version N it never serves an older one."""
    envoy, port, _, regenerate = deployment
    seen: list[str | None] = []
    stop = threading.Event()

    def load():
        while not stop.is_set():
            seen.append(version(port))

    t = threading.Thread(target=load)
    t.start()
    try:
        for n in (2, 3, 4):
            time.sleep(0.3)
            regenerate(f"v{n}")
        wait_for(lambda: seen and seen[-1] == "/v4", timeout=10, what="v4 under load")
        time.sleep(0.2)
    finally:
        stop.set()
        t.join(10)
    assert len(seen) > 50, len(seen)
    assert all(v in ("/v1", "/v2", "/v3", "/v4") for v in seen), sorted(set(map(str, seen)))
    order = [int(v[2:]) for v in seen]
    assert order == sorted(order), "an older rule set answered after a newer one"


def test_sites_reload_together(tmp_path):
    """With --site and --ecds the one ECDS file carries every site's rule set: changing one
    site's web.config and regenerating changes that site only."""
    build()
    ecds_dir = tmp_path / "ecds"
    a, b = tmp_path / "a.config", tmp_path / "b.config"
    write_rules(a, "a1")
    write_rules(b, "b1")
    with Upstream("app") as app:
        args = [str(a), "--site", f"b.test={b}", "--ecds", str(ecds_dir), "--wasm", str(WASM),
                "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                "--resolve", f"app.test:8000=127.0.0.1:{app.port}",
                "--resolve", "ws.test:8001=127.0.0.1:9"]
        bootstrap = cli("envoy", *args).stdout
        with Envoy(bootstrap) as envoy:
            port = envoy.ports["http"]

            def site_version(host):
                r = request("GET", f"http://127.0.0.1:{port}/version", {"Host": host})
                return r.header("location")

            assert (site_version("a.test"), site_version("b.test")) == ("/a1", "/b1")
            write_rules(b, "b2")
            cli("envoy", *args, "-o", os.devnull)
            wait_for(lambda: site_version("b.test") == "/b2", what="site b reloaded")
            assert site_version("a.test") == "/a1"
