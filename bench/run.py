#!/usr/bin/env python3
"""The proxy benchmark behind scripts/bench.sh (see docs/benchmarks.md).

Starts every arm once (each an Envoy or nginx pinned to the "proxy" core, one worker), an nginx
upstream and the load generators pinned to the other core, checks that each arm really does what
it claims (the response headers the Jellyfin rules add, the request headers the upstream saw),
then measures in interleaved rounds, the arm order rotating every round:

* throughput: wrk, closed loop, after a discarded warm-up;
* latency: bench/loadgen, open loop at one fixed rate for all arms (below the knee: by default
  30% of the lowest median throughput), p50/p90/p99.

Prints each arm's median with its spread (min..max over rounds), ratios to (a) and (a2), the
memory each Envoy holds (RSS and heap), and writes everything as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import http.client
from pathlib import Path

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
PATH = "/web/index.html?v=10.9"
UPSTREAM_HEADER = "x-iis-rewrite-upstream"

# What the Jellyfin advanced rules do to a GET of /web/index.html from a desktop browser, with an
# upstream answering 200 text/html: the arms (c)-(f) must all show these.
EXPECT_RESPONSE = {
    "x-xss-protection": "0",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-robots-tag": "noindex, nofollow, noarchive",
    "x-frame-options": "SAMEORIGIN",
}
EXPECT_RESPONSE_PRESENT = ["content-security-policy", "permissions-policy"]
# Echoed back by the upstream (it copies what it received into x-echo-* response headers).
EXPECT_UPSTREAM = {
    "x-echo-proto": "http",
    "x-echo-real-ip": "127.0.0.1",
    "x-echo-original-url": PATH,
}

CSP = (
    "default-src 'none'; img-src 'self' https://i.ytimg.com https://image.tmdb.org "
    "https://m.media-amazon.com data:; script-src 'self' blob: https://www.youtube.com "
    "https://www.gstatic.com; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; "
    "manifest-src 'self' ; font-src 'self'; connect-src 'self'; frame-src 'self' "
    "https://www.youtube.com; frame-ancestors 'none'; base-uri 'self'"
)
PERMISSIONS = (
    "serial=(), geolocation=(), accelerometer=(), battery=(), ambient-light-sensor=(), "
    "clipboard-read=(), clipboard-write=(), display-capture=(), xr-spatial-tracking=(), "
    "interest-cohort=(), keyboard-map=(), local-fonts=(), magnetometer=(), sync-xhr=(), "
    "microphone=(), payment=(), publickey-credentials-get=(), document-domain=(), bluetooth=(), "
    "camera=(), gamepad=(self), usb=(self), encrypted-media=(), "
    'autoplay=(self "https://www.youtube.com"), fullscreen=(self), cast=(self), '
    'picture-in-picture=(self "https://www.youtube.com")'
)
CUSTOM = [
    ("X-XSS-Protection", "0"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Robots-Tag", "noindex, nofollow, noarchive"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


# ---------------------------------------------------------------------------------------------
# Configurations


def upstream_nginx_conf(port: int, workdir: Path) -> str:
    echo = "\n".join(
        f"            add_header {name} ${var} always;"
        for name, var in [
            ("x-echo-proto", "http_x_forwarded_proto"),
            ("x-echo-real-ip", "http_x_real_ip"),
            ("x-echo-forwarded-host", "http_x_forwarded_host"),
            ("x-echo-forwarded-port", "http_x_forwarded_port"),
            ("x-echo-forwarded-for", "http_x_forwarded_for"),
            ("x-echo-original-url", "http_x_original_url"),
            ("x-echo-host", "host"),
            ("x-echo-upstream-header", "http_x_iis_rewrite_upstream"),
        ]
    )
    body = "<!doctype html><title>Jellyfin</title><p>" + "x" * 200 + "</p>\n"
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
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{
            default_type text/html;
{echo}
            return 200 '{body}';
        }}
    }}
}}
"""


