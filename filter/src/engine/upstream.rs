//! Upstreams an absolute Rewrite may reach (ARR proxying; docs/arr.md), and the
//! Envoy cluster name each one maps to. The set is closed at configure time: a target whose host
//! was built from a capture must still be one of these, so a client can never make the filter an
//! open proxy.

/// One upstream origin and the Envoy cluster that reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Upstream {
    /// Envoy cluster name (the value the filter writes into the upstream header).
    pub cluster: String,
    /// true for https:// and wss:// targets: the cluster must speak TLS.
    pub tls: bool,
    /// Lowercase host name or IP literal (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

/// The cluster name used when the configuration does not name one: `iis|http|host|port` or
/// `iis|https|host|port` (ws and wss share the http and https clusters).
pub fn default_cluster_name(tls: bool, host: &str, port: u16) -> String {
    format!(
        "iis|{}|{}|{}",
        if tls { "https" } else { "http" },
        host,
        port
    )
}

/// The cluster of an ARR server farm: `iis-farm|http|<farm>` or `iis-farm|https|<farm>` (the
/// farm's servers on their `httpPort` or `httpsPort`).
pub fn farm_cluster_name(tls: bool, farm: &str) -> String {
    format!("iis-farm|{}|{}", if tls { "https" } else { "http" }, farm)
}
