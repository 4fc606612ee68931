//! Clusters: one per upstream an absolute Rewrite can reach (`engine.upstreams()`), the default
//! upstream. ARR server farms are in `farms`.

use iis_rewrite_filter::upstream::default_cluster_name;
use iis_rewrite_filter::Engine;

use super::{
    is_ip, parse_host_port, seconds, socket_address, EnvoyError, EnvoyOptions,
    MAX_CONNECT_TIMEOUT_SECS, SYSTEM_CA_BUNDLE,
};
use crate::yaml::Y;

/// `--default-upstream`: `HOST:PORT`, `http://HOST:PORT` or `https://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultUpstream {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub cluster: String,
}

impl DefaultUpstream {
    pub fn parse(value: &str) -> Result<DefaultUpstream, EnvoyError> {
        let err = || EnvoyError::UpstreamAddress {
            option: "--default-upstream",
            value: value.to_string(),
        };
        let lower = value.trim().to_ascii_lowercase();
        let (tls, rest) = if let Some(r) = lower.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = lower.strip_prefix("http://") {
            (false, r)
        } else {
            (false, lower.as_str())
        };
        let (host, port) = parse_host_port(rest.trim_end_matches('/')).ok_or_else(err)?;
        Ok(DefaultUpstream {
            tls,
            cluster: default_cluster_name(tls, &host, port),
            host,
            port,
        })
    }
}

/// Where a cluster for `host:port` (a rule's upstream or a farm server) connects: the
/// `--resolve` override, else the host itself.
pub(super) fn endpoint(host: &str, port: u16, opts: &EnvoyOptions) -> (String, u16) {
    opts.resolve
        .iter()
        .find(|r| r.host.eq_ignore_ascii_case(host) && r.port == port)
        .map_or_else(
            || (host.to_string(), port),
            |r| (r.addr.clone(), r.addr_port),
        )
}

/// One cluster reaching `host:port` (over TLS when `tls`): STATIC for an IP literal,
/// LOGICAL_DNS for a name (one connection target at a time, re-resolved, as a browser or ARR's
/// WinHTTP does), HTTP/1.1 to the upstream.
pub fn cluster(
    name: &str,
    tls: bool,
    host: &str,
    port: u16,
    opts: &EnvoyOptions,
    timeout_secs: u64,
) -> Y {
    let (addr, addr_port) = endpoint(host, port, opts);
    let endpoints = vec![Y::map().with(
        "lb_endpoints",
        vec![Y::map().with(
            "endpoint",
            Y::map().with("address", socket_address(&addr, addr_port)),
        )],
    )];
    let kind = if is_ip(&addr) {
        "STATIC"
    } else {
        "LOGICAL_DNS"
    };
    base_cluster(name, kind, timeout_secs)
        .with(
            "load_assignment",
            Y::map()
                .with("cluster_name", name)
                .with("endpoints", endpoints),
        )
        .with_opt("transport_socket", tls.then(|| tls_socket(host, opts)))
}

/// Type (`STATIC`, `LOGICAL_DNS`, `STRICT_DNS`), timeouts and protocol options shared by every
/// cluster.
pub fn base_cluster(name: &str, kind: &str, timeout_secs: u64) -> Y {
    let mut c = Y::map().with("name", name);
    // Envoy splits stat names at dots (`iis|http|127.0.0.1|8096` would become tags of a
    // cluster called `iis|http|127`): the stat name keeps the name without dots.
    if name.contains('.') {
        c.set("alt_stat_name", name.replace('.', "_"));
    }
    c.set("type", kind);
    if kind != "STATIC" {
        c.set("dns_lookup_family", "V4_PREFERRED");
    }
    c.with(
        "connect_timeout",
        seconds(timeout_secs.min(MAX_CONNECT_TIMEOUT_SECS)),
    )
    .with(
        "typed_extension_protocol_options",
        Y::map().with(
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            Y::map()
                .with(
                    "@type",
                    "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                )
                .with(
                    "explicit_http_config",
                    Y::map().with("http_protocol_options", Y::map()),
                ),
        ),
    )
}

/// The TLS transport socket of an `https://`/`wss://` upstream: SNI and certificate check on the
/// rule's host name; verified against `--upstream-ca`, the system bundle, or nothing with
/// `--upstream-tls-insecure`.
pub fn tls_socket(host: &str, opts: &EnvoyOptions) -> Y {
    let mut common = Y::map().with("alpn_protocols", vec!["http/1.1"]);
    if !opts.upstream_tls_insecure {
        let ca = opts.upstream_ca.as_deref().unwrap_or(SYSTEM_CA_BUNDLE);
        let san_type = if is_ip(host) { "IP_ADDRESS" } else { "DNS" };
        common.set(
            "validation_context",
            Y::map()
                .with("trusted_ca", Y::map().with("filename", ca))
                .with(
                    "match_typed_subject_alt_names",
                    vec![Y::map()
                        .with("san_type", san_type)
                        .with("matcher", Y::map().with("exact", host))],
                ),
        );
    }
    let mut ctx = Y::map().with(
        "@type",
        "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
    );
    // SNI carries a host name, never an IP literal (RFC 6066).
    if !is_ip(host) {
        ctx.set("sni", host);
    }
    ctx.set("common_tls_context", common);
    Y::map()
        .with("name", "envoy.transport_sockets.tls")
        .with("typed_config", ctx)
}

/// Clusters for every upstream the rules can reach.
pub fn upstream_clusters(engine: &Engine, opts: &EnvoyOptions, timeout_secs: u64) -> Vec<Y> {
    engine
        .upstreams()
        .iter()
        .map(|u| cluster(&u.cluster, u.tls, &u.host, u.port, opts, timeout_secs))
        .collect()
}

/// The cluster of `--default-upstream` (the "site" that serves what no rule proxies elsewhere).
pub fn default_cluster(d: &DefaultUpstream, opts: &EnvoyOptions, timeout_secs: u64) -> Y {
    cluster(&d.cluster, d.tls, &d.host, d.port, opts, timeout_secs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn default_upstream_forms() {
        let d = DefaultUpstream::parse("127.0.0.1:8096").unwrap();
        assert_eq!(d.cluster, "iis|http|127.0.0.1|8096");
        let d = DefaultUpstream::parse("https://App.Example:8443/").unwrap();
        assert_eq!(d.cluster, "iis|https|app.example|8443");
        assert!(DefaultUpstream::parse("127.0.0.1").is_err());
        assert!(DefaultUpstream::parse("ftp://x:1").is_err());
    }

    #[test]
    fn resolve_overrides_the_endpoint_not_the_tls_name() {
        let opts = EnvoyOptions {
            resolve: vec![super::super::parse_resolve("localhost:8096=127.0.0.1:4000").unwrap()],
            ..Default::default()
        };
        let c = cluster("c", true, "localhost", 8096, &opts, 120).to_yaml();
        assert!(c.contains("type: \"STATIC\""), "{c}");
        assert!(c.contains("port_value: 4000"), "{c}");
        assert!(c.contains("sni: \"localhost\""), "{c}");
        assert!(c.contains("connect_timeout: \"10s\""), "{c}");
        let plain = cluster("c", false, "backend.internal", 80, &opts, 5).to_yaml();
        assert!(plain.contains("LOGICAL_DNS"), "{plain}");
        assert!(plain.contains("connect_timeout: \"5s\""), "{plain}");
        assert!(!plain.contains("transport_socket"), "{plain}");
    }
}
