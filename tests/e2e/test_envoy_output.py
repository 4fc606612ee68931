"""`iis-rewrite envoy` output accepted by the real Envoy (`--mode validate`, which also runs the
filter's on_configure on the embedded configuration) for every web.config under testdata/, with
every option; refused inputs give located errors and no output."""

import glob
import os
import subprocess

import json

import pytest
import yaml

import harness

CONFIGS = sorted(
    p
    for p in glob.glob(os.path.join(harness.REPO, "testdata", "webconfigs", "*.config"))
    if not p.endswith("-published.config")  # the published Jellyfin advanced file is malformed
)


def _run_cli(cli_path, *args):
    return subprocess.run([cli_path, *args], cwd=harness.REPO, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    harness.TlsFiles(d)
    return d


@pytest.mark.parametrize("config", CONFIGS, ids=os.path.basename)
def test_every_testdata_config_validates_in_envoy(config, cli_path, wasm_path, tls_files):
    """Configurations `check` accepts give a bootstrap Envoy accepts; those it refuses give the
    same located errors and no bootstrap."""
    check = _run_cli(cli_path, "check", config)
    out = _run_cli(
        cli_path,
        "envoy",
        config,
        "--wasm",
        wasm_path,
        "--listen",
        "127.0.0.1:0",
        "--https-listen",
        "127.0.0.1:0",
        "--tls-cert",
        str(tls_files / "cert.pem"),
        "--tls-key",
        str(tls_files / "key.pem"),
        "--default-upstream",
        "127.0.0.1:1",
        "--admin",
        "127.0.0.1:0",
        "--xff-trusted-hops",
        "2",
        "--upstream-ca",
        str(tls_files / "ca.pem"),
        "--resolve",
        "localhost:8096=127.0.0.1:1",
    )
    if check.returncode != 0:
        assert out.returncode == 1
        assert out.stdout == ""
        errors = [line for line in check.stderr.splitlines() if ": error: " in line]
        assert errors and all(e in out.stderr for e in errors)
        return
    assert out.returncode == 0, out.stderr
    v = harness.validate(out.stdout)
    assert v.returncode == 0, v.stdout + v.stderr
    assert "OK" in v.stdout


def test_minimal_options_validate(cli_path, wasm_path):
    out = _run_cli(cli_path, "envoy", "testdata/jellyfin-basic-inbound.json", "--wasm", wasm_path, "--listen", "127.0.0.1:0")
    assert out.returncode == 0, out.stderr
    assert "admin:" not in out.stdout
    assert "direct_response" in out.stdout  # no default upstream: 404
    v = harness.validate(out.stdout)
    assert v.returncode == 0, v.stdout + v.stderr


def test_insecure_upstream_tls_validates(cli_path, wasm_path):
    out = _run_cli(
        cli_path, "envoy", "testdata/webconfigs/novnc-websocket.config", "--wasm", wasm_path,
        "--listen", "127.0.0.1:0", "--upstream-tls-insecure",
    )
    assert out.returncode == 0, out.stderr
    assert "validation_context" not in out.stdout
    assert harness.validate(out.stdout).returncode == 0


@pytest.mark.parametrize(
    "args,message",
    [
        (["--listen", "localhost:80"], '--listen "localhost:80": expected IP:PORT'),
        (["--listen", "127.0.0.1:80", "--default-upstream", "nohost"], '--default-upstream "nohost": expected HOST:PORT'),
        (["--listen", "127.0.0.1:80", "--admin", "1.2.3:9"], "--admin"),
    ],
)
def test_bad_addresses_are_refused(cli_path, args, message):
    out = _run_cli(cli_path, "envoy", "testdata/webconfigs/jellyfin-basic.config", "--wasm", "x.wasm", *args)
    assert out.returncode == 1
    assert out.stdout == ""
    assert message in out.stderr


def test_resolve_and_tls_flags_are_usage_checked(cli_path):
    base = ["envoy", "testdata/webconfigs/jellyfin-basic.config", "--wasm", "x.wasm", "--listen", "127.0.0.1:80"]
    assert _run_cli(cli_path, *base, "--resolve", "localhost:8096").returncode == 2
    assert _run_cli(cli_path, *base, "--upstream-ca", "a.pem", "--upstream-tls-insecure").returncode == 2


def test_envoy_refuses_a_config_the_filter_refuses(envoy_bin, wasm_path, cli_path):
    """A configuration that bypassed the CLI (hand-edited JSON in the bootstrap) is refused by
    Envoy itself: on_configure returns false and Envoy names the rule and attribute."""
    text = harness.generate_bootstrap("testdata/webconfigs/jellyfin-basic.config", 0, "127.0.0.1:1")
    doc = yaml.safe_load(text)
    hcm = doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    conf = hcm["http_filters"][0]["typed_config"]["config"]["configuration"]
    rules = json.loads(conf["value"])
    web = next(r for r in rules["rules"] if r["name"] == "web")
    web["match"]["url"] = "^(web?$"  # unbalanced group
    conf["value"] = json.dumps(rules)
    broken = json.dumps(doc)
    v = harness.validate(broken)
    assert v.returncode != 0
    log = v.stdout + v.stderr
    assert "configuration refused" in log, log[-3000:]
    assert 'rule "web"' in log, log[-3000:]


def test_committed_bootstraps_equal_the_generator_output(cli_path):
    r = subprocess.run(
        ["scripts/gen-envoy-configs.sh", "--check"],
        cwd=harness.REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "IIS_REWRITE_CLI": cli_path},
        timeout=120,
    )
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("name", ["demo", "jellyfin-basic", "jellyfin-advanced", "websocket"])
def test_committed_bootstraps_validate(name, wasm_path):
    v = harness.validate(os.path.join(harness.REPO, "envoy", f"{name}.yaml"))
    assert v.returncode == 0, v.stdout + v.stderr


def test_demo_upstream_through_envoy_pages_and_websocket(make_envoy):
    """scripts/demo_upstream.py behind the demo rules (free ports instead of the demo's fixed
    ones): the rewritten page and the WebSocket echo through Envoy."""
    import sys
    import time

    from websockets.sync.client import connect

    port = harness.free_port()
    up = subprocess.Popen([sys.executable, "scripts/demo_upstream.py", "--port", str(port)], cwd=harness.REPO)
    try:
        text = harness.generate_bootstrap(
            "testdata/jellyfin-basic-inbound.json",
            0,
            f"127.0.0.1:{port}",
            ["--resolve", f"localhost:8096=127.0.0.1:{port}"],
        )
        e = make_envoy(text)
        for _ in range(50):
            try:
                r = harness.request("GET", e.url("/web/"), headers={"Accept": "application/json"})
                if r.status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert r.status == 200
        seen = r.json()
        assert seen["path"] == "/web/index.html"
        assert ["x-forwarded-proto", "http"] in [[k.lower(), v] for k, v in seen["headers"]]
        with connect(f"ws://127.0.0.1:{e.port}/socket", open_timeout=5) as ws:
            ws.send("through envoy")
            assert ws.recv(timeout=5) == "through envoy"
    finally:
        up.terminate()
        up.wait(5)
