//! Deployment forms on top of the single-site bootstrap of [`super::bootstrap`]:
//!
//! * **several sites** (`--site HOST=FILE`): one filter instance holding every site's rules as
//!   named rule sets (`{"ruleSets": {…}, "defaultRuleSet": "default"}`), one virtual host per
//!   site whose routes carry `filter_metadata: {iis.rewrite: {ruleSet: HOST}}` (the filter reads
//!   it once per request), and the catch-all virtual host serving FILE as rule set `default`;
//! * **bypass routes** (`--bypass PREFIX`): routes on which the filter does not run at all,
//!   through Envoy's generic per-route `FilterConfig {disabled: true}`;
//! * **hot reload** (`--ecds DIR`): the wasm filter delivered by extension config discovery
//!   from `DIR/iis-rewrite.yaml` (a watched file); rewriting that file (atomically) swaps the
//!   rules for new requests without touching open connections.

use std::fmt;
use std::path::{Path, PathBuf};

use iis_rewrite_filter::plugin::{DEFAULT_SET_NAME, METADATA_KEY, METADATA_NAMESPACE};
use iis_rewrite_filter::{Engine, FilterConfig};

use super::clusters::{self, DefaultUpstream};
use super::listener;
use super::{bootstrap, filter_json, proxy_timeout_secs, EnvoyError, EnvoyOptions, FILTER_NAME};
use crate::yaml::Y;

const WASM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
const FILTER_CONFIG_TYPE: &str = "type.googleapis.com/envoy.config.route.v3.FilterConfig";
const TYPED_EXTENSION_CONFIG: &str =
    "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig";
/// The ECDS resource file inside `--ecds DIR`.
pub const ECDS_FILE: &str = "iis-rewrite.yaml";

/// One `--site HOST=FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteArg {
    pub host: String,
    pub file: PathBuf,
}

/// Parses `--site HOST=FILE` (clap value parser). HOST is a host name, optionally with a
/// leading `*.` wildcard; it is also the rule set's name.
pub fn parse_site(value: &str) -> Result<SiteArg, String> {
    let (host, file) = value
        .split_once('=')
        .ok_or_else(|| format!("{value:?}: expected HOST=FILE"))?;
    let host = host.trim().to_ascii_lowercase();
    if !valid_host(&host) {
        return Err(format!(
            "{host:?}: expected a host name (letters, digits, '-', '.', optionally starting with '*.')"
        ));
    }
    if host == DEFAULT_SET_NAME {
        return Err(format!(
            "{host:?} is the name of the default rule set (FILE); name the site by its host"
        ));
    }
    if file.is_empty() {
        return Err(format!("{value:?}: expected HOST=FILE"));
    }
    Ok(SiteArg {
        host,
        file: PathBuf::from(file),
    })
}

/// Parses `--site-upstream HOST=HOST:PORT` (clap value parser).
pub fn parse_site_upstream(value: &str) -> Result<(String, String), String> {
    let (host, up) = value
        .split_once('=')
        .ok_or_else(|| format!("{value:?}: expected SITE=HOST:PORT"))?;
    Ok((host.trim().to_ascii_lowercase(), up.trim().to_string()))
}

fn valid_host(host: &str) -> bool {
    let bare = host.strip_prefix("*.").unwrap_or(host);
    !bare.is_empty()
        && bare.len() <= 253
        && bare
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// A loaded site: its host (rule set name), configuration and compiled engine.
pub struct Site<'a> {
    pub host: String,
    pub config: &'a FilterConfig,
    pub engine: &'a Engine,
}

/// The options of the deployment forms.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    /// `--site-upstream SITE=HOST:PORT`: the default upstream of one site.
    pub site_upstreams: Vec<(String, String)>,
    /// `--bypass PREFIX`: path prefixes on which the filter is disabled.
    pub bypass: Vec<String>,
    /// `--ecds DIR`: deliver the filter configuration through ECDS from this directory.
    pub ecds: Option<PathBuf>,
    /// `--wasm-sha256 HEX`: with an `http(s)://` `--wasm`, Envoy downloads the module and
    /// refuses it unless its SHA-256 is this.
    pub wasm_sha256: Option<String>,
    /// An IIS server's bindings (`--applicationhost`): these listeners replace the one of
    /// `--listen`/`--https-listen`, each with the virtual hosts of its own bindings.
    pub listeners: Vec<BindingListener>,
}

