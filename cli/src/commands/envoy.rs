//! `iis-rewrite envoy`: the Envoy bootstrap (YAML) that runs the filter with this
//! configuration. The generator itself is [`crate::envoy`].

use std::path::{Path, PathBuf};

use clap::Args;

use super::{load_and_report, server, server_envoy, write_output, write_secret_output, Input};
use crate::envoy;
use crate::secrets;

#[derive(Debug, Args)]
pub struct EnvoyArgs {
    #[command(flatten)]
    pub input: Input,
    /// The filter's .wasm file, or an http(s):// URL Envoy downloads it from (needs
    /// --wasm-sha256).
    #[arg(long, value_name = "WASM")]
    pub wasm: String,
    /// SHA-256 of the module at the --wasm URL (Envoy refuses any other module).
    #[arg(long, value_name = "HEX")]
    pub wasm_sha256: Option<String>,
    /// Plain HTTP listener (with --applicationhost, the sites' bindings make the listeners).
    #[arg(
        long,
        value_name = "ADDR:PORT",
        required_unless_present = "applicationhost"
    )]
    pub listen: Option<String>,
    /// HTTPS listener (needs --tls-cert and --tls-key).
    #[arg(long, value_name = "ADDR:PORT", requires_all = ["tls_cert", "tls_key"])]
    pub https_listen: Option<String>,
    /// PEM certificate chain for --https-listen.
    #[arg(long, value_name = "PEM", requires = "https_listen")]
    pub tls_cert: Option<String>,
    /// PEM private key for --https-listen.
    #[arg(long, value_name = "PEM", requires = "https_listen")]
    pub tls_key: Option<String>,
    /// Where requests no rule proxies elsewhere go.
    #[arg(long, value_name = "HOST:PORT")]
    pub default_upstream: Option<String>,
    /// Envoy admin listener.
    #[arg(long, value_name = "ADDR:PORT")]
    pub admin: Option<String>,
    /// Trusted proxies in front of Envoy (X-Forwarded-For hops that decide REMOTE_ADDR).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub xff_trusted_hops: u32,
    /// PEM bundle that verifies https:// upstreams (default: /etc/ssl/certs/ca-certificates.crt).
    #[arg(long, value_name = "PEM", conflicts_with = "upstream_tls_insecure")]
    pub upstream_ca: Option<String>,
    /// Do not verify the certificates of https:// upstreams.
    #[arg(long)]
    pub upstream_tls_insecure: bool,
    /// Connect the cluster of HOST:PORT (as the rules name it) to ADDR:PORT instead
    /// (repeatable; the Host header and TLS name stay HOST).
    #[arg(long, value_name = "HOST:PORT=ADDR:PORT", value_parser = envoy::parse_resolve)]
    pub resolve: Vec<envoy::Resolve>,
    /// Basic-auth user the filter sends to every proxied request (with Remote-User).
    #[arg(long, value_name = "USER")]
    pub backend_user: Option<String>,
    /// File holding the backend password (one line).
    #[arg(long, value_name = "FILE", conflicts_with = "backend_password_env")]
    pub backend_password_file: Option<PathBuf>,
    /// Environment variable holding the backend password.
    #[arg(long, value_name = "VAR")]
    pub backend_password_env: Option<String>,
    /// Another site behind the same listener: requests for HOST run the rules of FILE
    /// (repeatable); FILE (the positional one) serves every other host.
    #[arg(long = "site", value_name = "HOST=FILE", value_parser = envoy::sites::parse_site)]
    pub sites: Vec<envoy::sites::SiteArg>,
    /// The default upstream of one --site (else --default-upstream).
    #[arg(long = "site-upstream", value_name = "HOST=HOST:PORT", value_parser = envoy::sites::parse_site_upstream)]
    pub site_upstreams: Vec<(String, String)>,
    /// Requests whose path starts with PREFIX skip the filter (repeatable; e.g. /healthz).
    #[arg(long, value_name = "PREFIX")]
    pub bypass: Vec<String>,
    /// Deliver the filter configuration through ECDS from DIR/iis-rewrite.yaml and the
    /// clusters through CDS from DIR/iis-rewrite-clusters.yaml (both written atomically):
    /// running the command again reloads rules and upstreams without a restart.
    #[arg(long, value_name = "DIR")]
    pub ecds: Option<PathBuf>,
    /// With --applicationhost: PEM files for the HTTPS bindings of HOST (`*`: every other
    /// host), since IIS keeps certificates in the Windows store (repeatable).
    #[arg(long = "certificate", value_name = "HOST=CERT,KEY", requires = "applicationhost", value_parser = server_envoy::parse_certificate)]
    pub certificates: Vec<server_envoy::CertificateArg>,
    /// With --applicationhost: the bindings of IIS port PORT listen on ADDR:PORT instead of
    /// their own address (repeatable; e.g. 443=0.0.0.0:8443).
    #[arg(long = "bind", value_name = "PORT=ADDR:PORT", requires = "applicationhost", value_parser = server_envoy::parse_bind)]
    pub binds: Vec<(u16, std::net::SocketAddr)>,
    /// Let proxy targets whose host comes from the request reach HOST on these ports through
    /// Envoy's dynamic forward proxy (repeatable; HOST a name, an IP or *.domain). Added to the
    /// configuration's proxy.dynamicUpstreams; any other host is refused with 502.
    #[arg(long = "dynamic-upstream", value_name = "HOST:PORT[,PORT…]", value_parser = envoy::dynamic::parse_dynamic_upstream)]
    pub dynamic_upstreams: Vec<iis_rewrite_filter::config::DynamicUpstream>,
    /// DNS server the dynamic forward proxy asks (default: the system's resolver).
    #[arg(long, value_name = "IP:PORT", value_parser = parse_dns_resolver)]
    pub dns_resolver: Option<(String, u16)>,
    /// Write to this file instead of stdout (created mode 0600 when it holds a password).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
}

