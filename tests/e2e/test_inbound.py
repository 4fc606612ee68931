"""Inbound rules through real Envoy with the real wasm: every action type, server
variables as request headers, the upstream allow-list, the Jellyfin basic web.config on plain
and TLS listeners, ARR's 502 for backend timeouts and connection failures."""

import json
import socket
import ssl
import threading
import time

import pytest

import harness

BACKEND = "backend.test:8081"  # a name the rules use; --resolve points it at a test upstream


def rule(name, url, action, **extra):
    r = {"name": name, "match": {"url": url}, "action": action}
    r.update(extra)
    return r


@pytest.fixture
def site(tmp_path, envoy_for):
    """site(config_dict_or_file, default=Upstream|None, resolve={host:port: Upstream}, extra=[])"""

    def start(config, default=None, resolve=None, extra=(), **kw):
        if isinstance(config, dict):
            path = tmp_path / f"config-{time.monotonic_ns()}.json"
            path.write_text(json.dumps(config))
            config = str(path)
        args = []
        for name, up in (resolve or {}).items():
            args += ["--resolve", f"{name}={up.address}"]
        return envoy_for(config, default.address if default else None, args + list(extra), **kw)

    return start


# --- Rewrite -----------------------------------------------------------------------------------


def test_relative_rewrite_reaches_the_default_upstream_with_new_path_and_query(site, make_upstream):
    default = make_upstream(name="default")
    e = site(
        {"rules": [rule("old", "^old/(.*)", {"type": "Rewrite", "url": "new/{R:1}?x=1", "appendQueryString": True})]},
        default=default,
    )
    r = harness.request("GET", e.url("/old/a%20b?b=2"))
    assert r.status == 200
    got = default.last
    assert got.path == "/new/a%20b?x=1&b=2"
    assert got.header("host") == f"127.0.0.1:{e.port}"  # a local rewrite keeps the client's Host
    assert got.header("x-original-url") == "/old/a%20b?b=2"
    assert got.header("x-iis-rewrite-upstream") is None


def test_relative_rewrite_without_append_drops_the_query(site, make_upstream):
    default = make_upstream()
    e = site(
        {"rules": [rule("r", "^a$", {"type": "Rewrite", "url": "b", "appendQueryString": False})]},
        default=default,
    )
    assert harness.request("GET", e.url("/a?q=1")).status == 200
    assert default.last.path == "/b"


def test_absolute_rewrite_proxies_to_the_named_upstream_with_arr_host(site, make_upstream):
    default, backend = make_upstream(name="default"), make_upstream(name="backend")
    e = site(
        {"rules": [rule("api", "^api/(.*)", {"type": "Rewrite", "url": f"http://{BACKEND}/v1/{{R:1}}"})]},
        default=default,
        resolve={BACKEND: backend},
    )
    r = harness.request("GET", e.url("/api/items?x=1"), headers={"Host": "public.example"})
    assert r.status == 200
    assert default.requests == []
    got = backend.last
    assert got.path == "/v1/items?x=1"
    assert got.header("host") == BACKEND  # ARR default preserveHostHeader=false
    assert got.header("x-forwarded-for") == f"127.0.0.1:{_client_port(got)}" or got.header(
        "x-forwarded-for"
    ).startswith("127.0.0.1:")
    assert got.header("x-iis-rewrite-upstream") is None
    assert got.header("x-envoy-external-address") is None
    # a URL no rule proxies stays on the default upstream
    assert harness.request("GET", e.url("/other")).status == 200
    assert default.last.path == "/other"


def _client_port(rec):
    return rec.header("x-forwarded-for").rsplit(":", 1)[-1]


def test_preserve_host_header_sends_the_client_host(site, make_upstream):
    backend = make_upstream()
    e = site(
        {
            "rules": [rule("all", "(.*)", {"type": "Rewrite", "url": f"http://{BACKEND}/{{R:1}}"})],
            "proxy": {"preserveHostHeader": True},
        },
        resolve={BACKEND: backend},
    )
    assert harness.request("GET", e.url("/x"), headers={"Host": "www.example.org"}).status == 200
    assert backend.last.header("host") == "www.example.org"


def test_http_host_server_variable_wins(site, make_upstream):
    backend = make_upstream()
    e = site(
        {
            "rules": [
                rule(
                    "all",
                    "(.*)",
                    {"type": "Rewrite", "url": f"http://{BACKEND}/{{R:1}}"},
                    serverVariables=[{"name": "HTTP_HOST", "value": "chosen.example"}],
                )
            ]
        },
        resolve={BACKEND: backend},
    )
    assert harness.request("GET", e.url("/x")).status == 200
    assert backend.last.header("host") == "chosen.example"


