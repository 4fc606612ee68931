//! `iis-rewrite envoy`: the Envoy 1.40 bootstrap (YAML) that serves a configuration.
//!
//! The document is built as a [`Y`] tree by small functions, one per Envoy object, so that other
//! parts can be added without touching the rest:
//!
//! * [`listener`] — listeners, the HTTP connection manager, the wasm filter, routes, local replies;
//! * [`clusters`] — one cluster per upstream the rules can reach, the default upstream;
//! * [`farms`] — ARR server farms: their clusters and the routes carrying timeouts and hashing;
//! * [`yaml`] — the ordered document model and its writer.
//!
//! [`bootstrap`] returns the tree (callers may add virtual hosts, clusters, ECDS resources);
//! [`render`] writes it.

pub mod clusters;
pub mod compression;
pub mod farms;
pub mod listener;
pub mod sites;

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use iis_rewrite_filter::{Engine, FilterConfig};

use crate::yaml::{self, Y};

/// ARR's server-level backend timeout (`system.webServer/proxy@timeout`, 00:02:00).
pub const DEFAULT_PROXY_TIMEOUT_SECS: u64 = 120;
/// Cap on the cluster connect timeout (ARR would wait the whole backend timeout to connect).
pub const MAX_CONNECT_TIMEOUT_SECS: u64 = 10;
/// Name of the wasm HTTP filter (also the route metadata namespace the filter reads).
pub const FILTER_NAME: &str = iis_rewrite_filter::plugin::METADATA_NAMESPACE;
/// CA bundle used to verify TLS upstreams when neither `--upstream-ca` nor
/// `--upstream-tls-insecure` is given (Debian's `ca-certificates`).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Options of the `envoy` subcommand.
#[derive(Debug, Clone, Default)]
pub struct EnvoyOptions {
    pub wasm: String,
    pub listen: String,
    pub https_listen: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub default_upstream: Option<String>,
    pub admin: Option<String>,
    pub xff_trusted_hops: u32,
    /// PEM bundle that verifies TLS upstreams (default: the system bundle).
    pub upstream_ca: Option<String>,
    /// Do not verify TLS upstream certificates (explicit opt-in).
    pub upstream_tls_insecure: bool,
    /// `HOST:PORT=ADDR:PORT` overrides: the cluster of `HOST:PORT` connects to `ADDR:PORT`.
    pub resolve: Vec<Resolve>,
    /// Envoy environment variables passed into the wasm VM (`--backend-password-env`).
    pub wasm_host_env_keys: Vec<String>,
}

/// One `--resolve HOST:PORT=ADDR:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    pub host: String,
    pub port: u16,
    pub addr: String,
    pub addr_port: u16,
}

/// Why no bootstrap could be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvoyError {
    /// A listener/admin address is not `IP:PORT`.
    ListenAddress { option: &'static str, value: String },
    /// An upstream is not `HOST:PORT`.
    UpstreamAddress { option: &'static str, value: String },
    /// `proxy.timeout` is not a time span from 00:00:01 to 1.00:00:00.
    Timeout { value: String },
    /// The configuration could not be serialised.
    Serialize(String),
    /// `--upstream-ca` and `--upstream-tls-insecure` together.
    TlsConflict,
}

impl fmt::Display for EnvoyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvoyError::ListenAddress { option, value } => write!(
                f,
                "{option} {}: expected IP:PORT (an IP address, [v6]:port for IPv6)",
                yaml::quote(value)
            ),
            EnvoyError::UpstreamAddress { option, value } => {
                write!(f, "{option} {}: expected HOST:PORT", yaml::quote(value))
            }
            EnvoyError::Timeout { value } => write!(
                f,
                "proxy timeout {}: expected a time span from 00:00:01 to 1.00:00:00",
                yaml::quote(value)
            ),
            EnvoyError::Serialize(e) => write!(f, "cannot serialise the configuration: {e}"),
            EnvoyError::TlsConflict => {
                f.write_str("--upstream-ca and --upstream-tls-insecure exclude each other")
            }
        }
    }
}

