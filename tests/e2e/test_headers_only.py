"""The headers-only module (iis_rewrite_filter_headers.wasm, docs/deploying.md#which-module)
through real Envoy: for rules on headers it decides exactly what the full module decides, Envoy
never enters it for a response body, and a configuration with body rules is refused (Envoy does
not start) instead of being loaded with its body rules unapplied."""

from __future__ import annotations

import os

import pytest

import harness

JELLYFIN = os.path.join(harness.REPO, "testdata", "webconfigs", "jellyfin-advanced.config")
BODY_RULES = os.path.join(harness.REPO, "testdata", "webconfigs", "arr-app-under-prefix.config")
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
# What the Jellyfin rules add: the upstream sees these request headers, the client these
# response headers.
UPSTREAM_SEES = ["x-forwarded-proto", "x-forwarded-protocol", "x-real-ip", "x-forwarded-host",
                 "x-original-url"]
CLIENT_SEES = ["x-frame-options", "content-security-policy", "permissions-policy",
               "x-xss-protection", "x-content-type-options", "referrer-policy", "x-robots-tag",
               "cache-control"]


def html(_req):
    return 200, [("Content-Type", "text/html; charset=utf-8")], b"<html><a href='/x'>x</a></html>" * 40


def run(make_envoy, upstream, wasm, path):
    text = harness.generate_bootstrap(
        JELLYFIN, 0, extra_args=["--resolve", f"localhost:8096={upstream.address}"], wasm=wasm)
    env = make_envoy(text)
    upstream.clear()
    r = harness.request("GET", env.url(path), headers={"User-Agent": UA, "Host": "jellyfin.example"})
    seen = dict((k.lower(), v) for k, v in upstream.wait_for(1)[0].headers)
    # X-Forwarded-Port is the listener's port, another one for each Envoy.
    assert seen.pop("x-forwarded-port") == str(env.port)
    return env, r, seen


@pytest.mark.parametrize("path", ["/web/index.html?v=10.9", "/Items/42/Images/Primary"])
def test_header_rules_decide_as_in_the_full_module(make_envoy, make_upstream, wasm_path,
                                                   headers_wasm_path, path):
    up = make_upstream(html, name="jellyfin")
    _, full, full_seen = run(make_envoy, up, wasm_path, path)
    _, headers_only, seen = run(make_envoy, up, headers_wasm_path, path)
    assert full.status == headers_only.status == 200
    assert full.body == headers_only.body
    for name in CLIENT_SEES:
        assert headers_only.headers_named(name) == full.headers_named(name), name
    for name in UPSTREAM_SEES:
        assert seen.get(name) == full_seen.get(name), name
    assert headers_only.header("x-frame-options") == "SAMEORIGIN"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == "jellyfin.example"
    assert ("cache-control" in {k.lower() for k, _ in headers_only.headers}) == ("Images" in path)


def exports(path):
    import wasmtime

    with open(path, "rb") as f:
        module = wasmtime.Module(wasmtime.Engine(), f.read())
    return {e.name for e in module.exports}


def test_envoy_has_no_body_callback_to_enter(wasm_path, headers_wasm_path):
    body = {"proxy_on_response_body", "proxy_on_response_trailers"}
    assert body <= exports(wasm_path)
    headers_only = exports(headers_wasm_path)
    assert not body & headers_only
    assert {"proxy_on_request_headers", "proxy_on_response_headers", "proxy_on_tick"} <= headers_only


def test_a_configuration_with_body_rules_is_refused(make_envoy, headers_wasm_path, wasm_path):
    text = harness.generate_bootstrap(BODY_RULES, 0, default_upstream="127.0.0.1:9", wasm=headers_wasm_path)
    with pytest.raises(harness.EnvoyFailed) as err:
        make_envoy(text)
    assert "configuration refused: it has rules on response bodies" in err.value.log
    assert "deploy iis_rewrite_filter.wasm" in err.value.log
    # The full module loads the same configuration.
    make_envoy(harness.generate_bootstrap(BODY_RULES, 0, default_upstream="127.0.0.1:9", wasm=wasm_path))