/// One listener made of IIS bindings that share an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingListener {
    pub name: String,
    pub address: std::net::SocketAddr,
    /// HTTPS: the certificates; empty for plain HTTP.
    pub certificates: Vec<ListenerCertificate>,
    /// (site rule set, domains) in the order Envoy should prefer them; `*` takes every host no
    /// other virtual host takes. Without a `*`, other hosts get HTTP.sys's 400.
    pub hosts: Vec<(String, Vec<String>)>,
}

/// A certificate of an HTTPS listener: chosen by SNI among `server_names`, or the default one
/// when `server_names` is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerCertificate {
    pub server_names: Vec<String>,
    pub cert: String,
    pub key: String,
}

impl DeployOptions {
    pub fn is_plain(&self, wasm: &str) -> bool {
        self.site_upstreams.is_empty()
            && self.bypass.is_empty()
            && self.ecds.is_none()
            && self.wasm_sha256.is_none()
            && self.listeners.is_empty()
            && remote_module(wasm).is_none()
    }
}

/// Why the multi-site / ECDS bootstrap could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteError {
    Envoy(EnvoyError),
    DuplicateSite(String),
    UnknownSite(String),
    Bypass(String),
    EcdsDir { dir: String, reason: String },
    WasmUrl(String),
    WasmSha256 { value: Option<String> },
    Shape(&'static str),
}

impl fmt::Display for SiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SiteError::Envoy(e) => e.fmt(f),
            SiteError::DuplicateSite(h) => write!(f, "--site {h:?} is given twice"),
            SiteError::UnknownSite(h) => {
                write!(f, "--site-upstream {h:?}: no --site with that host")
            }
            SiteError::Bypass(p) => write!(
                f,
                "--bypass {p:?}: expected a path prefix starting with '/' (no spaces, '?' or '#')"
            ),
            SiteError::EcdsDir { dir, reason } => write!(f, "--ecds {dir:?}: {reason}"),
            SiteError::WasmUrl(u) => write!(
                f,
                "--wasm {u:?}: expected a file path or http(s)://HOST[:PORT]/PATH"
            ),
            SiteError::WasmSha256 { value: None } => f.write_str(
                "--wasm names a URL: give --wasm-sha256 (sha256sum of the module) so Envoy \
                 refuses any other module",
            ),
            SiteError::WasmSha256 { value: Some(v) } => write!(
                f,
                "--wasm-sha256 {v:?}: expected 64 hex digits, with an http(s):// --wasm"
            ),
            SiteError::Shape(what) => write!(f, "internal: the bootstrap has no {what}"),
        }
    }
}

impl std::error::Error for SiteError {}

impl From<EnvoyError> for SiteError {
    fn from(e: EnvoyError) -> Self {
        SiteError::Envoy(e)
    }
}

/// The bootstrap text, and with `--ecds` the ECDS file to write (path, contents).
#[derive(Debug)]
pub struct Rendered {
    pub bootstrap: String,
    pub ecds: Option<(PathBuf, String)>,
}

/// The rule sets' plugin configuration: `{"ruleSets": {NAME: CONFIG, …}, "defaultRuleSet":
/// "default"}`, each CONFIG exactly what the single-site bootstrap would embed.
pub fn rule_sets_json(
    default: &FilterConfig,
    sites: &[Site<'_>],
    opts: &EnvoyOptions,
) -> Result<String, EnvoyError> {
    let mut out = String::from("{\"ruleSets\":{");
    let quote =
        |s: &str| serde_json::to_string(s).map_err(|e| EnvoyError::Serialize(e.to_string()));
    out.push_str(&quote(DEFAULT_SET_NAME)?);
    out.push(':');
    out.push_str(&filter_json(default, opts)?);
    for site in sites {
        out.push(',');
        out.push_str(&quote(&site.host)?);
        out.push(':');
        out.push_str(&filter_json(site.config, opts)?);
    }
    out.push_str("},\"defaultRuleSet\":");
    out.push_str(&quote(DEFAULT_SET_NAME)?);
    out.push('}');
    Ok(out)
}

pub(super) fn child_mut<'a>(y: &'a mut Y, key: &str) -> Option<&'a mut Y> {
    match y {
        Y::Map(entries) => entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

fn seq_mut<'a>(y: &'a mut Y, key: &str) -> Option<&'a mut Vec<Y>> {
    match child_mut(y, key)? {
        Y::Seq(items) => Some(items),
        _ => None,
    }
}