/// Loads the configuration, applies the backend password, renders and writes the bootstrap.
pub fn run(args: EnvoyArgs) -> u8 {
    let EnvoyArgs {
        input,
        wasm,
        wasm_sha256,
        listen,
        https_listen,
        tls_cert,
        tls_key,
        default_upstream,
        admin,
        xff_trusted_hops,
        upstream_ca,
        upstream_tls_insecure,
        resolve,
        backend_user,
        backend_password_file,
        backend_password_env,
        sites,
        site_upstreams,
        bypass,
        ecds,
        certificates,
        binds,
        dynamic_upstreams,
        dns_resolver,
        output,
    } = args;
    let server = input.applicationhost(&[
        ("--listen", listen.is_some()),
        ("--https-listen", https_listen.is_some()),
        ("--site", !sites.is_empty()),
    ]);
    let server = match server {
        Ok(p) => p.map(Path::to_path_buf),
        Err(code) => return code,
    };
    let source = match (backend_password_file, backend_password_env) {
        (Some(f), _) => Some(secrets::PasswordSource::File(f)),
        (None, Some(v)) => Some(secrets::PasswordSource::Env(v)),
        (None, None) => None,
    };
    let mut opts = envoy::EnvoyOptions {
        wasm,
        listen: listen.unwrap_or_default(),
        https_listen,
        tls_cert,
        tls_key,
        default_upstream,
        admin,
        xff_trusted_hops,
        upstream_ca,
        upstream_tls_insecure,
        resolve,
        wasm_host_env_keys: Vec::new(),
        dns_resolver,
    };
    let deploy = envoy::sites::DeployOptions {
        site_upstreams,
        bypass,
        ecds,
        wasm_sha256,
        listeners: Vec::new(),
    };
    if let Some(path) = &server {
        let server = ServerRun {
            certificates: &certificates,
            binds: &binds,
            backend_user: backend_user.as_deref(),
            password: source.as_ref(),
        };
        return render_server(path, &input.server, server, opts, deploy, output.as_deref());
    }
    let loaded = load_and_report(&input);
    let (Some(config), Some(engine)) = (loaded.config.as_ref(), loaded.engine.as_ref()) else {
        return 1;
    };
    if loaded.has_errors() {
        return 1;
    }
    let mut config = config.clone();
    let secret = match secrets::apply(&mut config, backend_user.as_deref(), source.as_ref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: error: {e}", input.path().display());
            return 1;
        }
    };
    let recompiled;
    let engine = if dynamic_upstreams.is_empty() {
        engine
    } else {
        let proxy = config.proxy.get_or_insert_with(Default::default);
        proxy.dynamic_upstreams.extend(dynamic_upstreams);
        recompiled = match iis_rewrite_filter::Engine::compile(&config) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("{}: error: --dynamic-upstream: {e}", input.path().display());
                return 1;
            }
        };
        &recompiled
    };
    let config = &config;
    opts.wasm_host_env_keys = secrets::env_keys(config);
    if sites.is_empty() && deploy.is_plain(&opts.wasm) {
        return match envoy::render(config, engine, &opts) {
            Ok(yaml) if secret => write_secret_output(output.as_deref(), &yaml),
            Ok(yaml) => write_output(output.as_deref(), &yaml),
            Err(e) => {
                eprintln!("{}: error: {e}", input.path().display());
                1
            }
        };
    }
    render_sites(
        (config, engine),
        &sites,
        &opts,
        &deploy,
        (output.as_deref(), secret),
    )
}

/// `--dns-resolver IP:PORT` (clap value parser).
fn parse_dns_resolver(value: &str) -> Result<(String, u16), String> {
    value
        .parse::<std::net::SocketAddr>()
        .map(|a| (a.ip().to_string(), a.port()))
        .map_err(|_| format!("{value:?}: expected IP:PORT"))
}