def envoy_bootstrap(listen: int, upstream: int, filters: list, routes: list,
                    vhost_extra: dict | None = None, clusters: list[str] = ()) -> dict:
    def cluster(name: str) -> dict:
        return {
            "name": name,
            "type": "STATIC",
            "connect_timeout": "1s",
            "load_assignment": {
                "cluster_name": name,
                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                    "address": "127.0.0.1", "port_value": upstream}}}}]}],
            },
        }

    vhost = {"name": "all", "domains": ["*"], "routes": routes}
    vhost.update(vhost_extra or {})
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [{
                "name": "bench",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network."
                                 "http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "bench",
                        "route_config": {"name": "bench", "virtual_hosts": [vhost]},
                        "http_filters": filters + [{
                            "name": "envoy.filters.http.router",
                            "typed_config": {"@type": "type.googleapis.com/envoy.extensions."
                                                      "filters.http.router.v3.Router"},
                        }],
                    },
                }]}],
            }],
            "clusters": [cluster("upstream")] + [cluster(c) for c in clusters],
        },
    }


def default_route(**extra) -> dict:
    route = {"cluster": "upstream"}
    route.update(extra)
    return {"match": {"prefix": "/"}, "route": route}


def wasm_filter(name: str, wasm: str, configuration: str | None) -> dict:
    plugin = {
        "name": name,
        "root_id": name,
        "failure_policy": "FAIL_CLOSED",
        "vm_config": {
            "vm_id": name,
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": wasm}},
        },
    }
    if configuration is not None:
        plugin["configuration"] = {
            "@type": "type.googleapis.com/google.protobuf.StringValue",
            "value": configuration,
        }
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": plugin,
        },
    }


def iis_routes() -> list:
    """The routes the filter steers with: the cluster it names, else the default upstream."""
    return [
        {
            "match": {"prefix": "/", "headers": [{"name": UPSTREAM_HEADER, "present_match": True}]},
            "route": {"cluster_header": UPSTREAM_HEADER},
            "request_headers_to_remove": [UPSTREAM_HEADER],
        },
        default_route(),
    ]


def header(name: str, value: str, append: bool = False) -> dict:
    return {
        "header": {"key": name, "value": value},
        "append_action": "APPEND_IF_EXISTS_OR_ADD" if append else "OVERWRITE_IF_EXISTS_OR_ADD",
    }


def native_jellyfin(listen: int, upstream: int) -> dict:
    """Arm (d): the Jellyfin advanced rules in plain Envoy route configuration, as far as it goes.

    Request side: exact. Response side: customHeaders and Permissions-Policy exact; the
    user-agent exclusions become routes on a User-Agent regex; the response-status (^20) and
    response Content-Type (^text/html, ^image/) preconditions cannot be expressed (route
    configuration cannot look at the response), so X-Frame-Options and CSP are added to every
    response of a matching client and Cache-Control only by the Items/…/Images/ path.
    """
    request_headers = [
        header("x-forwarded-proto", "http"),
        header("x-forwarded-protocol", "http"),
        header("x-real-ip", "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"),
        header("x-forwarded-host", "%REQ(:authority)%"),
        header("x-forwarded-port", "%DOWNSTREAM_LOCAL_PORT%"),
        header("x-forwarded-for", "%DOWNSTREAM_REMOTE_ADDRESS%", append=True),
        header("x-original-url", "%REQ(:path)%"),
    ]
    always = [header(n, v) for n, v in CUSTOM] + [header("permissions-policy", PERMISSIONS)]
    xfo = header("x-frame-options", "SAMEORIGIN")
    csp = header("content-security-policy", CSP)
    cache = header("cache-control", "public, max-age=604800")

    def ua(regex: str) -> list:
        return [{"name": "user-agent",
                 "string_match": {"safe_regex": {"regex": f"(?i).*(?:{regex}).*"}}}]

    def route(match: dict, response: list) -> dict:
        return {"match": match, "route": {"cluster": "upstream"},
                "response_headers_to_add": response}

    routes = [
        route({"prefix": "/", "headers": ua("playstation")}, []),
        route({"prefix": "/", "headers": ua("webOS|Dalvik")}, [csp]),
        route({"safe_regex": {"regex": "(?i)/.*Items/.+/Images/.*"}}, [xfo, csp, cache]),
        route({"prefix": "/"}, [xfo, csp]),
    ]
    return envoy_bootstrap(listen, upstream, [], routes, {
        "request_headers_to_add": request_headers,
        "response_headers_to_add": always,
    })


