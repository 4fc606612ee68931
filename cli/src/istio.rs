//! `iis-rewrite istio`: an Istio `WasmPlugin` (extensions.istio.io/v1alpha1) whose
//! `pluginConfig` is the imported configuration, so the manifest is generated from the
//! web.config and never edited by hand.
//!
//! Istio hands `pluginConfig` to the filter as JSON text (the WasmPlugin API reference of Istio; docs/deploying.md); the
//! filter parses it exactly as it parses `iis-rewrite import` output.

use std::fmt;

use clap::{Args, ValueEnum};

use crate::yaml;

pub mod routes;

/// Which traffic of the selected workloads runs the filter (Istio `WorkloadMode`). A sidecar's
/// inbound listeners are SERVER; gateways and sidecar outbound listeners are CLIENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mode {
    Client,
    Server,
    ClientAndServer,
}

/// Istio `PluginPhase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Phase {
    #[value(name = "UNSPECIFIED_PHASE")]
    Unspecified,
    Authn,
    Authz,
    Stats,
}

/// Istio `FailStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailStrategy {
    #[value(name = "FAIL_CLOSE")]
    Close,
    #[value(name = "FAIL_OPEN")]
    Open,
    #[value(name = "FAIL_RELOAD")]
    Reload,
}

fn screaming<T: ValueEnum>(v: &T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

/// Options of `iis-rewrite istio`.
#[derive(Debug, Clone, Args)]
pub struct IstioArgs {
    /// Where the proxies fetch the module: oci://REGISTRY/REPO:TAG (the single-layer image of
    /// envoy/istio/Dockerfile) or https://…/plugin.wasm (needs --sha256).
    #[arg(long, value_name = "URL")]
    pub image: String,
    /// SHA-256 of the module (https) or of the image (oci), 64 hex digits.
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// metadata.name of the WasmPlugin.
    #[arg(long, value_name = "NAME", default_value = "iis-rewrite")]
    pub name: String,
    /// metadata.namespace (the workloads' namespace; the root namespace applies mesh-wide).
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Workload label that selects the proxies, KEY=VALUE (repeatable, at least one:
    /// app=web for a sidecar, istio=ingressgateway for the default gateway).
    #[arg(long = "selector", value_name = "KEY=VALUE", required = true, value_parser = parse_label)]
    pub selectors: Vec<(String, String)>,
    /// Only traffic on this port (repeatable): the application's container port for a
    /// sidecar, the gateway's listener port (8080/8443) for a gateway.
    #[arg(long = "port", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub ports: Vec<u16>,
    /// Traffic direction the ports apply to: SERVER (sidecar inbound) or CLIENT (gateways).
    #[arg(long, value_enum, default_value = "SERVER")]
    pub mode: Mode,
    /// Where in the filter chain: AUTHN (default) runs the rules before authentication, as
    /// IIS runs URL Rewrite before authentication and authorization.
    #[arg(long, value_enum, default_value = "AUTHN")]
    pub phase: Phase,
    /// Order among plugins of the same phase (higher first).
    #[arg(long, value_name = "N")]
    pub priority: Option<i32>,
    /// What the proxy does when the module cannot be fetched or loaded, or its VM fails at
    /// run time: FAIL_RELOAD (default) rebuilds a failed VM and otherwise fails closed.
    #[arg(long, value_enum, default_value = "FAIL_RELOAD")]
    pub fail_strategy: FailStrategy,
    /// Also write what proxy rules need in the mesh: a VirtualService for this host
    /// (repeatable) routing on the filter's upstream header, and a ServiceEntry per upstream.
    #[arg(long = "route-host", value_name = "HOST")]
    pub route_hosts: Vec<String>,
    /// Gateway the VirtualService is bound to (repeatable; default: the sidecars).
    #[arg(long = "gateway", value_name = "NAME", requires = "route_hosts")]
    pub gateways: Vec<String>,
    /// Where requests no rule proxies go (the application's service), HOST[:PORT].
    #[arg(long, value_name = "HOST[:PORT]", requires = "route_hosts")]
    pub default_destination: Option<String>,
}

impl IstioArgs {
    /// The VirtualService options, when `--route-host` asks for one.
    pub fn mesh_routes(&self) -> Result<Option<routes::MeshRoutes>, IstioError> {
        if self.route_hosts.is_empty() {
            return Ok(None);
        }
        let default_destination = match &self.default_destination {
            None => None,
            Some(d) => Some(match d.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    Some(p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                        IstioError::BadName {
                            what: "--default-destination",
                            value: d.clone(),
                        }
                    })?),
                ),
                None => (d.clone(), None),
            }),
        };
        Ok(Some(routes::MeshRoutes {
            hosts: self.route_hosts.clone(),
            gateways: self.gateways.clone(),
            default_destination,
        }))
    }
}

