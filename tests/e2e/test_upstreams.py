"""Proxy targets as IIS allows them, on real Envoy with bootstraps from `iis-rewrite envoy`:
configSource files named the way IIS reads them, static upstream closure, and the path Envoy
hands the filter compared with what `iis-rewrite explain` reports."""

from __future__ import annotations

import pytest

import harness

pytestmark = pytest.mark.timeout(120)


def test_backslash_config_source_rules_run_in_envoy(upstream, envoy_for):
    """`<rules configSource="web_config\\rewrite.config"/>`: the rules in the subfolder run."""
    env = envoy_for("testdata/baota-site/web.config", default_upstream=upstream.address)
    r = harness.request("GET", env.url("/api/user/7?x=1"))
    assert r.status == 200, r
    assert upstream.last.path == "/index.php?s=user/7&x=1"
    r = harness.request("GET", env.url("/blog/12.html"))
    assert r.status == 301, r
    assert r.header("Location").endswith("/posts/12")


# --------------------------------------------------------------------------------------------
# `explain` sees the path Envoy hands the filter

PATH_PROBE = """<configuration><system.webServer><rewrite>
  <allowedServerVariables>
    <add name="HTTP_X_SEEN_URL" />
    <add name="HTTP_X_SEEN_RAW" />
  </allowedServerVariables>
  <rules>
    <rule name="block" stopProcessing="true">
      <match url="^(system|admin)(/|$)" ignoreCase="false" />
      <action type="CustomResponse" statusCode="403" statusReason="Forbidden" statusDescription="blocked" />
    </rule>
    <rule name="show">
      <match url="(.*)" />
      <serverVariables>
        <set name="HTTP_X_SEEN_URL" value="{R:1}" />
        <set name="HTTP_X_SEEN_RAW" value="{UNENCODED_URL}" />
      </serverVariables>
      <action type="None" />
    </rule>
  </rules>
</rewrite></system.webServer></configuration>
"""

# Paths a client can send that a normaliser may read differently: encoded and raw separators,
# dot segments in every spelling, `;` after dots, merged slashes, escapes of unreserved and
# reserved characters, a stray `%`, non-ASCII text, and a query that must be left alone.
ODD_PATHS = [
    "/plain/file.txt",
    "/a/../b",
    "/a/./b",
    "/a/b/..",
    "/a/.",
    "/../../etc/passwd",
    "/%2Fsystem/config",
    "/%2f%2fsystem/config",
    "//system/config",
    "/a/..%2F/system/config",
    "/a/%2e%2e/system/config",
    "/a/.%2e/system/config",
    "/a/%2E./system/config",
    "/.%2e/admin",
    "/a/%2e/b",
    "/a/%2e",
    "/%5Csystem/config",
    "/\\system\\config",
    "/a/..%5Csystem/config",
    "/static/..%2fsystem/config",
    "/static//..//system/config",
    "/a/b%2F..%2F..%2Fadmin",
    "/..%2f..%2fadmin",
    "/app/..;/admin/config",
    "/system;/config",
    "/a/..;/system/config",
    "/admin;x=1/config",
    "/%41dmin/config",
    "/%61dmin/config",
    "/%7euser/%2d%5f",
    "/a%20b",
    "/a%3Fb?q=1",
    "/a%3fb%2A%2a",
    "/100%25",
    "/100%",
    "/a%zzb",
    "/caf%C3%A9",
    "/caf\u00e9",
    "/a//b///c/",
    "/x?q=/../%2F&r=\\",
    "/a?x=%00",
    "/A/./B/../C?x=1",
    "/a!$&'()*+,;=:@b",
    "/a[b]c",
    "/%252Fsystem/config",
    "/a/b/..;x/c",
    "/a/b/.;.;/c",
    "/a;b/..;/admin",
    "/a/b/..;\\c/admin",
    "/a/b/.%2e;/c",
    "/a/b%5c..;/c",
    "/a/...;/b",
    "/a/b/..;%2f/c",
    "/a/b/..%2f;/c",
    "/a%2eb/.%2e./c",
    '/a"b<c>{d}|e^f`g',
    "/a%00b",
    "/a b",
    "/a\x7fb",
]


