"""ARR server farms and proxy settings on real Envoy, through `iis-rewrite envoy`.

Each test writes a small web.config (an ARR farm in applicationHost.config form plus the rule IIS
Manager generates for it), generates the bootstrap with the CLI, and sends real requests to real
upstream servers. Farm servers have names (`b1.farm.test`, …) that `--resolve` maps to the
test's upstreams on free ports, as DNS would.
"""

from __future__ import annotations

import base64
import collections
import json
import time

import pytest

import harness

pytestmark = pytest.mark.timeout(120)


def farm_config(tmp_path, servers, farm_xml="", name="web", rule_url=None, extra=""):
    """A web.config with one farm `name` and the ARR load-balance rule routing everything to it.
    `servers` is a list of (address, attributes of <applicationRequestRouting>)."""
    server_xml = "\n".join(
        f'      <server address="{addr}"><applicationRequestRouting {attrs} /></server>'
        for addr, attrs in servers
    )
    text = f"""<configuration>
  <webFarms>
    <webFarm name="{name}">
{server_xml}
      <applicationRequestRouting>
{farm_xml}
      </applicationRequestRouting>
    </webFarm>
  </webFarms>
  <system.webServer>
    <rewrite>
      <globalRules>
        <rule name="ARR_{name}_loadbalance" patternSyntax="Wildcard" stopProcessing="true">
          <match url="*" />
          <action type="Rewrite" url="{rule_url or f'http://{name}/{{R:0}}'}" />
        </rule>
      </globalRules>
    </rewrite>
{extra}
  </system.webServer>
</configuration>
"""
    path = tmp_path / "web.config"
    path.write_text(text)
    return path


def resolve_args(pairs):
    """--resolve for each (name, port, upstream)."""
    out = []
    for name, port, up in pairs:
        out += ["--resolve", f"{name}:{port}={up.address}"]
    return out


def named(name):
    """An echo responder that says which backend answered."""

    def responder(req):
        body = json.dumps({"backend": name, "path": req.path}).encode()
        return 200, [("Content-Type", "application/json")], body

    return responder


def test_weighted_round_robin_spreads_over_three_backends(tmp_path, make_upstream, envoy_for):
    ups = [make_upstream(named(f"b{i}"), name=f"b{i}") for i in range(3)]
    cfg = farm_config(
        tmp_path,
        [(f"b{i}.farm.test", 'httpPort="80"') for i in range(3)],
        '<loadBalancing algorithm="WeightedRoundRobin" />',
    )
    env = envoy_for(cfg, extra_args=resolve_args((f"b{i}.farm.test", 80, u) for i, u in enumerate(ups)))
    counts = collections.Counter()
    n = 60
    for i in range(n):
        r = harness.request("GET", env.url(f"/item/{i}"), headers={"Host": "www.example.com"})
        assert r.status == 200, r
        counts[r.json()["backend"]] += 1
    # Round robin over three equal servers: each gets a third. Stated bound: 20 ± 5.
    assert sorted(counts) == ["b0", "b1", "b2"], counts
    for b, c in counts.items():
        assert 15 <= c <= 25, counts
    # The farm keeps the client's Host (farm preserveHostHeader default true) and the path.
    last = ups[0].last
    assert last.header("Host") == "www.example.com"
    assert last.path.startswith("/item/")
    # ARR's X-Forwarded-For: client address with its port (farm default includePort true).
    xff = last.header("X-Forwarded-For")
    assert xff and xff.startswith("127.0.0.1:") and xff.split(":")[1].isdigit(), xff


def test_weights_shape_the_spread(tmp_path, make_upstream, envoy_for):
    ups = [make_upstream(named(f"b{i}"), name=f"b{i}") for i in range(2)]
    cfg = farm_config(
        tmp_path,
        [("b0.farm.test", 'weight="300"'), ("b1.farm.test", 'weight="100"')],
    )
    env = envoy_for(cfg, extra_args=resolve_args((f"b{i}.farm.test", 80, u) for i, u in enumerate(ups)))
    counts = collections.Counter(
        harness.request("GET", env.url(f"/{i}")).json()["backend"] for i in range(80)
    )
    # 3:1 weights over 80 requests: 60/20. Stated bound: b0 between 52 and 68.
    assert 52 <= counts["b0"] <= 68, counts
    assert counts["b0"] + counts["b1"] == 80


def healthy_hosts(env, cluster):
    """Admin /clusters: the number of hosts of `cluster` without a health flag."""
    r = harness.request("GET", env.admin_url("/clusters?format=json"), timeout=5)
    for c in json.loads(r.body).get("cluster_statuses", []):
        if c.get("name") == cluster:
            return sum(
                1
                for h in c.get("host_statuses", [])
                if not any(v for k, v in h.get("health_status", {}).items() if k != "eds_health_status")
            )
    return None


