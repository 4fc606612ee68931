"""Metrics and logs in real Envoy: per-rule hit counters and per-action counters under
`wasmcustom.iis_rewrite.<set>.…` on /stats, labelled `iis_rewrite_rule_hits{…}` /
`iis_rewrite_action{…}` on /stats/prometheus (the generated bootstrap's stats_tags), counts that
match the traffic sent; and nothing logged by the filter at info level per request.
"""

from __future__ import annotations

import re

import pytest

from deploy_support import WASM, Envoy, Upstream, build, cli, request

RULES = """<rules>
  <rule name="Old page" stopProcessing="true">
    <match url="^old$" /><action type="Redirect" url="/new" />
  </rule>
  <rule name="Gone" stopProcessing="true">
    <match url="^gone$" />
    <action type="CustomResponse" statusCode="410" statusReason="Gone" statusDescription="gone" />
  </rule>
  <rule name="Local" stopProcessing="true">
    <match url="^local/(.*)$" /><action type="Rewrite" url="/{R:1}" />
  </rule>
  <rule name="Static">
    <match url="^static/" /><action type="None" />
  </rule>
  <rule name="App" stopProcessing="true">
    <match url="^api/(.*)" /><action type="Rewrite" url="http://app.test:8000/{R:1}" />
  </rule>
</rules>
"""

# (path, status, rules that fire, action kind)
TRAFFIC = [
    ("/old", 301, ["Old_page"], "redirect"),
    ("/old", 301, ["Old_page"], "redirect"),
    ("/gone", 410, ["Gone"], "custom_response"),
    ("/local/x", 200, ["Local"], "rewrite"),
    ("/api/items", 200, ["App"], "proxy"),
    ("/api/items", 200, ["App"], "proxy"),
    ("/api/items", 200, ["App"], "proxy"),
    ("/static/a.css", 200, ["Static"], "continue"),
    ("/other", 200, [], "continue"),
]


@pytest.fixture(scope="module")
def envoy_after_traffic(tmp_path_factory):
    build()
    tmp = tmp_path_factory.mktemp("metrics")
    (tmp / "rules.config").write_text(RULES)
    with Upstream("app") as app:
        bootstrap = cli("envoy", str(tmp / "rules.config"), "--wasm", str(WASM),
                        "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                        "--default-upstream", f"127.0.0.1:{app.port}",
                        "--resolve", f"app.test:8000=127.0.0.1:{app.port}").stdout
        # The log level operators run with: wasm at info.
        with Envoy(bootstrap, component_log_level="wasm:info") as envoy:
            port = envoy.ports["http"]
            log_before_traffic = len(envoy.log_text())
            for path, status, _, _ in TRAFFIC:
                got, _, _ = request("GET", f"http://127.0.0.1:{port}{path}", {"Host": "site.test"})
                assert got == status, path
            # The counts reach Envoy's counters at the filter's next flush.
            envoy.flushed_stats()
            yield envoy, log_before_traffic


def expected_counts():
    rules, actions = {}, {}
    for _, _, fired, kind in TRAFFIC:
        for r in fired:
            rules[r] = rules.get(r, 0) + 1
        actions[kind] = actions.get(kind, 0) + 1
    return rules, actions


def test_stats_show_rule_and_action_counters(envoy_after_traffic):
    envoy, _ = envoy_after_traffic
    stats = envoy.stats_with("wasmcustom.iis_rewrite.")
    rules, actions = expected_counts()
    for rule in ["Old_page", "Gone", "Local", "Static", "App"]:
        assert int(stats[f"wasmcustom.iis_rewrite.default.rule.{rule}.hits"]) == rules.get(rule, 0), rule
    for kind in ["continue", "rewrite", "proxy", "redirect", "custom_response", "abort", "refuse"]:
        assert int(stats[f"wasmcustom.iis_rewrite.default.action.{kind}"]) == actions.get(kind, 0), kind
    assert int(stats["wasmcustom.iis_rewrite.config_rejected"]) == 0


def parse_prometheus(text: str) -> dict[tuple[str, frozenset], float]:
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)', line)
        if not m:
            continue
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def test_prometheus_has_labelled_counters(envoy_after_traffic):
    envoy, _ = envoy_after_traffic
    text = envoy.admin_get("/stats/prometheus")
    assert "# TYPE iis_rewrite_rule_hits counter" in text
    assert "# TYPE iis_rewrite_action counter" in text
    metrics = parse_prometheus(text)
    rules, actions = expected_counts()
    for rule, n in rules.items():
        key = ("iis_rewrite_rule_hits", frozenset({("iis_rule_set", "default"), ("iis_rule", rule)}))
        assert metrics[key] == n, rule
    for kind, n in actions.items():
        key = ("iis_rewrite_action", frozenset({("iis_rule_set", "default"), ("iis_action", kind)}))
        assert metrics[key] == n, kind
    assert metrics[("iis_rewrite_config_rejected", frozenset())] == 0


def test_nothing_is_logged_at_info_per_request(envoy_after_traffic):
    envoy, log_before_traffic = envoy_after_traffic
    # Startup logs the rule sets it loaded at info ...
    assert re.search(r"\[info\]\[wasm\].*iis-rewrite: rule set \"default\" loaded: 5 rules",
                     envoy.log_text()[:log_before_traffic])
    # ... but the requests added no wasm line at info or above.
    during = envoy.log_text()[log_before_traffic:]
    wasm_lines = [l for l in during.splitlines() if "][wasm]" in l]
    assert wasm_lines == [], wasm_lines[:5]
