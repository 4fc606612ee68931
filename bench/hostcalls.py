#!/usr/bin/env python3
"""What a request costs at the proxy-wasm boundary: Envoy CPU µs per request, per host-call design.

Every wasm arm but two runs the same module (bench/hostcalls/, the filter's SDK and release
profile), its per-request work named by the plugin configuration (see bench/hostcalls/src/
variant.rs): 8 request-header reads one by one or as one pairs read, 4 request-header writes one
by one or as one pairs write, the response phase either way, 3 counter increments, one
source.address property read, 2 log-level reads, or nothing. `bare` is the same module built
without the SDK (exporting no body/trailer/log/done callback), `trimmed` the SDK build of
`nothing` with those exports removed after linking (--trimmed); `envoy` has no filter. Optional
arms run the real filter (--filter LABEL=WASM, with the Jellyfin advanced rules from
--jellyfin-json).

Each Envoy runs with one worker pinned to --proxy-cpu, wrk and the nginx upstream on --load-cpu,
loopback only. A unit is (arm, load): the load is the request wrk sends (10 or 20 realistic
browser headers, or a 1 KB / 100 KB response body). Before measuring, the script checks on the
wire that each variant does what it claims (route re-selected after the header and :path writes,
pseudo-headers intact after a pairs write over HTTP/1.1 and HTTP/2, repeated set-cookie kept,
counters counted). Then rounds, the unit order rotating every round; per unit: a discarded
warm-up, then a wrk run, CPU = Envoy's user+sys time / requests. Prints median [min..max].

  cargo build --release --target wasm32-wasip1 --manifest-path bench/hostcalls/Cargo.toml \\
      --target-dir target/bench-hostcalls
  cargo build --release --target wasm32-wasip1 --manifest-path bench/hostcalls/Cargo.toml \\
      --target-dir target/bench-hostcalls/bare --no-default-features
  .venv/bin/python bench/hostcalls.py --sdk target/bench-hostcalls/wasm32-wasip1/release/\\
      iis_rewrite_bench_hostcalls.wasm --bare target/bench-hostcalls/bare/wasm32-wasip1/\\
      release/iis_rewrite_bench_hostcalls.wasm [--rounds 3] [--units REGEX]

The trimmed module (Binaryen's wasm-metadce keeps only the exports the graph names, and the
code they reach; proxy_on_delete must stay, the SDK drops each stream's context there;
wasm-opt/wasm-metadce come with `npm install binaryen`):
  wasm-metadce --enable-bulk-memory --enable-bulk-memory-opt --enable-sign-ext \\
      --enable-nontrapping-float-to-int --enable-mutable-globals \\
      --graph-file bench/hostcalls/keep-exports.json SDK.wasm -o trimmed.wasm

Needs wrk, nginx and curl (for the HTTP/2 check), like scripts/bench.sh.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import http.client
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the proxy benchmark's process and config helpers)

COOKIE = ("jf_session=4f0c7d2a9b1e4c3f8a6d5e2b1c0f9e8d; theme=dark; lang=en-US; "
          "_ga=GA1.1.1234567890.1700000000; consent=analytics%3Dno%26ads%3Dno")
# Host + 9: a browser's navigation request (x-forwarded-for, one of the 8 reads, is absent).
HEADERS_10 = [
    ("Host", "bench.example"),
    ("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                   "Gecko) Chrome/131.0.0.0 Safari/537.36"),
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
               "*/*;q=0.8"),
    ("Accept-Language", "en-US,en;q=0.9,de;q=0.8"),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("Cookie", COOKIE),
    ("Referer", "http://bench.example/web/index.html"),
    ("Sec-Fetch-Dest", "document"),
    ("Sec-Fetch-Mode", "navigate"),
    ("Sec-Fetch-Site", "same-origin"),
]
HEADERS_20 = HEADERS_10 + [
    ("Sec-Fetch-User", "?1"),
    ("Sec-Ch-Ua", '"Chromium";v="131", "Not_A Brand";v="24"'),
    ("Sec-Ch-Ua-Mobile", "?0"),
    ("Sec-Ch-Ua-Platform", '"Windows"'),
    ("Upgrade-Insecure-Requests", "1"),
    ("Cache-Control", "max-age=0"),
    ("Priority", "u=0, i"),
    ("DNT", "1"),
    ("X-Forwarded-For", "203.0.113.7"),
    ("X-Requested-With", "XMLHttpRequest"),
]
LOADS = {
    "h10": ("/web/index.html?v=10.9", HEADERS_10),
    "h20": ("/web/index.html?v=10.9", HEADERS_20),
    "body1k": ("/body/1k", HEADERS_10),
    "body100k": ("/body/100k", HEADERS_10),
    # The proxy benchmark's request, for the real filter's arms.
    "jellyfin": (run.PATH, [("Host", "jellyfin.example.com"), ("User-Agent", run.UA)]
                 + HEADERS_10[2:]),
}

VARIANTS = ["nothing", "req-get-each", "req-get-pairs", "req-set-each", "req-set-pairs",
            "resp-each", "resp-pairs", "metrics", "source-address", "log-level"]
# The default plan: each row a unit (arm, load).
PLAN = [
    ("envoy", "h10"), ("bare", "h10"), ("nothing", "h10"),
    ("req-get-each", "h10"), ("req-get-pairs", "h10"),
    ("nothing", "h20"), ("req-get-each", "h20"), ("req-get-pairs", "h20"),
    ("req-set-each", "h10"), ("req-set-pairs", "h10"),
    ("resp-each", "h10"), ("resp-pairs", "h10"),
    ("metrics", "h10"), ("source-address", "h10"), ("log-level", "h10"),
    ("envoy", "body1k"), ("bare", "body1k"), ("nothing", "body1k"),
    ("envoy", "body100k"), ("bare", "body100k"), ("nothing", "body100k"),
    ("lua-nothing", "h10"), ("lua-req-set-each", "h10"), ("lua-resp-each", "h10"),
]
CLUSTER_HEADER = "x-bench-cluster"

# The same per-request work in an Envoy Lua filter (LuaJIT inside Envoy, header access through
# C++ calls): what a header operation costs without the wasm boundary. `lua-nothing` is the Lua
# filter's own floor.
LUA = {
    "lua-nothing": "function envoy_on_request(h) end\nfunction envoy_on_response(h) end\n",
    "lua-req-set-each": f"""
