//! Listeners, the HTTP connection manager, the wasm filter, routes and local-reply mapping.

use std::net::SocketAddr;

use super::{seconds, socket_address, EnvoyOptions, FILTER_NAME};
use crate::yaml::Y;

const HCM_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const WASM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
const ROUTER_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const DOWNSTREAM_TLS_TYPE: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";
const EARLY_HEADER_MUTATION_TYPE: &str =
    "type.googleapis.com/envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation";
const STDOUT_LOG_TYPE: &str =
    "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";

/// Access log line: the client's request line (the original URL the filter recorded in
/// X-Original-URL when a rule rewrote), the status with Envoy's response flags and details,
/// the cluster and the path that went upstream.
const ACCESS_LOG_FORMAT: &str = "[%START_TIME%] %DOWNSTREAM_REMOTE_ADDRESS% \
\"%REQ(:METHOD)% %REQ(X-ORIGINAL-URL?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% \
%RESPONSE_CODE_DETAILS% -> %UPSTREAM_CLUSTER% %UPSTREAM_HOST% \"%REQ(:PATH)%\" %DURATION%ms\n";

/// Envoy's handling of %2F and %5C in the path (see [`http_connection_manager`]).
pub const PATH_ESCAPED_SLASHES_ACTION: &str = "UNESCAPE_AND_FORWARD";

/// First wait before rebuilding a failed VM (Envoy's default), then doubling up to the maximum.
pub const VM_RELOAD_BACKOFF: &str = "1s";
pub const VM_RELOAD_MAX_BACKOFF: &str = "10s";

/// The route configuration shared by every listener.
///
/// * requests carrying the upstream header (written only by the filter, which removes any copy
///   a client sent) go to the cluster it names (`cluster_header`); the router strips it;
/// * everything else goes to the default upstream, or gets a 404 when there is none (IIS with
///   no site content behind the rules).
///
/// Every route: no overall timeout (`timeout: 0s`, Envoy's default 15 s would cut media streams
/// and WebSockets), `idle_timeout` = ARR's backend timeout, WebSocket upgrades allowed.
pub fn route_config(upstream_header: &str, default_cluster: Option<&str>, timeout_secs: u64) -> Y {
    let action = |target: (&str, &str)| {
        Y::map()
            .with(target.0, target.1)
            .with("timeout", "0s")
            .with("idle_timeout", seconds(timeout_secs))
            .with(
                "upgrade_configs",
                vec![Y::map().with("upgrade_type", "websocket")],
            )
    };
    let proxied = Y::map()
        .with("name", "iis-proxied")
        .with(
            "match",
            Y::map().with("prefix", "/").with(
                "headers",
                vec![Y::map()
                    .with("name", upstream_header)
                    .with("present_match", true)],
            ),
        )
        .with("route", action(("cluster_header", upstream_header)))
        .with("request_headers_to_remove", vec![upstream_header]);
    let default = match default_cluster {
        Some(c) => Y::map()
            .with("name", "iis-default")
            .with("match", Y::map().with("prefix", "/"))
            .with("route", action(("cluster", c))),
        None => Y::map()
            .with("name", "iis-default")
            .with("match", Y::map().with("prefix", "/"))
            .with("direct_response", Y::map().with("status", 404u32)),
    };
    Y::map().with("name", "iis").with(
        "virtual_hosts",
        vec![virtual_host("iis", vec!["*"], vec![proxied, default])],
    )
}

/// A virtual host (the seam for per-site virtual hosts). Envoy's `x-envoy-external-address`
/// (added because Envoy is the edge, `use_remote_address`) is not sent upstream: ARR sends no
/// such header and the rules' X-Forwarded-For / X-Real-IP carry the client address.
pub fn virtual_host(name: &str, domains: Vec<&str>, routes: Vec<Y>) -> Y {
    Y::map()
        .with("name", name)
        .with("domains", domains)
        .with("routes", routes)
        .with(
            "request_headers_to_remove",
            vec!["x-envoy-external-address"],
        )
}