def _explain(cli, config, path):
    r = harness.subprocess.run(
        [cli, "explain", str(config), "--url", path, "--json"],
        cwd=harness.REPO, capture_output=True, text=True, timeout=30,
    )
    assert r.returncode == 0, r.stderr
    return harness.json.loads(r.stdout)


def _header(recorded, name):
    """A header as the bytes that arrived, read as UTF-8 (http.server reads them as Latin-1)."""
    value = recorded.header(name)
    return value.encode("latin-1").decode("utf-8") if value is not None else None


def _through_envoy(env, upstream, path):
    upstream.clear()
    raw = harness.raw_http(
        env.port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n"
    )
    status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else None
    return status, upstream.last


def test_explain_and_envoy_see_the_same_path(tmp_path, cli_path, upstream, envoy_for):
    config = tmp_path / "web.config"
    config.write_text(PATH_PROBE)
    env = envoy_for(config, default_upstream=upstream.address)
    differences = []
    for path in ODD_PATHS:
        explained = _explain(cli_path, config, path)
        outcome = explained["decision"]["outcome"]
        status, seen = _through_envoy(env, upstream, path)
        if outcome["kind"] == "continue":
            headers = {h["name"]: h["value"] for h in explained["decision"]["request_headers"]}
            want = (200, explained["path"], headers.get("x-seen-url"), headers.get("x-seen-raw"))
            got = (status,) + (
                (seen.path, _header(seen, "x-seen-url"), _header(seen, "x-seen-raw")) if seen else (None,) * 3
            )
        else:
            want = (outcome.get("status"), None)
            got = (status, seen.path if seen else None)
        if want != got:
            differences.append(f"{path!r}: explain {want} envoy {got}")
    assert not differences, "\n".join(differences)


# --------------------------------------------------------------------------------------------
# Static closure: every host known at load has its cluster


def _named(name):
    def responder(req):
        body = harness.json.dumps({"backend": name, "path": req.path}).encode()
        return 200, [("Content-Type", "application/json")], body

    return responder


def test_every_static_host_is_reached(tmp_path, make_upstream, envoy_for):
    legacy, orders, shop = (make_upstream(_named(n), name=n) for n in ("legacy", "orders", "shop"))
    config = tmp_path / "web.config"
    config.write_text(f"""<configuration><system.webServer><rewrite>
  <rewriteMaps>
    <rewriteMap name="AppHosts"><add key="orders" value="{orders.address}" /></rewriteMap>
    <rewriteMap name="SiteBackends"><add key="shop.test" value="{shop.address}" /></rewriteMap>
  </rewriteMaps>
  <rules>
    <rule name="literal host, then a variable" stopProcessing="true">
      <match url="^legacy/" />
      <action type="Rewrite" url="http://{legacy.address}{{REQUEST_URI}}" appendQueryString="false" />
    </rule>
    <rule name="tenant from the Host header" stopProcessing="true">
      <match url="^tenant/(.*)" />
      <action type="Rewrite" url="http://{{HTTP_HOST}}/{{R:1}}" />
    </rule>
    <rule name="map value through a condition" stopProcessing="true">
      <match url="^([^/]+)(/.*)?$" />
      <conditions><add input="{{AppHosts:{{R:1}}}}" pattern="(.+)" /></conditions>
      <action type="Rewrite" url="http://{{C:1}}{{R:2}}" />
    </rule>
    <rule name="map value in the URL" stopProcessing="true">
      <match url="(.*)" />
      <conditions><add input="{{SiteBackends:{{HTTP_HOST}}}}" pattern="." /></conditions>
      <action type="Rewrite" url="http://{{SiteBackends:{{HTTP_HOST}}}}/{{R:1}}" />
    </rule>
  </rules>
</rewrite></system.webServer></configuration>
""")
    env = envoy_for(config)
    r = harness.request("GET", env.url("/legacy/a?b=1"))
    assert (r.status, r.json()) == (200, {"backend": "legacy", "path": "/legacy/a?b=1"}), r
    r = harness.request("GET", env.url("/orders/42"))
    assert (r.status, r.json()) == (200, {"backend": "orders", "path": "/42"}), r
    r = harness.request("GET", env.url("/cart"), headers={"Host": "shop.test"})
    assert (r.status, r.json()) == (200, {"backend": "shop", "path": "/cart"}), r
    # A host only the request knows: refused with 502. One that happens to be a configured
    # upstream is reached, as the run-time check allows it.
    r = harness.request("GET", env.url("/tenant/x"), headers={"Host": "elsewhere.test"})
    assert r.status == 502, r
    r = harness.request("GET", env.url("/tenant/y"), headers={"Host": shop.address})
    assert (r.status, r.json()) == (200, {"backend": "shop", "path": "/y"}), r
    assert [q.path for q in legacy.requests + orders.requests] == ["/legacy/a?b=1", "/42"]