fn str_of<'a>(y: &'a Y, key: &str) -> Option<&'a str> {
    match y.get(key)? {
        Y::Str(s) => Some(s),
        _ => None,
    }
}

/// Every HTTP connection manager of the bootstrap.
fn connection_managers(doc: &mut Y) -> Result<Vec<&mut Y>, SiteError> {
    let listeners = child_mut(doc, "static_resources")
        .and_then(|s| seq_mut(s, "listeners"))
        .ok_or(SiteError::Shape("listeners"))?;
    let mut out = Vec::new();
    for l in listeners.iter_mut() {
        for chain in seq_mut(l, "filter_chains")
            .ok_or(SiteError::Shape("filter chains"))?
            .iter_mut()
        {
            for f in seq_mut(chain, "filters")
                .ok_or(SiteError::Shape("network filters"))?
                .iter_mut()
            {
                if let Some(hcm) = child_mut(f, "typed_config") {
                    out.push(hcm);
                }
            }
        }
    }
    Ok(out)
}

/// The wasm HTTP filter entry of one connection manager.
fn wasm_filter_mut(hcm: &mut Y) -> Result<&mut Y, SiteError> {
    seq_mut(hcm, "http_filters")
        .and_then(|fs| {
            fs.iter_mut()
                .find(|f| str_of(f, "name") == Some(FILTER_NAME))
        })
        .ok_or(SiteError::Shape("wasm filter"))
}

fn rule_set_metadata(name: &str) -> Y {
    Y::map().with(
        "filter_metadata",
        Y::map().with(METADATA_NAMESPACE, Y::map().with(METADATA_KEY, name)),
    )
}

/// Tag extractors for the filter's counters. `/stats` keeps the full names
/// (`wasmcustom.iis_rewrite.<set>.rule.<rule>.hits`, `….<set>.action.<kind>`); Prometheus
/// (`/stats/prometheus`) gets `iis_rewrite_rule_hits{iis_rule_set, iis_rule}` and
/// `iis_rewrite_action{iis_rule_set, iis_action}` (Envoy strips the `wasmcustom` namespace and
/// adds no `envoy_` prefix). Set and rule names are sanitised to `[A-Za-z0-9_-]` by the filter,
/// so they hold no dot.
pub fn stats_config() -> Y {
    let tag = |name: &str, regex: &str| Y::map().with("tag_name", name).with("regex", regex);
    Y::map().with(
        "stats_tags",
        vec![
            tag(
                "iis_rule_set",
                r"^wasmcustom\.iis_rewrite\.(([^.]+)\.)(?:rule|action)\.",
            ),
            tag(
                "iis_rule",
                r"^wasmcustom\.iis_rewrite\.[^.]+\.rule\.(([^.]+)\.)hits$",
            ),
            tag(
                "iis_action",
                r"^wasmcustom\.iis_rewrite\.[^.]+\.action(\.([^.]+))$",
            ),
        ],
    )
}

/// `typed_per_filter_config` that switches the rewrite filter off on one route.
pub fn disabled_filter() -> Y {
    Y::map().with(
        FILTER_NAME,
        Y::map()
            .with("@type", FILTER_CONFIG_TYPE)
            .with("disabled", true),
    )
}

/// `/healthz` matches `/healthz` and `/healthz/…` but not `/healthzx` (Envoy's
/// `path_separated_prefix`); a prefix ending in `/` is a plain prefix.
fn bypass_match(prefix: &str) -> Y {
    if prefix.ends_with('/') {
        Y::map().with("prefix", prefix)
    } else {
        Y::map().with("path_separated_prefix", prefix)
    }
}

fn valid_prefix(p: &str) -> bool {
    p.starts_with('/')
        && !p
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
}

