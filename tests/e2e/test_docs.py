"""The examples shown in the README and docs/ are fixtures that run: the configuration example
of docs/configuration.md is testdata/examples/configuration.json and `check` accepts it; the
README's `check` and `explain` commands print what the README shows; every repository path the
pages name exists."""

import json
import os
import re
import shlex
import subprocess

import pytest

import harness

README = os.path.join(harness.REPO, "README.md")
DOCS = os.path.join(harness.REPO, "docs")
# Fenced blocks: (info string, body), in order of appearance.
FENCE = re.compile(r"^```([a-z]*)\n(.*?)^```$", re.S | re.M)


def _blocks(path):
    with open(path, encoding="utf-8") as f:
        return FENCE.findall(f.read())


def _commands(body):
    """Shell lines of a block, with backslash continuations joined."""
    return [c.strip() for c in body.replace("\\\n", " ").splitlines() if c.strip()]


def _cli(cli_path, command):
    args = shlex.split(command)
    assert args[0] == "target/release/iis-rewrite", command
    return subprocess.run([cli_path, *args[1:]], cwd=harness.REPO, capture_output=True, text=True,
                          timeout=60)


def test_configuration_example_is_the_fixture(cli_path):
    shown = [body for lang, body in _blocks(os.path.join(DOCS, "configuration.md")) if lang == "json"]
    fixture = os.path.join(harness.REPO, "testdata", "examples", "configuration.json")
    with open(fixture, encoding="utf-8") as f:
        text = f.read()
    assert shown and shown[0] == text, "docs/configuration.md must show testdata/examples/configuration.json"
    json.loads(text)
    r = subprocess.run([cli_path, "check", fixture], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok: 3 rules, 2 outbound rules, 1 preCondition, 1 rewrite map, 1 server farm" in r.stdout


def test_readme_commands_print_what_the_readme_shows(cli_path):
    blocks = _blocks(README)
    ran = 0
    for i, (lang, body) in enumerate(blocks):
        if lang != "sh":
            continue
        for command in _commands(body):
            if not re.match(r"target/release/iis-rewrite (check|explain) ", command):
                continue
            r = _cli(cli_path, command)
            assert r.returncode == 0, (command, r.stdout, r.stderr)
            following = blocks[i + 1] if i + 1 < len(blocks) else ("", "")
            assert following[0] == "", f"{command}: the README shows no output after it"
            for line in following[1].splitlines():
                assert line in r.stdout.splitlines(), (command, line, r.stdout)
            ran += 1
    assert ran >= 2


def test_published_jellyfin_advanced_error_position_is_as_documented(cli_path):
    r = _cli(cli_path, "target/release/iis-rewrite check testdata/webconfigs/jellyfin-advanced-published.config")
    assert r.returncode == 1
    assert "jellyfin-advanced-published.config:69:17: error: malformed XML" in r.stderr + r.stdout


PATH_IN_TEXT = re.compile(r"`((?:testdata|envoy|scripts|tests|bench)/[^`\s*…<>]+)`")


@pytest.mark.parametrize(
    "page",
    ["README.md", "testdata/README.md"]
    + sorted(os.path.join("docs", p) for p in os.listdir(DOCS) if p.endswith(".md")),
)
def test_named_repository_paths_exist(page):
    with open(os.path.join(harness.REPO, page), encoding="utf-8") as f:
        text = f.read()
    base = os.path.dirname(os.path.join(harness.REPO, page))
    missing = []
    for path in set(PATH_IN_TEXT.findall(text)):
        path = path.split("::")[0].rstrip(".,;:")
        # Paths are written from the repository root; testdata/README.md also names its own files.
        if not any(os.path.exists(os.path.join(root, path)) for root in (harness.REPO, base)):
            missing.append(path)
    assert not missing, f"{page} names paths that do not exist: {sorted(missing)}"