/// Why no manifest was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IstioError {
    BadUrl(String),
    MissingSha256(String),
    BadSha256(String),
    DigestMismatch { url: String, sha256: String },
    BadName { what: &'static str, value: String },
    BadLabel(String),
    Config(String),
}

impl fmt::Display for IstioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IstioError::BadUrl(u) => write!(
                f,
                "--image {u:?}: expected oci://REGISTRY/REPO[:TAG|@sha256:…], https://…, http://… or file://…"
            ),
            IstioError::MissingSha256(u) => write!(
                f,
                "--image {u:?} is fetched over HTTP(S): give --sha256 (sha256sum of the .wasm) so \
                 proxies refuse a module that is not this one"
            ),
            IstioError::BadSha256(s) => write!(f, "--sha256 {s:?}: expected 64 hex digits"),
            IstioError::DigestMismatch { url, sha256 } => write!(
                f,
                "--image {url:?} names a digest that differs from --sha256 {sha256}"
            ),
            IstioError::BadName { what, value } => write!(
                f,
                "{what} {value:?}: expected a DNS label (lowercase letters, digits, '-', at most 63)"
            ),
            IstioError::BadLabel(l) => write!(f, "--selector {l:?}: not a valid label"),
            IstioError::Config(e) => write!(f, "configuration: {e}"),
        }
    }
}

impl std::error::Error for IstioError {}

/// `KEY=VALUE` for `--selector`.
fn parse_label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected KEY=VALUE"))?;
    let key_ok = !k.is_empty()
        && k.len() <= 253
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    let value_ok = v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if key_ok && value_ok {
        Ok((k.to_string(), v.to_string()))
    } else {
        Err(format!("{s:?}: not a Kubernetes label (KEY=VALUE)"))
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())
}

fn check(args: &IstioArgs) -> Result<(), IstioError> {
    let url = args.image.as_str();
    let scheme = url.split_once("://").map(|(s, rest)| (s, rest.is_empty()));
    let remote_http = match scheme {
        Some(("oci", false)) | Some(("file", false)) => false,
        Some(("https", false)) | Some(("http", false)) => true,
        _ => return Err(IstioError::BadUrl(url.to_string())),
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(IstioError::BadUrl(url.to_string()));
    }
    if let Some(s) = &args.sha256 {
        if !is_sha256(s) {
            return Err(IstioError::BadSha256(s.clone()));
        }
    } else if remote_http {
        return Err(IstioError::MissingSha256(url.to_string()));
    }
    if let (Some((_, digest)), Some(sha)) = (url.split_once("@sha256:"), &args.sha256) {
        if !digest.eq_ignore_ascii_case(sha) {
            return Err(IstioError::DigestMismatch {
                url: url.to_string(),
                sha256: sha.clone(),
            });
        }
    }
    if !is_dns_label(&args.name) {
        return Err(IstioError::BadName {
            what: "--name",
            value: args.name.clone(),
        });
    }
    if let Some(ns) = &args.namespace {
        if !is_dns_label(ns) {
            return Err(IstioError::BadName {
                what: "--namespace",
                value: ns.clone(),
            });
        }
    }
    for (k, v) in &args.selectors {
        parse_label(&format!("{k}={v}")).map_err(IstioError::BadLabel)?;
    }
    Ok(())
}

