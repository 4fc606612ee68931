"""The newcomer's path of issue 4: the Jellyfin advanced web.config as published is refused at
its typo; the fixed file runs on Envoy with the two commands, and its response hardening works."""

import subprocess

import pytest

import harness

PUBLISHED = "testdata/webconfigs/jellyfin-advanced-published.config"
FIXED = "testdata/webconfigs/jellyfin-advanced.config"


def test_check_points_at_the_published_typo(cli_path):
    r = subprocess.run([cli_path, "check", PUBLISHED], cwd=harness.REPO, capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.startswith(f"{PUBLISHED}:69:17: error: malformed XML"), r.stderr


@pytest.fixture
def jellyfin(make_upstream, envoy_for):
    def responder(req):
        if "/Images/" in req.path:
            return 200, [("Content-Type", "image/png")], b"png"
        return 200, [("Content-Type", "text/html; charset=utf-8")], b"<html></html>"

    jf, local = make_upstream(responder=responder, name="jellyfin"), make_upstream(name="local")
    e = envoy_for(FIXED, local.address, ["--resolve", f"localhost:8096={jf.address}"])
    return e, jf, local


def test_fixed_advanced_config_runs_with_its_headers(jellyfin):
    e, jf, local = jellyfin
    r = harness.request("GET", e.url("/web/index.html"), headers={"User-Agent": "Mozilla/5.0"})
    assert r.status == 200
    assert jf.last.path == "/web/index.html"
    assert jf.last.headers_named("x-forwarded-proto") == ["http"]
    assert r.header("content-security-policy").startswith("default-src 'none'; img-src 'self'")
    assert r.header("x-frame-options") == "SAMEORIGIN"
    assert r.header("permissions-policy").startswith("serial=(), geolocation=()")
    assert r.header("referrer-policy") == "no-referrer"
    assert r.header("x-robots-tag") == "noindex, nofollow, noarchive"
    assert r.header("cross-origin-resource-policy") is None  # disabled rules stay off


def test_fixed_advanced_config_preconditions(jellyfin):
    e, jf, local = jellyfin
    ps = harness.request("GET", e.url("/web/index.html"), headers={"User-Agent": "playstation 5"})
    assert ps.header("content-security-policy") is None  # "securable" excludes it
    assert ps.header("x-frame-options") is None  # "excludeua" excludes it
    img = harness.request("GET", e.url("/Items/1/Images/Primary"), headers={"User-Agent": "Mozilla/5.0"})
    assert img.header("cache-control") == "public, max-age=604800"
    assert img.header("content-security-policy") is None  # not text/html
    r = harness.request("GET", e.url("/.well-known/acme-challenge/t"))
    assert r.status == 200
    assert local.last.path == "/.well-known/acme-challenge/t"