def health_responder(name, health_body=b"OK"):
    """Answers probes with `health_body`, other requests as `named`. Every response closes its
    connection, so that closing the server really stops it (a kept-alive connection would
    otherwise go on being served by its handler thread)."""

    def responder(req):
        if req.path == "/health":
            return 200, [("Content-Type", "text/plain"), ("Connection", "close")], health_body
        status, headers, body = named(name)(req)
        return status, headers + [("Connection", "close")], body

    return responder


def test_health_check_takes_a_stopped_server_out(tmp_path, make_upstream, envoy_for):
    ups = [make_upstream(health_responder(f"b{i}"), name=f"b{i}") for i in range(3)]
    cfg = farm_config(
        tmp_path,
        [(f"b{i}.farm.test", 'httpPort="80"') for i in range(3)],
        '<healthCheck url="http://web/health" interval="00:00:01" timeout="00:00:01" '
        'statusCodeMatch="200-299" responseMatch="OK" />',
    )
    env = envoy_for(cfg, extra_args=resolve_args((f"b{i}.farm.test", 80, u) for i, u in enumerate(ups)))
    cluster = "iis-farm|http|web"
    harness.wait_for(lambda: healthy_hosts(env, cluster) == 3, 15, 0.2, "all three to pass the check")
    assert all(any(r.path == "/health" for r in u.requests) for u in ups), "probes reach each server"
    # The probe carries the URL's host (the farm name), as ARR's URL test does.
    assert {r.header("Host") for u in ups for r in u.requests if r.path == "/health"} == {"web"}
    ups[1].close()
    harness.wait_for(lambda: healthy_hosts(env, cluster) == 2, 15, 0.2, "the stopped server to be taken out")
    # Envoy's worker threads see the new healthy set up to one check interval (1 s) after the
    # admin API shows the flag (measured: requests to the stopped server fail for ~1 s). ARR
    # too sends traffic to a stopped server until its next URL test.
    time.sleep(1.5)
    for u in (ups[0], ups[2]):
        u.clear()
    counts = collections.Counter()
    for i in range(30):
        r = harness.request("GET", env.url(f"/after/{i}"))
        assert r.status == 200, (i, r)
        counts[r.json()["backend"]] += 1
    assert set(counts) == {"b0", "b2"}, counts
    assert env.stats().get(f"cluster.{cluster}.health_check.failure", 0) >= 1


def test_health_check_response_match_excludes_a_server(tmp_path, make_upstream, envoy_for):
    ups = [
        make_upstream(health_responder("good", b"status: OK"), name="good"),
        make_upstream(health_responder("bad", b"status: degraded"), name="bad"),
    ]
    cfg = farm_config(
        tmp_path,
        [("good.farm.test", ""), ("bad.farm.test", "")],
        '<healthCheck url="http://web/health" interval="00:00:01" timeout="00:00:01" responseMatch="OK" />',
    )
    env = envoy_for(
        cfg,
        extra_args=resolve_args([("good.farm.test", 80, ups[0]), ("bad.farm.test", 80, ups[1])]),
    )
    harness.wait_for(lambda: healthy_hosts(env, "iis-farm|http|web") == 1, 15, 0.2, "one healthy host")
    backends = {harness.request("GET", env.url(f"/{i}")).json()["backend"] for i in range(10)}
    assert backends == {"good"}


def test_no_healthy_server_is_502_like_arr(tmp_path, make_upstream, envoy_for):
    up = make_upstream(health_responder("only", b"nope"), name="only")
    cfg = farm_config(
        tmp_path,
        [("only.farm.test", "")],
        '<healthCheck url="http://web/health" interval="00:00:01" timeout="00:00:01" responseMatch="OK" />',
    )
    env = envoy_for(cfg, extra_args=resolve_args([("only.farm.test", 80, up)]))
    harness.wait_for(lambda: healthy_hosts(env, "iis-farm|http|web") == 0, 15, 0.2, "no healthy host")
    r = harness.request("GET", env.url("/x"))
    assert r.status == 502, r  # ARR 502.4; Envoy alone would say 503
    assert not any(rec.path == "/x" for rec in up.requests)


def test_farm_without_enabled_server_is_502(tmp_path, envoy_for):
    cfg = farm_config(tmp_path, [("off.farm.test", "")])
    text = cfg.read_text().replace('<server address="off.farm.test">', '<server address="off.farm.test" enabled="false">')
    cfg.write_text(text)
    env = envoy_for(cfg)
    r = harness.request("GET", env.url("/x"))
    assert r.status == 502, r