/// The WasmPlugin manifest. `config_json` is the plugin configuration exactly as `import`
/// writes it; `source` names the web.config in the header comment.
pub fn render(config_json: &str, source: &str, args: &IstioArgs) -> Result<String, IstioError> {
    check(args)?;
    let plugin_config = yaml::parse_json(config_json)
        .map_err(|e| IstioError::Config(e.to_string()))?
        .to_yaml_with(yaml::Style::Kubernetes, 4);
    let q = yaml::quote;
    let mut out = String::new();
    out.push_str(&format!(
        "# Generated by `iis-rewrite istio` from {source}: edit the web.config and regenerate\n\
         # rather than editing pluginConfig (docs/deploying.md; tests/e2e/test_istio.py).\n"
    ));
    out.push_str("apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n");
    push_metadata(&mut out, &args.name, args);
    out.push_str("spec:\n  selector:\n    matchLabels:\n");
    push_labels(&mut out, &args.selectors);
    out.push_str(&format!("  url: {}\n", q(&args.image)));
    if let Some(sha) = &args.sha256 {
        out.push_str(&format!("  sha256: {}\n", sha.to_ascii_lowercase()));
    }
    if args.image.starts_with("oci://") {
        // A moving tag is re-pulled; a pinned tag or digest is fetched once per proxy.
        let policy = if args.image.ends_with(":latest") {
            "Always"
        } else {
            "IfNotPresent"
        };
        out.push_str(&format!("  imagePullPolicy: {policy}\n"));
    }
    out.push_str("  type: HTTP\n");
    out.push_str(&format!("  phase: {}\n", screaming(&args.phase)));
    if let Some(p) = args.priority {
        out.push_str(&format!("  priority: {p}\n"));
    }
    out.push_str(&format!(
        "  failStrategy: {}\n",
        screaming(&args.fail_strategy)
    ));
    if !args.ports.is_empty() {
        out.push_str(&format!(
            "  match:\n  - mode: {}\n    ports:\n",
            screaming(&args.mode)
        ));
        for p in &args.ports {
            out.push_str(&format!("    - number: {p}\n"));
        }
    }
    out.push_str("  pluginConfig:\n");
    out.push_str(&plugin_config);
    out.push_str(&path_normalization(args));
    Ok(out)
}

/// The connection manager options a WasmPlugin cannot set: an `EnvoyFilter` that merges
/// them into the HTTP connection manager of the same workloads and ports, so the rules, the
/// routes and the application see one decoded, canonical path (docs/security.md). Mesh-wide,
/// `meshConfig.pathNormalization.normalization: DECODE_AND_MERGE_SLASHES` sets the same.
fn path_normalization(args: &IstioArgs) -> String {
    // A sidecar's inbound listeners for SERVER; gateways or outbound listeners otherwise.
    let context = match args.mode {
        Mode::Server => "SIDECAR_INBOUND",
        Mode::Client | Mode::ClientAndServer => "ANY",
    };
    let mut out = String::from(
        "---\n# The path policy of the HTTP connection manager (a WasmPlugin cannot set it).\n\
         apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata:\n",
    );
    push_metadata(&mut out, &format!("{}-path", args.name), args);
    out.push_str("spec:\n  workloadSelector:\n    labels:\n");
    push_labels(&mut out, &args.selectors);
    out.push_str("  configPatches:\n");
    let ports: Vec<Option<u16>> = if args.ports.is_empty() {
        vec![None]
    } else {
        args.ports.iter().copied().map(Some).collect()
    };
    for port in ports {
        out.push_str(&format!(
            "  - applyTo: NETWORK_FILTER\n    match:\n      context: {context}\n      listener:\n"
        ));
        if let Some(p) = port {
            out.push_str(&format!("        portNumber: {p}\n"));
        }
        out.push_str(&format!(
            "        filterChain:\n          filter:\n            name: {HCM_NAME}\n\
             \x20   patch:\n      operation: MERGE\n      value:\n        typed_config:\n\
             \x20         \"@type\": {HCM_TYPE}\n\
             \x20         normalize_path: true\n          merge_slashes: true\n\
             \x20         path_with_escaped_slashes_action: {}\n",
            crate::envoy::listener::PATH_ESCAPED_SLASHES_ACTION
        ));
    }
    out
}

