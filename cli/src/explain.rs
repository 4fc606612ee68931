//! `iis-rewrite explain`: one request through the engine, shown rule by rule.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use iis_rewrite_filter::decision::{Decision, HeaderEdit, Outcome};
use iis_rewrite_filter::engine::BodySkip;
use iis_rewrite_filter::trace::{RequestTrace, RuleTrace};
use iis_rewrite_filter::{Engine, Property, StaticRequest, StaticResponse};
use serde::Serialize;

use crate::envoy::path_view::{envoy_view, Refused};

/// The request target given with `--url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// From an absolute URL: `https`/`wss` imply TLS.
    pub tls: bool,
    /// The Host the URL names (`host[:port]` as written), if absolute.
    pub authority: Option<String>,
    /// The port of an absolute URL (explicit or the scheme's default).
    pub port: Option<u16>,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// Parses `--url`: a path (`/a?b=1`) or an absolute `http(s)://` / `ws(s)://` URL.
pub fn parse_target(url: &str) -> Result<Target, String> {
    if url.starts_with('/') {
        return Ok(Target {
            tls: false,
            authority: None,
            port: None,
            path: strip_fragment(url).to_string(),
        });
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "{url:?} is neither a path starting with / nor an absolute http:// or https:// URL"
        ));
    };
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => false,
        "https" | "wss" => true,
        other => {
            return Err(format!(
                "unsupported URL scheme {other:?} (use http or https)"
            ))
        }
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    if authority.contains('@') {
        return Err(format!(
            "{url:?}: user information in the URL is not supported"
        ));
    }
    let port = match authority.rsplit_once(':') {
        Some((host, p)) if !p.contains(']') => {
            if host.is_empty() {
                return Err(format!("{url:?} has no host"));
            }
            p.parse::<u16>()
                .map_err(|_| format!("{url:?}: invalid port {p:?}"))?
        }
        _ => {
            if tls {
                443
            } else {
                80
            }
        }
    };
    let tail = strip_fragment(tail);
    let path = if tail.starts_with('/') {
        tail.to_string()
    } else {
        format!("/{tail}")
    };
    Ok(Target {
        tls,
        authority: Some(authority.to_string()),
        port: Some(port),
        path,
    })
}

fn strip_fragment(s: &str) -> &str {
    s.split('#').next().unwrap_or(s)
}

/// Parses `--remote-addr`: an IP, optionally with a port (`203.0.113.5`, `[2001:db8::1]:4000`).
pub fn parse_remote(addr: &str) -> Result<String, String> {
    if let Ok(sa) = addr.parse::<SocketAddr>() {
        return Ok(sa.to_string());
    }
    let bare = addr.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => Ok(SocketAddr::new(ip, 50000).to_string()),
        Err(_) => Err(format!(
            "{addr:?} is not an IP address (optionally with :port)"
        )),
    }
}

/// Parses a `-H 'Name: value'` header.
pub fn parse_header(h: &str) -> Result<(String, String), String> {
    let Some((name, value)) = h.split_once(':') else {
        return Err(format!("{h:?} is not a header (expected 'Name: value')"));
    };
    let name = name.trim();
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        return Err(format!("{name:?} is not a valid header name"));
    }
    Ok((name.to_ascii_lowercase(), value.trim().to_string()))
}

/// Everything `explain` needs to build the request.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    pub target: Target,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub https: bool,
    pub remote: Option<String>,
}

/// The request the engine evaluates, with the path the filter receives behind the generated
/// bootstrap (Envoy's path normalisation, [`envoy_view`]). Defaults: Host `localhost`, client
/// 127.0.0.1:50000, local address 127.0.0.1:80 (443 with TLS, or the absolute URL's port).
pub fn build_request(spec: &RequestSpec) -> StaticRequest {
    let tls = spec.https || spec.target.tls;
    let host = spec
        .target
        .authority
        .clone()
        .unwrap_or_else(|| "localhost".to_string());
    let path = envoy_view(&spec.target.path).unwrap_or_else(|_| spec.target.path.clone());
    let mut req =
        StaticRequest::get(&host, &path).with_header(":method", spec.method.to_ascii_uppercase());
    if tls {
        req = req.over_tls();
    }
    let port = spec.target.port.unwrap_or(if tls { 443 } else { 80 });
    req = req.with_property(Property::DestinationAddress, format!("127.0.0.1:{port}"));
    if let Some(remote) = &spec.remote {
        req = req.with_property(Property::SourceAddress, remote);
    }
    // Repeated headers are comma-joined, as the engine expects them.
    let mut joined: Vec<(String, String)> = Vec::new();
    for (name, value) in &spec.headers {
        let name = if name == "host" {
            ":authority".to_string()
        } else {
            name.clone()
        };
        match joined.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) if name != ":authority" => {
                v.push_str(", ");
                v.push_str(value);
            }
            Some((_, v)) => *v = value.clone(),
            None => joined.push((name, value.clone())),
        }
    }
    for (name, value) in joined {
        req = req.with_header(&name, value);
    }
    req
}