/// The routes of one virtual host: bypass routes (filter disabled, straight to the site's
/// default upstream), the cluster_header routes of every upstream header in use (after a
/// rewrite that changes Host, the request may be re-matched in another virtual host, so each
/// one can route any rule set's proxied requests), then the default route. Every route but the
/// bypass ones names the rule set.
fn site_routes(
    set: &str,
    upstream_headers: &[&str],
    default_cluster: Option<&str>,
    timeout: u64,
    bypass: &[String],
) -> Vec<Y> {
    let mut routes = Vec::new();
    // The shapes (timeouts, upgrades, header removal) come from the single-site renderer.
    let base_routes = |header: &str| -> Vec<Y> {
        match listener::route_config(header, default_cluster, timeout)
            .get("virtual_hosts")
            .and_then(|v| match v {
                Y::Seq(vs) => vs.first().and_then(|vh| vh.get("routes")).cloned(),
                _ => None,
            }) {
            Some(Y::Seq(rs)) => rs,
            _ => Vec::new(),
        }
    };
    let Some(first_header) = upstream_headers.first() else {
        return routes;
    };
    let base = base_routes(first_header);
    // base = [proxied, default]
    let default_route = base.get(1).cloned();
    for (i, prefix) in bypass.iter().enumerate() {
        if let Some(Y::Map(mut r)) = default_route.clone() {
            r.retain(|(k, _)| k != "name" && k != "match");
            let mut route = Y::map()
                .with("name", format!("iis-bypass-{i}"))
                .with("match", bypass_match(prefix));
            for (k, v) in r {
                route.set(&k, v);
            }
            route.set("typed_per_filter_config", disabled_filter());
            // The filter does not run here, so it cannot drop a client-sent upstream header.
            route.set(
                "request_headers_to_remove",
                Y::Seq(upstream_headers.iter().map(|h| Y::from(*h)).collect()),
            );
            routes.push(route);
        }
    }
    for header in upstream_headers {
        if let Some(mut proxied) = base_routes(header).into_iter().next() {
            if upstream_headers.len() > 1 {
                proxied.set("name", format!("iis-proxied-{header}"));
            }
            proxied.set("metadata", rule_set_metadata(set));
            routes.push(proxied);
        }
    }
    if let Some(mut d) = default_route {
        d.set("metadata", rule_set_metadata(set));
        routes.push(d);
    }
    routes
}

/// The cluster Envoy downloads a remote module through.
pub const WASM_DOWNLOAD_CLUSTER: &str = "iis-wasm-download";

