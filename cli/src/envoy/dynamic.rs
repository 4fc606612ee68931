//! Dynamic upstreams (`proxy.dynamicUpstreams`, `--dynamic-upstream`): proxy targets whose host
//! the request decides, on Envoy's dynamic forward proxy (the `envoy.clusters.dynamic_forward_proxy`
//! cluster, its HTTP filter and their shared DNS cache; Envoy's "HTTP dynamic forward proxy"
//! documentation). The filter is what keeps it from being an open proxy: it sends a request to
//! the `iis-dynamic|…` clusters only for a host and port on the allow list (else 502), with the
//! target as the Host that the dynamic forward proxy resolves, and it removes a client's
//! routing header, so no client can route to these clusters itself.

use iis_rewrite_filter::upstream::dynamic_cluster_name;
use iis_rewrite_filter::Engine;

use super::clusters::base_cluster;
use super::{child_mut, connection_managers};
use super::{seconds, socket_address, EnvoyOptions, SYSTEM_CA_BUNDLE};
use crate::yaml::Y;

const DFP_FILTER: &str = "envoy.filters.http.dynamic_forward_proxy";
const DFP_FILTER_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig";
const DFP_CLUSTER: &str = "envoy.clusters.dynamic_forward_proxy";
const DFP_CLUSTER_TYPE: &str =
    "type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig";
const CARES_TYPE: &str =
    "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig";
/// Most hosts the DNS cache keeps (Envoy's default is 1024 too; written down to be explicit).
const MAX_CACHED_HOSTS: u32 = 1024;
/// The body of Envoy's reply when the target's name does not resolve.
pub const DNS_FAILURE_BODY: &str =
    "iis-rewrite: the proxy target's host name could not be resolved\n";

/// `--dynamic-upstream HOST:PORT[,PORT…]`: one allow-list entry (clap value parser).
pub fn parse_dynamic_upstream(
    value: &str,
) -> Result<iis_rewrite_filter::config::DynamicUpstream, String> {
    let err = || format!("{value:?}: expected HOST:PORT[,PORT…] (HOST a name, an IP, or *.domain)");
    let (host, ports) = match value.strip_prefix('[') {
        Some(v6) => {
            let (h, p) = v6.split_once("]:").ok_or_else(err)?;
            (format!("[{h}]"), p)
        }
        None => {
            let (h, p) = value.rsplit_once(':').ok_or_else(err)?;
            (h.to_string(), p)
        }
    };
    let ports = ports
        .split(',')
        .map(|p| p.trim().parse::<u16>().ok().filter(|p| *p != 0))
        .collect::<Option<Vec<u16>>>()
        .ok_or_else(err)?;
    iis_rewrite_filter::upstream::HostPattern::parse(&host)
        .map_err(|e| format!("{value:?}: {e}"))?;
    Ok(iis_rewrite_filter::config::DynamicUpstream { host, ports })
}

/// The DNS cache the filter and both clusters share (they must name identical settings).
fn dns_cache(opts: &EnvoyOptions) -> Y {
    let cache = Y::map()
        .with("name", "iis_dynamic_upstreams")
        .with("dns_lookup_family", "V4_PREFERRED")
        .with("max_hosts", MAX_CACHED_HOSTS)
        .with("dns_query_timeout", seconds(5));
    match &opts.dns_resolver {
        Some((addr, port)) => cache.with(
            "typed_dns_resolver_config",
            Y::map()
                .with("name", "envoy.network.dns_resolver.cares")
                .with(
                    "typed_config",
                    Y::map()
                        .with("@type", CARES_TYPE)
                        .with("resolvers", vec![socket_address(addr, *port)]),
                ),
        ),
        None => cache,
    }
}

