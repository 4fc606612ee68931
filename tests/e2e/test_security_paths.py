"""Regressions found by attacking the generated deployment from outside, each against real Envoy
with a file server that decodes paths behind it (docs/security.md):

* an encoded slash or backslash must not carry a request past an anchored block rule: the rules,
  the router and the upstream see one path;
* a `--bypass` prefix cannot be climbed out of with an encoded dot segment;
* a configuration whose server variables multiply the request is refused per request (431,
  counted) without failing the VM; a VM that fails anyway gets a defined status, and the next
  requests are served again (FAIL_RELOAD), with the failure visible in Envoy's counters;
* a configuration that `iis-rewrite check` refuses is refused by the filter too.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

import harness

SECRET = b"TOPSECRET-grav-config"

# Grav's own protection rule, as its web.config ships it in spirit: nothing under system/ or
# vendor/ is served.
BLOCK_RULE = """
  <rule name="block-internal" stopProcessing="true">
    <match url="^(system|vendor)/.*" />
    <action type="CustomResponse" statusCode="403" statusReason="Forbidden" statusDescription="blocked" />
  </rule>"""
BLOCK_RULES = f"""<configuration><system.webServer><rewrite><rules>{BLOCK_RULE}
</rules></rewrite></system.webServer></configuration>
"""


def docroot(base):
    """A site root: a secret under system/ and vendor/, public files under static/ and web/."""
    for d in ("system/config", "vendor/lib", "static", "web"):
        (base / d).mkdir(parents=True, exist_ok=True)
    (base / "system/config/secret.txt").write_bytes(SECRET)
    (base / "vendor/lib/secret.txt").write_bytes(SECRET)
    (base / "static/app.css").write_bytes(b"body{}")
    (base / "web/index.html").write_bytes(b"<html>index</html>")
    return base


@pytest.fixture(scope="module")
def site(tmp_path_factory, wasm_path, cli_path, envoy_bin):
    """Envoy with the block rule and `--bypass /static`, the decoding file server behind it."""
    base = tmp_path_factory.mktemp("grav")
    root = docroot(base / "root")
    rules = base / "web.config"
    rules.write_text(BLOCK_RULES)
    with harness.FileServer(root) as files:
        text = harness.generate_bootstrap(rules, 0, files.address, ["--bypass", "/static"])
        with harness.Envoy(text) as envoy:
            yield envoy, files


def assert_not_served(r, path):
    assert SECRET not in r.body, f"{path!r} served the blocked file (status {r.status})"
    assert r.status != 200, f"{path!r}: {r.status}"


ENCODED_SLASH_PATHS = [
    b"/%2Fsystem/config/secret.txt",
    b"/%2F%2Fsystem/config/secret.txt",
    b"/a/..%2F/system/config/secret.txt",
    b"/%2fvendor/lib/secret.txt",
    b"/%5Csystem/config/secret.txt",
    b"/a/..%5C/system/config/secret.txt",
]


@pytest.mark.parametrize("path", ENCODED_SLASH_PATHS, ids=lambda p: p.decode())
def test_encoded_separator_does_not_pass_an_anchored_block_rule(site, path):
    envoy, _ = site
    r = harness.raw_request(envoy.port, path)
    assert_not_served(r, path)
    assert r.status == 403  # the rule matched: it saw the path the upstream would have seen


@pytest.mark.parametrize(
    "path",
    [b"/static/..%2fsystem/config/secret.txt", b"/static/..%2Fsystem/config/secret.txt",
     b"/static%2F..%2Fsystem/config/secret.txt", b"/static/..%5csystem/config/secret.txt"],
    ids=lambda p: p.decode(),
)
def test_bypass_prefix_cannot_be_climbed_out_of(site, path):
    envoy, files = site
    r = harness.raw_request(envoy.port, path)
    assert_not_served(r, path)
    assert r.status == 403


@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize(
    "path",
    [b"/web%2Findex.html", b"/web%5Cindex.html", b"/web\\index.html", b"/a/%2e%2e/web/index.html",
     b"/web//./index.html"],
    ids=lambda p: p.decode(),
)
def test_upstream_gets_the_path_the_rules_saw(site, proto, path):
    """Envoy decodes %2F and %5C, turns a backslash into '/', resolves dot segments and merges
    slashes before the filter runs: the upstream receives that one canonical path."""
    envoy, files = site
    send = harness.raw_request if proto == "h1" else harness.h2_request
    before = len(files.paths)
    r = send(envoy.port, path)
    assert r.status == 200 and b"index" in r.body
    assert files.paths[before:] == ["/web/index.html"]


# ---------------------------------------------------------------------------------------------
# VM failure: one request that makes the module fail must not take the worker down for good.


def amplifying_rules() -> str:
    """Five chained server variables, each nine copies of the previous: a 10 KB capture asks
    for about 500 MB inside the VM."""
    sets, prev = [], "{R:1}"
    for name in "ABCDE":
        sets.append(f'<set name="HTTP_X_AMP_{name}" value="{prev * 9}" />')
        prev = "{HTTP_X_AMP_%s}" % name
    return (
        "<configuration><system.webServer><rewrite><rules>"
        '<rule name="amplify"><match url="^amp/(.*)" />'
        f"<serverVariables>{''.join(sets)}</serverVariables>"
        '<action type="None" /></rule>'
        "</rules></rewrite></system.webServer></configuration>"
    )


def wasm_stats(envoy) -> dict:
    return {k: v for k, v in envoy.stats().items() if k.startswith("wasm.")}


def test_an_amplifying_configuration_is_refused_without_failing_the_vm(
        tmp_path, make_envoy, upstream, cli_path):
    """The configuration that used to fail the VM (one 10 KB request asked the module for about
    500 MB): `check` warns at each <set>, the filter refuses the request with 431 and counts it,
    the VM never fails, and the next requests are served by the same VM."""
    rules = tmp_path / "web.config"
    rules.write_text(amplifying_rules())
    checked = subprocess.run([cli_path, "check", str(rules)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    warned = [line for line in checked.stderr.splitlines() if "repeat the request's input" in line]
    assert len(warned) == 5 and "up to 9 times" in warned[0], checked.stderr
    assert "web.config:1:" in warned[0], "the warning names the <set>'s position"

    e = make_envoy(harness.generate_bootstrap(rules, 0, upstream.address))
    upstream.clear()
    assert harness.request("GET", e.url("/amp/x")).status == 200
    assert upstream.wait_for(1)[-1].header("x-amp-c") == "x" * 9 ** 3
    upstream.clear()
    for size in (10_000, 1_000, 100):
        refused = harness.request("GET", e.url("/amp/" + "a" * size), timeout=30)
        assert refused.status == 431, (size, refused.status)
        assert b"bytes from this request" in refused.body, refused.body
    assert upstream.requests == [], "a refused request never reaches the upstream"
    assert [harness.request("GET", e.url(f"/after/{i}")).status for i in range(5)] == [200] * 5
    stats = e.flushed_stats()
    assert int(stats["wasmcustom.iis_rewrite.default.action.expansion_limit"]) == 3
    # The VM never failed: nothing was rebuilt, and Envoy logged no trap.
    assert wasm_stats(e).get("wasm.iis-rewrite.vm_reload_success", 0) == 0
    assert wasm_stats(e).get("wasm.iis-rewrite.vm_reload_backoff", 0) == 0
    assert "Uncaught RuntimeError" not in e.log_text()
    assert "memory allocation" not in e.log_text()


# A proxy-wasm (ABI 0.2.1) module that traps only on requests carrying `x-trap`: a VM failure
# on purpose that does not depend on the filter's own limits.
TRAP_ON_HEADER_WAT = r"""
(module
  (import "env" "proxy_get_header_map_value"
    (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 4)
  (data (i32.const 16) "x-trap")
  (global $heap (mut i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap)
      (i32.and (i32.add (local.get $n) (i32.const 15)) (i32.const -16))))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (if (i32.eqz (call $get_header (i32.const 0) (i32.const 16) (i32.const 6)
                                   (i32.const 64) (i32.const 68)))
      (then unreachable))
    (i32.const 0))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32))
)
"""


def test_a_trapping_vm_is_rebuilt_for_the_next_requests(tmp_path, make_envoy, upstream):
    """The generated bootstrap's FAIL_RELOAD with a module that traps on demand: the trapping
    request gets 503 and does not reach the upstream, later ones are served by a new VM."""
    import wasmtime

    module = tmp_path / "trap-on-header.wasm"
    module.write_bytes(wasmtime.wat2wasm(TRAP_ON_HEADER_WAT))
    e = make_envoy(harness.generate_bootstrap("testdata/jellyfin-basic-inbound.json", 0,
                                              upstream.address, wasm=str(module)))
    assert harness.request("GET", e.url("/ok")).status == 200
    for round_ in range(2):  # a second failure is recovered from too
        upstream.clear()
        assert harness.request("GET", e.url("/trap"), {"x-trap": "1"}).status == 503
        assert upstream.requests == []
        harness.wait_for(lambda: harness.request("GET", e.url("/ok")).status == 200, timeout=12,
                         interval=0.2, what="a request served by a rebuilt VM")
        assert wasm_stats(e).get("wasm.iis-rewrite.vm_reload_success", 0) >= round_ + 1
    assert "Uncaught RuntimeError: unreachable" in e.wait_log("Uncaught RuntimeError")


# ---------------------------------------------------------------------------------------------
# JSON that `check` refuses must be refused by the filter too.


@pytest.mark.parametrize(
    "text",
    ['{"rules": [], "rules": []}', "[]"],
    ids=["duplicate-key", "top-level-array"],
)
def test_json_refused_by_check_is_refused_by_the_filter(text, tmp_path, make_envoy, cli_path):
    path = tmp_path / "c.json"
    path.write_text(text)
    checked = subprocess.run([cli_path, "check", str(path)], capture_output=True, text=True)
    assert checked.returncode != 0, checked.stdout
    doc = yaml.safe_load(harness.generate_bootstrap("testdata/jellyfin-basic-inbound.json", 0))
    hcm = doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["http_filters"][0]["typed_config"]["config"]["configuration"]["value"] = text
    with pytest.raises(harness.EnvoyFailed) as err:
        make_envoy(json.dumps(doc))
    assert "configuration refused" in err.value.log