impl std::error::Error for EnvoyError {}

/// Parses `--listen`/`--admin`: `IP:PORT` (`[v6]:PORT`).
pub fn parse_listen(option: &'static str, value: &str) -> Result<SocketAddr, EnvoyError> {
    value
        .trim()
        .parse::<SocketAddr>()
        .map_err(|_| EnvoyError::ListenAddress {
            option,
            value: value.to_string(),
        })
}

/// Parses `HOST:PORT` (`[v6]:PORT`); the host is lowercased, IPv6 brackets removed.
pub fn parse_host_port(value: &str) -> Option<(String, u16)> {
    let value = value.trim();
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        h.parse::<std::net::Ipv6Addr>().ok()?;
        (h, p)
    } else {
        let (h, p) = value.rsplit_once(':')?;
        if h.contains(':') {
            return None;
        }
        (h, p)
    };
    let valid_host = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if !valid_host || p_invalid(port) {
        return None;
    }
    let port: u16 = port.parse().ok()?;
    (port != 0).then(|| (host.to_ascii_lowercase(), port))
}

fn p_invalid(port: &str) -> bool {
    port.is_empty() || !port.chars().all(|c| c.is_ascii_digit())
}

/// Parses one `--resolve HOST:PORT=ADDR:PORT` (clap value parser).
pub fn parse_resolve(value: &str) -> Result<Resolve, String> {
    let (from, to) = value
        .split_once('=')
        .ok_or_else(|| format!("{value:?}: expected HOST:PORT=ADDR:PORT"))?;
    let (host, port) =
        parse_host_port(from).ok_or_else(|| format!("{from:?}: expected HOST:PORT"))?;
    let (addr, addr_port) =
        parse_host_port(to).ok_or_else(|| format!("{to:?}: expected ADDR:PORT"))?;
    Ok(Resolve {
        host,
        port,
        addr,
        addr_port,
    })
}

/// Parses an IIS timeSpan from `proxy.timeout` (absent: ARR's 120 s).
pub fn proxy_timeout_secs(config: &FilterConfig) -> Result<u64, EnvoyError> {
    match config.proxy.as_ref().and_then(|p| p.timeout.as_deref()) {
        None => Ok(DEFAULT_PROXY_TIMEOUT_SECS),
        Some(t) => crate::import::vocab::parse_timespan(t)
            .filter(|s| (1..=86_400).contains(s))
            .ok_or_else(|| EnvoyError::Timeout {
                value: t.to_string(),
            }),
    }
}

/// Whether `host` is an IP literal (no DNS needed).
pub fn is_ip(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok()
}

/// An Envoy `address` object.
pub fn socket_address(address: &str, port: u16) -> Y {
    Y::map().with(
        "socket_address",
        Y::map().with("address", address).with("port_value", port),
    )
}

/// A duration as Envoy's JSON form (`"120s"`).
pub fn seconds(s: u64) -> Y {
    Y::Str(format!("{s}s"))
}

/// The plugin configuration the filter receives: the configuration as imported, with the
/// trusted hop count of `--xff-trusted-hops` (so the filter keeps the X-Forwarded-For that Envoy
/// built from trusted proxies instead of replacing it).
pub fn filter_json(config: &FilterConfig, opts: &EnvoyOptions) -> Result<String, EnvoyError> {
    let mut config = config.clone();
    if opts.xff_trusted_hops > 0 {
        let proxy = config.proxy.get_or_insert_with(Default::default);
        if proxy.trusted_hops.is_none() {
            proxy.trusted_hops = Some(opts.xff_trusted_hops);
        }
    }
    serde_json::to_string(&config).map_err(|e| EnvoyError::Serialize(e.to_string()))
}