LUA = r"""
-- The Jellyfin advanced rules as an Envoy Lua filter (same behaviour as the web.config).
local function lower(s) return string.lower(s or "") end

function envoy_on_request(h)
  local hs = h:headers()
  local si = h:streamInfo()
  local remote = si:downstreamRemoteAddress()
  local ip = string.match(remote, "^%[?(.-)%]?:%d+$") or remote
  local port = string.match(si:downstreamLocalAddress(), ":(%d+)$") or ""
  local path = hs:get(":path") or "/"
  hs:replace("x-forwarded-proto", "http")
  hs:replace("x-forwarded-protocol", "http")
  hs:replace("x-real-ip", ip)
  hs:replace("x-forwarded-host", hs:get(":authority") or "")
  hs:replace("x-forwarded-port", port)
  local xff = hs:get("x-forwarded-for")
  if xff then hs:replace("x-forwarded-for", xff .. ", " .. remote)
  else hs:replace("x-forwarded-for", remote) end
  hs:replace("x-original-url", path)
  local md = si:dynamicMetadata()
  md:set("bench.jellyfin", "ua", lower(hs:get("user-agent")))
  md:set("bench.jellyfin", "uri", lower(path))
end

function envoy_on_response(h)
  local hs = h:headers()
  local md = h:streamInfo():dynamicMetadata():get("bench.jellyfin") or {}
  local ua = md["ua"] or ""
  local uri = md["uri"] or ""
  local status = hs:get(":status") or ""
  local ctype = lower(hs:get("content-type"))
  local ok = string.find(status, "^20") ~= nil
  hs:replace("x-xss-protection", "0")
  hs:replace("x-content-type-options", "nosniff")
  hs:replace("referrer-policy", "no-referrer")
  hs:replace("x-robots-tag", "noindex, nofollow, noarchive")
  if string.find(uri, "items/.+/images/") or string.find(ctype, "^image/.") then
    hs:replace("cache-control", "public, max-age=604800")
  end
  if ok and not (string.find(ua, "webos", 1, true) or string.find(ua, "playstation", 1, true)
                 or string.find(ua, "dalvik", 1, true)) then
    hs:replace("x-frame-options", "SAMEORIGIN")
  end
  if ok and not string.find(ua, "playstation", 1, true) and string.find(ctype, "^text/html") then
    hs:replace("content-security-policy", CSP)
  end
  hs:replace("permissions-policy", PERMISSIONS)
end
"""


def lua_jellyfin(listen: int, upstream: int) -> dict:
    code = (f"local CSP = {json.dumps(CSP)}\nlocal PERMISSIONS = {json.dumps(PERMISSIONS)}\n"
            + LUA)
    lua = {
        "name": "envoy.filters.http.lua",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
            "default_source_code": {"inline_string": code},
        },
    }
    return envoy_bootstrap(listen, upstream, [lua], [default_route()])


def nginx_jellyfin_conf(listen: int, upstream: int, workdir: Path) -> str:
    """Arm (f): the same rules in nginx (maps are evaluated lazily, at response time)."""
    return f"""
worker_processes 1;
daemon off;
pid {workdir}/nginx-f.pid;
error_log {workdir}/nginx-f-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    upstream jellyfin {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    map $status $is20 {{ ~^20 1; default 0; }}
    map $http_user_agent $ua_xfo_excluded {{ ~*(webOS|playstation|Dalvik) 1; default 0; }}
    map $http_user_agent $ua_csp_excluded {{ ~*playstation 1; default 0; }}
    map $upstream_http_content_type $is_html {{ ~*^text/html 1; default 0; }}
    map "$is20$ua_xfo_excluded" $xfo {{ 10 SAMEORIGIN; default ""; }}
    map "$is20$ua_csp_excluded$is_html" $csp {{ 101 "{CSP}"; default ""; }}
    map $upstream_http_content_type $img_type {{ ~*^image/. 1; default 0; }}
    map $request_uri $img_uri {{ ~*Items/.+/Images/ 1; default 0; }}
    map "$img_uri$img_type" $cache {{ 00 ""; default "public, max-age=604800"; }}
    server {{
        listen 127.0.0.1:{listen} reuseport backlog=4096;
        location / {{
            proxy_pass http://jellyfin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto http;
            proxy_set_header X-Forwarded-Protocol http;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Original-URL $request_uri;
            proxy_hide_header X-Frame-Options;
            proxy_hide_header Content-Security-Policy;
            proxy_hide_header Permissions-Policy;
            add_header X-XSS-Protection 0 always;
            add_header X-Content-Type-Options nosniff always;
            add_header Referrer-Policy no-referrer always;
            add_header X-Robots-Tag "noindex, nofollow, noarchive" always;
            add_header X-Frame-Options $xfo always;
            add_header Content-Security-Policy $csp always;
            add_header Cache-Control $cache always;
            add_header Permissions-Policy '{PERMISSIONS}' always;
        }}
    }}
}}
"""


