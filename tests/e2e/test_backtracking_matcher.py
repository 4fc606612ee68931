"""Patterns only the backtracking matcher runs (a back-reference, a look-ahead after a prefix), in
real Envoy: they match as ECMAScript says, and a hostile URL against a catastrophic pattern is cut
off by the step budget (no match, a debug log line) instead of holding the worker."""

from __future__ import annotations

import concurrent.futures
import os
import tempfile
import time

import pytest

import harness

WEB_CONFIG = r"""<configuration>
  <system.webServer>
    <rewrite>
      <rules>
        <rule name="Hotlink" stopProcessing="true">
          <match url="\.png$" />
          <conditions>
            <add input="{HTTP_REFERER}" pattern="^$" negate="true" />
            <add input="{HTTP_HOST}|{HTTP_REFERER}" pattern="^([^|]+)\|https?://\1/" negate="true" />
          </conditions>
          <action type="CustomResponse" statusCode="403" statusReason="Forbidden" statusDescription="hotlink" />
        </rule>
        <rule name="Twice" stopProcessing="true">
          <match url="^t/(\w+)+-\1$" />
          <action type="CustomResponse" statusCode="418" statusReason="Twice" statusDescription="twice" />
        </rule>
        <rule name="Public" stopProcessing="true">
          <match url="^files/(?!private/)(.*)$" />
          <action type="Rewrite" url="http://backend:9000/pub/{R:1}" />
        </rule>
        <rule name="Rest" stopProcessing="true">
          <match url=".*" />
          <action type="Rewrite" url="http://backend:9000/{R:0}" />
        </rule>
      </rules>
    </rewrite>
  </system.webServer>
</configuration>
"""


@pytest.fixture
def env_and_backend(envoy_for, make_upstream):
    backend = make_upstream(name="backend")
    fd, path = tempfile.mkstemp(prefix="backtrack-", suffix=".config")
    with os.fdopen(fd, "w") as f:
        f.write(WEB_CONFIG)
    try:
        env = envoy_for(path, extra_args=["--resolve", f"backend:9000={backend.address}"])
        yield env, backend
    finally:
        os.unlink(path)


def test_back_reference_and_look_ahead_rules_match_as_ecmascript(env_and_backend):
    env, backend = env_and_backend
    host = f"img.example:{env.port}"
    # Same host in the Referer (any case: ignoreCase): served.
    r = harness.request(
        "GET", env.url("/a/logo.png"), headers={"Host": host, "Referer": f"http://IMG.example:{env.port}/page"}
    )
    assert r.status == 200 and backend.last.path == "/a/logo.png"
    # Another site's Referer: 403 from the rule.
    r = harness.request(
        "GET", env.url("/a/logo.png"), headers={"Host": host, "Referer": "https://evil.example/x"}
    )
    assert r.status == 403
    # \1 inside the URL pattern.
    assert harness.request("GET", env.url("/t/ab-ab")).status == 418
    assert harness.request("GET", env.url("/t/ab-ba")).status == 200
    # Look-ahead after a prefix.
    backend.clear()
    assert harness.request("GET", env.url("/files/docs/a.txt")).status == 200
    assert backend.last.path == "/pub/docs/a.txt"
    assert harness.request("GET", env.url("/files/private/key")).status == 200
    assert backend.last.path == "/files/private/key"
    # Nothing here needed more than the budget.
    assert env.stats()["wasmcustom.iis_rewrite.backtrack_exhausted"] == 0


def test_hostile_url_is_cut_off_by_the_step_budget(env_and_backend):
    env, backend = env_and_backend
    hostile = "/t/" + "a" * 3000 + "!"
    t = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        slow = pool.submit(harness.request, "GET", env.url(hostile))
        # The same single worker keeps serving other requests.
        quick = [pool.submit(harness.request, "GET", env.url(f"/ok/{i}")) for i in range(3)]
        results = [f.result(timeout=10) for f in quick]
        r = slow.result(timeout=10)
    elapsed = time.monotonic() - t
    # Budget exhausted = no match: the request falls through to the next rule and is proxied.
    assert r.status == 200, r.status
    assert backend.wait_for(4)
    assert any(rec.path == hostile for rec in backend.requests)
    assert all(x.status == 200 for x in results)
    assert elapsed < 5, elapsed
    # Counted once, as an Envoy counter.
    assert env.stats()["wasmcustom.iis_rewrite.backtrack_exhausted"] == 1
    log = env.wait_log("step budget")
    assert "ran out of its 1000000 step budget" in log, log[-3000:]
    assert '"^t/(\\w+)+-\\1$"' in log or "^t/(\\w+)+-\\1$" in log
