"""Per-route rule sets in real Envoy: two applications with their own web.config behind one
listener (`iis-rewrite envoy --site HOST=FILE`), each request handled by its own rule set
(selected by route metadata), the catch-all site for other hosts, and a bypass route on which
the filter does not run at all. Also: envoy/per-route.yaml is exactly the generator's output.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from deploy_support import (
    CLI, REPO, WASM, Envoy, Upstream, build, cli, envoy_binary, header, request,
)

MEDIA = "testdata/webconfigs/jellyfin-basic.config"   # proxies to localhost:8096
SHOP = "testdata/webconfigs/redirect-map.config"      # proxies to 127.0.0.1:5000
DEFAULT = "envoy/sites/default.config"                # 404 for unknown hosts


@pytest.fixture(scope="module", autouse=True)
def _built():
    build()


def test_per_route_example_is_the_generator_output(tmp_path):
    env = {"IIS_REWRITE_CLI": str(CLI), "PATH": "/usr/bin:/bin"}
    subprocess.run([str(REPO / "scripts/gen-envoy-configs.sh"), "--out", str(tmp_path)], cwd=REPO,
                   env=env, check=True, capture_output=True)
    assert (tmp_path / "envoy/per-route.yaml").read_text() == (REPO / "envoy/per-route.yaml").read_text(), (
        "envoy/per-route.yaml is stale: run scripts/gen-envoy-configs.sh")


def test_per_route_example_validates_in_envoy(tmp_path):
    text = (REPO / "envoy/per-route.yaml").read_text().replace(
        "/etc/envoy/iis_rewrite_filter.wasm", str(WASM))
    (tmp_path / "per-route.yaml").write_text(text)
    proc = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(tmp_path / "per-route.yaml"),
                           "-l", "warning", "--use-dynamic-base-id"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_per_route_example_embeds_each_import_as_a_rule_set():
    doc = yaml.safe_load((REPO / "envoy/per-route.yaml").read_text())
    hcm = doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    wasm = next(f for f in hcm["http_filters"] if f["name"] == "iis.rewrite")
    plugin = json.loads(wasm["typed_config"]["config"]["configuration"]["value"])
    assert plugin["defaultRuleSet"] == "default"
    for name, path in (("default", DEFAULT), ("media.example", MEDIA), ("shop.example", SHOP)):
        assert plugin["ruleSets"][name] == json.loads(cli("import", path).stdout), name
    vhosts = {v["name"]: v for v in hcm["route_config"]["virtual_hosts"]}
    assert set(vhosts) == {"site-media.example", "site-shop.example", "default"}
    for name, vh in vhosts.items():
        for route in vh["routes"]:
            if "typed_per_filter_config" in route:
                assert route["typed_per_filter_config"]["iis.rewrite"]["disabled"] is True
                assert "metadata" not in route
            else:
                expected = name.removeprefix("site-")
                assert route["metadata"]["filter_metadata"]["iis.rewrite"]["ruleSet"] == expected


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """Envoy from `iis-rewrite envoy --site …` with the sites' upstream hosts resolved to local
    servers (the rules keep naming localhost:8096 and 127.0.0.1:5000)."""
    build()
    with Upstream("media") as media, Upstream("shop") as shop:
        out = cli("envoy", DEFAULT,
                  "--site", f"media.example={MEDIA}", "--site", f"shop.example={SHOP}",
                  "--site-upstream", "media.example=localhost:8096",
                  "--site-upstream", "shop.example=127.0.0.1:5000",
                  "--bypass", "/healthz",
                  "--resolve", f"localhost:8096=127.0.0.1:{media.port}",
                  "--resolve", f"127.0.0.1:5000=127.0.0.1:{shop.port}",
                  "--wasm", str(WASM), "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0").stdout
        with Envoy(out) as envoy:
            yield envoy, envoy.ports["http"], media, shop


def get(port, host, path, headers=None):
    return request("GET", f"http://127.0.0.1:{port}{path}", {"Host": host, **(headers or {})})


def test_each_site_runs_its_own_rules(deployment):
    envoy, port, media, shop = deployment
    # media.example: Jellyfin's rules.
    status, hdrs, _ = get(port, "media.example", "/")
    assert status == 302 and header(hdrs, "location") == "/web/"
    status, _, body = get(port, "media.example", "/web/")
    seen = json.loads(body)
    assert status == 200 and seen["upstream"] == "media" and seen["path"] == "/web/index.html"
    assert seen["headers"]["x-forwarded-host"] == "media.example"
    # shop.example: the migration rules.
    status, hdrs, _ = get(port, "shop.example", "/about-us.aspx")
    assert status == 301 and header(hdrs, "location") == "/about"
    status, _, body = get(port, "shop.example", "/products/widget")
    seen = json.loads(body)
    assert status == 200 and seen["upstream"] == "shop" and seen["path"] == "/products/widget"


def test_a_site_does_not_see_the_other_sites_rules(deployment):
    envoy, port, media, shop = deployment
    # Jellyfin's "/" -> /web/ redirect does not exist on shop.example.
    status, _, body = get(port, "shop.example", "/")
    seen = json.loads(body)
    assert status == 200 and seen["upstream"] == "shop" and seen["path"] == "/"
    # The legacy map does not exist on media.example: proxied to Jellyfin as it is.
    status, _, body = get(port, "media.example", "/about-us.aspx")
    seen = json.loads(body)
    assert status == 200 and seen["upstream"] == "media" and seen["path"] == "/about-us.aspx"
    # With the port in Host, the same virtual host.
    status, hdrs, _ = get(port, f"media.example:{port}", "/")
    assert status == 302 and header(hdrs, "location") == "/web/"


def test_other_hosts_get_the_default_site(deployment):
    envoy, port, media, shop = deployment
    before = len(media.requests) + len(shop.requests)
    status, _, body = get(port, "unknown.example", "/web/")
    assert status == 404 and b"No site is configured" in body
    assert len(media.requests) + len(shop.requests) == before


def test_bypass_route_is_untouched_by_the_filter(deployment):
    envoy, port, media, shop = deployment
    name = "wasmcustom.iis_rewrite.media_example.rule.Proxy.hits"
    hits = envoy.flushed_stats().get(name, 0)
    status, _, body = get(port, "media.example", "/healthz", {"x-iis-rewrite-upstream": "iis|http|127.0.0.1|5000"})
    seen = json.loads(body)
    # Straight to the site's default upstream, no rule ran (no X-Forwarded-Host, no X-Real-IP,
    # no Proxy rule hit), and a client-sent routing header neither routed nor reached it.
    assert status == 200 and seen["upstream"] == "media" and seen["path"] == "/healthz"
    assert "x-forwarded-host" not in seen["headers"] and "x-real-ip" not in seen["headers"]
    assert "x-iis-rewrite-upstream" not in seen["headers"]
    assert envoy.flushed_stats().get(name, 0) == hits
    # /healthzx is not the bypass prefix: the rules run.
    status, _, body = get(port, "media.example", "/healthzx")
    seen = json.loads(body)
    assert seen["headers"]["x-forwarded-host"] == "media.example"
    assert envoy.flushed_stats().get(name, 0) == hits + 1


def test_rule_set_counters_are_per_site(deployment):
    envoy, port, media, shop = deployment
    names = ["media_example.rule.Redirect.hits", "media_example.action.redirect",
             "shop_example.rule.Legacy_redirects.hits", "shop_example.action.redirect",
             "default.rule.Unknown_host.hits", "default.action.custom_response"]
    stats = envoy.flushed_stats()
    before = {n: stats.get(f"wasmcustom.iis_rewrite.{n}", 0) for n in names}
    get(port, "media.example", "/")
    get(port, "shop.example", "/contact.aspx")
    get(port, "shop.example", "/contact.aspx")
    get(port, "nowhere.example", "/")
    stats = envoy.flushed_stats()
    after = {n: stats.get(f"wasmcustom.iis_rewrite.{n}", 0) for n in names}
    assert {n: after[n] - before[n] for n in names} == {
        "media_example.rule.Redirect.hits": 1, "media_example.action.redirect": 1,
        "shop_example.rule.Legacy_redirects.hits": 2, "shop_example.action.redirect": 2,
        "default.rule.Unknown_host.hits": 1, "default.action.custom_response": 1,
    }


def test_site_options_are_checked():
    p = cli("envoy", DEFAULT, "--site", "media.example", "--wasm", "x", "--listen", "127.0.0.1:0", check=False)
    assert p.returncode == 2 and "HOST=FILE" in p.stderr
    p = cli("envoy", DEFAULT, "--site", f"a.example={MEDIA}", "--site", f"a.example={SHOP}",
            "--wasm", "x", "--listen", "127.0.0.1:0", check=False)
    assert p.returncode == 2 and "given twice" in p.stderr
    p = cli("envoy", DEFAULT, "--site-upstream", "b.example=127.0.0.1:1", "--wasm", "x",
            "--listen", "127.0.0.1:0", check=False)
    assert p.returncode == 2 and "no --site" in p.stderr
    p = cli("envoy", DEFAULT, "--bypass", "healthz", "--wasm", "x", "--listen", "127.0.0.1:0", check=False)
    assert p.returncode == 2 and "--bypass" in p.stderr
    # A broken site file: located error, nothing written.
    p = cli("envoy", DEFAULT, "--site", "a.example=testdata/broken/invalid-regex.config",
            "--wasm", "x", "--listen", "127.0.0.1:0", check=False)
    assert p.returncode == 1 and "invalid-regex.config:" in p.stderr and p.stdout == ""
