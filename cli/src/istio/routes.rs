//! What the mesh needs for the filter's proxy rules (`iis-rewrite istio --route-host …`): a
//! `VirtualService` whose HTTP routes match the filter's routing header (one route per upstream
//! the rules reach, in place of `iis-rewrite envoy`'s `cluster_header` route) and a
//! `ServiceEntry` per upstream, since ARR backends usually live outside the mesh. The
//! upstream's Host is set by the route (`rewrite.authority`), because the sidecar or gateway
//! chooses the virtual host by the Host header: the filter keeps the client's Host under Istio
//! (the generated pluginConfig has `preserveHostHeader: true`), and the route rewrites it
//! where ARR would have.
//!
//! `tests/e2e/test_istio_routes.py` runs these routes in real Envoy, translated the way istiod
//! translates a VirtualService (a header matcher, a cluster `outbound|PORT||HOST`,
//! `host_rewrite_literal`, the header removed); applying them in a mesh was not done here.

use iis_rewrite_filter::upstream::Upstream;

use crate::yaml::{Style, Y};

/// The `--route-host`, `--gateway` and `--default-destination` options.
#[derive(Debug, Clone, Default)]
pub struct MeshRoutes {
    pub hosts: Vec<String>,
    pub gateways: Vec<String>,
    /// Where a request the rules do not proxy goes: `HOST[:PORT]`.
    pub default_destination: Option<(String, Option<u16>)>,
}

/// The host name a ServiceEntry gives an upstream: its own name, or for an IP literal a
/// name of ours that the entry resolves to that address.
pub fn mesh_host(u: &Upstream) -> String {
    if u.host.parse::<std::net::IpAddr>().is_ok() {
        format!(
            "ip-{}.iis-rewrite.internal",
            u.host.replace(['.', ':'], "-")
        )
    } else {
        u.host.clone()
    }
}

/// The VirtualService and the ServiceEntries, as YAML documents (each starting with `---`).
/// `preserve_host`: the configuration's own preserveHostHeader (the Host the upstream gets).
pub fn render(
    name: &str,
    namespace: Option<&str>,
    routes: &MeshRoutes,
    upstreams: &[Upstream],
    upstream_header: &str,
    preserve_host: bool,
) -> String {
    let metadata = |n: String| {
        Y::map()
            .with("name", n)
            .with_opt("namespace", namespace.map(str::to_string))
    };
    let mut http = Vec::new();
    for u in upstreams {
        let default_port = if u.tls { 443 } else { 80 };
        let authority = if u.port == default_port {
            u.host.clone()
        } else if u.host.contains(':') {
            format!("[{}]:{}", u.host, u.port)
        } else {
            format!("{}:{}", u.host, u.port)
        };
        let mut route = Y::map().with("name", u.cluster.replace('|', "-")).with(
            "match",
            vec![Y::map().with(
                "headers",
                Y::map().with(upstream_header, Y::map().with("exact", u.cluster.as_str())),
            )],
        );
        if !preserve_host {
            route.set("rewrite", Y::map().with("authority", authority));
        }
        route.set("route", vec![destination(&mesh_host(u), Some(u.port))]);
        route.set("headers", remove_header(upstream_header));
        http.push(route);
    }
    if let Some((host, port)) = &routes.default_destination {
        http.push(
            Y::map()
                .with("name", "default")
                .with("route", vec![destination(host, *port)])
                .with("headers", remove_header(upstream_header)),
        );
    }
    let mut spec = Y::map().with("hosts", routes.hosts.clone());
    if !routes.gateways.is_empty() {
        spec.set("gateways", routes.gateways.clone());
    }
    spec.set("http", http);
    let vs = Y::map()
        .with("apiVersion", "networking.istio.io/v1")
        .with("kind", "VirtualService")
        .with("metadata", metadata(format!("{name}-upstreams")))
        .with("spec", spec);
    let mut out = String::from(
        "---\n# Routes for the proxy rules: the filter names the upstream in a request header.\n",
    );
    out.push_str(&vs.to_yaml_with(Style::Kubernetes, 0));
    for u in upstreams {
        out.push_str(&format!("---\n# {}\n", u.cluster));
        out.push_str(
            &service_entry(u, &metadata(entry_name(name, u))).to_yaml_with(Style::Kubernetes, 0),
        );
        if u.tls {
            out.push_str("---\n");
            out.push_str(
                &tls_origination(u, &metadata(entry_name(name, u)))
                    .to_yaml_with(Style::Kubernetes, 0),
            );
        }
    }
    out
}

fn destination(host: &str, port: Option<u16>) -> Y {
    let mut d = Y::map().with("host", host);
    if let Some(p) = port {
        d.set("port", Y::map().with("number", p));
    }
    Y::map().with("destination", d)
}

/// The routing header never reaches an upstream.
fn remove_header(upstream_header: &str) -> Y {
    Y::map().with(
        "request",
        Y::map().with("remove", vec![upstream_header.to_string()]),
    )
}

/// A DNS label for the entry of `u`: `<name>-<scheme>-<host>-<port>`, cut to 63.
fn entry_name(name: &str, u: &Upstream) -> String {
    let raw = format!(
        "{name}-{}-{}-{}",
        if u.tls { "https" } else { "http" },
        u.host,
        u.port
    );
    let mut label: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    while label.ends_with('-') {
        label.pop();
    }
    label
}

/// The upstream as a mesh-external service: the sidecar speaks HTTP to it on its port (TLS is
/// originated by the DestinationRule for https upstreams).
fn service_entry(u: &Upstream, metadata: &Y) -> Y {
    let ip = u.host.parse::<std::net::IpAddr>().is_ok();
    let mut spec = Y::map()
        .with("hosts", vec![mesh_host(u)])
        .with("location", "MESH_EXTERNAL")
        .with(
            "ports",
            vec![Y::map()
                .with("number", u.port)
                .with("name", format!("http-{}", u.port))
                .with("protocol", "HTTP")],
        )
        .with("resolution", if ip { "STATIC" } else { "DNS" });
    if ip {
        spec.set("endpoints", vec![Y::map().with("address", u.host.as_str())]);
    }
    Y::map()
        .with("apiVersion", "networking.istio.io/v1")
        .with("kind", "ServiceEntry")
        .with("metadata", metadata.clone())
        .with("spec", spec)
}

/// TLS origination towards an https upstream, with SNI and certificate check on its name.
fn tls_origination(u: &Upstream, metadata: &Y) -> Y {
    let mut tls = Y::map().with("mode", "SIMPLE");
    if u.host.parse::<std::net::IpAddr>().is_err() {
        tls.set("sni", u.host.as_str());
    }
    Y::map()
        .with("apiVersion", "networking.istio.io/v1")
        .with("kind", "DestinationRule")
        .with("metadata", metadata.clone())
        .with(
            "spec",
            Y::map().with("host", mesh_host(u)).with(
                "trafficPolicy",
                Y::map().with(
                    "portLevelSettings",
                    vec![Y::map()
                        .with("port", Y::map().with("number", u.port))
                        .with("tls", tls)],
                ),
            ),
        )
}
