//! ARR server farms in Envoy (docs/arr.md): one cluster per farm cluster the
//! rules can reach (`iis-farm|http|<farm>` on the servers' `httpPort`, `iis-farm|https|<farm>`
//! on their `httpsPort` over TLS), and one route per such cluster carrying what Envoy keeps on
//! routes: the farm's backend timeout and the hash policy of `RequestHash` balancing or cookie
//! affinity.
//!
//! | ARR | Envoy |
//! |---|---|
//! | enabled `<server>`s, `weight` | endpoints with `load_balancing_weight` |
//! | `WeightedRoundRobin`, `WeightedTotalTraffic` | `ROUND_ROBIN` (weighted) |
//! | `LeastRequests`, `LeastResponseTime` | `LEAST_REQUEST` (weighted) |
//! | `RequestHash` + `hashServerVariable`/`queryStringNames` | `RING_HASH` + route `hash_policy` |
//! | `affinity useCookie cookieName timeout` | `RING_HASH` + `hash_policy.cookie` with a TTL |
//! | `healthCheck url interval timeout statusCodeMatch responseMatch` | active HTTP health check |
//! | `protocol timeout` | route `idle_timeout` (502 through the local-reply mapping) |
//! | `protocol preserveHostHeader="false"` | route `auto_host_rewrite` to the endpoint's address |
//! | no healthy server (502.4) | panic threshold 0: Envoy's 503 `UH`, mapped to 502 |

use iis_rewrite_filter::farm::{Algorithm, Farm, FarmHealthCheck, FarmMember, HashOn};
use iis_rewrite_filter::Engine;

use super::clusters::{base_cluster, endpoint, tls_socket};
use super::{is_ip, seconds, socket_address, EnvoyOptions};
use crate::yaml::Y;

/// Endpoint metadata key that picks a server's TLS settings (its own SNI and name check).
const TLS_MATCH_KEY: &str = "iis_farm_server";

/// Envoy's `expected_statuses` accept codes in [100, 600).
const ENVOY_MAX_STATUS: u16 = 600;

/// Milliseconds as an Envoy duration.
fn millis(ms: u64) -> Y {
    if ms % 1000 == 0 {
        seconds(ms / 1000)
    } else {
        Y::Str(format!("{}.{:03}s", ms / 1000, ms % 1000))
    }
}

/// Whether Envoy must hash (ring hash) to honour the farm's balancing or affinity.
fn hashes(farm: &Farm) -> bool {
    farm.algorithm == Algorithm::RequestHash || farm.affinity_cookie.is_some()
}

fn lb_policy(farm: &Farm) -> &'static str {
    if hashes(farm) {
        return "RING_HASH";
    }
    match farm.algorithm {
        Algorithm::LeastRequests | Algorithm::LeastResponseTime => "LEAST_REQUEST",
        _ => "ROUND_ROBIN",
    }
}

/// The name a server is checked against over TLS: its `hostName`, else its address.
fn tls_name(m: &FarmMember) -> &str {
    m.host_name.as_deref().unwrap_or(&m.address)
}

/// The active health check of `<healthCheck>`: one failure takes a server out, one success
/// brings it back (ARR's URL test), also while the farm has no traffic.
fn health_check(h: &FarmHealthCheck) -> Y {
    let statuses: Vec<Y> = h
        .statuses
        .iter()
        .filter(|(lo, _)| *lo < ENVOY_MAX_STATUS)
        .map(|(lo, hi)| {
            Y::map()
                .with("start", i64::from(*lo))
                .with("end", i64::from((*hi + 1).min(ENVOY_MAX_STATUS)))
        })
        .collect();
    // Without `host` Envoy would send the cluster name (`iis-farm|http|…`) as Host.
    let mut http = Y::map()
        .with("path", h.path.as_str())
        .with("host", h.host.as_str());
    if !statuses.is_empty() {
        http.set("expected_statuses", Y::Seq(statuses));
    }
    if let Some(m) = &h.response_match {
        // Envoy matches the payload in the first `response_buffer_size` bytes of the body.
        let hex: String = m.bytes().map(|b| format!("{b:02x}")).collect();
        http.set("receive", vec![Y::map().with("text", hex)]);
        http.set("response_buffer_size", 65_536i64);
    }
    Y::map()
        .with("timeout", millis(h.timeout_ms))
        .with("interval", millis(h.interval_ms))
        .with("no_traffic_interval", millis(h.interval_ms))
        .with("unhealthy_threshold", 1i64)
        .with("healthy_threshold", 1i64)
        .with("http_health_check", http)
}

