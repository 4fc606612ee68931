"""The Envoy 1.40 / proxy-wasm facts the filter and the generated bootstrap rely on
(docs/architecture.md, "Envoy behaviour the filter relies on"), each checked against the real
Envoy."""

import json

import pytest
import yaml

import harness

# A minimal proxy-wasm (ABI 0.2.1) module whose request-headers callback traps: the VM fails at
# request time, after a successful configuration, as a panicking filter would.
TRAP_WAT = r"""
(module
  (memory (export "memory") 2)
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
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) unreachable)
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32))
)
"""


@pytest.fixture(scope="module")
def trap_wasm(tmp_path_factory):
    import wasmtime

    path = tmp_path_factory.mktemp("trap") / "trap.wasm"
    path.write_bytes(wasmtime.wat2wasm(TRAP_WAT))
    return str(path)


def _wasm_config(doc):
    hcm = doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    return hcm, hcm["http_filters"][0]["typed_config"]["config"]


def _write(tmp_path, config):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(config))
    return str(p)


@pytest.mark.parametrize("policy", ["FAIL_CLOSED", None])
def test_failed_vm_fails_closed(policy, trap_wasm, make_envoy, upstream):
    """Under FAIL_CLOSED a VM that traps gives 503 (wasm_fail_stream) on that request and every
    later one, and nothing reaches the upstream. Without the field (UNSPECIFIED) Envoy 1.40
    behaves the same (contract item 6). The generated bootstrap sets FAIL_RELOAD instead
    (tests/e2e/test_security_paths.py)."""
    text = harness.generate_bootstrap("testdata/jellyfin-basic-inbound.json", 0, upstream.address, wasm=trap_wasm)
    doc = yaml.safe_load(text)
    _, cfg = _wasm_config(doc)
    assert cfg["failure_policy"] == "FAIL_RELOAD"
    del cfg["reload_config"]
    if policy is None:
        del cfg["failure_policy"]
    else:
        cfg["failure_policy"] = policy
    e = make_envoy(json.dumps(doc))
    for _ in range(3):
        assert harness.request("GET", e.url("/web/")).status == 503
    assert upstream.requests == []
    log = e.wait_log("wasm_fail_stream")
    assert "wasm_fail_stream" in log
    assert "unreachable" in log


def test_fail_open_would_skip_the_rules(trap_wasm, make_envoy, upstream):
    """Why FAIL_CLOSED: with FAIL_OPEN the same failure lets requests through unrewritten."""
    text = harness.generate_bootstrap("testdata/jellyfin-basic-inbound.json", 0, upstream.address, wasm=trap_wasm)
    doc = yaml.safe_load(text)
    _wasm_config(doc)[1]["failure_policy"] = "FAIL_OPEN"
    e = make_envoy(json.dumps(doc))
    harness.request("GET", e.url("/web/"))  # the trapping request itself
    r = harness.request("GET", e.url("/web/"))
    assert r.status == 200
    assert upstream.last.path == "/web/"  # not rewritten to /web/index.html


def test_invalid_configuration_stops_envoy_with_a_located_error(make_envoy, tmp_path):
    """on_configure returns false: Envoy refuses the static bootstrap and the log names the rule
    and the attribute (the CLI would refuse it first; this is hand-edited JSON)."""
    text = harness.generate_bootstrap("testdata/jellyfin-basic-inbound.json", 0)
    doc = yaml.safe_load(text)
    _, cfg = _wasm_config(doc)
    rules = json.loads(cfg["configuration"]["value"])
    rules["rules"][4]["match"]["url"] = "^web/$("
    cfg["configuration"]["value"] = json.dumps(rules)
    with pytest.raises(harness.EnvoyFailed) as err:
        make_envoy(json.dumps(doc))
    log = err.value.log
    assert "configuration refused" in log
    assert 'rule "web"' in log and "url" in log
    assert err.value.returncode not in (None, 0)


def test_path_rewrite_reselects_the_route(make_envoy, make_upstream, tmp_path):
    """Contract item 1: a relative Rewrite changes :path and Envoy re-selects the route (route
    cache cleared for ABI 0.2.1): a route for /special/ added to the bootstrap receives it."""
    default, special = make_upstream(name="default"), make_upstream(name="special")
    cfg = {"rules": [{"name": "s", "match": {"url": "^x/(.*)"}, "action": {"type": "Rewrite", "url": "special/{R:1}"}}]}
    text = harness.generate_bootstrap(_write(tmp_path, cfg), 0, default.address)
    doc = yaml.safe_load(text)
    hcm, _ = _wasm_config(doc)
    routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
    routes.insert(1, {"match": {"prefix": "/special/"}, "route": {"cluster": "special"}})
    doc["static_resources"]["clusters"].append(
        {
            "name": "special",
            "type": "STATIC",
            "load_assignment": {
                "cluster_name": "special",
                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": special.port}}}}]}],
            },
        }
    )
    e = make_envoy(json.dumps(doc))
    assert harness.request("GET", e.url("/x/page")).status == 200
    assert special.last.path == "/special/page"
    assert default.requests == []
    assert harness.request("GET", e.url("/y")).status == 200
    assert default.last.path == "/y"


def test_request_facts_reach_the_response_phase(envoy_for, upstream, tmp_path):
    """Contract item 3: request headers are not readable once the response runs; the filter
    keeps what outbound rules need ({HTTP_USER_AGENT}, {REQUEST_URI}) from the request phase."""
    cfg = {
        "rules": [],
        "outboundRules": {
            "rules": [
                {
                    "name": "ua",
                    "match": {"serverVariable": "RESPONSE_X_Seen", "pattern": ".*"},
                    "action": {"type": "Rewrite", "value": "{HTTP_USER_AGENT} {REQUEST_URI}"},
                }
            ]
        },
    }
    e = envoy_for(_write(tmp_path, cfg), upstream.address)
    r = harness.request("GET", e.url("/p?q=1"), headers={"User-Agent": "probe/1"})
    assert r.status == 200
    assert r.header("x-seen") == "probe/1 /p?q=1"


def test_filter_metrics_are_envoy_stats(envoy_for, upstream):
    """Contract item 8: counters the filter defines appear as wasmcustom.* stats, and in the
    Prometheus output without the namespace and without an `envoy_` prefix."""
    e = envoy_for("testdata/webconfigs/jellyfin-basic.config", upstream.address)
    harness.request("GET", e.url("/"))
    stats = e.flushed_stats()
    assert stats["wasmcustom.iis_rewrite.default.action.redirect"] == 1
    assert stats["wasmcustom.iis_rewrite.default.rule.Redirect.hits"] == 1
    assert stats["wasmcustom.iis_rewrite.default.rule.Proxy.hits"] == 0
    prom = harness.request("GET", e.admin_url("/stats/prometheus")).body.decode()
    # the generated bootstrap's stats_tags turn set/rule/action into labels (deploy)
    assert '\niis_rewrite_action{iis_rule_set="default",iis_action="redirect"} 1\n' in prom
    assert '\niis_rewrite_rule_hits{iis_rule_set="default",iis_rule="Redirect"} 1\n' in prom
    # clusters get a dot-free stat name, so their names survive Envoy's tag extraction
    assert 'envoy_cluster_name="iis|http|localhost|8096"' in prom
    assert f'envoy_cluster_name="iis|http|127_0_0_1|{upstream.port}"' in prom
