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