/// `http(s)://HOST[:PORT]/PATH` of `--wasm`: (tls, host, port). `None` for a file path;
/// `Some(Err)` for a URL that is not usable.
fn remote_module(wasm: &str) -> Option<Result<(bool, String, u16), SiteError>> {
    let lower = wasm.to_ascii_lowercase();
    let (tls, rest) = if lower.starts_with("https://") {
        (true, wasm.get(8..)?)
    } else if lower.starts_with("http://") {
        (false, wasm.get(7..)?)
    } else {
        return None;
    };
    let bad = || SiteError::WasmUrl(wasm.to_string());
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let path_ok = rest.len() > authority.len()
        && !rest
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#');
    let parsed = if authority.contains(']') || authority.matches(':').count() == 1 {
        super::parse_host_port(authority)
    } else if !authority.is_empty() && !authority.contains(':') {
        super::parse_host_port(&format!("{authority}:{}", if tls { 443 } else { 80 }))
    } else {
        None
    };
    Some(match parsed {
        Some((host, port)) if path_ok => Ok((tls, host, port)),
        _ => Err(bad()),
    })
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// Replaces the local code source of a wasm filter entry by the remote one.
fn use_remote_code(wasm_filter: &mut Y, url: &str, sha256: &str) -> Result<(), SiteError> {
    let vm = child_mut(wasm_filter, "typed_config")
        .and_then(|t| child_mut(t, "config"))
        .and_then(|c| child_mut(c, "vm_config"))
        .ok_or(SiteError::Shape("wasm vm_config"))?;
    vm.set(
        "code",
        Y::map().with(
            "remote",
            Y::map()
                .with(
                    "http_uri",
                    Y::map()
                        .with("uri", url)
                        .with("cluster", WASM_DOWNLOAD_CLUSTER)
                        .with("timeout", "30s"),
                )
                .with("sha256", sha256.to_ascii_lowercase())
                .with("retry_policy", Y::map().with("num_retries", 3u32)),
        ),
    );
    Ok(())
}

/// The bootstrap for the default configuration plus `sites`, bypass routes and ECDS.
pub fn render(
    default: (&FilterConfig, &Engine),
    sites: &[Site<'_>],
    opts: &EnvoyOptions,
    deploy: &DeployOptions,
) -> Result<Rendered, SiteError> {
    let (default_config, default_engine) = default;
    for (i, s) in sites.iter().enumerate() {
        if sites.iter().take(i).any(|o| o.host == s.host) {
            return Err(SiteError::DuplicateSite(s.host.clone()));
        }
    }
    for (host, _) in &deploy.site_upstreams {
        if !sites.iter().any(|s| &s.host == host) {
            return Err(SiteError::UnknownSite(host.clone()));
        }
    }
    if let Some(p) = deploy.bypass.iter().find(|p| !valid_prefix(p)) {
        return Err(SiteError::Bypass(p.clone()));
    }

    let remote = match (remote_module(&opts.wasm), &deploy.wasm_sha256) {
        (None, None) => None,
        (None, Some(v)) => {
            return Err(SiteError::WasmSha256 {
                value: Some(v.clone()),
            })
        }
        (Some(Err(e)), _) => return Err(e),
        (Some(Ok(_)), None) => return Err(SiteError::WasmSha256 { value: None }),
        (Some(Ok(_)), Some(v)) if !is_sha256(v) => {
            return Err(SiteError::WasmSha256 {
                value: Some(v.clone()),
            })
        }
        (Some(Ok(target)), Some(v)) => Some((target, v.clone())),
    };

    let mut doc = bootstrap(default_config, default_engine, opts)?;
    let default_timeout = proxy_timeout_secs(default_config)?;
    let default_upstream = match &opts.default_upstream {
        Some(d) => Some(DefaultUpstream::parse(d)?),
        None => None,
    };

    // Per-site defaults and clusters.
    let mut extra_clusters = Vec::new();
    if let Some(((tls, host, port), _)) = &remote {
        extra_clusters.push(clusters::cluster(
            WASM_DOWNLOAD_CLUSTER,
            *tls,
            host,
            *port,
            opts,
            30,
        ));
    }
    let mut site_defaults = Vec::new();
    for site in sites {
        let timeout = proxy_timeout_secs(site.config)?;
        let upstream = match deploy.site_upstreams.iter().find(|(h, _)| h == &site.host) {
            Some((_, u)) => {
                Some(
                    DefaultUpstream::parse(u).map_err(|_| EnvoyError::UpstreamAddress {
                        option: "--site-upstream",
                        value: u.clone(),
                    })?,
                )
            }
            None => default_upstream.clone(),
        };
        extra_clusters.extend(clusters::upstream_clusters(site.engine, opts, timeout));
        extra_clusters.extend(super::farms::clusters(site.engine, opts));
        if let Some(u) = &upstream {
            extra_clusters.push(clusters::default_cluster(u, opts, timeout));
        }
        site_defaults.push((upstream, timeout));
    }
    if let Some(list) = child_mut(&mut doc, "static_resources").and_then(|s| seq_mut(s, "clusters"))
    {
        for c in extra_clusters {
            let name = c.get("name").cloned();
            if !list.iter().any(|x| x.get("name") == name.as_ref()) {
                list.push(c);
            }
        }
    }

    let headers = std::iter::once(default_engine.upstream_header())
        .chain(sites.iter().map(|s| s.engine.upstream_header()));
    let mut unique: Vec<&str> = Vec::new();
    for h in headers {
        if !unique.contains(&h) {
            unique.push(h);
        }
    }
    let mut vhosts = Vec::new();
    for (site, (upstream, timeout)) in sites.iter().zip(&site_defaults) {
        let port_wildcard = format!("{}:*", site.host);
        vhosts.push(listener::virtual_host(
            &format!("site-{}", site.host),
            vec![site.host.as_str(), port_wildcard.as_str()],
            site_routes(
                &site.host,
                &unique,
                upstream.as_ref().map(|u| u.cluster.as_str()),
                *timeout,
                &deploy.bypass,
            ),
        ));
    }
    vhosts.push(listener::virtual_host(
        "default",
        vec!["*"],
        site_routes(
            DEFAULT_SET_NAME,
            &unique,
            default_upstream.as_ref().map(|u| u.cluster.as_str()),
            default_timeout,
            &deploy.bypass,
        ),
    ));
    let mut route_config = Y::map()
        .with("name", "iis")
        .with("virtual_hosts", Y::Seq(vhosts));
    // ARR farm routes (timeouts, hashing) of every site; each matches only its own cluster name.
    for engine in std::iter::once(default_engine).chain(sites.iter().map(|s| s.engine)) {
        route_config = super::farms::with_routes(route_config, engine);
    }

    let plugin_json = if sites.is_empty() {
        filter_json(default_config, opts)?
    } else {
        rule_sets_json(default_config, sites, opts)?
    };

    if !deploy.listeners.is_empty() {
        let engines: Vec<&Engine> = std::iter::once(default_engine)
            .chain(sites.iter().map(|s| s.engine))
            .collect();
        let site_vhost = |set: &str, domains: &[String]| {
            let i = sites.iter().position(|s| s.host == set)?;
            let (upstream, timeout) = site_defaults.get(i)?;
            Some(listener::virtual_host(
                &format!("site-{set}"),
                domains.iter().map(String::as_str).collect(),
                site_routes(
                    set,
                    &unique,
                    upstream.as_ref().map(|u| u.cluster.as_str()),
                    *timeout,
                    &deploy.bypass,
                ),
            ))
        };
        let list = deploy
            .listeners
            .iter()
            .map(|l| binding_listener(l, &site_vhost, &engines, &plugin_json, opts))
            .collect::<Result<Vec<Y>, SiteError>>()?;
        let slot = child_mut(&mut doc, "static_resources")
            .and_then(|s| child_mut(s, "listeners"))
            .ok_or(SiteError::Shape("listeners"))?;
        *slot = Y::Seq(list);
    }

    let mut ecds_typed_config = None;
    for hcm in connection_managers(&mut doc)? {
        if deploy.listeners.is_empty() {
            hcm.set("route_config", route_config.clone());
        }
        let wasm = wasm_filter_mut(hcm)?;
        if let Some((_, sha)) = &remote {
            use_remote_code(wasm, &opts.wasm, sha)?;
        }
        let value = child_mut(wasm, "typed_config")
            .and_then(|t| child_mut(t, "config"))
            .and_then(|c| child_mut(c, "configuration"))
            .ok_or(SiteError::Shape("wasm configuration"))?;
        value.set("value", plugin_json.as_str());
        if let Some(dir) = &deploy.ecds {
            let typed = wasm
                .get("typed_config")
                .cloned()
                .ok_or(SiteError::Shape("wasm typed_config"))?;
            ecds_typed_config = Some(typed);
            *wasm = ecds_filter(&ecds_file(dir)?, dir)?;
        }
    }

    let ecds = match (&deploy.ecds, ecds_typed_config) {
        (Some(dir), Some(typed)) => {
            // ECDS needs a node identity.
            if doc.get("node").is_none() {
                let mut with_node = Y::map().with(
                    "node",
                    Y::map()
                        .with("id", "iis-rewrite")
                        .with("cluster", "iis-rewrite"),
                );
                if let Y::Map(entries) = doc {
                    for (k, v) in entries {
                        with_node.set(&k, v);
                    }
                }
                doc = with_node;
            }
            Some((ecds_file(dir)?, ecds_resource(typed)))
        }
        _ => None,
    };

    let header = format!(
        "# Envoy 1.40 bootstrap written by `iis-rewrite envoy` {}.\n",
        iis_rewrite_filter::VERSION
    );
    Ok(Rendered {
        bootstrap: format!("{header}{}", doc.to_yaml()),
        ecds,
    })
}

/// HTTP.sys's answer to a request whose host name no binding of the port takes.
fn invalid_hostname_vhost() -> Y {
    listener::virtual_host(
        "no-binding",
        vec!["*"],
        vec![Y::map()
            .with("name", "iis-no-binding")
            .with("match", Y::map().with("prefix", "/"))
            .with(
                "direct_response",
                Y::map().with("status", 400u32).with(
                    "body",
                    Y::map().with("inline_string", "Bad Request - Invalid Hostname\n"),
                ),
            )
            .with("typed_per_filter_config", disabled_filter())],
    )
}

/// One listener of IIS bindings: its own route configuration (the virtual hosts of the sites
/// bound to it, ARR farm routes) and, for HTTPS, one filter chain per certificate chosen by SNI.
fn binding_listener(
    spec: &BindingListener,
    site_vhost: &dyn Fn(&str, &[String]) -> Option<Y>,
    engines: &[&Engine],
    plugin_json: &str,
    opts: &EnvoyOptions,
) -> Result<Y, SiteError> {
    let mut vhosts = Vec::new();
    for (set, domains) in &spec.hosts {
        vhosts.push(site_vhost(set, domains).ok_or(SiteError::Shape("site for a binding"))?);
    }
    let mut route_config = Y::map()
        .with("name", format!("iis-{}", spec.name))
        .with("virtual_hosts", Y::Seq(vhosts));
    for engine in engines {
        route_config = super::farms::with_routes(route_config, engine);
    }
    // After the farm routes: a request no binding takes runs no rule and reaches no upstream.
    if !spec.hosts.iter().any(|(_, d)| d.iter().any(|x| x == "*")) {
        seq_mut(&mut route_config, "virtual_hosts")
            .ok_or(SiteError::Shape("virtual hosts"))?
            .push(invalid_hostname_vhost());
    }
    let first = spec
        .certificates
        .first()
        .map(|c| (c.cert.as_str(), c.key.as_str()));
    let mut l = listener::listener(
        &spec.name,
        spec.address,
        plugin_json,
        &route_config,
        opts,
        first,
    );
    if spec.certificates.len() > 1 {
        let chain = seq_mut(&mut l, "filter_chains")
            .and_then(|c| c.first().cloned())
            .ok_or(SiteError::Shape("filter chain"))?;
        let mut chains = Vec::new();
        for c in &spec.certificates {
            let mut chain = chain.clone();
            let certs = child_mut(&mut chain, "transport_socket")
                .and_then(|t| child_mut(t, "typed_config"))
                .and_then(|t| child_mut(t, "common_tls_context"))
                .ok_or(SiteError::Shape("TLS context"))?;
            certs.set(
                "tls_certificates",
                vec![Y::map()
                    .with(
                        "certificate_chain",
                        Y::map().with("filename", c.cert.as_str()),
                    )
                    .with("private_key", Y::map().with("filename", c.key.as_str()))],
            );
            if !c.server_names.is_empty() {
                let names: Vec<&str> = c.server_names.iter().map(String::as_str).collect();
                chain.set("filter_chain_match", Y::map().with("server_names", names));
            }
            chains.push(chain);
        }
        l.set("filter_chains", Y::Seq(chains));
        l.set(
            "listener_filters",
            vec![Y::map()
                .with("name", "envoy.filters.listener.tls_inspector")
                .with(
                    "typed_config",
                    Y::map().with(
                        "@type",
                        "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
                    ),
                )],
        );
    }
    Ok(l)
}

/// The absolute path of the ECDS file in `dir`.
pub fn ecds_file(dir: &Path) -> Result<PathBuf, SiteError> {
    let err = |reason: String| SiteError::EcdsDir {
        dir: dir.display().to_string(),
        reason,
    };
    let abs = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| err(e.to_string()))?
            .join(dir)
    };
    if abs.to_str().is_none() {
        return Err(err("not UTF-8".into()));
    }
    Ok(abs.join(ECDS_FILE))
}

