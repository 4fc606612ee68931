"""The two ARR example configurations (testdata/webconfigs/arr-seed-*.config), unmodified, on
real Envoy via `iis-rewrite envoy`.

* `arr-seed-001-backend-basic-auth.config`: a reverse proxy that authenticates to the
  backend with basic auth (password from a file or an environment variable), passes the user as
  Remote-User, reverse-rewrites backend redirects and logs them at debug level.
* `arr-seed-002-lync-farms.config`: Lync-style host-name rules routing to two server
  farms on port 4443 over TLS; two TLS backends made here with a throwaway CA (trustme), each
  must receive only its own host names' requests.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import ssl

import pytest

import harness

pytestmark = pytest.mark.timeout(120)

SEEDS = os.path.join(harness.REPO, "testdata", "webconfigs")
SEED_001 = os.path.join(SEEDS, "arr-seed-001-backend-basic-auth.config")
SEED_002 = os.path.join(SEEDS, "arr-seed-002-lync-farms.config")

PASSWORD = "c0rrect-h0rse:battery staple"


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def app_responder(req):
    if req.path.startswith("/login-required"):
        # What an application behind a proxy answers: an absolute URL with its own name.
        return 302, [("Location", "http://app.internal:8080/login?return=%2Fdocs")], b""
    return 200, [("Content-Type", "text/plain")], f"app saw {req.path}".encode()


@pytest.mark.parametrize("source", ["env", "file"])
def test_seed_001_backend_basic_auth(tmp_path, make_upstream, envoy_for, monkeypatch, source):
    app = make_upstream(app_responder, name="app")
    args = ["--resolve", f"app.internal:8080={app.address}", "--backend-user", "svc-proxy"]
    if source == "env":
        monkeypatch.setenv("APP_BACKEND_PASSWORD", PASSWORD)
        args += ["--backend-password-env", "APP_BACKEND_PASSWORD"]
    else:
        f = tmp_path / "backend-password"
        f.write_text(PASSWORD + "\n")
        args += ["--backend-password-file", str(f)]
    # The filter's logger at its most verbose: the backend redirect trace must be there, the
    # credentials must not.
    env = envoy_for(SEED_001, extra_args=args, component_log_level="wasm:trace")
    bootstrap = json.dumps(env.config)
    if source == "env":
        # Only the variable's name is in the bootstrap; the filter reads it inside Envoy.
        assert PASSWORD not in bootstrap
        assert "APP_BACKEND_PASSWORD" in bootstrap
    else:
        assert PASSWORD in bootstrap  # documented: a password file is embedded

    r = harness.request("GET", env.url("/docs/page?x=1"), headers={"Host": "wiki.example.com"})
    assert r.status == 200 and r.body == b"app saw /docs/page?x=1"
    seen = app.last
    assert seen.header("Authorization") == basic("svc-proxy", PASSWORD)
    assert seen.headers_named("Remote-User") == ["svc-proxy"]
    # preserveHostHeader="false": the backend gets the rewritten URL's host.
    assert seen.header("Host") == "app.internal:8080"
    assert seen.header("X-Forwarded-Host") == "wiki.example.com"
    # includePortInXForwardedFor="false".
    assert seen.header("X-Forwarded-For") == "127.0.0.1"

    # A client cannot choose the identity the backend trusts.
    harness.request(
        "GET",
        env.url("/docs/"),
        headers={"Host": "wiki.example.com", "Remote-User": "admin", "Authorization": basic("admin", "x")},
    )
    assert app.last.headers_named("Remote-User") == ["svc-proxy"]
    assert app.last.header("Authorization") == basic("svc-proxy", PASSWORD)

    # Backend redirect: reverse-rewritten to the public host and traced.
    r = harness.request("GET", env.url("/login-required"), headers={"Host": "wiki.example.com"})
    assert r.status == 302
    assert r.header("Location") == "http://wiki.example.com/login?return=%2Fdocs"
    log = env.wait_log("backend redirect")
    assert "iis-rewrite: backend redirect 302 Location: http://app.internal:8080/login?return=%2Fdocs" in log

    # The ACME rule keeps the challenge off the backend (no default upstream: 404 here).
    app.clear()
    r = harness.request("GET", env.url("/.well-known/acme-challenge/t"), headers={"Host": "wiki.example.com"})
    assert r.status == 404 and not app.requests

    log = env.log_text()
    assert PASSWORD not in log
    assert base64.b64encode(f"svc-proxy:{PASSWORD}".encode()).decode() not in log


def test_seed_001_password_from_env_is_in_no_envoy_log(make_upstream, envoy_for, monkeypatch):
    """Envoy at debug level for every logger: with --backend-password-env the password is in
    no configuration, so Envoy's config dumps cannot print it. (Envoy's router debug log
    prints every request header sent upstream, the Authorization header included, whoever
    set it: run Envoy below debug in production.)"""
    app = make_upstream(app_responder, name="app")
    monkeypatch.setenv("APP_BACKEND_PASSWORD", PASSWORD)
    args = [
        "--resolve", f"app.internal:8080={app.address}",
        "--backend-user", "svc-proxy",
        "--backend-password-env", "APP_BACKEND_PASSWORD",
    ]
    env = envoy_for(SEED_001, extra_args=args, log_level="debug", component_log_level=None)
    assert harness.request("GET", env.url("/docs")).status == 200
    assert app.last.header("Authorization") == basic("svc-proxy", PASSWORD)
    env.stop()
    assert "config: " in env.log_text(), "Envoy logged its configuration at debug level"
    assert PASSWORD not in env.log_text()


def test_seed_001_unset_password_variable_refuses_the_configuration(make_envoy, monkeypatch):
    monkeypatch.setenv("APP_BACKEND_PASSWORD", PASSWORD)
    text = harness.generate_bootstrap(
        SEED_001, 0, extra_args=["--backend-user", "svc-proxy", "--backend-password-env", "APP_BACKEND_PASSWORD"]
    )
    monkeypatch.delenv("APP_BACKEND_PASSWORD")
    with pytest.raises(harness.EnvoyFailed) as e:
        make_envoy(text)
    assert "configuration refused" in e.value.log and "APP_BACKEND_PASSWORD" in e.value.log


def test_seed_001_needs_its_password(tmp_path):
    import subprocess

    with pytest.raises(subprocess.CalledProcessError) as e:
        harness.generate_bootstrap(SEED_001, 0, extra_args=["--backend-user", "svc-proxy"])
    assert "no password" in e.value.stderr
    assert e.value.returncode == 1


@pytest.fixture(scope="module")
def lync_pki(tmp_path_factory):
    """A throwaway CA; certificates for the two front-end pools (backends) and for the public
    names (Envoy's HTTPS listener)."""
    trustme = pytest.importorskip("trustme")
    d = tmp_path_factory.mktemp("lync-pki")
    ca = trustme.CA()
    ca_pem = d / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))

    def server_ctx(*names):
        cert = ca.issue_cert(*names)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ctx)
        return ctx, cert

    webext_ctx, _ = server_ctx("fe-webext.contoso.local")
    discover_ctx, _ = server_ctx("fe-discover.contoso.local")
    _, public = server_ctx("meet.contoso.com", "dialin.contoso.com", "lyncdiscover.contoso.com")
    pub_cert = d / "public.pem"
    pub_key = d / "public.key"
    public.cert_chain_pems[0].write_to_path(str(pub_cert))
    for extra in public.cert_chain_pems[1:]:
        extra.write_to_path(str(pub_cert), append=True)
    public.private_key_pem.write_to_path(str(pub_key))
    client = ssl.create_default_context(cafile=str(ca_pem))
    return {
        "ca": str(ca_pem),
        "webext": webext_ctx,
        "discover": discover_ctx,
        "cert": str(pub_cert),
        "key": str(pub_key),
        "client": client,
    }


