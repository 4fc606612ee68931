"""The Jellyfin "web.config - Advanced" (testdata/webconfigs/jellyfin-advanced.config) imported by
`iis-rewrite envoy` and run through real Envoy in front of a real upstream that answers like
Jellyfin: HTML, images, JSON, 204, 304 and 404.

Expectations come from the configuration text and Microsoft's URL Rewrite documentation (configuration
reference, outbound rules, customHeaders; links in docs/configuration.md), written out here
independently of the engine:

* Inbound (server variables, actions): `ForwardedHttp` sets X-Forwarded-Proto/-Protocol `http` (the listener is
  plain HTTP, so {HTTPS} is `off`); `Proxy` sends every URL but `.well-known…` to
  http://localhost:8096/{R:0} with X-Real-IP, X-Forwarded-Host and X-Forwarded-Port; the
  disabled `Redirect to https` rule never fires.
* Outbound (preConditions): a preCondition gates a rule per response; an absent header reads as empty so
  `.*` / `(.*)` match and the Rewrite sets the header, replacing what the upstream sent.
  - `Add Cache` (preCondition `images`, MatchAny): REQUEST_URI contains `Items/<x>/Images/` or the
    Content-Type starts with `image/` -> `Cache-Control: public, max-age=604800`, any status,
    any client.
  - `xframeoptions` (`excludeua`, MatchAll): User-Agent does not match `webOS|playstation|Dalvik`
    (ignoreCase, the default) and the status starts with 20 -> `X-Frame-Options: SAMEORIGIN`.
    LG TVs send `Web0S` (zero): `webOS` (letter O) does not match it in any case, so as
    published they get the header; a UA spelling `WEBOS` with the letter O is excluded.
  - `csp` (`securable`): User-Agent not matching `playstation`, Content-Type `^text/html`,
    status `^20` -> the Content-Security-Policy value.
  - `permissionspolicy`: no preCondition -> every response, whatever its status or client.
  - `corp`, `coop`, `coep`, `weboscorp`: disabled -> no Cross-Origin-* header, ever.
* customHeaders after `<clear/>`: X-XSS-Protection `0`, X-Content-Type-Options `nosniff`,
  Referrer-Policy `no-referrer`, X-Robots-Tag `noindex, nofollow, noarchive` on every response
  (proxied, errors, redirects and responses the filter makes itself); no X-Powered-By.
"""

from __future__ import annotations

import os
import re
import tempfile

import pytest

import harness

CONFIG = os.path.join(harness.REPO, "testdata", "webconfigs", "jellyfin-advanced.config")

UA = {
    "desktop": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    # LG webOS TV (the Jellyfin webOS app runs in WebAppManager): "Web0S" with a zero.
    "lg-web0s": "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/87.0.4280.88 Safari/537.36 WebAppManager",
    # The pattern's own spelling, letter O, in another case: ignoreCase makes it excluded.
    "webos-letter-o": "Mozilla/5.0 (WEBOS; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Safari/537.36",
    "ps5": "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/13.0 Safari/605.1.15",
    "ps4-upper": "Mozilla/5.0 (PLAYSTATION 4 11.00) AppleWebKit/601.2 (KHTML, like Gecko)",
    "ps-lower": "jellyfin playstation client",
    "android": "Dalvik/2.1.0 (Linux; U; Android 13; Pixel 7 Build/TQ3A.230805.001)",
    "jmp": "JellyfinMediaPlayer 1.9.1 (Windows-10.0.19045 10.0)",
}

CACHE = "public, max-age=604800"
CSP = (
    "default-src 'none'; img-src 'self' https://i.ytimg.com https://image.tmdb.org "
    "https://m.media-amazon.com data:; script-src 'self' blob: https://www.youtube.com "
    "https://www.gstatic.com; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; "
    "manifest-src 'self' ; font-src 'self'; connect-src 'self'; frame-src 'self' "
    "https://www.youtube.com; frame-ancestors 'none'; base-uri 'self'"
)
PERMISSIONS = (
    "serial=(), geolocation=(), accelerometer=(), battery=(), ambient-light-sensor=(), "
    "clipboard-read=(), clipboard-write=(), display-capture=(), xr-spatial-tracking=(), "
    "interest-cohort=(), keyboard-map=(), local-fonts=(), magnetometer=(), sync-xhr=(), "
    "microphone=(), payment=(), publickey-credentials-get=(), document-domain=(), bluetooth=(), "
    "camera=(), gamepad=(self), usb=(self), encrypted-media=(), "
    'autoplay=(self "https://www.youtube.com"), fullscreen=(self), cast=(self), '
    'picture-in-picture=(self "https://www.youtube.com")'
)
CUSTOM = {
    "x-xss-protection": "0",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-robots-tag": "noindex, nofollow, noarchive",
}
DISABLED = [
    "cross-origin-resource-policy",
    "cross-origin-opener-policy",
    "cross-origin-embedder-policy",
]
ETAG = '"v1-main"'