/// The HTTP filter entry that takes its configuration from the ECDS file. Envoy watches the
/// directory and reloads when a file is moved into it (write elsewhere, then rename).
fn ecds_filter(file: &Path, dir: &Path) -> Result<Y, SiteError> {
    let dir_abs = file
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| dir.display().to_string());
    Ok(Y::map().with("name", FILTER_NAME).with(
        "config_discovery",
        Y::map()
            .with(
                "config_source",
                Y::map().with(
                    "path_config_source",
                    Y::map()
                        .with("path", file.display().to_string())
                        .with("watched_directory", Y::map().with("path", dir_abs)),
                ),
            )
            .with("type_urls", vec![WASM_TYPE]),
    ))
}

/// The ECDS file: one `TypedExtensionConfig` named like the filter.
fn ecds_resource(typed_config: Y) -> String {
    let doc = Y::map().with(
        "resources",
        vec![Y::map()
            .with("@type", TYPED_EXTENSION_CONFIG)
            .with("name", FILTER_NAME)
            .with("typed_config", typed_config)],
    );
    format!(
        "# iis-rewrite filter configuration, delivered to Envoy by ECDS (written by `iis-rewrite \
         envoy --ecds` {}).\n# Replace it atomically (write a file in this directory, then rename it \
         over this one): Envoy\n# applies it to new requests; a configuration the filter refuses is \
         rejected and the old one stays.\n{}",
        iis_rewrite_filter::VERSION,
        doc.to_yaml()
    )
}

