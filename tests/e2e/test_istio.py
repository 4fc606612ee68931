"""Istio and remote-module deployment: the WasmPlugin manifests in envoy/istio/ are what
`iis-rewrite istio` generates from envoy/istio/web.config, their pluginConfig is what
`iis-rewrite import` produces and `iis-rewrite check` accepts, and real Envoy runs that
pluginConfig delivered the way Istio delivers it (JSON text). envoy/remote-wasm.yaml (`iis-rewrite
envoy --wasm https://… --wasm-sha256 …`) is validated by `envoy --mode validate`, which fetches
nothing; the same generator output is run for real against a local download server, with the
module's true digest and a wrong one.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from deploy_support import (
    CLI, REPO, WASM, Envoy, Upstream, build, cli, envoy_binary, header, loopback_ports, request,
    wait_for,
)

ISTIO = REPO / "envoy/istio"
WEB_CONFIG = "envoy/istio/web.config"
MANIFESTS = ["wasmplugin.yaml", "wasmplugin-https.yaml"]


@pytest.fixture(scope="module", autouse=True)
def _built():
    build()


def imported() -> dict:
    return json.loads(cli("import", WEB_CONFIG).stdout)


def manifest(name: str) -> dict:
    docs = list(yaml.safe_load_all((ISTIO / name).read_text()))
    # The WasmPlugin, then the EnvoyFilter with the path policy (docs/security.md).
    assert [d["kind"] for d in docs] == ["WasmPlugin", "EnvoyFilter"]
    return docs[0]


@pytest.mark.parametrize("name", MANIFESTS)
def test_plugin_config_is_the_import_and_check_accepts_it(name, tmp_path):
    doc = manifest(name)
    assert doc["apiVersion"] == "extensions.istio.io/v1alpha1"
    assert doc["kind"] == "WasmPlugin"
    spec = doc["spec"]
    assert spec["pluginConfig"] == imported()
    assert spec["failStrategy"] == "FAIL_RELOAD"
    assert spec["phase"] == "AUTHN"
    assert spec["type"] == "HTTP"
    assert spec["selector"]["matchLabels"]
    assert spec["match"] and all(p["number"] > 0 for m in spec["match"] for p in m["ports"])
    # What the proxy receives is the pluginConfig as JSON: the CLI accepts it as such.
    as_json = tmp_path / "plugin-config.json"
    as_json.write_text(json.dumps(spec["pluginConfig"]))
    proc = cli("check", str(as_json))
    assert "ok: 3 rules, 1 outbound rule, 1 preCondition, 1 rewrite map" in proc.stdout


def test_manifests_are_exactly_what_the_generator_writes(tmp_path):
    sha = manifest("wasmplugin-https.yaml")["spec"]["sha256"]
    env = {"IIS_REWRITE_CLI": str(CLI), "SHA256": sha, "PATH": "/usr/bin:/bin"}
    subprocess.run([str(REPO / "scripts/gen-envoy-configs.sh"), "--out", str(tmp_path)], cwd=REPO,
                   env=env, check=True, capture_output=True)
    for name in MANIFESTS:
        assert (tmp_path / "envoy/istio" / name).read_text() == (ISTIO / name).read_text(), (
            f"envoy/istio/{name} is stale: run scripts/gen-envoy-configs.sh")


def test_url_forms():
    oci = manifest("wasmplugin.yaml")["spec"]
    assert oci["url"].startswith("oci://") and oci["imagePullPolicy"] == "IfNotPresent"
    assert oci["match"] == [{"mode": "SERVER", "ports": [{"number": 8080}]}]
    https = manifest("wasmplugin-https.yaml")["spec"]
    assert https["url"].startswith("https://")
    assert re.fullmatch(r"[0-9a-f]{64}", https["sha256"])
    assert https["match"] == [{"mode": "CLIENT", "ports": [{"number": 8080}, {"number": 8443}]}]


def test_generator_refuses_unverifiable_or_malformed_input(tmp_path):
    base = ["istio", WEB_CONFIG, "--selector", "app=web"]
    p = cli(*base, "--image", "https://x.example/plugin.wasm", check=False)
    assert p.returncode == 2 and "--sha256" in p.stderr
    p = cli(*base, "--image", "https://x.example/plugin.wasm", "--sha256", "abc", check=False)
    assert p.returncode == 2 and "64 hex digits" in p.stderr
    p = cli("istio", WEB_CONFIG, "--image", "oci://r/f:1", check=False)
    assert p.returncode == 2 and "--selector" in p.stderr
    p = cli(*base, "--image", "oci://r/f:1", "--name", "Not_A_Label", check=False)
    assert p.returncode == 2 and "DNS label" in p.stderr
    broken = tmp_path / "broken.config"
    broken.write_text((REPO / "testdata/broken/invalid-regex.config").read_text())
    p = cli("istio", str(broken), "--image", "oci://r/f:1", "--selector", "app=web", check=False)
    assert p.returncode == 1 and re.search(r"broken\.config:\d+:\d+: error:", p.stderr)
    assert p.stdout == ""


def test_dockerfile_is_a_single_layer_scratch_image_of_plugin_wasm():
    lines = [l.strip() for l in (ISTIO / "Dockerfile").read_text().splitlines()
             if l.strip() and not l.lstrip().startswith("#")]
    assert lines[0] == "FROM scratch"
    layer_steps = [l for l in lines[1:] if l.split()[0] in ("COPY", "ADD", "RUN")]
    assert len(layer_steps) == 1, "Istio's compat format wants exactly one layer"
    op, src, dst = layer_steps[0].split()
    assert op == "COPY" and dst in ("./plugin.wasm", "/plugin.wasm", "plugin.wasm")
    module = REPO / src
    assert module == WASM and module.read_bytes()[:4] == b"\0asm"


def _istio_style_bootstrap(plugin_config: dict, app_port: int) -> dict:
    """What istio-agent gives Envoy for a WasmPlugin, reduced to one listener: the module from
    a local file, pluginConfig as JSON in a StringValue, FAIL_CLOSED."""
    return loopback_ports({
        "node": {"id": "sidecar", "cluster": "web"},
        "static_resources": {
            "listeners": [{
                "name": "inbound",
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "inbound",
                        "route_config": {"virtual_hosts": [{"name": "app", "domains": ["*"], "routes": [
                            {"match": {"prefix": "/"}, "route": {"cluster": "app"}}]}]},
                        "http_filters": [
                            {"name": "web.iis-rewrite", "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                                "config": {
                                    "name": "web.iis-rewrite", "root_id": "",
                                    "failure_policy": "FAIL_CLOSED",
                                    "configuration": {
                                        "@type": "type.googleapis.com/google.protobuf.StringValue",
                                        "value": json.dumps(plugin_config)},
                                    "vm_config": {"runtime": "envoy.wasm.runtime.v8",
                                                  "code": {"local": {"filename": str(WASM)}}}}}},
                            {"name": "envoy.filters.http.router", "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
                        ]}}]}],
            }],
            "clusters": [_static_cluster("app", app_port)],
        },
    })


def _static_cluster(name: str, port: int) -> dict:
    return {"name": name, "type": "STATIC", "connect_timeout": "2s",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}}


def _check_site_rules(port: int, app: Upstream) -> None:
    base = f"http://127.0.0.1:{port}"
    status, hdrs, _ = request("GET", base + "/shop/cart", {"Host": "web.example", "X-Forwarded-Proto": "http"})
    assert status == 301 and header(hdrs, "location") == "https://web.example/shop/cart"
    # Behind the gateway (X-Forwarded-Proto https, which this listener keeps, as a sidecar's
    # inbound listener does): moved pages, the SPA fallback, API calls untouched.
    tls = {"Host": "web.example", "X-Forwarded-Proto": "https"}
    status, hdrs, _ = request("GET", base + "/about-us.aspx", tls)
    assert status == 301 and header(hdrs, "location") == "/about"
    status, hdrs, body = request("GET", base + "/shop/cart", tls)
    assert status == 200 and json.loads(body)["path"] == "/index.html"
    assert header(hdrs, "x-content-type-options") == "nosniff"
    status, _, body = request("GET", base + "/api/items?id=3", tls)
    assert status == 200 and json.loads(body)["path"] == "/api/items?id=3"
    assert [r["path"] for r in app.requests] == ["/index.html", "/api/items?id=3"]


def test_plugin_config_runs_in_envoy_as_istio_delivers_it():
    plugin_config = manifest("wasmplugin.yaml")["spec"]["pluginConfig"]
    with Upstream("app") as app, Envoy(_istio_style_bootstrap(plugin_config, app.port)) as envoy:
        _check_site_rules(envoy.ports["inbound"], app)


# --- envoy/remote-wasm.yaml ------------------------------------------------------------------

REMOTE = REPO / "envoy/remote-wasm.yaml"


def test_remote_wasm_example_validates():
    """`--mode validate` builds every object of the bootstrap (the wasm filter config with its
    remote code source, clusters, TLS) but fetches nothing; the fetch is exercised below."""
    proc = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(REMOTE), "-l", "warning",
                           "--use-dynamic-base-id"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK" in proc.stdout + proc.stderr


def test_remote_wasm_configuration_is_the_import():
    doc = yaml.safe_load(REMOTE.read_text())
    wasm = _wasm_filter(doc)
    assert json.loads(wasm["config"]["configuration"]["value"]) == imported()
    assert wasm["config"]["failure_policy"] == "FAIL_RELOAD"
    remote = wasm["config"]["vm_config"]["code"]["remote"]
    assert remote["http_uri"]["uri"].startswith("https://")
    assert re.fullmatch(r"[0-9a-f]{64}", remote["sha256"])


def _wasm_filter(doc: dict) -> dict:
    hcm = doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    return next(f["typed_config"] for f in hcm["http_filters"] if f["name"] == "iis.rewrite")


class _ModuleServer:
    """Serves the built module at any path and counts the downloads."""

    def __init__(self, data: bytes):
        self.hits = 0
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.hits += 1
                self.send_response(200)
                self.send_header("content-type", "application/wasm")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _remote_bootstrap(download_port: int, app_port: int, sha256: str) -> str:
    """The generator's remote-module form, downloading from a local plain-HTTP server. One
    trusted hop: Envoy sits behind a TLS-terminating proxy whose X-Forwarded-Proto it keeps."""
    return cli("envoy", WEB_CONFIG, "--xff-trusted-hops", "1",
               "--wasm", f"http://127.0.0.1:{download_port}/iis-rewrite/0.1.0/plugin.wasm",
               "--wasm-sha256", sha256, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
               "--default-upstream", f"127.0.0.1:{app_port}").stdout


def test_remote_wasm_example_is_the_generator_output(tmp_path):
    sha = _wasm_filter(yaml.safe_load(REMOTE.read_text()))["config"]["vm_config"]["code"]["remote"]["sha256"]
    env = {"IIS_REWRITE_CLI": str(CLI), "SHA256": sha, "PATH": "/usr/bin:/bin"}
    subprocess.run([str(REPO / "scripts/gen-envoy-configs.sh"), "--out", str(tmp_path)], cwd=REPO,
                   env=env, check=True, capture_output=True)
    assert (tmp_path / "envoy/remote-wasm.yaml").read_text() == REMOTE.read_text(), (
        "envoy/remote-wasm.yaml is stale: run scripts/gen-envoy-configs.sh")


def test_remote_module_options_are_checked():
    base = ["envoy", WEB_CONFIG, "--listen", "127.0.0.1:0"]
    p = cli(*base, "--wasm", "https://dl.example.com/plugin.wasm", check=False)
    assert p.returncode == 2 and "--wasm-sha256" in p.stderr
    p = cli(*base, "--wasm", "https://dl.example.com/plugin.wasm", "--wasm-sha256", "12", check=False)
    assert p.returncode == 2 and "64 hex digits" in p.stderr
    p = cli(*base, "--wasm", "/etc/envoy/f.wasm", "--wasm-sha256", "a" * 64, check=False)
    assert p.returncode == 2 and "http(s)://" in p.stderr
    p = cli(*base, "--wasm", "https://dl.example.com", "--wasm-sha256", "a" * 64, check=False)
    assert p.returncode == 2 and "expected a file path or http(s)://" in p.stderr


def test_remote_wasm_is_fetched_verified_and_run():
    data = WASM.read_bytes()
    server = _ModuleServer(data)
    try:
        with Upstream("app") as app, \
                Envoy(_remote_bootstrap(server.port, app.port, hashlib.sha256(data).hexdigest())) as envoy:
            assert server.hits == 1
            _check_site_rules(envoy.ports["http"], app)
            assert envoy.counter("wasm.remote_load_fetch_successes") >= 1
    finally:
        server.close()


def test_remote_wasm_with_a_wrong_sha256_fails_closed():
    data = WASM.read_bytes()
    server = _ModuleServer(data)
    wrong = hashlib.sha256(data + b"tampered").hexdigest()
    try:
        with Upstream("app") as app, Envoy(_remote_bootstrap(server.port, app.port, wrong)) as envoy:
            assert server.hits >= 1
            status, _, _ = request("GET", f"http://127.0.0.1:{envoy.ports['http']}/shop/cart",
                                   {"Host": "web.example"})
            # Not passed through unrewritten: FAIL_CLOSED answers for the missing module.
            assert status == 503
            assert app.requests == []
            # A mismatching download counts as a failed fetch: retried (num_retries), then the
            # plugin stays unloaded.
            assert server.hits == 4, server.hits
            log = envoy.log_text()
            assert "Retry limit exceeded for fetching data from remote data source" in log
            assert "Plugin iis-rewrite failed to load" in log
    finally:
        server.close()