/// `iis-rewrite envoy` with --site/--bypass/--ecds: loads every site, renders, writes the
/// bootstrap and the ECDS file.
fn render_sites(
    default: (
        &iis_rewrite_filter::FilterConfig,
        &iis_rewrite_filter::Engine,
    ),
    site_args: &[envoy::sites::SiteArg],
    opts: &envoy::EnvoyOptions,
    deploy: &envoy::sites::DeployOptions,
    (output, secret): (Option<&Path>, bool),
) -> u8 {
    let mut loaded_sites = Vec::new();
    let mut failed = false;
    for arg in site_args {
        let loaded = load_and_report(&Input {
            file: Some(arg.file.clone()),
            config_dir: None,
            server: Default::default(),
        });
        failed |= loaded.has_errors() || loaded.config.is_none() || loaded.engine.is_none();
        loaded_sites.push((arg.host.clone(), loaded));
    }
    if failed {
        return 1;
    }
    let sites: Vec<envoy::sites::Site<'_>> = loaded_sites
        .iter()
        .filter_map(|(host, l)| {
            Some(envoy::sites::Site {
                host: host.clone(),
                config: l.config.as_ref()?,
                engine: l.engine.as_ref()?,
            })
        })
        .collect();
    match envoy::sites::render(default, &sites, opts, deploy) {
        Ok(rendered) => write_rendered(&rendered, output, secret),
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                envoy::sites::SiteError::Envoy(_) | envoy::sites::SiteError::Shape(_) => 1,
                _ => 2,
            }
        }
    }
}

/// What `envoy --applicationhost` needs beyond the common options.
struct ServerRun<'a> {
    certificates: &'a [server_envoy::CertificateArg],
    binds: &'a [(u16, std::net::SocketAddr)],
    backend_user: Option<&'a str>,
    password: Option<&'a secrets::PasswordSource>,
}

/// `iis-rewrite envoy --applicationhost`: one rule set per site, listeners from the bindings.
fn render_server(
    path: &Path,
    input: &server::ServerInput,
    run: ServerRun<'_>,
    mut opts: envoy::EnvoyOptions,
    mut deploy: envoy::sites::DeployOptions,
    output: Option<&Path>,
) -> u8 {
    let loaded = server::load_and_report(path, input);
    if loaded.has_errors() {
        return 1;
    }
    let listeners = match server_envoy::plan(&loaded, run.certificates, run.binds) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let Some((server_config, Some(server_engine))) = &loaded.server else {
        return 1;
    };
    let mut configs = Vec::new();
    let mut secret = false;
    for site in &loaded.sites {
        let mut config = site.config.clone();
        match secrets::apply(&mut config, run.backend_user, run.password) {
            Ok(s) => secret |= s,
            Err(e) => {
                eprintln!("{}: error: {e}", loaded.source);
                return 1;
            }
        }
        opts.wasm_host_env_keys.extend(secrets::env_keys(&config));
        configs.push(config);
    }
    opts.wasm_host_env_keys.sort();
    opts.wasm_host_env_keys.dedup();
    if let Some(first) = listeners.first() {
        opts.listen = first.address.to_string();
    }
    let served: Vec<&str> = listeners
        .iter()
        .flat_map(|l| l.hosts.iter().map(|(set, _)| set.as_str()))
        .collect();
    let sites: Vec<envoy::sites::Site<'_>> = loaded
        .sites
        .iter()
        .zip(&configs)
        .filter(|(s, _)| served.contains(&s.rule_set.as_str()))
        .filter_map(|(s, config)| {
            Some(envoy::sites::Site {
                host: s.rule_set.clone(),
                config,
                engine: s.engine.as_ref()?,
            })
        })
        .collect();
    deploy.listeners = listeners;
    let rendered =
        match envoy::sites::render((server_config, server_engine), &sites, &opts, &deploy) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return match e {
                    envoy::sites::SiteError::Envoy(_) | envoy::sites::SiteError::Shape(_) => 1,
                    _ => 2,
                };
            }
        };
    write_rendered(&rendered, output, secret)
}

/// Writes what `render` made: the CDS file first (the new rules may name clusters only it
/// adds), then the ECDS file, then the bootstrap (mode 0600 when it holds a secret).
fn write_rendered(rendered: &envoy::sites::Rendered, output: Option<&Path>, secret: bool) -> u8 {
    if let Some((path, text)) = &rendered.cds {
        if let Err(e) = envoy::cds::write_cds(path, text) {
            eprintln!("{}: error: cannot write: {e}", path.display());
            return 1;
        }
    }
    if let Some((path, text)) = &rendered.ecds {
        if let Err(e) = envoy::sites::write_ecds(path, text) {
            eprintln!("{}: error: cannot write: {e}", path.display());
            return 1;
        }
    }
    if secret {
        write_secret_output(output, &rendered.bootstrap)
    } else {
        write_output(output, &rendered.bootstrap)
    }
}
