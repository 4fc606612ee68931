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


# --------------------------------------------------------------------------------------------
# `explain` sees the path Envoy hands the filter

PATH_PROBE = """<configuration><system.webServer><rewrite>
  <allowedServerVariables>
    <add name="HTTP_X_SEEN_URL" />
    <add name="HTTP_X_SEEN_RAW" />
  </allowedServerVariables>
  <rules>
    <rule name="block" stopProcessing="true">
      <match url="^(system|admin)(/|$)" ignoreCase="false" />
      <action type="CustomResponse" statusCode="403" statusReason="Forbidden" statusDescription="blocked" />
    </rule>
    <rule name="show">
      <match url="(.*)" />
      <serverVariables>
        <set name="HTTP_X_SEEN_URL" value="{R:1}" />
        <set name="HTTP_X_SEEN_RAW" value="{UNENCODED_URL}" />
      </serverVariables>
      <action type="None" />
    </rule>
  </rules>
</rewrite></system.webServer></configuration>
"""

# Paths a client can send that a normaliser may read differently: encoded and raw separators,
# dot segments in every spelling, `;` after dots, merged slashes, escapes of unreserved and
# reserved characters, a stray `%`, non-ASCII text, and a query that must be left alone.
ODD_PATHS = [
    "/plain/file.txt",
    "/a/../b",
    "/a/./b",
    "/a/b/..",
    "/a/.",
    "/../../etc/passwd",
    "/%2Fsystem/config",
    "/%2f%2fsystem/config",
    "//system/config",
    "/a/..%2F/system/config",
    "/a/%2e%2e/system/config",
    "/a/.%2e/system/config",
    "/a/%2E./system/config",
    "/.%2e/admin",
    "/a/%2e/b",
    "/a/%2e",
    "/%5Csystem/config",
    "/\\system\\config",
    "/a/..%5Csystem/config",
    "/static/..%2fsystem/config",
    "/static//..//system/config",
    "/a/b%2F..%2F..%2Fadmin",
    "/..%2f..%2fadmin",
    "/app/..;/admin/config",
    "/system;/config",
    "/a/..;/system/config",
    "/admin;x=1/config",
    "/%41dmin/config",
    "/%61dmin/config",
    "/%7euser/%2d%5f",
    "/a%20b",
    "/a%3Fb?q=1",
    "/a%3fb%2A%2a",
    "/100%25",
    "/100%",
    "/a%zzb",
    "/caf%C3%A9",
    "/caf\u00e9",
    "/a//b///c/",
    "/x?q=/../%2F&r=\\",
    "/a?x=%00",
    "/A/./B/../C?x=1",
    "/a!$&'()*+,;=:@b",
    "/a[b]c",
    "/%252Fsystem/config",
    "/a/b/..;x/c",
    "/a/b/.;.;/c",
    "/a;b/..;/admin",
    "/a/b/..;\\c/admin",
    "/a/b/.%2e;/c",
    "/a/b%5c..;/c",
    "/a/...;/b",
    "/a/b/..;%2f/c",
    "/a/b/..%2f;/c",
    "/a%2eb/.%2e./c",
    '/a"b<c>{d}|e^f`g',
    "/a%00b",
    "/a b",
    "/a\x7fb",
]


def _explain(cli, config, path):
    r = harness.subprocess.run(
        [cli, "explain", str(config), "--url", path, "--json"],
        cwd=harness.REPO, capture_output=True, text=True, timeout=30,
    )
    assert r.returncode == 0, r.stderr
    return harness.json.loads(r.stdout)


def _header(recorded, name):
    """A header as the bytes that arrived, read as UTF-8 (http.server reads them as Latin-1)."""
    value = recorded.header(name)
    return value.encode("latin-1").decode("utf-8") if value is not None else None


def _through_envoy(env, upstream, path):
    upstream.clear()
    raw = harness.raw_http(
        env.port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n"
    )
    status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else None
    return status, upstream.last


def test_explain_and_envoy_see_the_same_path(tmp_path, cli_path, upstream, envoy_for):
    config = tmp_path / "web.config"
    config.write_text(PATH_PROBE)
    env = envoy_for(config, default_upstream=upstream.address)
    differences = []
    for path in ODD_PATHS:
        explained = _explain(cli_path, config, path)
        outcome = explained["decision"]["outcome"]
        status, seen = _through_envoy(env, upstream, path)
        if outcome["kind"] == "continue":
            headers = {h["name"]: h["value"] for h in explained["decision"]["request_headers"]}
            want = (200, explained["path"], headers.get("x-seen-url"), headers.get("x-seen-raw"))
            got = (status,) + (
                (seen.path, _header(seen, "x-seen-url"), _header(seen, "x-seen-raw")) if seen else (None,) * 3
            )
        else:
            want = (outcome.get("status"), None)
            got = (status, seen.path if seen else None)
        if want != got:
            differences.append(f"{path!r}: explain {want} envoy {got}")
    assert not differences, "\n".join(differences)
