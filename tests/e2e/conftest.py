"""Session fixtures for the end-to-end suite: the built wasm, the built CLI, the Envoy binary;
function fixtures that start upstreams and Envoys and always stop them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402


def _cargo_build(args):
    """harness.cargo_build; a failed build stops the session."""
    try:
        harness.cargo_build(args)
    except RuntimeError as e:
        pytest.exit(str(e), returncode=3)


@pytest.fixture(scope="session")
def wasm_path() -> str:
    if "IIS_REWRITE_WASM" not in os.environ:
        _cargo_build(["-p", "iis-rewrite-filter", "--target", "wasm32-wasip1"])
    path = harness.wasm_file()
    assert os.path.exists(path), f"{path} missing: run scripts/setup.sh"
    return path


@pytest.fixture(scope="session")
def headers_wasm_path(wasm_path) -> str:
    """The headers-only module (scripts/build-wasm.sh builds both)."""
    if os.environ.get("IIS_REWRITE_E2E_NO_BUILD") != "1":
        r = subprocess.run([os.path.join(harness.REPO, "scripts", "build-wasm.sh")], cwd=harness.REPO,
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.exit(f"scripts/build-wasm.sh failed:\n{r.stderr[-4000:]}", returncode=3)
    path = os.path.join(os.path.dirname(wasm_path), "iis_rewrite_filter_headers.wasm")
    assert os.path.exists(path), f"{path} missing: run scripts/setup.sh"
    return path


@pytest.fixture(scope="session")
def cli_path() -> str:
    if "IIS_REWRITE_CLI" not in os.environ:
        _cargo_build(["-p", "iis-rewrite"])
    path = harness.cli_file()
    assert os.path.exists(path), f"{path} missing: run scripts/setup.sh"
    return path


@pytest.fixture(scope="session")
def envoy_bin() -> str:
    return harness.envoy_binary()


@pytest.fixture
def upstream():
    """A recording echo upstream, closed after the test."""
    with harness.Upstream() as u:
        yield u


@pytest.fixture
def make_upstream():
    """Factory: make_upstream(responder=None, tls=None, name=...) -> Upstream; all closed after."""
    made = []

    def make(*args, **kwargs):
        u = harness.Upstream(*args, **kwargs)
        made.append(u)
        return u

    yield make
    for u in made:
        u.close()


@pytest.fixture
def make_envoy(wasm_path, cli_path, envoy_bin):
    """Factory: make_envoy(yaml_text_or_path, **Envoy kwargs) -> started Envoy; all stopped after
    the test (also when it fails)."""
    made = []

    def make(config, **kwargs):
        kwargs.setdefault("start", False)
        e = harness.Envoy(config, **kwargs)
        made.append(e)
        return e.start()

    yield make
    for e in made:
        e.stop()


@pytest.fixture
def envoy_for(make_envoy):
    """Factory: envoy_for(config_file, default_upstream=None, extra_args=(), **Envoy kwargs):
    generate the bootstrap with `iis-rewrite envoy` and start it."""

    def start(config_file, default_upstream=None, extra_args=(), **kwargs):
        text = harness.generate_bootstrap(config_file, 0, default_upstream, extra_args)
        return make_envoy(text, **kwargs)

    return start