# What the Jellyfin-like upstream serves: path -> (status, content type, extra headers, body).
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 24
RESOURCES = {
    "/web/index.html": (200, "text/html; charset=utf-8", [], b"<!doctype html><title>Jellyfin</title>"),
    "/Items/5f1c2e/Images/Primary?fillHeight=300&quality=96": (
        200,
        "image/jpeg",
        [("Cache-Control", "no-cache")],
        b"\xff\xd8\xff\xe0" + b"\0" * 32,
    ),
    "/web/assets/img/banner-light.png": (200, "image/png", [], PNG),
    "/System/Info/Public": (200, "application/json; charset=utf-8", [], b'{"ServerName":"jf"}'),
    "/Sessions/Playing/Progress": (204, None, [], b""),
    "/web/missing.html": (404, "text/html", [], b"<h1>Not found</h1>"),
    "/Items/deadbeef/Images/Backdrop/0": (404, "text/plain", [], b"no image"),
    "/web/main.js": (200, "application/javascript", [("ETag", ETAG)], b"console.log(1)"),
}


def jellyfin(req):
    path = req.path
    if path.startswith("/web/main.js") and req.header("If-None-Match") == ETAG:
        return 304, [("ETag", ETAG)], b""
    if path.startswith("/.well-known/"):
        return 200, [("Content-Type", "text/plain")], b"jellyfin should not see this"
    for key, (status, ctype, extra, body) in RESOURCES.items():
        if path == key:
            headers = list(extra)
            if ctype:
                headers.append(("Content-Type", ctype))
            return status, headers, body
    return 404, [("Content-Type", "text/html")], b"<h1>unknown</h1>"


def acme(req):
    return 200, [("Content-Type", "text/plain")], b"acme-token"


def expected_outbound(ua: str, uri: str, status: int, ctype: str | None) -> dict:
    """Headers the outbound rules set, from the config text (patterns as written, ECMAScript
    search, ignoreCase default true). Value None = the header must be absent."""
    ctype = ctype or ""
    status_20 = re.search(r"^20", str(status)) is not None
    images = re.search(r"Items/.+/Images/.*", uri, re.I) or re.search(r"^image/.+", ctype, re.I)
    excludeua = not re.search(r"webOS|playstation|Dalvik", ua, re.I) and status_20
    securable = (
        not re.search(r"playstation", ua, re.I)
        and re.search(r"^text/html", ctype, re.I)
        and status_20
    )
    return {
        "cache-control": CACHE if images else None,
        "x-frame-options": "SAMEORIGIN" if excludeua else None,
        "content-security-policy": CSP if securable else None,
        "permissions-policy": PERMISSIONS,
    }


def assert_response_headers(r, want: dict, what: str):
    for name, value in {**want, **CUSTOM}.items():
        got = r.headers_named(name)
        if value is None:
            assert got == [], f"{what}: {name} should be absent, got {got}"
        else:
            assert got == [value], f"{what}: {name} should be {value!r}, got {got}"
    for name in DISABLED + ["x-powered-by"]:
        assert r.headers_named(name) == [], f"{what}: {name} must stay off"


@pytest.fixture
def jellyfin_envoy(envoy_for, make_upstream):
    jf = make_upstream(jellyfin, name="jellyfin")
    well_known = make_upstream(acme, name="acme")
    env = envoy_for(
        CONFIG,
        default_upstream=well_known.address,
        extra_args=["--resolve", f"localhost:8096={jf.address}"],
    )
    return env, jf, well_known


