"""The hostile catalogue: outside inputs against one deployment (block rules, a bypass route, a
redirect built from the request, server variables built from the query and headers, a proxied
application), over HTTP/1.1 and HTTP/2 (prior knowledge), with a file server that decodes paths
behind it. Each family is data plus one test function; each case asserts a defined outcome and
that nothing blocked is served. docs/security.md lists what each family gets.
"""

from __future__ import annotations

import subprocess
import urllib.parse

import pytest

import harness
from test_security_paths import BLOCK_RULE, SECRET, assert_not_served, docroot

PROTOCOLS = ["h1", "h2"]


def send(proto, port, path: bytes, headers=()):
    if proto == "h1":
        return harness.raw_request(port, path, headers)
    return harness.h2_request(port, path, [(k.lower(), v) for k, v in headers])


def rules(echo_address: str) -> str:
    return f"""<configuration><system.webServer><rewrite><rules>{BLOCK_RULE}
  <rule name="go" stopProcessing="true">
    <match url="^go/(.*)" />
    <action type="Redirect" url="/{{R:1}}" redirectType="Found" appendQueryString="false" />
  </rule>
  <rule name="back" stopProcessing="true">
    <match url="^back$" />
    <action type="Redirect" url="{{QUERY_STRING}}" redirectType="Found" appendQueryString="false" />
  </rule>
  <rule name="echo" stopProcessing="true">
    <match url="^echo/(.*)" />
    <serverVariables>
      <set name="HTTP_X_FROM_QUERY" value="{{QUERY_STRING}}" />
      <set name="HTTP_X_FROM_HEADER" value="{{HTTP_X_IN}}" />
      <set name="HTTP_X_FROM_PATH" value="{{R:1}}" />
      <set name="HTTP_X_CLIENT" value="{{REMOTE_ADDR}}" />
    </serverVariables>
    <action type="Rewrite" url="http://{echo_address}/{{R:1}}" />
  </rule>
</rules></rewrite></system.webServer></configuration>
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory, wasm_path, cli_path, envoy_bin):
    base = tmp_path_factory.mktemp("catalogue")
    root = docroot(base / "root")
    with harness.Upstream(name="echo") as echo, harness.FileServer(root) as files:
        config = base / "web.config"
        config.write_text(rules(echo.address))
        text = harness.generate_bootstrap(config, 0, files.address, ["--bypass", "/static"])
        with harness.Envoy(text, component_log_level=None, log_level="warning") as envoy:
            yield envoy, files, echo


# ---------------------------------------------------------------------------------------------
# Separators: every encoding of '/', '\' and '.' against the block rule and the bypass route.
# "blocked": the rule answered 403; "refused": a 4xx from Envoy or the filter (bad or double
# escape, not found); never the secret.

SEPARATORS = [
    (b"/system/config/secret.txt", "blocked"),
    (b"/%2Fsystem/config/secret.txt", "blocked"),
    (b"/%2fsystem/config/secret.txt", "blocked"),
    (b"/%2F%2Fsystem/config/secret.txt", "blocked"),
    (b"/%5Csystem/config/secret.txt", "blocked"),
    (b"/%5csystem%5cconfig%5csecret.txt", "blocked"),
    (b"/\\system\\config\\secret.txt", "blocked"),
    (b"//system/config/secret.txt", "blocked"),
    (b"/./system/config/secret.txt", "blocked"),
    (b"/a/../system/config/secret.txt", "blocked"),
    (b"/a/..%2Fsystem/config/secret.txt", "blocked"),
    (b"/a/%2e%2e/system/config/secret.txt", "blocked"),
    (b"/a/%2E%2E%2Fsystem/config/secret.txt", "blocked"),
    (b"/a/.%2e/system/config/secret.txt", "blocked"),
    (b"/a/..%5Csystem/config/secret.txt", "blocked"),
    (b"/%2e/system/config/secret.txt", "blocked"),
    (b"/System/config/secret.txt", "blocked"),  # IIS matching ignores case by default
    (b"/%73ystem/config/secret.txt", "blocked"),
    (b"/%252Fsystem/config/secret.txt", "refused"),
    (b"/%25%32%46system/config/secret.txt", "refused"),
    (b"/system%00/config/secret.txt", "refused"),
    (b"/system;/config/secret.txt", "refused"),
    (b"/a/..;/system/config/secret.txt", "refused"),
    (b"/static/../system/config/secret.txt", "blocked"),
    (b"/static/..%2fsystem/config/secret.txt", "blocked"),
    (b"/static/..%5Csystem/config/secret.txt", "blocked"),
    (b"/static\\..\\system/config/secret.txt", "blocked"),
    (b"/static/%2e%2e/system/config/secret.txt", "blocked"),
    (b"/static%2F..%2Fsystem/config/secret.txt", "blocked"),
    (b"/static/./../vendor/lib/secret.txt", "blocked"),
    # `//..` removes the empty segment: the bypass route and the upstream see /static/system/…
    (b"/static//..//system/config/secret.txt", "refused"),
    (b"/static/app.css", "served"),
    (b"/static%2Fapp.css", "served"),
    (b"/web/index.html", "served"),
]


@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("path,outcome", SEPARATORS, ids=[p.decode("latin-1") for p, _ in SEPARATORS])
def test_separators(site, proto, path, outcome):
    envoy, _, _ = site
    r = send(proto, envoy.port, path)
    if outcome == "served":
        assert r.status == 200, r
        return
    assert_not_served(r, path)
    if outcome == "blocked":
        assert r.status == 403, r.status
    else:
        assert 400 <= r.status < 500, r.status


# ---------------------------------------------------------------------------------------------
# CR, LF and NUL through every template source. Raw bytes in the request line or a header
# are refused by Envoy's codecs (400, or a reset stream over HTTP/2); encoded ones reach the
# rules, and must come out in no header of the response or of the upstream request.

INJECTIONS = [
    ("query-redirect", b"/back?/x%0d%0aX-Injected:%201", ()),
    ("query-redirect-lf", b"/back?/x%0aX-Injected:%201", ()),
    ("query-redirect-nul", b"/back?/x%00X-Injected:%201", ()),
    ("path-redirect", b"/go/x%0d%0aX-Injected:%201", ()),
    ("query-servervar", b"/echo/a?x%0d%0aX-Injected:%201", ()),
    ("path-servervar", b"/echo/a%0d%0aX-Injected:%201", ()),
    ("header-servervar-nul", b"/echo/a", ((b"X-In", b"v\x00X-Injected: 1"),)),
    ("raw-path", b"/echo/a\r\nX-Injected: 1", ()),
]
# Over HTTP/1.1 a CR LF inside a header value is the end of that header line (the client sent
# two headers), so header values carrying CR/LF are an HTTP/2 case only.
H2_INJECTIONS = [
    ("header-servervar-crlf", b"/echo/a", ((b"X-In", b"v\r\nX-Injected: 1"),)),
    ("header-servervar-lf", b"/echo/a", ((b"X-In", b"v\nX-Injected: 1"),)),
]
INJECTION_CASES = [("h1",) + c for c in INJECTIONS] + [("h2",) + c for c in INJECTIONS + H2_INJECTIONS]


@pytest.mark.parametrize("proto,name,path,headers", INJECTION_CASES,
                         ids=[f"{c[1]}-{c[0]}" for c in INJECTION_CASES])
def test_crlf_nul_injection(site, proto, name, path, headers):
    envoy, _, echo = site
    before = len(echo.requests)
    r = send(proto, envoy.port, path, headers)
    assert r.status == 0 or 200 <= r.status < 600
    for k, v in r.headers:
        assert k.lower() != "x-injected", r.headers
        assert "\r" not in v and "\n" not in v and "\0" not in v, (k, v)
    for req in echo.requests[before:]:
        for k, v in req.headers:
            assert k.lower() != "x-injected", req.headers
            assert "\r" not in v and "\n" not in v and "\0" not in v, (k, v)


# ---------------------------------------------------------------------------------------------
# Open redirects: a redirect built from the path must stay on this site. After Envoy's
# normalisation `//evil` and `/\evil` are single-slash paths, so the Location is a path here.

REDIRECT_TARGETS = [
    b"/go//evil.example/",
    b"/go/%2F%2Fevil.example/",
    b"/go/%5Cevil.example/",
    b"/go/\\evil.example/",
    b"/go/%2F%5Cevil.example/",
    b"/go/..%2F%2Fevil.example/",
    b"/go/https:evil.example/",
    b"/go/%09/evil.example/",
    # A rule that redirects to {QUERY_STRING}: the filter refuses other hosts (400).
    b"/back?//evil.example",
    b"/back?/%5Cevil.example",
    b"/back?https://evil.example",
    b"/back?/\\evil.example",
]


def lands_on_another_host(location: str) -> bool:
    """What a browser does with the Location: another host or another scheme."""
    target = urllib.parse.urljoin("http://127.0.0.1/", location.replace("\\", "/").replace("\t", ""))
    u = urllib.parse.urlsplit(target)
    return u.netloc != "127.0.0.1" or u.scheme != "http"


@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("path", REDIRECT_TARGETS, ids=[p.decode() for p in REDIRECT_TARGETS])
def test_open_redirect_targets(site, proto, path):
    envoy, _, _ = site
    r = send(proto, envoy.port, path)
    location = r.header("location")
    if r.status in (301, 302, 303, 307, 308):
        assert location is not None
        assert not lands_on_another_host(location), location
    else:
        assert 400 <= r.status < 500, r.status


# ---------------------------------------------------------------------------------------------
# Oversized and repeated headers: a defined 4xx (or a reset for HTTP/2), and Envoy serves on.

OVERSIZED = [
    ("header-100k", b"/web/index.html", ((b"X-Big", b"a" * 100_000),), {431, 400, 0}),
    ("headers-90", b"/web/index.html", tuple((b"X-R", b"v%d" % i) for i in range(90)), {200}),
    # Envoy's limit is 100 headers: 431 over HTTP/1.1, a reset stream over HTTP/2.
    ("headers-200", b"/web/index.html", tuple((b"X-R", b"v%d" % i) for i in range(200)), {431, 0}),
    ("headers-total-80k", b"/web/index.html", tuple((b"X-R%d" % i, b"a" * 900) for i in range(90)), {431, 400, 0}),
    ("path-70k", b"/web/" + b"a" * 70_000, (), {431, 414, 400, 0}),
    ("query-50k", b"/echo/a?" + b"q" * 50_000, (), {200, 431, 414, 400, 0}),
    ("cookie-repeated", b"/echo/a", tuple((b"Cookie", b"c%d=1" % i) for i in range(300)), {431, 0}),
]


@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("name,path,headers,allowed", OVERSIZED, ids=[c[0] for c in OVERSIZED])
def test_oversized_and_repeated_headers(site, proto, name, path, headers, allowed):
    envoy, _, _ = site
    r = send(proto, envoy.port, path, headers)
    assert r.status in allowed, r.status
    assert SECRET not in r.body
    assert send(proto, envoy.port, b"/web/index.html").status == 200


# ---------------------------------------------------------------------------------------------
# Spoofed forwarding headers (no trusted proxy, --xff-trusted-hops 0): {REMOTE_ADDR} is the
# peer, X-Forwarded-Proto is the connection's, a client X-Real-IP does not reach the rules or
# the upstream; the filter replaces a client X-Forwarded-For by the peer (ARR's form, with the
# port); Forwarded is passed on as data and changes nothing.

SPOOFS = [
    ("xff", (b"X-Forwarded-For", b"203.0.113.7"), "x-forwarded-for",
     lambda v: v.startswith("127.0.0.1") and "203.0.113.7" not in v),
    ("xfp", (b"X-Forwarded-Proto", b"https"), "x-forwarded-proto", lambda v: v == "http"),
    ("x-real-ip", (b"X-Real-IP", b"203.0.113.7"), "x-real-ip", lambda v: v is None),
    ("forwarded", (b"Forwarded", b"for=203.0.113.7;proto=https"), "x-client", lambda v: v == "127.0.0.1"),
]


@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("name,header,seen,ok", SPOOFS, ids=[c[0] for c in SPOOFS])
def test_spoofed_forwarding_headers(site, proto, name, header, seen, ok):
    envoy, _, echo = site
    before = len(echo.requests)
    r = send(proto, envoy.port, b"/echo/spoof", (header,))
    assert r.status == 200, r.status
    req = echo.requests[before]
    assert req.header("x-client") == "127.0.0.1"
    assert ok(req.header(seen)), req.headers


# ---------------------------------------------------------------------------------------------
# The filter's own routing header, sent by a client: removed, never routes (also on the
# bypass route, where the filter does not run).

ROUTING = [b"/web/index.html", b"/static/app.css", b"/system/config/secret.txt"]


@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("path", ROUTING, ids=[p.decode() for p in ROUTING])
def test_client_sent_routing_header(site, proto, path):
    envoy, _, echo = site
    before = len(echo.requests)
    for value in (b"iis-upstream-127-0-0-1-" + str(echo.port).encode(), b"iis-wasm-download", b"../x"):
        r = send(proto, envoy.port, path, ((b"X-IIS-Rewrite-Upstream", value),))
        assert r.status in (200, 403), r.status
        assert_not_served(r, path) if r.status == 403 else None
    assert len(echo.requests) == before  # never routed to the echo application


# ---------------------------------------------------------------------------------------------
# Hostile configurations through `iis-rewrite check` and `iis-rewrite envoy`: a bounded time,
# an answer, never a crash.


def deep_nesting() -> str:
    return "<configuration>" + "<a>" * 50_000 + "</a>" * 50_000 + "</configuration>"


def huge_map() -> str:
    adds = "".join(f'<add key="/k{i}" value="/v{i}" />' for i in range(20_000))
    return (
        "<configuration><system.webServer><rewrite><rewriteMaps><rewriteMap name=\"m\">"
        f"{adds}</rewriteMap></rewriteMaps><rules><rule name=\"r\"><match url=\"(.*)\" />"
        '<action type="Rewrite" url="{m:{R:1}}" /></rule></rules></rewrite>'
        "</system.webServer></configuration>"
    )


def entity_expansion() -> str:
    ents = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
    )
    return f'<?xml version="1.0"?><!DOCTYPE c [{ents}]><configuration>&i;</configuration>'


def amplifying() -> str:
    from test_security_paths import amplifying_rules

    return amplifying_rules()


def deep_groups() -> str:
    pattern = "(" * 5000 + "a" + ")" * 5000
    return (
        "<configuration><system.webServer><rewrite><rules><rule name=\"r\">"
        f'<match url="{pattern}" /><action type="None" /></rule></rules></rewrite>'
        "</system.webServer></configuration>"
    )


HOSTILE_CONFIGS = [
    # Unknown elements are ignored however deep (no recursion in the reader): nothing to serve.
    ("deep-nesting", deep_nesting, {"check": "accepted", "envoy": "accepted"}),
    ("huge-map", huge_map, {"check": "accepted", "envoy": "accepted"}),
    ("entity-expansion", entity_expansion, {"check": "refused", "envoy": "refused"}),
    ("amplifying-templates", amplifying, {"check": "accepted", "envoy": "accepted"}),
    ("deep-regex-groups", deep_groups, {"check": "refused", "envoy": "refused"}),
]


@pytest.mark.parametrize("command", ["check", "envoy"])
@pytest.mark.parametrize("name,make,expected", HOSTILE_CONFIGS, ids=[c[0] for c in HOSTILE_CONFIGS])
def test_hostile_configurations(tmp_path, cli_path, command, name, make, expected):
    path = tmp_path / "web.config"
    path.write_text(make())
    args = [cli_path, command, str(path)]
    if command == "envoy":
        args += ["--wasm", "x.wasm", "--listen", "127.0.0.1:0", "-o", str(tmp_path / "out.yaml")]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert p.returncode in (0, 1, 2), (p.returncode, p.stderr[-2000:])  # an answer, not a crash
    assert "panicked" not in p.stderr
    want = expected[command]
    if want == "accepted":
        assert p.returncode == 0, p.stderr[-2000:]
    elif want == "refused":
        assert p.returncode != 0 and p.stderr.strip(), p.stdout[-500:]