function envoy_on_request(h)
  local hs = h:headers()
  local path = hs:get(":path") or "/"
  hs:replace(":path", "/rewritten" .. path)
  hs:replace("{CLUSTER_HEADER}", "b")
  hs:replace("x-forwarded-proto", "http")
  hs:replace("x-original-url", path)
end
function envoy_on_response(h) end
""",
    "lua-resp-each": """
function envoy_on_request(h) end
function envoy_on_response(h)
  local hs = h:headers()
  for _, name in ipairs({":status", "content-type", "content-length", "cache-control", "set-cookie"}) do
    local _ = hs:get(name)
  end
  hs:replace("x-frame-options", "SAMEORIGIN")
  hs:replace("x-content-type-options", "nosniff")
  hs:replace("referrer-policy", "no-referrer")
end
""",
}


def lua_filter(code: str) -> dict:
    return {
        "name": "envoy.filters.http.lua",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
            "default_source_code": {"inline_string": code},
        },
    }


def upstream_conf(port_a: int, port_b: int, workdir: Path) -> str:
    """Two servers (clusters a and b) echoing what they received into x-echo-* headers."""
    echo = [(f"x-echo-{n}", v) for n, v in [
        ("proto", "$http_x_forwarded_proto"), ("real-ip", "$http_x_real_ip"),
        ("forwarded-host", "$http_x_forwarded_host"), ("forwarded-port", "$http_x_forwarded_port"),
        ("forwarded-for", "$http_x_forwarded_for"), ("original-url", "$http_x_original_url"),
        ("host", "$http_host"), ("upstream-header", "$http_x_iis_rewrite_upstream"),
        ("uri", "$request_uri"), ("method", "$request_method"),
        ("cluster-header", f"$http_{CLUSTER_HEADER.replace('-', '_')}"),
    ]]

    def server(port: int, name: str) -> str:
        headers = "\n".join(f"        add_header {k} \"{v}\" always;" for k, v in echo)
        return f"""
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        root {workdir}/www;
{headers}
        add_header x-echo-upstream {name} always;
        add_header Set-Cookie "a=1; Path=/" always;
        add_header Set-Cookie "b=2; Path=/; HttpOnly" always;
        add_header Cache-Control "no-cache" always;
        location /body/ {{ default_type application/octet-stream; }}
        location / {{ default_type text/html; return 200 '{"<p>" + "x" * 200 + "</p>"}'; }}
    }}"""

    return f"""