# ---------------------------------------------------------------------------------------------
# Processes


class Proc:
    def __init__(self, name: str, argv: list[str], port: int, log: Path):
        self.name = name
        self.port = port
        self.log = log
        self.admin_port: int | None = None
        self.logf = open(log, "wb")
        self.p = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                  start_new_session=True)

    def stop(self) -> None:
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.logf.close()

    def pids(self) -> list[int]:
        """The process and its children (nginx master + worker)."""
        out = [self.p.pid]
        try:
            kids = subprocess.run(["pgrep", "-P", str(self.p.pid)], capture_output=True,
                                  text=True).stdout.split()
            out += [int(k) for k in kids]
        except OSError:
            pass
        return out

    def rss_kb(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process and its children so far."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                pass
        return total / tick

    def heap_bytes(self) -> int | None:
        if self.admin_port is None:
            return None
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=5)
            c.request("GET", "/memory")
            data = json.loads(c.getresponse().read())
            return int(data.get("allocated", 0))
        except (OSError, ValueError):
            return None


def start_envoy(name: str, bootstrap: dict, args, workdir: Path, port: int) -> Proc:
    cfg = workdir / f"{name}.json"
    cfg.write_text(json.dumps(bootstrap, indent=1))
    admin_file = workdir / f"{name}.admin"
    argv = ["taskset", "-c", args.proxy_cpu, args.envoy, "-c", str(cfg), "--concurrency", "1",
            "--admin-address-path", str(admin_file),
            "--log-level", "warn", "--disable-hot-restart"]
    p = Proc(name, argv, port, workdir / f"{name}.log")
    wait_port(port, p.p)
    deadline = time.time() + 10
    while time.time() < deadline and not admin_file.exists():
        time.sleep(0.05)
    if admin_file.exists():
        p.admin_port = int(admin_file.read_text().strip().rsplit(":", 1)[1])
    return p


def start_nginx(name: str, conf: str, cpu: str, args, workdir: Path, port: int) -> Proc:
    path = workdir / f"{name}.conf"
    path.write_text(conf)
    argv = ["taskset", "-c", cpu, args.nginx, "-c", str(path), "-p", str(workdir),
            "-e", str(workdir / f"{name}-error.log")]
    p = Proc(name, argv, port, workdir / f"{name}.log")
    wait_port(port, p.p)
    return p


# ---------------------------------------------------------------------------------------------
# Checks and measurements


def get(port: int) -> tuple[int, dict]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", PATH, headers={"User-Agent": UA, "Host": "jellyfin.example.com"})
    r = c.getresponse()
    r.read()
    headers: dict[str, str] = {}
    for k, v in r.getheaders():
        headers[k.lower()] = v
    return r.status, headers