/// The whole bootstrap as a document tree.
pub fn bootstrap(
    config: &FilterConfig,
    engine: &Engine,
    opts: &EnvoyOptions,
) -> Result<Y, EnvoyError> {
    if opts.upstream_ca.is_some() && opts.upstream_tls_insecure {
        return Err(EnvoyError::TlsConflict);
    }
    let timeout = proxy_timeout_secs(config)?;
    let json = filter_json(config, opts)?;
    let default = match &opts.default_upstream {
        Some(d) => Some(clusters::DefaultUpstream::parse(d)?),
        None => None,
    };
    let mut cluster_list = clusters::upstream_clusters(engine, opts, timeout);
    if let Some(d) = &default {
        let c = clusters::default_cluster(d, opts, timeout);
        let name = c.get("name").cloned();
        if !cluster_list.iter().any(|x| x.get("name") == name.as_ref()) {
            cluster_list.push(c);
        }
    }
    cluster_list.extend(farms::clusters(engine, opts));

    let route_config = listener::route_config(
        engine.upstream_header(),
        default.as_ref().map(|d| d.cluster.as_str()),
        timeout,
    );
    let route_config = farms::with_routes(route_config, engine);
    let mut listeners = vec![listener::listener(
        "http",
        parse_listen("--listen", &opts.listen)?,
        &json,
        &route_config,
        opts,
        None,
    )];
    if let (Some(addr), Some(cert), Some(key)) = (&opts.https_listen, &opts.tls_cert, &opts.tls_key)
    {
        listeners.push(listener::listener(
            "https",
            parse_listen("--https-listen", addr)?,
            &json,
            &route_config,
            opts,
            Some((cert.as_str(), key.as_str())),
        ));
    }

    if engine.has_body_rules() {
        compression::add_to_listeners(&mut listeners);
    }

    let mut doc = Y::map();
    if let Some(admin) = &opts.admin {
        let a = parse_listen("--admin", admin)?;
        doc.set(
            "admin",
            Y::map().with("address", socket_address(&a.ip().to_string(), a.port())),
        );
    }
    doc.set(
        "static_resources",
        Y::map()
            .with("listeners", Y::Seq(listeners))
            .with("clusters", Y::Seq(cluster_list)),
    );
    // Prometheus labels for the filter's counters (deploy: sites::stats_config).
    doc.set("stats_config", sites::stats_config());
    Ok(doc)
}

/// Renders the bootstrap YAML.
pub fn render(
    config: &FilterConfig,
    engine: &Engine,
    opts: &EnvoyOptions,
) -> Result<String, EnvoyError> {
    let doc = bootstrap(config, engine, opts)?;
    Ok(format!(
        "# Envoy 1.40 bootstrap written by `iis-rewrite envoy` {}.\n{}",
        iis_rewrite_filter::VERSION,
        doc.to_yaml()
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            parse_host_port("LocalHost:8096"),
            Some(("localhost".into(), 8096))
        );
        assert_eq!(parse_host_port("[::1]:80"), Some(("::1".into(), 80)));
        assert_eq!(parse_host_port("::1:80"), None);
        assert_eq!(parse_host_port("host"), None);
        assert_eq!(parse_host_port("host:0"), None);
        assert_eq!(parse_host_port("host:70000"), None);
        assert_eq!(parse_host_port("ho st:80"), None);
        assert_eq!(parse_host_port("[zz]:80"), None);
    }

    #[test]
    fn resolve_forms() {
        assert_eq!(
            parse_resolve("localhost:8096=127.0.0.1:40001").unwrap(),
            Resolve {
                host: "localhost".into(),
                port: 8096,
                addr: "127.0.0.1".into(),
                addr_port: 40001
            }
        );
        assert!(parse_resolve("localhost:8096").is_err());
        assert!(parse_resolve("localhost=127.0.0.1:1").is_err());
    }

    #[test]
    fn listen_addresses() {
        assert!(parse_listen("--listen", "127.0.0.1:0").is_ok());
        assert!(parse_listen("--listen", "[::1]:8080").is_ok());
        assert_eq!(
            parse_listen("--listen", "localhost:8080")
                .unwrap_err()
                .to_string(),
            "--listen \"localhost:8080\": expected IP:PORT (an IP address, [v6]:port for IPv6)"
        );
    }
}
