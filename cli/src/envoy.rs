//! `iis-rewrite envoy`: the Envoy bootstrap (YAML) that serves a configuration.

use iis_rewrite_filter::{FilterConfig, Upstream};

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
}

/// Renders the bootstrap. `filter_json` is the plugin configuration exactly as the filter will
/// receive it; `upstreams` are every cluster the configuration can reach.
pub fn render(
    _filter_json: &str,
    _config: &FilterConfig,
    _upstreams: &[Upstream],
    _opts: &EnvoyOptions,
) -> Result<String, String> {
    Err("not implemented yet".to_string())
}