/// One cluster of a farm: its enabled servers on the plain or TLS port.
pub fn farm_cluster(name: &str, tls: bool, farm: &Farm, opts: &EnvoyOptions) -> Y {
    let mut any_name = false;
    let mut lb_endpoints = Vec::new();
    for (i, m) in farm.servers.iter().enumerate() {
        let port = if tls { m.https_port } else { m.http_port };
        let (addr, addr_port) = endpoint(&m.address, port, opts);
        any_name |= !is_ip(&addr);
        // `hostname` is the Host Envoy sends when the farm does not keep the client's
        // (`preserveHostHeader="false"`, route `auto_host_rewrite`).
        let mut e = Y::map()
            .with(
                "endpoint",
                Y::map()
                    .with("address", socket_address(&addr, addr_port))
                    .with("hostname", m.address.as_str()),
            )
            .with("load_balancing_weight", i64::from(m.weight));
        if tls {
            e.set(
                "metadata",
                Y::map().with(
                    "filter_metadata",
                    Y::map().with(
                        "envoy.transport_socket_match",
                        Y::map().with(TLS_MATCH_KEY, i.to_string()),
                    ),
                ),
            );
        }
        lb_endpoints.push(e);
    }
    // Several named endpoints need STRICT_DNS (LOGICAL_DNS takes exactly one).
    let kind = if any_name { "STRICT_DNS" } else { "STATIC" };
    let timeout_secs = farm.timeout_ms.div_ceil(1000);
    let mut c = base_cluster(name, kind, timeout_secs);
    c.set("lb_policy", lb_policy(farm));
    // ARR sends no traffic to an unhealthy server, even when most are unhealthy.
    c.set(
        "common_lb_config",
        Y::map().with("healthy_panic_threshold", Y::map().with("value", 0i64)),
    );
    c.set(
        "load_assignment",
        Y::map().with("cluster_name", name).with(
            "endpoints",
            vec![Y::map().with("lb_endpoints", Y::Seq(lb_endpoints))],
        ),
    );
    if let Some(h) = &farm.health_check {
        c.set("health_checks", vec![health_check(h)]);
    }
    if tls {
        // Each server is checked against its own name (SNI and certificate), chosen per
        // endpoint through its metadata (one server: the cluster's own socket is enough).
        let matches: Vec<Y> = farm
            .servers
            .iter()
            .enumerate()
            .map(|(i, m)| {
                Y::map()
                    .with("name", format!("server-{i}"))
                    .with("match", Y::map().with(TLS_MATCH_KEY, i.to_string()))
                    .with("transport_socket", tls_socket(tls_name(m), opts))
            })
            .collect();
        let first = farm.servers.first().map_or(farm.name.as_str(), tls_name);
        c.set("transport_socket", tls_socket(first, opts));
        if matches.len() > 1 {
            c.set("transport_socket_matches", Y::Seq(matches));
        }
    }
    c
}

/// Every farm cluster the rules can reach.
pub fn clusters(engine: &Engine, opts: &EnvoyOptions) -> Vec<Y> {
    engine
        .farm_clusters()
        .iter()
        .filter_map(|(farm_name, tls, cluster)| {
            let farm = engine.farms().find(|f| f.name == *farm_name)?;
            Some(farm_cluster(cluster, *tls, farm, opts))
        })
        .collect()
}