/// Writes the ECDS file atomically: a temporary file in the same directory, then a rename (the
/// `moved_to` event Envoy's watcher reacts to; a reader never sees a half-written file).
pub fn write_ecds(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{ECDS_FILE}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn site_arguments() {
        assert_eq!(
            parse_site("App.Example=a.config").unwrap(),
            SiteArg {
                host: "app.example".into(),
                file: "a.config".into()
            }
        );
        assert!(parse_site("*.example.com=x").is_ok());
        assert!(parse_site("a.example").is_err());
        assert!(parse_site("a b=x").is_err());
        assert!(parse_site("a.example=").is_err());
        assert!(parse_site("default=x").is_err());
        assert!(valid_prefix("/healthz"));
        assert!(!valid_prefix("healthz"));
        assert!(!valid_prefix("/a b"));
    }

    fn load(json: &str) -> (FilterConfig, Engine) {
        let config = FilterConfig::from_json(json).unwrap();
        let engine = Engine::compile(&config).unwrap();
        (config, engine)
    }

    #[test]
    fn rule_sets_and_routes() {
        let (dc, de) = load(r#"{"rules":[]}"#);
        let (ac, ae) = load(
            r#"{"rules":[{"name":"p","match":{"url":".*"},"action":{"type":"Rewrite","url":"http://10.0.0.1:81/{R:0}"}}]}"#,
        );
        let opts = EnvoyOptions {
            wasm: "/f.wasm".into(),
            listen: "127.0.0.1:0".into(),
            ..Default::default()
        };
        let sites = [Site {
            host: "a.example".into(),
            config: &ac,
            engine: &ae,
        }];
        let deploy = DeployOptions {
            site_upstreams: vec![("a.example".into(), "127.0.0.1:9000".into())],
            bypass: vec!["/healthz".into()],
            ecds: None,
            wasm_sha256: None,
            listeners: Vec::new(),
        };
        let r = render((&dc, &de), &sites, &opts, &deploy).unwrap();
        assert!(r.ecds.is_none());
        let y = &r.bootstrap;
        assert!(y.contains("ruleSets"));
        assert!(y.contains("\"iis|http|10.0.0.1|81\""), "{y}");
        assert!(y.contains("\"iis|http|127.0.0.1|9000\""), "{y}");
        assert!(y.contains("disabled: true"));
        let json = rule_sets_json(&dc, &sites, &opts).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["defaultRuleSet"], "default");
        assert!(v["ruleSets"]["a.example"]["rules"].is_array());

        let dup = [
            Site {
                host: "a.example".into(),
                config: &ac,
                engine: &ae,
            },
            Site {
                host: "a.example".into(),
                config: &ac,
                engine: &ae,
            },
        ];
        assert!(matches!(
            render((&dc, &de), &dup, &opts, &DeployOptions::default()),
            Err(SiteError::DuplicateSite(_))
        ));
        let bad = DeployOptions {
            site_upstreams: vec![("b.example".into(), "127.0.0.1:1".into())],
            ..Default::default()
        };
        assert!(matches!(
            render((&dc, &de), &sites, &opts, &bad),
            Err(SiteError::UnknownSite(_))
        ));
    }

    #[test]
    fn remote_module_urls() {
        assert!(remote_module("/etc/envoy/f.wasm").is_none());
        assert_eq!(
            remote_module("https://Dl.Example.com/a/plugin.wasm")
                .unwrap()
                .unwrap(),
            (true, "dl.example.com".to_string(), 443)
        );
        assert_eq!(
            remote_module("http://127.0.0.1:8000/p.wasm")
                .unwrap()
                .unwrap(),
            (false, "127.0.0.1".to_string(), 8000)
        );
        assert!(remote_module("https://host").unwrap().is_err());
        assert!(remote_module("https:///p.wasm").unwrap().is_err());
        assert!(remote_module("https://h:x/p.wasm").unwrap().is_err());
        assert!(remote_module("https://h/a b.wasm").unwrap().is_err());
    }

    #[test]
    fn ecds_moves_the_filter_into_its_own_file() {
        let (dc, de) = load(r#"{"rules":[]}"#);
        let opts = EnvoyOptions {
            wasm: "/f.wasm".into(),
            listen: "127.0.0.1:0".into(),
            ..Default::default()
        };
        let deploy = DeployOptions {
            ecds: Some("/srv/iis".into()),
            ..Default::default()
        };
        let r = render((&dc, &de), &[], &opts, &deploy).unwrap();
        assert!(r.bootstrap.starts_with("# Envoy"));
        assert!(r.bootstrap.contains("config_discovery"));
        assert!(r.bootstrap.contains("\"/srv/iis/iis-rewrite.yaml\""));
        assert!(r.bootstrap.contains("node:"));
        assert!(!r.bootstrap.contains("StringValue"));
        let (path, text) = r.ecds.unwrap();
        assert_eq!(path, PathBuf::from("/srv/iis/iis-rewrite.yaml"));
        assert!(text.contains("TypedExtensionConfig") && text.contains("StringValue"));
    }
}