/// The decision for a request target Envoy answers with 400 itself: no rule runs.
pub fn refused_by_envoy(refused: Refused) -> Decision {
    Decision::refused(400, refused.0)
}

/// The `--json` form.
#[derive(Debug, Serialize)]
pub struct Explained<'a> {
    /// The path and query the rules saw: the request's after Envoy's normalisation (null when
    /// Envoy refuses the request target).
    pub path: Option<&'a str>,
    pub rules: &'a [RuleTrace],
    pub decision: &'a Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<&'a BodyOutcome>,
}

pub fn to_json(
    spec: &RequestSpec,
    trace: &RequestTrace,
    decision: &Decision,
    body: Option<&BodyOutcome>,
) -> String {
    let path = envoy_view(&spec.target.path).ok();
    let e = Explained {
        path: path.as_deref(),
        rules: &trace.rules,
        decision,
        body,
    };
    serde_json::to_string_pretty(&e).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// The human form.
pub fn to_text(spec: &RequestSpec, trace: &RequestTrace, decision: &Decision) -> String {
    let mut out = String::new();
    let tls = spec.https || spec.target.tls;
    let _ = writeln!(
        out,
        "request: {} {} (Host {}, HTTPS {})",
        spec.method.to_ascii_uppercase(),
        spec.target.path,
        spec.headers
            .iter()
            .rev()
            .find(|(n, _)| n == "host")
            .map(|(_, v)| v.as_str())
            .or(spec.target.authority.as_deref())
            .unwrap_or("localhost"),
        if tls { "on" } else { "off" }
    );
    if let Ok(seen) = envoy_view(&spec.target.path).as_ref().map(String::as_str) {
        if seen != spec.target.path {
            let _ = writeln!(out, "path after Envoy's normalisation: {seen}");
        }
    }
    if trace.rules.is_empty() {
        let _ = writeln!(out, "no rule was evaluated");
    }
    for rule in &trace.rules {
        rule_text(&mut out, rule);
    }
    decision_text(&mut out, decision);
    out
}

fn rule_text(out: &mut String, r: &RuleTrace) {
    let _ = writeln!(out, "rule {:?}", r.name);
    if let Some(dir) = &r.directory {
        if r.outside_directory {
            let _ = writeln!(
                out,
                "  not applied: the URL is not under its directory {dir}"
            );
            return;
        }
        let _ = writeln!(
            out,
            "  directory: {dir} (the input is the URL relative to it)"
        );
    }
    let _ = writeln!(
        out,
        "  match: input {:?} pattern {:?} -> {}",
        r.input,
        r.pattern,
        if r.pattern_matched {
            "matched"
        } else {
            "no match"
        }
    );
    captures_text(out, "R", &r.captures);
    for (i, c) in r.conditions.iter().enumerate() {
        let _ = writeln!(
            out,
            "  condition {}: input {:?} pattern {:?}{} -> {}",
            i + 1,
            c.input,
            c.pattern,
            if c.negate { " (negated)" } else { "" },
            if c.matched { "true" } else { "false" }
        );
        captures_text(out, "C", &c.captures);
    }
    if !r.fired {
        let _ = writeln!(out, "  not applied");
        return;
    }
    for (name, value) in &r.set {
        let _ = writeln!(out, "  set {name} = {value:?}");
    }
    if let Some(action) = &r.action {
        let _ = writeln!(out, "  action: {action}");
    }
    if r.stopped {
        let _ = writeln!(out, "  processing stopped");
    }
}

fn captures_text(out: &mut String, kind: &str, captures: &[String]) {
    if captures.is_empty() {
        return;
    }
    let list: Vec<String> = captures
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{{{kind}:{i}}}={c:?}"))
        .collect();
    let _ = writeln!(out, "    captures: {}", list.join(" "));
}

fn decision_text(out: &mut String, d: &Decision) {
    let _ = write!(out, "decision: ");
    let _ = match &d.outcome {
        Outcome::Continue => writeln!(out, "continue unchanged to the default upstream"),
        Outcome::Rewrite { path } => writeln!(out, "rewrite to {path}"),
        Outcome::Proxy {
            cluster,
            scheme,
            host,
            path,
            authority,
            ..
        } if cluster.starts_with("iis-farm|") => writeln!(
            out,
            "proxy to server farm {host} over {scheme}, path {path} (cluster {cluster}, Host {})",
            authority.as_deref().unwrap_or("as sent by the client")
        ),
        Outcome::Proxy {
            cluster,
            scheme,
            host,
            port,
            path,
            authority,
        } => writeln!(
            out,
            "proxy to {scheme}://{host}:{port}{path} (cluster {cluster}, Host {})",
            authority.as_deref().unwrap_or("as sent by the client")
        ),
        Outcome::Redirect { status, location } => {
            writeln!(out, "redirect {status}, Location: {location}")
        }
        Outcome::CustomResponse {
            status,
            sub_status,
            reason,
            body,
        } => writeln!(
            out,
            "custom response {status}.{sub_status} {reason:?}, body {body:?}"
        ),
        Outcome::Abort => writeln!(out, "abort (reset the stream, no response)"),
        Outcome::Refuse { status, reason } => writeln!(out, "refuse with {status}: {reason}"),
    };
    headers_text(out, "request headers", &d.request_headers);
    headers_text(out, "response headers", &d.response_headers);
}

fn headers_text(out: &mut String, title: &str, edits: &[HeaderEdit]) {
    if edits.is_empty() {
        return;
    }
    let _ = writeln!(out, "{title}:");
    for e in edits {
        let _ = match &e.value {
            Some(v) => writeln!(out, "  {}: {v}", e.name),
            None => writeln!(out, "  {} (removed)", e.name),
        };
    }
}

/// A sample response for `--body`: what the body rules would do to it.
pub struct BodySpec {
    pub status: u16,
    /// Response headers (lowercase names); `content-type` defaults to HTML in UTF-8.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the body rules do to a sample body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BodyOutcome {
    /// The body rules of the configuration, in order.
    pub rules: Vec<String>,
    /// Why the body passes unchanged, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<String>,
    /// The rewritten body (lossy UTF-8 for display).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub bytes_in: usize,
    pub bytes_out: usize,
}

/// Runs the body rules over `spec` as the response to the request that made `decision`.
pub fn explain_body(engine: &Rc<Engine>, decision: &Decision, spec: &BodySpec) -> BodyOutcome {
    let mut response = StaticResponse::new(spec.status);
    if !spec.headers.iter().any(|(n, _)| n == "content-type") {
        response = response.with_header("content-type", "text/html; charset=utf-8");
    }
    for (name, value) in &spec.headers {
        response = response.with_header(name, value);
    }
    let rules: Vec<String> = engine.body_rule_names().map(str::to_string).collect();
    let result = engine.rewrite_whole_body(&response, &decision.outbound_snapshot, &spec.body);
    let (unchanged, body) = match result {
        Err(_) if rules.is_empty() => (Some("the configuration has no body rules".into()), None),
        Err(BodySkip::NotApplicable) => (
            Some(
                "no body rule applies (preConditions, status, or a content type that is not text)"
                    .into(),
            ),
            None,
        ),
        Err(BodySkip::Encoded) => (
            Some(
                "the body is encoded (Content-Encoding); Envoy's decompressor decodes it first"
                    .into(),
            ),
            None,
        ),
        Err(BodySkip::Charset) => (
            Some("its charset is neither UTF-8 nor a single-byte set".into()),
            None,
        ),
        Ok(out) => (None, Some(out)),
    };
    BodyOutcome {
        rules,
        unchanged,
        bytes_in: spec.body.len(),
        bytes_out: body.as_ref().map_or(spec.body.len(), Vec::len),
        body: body.map(|b| String::from_utf8_lossy(&b).into_owned()),
    }
}

/// The human form of [`explain_body`].
pub fn body_text(outcome: &BodyOutcome) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "response body ({} bytes):", outcome.bytes_in);
    let _ = writeln!(out, "  body rules: {}", names_or_none(&outcome.rules));
    match (&outcome.unchanged, &outcome.body) {
        (Some(why), _) => {
            let _ = writeln!(out, "  passes unchanged: {why}");
        }
        (None, Some(body)) => {
            let _ = writeln!(out, "  rewritten to {} bytes:", outcome.bytes_out);
            out.push_str(body);
            if !body.ends_with('\n') {
                out.push('\n');
            }
        }
        (None, None) => {}
    }
    out
}

