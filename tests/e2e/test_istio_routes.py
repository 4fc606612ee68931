"""Proxy rules under Istio: `iis-rewrite istio --route-host` writes a VirtualService whose routes
match the filter's upstream header, and ServiceEntries for the upstreams. No mesh runs here, so
this test proves the mechanism in real Envoy: the VirtualService is translated the way istiod
translates one for a gateway (one virtual host for the route host; a header matcher per route;
the cluster `outbound|PORT||HOST`; `rewrite.authority` as `host_rewrite_literal`;
`headers.request.remove` as `request_headers_to_remove`), the filter gets the WasmPlugin's
pluginConfig as JSON in a StringValue as istio-agent delivers it, and the clusters stand for the
ServiceEntries' endpoints on loopback. What needs a real cluster to verify: istiod's own output
for these manifests, DNS resolution of the ServiceEntry hosts, and TLS origination by the
DestinationRule for https upstreams.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

import harness

pytestmark = pytest.mark.timeout(120)

RULES = """<configuration><system.webServer><rewrite><rules>
  <rule name="legacy" stopProcessing="true">
    <match url="^legacy/(.*)" />
    <action type="Rewrite" url="http://legacy.test:8001/{R:1}" />
  </rule>
  <rule name="reports" stopProcessing="true">
    <match url="^reports/(.*)" />
    <action type="Rewrite" url="http://reports.test/{R:1}" />
  </rule>
  <rule name="old page" stopProcessing="true">
    <match url="^old$" />
    <action type="Redirect" url="/new" />
  </rule>
</rules></rewrite></system.webServer></configuration>
"""


def _generate(cli_path, config):
    r = subprocess.run(
        [cli_path, "istio", str(config), "--image", "oci://registry.example/iis-rewrite:1",
         "--selector", "istio=ingressgateway", "--mode", "CLIENT", "--port", "8080",
         "--route-host", "site.test", "--gateway", "site-gateway",
         "--default-destination", "app.web.svc.cluster.local:8080"],
        capture_output=True, text=True, timeout=60, cwd=harness.REPO)
    assert r.returncode == 0, r.stderr
    return list(yaml.safe_load_all(r.stdout))


def _as_istiod_routes(vs):
    """Envoy routes for the VirtualService's http routes, in order, as istiod writes them."""
    routes = []
    for http in vs["spec"]["http"]:
        match = {"prefix": "/"}
        for m in http.get("match", []):
            match["headers"] = [{"name": name, "string_match": {"exact": cond["exact"]}}
                                for name, cond in m["headers"].items()]
        dest = http["route"][0]["destination"]
        action = {"cluster": f"outbound|{dest['port']['number']}||{dest['host']}"}
        if "rewrite" in http:
            action["host_rewrite_literal"] = http["rewrite"]["authority"]
        route = {"name": http["name"], "match": match, "route": action}
        removed = http.get("headers", {}).get("request", {}).get("remove")
        if removed:
            route["request_headers_to_remove"] = removed
        routes.append(route)
    return routes


def _cluster(name, port):
    return {"name": name, "type": "STATIC", "connect_timeout": "2s",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}}


def test_virtual_service_routes_proxy_rules_in_envoy(tmp_path, cli_path, wasm_path, make_upstream, make_envoy):
    config = tmp_path / "web.config"
    config.write_text(RULES)
    docs = _generate(cli_path, config)
    kinds = [d["kind"] for d in docs]
    assert kinds == ["WasmPlugin", "EnvoyFilter", "VirtualService", "ServiceEntry", "ServiceEntry"], kinds
    plugin, path_policy, vs, *entries = docs
    # The filter leaves the Host to the route under Istio.
    assert plugin["spec"]["pluginConfig"]["proxy"]["preserveHostHeader"] is True
    assert vs["spec"]["hosts"] == ["site.test"] and vs["spec"]["gateways"] == ["site-gateway"]
    assert {e["spec"]["hosts"][0]: e["spec"]["ports"][0]["number"] for e in entries} == {
        "legacy.test": 8001, "reports.test": 80}

    def named(name):
        def responder(req):
            body = json.dumps({"backend": name, "path": req.path, "host": req.header("Host"),
                               "routing_header": req.header("x-iis-rewrite-upstream")}).encode()
            return 200, [("Content-Type", "application/json")], body
        return responder

    ups = {n: make_upstream(named(n), name=n) for n in ("legacy", "reports", "app")}
    hcm_options = path_policy["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]
    bootstrap = {
        "static_resources": {
            "listeners": [{
                "name": "gateway",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        **hcm_options,
                        "stat_prefix": "gateway",
                        "route_config": {"virtual_hosts": [{
                            "name": "site.test:8080", "domains": ["site.test", "site.test:*"],
                            "routes": _as_istiod_routes(vs)}]},
                        "http_filters": [
                            {"name": "istio-system.iis-rewrite", "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                                "config": {
                                    "name": "istio-system.iis-rewrite", "root_id": "",
                                    "failure_policy": "FAIL_RELOAD",
                                    "configuration": {
                                        "@type": "type.googleapis.com/google.protobuf.StringValue",
                                        "value": json.dumps(plugin["spec"]["pluginConfig"])},
                                    "vm_config": {"runtime": "envoy.wasm.runtime.v8",
                                                  "code": {"local": {"filename": wasm_path}}}}}},
                            {"name": "envoy.filters.http.router", "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
                        ]}}]}],
            }],
            "clusters": [
                _cluster("outbound|8001||legacy.test", ups["legacy"].port),
                _cluster("outbound|80||reports.test", ups["reports"].port),
                _cluster("outbound|8080||app.web.svc.cluster.local", ups["app"].port),
            ],
        },
    }
    env = make_envoy(json.dumps(bootstrap))
    host = {"Host": "site.test"}

    r = harness.request("GET", env.url("/legacy/a/b?c=1"), headers=host)
    assert r.status == 200, r
    assert r.json() == {"backend": "legacy", "path": "/a/b?c=1", "host": "legacy.test:8001",
                        "routing_header": None}
    r = harness.request("GET", env.url("/reports/q"), headers=host)
    assert r.json() == {"backend": "reports", "path": "/q", "host": "reports.test",
                        "routing_header": None}
    # No proxy rule: the default route, with the client's Host.
    r = harness.request("GET", env.url("/page"), headers=host)
    assert r.json() == {"backend": "app", "path": "/page", "host": "site.test", "routing_header": None}
    # The filter's other decisions are unchanged.
    r = harness.request("GET", env.url("/old"), headers=host)
    assert r.status == 301 or r.status == 302, r
    # A client cannot pick an upstream: the filter removes the header before routing.
    r = harness.request("GET", env.url("/page"), headers={
        **host, "x-iis-rewrite-upstream": "iis|http|legacy.test|8001"})
    assert r.json()["backend"] == "app", r
    assert len(ups["legacy"].requests) == 1