def test_each_client_gets_exactly_the_headers_its_rules_give(jellyfin_envoy):
    env, jf, _ = jellyfin_envoy
    checked = 0
    for client, ua in UA.items():
        for uri, (status, ctype, _, body) in RESOURCES.items():
            r = harness.request("GET", env.url(uri), headers={"User-Agent": ua})
            what = f"{client} GET {uri}"
            assert r.status == status, f"{what}: {r.status} {r.body[:200]!r}"
            assert r.header("content-type") == ctype, what
            assert r.body == body, what
            assert_response_headers(r, expected_outbound(ua, uri, status, ctype), what)
            checked += 1
    assert checked == len(UA) * len(RESOURCES)
    # Every request went to Jellyfin with the inbound rules' headers, its path unchanged.
    reqs = jf.wait_for(checked)
    assert len(reqs) == checked
    for rec in reqs:
        assert rec.path in RESOURCES, rec.path
        assert rec.header("x-forwarded-proto") == "http"
        assert rec.header("x-forwarded-protocol") == "http"
        assert rec.header("x-real-ip") == "127.0.0.1"
        assert rec.header("x-forwarded-host") == f"127.0.0.1:{env.port}"
        assert rec.header("x-forwarded-port") == str(env.port)


def test_the_published_exceptions_per_client_spelled_out(jellyfin_envoy):
    """The same facts as the table, written by hand for the clients the exceptions are about."""
    env, _, _ = jellyfin_envoy

    def get(client, uri="/web/index.html"):
        return harness.request("GET", env.url(uri), headers={"User-Agent": UA[client]})

    # Desktop browser: everything.
    r = get("desktop")
    assert r.header("x-frame-options") == "SAMEORIGIN"
    assert r.header("content-security-policy") == CSP
    # LG webOS sends Web0S (zero): the published `webOS` exclusion does not catch it.
    r = get("lg-web0s")
    assert r.header("x-frame-options") == "SAMEORIGIN"
    assert r.header("content-security-policy") == CSP
    # `webOS` spelled with the letter O, upper case: excluded from X-Frame-Options only.
    r = get("webos-letter-o")
    assert r.header("x-frame-options") is None
    assert r.header("content-security-policy") == CSP
    # PlayStation in any case: neither header.
    for client in ("ps5", "ps4-upper", "ps-lower"):
        r = get(client)
        assert r.header("x-frame-options") is None, client
        assert r.header("content-security-policy") is None, client
        assert r.header("permissions-policy") == PERMISSIONS, client
    # Android (Dalvik): no X-Frame-Options, but CSP on HTML (only PlayStation is exempt).
    r = get("android")
    assert r.header("x-frame-options") is None
    assert r.header("content-security-policy") == CSP
    # JellyfinMediaPlayer would get Cross-Origin-Resource-Policy from `weboscorp`, which is
    # disabled; it is an ordinary client for the enabled rules.
    r = get("jmp")
    assert r.header("cross-origin-resource-policy") is None
    assert r.header("x-frame-options") == "SAMEORIGIN"
    # Images: the backend's no-cache becomes a week, for every client.
    for client in UA:
        r = get(client, "/Items/5f1c2e/Images/Primary?fillHeight=300&quality=96")
        assert r.headers_named("cache-control") == [CACHE], client
        assert r.header("content-security-policy") is None, client


def test_outbound_rules_on_304_and_404(jellyfin_envoy):
    env, _, _ = jellyfin_envoy
    for client in ("desktop", "ps5", "android"):
        ua = UA[client]
        r = harness.request(
            "GET", env.url("/web/main.js"), headers={"User-Agent": ua, "If-None-Match": ETAG}
        )
        assert r.status == 304, client
        assert r.body == b""
        assert r.header("etag") == ETAG
        assert_response_headers(
            r, expected_outbound(ua, "/web/main.js", 304, r.header("content-type")), f"{client} 304"
        )
        assert r.header("x-frame-options") is None
        # A 404 under Items/…/Images still gets the image Cache-Control (the preCondition is
        # MatchAny on the URI, with no status test), never X-Frame-Options or CSP.
        r = harness.request(
            "GET", env.url("/Items/deadbeef/Images/Backdrop/0"), headers={"User-Agent": ua}
        )
        assert r.status == 404
        assert r.headers_named("cache-control") == [CACHE]
        assert r.header("x-frame-options") is None
        assert r.header("permissions-policy") == PERMISSIONS
        for name, value in CUSTOM.items():
            assert r.headers_named(name) == [value], (client, name)