# --------------------------------------------------------------------------------------------
# Dynamic upstreams: Envoy's dynamic forward proxy behind the allow list

TENANT_RULES = """<configuration><system.webServer><rewrite><rules>
  <rule name="tenant host from the path" stopProcessing="true">
    <match url="^t/([^/]+)/(.*)" />
    <action type="Rewrite" url="http://{R:1}/{R:2}" />
  </rule>
</rules></rewrite></system.webServer></configuration>
"""


def _closed_port():
    """A loopback UDP/TCP port nothing listens on: a DNS server there refuses every query."""
    return harness.free_port()


def test_dynamic_upstreams_follow_the_allow_list(tmp_path, make_upstream, envoy_for):
    app = make_upstream(_named("app"), name="app")
    other = make_upstream(_named("other"), name="other")
    config = tmp_path / "web.config"
    config.write_text(TENANT_RULES)
    env = envoy_for(config, extra_args=[
        "--dynamic-upstream", f"localhost:{app.port}",
        "--dynamic-upstream", f"*.dyn.test:{app.port}",
        "--dns-resolver", f"127.0.0.1:{_closed_port()}",
    ])
    # A local DNS name on the list: resolved by the dynamic forward proxy, sent with its Host.
    r = harness.request("GET", env.url(f"/t/localhost:{app.port}/a/b?c=1"), headers={"Host": "front.test"})
    assert (r.status, r.json()) == (200, {"backend": "app", "path": "/a/b?c=1"}), r
    assert app.last.header("Host") == f"localhost:{app.port}"
    # Outside the list (another port, an address not listed): 502 from the filter, counted.
    for target in (f"localhost:{other.port}", f"127.0.0.1:{app.port}", f"dyn.test:{app.port}"):
        r = harness.request("GET", env.url(f"/t/{target}/x"))
        assert r.status == 502, (target, r)
    assert not other.requests
    # The filter adds its counts to Envoy's counters once a second.
    stats = env.flushed_stats()
    assert stats.get("wasmcustom.iis_rewrite.default.action.refuse") == 3, stats
    # On the list, but the name does not resolve: 503 with a body that says so.
    r = harness.request("GET", env.url(f"/t/missing.dyn.test:{app.port}/x"))
    assert r.status == 503, r
    assert r.body == b"iis-rewrite: the proxy target's host name could not be resolved\n", r.body


def test_a_client_cannot_route_to_the_dynamic_proxy(tmp_path, make_upstream, envoy_for):
    app = make_upstream(_named("app"), name="app")
    site = make_upstream(_named("site"), name="site")
    config = tmp_path / "web.config"
    config.write_text(TENANT_RULES)
    env = envoy_for(config, default_upstream=site.address, extra_args=[
        "--dynamic-upstream", f"localhost:{app.port}",
        "--bypass", "/static",
    ])
    for path in ("/page", "/static/x"):
        r = harness.request("GET", env.url(path), headers={
            "Host": f"localhost:{app.port}",
            "x-iis-rewrite-upstream": "iis-dynamic|http",
        })
        assert (r.status, r.json()["backend"]) == (200, "site"), (path, r)
    assert not app.requests


# --------------------------------------------------------------------------------------------
# Hot reload of upstreams: --ecds DIR also delivers the clusters (CDS from a watched file)