/// The route hash policies of a farm: the affinity cookie first (Envoy sets it when absent),
/// then what `RequestHash` hashes on.
fn hash_policy(farm: &Farm) -> Vec<Y> {
    let mut out = Vec::new();
    if let Some((cookie, ttl)) = &farm.affinity_cookie {
        out.push(
            Y::map()
                .with(
                    "cookie",
                    Y::map()
                        .with("name", cookie.as_str())
                        .with("ttl", seconds(*ttl))
                        .with("path", "/"),
                )
                .with("terminal", true),
        );
    }
    let header = |h: &str| Y::map().with("header", Y::map().with("header_name", h));
    match &farm.hash_on {
        None => {}
        Some(HashOn::Url) => out.push(header(":path")),
        Some(HashOn::Header(h)) => out.push(header(h)),
        Some(HashOn::ClientIp) => {
            out.push(Y::map().with("connection_properties", Y::map().with("source_ip", true)))
        }
        Some(HashOn::QueryNames(names)) => {
            for n in names {
                out.push(Y::map().with("query_parameter", Y::map().with("name", n.as_str())));
            }
        }
    }
    out
}

/// One route per farm cluster, selected by the upstream header's exact value: the farm's
/// timeout as the stream idle timeout (a backend silent that long gets ARR's 502 through the
/// local-reply mapping; a long stream that keeps moving is not cut, as with the server-level
/// routes) and its hash policy.
pub fn routes(engine: &Engine) -> Vec<Y> {
    let header = engine.upstream_header();
    engine
        .farm_clusters()
        .iter()
        .filter_map(|(farm_name, _, cluster)| {
            let farm = engine.farms().find(|f| f.name == *farm_name)?;
            let timeout = millis(farm.timeout_ms);
            let mut action = Y::map()
                .with("cluster", cluster.as_str())
                .with("timeout", "0s")
                .with("idle_timeout", timeout)
                .with(
                    "upgrade_configs",
                    vec![Y::map().with("upgrade_type", "websocket")],
                );
            if !farm.preserve_host {
                // ARR sends the chosen server's address as Host.
                action.set("auto_host_rewrite", true);
            }
            let policy = hash_policy(farm);
            if !policy.is_empty() {
                action.set("hash_policy", Y::Seq(policy));
            }
            Some(
                Y::map()
                    .with("name", cluster.as_str())
                    .with(
                        "match",
                        Y::map().with("prefix", "/").with(
                            "headers",
                            vec![Y::map()
                                .with("name", header)
                                .with("string_match", Y::map().with("exact", cluster.as_str()))],
                        ),
                    )
                    .with("route", action)
                    .with("request_headers_to_remove", vec![header]),
            )
        })
        .collect()
}