def pool(name):
    def responder(req):
        return 200, [("Content-Type", "text/plain")], f"{name} {req.header('Host')} {req.path}".encode()

    return responder


def test_seed_002_lync_farms_over_tls(lync_pki, make_upstream, envoy_for):
    webext = make_upstream(pool("webext"), tls=lync_pki["webext"], name="webext")
    discover = make_upstream(pool("discover"), tls=lync_pki["discover"], name="discover")
    args = [
        "--https-listen", "127.0.0.1:0",
        "--tls-cert", lync_pki["cert"],
        "--tls-key", lync_pki["key"],
        "--upstream-ca", lync_pki["ca"],
        "--resolve", f"fe-webext.contoso.local:4443={webext.address}",
        "--resolve", f"fe-discover.contoso.local:4443={discover.address}",
    ]
    env = envoy_for(SEED_002, extra_args=args)
    https = env.ports["https"]

    def get(host, path, sni=None):
        """HTTPS to Envoy on 127.0.0.1 with SNI and certificate check on the public `host`."""

        class Conn(http.client.HTTPSConnection):
            def connect(self):
                raw = socket.create_connection(("127.0.0.1", https), timeout=10)
                self.sock = lync_pki["client"].wrap_socket(raw, server_hostname=(sni or host).lower())

        conn = Conn("127.0.0.1", https, timeout=10)
        try:
            conn.request("GET", path, headers={"Host": host})
            resp = conn.getresponse()
            return harness.Response(resp.status, resp.getheaders(), resp.read())
        finally:
            conn.close()

    sent = {
        "webext": [("meet.contoso.com", "/meet/alice/ABC123"), ("dialin.contoso.com", "/"),
                   ("Meet.Contoso.com", "/meet/bob/X"), ("dialin.contoso.com", "/dialin/?lang=en")],
        "discover": [("lyncdiscover.contoso.com", "/"), ("lyncdiscover.contoso.com", "/autodiscover/autodiscoverservice.svc/root?sipuri=a@contoso.com")],
    }
    for backend, reqs in sent.items():
        for host, path in reqs:
            r = get(host, path)
            assert r.status == 200, (host, path, r)
            # The farm keeps the client's Host (farm default preserveHostHeader="true").
            assert r.body.decode() == f"{backend} {host} {path}", r.body
    assert [(rq.header("Host"), rq.path) for rq in webext.requests] == sent["webext"]
    assert [(rq.header("Host"), rq.path) for rq in discover.requests] == sent["discover"]

    # A host the rules do not publish reaches neither pool.
    r = get("admin.contoso.com", "/", sni="meet.contoso.com")
    assert r.status == 404
    # The rules require HTTPS ({HTTPS} = on): plain HTTP reaches neither pool either.
    r = harness.request("GET", env.url("/"), headers={"Host": "meet.contoso.com"})
    assert r.status == 404
    assert len(webext.requests) == 4 and len(discover.requests) == 2


def test_seed_002_bootstrap_carries_the_900_second_timeouts(lync_pki):
    text = harness.generate_bootstrap(SEED_002, 0, extra_args=["--upstream-ca", lync_pki["ca"]])
    # The two farm routes and the server-level routes (proxy timeout 00:15:00 too).
    assert text.count('idle_timeout: "900s"') >= 2
    assert 'name: "iis-farm|https|lync-webext"' in text
    assert 'name: "iis-farm|https|lync-discover"' in text
    assert "iis-farm|http|" not in text, "the rules only say https://"
    assert harness.validate(text).returncode == 0


def test_seed_002_explain_names_the_farm(cli_path):
    import subprocess

    r = subprocess.run(
        [cli_path, "explain", SEED_002, "--url", "https://dialin.contoso.com/dialin/"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert (
        "decision: proxy to server farm lync-webext over https, path /dialin/ "
        "(cluster iis-farm|https|lync-webext, Host as sent by the client)"
    ) in r.stdout