/// `  name:` and `  namespace:` of a manifest's metadata.
fn push_metadata(out: &mut String, name: &str, args: &IstioArgs) {
    out.push_str(&format!("  name: {name}\n"));
    if let Some(ns) = &args.namespace {
        out.push_str(&format!("  namespace: {ns}\n"));
    }
}

/// Workload labels, as the entries of a six-space indented map.
fn push_labels(out: &mut String, selectors: &[(String, String)]) {
    for (k, v) in selectors {
        out.push_str(&format!(
            "      {}: {}\n",
            yaml::key(k, yaml::Style::Kubernetes),
            yaml::quote(v)
        ));
    }
}

const HCM_NAME: &str = "envoy.filters.network.http_connection_manager";
const HCM_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

#[cfg(test)]
mod tests {
    use super::*;

    fn args(image: &str, sha: Option<&str>) -> IstioArgs {
        IstioArgs {
            image: image.into(),
            sha256: sha.map(Into::into),
            name: "iis-rewrite".into(),
            namespace: Some("web".into()),
            selectors: vec![("app".into(), "web".into())],
            ports: vec![8080],
            mode: Mode::Server,
            phase: Phase::Authn,
            priority: None,
            fail_strategy: FailStrategy::Close,
            route_hosts: Vec::new(),
            gateways: Vec::new(),
            default_destination: None,
        }
    }

    #[test]
    fn mesh_route_options() {
        let mut a = args("oci://r/x:1", None);
        assert!(a.mesh_routes().unwrap().is_none());
        a.route_hosts = vec!["www.example.com".into()];
        a.default_destination = Some("app.web.svc:8080".into());
        let m = a.mesh_routes().unwrap().unwrap();
        assert_eq!(
            m.default_destination,
            Some(("app.web.svc".to_string(), Some(8080)))
        );
        a.default_destination = Some("app:http".into());
        assert!(a.mesh_routes().is_err());
    }

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn renders_the_fields() {
        let y = render(
            r#"{"rules":[]}"#,
            "web.config",
            &args("oci://r.example/f:1", None),
        )
        .unwrap();
        assert!(y.contains("  url: \"oci://r.example/f:1\"\n  imagePullPolicy: IfNotPresent\n"));
        assert!(y.contains("  phase: AUTHN\n  failStrategy: FAIL_CLOSE\n"));
        assert!(y.contains("  pluginConfig:\n    rules: []\n---\n"));
        assert!(y.contains("kind: EnvoyFilter\n"));
        assert!(y.contains(
            "      context: SIDECAR_INBOUND\n      listener:\n        portNumber: 8080\n"
        ));
        assert!(y.ends_with("          path_with_escaped_slashes_action: UNESCAPE_AND_FORWARD\n"));
        assert!(y.contains("  match:\n  - mode: SERVER\n    ports:\n    - number: 8080\n"));
    }

    #[test]
    fn refuses_unsafe_or_malformed_input() {
        let e = render("{}", "w", &args("https://x/plugin.wasm", None)).unwrap_err();
        assert!(matches!(e, IstioError::MissingSha256(_)));
        assert!(render("{}", "w", &args("https://x/plugin.wasm", Some(SHA))).is_ok());
        assert!(matches!(
            render("{}", "w", &args("https://x/p.wasm", Some("abc"))).unwrap_err(),
            IstioError::BadSha256(_)
        ));
        assert!(matches!(
            render("{}", "w", &args("ftp://x", None)).unwrap_err(),
            IstioError::BadUrl(_)
        ));
        let pinned = format!("oci://r/f@sha256:{}", "f".repeat(64));
        assert!(matches!(
            render("{}", "w", &args(&pinned, Some(SHA))).unwrap_err(),
            IstioError::DigestMismatch { .. }
        ));
        let mut a = args("oci://r/f:1", None);
        a.name = "Bad_Name".into();
        assert!(matches!(
            render("{}", "w", &a).unwrap_err(),
            IstioError::BadName { .. }
        ));
        assert!(parse_label("app").is_err());
        assert!(parse_label("app=a b").is_err());
    }
}