/// The wasm HTTP filter: V8, the local module, the configuration as a StringValue (the filter
/// parses it in `on_configure`), FAIL_RELOAD.
///
/// A VM that traps (a panic, an allocation failure) would otherwise answer 503 on every later
/// request of its worker until Envoy restarts (FAIL_CLOSED), or let requests through without
/// the rules (FAIL_OPEN). FAIL_RELOAD answers 503 to the failing request and builds a new VM
/// for the next one, waiting [`VM_RELOAD_BACKOFF`] and up to [`VM_RELOAD_MAX_BACKOFF`] between
/// rebuilds when they keep failing; while it waits, requests get 503 (fail closed), never the
/// bypassed filter.
pub fn wasm_filter(wasm: &str, filter_json: &str, host_env_keys: &[String]) -> Y {
    let mut vm_config = Y::map()
        .with("vm_id", "iis-rewrite")
        .with("runtime", "envoy.wasm.runtime.v8")
        .with(
            "code",
            Y::map().with("local", Y::map().with("filename", wasm)),
        );
    if !host_env_keys.is_empty() {
        // Envoy's own environment variables the filter may read (a backend password), so
        // that their values appear in no configuration.
        vm_config.set(
            "environment_variables",
            Y::map().with(
                "host_env_keys",
                Y::Seq(host_env_keys.iter().map(|k| Y::Str(k.clone())).collect()),
            ),
        );
    }
    Y::map().with("name", FILTER_NAME).with(
        "typed_config",
        Y::map().with("@type", WASM_TYPE).with(
            "config",
            Y::map()
                .with("name", "iis-rewrite")
                .with("root_id", "")
                .with("vm_config", vm_config)
                .with(
                    "configuration",
                    Y::map()
                        .with("@type", "type.googleapis.com/google.protobuf.StringValue")
                        .with("value", filter_json),
                )
                .with("failure_policy", "FAIL_RELOAD")
                .with(
                    "reload_config",
                    Y::map().with(
                        "backoff",
                        Y::map()
                            .with("base_interval", VM_RELOAD_BACKOFF)
                            .with("max_interval", VM_RELOAD_MAX_BACKOFF),
                    ),
                ),
        ),
    )
}

/// Envoy's own replies for upstream failures, turned into ARR's: a backend that does not answer
/// within the timeout (Envoy 504 with flag UT or SI) is 502 (ARR 502.3); a backend that cannot be
/// connected to or has no healthy host (Envoy 503 with UF or UH) is 502 (ARR 502.3 / 502.4).
pub fn local_reply_config() -> Y {
    let status_is = |code: u32, key: &str| {
        Y::map().with(
            "status_code_filter",
            Y::map().with(
                "comparison",
                Y::map().with("op", "EQ").with(
                    "value",
                    Y::map()
                        .with("default_value", code)
                        .with("runtime_key", key),
                ),
            ),
        )
    };
    let flags = |f: Vec<&str>| Y::map().with("response_flag_filter", Y::map().with("flags", f));
    // A reply with status `code` and one of the response `f`lags becomes a 502.
    let to_502 = |code: u32, key: &str, f: Vec<&str>| {
        let both = Y::map().with("filters", vec![status_is(code, key), flags(f)]);
        Y::map()
            .with("filter", Y::map().with("and_filter", both))
            .with("status_code", 502u32)
    };
    Y::map().with(
        "mappers",
        vec![
            to_502(504, "iis_rewrite.upstream_timeout_status", vec!["UT", "SI"]),
            to_502(503, "iis_rewrite.upstream_failure_status", vec!["UF", "UH"]),
        ],
    )
}

/// Client addresses a client may not claim when no trusted proxy stands in front: removed
/// before the filter runs (so `{HTTP_X_REAL_IP}` is empty and the upstream only gets the
/// X-Real-IP a rule sets from `{REMOTE_ADDR}`). X-Forwarded-For and X-Forwarded-Proto are
/// already rebuilt by Envoy from the connection (`use_remote_address`).
const UNTRUSTED_CLIENT_HEADERS: [&str; 1] = ["x-real-ip"];

fn untrusted_client_headers() -> Y {
    let removals: Vec<Y> = UNTRUSTED_CLIENT_HEADERS
        .iter()
        .map(|h| Y::map().with("remove", *h))
        .collect();
    Y::map()
        .with("name", "envoy.http.early_header_mutation.header_mutation")
        .with(
            "typed_config",
            Y::map()
                .with("@type", EARLY_HEADER_MUTATION_TYPE)
                .with("mutations", removals),
        )
}