def test_slow_backend_hits_the_farm_timeout_with_502(tmp_path, make_upstream, envoy_for):
    def slow(req):
        if req.path.startswith("/slow"):
            time.sleep(4)
        return named("slow")(req)

    up = make_upstream(slow, name="slow")
    cfg = farm_config(
        tmp_path,
        [("slow.farm.test", "")],
        '<protocol timeout="00:00:01" />',
    )
    env = envoy_for(cfg, extra_args=resolve_args([("slow.farm.test", 80, up)]))
    assert harness.request("GET", env.url("/fast")).status == 200
    t0 = time.monotonic()
    r = harness.request("GET", env.url("/slow"), timeout=10)
    elapsed = time.monotonic() - t0
    assert r.status == 502, r  # ARR 502.3, not Envoy's 504
    assert 0.9 <= elapsed < 3.5, elapsed
    # It was the farm route's idle timeout (1 s, not the server-level 120 s) that fired.
    stats = env.stats()
    assert stats.get("http.iis_http.downstream_rq_idle_timeout") == 1, {
        k: v for k, v in stats.items() if "timeout" in k and v
    }


def test_server_level_timeout_applies_to_direct_proxying(tmp_path, make_upstream, envoy_for):
    def slow(req):
        time.sleep(4)
        return 200, [], b"late"

    up = make_upstream(slow, name="slow")
    cfg = tmp_path / "web.config"
    cfg.write_text(
        """<configuration><system.webServer>
  <proxy timeout="00:00:01" />
  <rewrite><rules>
    <rule name="p"><match url="(.*)" /><action type="Rewrite" url="http://app.test:8080/{R:1}" /></rule>
  </rules></rewrite>
</system.webServer></configuration>"""
    )
    env = envoy_for(cfg, extra_args=["--resolve", f"app.test:8080={up.address}"])
    t0 = time.monotonic()
    r = harness.request("GET", env.url("/x"), timeout=10)
    assert r.status == 502, r
    assert time.monotonic() - t0 < 3.5


def test_affinity_cookie_pins_a_client_to_one_server(tmp_path, make_upstream, envoy_for):
    ups = [make_upstream(named(f"b{i}"), name=f"b{i}") for i in range(3)]
    cfg = farm_config(
        tmp_path,
        [(f"b{i}.farm.test", "") for i in range(3)],
        '<affinity useCookie="true" cookieName="ARRAffinity" timeout="00:20:00" />',
    )
    env = envoy_for(cfg, extra_args=resolve_args((f"b{i}.farm.test", 80, u) for i, u in enumerate(ups)))
    first = harness.request("GET", env.url("/"))
    cookie = first.header("Set-Cookie")
    assert cookie and cookie.startswith("ARRAffinity="), first.headers
    value = cookie.split(";", 1)[0]
    pinned = {
        harness.request("GET", env.url(f"/{i}"), headers={"Cookie": value}).json()["backend"]
        for i in range(15)
    }
    assert len(pinned) == 1, pinned
    # Different cookies spread over the farm.
    spread = {
        harness.request("GET", env.url("/"), headers={"Cookie": f"ARRAffinity=client-{i}"}).json()["backend"]
        for i in range(40)
    }
    assert len(spread) >= 2, spread


def test_request_hash_on_a_header(tmp_path, make_upstream, envoy_for):
    ups = [make_upstream(named(f"b{i}"), name=f"b{i}") for i in range(3)]
    cfg = farm_config(
        tmp_path,
        [(f"b{i}.farm.test", "") for i in range(3)],
        '<loadBalancing algorithm="RequestHash" hashServerVariable="HTTP_X_TENANT" />',
    )
    env = envoy_for(cfg, extra_args=resolve_args((f"b{i}.farm.test", 80, u) for i, u in enumerate(ups)))
    per_tenant = {}
    for t in range(12):
        seen = {
            harness.request("GET", env.url(f"/{i}"), headers={"X-Tenant": f"t{t}"}).json()["backend"]
            for i in range(4)
        }
        assert len(seen) == 1, (t, seen)
        per_tenant[t] = seen.pop()
    assert len(set(per_tenant.values())) >= 2, per_tenant


def test_location_is_reverse_rewritten_for_a_farm_that_asks(tmp_path, make_upstream, envoy_for):
    def redirecting(req):
        return 302, [("Location", "http://b0.farm.test/login?next=%2Fa")], b""

    up = make_upstream(redirecting, name="r")
    cfg = farm_config(
        tmp_path,
        [("b0.farm.test", "")],
        '<protocol reverseRewriteHostInResponseHeaders="true" />',
    )
    env = envoy_for(cfg, extra_args=resolve_args([("b0.farm.test", 80, up)]))
    r = harness.request("GET", env.url("/a"), headers={"Host": "front.example:8443"})
    assert r.status == 302
    assert r.header("Location") == "http://front.example:8443/login?next=%2Fa"
    log = env.wait_log("backend redirect")
    assert "iis-rewrite: backend redirect 302 Location: http://b0.farm.test/login?next=%2Fa" in log