def test_https_upstream_with_sni_and_ca(site, make_upstream, tmp_path):
    tls = harness.TlsFiles(tmp_path / "secure", names=("secure.test",))
    backend = make_upstream(tls=tls.server_context(), name="tls-backend")
    ca_file = tls.ca_pem
    config = {"rules": [rule("s", "^s/(.*)", {"type": "Rewrite", "url": "https://secure.test:9443/{R:1}"})]}
    e = site(config, resolve={"secure.test:9443": backend}, extra=["--upstream-ca", str(ca_file)])
    r = harness.request("GET", e.url("/s/page"))
    assert r.status == 200, r
    assert backend.last.path == "/page"
    assert backend.last.header("host") == "secure.test:9443"
    # A certificate the CA did not sign is refused (503 from Envoy is mapped to ARR's 502).
    bad_ca = harness.TlsFiles(tmp_path / "other").ca_pem
    e2 = site(config, resolve={"secure.test:9443": backend}, extra=["--upstream-ca", str(bad_ca)])
    assert harness.request("GET", e2.url("/s/page")).status == 502


# --- Redirect ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_type,status",
    [("Permanent", 301), ("Found", 302), ("SeeOther", 303), ("Temporary", 307), (None, 301)],
)
def test_redirect_status(site, redirect_type, status):
    action = {"type": "Redirect", "url": "https://www.example.com/{R:1}"}
    if redirect_type:
        action["redirectType"] = redirect_type
    e = site({"rules": [rule("r", "^old/(.*)", action)]})
    r = harness.request("GET", e.url("/old/page?a=1&b=%20"))
    assert r.status == status
    assert r.headers_named("location") == ["https://www.example.com/page?a=1&b=%20"]


def test_redirect_without_query_and_relative_target(site, make_upstream):
    default = make_upstream()
    e = site(
        {
            "rules": [
                rule("noq", "^a$", {"type": "Redirect", "url": "https://x.example/b", "appendQueryString": False}),
                rule("rel", "^c$", {"type": "Redirect", "url": "d/e", "redirectType": "Found"}),
                rule("q", "^f$", {"type": "Redirect", "url": "/g?x=1", "redirectType": "Found"}),
            ]
        },
        default=default,
    )
    assert harness.request("GET", e.url("/a?z=1")).header("location") == "https://x.example/b"
    assert harness.request("GET", e.url("/c")).header("location") == "/d/e"
    assert harness.request("GET", e.url("/f?y=2")).header("location") == "/g?x=1&y=2"
    assert default.requests == []


def test_redirect_host_from_a_capture_is_not_an_open_redirect(site):
    e = site({"rules": [rule("r", "^go/([^/]+)/(.*)", {"type": "Redirect", "url": "https://{R:1}/{R:2}"})]})
    r = harness.request("GET", e.url("/go/evil.example/x"))
    assert r.status == 400
    assert r.header("location") is None


# --- CustomResponse and AbortRequest -----------------------------------------------------------


def test_custom_response(site, make_upstream):
    default = make_upstream()
    e = site(
        {
            "rules": [
                rule(
                    "block",
                    "^admin",
                    {
                        "type": "CustomResponse",
                        "statusCode": 403,
                        "subStatusCode": 7,
                        "statusReason": "Forbidden",
                        "statusDescription": "no admin here",
                    },
                )
            ]
        },
        default=default,
    )
    r = harness.request("GET", e.url("/admin/x"))
    assert r.status == 403
    assert r.body == b"no admin here"
    ctype = r.headers_named("content-type")
    assert len(ctype) == 1 and ctype[0].startswith("text/plain")  # one header (contract item 4)
    assert default.requests == []