/// The HTTP connection manager of one listener.
pub fn http_connection_manager(
    stat_prefix: &str,
    filter_json: &str,
    route_config: &Y,
    opts: &EnvoyOptions,
) -> Y {
    let log = Y::map().with("name", "envoy.access_loggers.stdout").with(
        "typed_config",
        Y::map().with("@type", STDOUT_LOG_TYPE).with(
            "log_format",
            Y::map().with(
                "text_format_source",
                Y::map().with("inline_string", ACCESS_LOG_FORMAT),
            ),
        ),
    );
    let hcm = Y::map()
        .with("@type", HCM_TYPE)
        .with("stat_prefix", stat_prefix)
        .with("codec_type", "AUTO")
        // REMOTE_ADDR is the TCP peer, or with N trusted proxies the address N hops back in
        // X-Forwarded-For; X-Forwarded-Proto is set from the connection unless trusted.
        .with("use_remote_address", true)
        .with("xff_num_trusted_hops", opts.xff_trusted_hops);
    let hcm = if opts.xff_trusted_hops == 0 {
        hcm.with(
            "early_header_mutation_extensions",
            vec![untrusted_client_headers()],
        )
    } else {
        hcm
    };
    hcm
        // One view of the path (docs/security.md): before the filter, the router and the
        // upstream see it, %2F/%5C are decoded (as HTTP.sys decodes before URL Rewrite), `\`
        // becomes `/`, dot segments are resolved and slashes merged. Were %2F kept, the filter
        // would match the decoded path while the upstream decoded `/%2Fsystem` on its own, past
        // an anchored rule. The filter still refuses double escapes (404) and bad escapes (400).
        .with("normalize_path", true)
        .with("merge_slashes", true)
        .with(
            "path_with_escaped_slashes_action",
            PATH_ESCAPED_SLASHES_ACTION,
        )
        // The upstream's Server header goes to the client unchanged (no "server: envoy").
        .with("server_header_transformation", "PASS_THROUGH")
        // WebSockets: HTTP/1.1 upgrades only. HTTP/2 `allow_connect` (RFC 8441) is left off on
        // purpose: Envoy 1.40 turns an extended CONNECT into an HTTP/1.1 upgrade without a
        // Sec-WebSocket-Key (envoyproxy/envoy#8547), so every RFC 6455 backend answers 400.
        // Without the SETTINGS_ENABLE_CONNECT_PROTOCOL setting, browsers on an h2 connection
        // open their WebSockets over HTTP/1.1 (tests/e2e/test_browser.py checks both).
        .with(
            "upgrade_configs",
            vec![Y::map().with("upgrade_type", "websocket")],
        )
        .with("access_log", vec![log])
        .with("local_reply_config", local_reply_config())
        .with("route_config", route_config.clone())
        .with(
            "http_filters",
            vec![
                wasm_filter(&opts.wasm, filter_json, &opts.wasm_host_env_keys),
                Y::map().with("name", "envoy.filters.http.router").with(
                    "typed_config",
                    Y::map()
                        .with("@type", ROUTER_TYPE)
                        .with("suppress_envoy_headers", true),
                ),
            ],
        )
}

/// One listener; `tls` is `(certificate chain, private key)` for the HTTPS listener.
pub fn listener(
    name: &str,
    addr: SocketAddr,
    filter_json: &str,
    route_config: &Y,
    opts: &EnvoyOptions,
    tls: Option<(&str, &str)>,
) -> Y {
    let hcm = Y::map()
        .with("name", "envoy.filters.network.http_connection_manager")
        .with(
            "typed_config",
            http_connection_manager(&format!("iis_{name}"), filter_json, route_config, opts),
        );
    let mut chain = Y::map().with("filters", vec![hcm]);
    if let Some((cert, key)) = tls {
        chain.set(
            "transport_socket",
            Y::map().with("name", "envoy.transport_sockets.tls").with(
                "typed_config",
                Y::map().with("@type", DOWNSTREAM_TLS_TYPE).with(
                    "common_tls_context",
                    Y::map()
                        .with("alpn_protocols", vec!["h2", "http/1.1"])
                        .with(
                            "tls_certificates",
                            vec![Y::map()
                                .with("certificate_chain", Y::map().with("filename", cert))
                                .with("private_key", Y::map().with("filename", key))],
                        ),
                ),
            ),
        );
    }
    Y::map()
        .with("name", name)
        .with(
            "address",
            socket_address(&addr.ip().to_string(), addr.port()),
        )
        .with("filter_chains", vec![chain])
}