def check_arm(arm: str, port: int) -> list[str]:
    status, h = get(port)
    problems = []
    if status != 200:
        problems.append(f"status {status}")
    if arm == "a2" and h.get("x-bench-floor") != "1":
        problems.append("floor header x-bench-floor missing")
    if arm in ("c", "c2", "d", "e", "f"):
        for k, v in EXPECT_RESPONSE.items():
            if h.get(k) != v:
                problems.append(f"response {k}: {h.get(k)!r}, expected {v!r}")
        for k in EXPECT_RESPONSE_PRESENT:
            if k not in h:
                problems.append(f"response {k} missing")
        for k, v in EXPECT_UPSTREAM.items():
            if h.get(k) != v:
                problems.append(f"upstream saw {k[7:]}: {h.get(k)!r}, expected {v!r}")
        if h.get("x-echo-forwarded-host") != "jellyfin.example.com":
            problems.append(f"upstream saw x-forwarded-host {h.get('x-echo-forwarded-host')!r}")
        if not h.get("x-echo-forwarded-port"):
            problems.append("upstream saw no x-forwarded-port")
        if h.get("x-echo-upstream-header"):
            problems.append("the private upstream header leaked to the upstream")
    # The attribution arms: each must do its share of (c)'s work, and only that share.
    if arm in ("c-in", "c-noproxy"):
        if h.get("x-echo-proto") != "http" or h.get("x-echo-real-ip") != "127.0.0.1":
            problems.append("upstream did not see X-Forwarded-Proto / X-Real-IP")
        if (h.get("x-echo-original-url") == PATH) != (arm == "c-in"):
            problems.append(f"upstream saw x-original-url {h.get('x-echo-original-url')!r}")
    if arm in ("c-out", "c-hdr"):
        # (Envoy itself sets X-Forwarded-Proto; X-Real-IP and X-Forwarded-Host only the rules.)
        if h.get("x-echo-real-ip") or h.get("x-echo-forwarded-host"):
            problems.append("request headers were set although this arm has no inbound rules")
    if arm == "c-out":
        if h.get("x-frame-options") != "SAMEORIGIN" or "content-security-policy" not in h:
            problems.append("outbound rules did not write X-Frame-Options / CSP")
    if arm in ("c-in", "c-noproxy", "c-out") and "x-robots-tag" in h:
        problems.append("customHeaders written although this arm has none")
    if arm == "c-hdr":
        if h.get("x-robots-tag") != "noindex, nofollow, noarchive":
            problems.append("customHeaders missing")
        if "x-frame-options" in h:
            problems.append("outbound rules ran although this arm has none")
    return problems


def wrk(args, port: int, seconds: float) -> dict:
    argv = ["taskset", "-c", args.load_cpu, args.wrk, "-t1", f"-c{args.connections}",
            f"-d{max(1, round(seconds))}s", "-H", f"User-Agent: {UA}",
            "-H", "Host: jellyfin.example.com", f"http://127.0.0.1:{port}{PATH}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors:.*", out)
    return {
        "rps": float(m.group(1)) if m else 0.0,
        "requests": int(n.group(1)) if n else 0,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errs.group(0) if errs else "",
    }


def loadgen(args, port: int, rate: float, seconds: float) -> dict:
    argv = ["taskset", "-c", args.load_cpu, args.loadgen, f"127.0.0.1:{port}", PATH,
            str(rate), str(seconds), str(args.latency_connections), f"User-Agent: {UA}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": out.stderr.strip()[-300:]}


def spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


ARMS = {
    "a": "Envoy, no filter",
    "a2": "floor: minimal proxy-wasm filter (one response header)",
    "b": "iis-rewrite filter, empty rule set",
    "c": "iis-rewrite filter, Jellyfin advanced rules",
    "d": "native Envoy config, Jellyfin advanced (as far as it goes)",
    "e": "Envoy Lua filter, Jellyfin advanced",
    "f": "nginx (Debian), Jellyfin advanced",
}