fn names_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]
    use super::*;
    use iis_rewrite_filter::RequestFacts;

    #[test]
    fn targets() {
        let t = parse_target("/a?b=1#frag").unwrap();
        assert_eq!((t.tls, t.authority, t.path), (false, None, "/a?b=1".into()));
        let t = parse_target("https://Example.com:8443/x/y?q").unwrap();
        assert_eq!(
            (t.tls, t.authority.as_deref(), t.port, t.path.as_str()),
            (true, Some("Example.com:8443"), Some(8443), "/x/y?q")
        );
        let t = parse_target("http://h?x=1").unwrap();
        assert_eq!((t.port, t.path.as_str()), (Some(80), "/?x=1"));
        let t = parse_target("wss://[::1]/ws").unwrap();
        assert_eq!(
            (t.tls, t.port, t.authority.as_deref()),
            (true, Some(443), Some("[::1]"))
        );
        let t = parse_target("http://[::1]:81").unwrap();
        assert_eq!((t.port, t.path.as_str()), (Some(81), "/"));
        assert!(parse_target("example.com/a").is_err());
        assert!(parse_target("ftp://h/").is_err());
        assert!(parse_target("http://h:99999/").is_err());
        assert!(parse_target("http:///a").is_err());
        assert!(parse_target("http://u@h/").is_err());
    }

    #[test]
    fn remote_addresses() {
        assert_eq!(parse_remote("203.0.113.5").unwrap(), "203.0.113.5:50000");
        assert_eq!(
            parse_remote("203.0.113.5:4000").unwrap(),
            "203.0.113.5:4000"
        );
        assert_eq!(parse_remote("2001:db8::1").unwrap(), "[2001:db8::1]:50000");
        assert_eq!(parse_remote("[2001:db8::1]:7").unwrap(), "[2001:db8::1]:7");
        assert!(parse_remote("localhost").is_err());
    }

    #[test]
    fn headers() {
        assert_eq!(
            parse_header("X-A:  b c ").unwrap(),
            ("x-a".to_string(), "b c".to_string())
        );
        assert_eq!(parse_header("Host:h:1").unwrap().1, "h:1");
        assert!(parse_header("nocolon").is_err());
        assert!(parse_header("bad name: x").is_err());
        assert!(parse_header(": x").is_err());
    }

    #[test]
    fn request_facts() {
        let spec = RequestSpec {
            target: parse_target("https://h.example/p?q=1").unwrap(),
            method: "post".into(),
            headers: vec![
                ("x-a".into(), "1".into()),
                ("x-a".into(), "2".into()),
                ("host".into(), "other".into()),
            ],
            https: false,
            remote: Some(parse_remote("10.1.2.3").unwrap()),
        };
        let r = build_request(&spec);
        assert_eq!(r.header(":method").as_deref(), Some(&b"POST"[..]));
        assert_eq!(r.header(":scheme").as_deref(), Some(&b"https"[..]));
        assert_eq!(r.header(":authority").as_deref(), Some(&b"other"[..]));
        assert_eq!(r.header(":path").as_deref(), Some(&b"/p?q=1"[..]));
        assert_eq!(r.header("x-a").as_deref(), Some(&b"1, 2"[..]));
        assert!(r.property(Property::TlsVersion).is_some());
        assert_eq!(
            r.property(Property::DestinationAddress).as_deref(),
            Some(&b"127.0.0.1:443"[..])
        );
        assert_eq!(
            r.property(Property::SourceAddress).as_deref(),
            Some(&b"10.1.2.3:50000"[..])
        );
        let plain = build_request(&RequestSpec {
            target: parse_target("/").unwrap(),
            method: "GET".into(),
            headers: vec![],
            https: false,
            remote: None,
        });
        assert!(plain.property(Property::TlsVersion).is_none());
        assert_eq!(
            plain.header(":authority").as_deref(),
            Some(&b"localhost"[..])
        );
        assert_eq!(
            plain.property(Property::SourceAddress).as_deref(),
            Some(&b"127.0.0.1:50000"[..])
        );
        assert_eq!(
            plain.property(Property::DestinationAddress).as_deref(),
            Some(&b"127.0.0.1:80"[..])
        );
    }
}