RELOAD_RULES = """<configuration><system.webServer><rewrite><rules>
  <rule name="socket" stopProcessing="true">
    <match url="^ws$" />
    <action type="Rewrite" url="http://ws.test:8001/echo" />
  </rule>
  {extra}
  <rule name="app" stopProcessing="true">
    <match url=".*" />
    <action type="Rewrite" url="http://app.test:8000/{{R:0}}" />
  </rule>
</rules></rewrite></system.webServer></configuration>
"""

NEW_RULE = """<rule name="reports" stopProcessing="true">
    <match url="^reports/(.*)" />
    <action type="Rewrite" url="http://reports.test:8002/{R:1}" />
  </rule>"""


def _counter(env, name):
    value = env.stats().get(name)
    return value if isinstance(value, int) else 0


def test_a_reload_adds_an_upstream_while_a_websocket_stays_open(tmp_path, make_upstream, make_envoy, cli_path):
    import threading

    from websockets.sync.client import connect as ws_connect
    from websockets.sync.server import serve as ws_serve

    app = make_upstream(_named("app"), name="app")
    reports = make_upstream(_named("reports"), name="reports")

    def echo(conn):
        for message in conn:
            conn.send(f"echo:{message}")

    ws_server = ws_serve(echo, "127.0.0.1", 0)
    threading.Thread(target=ws_server.serve_forever, daemon=True).start()
    ws_port = ws_server.socket.getsockname()[1]
    try:
        rules = tmp_path / "web.config"
        ecds = tmp_path / "ecds"
        args = [cli_path, "envoy", str(rules), "--ecds", str(ecds), "--wasm", harness.wasm_file(),
                "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                "--resolve", f"app.test:8000={app.address}",
                "--resolve", f"ws.test:8001=127.0.0.1:{ws_port}",
                "--resolve", f"reports.test:8002={reports.address}"]

        def generate(extra, *more):
            rules.write_text(RELOAD_RULES.format(extra=extra))
            r = harness.subprocess.run(args + list(more), capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            return r.stdout

        env = make_envoy(generate(""))
        clusters = (ecds / "iis-rewrite-clusters.yaml").read_text()
        assert "reports.test" not in clusters
        # Before: the new upstream is not reachable (its path goes to the app).
        r = harness.request("GET", env.url("/reports/q1"))
        assert (r.status, r.json()["backend"]) == (200, "app"), r

        with ws_connect(f"ws://127.0.0.1:{env.port}/ws", open_timeout=10) as ws:
            ws.send("before")
            assert ws.recv(timeout=5) == "echo:before"
            cds_ok = _counter(env, "cluster_manager.cds.update_success")
            generate(NEW_RULE, "-o", harness.os.devnull)
            assert "reports.test" in (ecds / "iis-rewrite-clusters.yaml").read_text()
            harness.wait_for(lambda: _counter(env, "cluster_manager.cds.update_success") > cds_ok,
                             what="CDS update")
            harness.wait_for(lambda: harness.request("GET", env.url("/reports/q2")).status == 200
                             and reports.requests, timeout=10, what="the new upstream")
            r = harness.request("GET", env.url("/reports/q3"))
            assert (r.status, r.json()) == (200, {"backend": "reports", "path": "/q3"}), r
            # The WebSocket opened before the reload goes on, on its unchanged cluster.
            for i in range(3):
                ws.send(f"after {i}")
                assert ws.recv(timeout=5) == f"echo:after {i}"
        assert _counter(env, "cluster_manager.cds.update_rejected") == 0

        # A clusters file Envoy refuses (written by hand): rejected and counted, and the
        # clusters in force stay.
        bad = ecds / ".bad.tmp"
        bad.write_text('resources:\n- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster\n'
                       '  name: broken\n  type: STATIC\n  connect_timeout: -5s\n')
        harness.os.rename(bad, ecds / "iis-rewrite-clusters.yaml")
        harness.wait_for(lambda: _counter(env, "cluster_manager.cds.update_rejected") == 1,
                         what="CDS rejection")
        r = harness.request("GET", env.url("/reports/q4"))
        assert (r.status, r.json()["backend"]) == (200, "reports"), r
    finally:
        ws_server.shutdown()
