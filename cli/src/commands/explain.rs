//! `iis-rewrite explain`: evaluate one request against the rules and show what each rule did.

use clap::Args;

use super::{load_and_report, write_output, Input};
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
        body,
        response_headers,
        status,
    } = args;
    let mut loaded = load_and_report(&input);
    if loaded.has_errors() {
        return 1;
    }
    let Some(engine) = loaded.engine.take().map(std::rc::Rc::new) else {
        return 1;
    };
    let body = match body
        .map(|path| std::fs::read(&path).map_err(|e| (path, e)))
        .transpose()
    {
        Ok(body) => body,
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
    let request = explain::build_request(&spec);
    let mut trace = iis_rewrite_filter::trace::RequestTrace::default();
    let mut decision = engine.inbound_traced(&request, &mut trace);
    if let Some(config) = loaded.config.as_ref() {
        secrets::mask_decision(config, &mut decision);
    }
    let body = body.map(|body| {
        let spec = explain::BodySpec {
            status,
            headers: response_headers,
            body,
        };
        explain::explain_body(&engine, &decision, &spec)
    });
    let out = if json {
        let mut s = explain::to_json(&trace, &decision, body.as_ref());
        s.push('\n');
        s
    } else {
        let mut s = explain::to_text(&spec, &trace, &decision);
        if let Some(body) = &body {
            s.push_str(&explain::body_text(body));
        }
        s
    };
    write_output(None, &out)
}