/// A dynamic forward proxy cluster; over TLS, SNI and the certificate check follow each
/// request's host.
fn cluster(tls: bool, opts: &EnvoyOptions, timeout_secs: u64) -> Y {
    let name = dynamic_cluster_name(tls);
    let mut c = base_cluster(&name, "STATIC", timeout_secs);
    if let Y::Map(entries) = &mut c {
        entries.retain(|(k, _)| k != "type");
    }
    c.set("lb_policy", "CLUSTER_PROVIDED");
    // Envoy insists on SNI and certificate names following each request's host (also for the
    // plain cluster, where they have no effect); only --upstream-tls-insecure lifts that.
    let mut config = Y::map()
        .with("@type", DFP_CLUSTER_TYPE)
        .with("dns_cache_config", dns_cache(opts));
    if opts.upstream_tls_insecure {
        config.set("allow_insecure_cluster_options", true);
    }
    c.set(
        "cluster_type",
        Y::map()
            .with("name", DFP_CLUSTER)
            .with("typed_config", config),
    );
    let protocol = Y::map()
        .with(
            "@type",
            "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        )
        .with(
            "upstream_http_protocol_options",
            Y::map()
                .with("auto_sni", true)
                .with("auto_san_validation", !opts.upstream_tls_insecure),
        )
        .with(
            "explicit_http_config",
            Y::map().with("http_protocol_options", Y::map()),
        );
    c.set(
        "typed_extension_protocol_options",
        Y::map().with(
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            protocol,
        ),
    );
    if tls {
        let mut common = Y::map().with("alpn_protocols", vec!["http/1.1"]);
        if !opts.upstream_tls_insecure {
            let ca = opts.upstream_ca.as_deref().unwrap_or(SYSTEM_CA_BUNDLE);
            common.set(
                "validation_context",
                Y::map().with("trusted_ca", Y::map().with("filename", ca)),
            );
        }
        c.set(
            "transport_socket",
            Y::map().with("name", "envoy.transport_sockets.tls").with(
                "typed_config",
                Y::map()
                    .with(
                        "@type",
                        "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                    )
                    .with("common_tls_context", common),
            ),
        );
    }
    c
}

/// Adds the dynamic forward proxy to a bootstrap when the engine has an allow list (once): its two
/// clusters, its HTTP filter before the router of every connection manager, and a local reply
/// that says what a DNS failure (response flag `DF`) is.
pub fn install(doc: &mut Y, engine: &Engine, opts: &EnvoyOptions, timeout_secs: u64) {
    if engine.dynamic_upstreams().is_empty() {
        return;
    }
    let Some(Y::Map(resources)) = child_mut(doc, "static_resources") else {
        return;
    };
    // Installed once for every site that has a list (each rule set keeps its own list).
    let installed = resources.iter().any(|(k, v)| match (k.as_str(), v) {
        ("clusters", Y::Seq(clusters)) => clusters
            .iter()
            .any(|c| matches!(c.get("name"), Some(Y::Str(n)) if *n == dynamic_cluster_name(false))),
        _ => false,
    });
    if installed {
        return;
    }
    for (key, value) in resources.iter_mut() {
        match (key.as_str(), value) {
            ("clusters", Y::Seq(clusters)) => {
                clusters.push(cluster(false, opts, timeout_secs));
                clusters.push(cluster(true, opts, timeout_secs));
            }
            ("listeners", Y::Seq(listeners)) => {
                for hcm in listeners.iter_mut().flat_map(connection_managers) {
                    add_filter(hcm, opts);
                    add_dns_failure_reply(hcm);
                }
            }
            _ => {}
        }
    }
}

fn add_filter(hcm: &mut Y, opts: &EnvoyOptions) {
    let Some(Y::Seq(filters)) = child_mut(hcm, "http_filters") else {
        return;
    };
    let router = filters
        .iter()
        .position(|f| matches!(f.get("name"), Some(Y::Str(n)) if n == "envoy.filters.http.router"))
        .unwrap_or(filters.len());
    filters.insert(
        router,
        Y::map().with("name", DFP_FILTER).with(
            "typed_config",
            Y::map()
                .with("@type", DFP_FILTER_TYPE)
                .with("dns_cache_config", dns_cache(opts)),
        ),
    );
}

fn add_dns_failure_reply(hcm: &mut Y) {
    let Some(reply) = child_mut(hcm, "local_reply_config") else {
        return;
    };
    let mapper = Y::map()
        .with(
            "filter",
            Y::map().with("response_flag_filter", Y::map().with("flags", vec!["DF"])),
        )
        .with("status_code", 503u32)
        .with("body", Y::map().with("inline_string", DNS_FAILURE_BODY));
    match child_mut(reply, "mappers") {
        Some(Y::Seq(mappers)) => mappers.insert(0, mapper),
        _ => reply.set("mappers", vec![mapper]),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn engine(json: &str) -> (iis_rewrite_filter::FilterConfig, Engine) {
        let config = iis_rewrite_filter::FilterConfig::from_json(json.as_bytes()).unwrap();
        let engine = Engine::compile(&config).unwrap();
        (config, engine)
    }

    #[test]
    fn installed_once_before_the_router_only_with_a_list() {
        let opts = EnvoyOptions {
            wasm: "/f.wasm".into(),
            listen: "127.0.0.1:0".into(),
            dns_resolver: Some(("127.0.0.1".into(), 5353)),
            ..Default::default()
        };
        let (c, e) = engine(r#"{"rules": []}"#);
        let plain = super::super::bootstrap(&c, &e, &opts).unwrap().to_yaml();
        assert!(!plain.contains("dynamic_forward_proxy"), "{plain}");
        let (c, e) = engine(
            r#"{"proxy": {"dynamicUpstreams": [{"host": "*.t.example", "ports": [8080]}]}}"#,
        );
        let mut doc = super::super::bootstrap(&c, &e, &opts).unwrap();
        install(&mut doc, &e, &opts, 120);
        let y = doc.to_yaml();
        assert_eq!(y.matches("name: \"iis-dynamic|http\"").count(), 1, "{y}");
        assert_eq!(y.matches("name: \"iis-dynamic|https\"").count(), 1, "{y}");
        assert_eq!(
            y.matches(&format!("name: \"{DFP_FILTER}\"")).count(),
            1,
            "{y}"
        );
        let dfp = y.find(&format!("name: \"{DFP_FILTER}\"")).unwrap();
        let router = y.find("name: \"envoy.filters.http.router\"").unwrap();
        assert!(dfp < router, "{y}");
        assert!(y.contains("port_value: 5353"), "{y}");
        assert!(y.contains(DNS_FAILURE_BODY.trim_end()), "{y}");
    }

    #[test]
    fn allow_list_entries() {
        let e = parse_dynamic_upstream("*.tenants.example:8080,8443").unwrap();
        assert_eq!(
            (e.host.as_str(), e.ports),
            ("*.tenants.example", vec![8080, 8443])
        );
        let e = parse_dynamic_upstream("[::1]:9000").unwrap();
        assert_eq!((e.host.as_str(), e.ports), ("[::1]", vec![9000]));
        for bad in [
            "*:80",
            "localhost",
            "localhost:0",
            "localhost:x",
            "a b:80",
            "*.:80",
        ] {
            assert!(parse_dynamic_upstream(bad).is_err(), "{bad}");
        }
    }
}