# Optional attribution arms: the Jellyfin advanced rule set cut down, each
# its own iis-rewrite filter instance. Only run when their imported JSON is given with
# --cut ARM=FILE (scripts/bench.sh --attrib imports bench/attrib/*.config and passes them).
CUT_ARMS = {
    "c-in": "iis-rewrite, Jellyfin advanced: inbound rules only",
    "c-out": "iis-rewrite, Jellyfin advanced: outbound rules + preConditions only",
    "c-hdr": "iis-rewrite, Jellyfin advanced: customHeaders only",
    "c-noproxy": "iis-rewrite, Jellyfin advanced: inbound without the absolute Rewrite",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--nginx", required=True)
    ap.add_argument("--wrk", required=True)
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--wasm", required=True, help="the filter module the arms run")
    ap.add_argument("--floor", required=True, help="the floor filter's wasm")
    ap.add_argument("--wasm-alt", default="",
                    help="another build of the filter (a build setting or a design to compare): "
                    "arm (c2) runs it with the Jellyfin advanced rules beside (c)")
    ap.add_argument("--jellyfin-json", required=True, help="iis-rewrite import output")
    ap.add_argument("--empty-json", required=True, help="iis-rewrite import of an empty set")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--seconds", type=float, default=8.0, help="throughput run length")
    ap.add_argument("--latency-seconds", type=float, default=6.0)
    ap.add_argument("--rate", type=float, default=0.0,
                    help="latency request rate (0: 30%% of the lowest median throughput)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--latency-connections", type=int, default=8)
    ap.add_argument("--proxy-cpu", default="0")
    ap.add_argument("--load-cpu", default="1")
    ap.add_argument("--arms", default=",".join(ARMS))
    ap.add_argument("--json-out", default="")
    ap.add_argument("--cut", action="append", default=[], metavar="ARM=FILE",
                    help="an attribution arm (" + ", ".join(CUT_ARMS) + ") and the iis-rewrite "
                    "import output of its config (bench/attrib/ARM.config); adds ARM to the "
                    "known arms; list it in --arms to run it")
    args = ap.parse_args()
    cut_json: dict[str, str] = {}
    for item in args.cut:
        name, sep, file = item.partition("=")
        if not sep or name not in CUT_ARMS:
            print(f"--cut {item!r}: expected ARM=FILE with ARM one of {list(CUT_ARMS)}",
                  file=sys.stderr)
            return 2
        cut_json[name] = Path(file).read_text()
        ARMS[name] = CUT_ARMS[name]
    if args.wasm_alt:
        ARMS["c2"] = f"iis-rewrite filter, Jellyfin advanced rules, {Path(args.wasm_alt).name}"
    arms = [a for a in args.arms.split(",") if a]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        print(f"unknown arms {unknown}; known: {list(ARMS)} "
              f"(the attribution arms {list(CUT_ARMS)} need --cut ARM=FILE)", file=sys.stderr)
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="iis-bench-"))
    procs: list[Proc] = []
    started: dict[str, Proc] = {}
    try:
        up_port = free_port()
        procs.append(start_nginx("upstream", upstream_nginx_conf(up_port, workdir),
                                 args.load_cpu, args, workdir, up_port))
        jellyfin = Path(args.jellyfin_json).read_text()
        empty = Path(args.empty_json).read_text()
        iis_clusters = ["iis|http|localhost|8096"]
        for arm in arms:
            port = free_port()
            if arm == "a":
                p = start_envoy(arm, envoy_bootstrap(port, up_port, [], [default_route()]),
                                args, workdir, port)
            elif arm == "a2":
                p = start_envoy(arm, envoy_bootstrap(
                    port, up_port, [wasm_filter("floor", args.floor, None)], [default_route()]),
                    args, workdir, port)
            elif arm in ("b", "c", "c2") or arm in cut_json:
                cfg = {"b": empty, "c": jellyfin, "c2": jellyfin}.get(arm) or cut_json[arm]
                wasm = args.wasm_alt if arm == "c2" else args.wasm
                p = start_envoy(arm, envoy_bootstrap(
                    port, up_port, [wasm_filter("iis-rewrite", wasm, cfg)], iis_routes(),
                    clusters=iis_clusters), args, workdir, port)
            elif arm == "d":
                p = start_envoy(arm, native_jellyfin(port, up_port), args, workdir, port)
            elif arm == "e":
                p = start_envoy(arm, lua_jellyfin(port, up_port), args, workdir, port)
            else:
                p = start_nginx("f", nginx_jellyfin_conf(port, up_port, workdir), args.proxy_cpu,
                                args, workdir, port)
            procs.append(p)
            started[arm] = p

        failed = False
        for arm, p in started.items():
            problems = check_arm(arm, p.port)
            if problems:
                failed = True
                print(f"arm ({arm}) does not behave as claimed: {'; '.join(problems)}",
                      file=sys.stderr)
        if failed:
            print(f"logs in {workdir}", file=sys.stderr)
            return 1
        print(f"all {len(started)} arms checked (Jellyfin headers present where claimed)",
              flush=True)

        tput: dict[str, list[float]] = {a: [] for a in arms}
        cpu_us: dict[str, list[float]] = {a: [] for a in arms}
        lat: dict[str, list[dict]] = {a: [] for a in arms}
        t0 = time.time()
        for r in range(args.rounds):
            order = arms[r % len(arms):] + arms[:r % len(arms)]
            for arm in order:
                port = started[arm].port
                wrk(args, port, args.warmup)
                cpu0 = started[arm].cpu_seconds()
                res = wrk(args, port, args.seconds)
                cpu = started[arm].cpu_seconds() - cpu0
                if res["requests"]:
                    cpu_us[arm].append(cpu / res["requests"] * 1e6)
                if res["non_2xx"] or res["socket_errors"]:
                    print(f"  ({arm}) round {r + 1}: non-2xx {res['non_2xx']} "
                          f"{res['socket_errors']}", file=sys.stderr)
                tput[arm].append(res["rps"])
            print(f"throughput round {r + 1}/{args.rounds}: " + "  ".join(
                f"{a}={tput[a][-1]:.0f}" for a in arms) + f"  ({time.time() - t0:.0f}s)",
                flush=True)
        rate = args.rate or max(100.0, round(
            0.3 * min(statistics.median(v) for v in tput.values()), -2))
        for r in range(args.rounds):
            order = arms[r % len(arms):] + arms[:r % len(arms)]
            for arm in order:
                port = started[arm].port
                loadgen(args, port, rate, min(1.0, args.warmup))
                lat[arm].append(loadgen(args, port, rate, args.latency_seconds))
            print(f"latency round {r + 1}/{args.rounds} at {rate:.0f} req/s: " + "  ".join(
                f"{a}={lat[a][-1].get('p99_us', 0):.0f}" for a in arms) + " (p99 µs)"
                f"  ({time.time() - t0:.0f}s)", flush=True)

        results = {"rate": rate, "rounds": args.rounds, "arms": {}}
        for arm in arms:
            p = started[arm]
            ok = [x for x in lat[arm] if "p99_us" in x]
            results["arms"][arm] = {
                "label": ARMS[arm],
                "rps": tput[arm],
                "cpu_us_per_request": cpu_us[arm],
                "latency": lat[arm],
                "p50_us": [x["p50_us"] for x in ok],
                "p90_us": [x["p90_us"] for x in ok],
                "p99_us": [x["p99_us"] for x in ok],
                "late": sum(x.get("late", 0) for x in ok),
                "errors": sum(x.get("errors", 0) + x.get("non_2xx", 0) for x in ok),
                "rss_kb": p.rss_kb(),
                "heap_bytes": p.heap_bytes(),
            }
        report(results, arms)
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(results, indent=1))
        return 0
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def report(results: dict, arms: list[str]) -> None:
    a = results["arms"]
    w = max(4, *(len(arm) + 2 for arm in arms))
    base = statistics.median(a["a"]["rps"]) if "a" in a else None
    floor = statistics.median(a["a2"]["rps"]) if "a2" in a else None
    floor_p99 = statistics.median(a["a2"]["p99_us"]) if "a2" in a and a["a2"]["p99_us"] else None
    print()
    print(f"Throughput (wrk, closed loop), {results['rounds']} rounds; median [min..max]")
    print("CPU µs/req: the proxy's own CPU time (user+sys) per request during the throughput "
          "runs,\nless sensitive than req/s to other load on the machine.")
    print(f"{'arm':4} {'req/s':>8} {'spread':>15} {'/(a)':>6} {'/(a2)':>6}  "
          f"{'CPU µs/req':>10} {'-(a2)':>6}  {'RSS MB':>6} {'heap MB':>7}  description")
    floor_cpu = statistics.median(a["a2"]["cpu_us_per_request"]) \
        if "a2" in a and a["a2"]["cpu_us_per_request"] else None
    for arm in arms:
        m, lo, hi = spread(a[arm]["rps"])
        ra = f"{m / base:.3f}" if base else "-"
        rf = f"{m / floor:.3f}" if floor else "-"
        heap = a[arm]["heap_bytes"]
        heap_s = f"{heap / 1e6:.1f}" if heap else "-"
        cpu = a[arm]["cpu_us_per_request"]
        cpu_m = statistics.median(cpu) if cpu else None
        cpu_s = f"{cpu_m:.1f}" if cpu_m is not None else "-"
        cpu_d = f"{cpu_m - floor_cpu:+.1f}" if cpu_m is not None and floor_cpu else "-"
        print(f"{'(' + arm + ')':{w}} {m:8.0f} {f'[{lo:.0f}..{hi:.0f}]':>15} {ra:>6} {rf:>6}  "
              f"{cpu_s:>10} {cpu_d:>6}  "
              f"{a[arm]['rss_kb'] / 1024:6.1f} {heap_s:>7}  {a[arm]['label']}")
    print()
    print(f"Latency (open loop at {results['rate']:.0f} req/s), µs; median of rounds "
          f"[min..max of p99]")
    print(f"{'arm':4} {'p50':>7} {'p90':>7} {'p99':>7} {'p99 spread':>16} {'p99-(a2)':>9}  "
          f"late/errors")
    for arm in arms:
        x = a[arm]
        if not x["p99_us"]:
            print(f"{'(' + arm + ')':{w}} no latency data: {x['latency'][:1]}")
            continue
        p50 = statistics.median(x["p50_us"])
        p90 = statistics.median(x["p90_us"])
        p99, lo, hi = spread(x["p99_us"])
        d = f"{p99 - floor_p99:+.0f}" if floor_p99 is not None else "-"
        print(f"{'(' + arm + ')':{w}} {p50:7.0f} {p90:7.0f} {p99:7.0f} {f'[{lo:.0f}..{hi:.0f}]':>16} "
              f"{d:>9}  {x['late']}/{x['errors']}")
    if "c" in a and floor:
        c_rps = statistics.median(a["c"]["rps"])
        print()
        print("Targets for (c), the Jellyfin advanced rules:")
        lo, hi = min(a["a2"]["rps"]), max(a["a2"]["rps"])
        if hi > 1.25 * lo:
            print(f"  NOTE: the floor's throughput varied {hi / lo:.1f}x between rounds: the "
                  "machine is busy with other work, so\n  the req/s ratios below are noise; "
                  "the CPU-time ratio is the one to read.")
        print(f"  throughput (c)/(a2) = {c_rps / floor:.3f} (target >= 0.85): "
              f"{'holds' if c_rps / floor >= 0.85 else 'MISSED'}")
        c_cpu = a["c"]["cpu_us_per_request"]
        if floor_cpu and c_cpu:
            ratio = statistics.median(c_cpu) / floor_cpu
            print(f"  CPU per request (c)/(a2) = {ratio:.3f} (target <= 1.25): "
                  f"{'holds' if ratio <= 1.25 else 'MISSED'}")
        if floor_p99 is not None and a["c"]["p99_us"]:
            d = statistics.median(a["c"]["p99_us"]) - floor_p99
            print(f"  p99 (c) - (a2) = {d:+.0f} µs (target <= 25): "
                  f"{'holds' if d <= 25 else 'MISSED'}")
        if "e" in a:
            e_rps = statistics.median(a["e"]["rps"])
            print(f"  throughput (c)/(e Lua) = {c_rps / e_rps:.3f} (target > 1): "
                  f"{'holds' if c_rps > e_rps else 'MISSED'}")
            e_cpu = a["e"]["cpu_us_per_request"]
            if c_cpu and e_cpu:
                cc, ec = statistics.median(c_cpu), statistics.median(e_cpu)
                print(f"  CPU per request (c) {cc:.1f} against (e Lua) {ec:.1f} µs "
                      f"(target: less): {'holds' if cc < ec else 'MISSED'}")
        if "d" in a:
            d_rps = statistics.median(a["d"]["rps"])
            print(f"  (d native)/(c) = {d_rps / c_rps:.3f} (target <= 1.1): "
                  f"{'holds' if d_rps / c_rps <= 1.1 else 'MISSED'}")


if __name__ == "__main__":
    sys.exit(main())