def test_farm_default_keeps_backend_location(tmp_path, make_upstream, envoy_for):
    up = make_upstream(lambda req: (301, [("Location", "http://b0.farm.test/x")], b""), name="r")
    cfg = farm_config(tmp_path, [("b0.farm.test", "")])
    env = envoy_for(cfg, extra_args=resolve_args([("b0.farm.test", 80, up)]))
    r = harness.request("GET", env.url("/a"))
    # ARR farm default: reverseRewriteHostInResponseHeaders="false".
    assert r.header("Location") == "http://b0.farm.test/x"


def test_farm_protocol_forwarded_for_header(tmp_path, make_upstream, envoy_for):
    up = make_upstream(named("b0"), name="b0")
    cfg = farm_config(
        tmp_path,
        [("b0.farm.test", "")],
        '<protocol xForwardedForHeaderName="X-Client-IP" includePortInXForwardedFor="false" />',
    )
    env = envoy_for(cfg, extra_args=resolve_args([("b0.farm.test", 80, up)]))
    assert harness.request("GET", env.url("/a"), headers={"X-Forwarded-For": "6.6.6.6"}).status == 200
    assert up.last.header("X-Client-IP") == "127.0.0.1"


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("source", ["env", "file"])
def test_backend_basic_auth_and_remote_user(tmp_path, make_upstream, envoy_for, monkeypatch, source):
    password = "Tr0ub4dor&3-e2e"
    up = make_upstream(named("app"), name="app")
    cfg = tmp_path / "web.config"
    cfg.write_text(
        """<configuration><system.webServer><rewrite><rules>
  <rule name="p"><match url="(.*)" /><action type="Rewrite" url="http://app.test:8080/{R:1}" /></rule>
</rules></rewrite></system.webServer></configuration>"""
    )
    args = ["--resolve", f"app.test:8080={up.address}", "--backend-user", "svc-proxy"]
    if source == "env":
        monkeypatch.setenv("ARR_E2E_BACKEND_PASSWORD", password)
        args += ["--backend-password-env", "ARR_E2E_BACKEND_PASSWORD"]
    else:
        pw = tmp_path / "backend.pw"
        pw.write_text(password + "\n")
        args += ["--backend-password-file", str(pw)]
    env = envoy_for(cfg, extra_args=args)
    r = harness.request(
        "GET", env.url("/who"), headers={"Authorization": "Basic Y2xpZW50OnNlY3JldA==", "Remote-User": "mallory"}
    )
    assert r.status == 200
    assert up.last.header("Authorization") == basic("svc-proxy", password)
    assert up.last.headers_named("Remote-User") == ["svc-proxy"]
    log = env.wait_log('"GET /who')
    assert password not in log
    assert basic("svc-proxy", password).split()[1] not in log


def test_import_and_explain_never_print_the_password(tmp_path, cli_path):
    import subprocess

    cfg = tmp_path / "c.json"
    cfg.write_text(
        json.dumps(
            {
                "rules": [{"name": "p", "match": {"url": "(.*)"}, "action": {"type": "Rewrite", "url": "http://app.test/{R:1}"}}],
                "proxy": {"backendAuth": {"user": "svc", "password": "hunter2-secret"}},
            }
        )
    )
    imp = subprocess.run([cli_path, "import", str(cfg)], capture_output=True, text=True)
    assert imp.returncode == 0, imp.stderr
    assert "hunter2" not in imp.stdout + imp.stderr
    assert "backend password is not written" in imp.stderr
    exp = subprocess.run([cli_path, "explain", str(cfg), "--url", "/x"], capture_output=True, text=True)
    assert exp.returncode == 0, exp.stderr
    secret_b64 = base64.b64encode(b"svc:hunter2-secret").decode()
    assert "hunter2" not in exp.stdout and secret_b64 not in exp.stdout
    assert "authorization: Basic ***" in exp.stdout
    assert "remote-user: svc" in exp.stdout


def test_farm_without_preserve_host_sends_the_server_name(tmp_path, make_upstream, envoy_for):
    up = make_upstream(named("b0"), name="b0")
    cfg = farm_config(tmp_path, [("b0.farm.test", "")], '<protocol preserveHostHeader="false" />')
    env = envoy_for(cfg, extra_args=resolve_args([("b0.farm.test", 80, up)]))
    assert harness.request("GET", env.url("/a"), headers={"Host": "www.example.com"}).status == 200
    assert up.last.header("Host") == "b0.farm.test"
