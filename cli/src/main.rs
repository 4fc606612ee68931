//! `iis-rewrite`: import, check and explain IIS web.config rewrite rules, and generate the Envoy
//! bootstrap that runs them.
//!
//! Exit codes: 0 success, 1 invalid input (the configuration is refused, a file cannot be read or
//! written), 2 usage error (clap's own code for bad command lines).

mod diag;
mod envoy;
mod explain;
mod import;
mod istio;
mod load;
mod secrets;
mod spans;

mod work;
mod yaml;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::explain::{RequestSpec, Target};
use crate::load::{load, Loaded};

#[derive(Debug, Parser)]
#[command(
    name = "iis-rewrite",
    about = "Check, import and explain IIS URL Rewrite / ARR rules (web.config) and generate \
             the Envoy configuration that runs them",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per run; boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Validate a web.config (or the filter's JSON configuration): exit 0 and a summary when
    /// valid, else exit 1 with one FILE:LINE:COL line per problem.
    Check {
        #[command(flatten)]
        input: Input,
    },
    /// Write the filter's JSON configuration for a web.config.
    Import {
        #[command(flatten)]
        input: Input,
        /// Write to this file instead of stdout.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
    },
    /// Evaluate one request against the rules and show what each rule did.
    Explain {
        #[command(flatten)]
        input: Input,
        /// The request: a path (/a?b=1) or an absolute URL (http://host:port/a?b, which sets
        /// Host; https:// implies --https).
        #[arg(long, value_name = "URL", value_parser = explain::parse_target)]
        url: Target,
        /// Request method.
        #[arg(long, value_name = "M", default_value = "GET")]
        method: String,
        /// A request header, 'Name: value' (repeatable).
        #[arg(short = 'H', long = "header", value_name = "'Name: value'", value_parser = explain::parse_header)]
        headers: Vec<(String, String)>,
        /// The request arrives over TLS (HTTPS=on, local port 443).
        #[arg(long)]
        https: bool,
        /// Client address: an IP, optionally with :port (default 127.0.0.1:50000).
        #[arg(long, value_name = "IP", value_parser = explain::parse_remote)]
        remote_addr: Option<String>,
        /// Print one JSON object {"rules": [...], "decision": {...}}.
        #[arg(long)]
        json: bool,
    },
    /// Generate the Envoy bootstrap (YAML) that runs the filter with this configuration.
    Envoy {
        #[command(flatten)]
        input: Input,
        /// The filter's .wasm file, or an http(s):// URL Envoy downloads it from (needs
        /// --wasm-sha256).
        #[arg(long, value_name = "WASM")]
        wasm: String,
        /// SHA-256 of the module at the --wasm URL (Envoy refuses any other module).
        #[arg(long, value_name = "HEX")]
        wasm_sha256: Option<String>,
        /// Plain HTTP listener.
        #[arg(long, value_name = "ADDR:PORT")]
        listen: String,
        /// HTTPS listener (needs --tls-cert and --tls-key).
        #[arg(long, value_name = "ADDR:PORT", requires_all = ["tls_cert", "tls_key"])]
        https_listen: Option<String>,
        /// PEM certificate chain for --https-listen.
        #[arg(long, value_name = "PEM", requires = "https_listen")]
        tls_cert: Option<String>,
        /// PEM private key for --https-listen.
        #[arg(long, value_name = "PEM", requires = "https_listen")]
        tls_key: Option<String>,
        /// Where requests no rule proxies elsewhere go.
        #[arg(long, value_name = "HOST:PORT")]
        default_upstream: Option<String>,
        /// Envoy admin listener.
        #[arg(long, value_name = "ADDR:PORT")]
        admin: Option<String>,
        /// Trusted proxies in front of Envoy (X-Forwarded-For hops that decide REMOTE_ADDR).
        #[arg(long, value_name = "N", default_value_t = 0)]
        xff_trusted_hops: u32,
        /// PEM bundle that verifies https:// upstreams (default: /etc/ssl/certs/ca-certificates.crt).
        #[arg(long, value_name = "PEM", conflicts_with = "upstream_tls_insecure")]
        upstream_ca: Option<String>,
        /// Do not verify the certificates of https:// upstreams.
        #[arg(long)]
        upstream_tls_insecure: bool,
        /// Connect the cluster of HOST:PORT (as the rules name it) to ADDR:PORT instead
        /// (repeatable; the Host header and TLS name stay HOST).
        #[arg(long, value_name = "HOST:PORT=ADDR:PORT", value_parser = envoy::parse_resolve)]
        resolve: Vec<envoy::Resolve>,
        /// Basic-auth user the filter sends to every proxied request (with Remote-User).
        #[arg(long, value_name = "USER")]
        backend_user: Option<String>,
        /// File holding the backend password (one line).
        #[arg(long, value_name = "FILE", conflicts_with = "backend_password_env")]
        backend_password_file: Option<PathBuf>,
        /// Environment variable holding the backend password.
        #[arg(long, value_name = "VAR")]
        backend_password_env: Option<String>,
        /// Another site behind the same listener: requests for HOST run the rules of FILE
        /// (repeatable); FILE (the positional one) serves every other host.
        #[arg(long = "site", value_name = "HOST=FILE", value_parser = envoy::sites::parse_site)]
        sites: Vec<envoy::sites::SiteArg>,
        /// The default upstream of one --site (else --default-upstream).
        #[arg(long = "site-upstream", value_name = "HOST=HOST:PORT", value_parser = envoy::sites::parse_site_upstream)]
        site_upstreams: Vec<(String, String)>,
        /// Requests whose path starts with PREFIX skip the filter (repeatable; e.g. /healthz).
        #[arg(long, value_name = "PREFIX")]
        bypass: Vec<String>,
        /// Deliver the filter configuration through ECDS from DIR/iis-rewrite.yaml (written
        /// atomically): rewriting that file later reloads the rules without a restart.
        #[arg(long, value_name = "DIR")]
        ecds: Option<PathBuf>,
        /// Write to this file instead of stdout (created mode 0600 when it holds a password).
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
    },
    /// Generate an Istio WasmPlugin manifest whose pluginConfig is this configuration.
    Istio {
        #[command(flatten)]
        input: Input,
        #[command(flatten)]
        opts: istio::IstioArgs,
        /// Write to this file instead of stdout.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct Input {
    /// A web.config, a fragment (<rewrite>, <rules>, <outboundRules>, <rewriteMaps>), or the
    /// filter's JSON configuration (recognised by a leading '{').
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Where configSource files are looked for (default: the directory of FILE).
    #[arg(long, value_name = "DIR")]
    config_dir: Option<PathBuf>,
}

fn version() -> String {
    format!(
        "{} (git {})",
        iis_rewrite_filter::VERSION,
        iis_rewrite_filter::GIT_HASH
    )
}

fn main() -> ExitCode {
    let matches = match Cli::command().version(version()).try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    ExitCode::from(run(cli.command))
}

fn run(command: Command) -> u8 {
    match command {
        Command::Check { input } => {
            let loaded = load_and_report(&input);
            match (&loaded.config, loaded.has_errors()) {
                (Some(config), false) => {
                    println!("{}: ok: {}", input.file.display(), load::summary(config));
                    0
                }
                _ => 1,
            }
        }
        Command::Import { input, output } => {
            let loaded = load_and_report(&input);
            let Some(config) = loaded.config.as_ref().filter(|_| !loaded.has_errors()) else {
                return 1;
            };
            let mut config = config.clone();
            if secrets::mask_config(&mut config) {
                eprintln!(
                    "{}: warning: the backend password is not written; give it to `iis-rewrite \
                     envoy` with --backend-password-file or --backend-password-env",
                    input.file.display()
                );
            }
            match serde_json::to_string_pretty(&config) {
                Ok(mut json) => {
                    json.push('\n');
                    write_output(output.as_deref(), &json)
                }
                Err(e) => {
                    eprintln!("error: cannot serialise the configuration: {e}");
                    1
                }
            }
        }
        Command::Explain {
            input,
            url,
            method,
            headers,
            https,
            remote_addr,
            json,
        } => {
            let loaded = load_and_report(&input);
            let Some(engine) = loaded.engine.as_ref().filter(|_| !loaded.has_errors()) else {
                return 1;
            };
            let spec = RequestSpec {
                target: url,
                method,
                headers,
                https,
                remote: remote_addr,
            };
            let request = explain::build_request(&spec);
            let mut trace = iis_rewrite_filter::trace::RequestTrace::default();
            let mut decision = engine.inbound_traced(&request, &mut trace);
            if let Some(config) = loaded.config.as_ref() {
                secrets::mask_decision(config, &mut decision);
            }
            let out = if json {
                let mut s = explain::to_json(&trace, &decision);
                s.push('\n');
                s
            } else {
                explain::to_text(&spec, &trace, &decision)
            };
            write_output(None, &out)
        }
        Command::Envoy {
            input,
            wasm,
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
            wasm_sha256,
            output,
        } => {
            let loaded = load_and_report(&input);
            let (Some(config), Some(engine)) = (loaded.config.as_ref(), loaded.engine.as_ref())
            else {
                return 1;
            };
            if loaded.has_errors() {
                return 1;
            }
            let source = match (backend_password_file, backend_password_env) {
                (Some(f), _) => Some(secrets::PasswordSource::File(f)),
                (None, Some(v)) => Some(secrets::PasswordSource::Env(v)),
                (None, None) => None,
            };
            let mut config = config.clone();
            let secret = match secrets::apply(&mut config, backend_user.as_deref(), source.as_ref())
            {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{}: error: {e}", input.file.display());
                    return 1;
                }
            };
            let config = &config;
            let opts = envoy::EnvoyOptions {
                wasm,
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
                wasm_host_env_keys: secrets::env_keys(config),
            };
            let deploy = envoy::sites::DeployOptions {
                site_upstreams,
                bypass,
                ecds,
                wasm_sha256,
            };
            if sites.is_empty() && deploy.is_plain(&opts.wasm) {
                return match envoy::render(config, engine, &opts) {
                    Ok(yaml) if secret => write_secret_output(output.as_deref(), &yaml),
                    Ok(yaml) => write_output(output.as_deref(), &yaml),
                    Err(e) => {
                        eprintln!("{}: error: {e}", input.file.display());
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
        Command::Istio {
            input,
            opts,
            output,
        } => {
            let Some(json) = imported_json(&input) else {
                return 1;
            };
            let source = input.file.display().to_string();
            match istio::render(&json, &source, &opts) {
                Ok(yaml) => write_output(output.as_deref(), &yaml),
                Err(e @ istio::IstioError::Config(_)) => {
                    eprintln!("{source}: error: {e}");
                    1
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    2
                }
            }
        }
    }
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
            file: arg.file.clone(),
            config_dir: None,
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
        Ok(rendered) => {
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
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                envoy::sites::SiteError::Envoy(_) | envoy::sites::SiteError::Shape(_) => 1,
                _ => 2,
            }
        }
    }
}

/// The imported configuration as `import` writes it (pretty JSON), or None after reporting.
fn imported_json(input: &Input) -> Option<String> {
    let loaded = load_and_report(input);
    let config = loaded.config.as_ref().filter(|_| !loaded.has_errors())?;
    match serde_json::to_string_pretty(config) {
        Ok(json) => Some(json),
        Err(e) => {
            eprintln!("error: cannot serialise the configuration: {e}");
            None
        }
    }
}

/// Loads the input and prints its diagnostics on stderr.
fn load_and_report(input: &Input) -> Loaded {
    let loaded = load(&input.file, input.config_dir.as_deref());
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    for line in loaded.render() {
        let _ = writeln!(err, "{line}");
    }
    loaded
}

/// Writes a bootstrap that holds a password: a file is created readable by its owner only.
fn write_secret_output(path: Option<&Path>, text: &str) -> u8 {
    let Some(p) = path else {
        return write_output(None, text);
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options
        .open(p)
        .and_then(|mut f| f.write_all(text.as_bytes()))
    {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{}: error: cannot write: {e}", p.display());
            1
        }
    }
}

/// Writes the command's result to `path` or stdout.
fn write_output(path: Option<&Path>, text: &str) -> u8 {
    match path {
        Some(p) => match std::fs::write(p, text) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{}: error: cannot write: {e}", p.display());
                1
            }
        },
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => 0,
                // A closed pipe (`| head`) is not the configuration's fault.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
                Err(e) => {
                    eprintln!("error: cannot write to stdout: {e}");
                    1
                }
            }
        }
    }
}