/// Puts the farm routes first in every virtual host of a route configuration.
pub fn with_routes(mut route_config: Y, engine: &Engine) -> Y {
    let farm_routes = routes(engine);
    if farm_routes.is_empty() {
        return route_config;
    }
    if let Y::Map(entries) = &mut route_config {
        for (k, v) in entries.iter_mut() {
            if k != "virtual_hosts" {
                continue;
            }
            let Y::Seq(hosts) = v else { continue };
            for host in hosts.iter_mut() {
                let Y::Map(h) = host else { continue };
                for (hk, hv) in h.iter_mut() {
                    if hk == "routes" {
                        if let Y::Seq(list) = hv {
                            let rest = std::mem::take(list);
                            list.extend(farm_routes.iter().cloned());
                            list.extend(rest);
                        }
                    }
                }
            }
        }
    }
    route_config
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use iis_rewrite_filter::FilterConfig;

    fn engine(json: &str) -> Engine {
        Engine::compile(&FilterConfig::from_json(json.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn weighted_farm_with_health_check_and_tls_names() {
        let e = engine(
            r#"{"rules":[{"name":"f","match":{"url":"(.*)"},"action":{"type":"Rewrite","url":"https://web/{R:1}"}}],
               "webFarms":[{"name":"web","servers":[
                   {"address":"a.internal","httpsPort":4443,"weight":200},
                   {"address":"10.0.0.2","httpsPort":4443,"hostName":"b.internal"},
                   {"address":"10.0.0.3","enabled":false}],
                 "healthCheck":{"url":"http://web/health","interval":"00:00:05","timeout":"00:00:02","statusCodeMatch":"200-299,700","responseMatch":"OK"},
                 "protocol":{"timeout":"00:15:00"}}]}"#,
        );
        let c = clusters(&e, &EnvoyOptions::default());
        assert_eq!(c.len(), 1);
        let y = c[0].to_yaml();
        for want in [
            "name: \"iis-farm|https|web\"",
            "type: \"STRICT_DNS\"",
            "lb_policy: \"ROUND_ROBIN\"",
            "load_balancing_weight: 200",
            "load_balancing_weight: 100",
            "port_value: 4443",
            "path: \"/health\"",
            "interval: \"5s\"",
            "timeout: \"2s\"",
            "start: 200",
            "end: 300",
            "text: \"4f4b\"",
            "sni: \"a.internal\"",
            "sni: \"b.internal\"",
            "connect_timeout: \"10s\"",
        ] {
            assert!(y.contains(want), "{want}\n{y}");
        }
        assert!(!y.contains("10.0.0.3"), "disabled server left out\n{y}");
        assert!(
            !y.contains("start: 700"),
            "Envoy takes statuses below 600\n{y}"
        );
        assert!(
            y.contains("host: \"web\""),
            "the URL's host, not the cluster name\n{y}"
        );
        let r = routes(&e);
        let y = r[0].to_yaml();
        assert!(y.contains("idle_timeout: \"900s\""), "{y}");
        assert!(y.contains("exact: \"iis-farm|https|web\""), "{y}");
        assert!(!y.contains("hash_policy"), "{y}");
    }

    #[test]
    fn request_hash_and_affinity_use_ring_hash() {
        let e = engine(
            r#"{"rules":[{"name":"f","match":{"url":"(.*)"},"action":{"type":"Rewrite","url":"http://web/{R:1}"}}],
               "webFarms":[{"name":"web","servers":[{"address":"10.0.0.1"},{"address":"10.0.0.2"}],
                 "loadBalancing":{"algorithm":"RequestHash","hashServerVariable":"HTTP_X_TENANT"},
                 "affinity":{"useCookie":true,"timeout":"00:10:00"}}]}"#,
        );
        let y = clusters(&e, &EnvoyOptions::default())[0].to_yaml();
        assert!(y.contains("lb_policy: \"RING_HASH\""), "{y}");
        assert!(y.contains("type: \"STATIC\""), "{y}");
        assert!(!y.contains("transport_socket"), "{y}");
        let y = routes(&e)[0].to_yaml();
        assert!(y.contains("name: \"ARRAffinity\""), "{y}");
        assert!(y.contains("ttl: \"600s\""), "{y}");
        assert!(y.contains("header_name: \"x-tenant\""), "{y}");
        assert!(
            y.contains("idle_timeout: \"30s\""),
            "farm default 30 s\n{y}"
        );
    }

    #[test]
    fn least_requests_and_client_ip_hash() {
        let e = engine(
            r#"{"rules":[{"name":"f","match":{"url":"(.*)"},"action":{"type":"Rewrite","url":"http://a/{R:1}"}},
                         {"name":"g","match":{"url":"(.*)"},"action":{"type":"Rewrite","url":"http://b/{R:1}"}}],
               "webFarms":[{"name":"a","servers":[{"address":"10.0.0.1"}],"loadBalancing":{"algorithm":"LeastRequests"}},
                           {"name":"b","servers":[{"address":"10.0.0.2"}],"loadBalancing":{"algorithm":"RequestHash","hashServerVariable":"REMOTE_ADDR"}}]}"#,
        );
        let c = clusters(&e, &EnvoyOptions::default());
        assert!(c[0].to_yaml().contains("LEAST_REQUEST"));
        assert!(routes(&e)[1].to_yaml().contains("source_ip: true"));
    }
}