def test_well_known_is_not_proxied_but_still_gets_the_response_rules(jellyfin_envoy):
    env, jf, well_known = jellyfin_envoy
    r = harness.request(
        "GET", env.url("/.well-known/acme-challenge/tok"), headers={"User-Agent": UA["desktop"]}
    )
    assert r.status == 200 and r.body == b"acme-token"
    rec = well_known.wait_for(1)[0]
    assert rec.path == "/.well-known/acme-challenge/tok"
    # Not proxied by the Proxy rule: none of its headers; ForwardedHttp still ran.
    assert rec.header("x-real-ip") is None and rec.header("x-forwarded-host") is None
    assert rec.header("x-forwarded-proto") == "http"
    assert jf.requests == []
    assert_response_headers(
        r,
        expected_outbound(UA["desktop"], "/.well-known/acme-challenge/tok", 200, "text/plain"),
        "well-known",
    )


def test_a_response_the_filter_makes_itself_gets_custom_headers_and_rules(jellyfin_envoy):
    """A double-escaped path is refused by the filter (404, like IIS request filtering's 404.11) without reaching
    Jellyfin; customHeaders and the outbound rules still apply to that reply."""
    env, jf, well_known = jellyfin_envoy
    for client in ("desktop", "ps5"):
        r = harness.request("GET", env.url("/web/%2541.html"), headers={"User-Agent": UA[client]})
        assert r.status == 404, (client, r.status, r.body[:200])
        assert_response_headers(
            r,
            expected_outbound(UA[client], "/web/%2541.html", 404, r.header("content-type")),
            f"{client} refused",
        )
    assert jf.requests == [] and well_known.requests == []


@pytest.fixture
def redirect_enabled_config():
    """The same file with its disabled `Redirect to https` rule switched on (only that change)."""
    with open(CONFIG, encoding="utf-8") as f:
        text = f.read()
    marker = '<rule name="Redirect to https" enabled="false" stopProcessing="true">'
    assert text.count(marker) == 1
    fd, path = tempfile.mkstemp(prefix="jellyfin-redirect-", suffix=".config")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text.replace(marker, marker.replace('enabled="false"', 'enabled="true"')))
    yield path
    os.unlink(path)


def test_disabled_redirect_stays_off_and_enabled_it_redirects_with_headers(
    jellyfin_envoy, redirect_enabled_config, envoy_for, make_upstream
):
    env, jf, _ = jellyfin_envoy
    # As published (disabled): plain HTTP is proxied, not redirected.
    r = harness.request("GET", env.url("/web/index.html"), headers={"User-Agent": UA["desktop"]})
    assert r.status == 200 and r.header("location") is None

    jf2 = make_upstream(jellyfin, name="jellyfin-2")
    acme2 = make_upstream(acme, name="acme-2")
    env2 = envoy_for(
        redirect_enabled_config,
        default_upstream=acme2.address,
        extra_args=["--resolve", f"localhost:8096={jf2.address}"],
    )
    host = f"media.example.org:{env2.port}"
    for client in ("desktop", "android", "ps5"):
        for uri in ("/web/index.html?x=1", "/Items/5f1c2e/Images/Primary"):
            r = harness.request(
                "GET", env2.url(uri), headers={"User-Agent": UA[client], "Host": host}
            )
            assert r.status == 302, (client, uri, r.status)
            # {REQUEST_URI} carries the query and appendQueryString defaults to true, so IIS
            # appends the query a second time (docs/differences.md).
            query = uri.partition("?")[2]
            want = f"https://{host}{uri}" + (f"&{query}" if query else "")
            assert r.header("location") == want, (client, uri)
            # The redirect is the filter's own reply: customHeaders and the outbound rules
            # (302 is not ^20, so no X-Frame-Options/CSP; Cache-Control for the image URI).
            assert_response_headers(
                r,
                expected_outbound(UA[client], uri, 302, r.header("content-type")),
                f"{client} redirect {uri}",
            )
    assert jf2.requests == []
    # `.well-known` is excluded from the redirect and from the proxy.
    r = harness.request("GET", env2.url("/.well-known/x"), headers={"Host": host})
    assert r.status == 200 and r.body == b"acme-token"
