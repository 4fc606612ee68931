//! `iis-rewrite explain`: evaluate one request against the rules and show what each rule did.

use clap::Args;

use super::{load_and_report, server, write_output, Input};
use crate::explain::{self, RequestSpec, Target};
use crate::secrets;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub input: Input,
    /// The request: a path (/a?b=1) or an absolute URL (http://host:port/a?b, which sets
    /// Host; https:// implies --https).
    #[arg(long, value_name = "URL", value_parser = explain::parse_target)]
    pub url: Target,
    /// Request method.
    #[arg(long, value_name = "M", default_value = "GET")]
    pub method: String,
    /// A request header, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "'Name: value'", value_parser = explain::parse_header)]
    pub headers: Vec<(String, String)>,
    /// The request arrives over TLS (HTTPS=on, local port 443).
    #[arg(long)]
    pub https: bool,
    /// Client address: an IP, optionally with :port (default 127.0.0.1:50000).
    #[arg(long, value_name = "IP", value_parser = explain::parse_remote)]
    pub remote_addr: Option<String>,
    /// Print one JSON object {"rules": [...], "decision": {...}} (and "body" with --body).
    #[arg(long)]
    pub json: bool,
    /// With --applicationhost: the site whose rules run (default: the site whose bindings take
    /// the URL's host and port).
    #[arg(long, value_name = "NAME", requires = "applicationhost")]
    pub site: Option<String>,
    /// A sample response body: show what the body rules would do to it.
    #[arg(long, value_name = "FILE")]
    pub body: Option<std::path::PathBuf>,
    /// A header of that sample response, 'Name: value' (repeatable; Content-Type defaults to
    /// text/html; charset=utf-8).
    #[arg(long = "response-header", value_name = "'Name: value'", value_parser = explain::parse_header)]
    pub response_headers: Vec<(String, String)>,
    /// The status of that sample response.
    #[arg(long, value_name = "CODE", default_value_t = 200)]
    pub status: u16,
}

/// The trace of the rules as text, or as one JSON object with --json.
pub fn run(args: ExplainArgs) -> u8 {
    let ExplainArgs {
        input,
        url,
        method,
        headers,
        https,
        remote_addr,
        json,
        site,
        body,
        response_headers,
        status,
    } = args;
    let body = match body
        .map(|path| std::fs::read(&path).map_err(|e| (path, e)))
        .transpose()
    {
        Ok(body) => body.map(|body| explain::BodySpec {
            status,
            headers: response_headers,
            body,
        }),
        Err((path, e)) => {
            eprintln!("iis-rewrite: cannot read {}: {e}", path.display());
            return 1;
        }
    };
    let spec = RequestSpec {
        target: url,
        method,
        headers,
        https,
        remote: remote_addr,
    };
    let server = match input.applicationhost(&[]) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if let Some(path) = server {
        let loaded = server::load_and_report(path, &input.server);
        if loaded.has_errors() {
            return 1;
        }
        let https = spec.https || spec.target.tls;
        // The host name HTTP.sys matches bindings against: the URL's, else a Host header.
        let host = spec.target.authority.as_deref().or_else(|| {
            spec.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("host"))
                .map(|(_, v)| v.as_str())
        });
        let port = spec.target.port.or_else(|| {
            host.and_then(|h| h.rsplit_once(':'))
                .and_then(|(_, p)| p.parse().ok())
        });
        let chosen = server::site_for_request(&loaded, site.as_deref(), host, port, https);
        return match chosen {
            Ok(s) => match &s.engine {
                Some(engine) => {
                    if !json {
                        println!("site {}", crate::diag::quote(&s.def.name));
                    }
                    explain_with(engine, &s.config, &spec, body.as_ref(), json)
                }
                None => 1,
            },
            Err(e) => {
                eprintln!("error: {e}");
                2
            }
        };
    }
    let mut loaded = load_and_report(&input);
    if loaded.has_errors() {
        return 1;
    }
    let (Some(engine), Some(config)) = (loaded.engine.take(), loaded.config.as_ref()) else {
        return 1;
    };
    explain_with(
        &std::rc::Rc::new(engine),
        config,
        &spec,
        body.as_ref(),
        json,
    )
}

/// Evaluates the request and writes the trace.
fn explain_with(
    engine: &std::rc::Rc<iis_rewrite_filter::Engine>,
    config: &iis_rewrite_filter::FilterConfig,
    spec: &RequestSpec,
    body: Option<&explain::BodySpec>,
    json: bool,
) -> u8 {
    let request = explain::build_request(spec);
    let mut trace = iis_rewrite_filter::trace::RequestTrace::default();
    let mut decision = engine.inbound_traced(&request, &mut trace);
    secrets::mask_decision(config, &mut decision);
    let body = body.map(|spec| explain::explain_body(engine, &decision, spec));
    let out = if json {
        let mut s = explain::to_json(&trace, &decision, body.as_ref());
        s.push('\n');
        s
    } else {
        let mut s = explain::to_text(spec, &trace, &decision);
        if let Some(body) = &body {
            s.push_str(&explain::body_text(body));
        }
        s
    };
    write_output(None, &out)
}
