"""The backtracking budget is per request as well as per match, in real Envoy: a rule with five
catastrophic conditions costs two match budgets, not five (docs/security.md, "Bounded work per
request"). Before, every condition spent a whole budget of its own."""

from __future__ import annotations

import harness

CONDITION = r'<add input="{R:1}" pattern="^(\w+)+-\1$" negate="true" />'
WEB_CONFIG = f"""<configuration><system.webServer><rewrite><rules>
  <rule name="Many" stopProcessing="true">
    <match url="^m/(.*)" />
    <conditions>{CONDITION * 5}</conditions>
    <action type="CustomResponse" statusCode="403" statusReason="Forbidden" statusDescription="held" />
  </rule>
</rules></rewrite></system.webServer></configuration>
"""


def test_conditions_share_one_backtracking_budget_per_request(tmp_path, envoy_for, upstream):
    rules = tmp_path / "web.config"
    rules.write_text(WEB_CONFIG)
    env = envoy_for(rules, upstream.address)
    # A short URL: every negated condition holds after a real (failed) match.
    assert harness.request("GET", env.url("/m/ab-ba")).status == 403
    assert env.stats()["wasmcustom.iis_rewrite.backtrack_exhausted"] == 0
    # A hostile one: the first two conditions spend a match budget each, which is the request's
    # whole budget; the other three fail at once. An exhausted match is no match, so the
    # negated conditions still hold.
    r = harness.request("GET", env.url("/m/" + "a" * 3000 + "-!"), timeout=30)
    assert r.status == 403, r.status
    assert env.stats()["wasmcustom.iis_rewrite.backtrack_exhausted"] == 5
    log = env.wait_log("backtracking steps")
    assert log.count("ran out of its 1000000 step budget") == 2, log[-3000:]
    assert log.count("the request spent its 2000000 backtracking steps") == 3, log[-3000:]
    # The next request has a budget of its own.
    assert harness.request("GET", env.url("/m/ab-ba")).status == 403
    assert env.stats()["wasmcustom.iis_rewrite.backtrack_exhausted"] == 5