def test_abort_request_resets_the_stream(site, make_upstream):
    default = make_upstream()
    e = site({"rules": [rule("abort", "^secret", {"type": "AbortRequest"})]}, default=default)
    raw = harness.raw_http(e.port, b"GET /secret HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw == b""  # no status line at all
    with pytest.raises((ConnectionError, http_client_errors())):
        harness.request("GET", e.url("/secret"))
    assert default.requests == []
    # other requests still work
    assert harness.request("GET", e.url("/open")).status == 200


def http_client_errors():
    import http.client

    return http.client.HTTPException


# --- Server variables and forwarded headers ----------------------------------------------------


def test_server_variables_become_request_headers(site, make_upstream):
    default = make_upstream()
    e = site(
        {
            "rules": [
                rule(
                    "vars",
                    "(.*)",
                    {"type": "None"},
                    serverVariables=[
                        {"name": "HTTP_X_FORWARDED_PROTO", "value": "{HTTPS}-{SERVER_PORT}"},
                        {"name": "HTTP_X_ORIGINAL_PATH", "value": "{URL}|{QUERY_STRING}"},
                        {"name": "HTTP_X_CLIENT", "value": "{REMOTE_ADDR}"},
                        {"name": "HTTP_X_EMPTY", "value": ""},
                    ],
                )
            ]
        },
        default=default,
    )
    r = harness.request(
        "GET", e.url("/p/q?z=9"), headers={"X-Forwarded-Proto": "https", "X-Empty": "from-client"}
    )
    assert r.status == 200
    got = default.last
    assert got.headers_named("x-forwarded-proto") == [f"off-{e.port}"]
    assert got.header("x-original-path") == "/p/q|z=9"
    assert got.header("x-client") == "127.0.0.1"
    assert got.header("x-empty") is None  # an empty value removes the header


def test_remote_addr_with_trusted_hops(site, make_upstream):
    """REMOTE_ADDR is the TCP peer unless --xff-trusted-hops says proxies stand in front
    (contract item 9: source.address after original-IP detection)."""
    default = make_upstream()
    cfg = {
        "rules": [
            rule("ip", "(.*)", {"type": "None"}, serverVariables=[{"name": "HTTP_X_REAL_IP", "value": "{REMOTE_ADDR}|{REMOTE_PORT}"}])
        ]
    }
    plain = site(cfg, default=default)
    harness.request("GET", plain.url("/"), headers={"X-Forwarded-For": "203.0.113.7"})
    ip, port = default.last.header("x-real-ip").split("|")
    assert ip == "127.0.0.1" and int(port) > 0
    trusted = site(cfg, default=default, extra=["--xff-trusted-hops", "1"])
    harness.request("GET", trusted.url("/"), headers={"X-Forwarded-For": "203.0.113.7"})
    assert default.last.header("x-real-ip").split("|")[0] == "203.0.113.7"


def test_client_cannot_pick_a_cluster(site, make_upstream):
    default, backend = make_upstream(name="default"), make_upstream(name="backend")
    e = site(
        {"rules": [rule("api", "^api/(.*)", {"type": "Rewrite", "url": f"http://{BACKEND}/{{R:1}}"})]},
        default=default,
        resolve={BACKEND: backend},
    )
    for value in ["iis|http|backend.test|8081", "iis|http|127.0.0.1|1"]:
        r = harness.request("GET", e.url("/public"), headers={"x-iis-rewrite-upstream": value})
        assert r.status == 200
    assert backend.requests == []
    assert [q.path for q in default.requests] == ["/public", "/public"]
    assert all(q.header("x-iis-rewrite-upstream") is None for q in default.requests)


def test_capture_built_target_outside_the_allow_list_is_502(site, make_upstream):
    default, backend = make_upstream(name="default"), make_upstream(name="backend")
    cfg = {
        "rules": [rule("go", "^go/([^/]+)/(.*)", {"type": "Rewrite", "url": "http://{R:1}/{R:2}"})],
        "routing": {"upstreams": [{"url": f"http://{BACKEND}"}]},
    }
    e = site(cfg, default=default, resolve={BACKEND: backend})
    assert harness.request("GET", e.url("/go/evil.example:80/x")).status == 502
    assert harness.request("GET", e.url("/go/127.0.0.1:1/x")).status == 502
    assert backend.requests == [] and default.requests == []
    r = harness.request("GET", e.url(f"/go/{BACKEND}/ok"))
    assert r.status == 200
    assert backend.last.path == "/ok"


# --- Jellyfin basic web.config -----------------------------------------------------------------


@pytest.fixture
def tls_listener_args(tmp_path):
    tls = harness.TlsFiles(tmp_path)
    return tls.listener_args(), str(tls.ca_pem)


def test_jellyfin_basic_web_config(site, make_upstream, tls_listener_args):
    local, jellyfin = make_upstream(name="local-site"), make_upstream(name="jellyfin")
    args, ca = tls_listener_args
    e = site(
        "testdata/webconfigs/jellyfin-basic.config",
        default=local,
        resolve={"localhost:8096": jellyfin},
        extra=args,
    )
    # / and /web -> 302 /web/
    for path in ["/", "/web"]:
        r = harness.request("GET", e.url(path))
        assert (r.status, r.header("location")) == (302, "/web/")
        assert r.header("x-frame-options") == "SAMEORIGIN"  # customHeaders on local replies too
    # /web/ -> jellyfin /web/index.html with the forwarded headers
    r = harness.request(
        "GET",
        e.url("/web/?x=1"),
        headers={"Host": "media.example:8920", "X-Forwarded-Proto": "https", "X-Forwarded-Protocol": "https"},
    )
    assert r.status == 200
    got = jellyfin.last
    assert got.path == "/web/index.html?x=1"
    assert got.header("host") == "localhost:8096"
    assert got.headers_named("x-forwarded-proto") == ["http"]  # the client's value replaced
    assert got.headers_named("x-forwarded-protocol") == ["http"]
    assert got.header("x-real-ip") == "127.0.0.1"
    assert got.header("x-forwarded-host") == "media.example:8920"
    assert got.header("x-forwarded-port") == str(e.port)
    assert r.header("x-content-type-options") == "nosniff"
    # API paths go through unchanged
    harness.request("GET", e.url("/Items/abc/Images/Primary"))
    assert jellyfin.last.path == "/Items/abc/Images/Primary"
    # /.well-known/ is not proxied: the local site serves it
    jellyfin.clear()
    r = harness.request("GET", e.url("/.well-known/acme-challenge/token"))
    assert r.status == 200
    assert jellyfin.requests == []
    assert local.last.path == "/.well-known/acme-challenge/token"
    # the TLS listener: X-Forwarded-Proto https, X-Forwarded-Port the TLS port
    ctx = ssl.create_default_context(cafile=ca)
    r = harness.request("GET", e.url("/web/", listener="https"), context=ctx, headers={"X-Forwarded-Proto": "http"})
    assert r.status == 200
    got = jellyfin.last
    assert got.headers_named("x-forwarded-proto") == ["https"]
    assert got.headers_named("x-forwarded-protocol") == ["https"]
    assert got.header("x-forwarded-port") == str(e.ports["https"])


def test_jellyfin_image_responses_get_the_cache_rule(site, make_upstream):
    def responder(req):
        return 200, [("Content-Type", "image/jpeg"), ("Cache-Control", "no-store")], b"\xff\xd8"

    jellyfin = make_upstream(responder=responder)
    e = site("testdata/webconfigs/jellyfin-basic.config", resolve={"localhost:8096": jellyfin})
    r = harness.request("GET", e.url("/Items/1/Images/Primary"))
    assert r.status == 200
    assert r.header("cache-control") == "max-age=604800"


# --- Paths as Envoy normalises them ------------------------------------------------------------


def test_paths_are_normalised_before_the_rules(site, make_upstream):
    default = make_upstream()
    e = site({"rules": [rule("n", "^b/c$", {"type": "Rewrite", "url": "matched"})]}, default=default)
    assert harness.request("GET", e.url("/a/../b//c")).status == 200
    assert default.last.path == "/matched"
    assert harness.request("GET", e.url("/x/%252e%252e/y")).status == 404  # double escape
    assert harness.request("GET", e.url("/bad%zz")).status == 400
    raw = harness.raw_http(e.port, b"GET /caf\xc3\xa9/\xff HTTP/1.1\r\nHost: x\r\nX-Bin: \xfe\xff\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 "), raw  # answered, never a crash
    assert harness.request("GET", e.url("/still-alive")).status == 200


# --- Timeouts and backend failures ---------------------------------------------------------------


def test_backend_timeout_is_arr_502(site, make_upstream):
    def slow(req):
        time.sleep(3)
        return 200, [], b"late"

    slow_up = make_upstream(responder=slow)
    e = site({"rules": [], "proxy": {"timeout": "00:00:01"}}, default=slow_up)
    t = time.monotonic()
    r = harness.request("GET", e.url("/slow"))
    assert r.status == 502
    assert 0.9 < time.monotonic() - t < 2.9


def test_a_long_response_that_keeps_flowing_is_not_cut(site):
    """The backend timeout is an idle timeout: a response streaming longer than it (and longer
    than nothing, i.e. no overall route timeout) completes."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def serve():
        conn, _ = srv.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(6):
                conn.sendall(b"2\r\nok\r\n")
                time.sleep(0.5)
            conn.sendall(b"0\r\n\r\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()

    class Addr:
        address = f"127.0.0.1:{port}"

    e = site({"rules": [], "proxy": {"timeout": "00:00:01"}}, default=Addr)
    r = harness.request("GET", e.url("/stream"), timeout=10)
    assert r.status == 200
    assert r.body == b"ok" * 6
    srv.close()


def test_unreachable_backend_is_arr_502(site):
    class Closed:
        address = f"127.0.0.1:{harness.free_port()}"

    e = site({"rules": []}, default=Closed)
    assert harness.request("GET", e.url("/")).status == 502


def test_no_default_upstream_is_404(site):
    e = site({"rules": []})
    assert harness.request("GET", e.url("/anything")).status == 404