worker_processes 1;
daemon off;
pid {workdir}/upstream.pid;
error_log {workdir}/upstream-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
{server(port_a, "a")}
{server(port_b, "b")}
}}
"""


def bootstrap(listen: int, port_a: int, port_b: int, filters: list, real_filter: bool) -> dict:
    """The routes: /rewritten/ with x-bench-cluster: b goes to cluster b, the rest to a."""
    routes = [{
        "match": {"prefix": "/rewritten/",
                  "headers": [{"name": CLUSTER_HEADER, "string_match": {"exact": "b"}}]},
        "route": {"cluster": "b"},
    }]
    routes += run.iis_routes() if real_filter else [run.default_route()]
    clusters = ["b"] + (["iis|http|localhost|8096"] if real_filter else [])
    cfg = run.envoy_bootstrap(listen, port_a, filters, routes, clusters=clusters)
    for c in cfg["static_resources"]["clusters"]:
        if c["name"] == "b":
            c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"][
                "socket_address"]["port_value"] = port_b
    return cfg


def request(port: int, path: str, headers: list, method: str = "GET", body: bytes | None = None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request(method, path, body=body, headers=dict(headers))
    r = c.getresponse()
    data = r.read()
    return r.status, [(k.lower(), v) for k, v in r.getheaders()], data


def first(headers: list, name: str) -> str | None:
    return next((v for k, v in headers if k == name), None)


def check(arm: str, port: int, admin: int | None, label_filter: bool) -> list[str]:
    """What each arm must show on the wire; a list of problems."""
    if label_filter:
        return run.check_arm("c", port)
    problems = []
    status, h, _ = request(port, "/orig/page?q=1", HEADERS_10)
    if status != 200:
        return [f"status {status}"]
    routed_b = first(h, "x-echo-upstream") == "b"
    if arm in ("req-set-each", "req-set-pairs", "lua-req-set-each"):
        want = {"x-echo-upstream": "b", "x-echo-uri": "/rewritten/orig/page?q=1",
                "x-echo-original-url": "/orig/page?q=1", "x-echo-host": "bench.example",
                "x-echo-method": "GET", "x-echo-proto": "http", "x-echo-cluster-header": "b"}
        problems += [f"{k}: {first(h, k)!r}, expected {v!r}" for k, v in want.items()
                     if first(h, k) != v]
        # :method must survive a rewrite of the whole map, and a body still be forwarded.
        status, h2, _ = request(port, "/orig", HEADERS_10, "POST", b"x" * 100)
        if status != 200 and first(h2, "x-echo-upstream") is None:
            problems.append(f"POST: status {status}")
        elif first(h2, "x-echo-method") != "POST" or first(h2, "x-echo-upstream") != "b":
            problems.append(f"POST: upstream saw method {first(h2, 'x-echo-method')!r} "
                            f"on {first(h2, 'x-echo-upstream')!r}")
        # HTTP/2 downstream (prior knowledge): the same request, pseudo-headers from h2 frames.
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-D", "-", "--http2-prior-knowledge",
                              "-H", "Host: bench.example", f"http://127.0.0.1:{port}/orig/h2?x=2"],
                             capture_output=True, text=True, timeout=10).stdout.lower()
        for k, v in [("x-echo-upstream", "b"), ("x-echo-uri", "/rewritten/orig/h2?x=2"),
                     ("x-echo-host", "bench.example"), ("x-echo-method", "get")]:
            if f"{k}: {v}" not in out:
                problems.append(f"HTTP/2: upstream did not show {k}: {v}")
        if not out.startswith("http/2 200"):
            problems.append(f"HTTP/2: {out.splitlines()[:1]}")
    elif routed_b:
        problems.append("routed to b without a rewrite")
    if arm in ("resp-each", "resp-pairs", "lua-resp-each"):
        for k, v in [("x-frame-options", "SAMEORIGIN"), ("x-content-type-options", "nosniff"),
                     ("referrer-policy", "no-referrer")]:
            if first(h, k) != v:
                problems.append(f"response {k}: {first(h, k)!r}")
    for size in ("1k", "100k") if arm not in ("req-set-each", "req-set-pairs", "lua-req-set-each") else ():
        status, _, body = request(port, f"/body/{size}", HEADERS_10)
        if status != 200 or len(body) != {"1k": 1024, "100k": 102400}[size]:
            problems.append(f"/body/{size}: status {status}, {len(body)} bytes")
    cookies = [v for k, v in h if k == "set-cookie"]
    if cookies != ["a=1; Path=/", "b=2; Path=/; HttpOnly"]:
        problems.append(f"set-cookie not preserved: {cookies}")
    if arm == "metrics" and admin:
        c = http.client.HTTPConnection("127.0.0.1", admin, timeout=5)
        c.request("GET", "/stats?filter=hostcalls_bench")
        stats = c.getresponse().read().decode()
        counts = [int(n) for n in re.findall(r"hostcalls_bench\.\w+: (\d+)", stats)]
        if len(counts) != 3 or min(counts) < 1:
            problems.append(f"counters: {stats.strip()!r}")
    return problems


def wrk(args, port: int, load: str, seconds: float) -> dict:
    path, headers = LOADS[load]
    argv = ["taskset", "-c", args.load_cpu, args.wrk, "-t1", f"-c{args.connections}",
            f"-d{max(1, round(seconds))}s"]
    for k, v in headers:
        argv += ["-H", f"{k}: {v}"]
    argv.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
    n = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"requests": int(n.group(1)) if n else 0, "non_2xx": int(bad.group(1)) if bad else 0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--envoy", default=".venv/bin/envoy")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    ap.add_argument("--sdk", required=True, help="bench/hostcalls built with the SDK")
    ap.add_argument("--bare", help="bench/hostcalls built with --no-default-features")
    ap.add_argument("--trimmed", help="the --sdk module with its unused exports removed "
                    "(wasm-metadce --graph-file bench/hostcalls/keep-exports.json)")
    ap.add_argument("--filter", action="append", default=[], metavar="LABEL=WASM",
                    help="a build of the real filter, measured on the 'jellyfin' load")
    ap.add_argument("--jellyfin-json", help="iis-rewrite import of jellyfin-advanced.config")
    ap.add_argument("--units", default="", help="regex on 'arm/load': only matching units")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--proxy-cpu", default="0")
    ap.add_argument("--load-cpu", default="1")
    ap.add_argument("--json-out", default="")
    args = ap.parse_args()

    filters = dict(f.split("=", 1) for f in args.filter)
    plan = [u for u in PLAN if u[0] != "bare" or args.bare]
    if args.trimmed:
        plan += [("trimmed", load) for load in ("h10", "body1k", "body100k")]
    plan += [(label, "jellyfin") for label in filters]
    if args.units:
        plan = [u for u in plan if re.search(args.units, f"{u[0]}/{u[1]}")]
    arms = list(dict.fromkeys(arm for arm, _ in plan))

    workdir = Path(tempfile.mkdtemp(prefix="iis-hostcalls-"))
    procs: list[run.Proc] = []
    try:
        (workdir / "www" / "body").mkdir(parents=True)
        (workdir / "www" / "body" / "1k").write_bytes(b"x" * 1024)
        (workdir / "www" / "body" / "100k").write_bytes(b"x" * 102400)
        for d in (workdir, workdir / "www", workdir / "www" / "body"):
            d.chmod(0o755)  # nginx's workers may run as another user
        port_a, port_b = run.free_port(), run.free_port()
        procs.append(run.start_nginx("upstream", upstream_conf(port_a, port_b, workdir),
                                     args.load_cpu, args, workdir, port_a))
        started: dict[str, run.Proc] = {}
        for arm in arms:
            port = run.free_port()
            if arm == "envoy":
                wasm = []
            elif arm in LUA:
                wasm = [lua_filter(LUA[arm])]
            elif arm in filters:
                cfg = Path(args.jellyfin_json).read_text()
                wasm = [run.wasm_filter("iis-rewrite", filters[arm], cfg)]
            else:
                module = {"bare": args.bare, "trimmed": args.trimmed}.get(arm, args.sdk)
                variant = {"bare": None, "trimmed": "nothing"}.get(arm, arm)
                wasm = [run.wasm_filter("hostcalls", module, variant)]
            p = run.start_envoy(arm, bootstrap(port, port_a, port_b, wasm, arm in filters),
                                args, workdir, port)
            procs.append(p)
            started[arm] = p

        failed = False
        for arm, p in started.items():
            problems = check(arm, p.port, p.admin_port, arm in filters)
            if problems:
                failed = True
                print(f"arm {arm} does not do what it claims: {'; '.join(problems)}",
                      file=sys.stderr)
        if failed:
            print(f"logs in {workdir}", file=sys.stderr)
            workdir = Path()  # keep the logs
            return 1
        print(f"{len(started)} arms checked on the wire", flush=True)

        cpu: dict[tuple, list[float]] = {u: [] for u in plan}
        for r in range(args.rounds):
            order = plan[r % len(plan):] + plan[:r % len(plan)]
            for unit in order:
                p = started[unit[0]]
                wrk(args, p.port, unit[1], args.warmup)
                cpu0 = p.cpu_seconds()
                res = wrk(args, p.port, unit[1], args.seconds)
                used = p.cpu_seconds() - cpu0
                if res["requests"]:
                    cpu[unit].append(used / res["requests"] * 1e6)
                if res["non_2xx"]:
                    print(f"  {unit}: {res['non_2xx']} non-2xx", file=sys.stderr)
            print(f"round {r + 1}/{args.rounds} done", flush=True)

        print(f"\nEnvoy CPU µs/request, {args.rounds} rounds: median [min..max]; "
              f"delta vs 'nothing' on the same load (Lua arms: vs 'lua-nothing')")
        base = {load: statistics.median(v) for (arm, load), v in cpu.items()
                if arm == "nothing" and v}
        lua_base = {load: statistics.median(v) for (arm, load), v in cpu.items()
                    if arm == "lua-nothing" and v}
        for (arm, load), v in cpu.items():
            if not v:
                print(f"{arm:16} {load:9} no data")
                continue
            m = statistics.median(v)
            ref = lua_base if arm.startswith("lua-") else base
            d = f"{m - ref[load]:+6.1f}" if load in ref else "     -"
            print(f"{arm:16} {load:9} {m:7.1f} [{min(v):.1f}..{max(v):.1f}] {d}")
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(
                {f"{a}/{l}": v for (a, l), v in cpu.items()}, indent=1))
        return 0
    finally:
        for p in reversed(procs):
            p.stop()
        if workdir != Path():
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
