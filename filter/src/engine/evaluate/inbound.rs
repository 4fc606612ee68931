//! Inbound rule evaluation: global rules, then distributed rules, each
//! seeing the URL the earlier ones rewrote; conditions with MatchAll/MatchAny and the `{C:n}`
//! capture rules; `<set>` before the action; the five actions; stopProcessing.
//!
//! Where IIS is silent the project's decisions apply (docs/differences.md: relative redirects
//! resolved against the site root, query merge order, `replace="false"` keeps, `//x` is a local
//! path). Safety checks IIS does not make: a redirect may only leave for a host the rule names (or
//! the request's own host family), a proxy target must be a configured upstream, and every value
//! written into a header is kept free of CR/LF.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use crate::engine::decision::{ClientOrigin, Decision, HeaderEdit, HeaderValue, Outcome};
use crate::engine::evaluate::conditions::{evaluate_conditions, ConditionContext};
use crate::engine::evaluate::limits::{self, Exceeded, Produced};
use crate::engine::evaluate::{collapse_edits, push_growing};
use crate::engine::model::{CompiledAction, CompiledFarm, CompiledRule, Engine, ProxyHeaders};
use crate::engine::request::{lossy, lossy_str, Property, RequestFacts};
use crate::engine::rule_index::RuleIndex;
use crate::engine::server_vars::{ServerVar, SetTarget};
use crate::engine::template::{Expand, Template};
use crate::engine::trace::{RequestTrace, RuleTrace};
use crate::engine::upstream::{dynamic_allowed, dynamic_cluster_name};
use crate::engine::url::{self, PathError};
use crate::pattern::{RequestBudget, Spans};

/// Per-request evaluation state. The client's request target is borrowed (`'a` is no longer
/// than the `:path` value read) until a rewrite replaces it.
struct Eval<'a> {
    engine: &'a Engine,
    req: &'a dyn RequestFacts,
    /// The request target exactly as sent (lossy UTF-8), for HTTP_URL / UNENCODED_URL.
    original_target: Cow<'a, str>,
    /// The current URL as rules see it: decoded, without the leading `/`.
    url_input: String,
    /// The current path as it would be sent (encoded), with its leading `/`.
    path_raw: Cow<'a, str>,
    /// The current query string, without `?`.
    query: Option<Cow<'a, str>>,
    /// The current target when the last Rewrite was absolute (ARR proxy).
    absolute: Option<String>,
    /// The URL as the client sent it: (url_input, path_raw, query); moved here by the first
    /// rewrite (no copy per request).
    original: Option<(String, Cow<'a, str>, Option<Cow<'a, str>>)>,
    rewritten: bool,
    rule_spans: Spans,
    /// The values `{C:n}` reads.
    cond_caps: Vec<String>,
    request_edits: Vec<HeaderEdit>,
    response_edits: Vec<HeaderEdit>,
    custom: Vec<Option<String>>,
    matched: Vec<Rc<str>>,
    fired: Vec<usize>,
    /// Offset of the rule set being run in `Engine::rule_names` (global rules come first).
    rule_offset: usize,
    /// Client headers the rules read (only those are compared before writing: reading a
    /// header just to skip a write would cost as much as the write).
    read_headers: RefCell<Vec<&'a str>>,
    /// What the rules built so far (values set, targets), against the per-request bound.
    produced: Produced,
}

/// `ip:port` from a property, split; the IP without brackets.
fn address_parts(text: &str) -> (&str, &str) {
    match url::split_host_port(text) {
        // The port as Envoy writes it (digits after the last `:`).
        Some((ip, Some(_))) => (ip, text.rsplit(':').next().unwrap_or_default()),
        Some((ip, None)) => (ip, ""),
        None => (text, ""),
    }
}

impl<'a> Eval<'a> {
    /// Sets (`None`: removes) a request header.
    fn edit_request(&mut self, name: &Rc<str>, value: Option<HeaderValue>) {
        let name = Rc::clone(name);
        push_growing(&mut self.request_edits, HeaderEdit { name, value });
    }

    /// A request header as the rules see it now (their own edits win over the client's value).
    fn header(&self, name: &'a str) -> Option<Cow<'_, str>> {
        if let Some(edit) = self.request_edits.iter().rev().find(|e| *e.name == *name) {
            return edit.value.as_deref().map(Cow::Borrowed);
        }
        let mut read = self.read_headers.borrow_mut();
        if !read.contains(&name) {
            push_growing(&mut read, name);
        }
        self.req.header(name).map(lossy)
    }

    fn https(&self) -> bool {
        self.req
            .property(Property::TlsVersion)
            .is_some_and(|v| !v.is_empty())
    }

    fn host(&self) -> Cow<'_, str> {
        self.header(":authority").unwrap_or(Cow::Borrowed(""))
    }

    fn push_server_name(&self, out: &mut String) {
        let host = self.host();
        match url::split_host_port(&host) {
            Some((h, _)) if host.starts_with('[') => {
                out.push('[');
                out.push_str(h);
                out.push(']');
            }
            Some((h, _)) => out.push_str(h),
            None => out.push_str(&host),
        }
    }

    /// The IP (without brackets) or the port of an address property (`ip:port`).
    fn push_address(&self, property: Property, port: bool, out: &mut String) {
        if let Some(raw) = self.req.property(property) {
            let text = lossy(raw);
            let (ip, p) = address_parts(&text);
            out.push_str(if port { p } else { ip });
        }
    }

    fn push_request_uri(&self, out: &mut String) {
        out.reserve(self.path_raw.len() + self.query.as_ref().map_or(0, |q| 1 + q.len()));
        out.push_str(&self.path_raw);
        if let Some(q) = &self.query {
            out.push('?');
            out.push_str(q);
        }
    }

    fn request_uri(&self) -> String {
        let mut out = String::new();
        self.push_request_uri(&mut out);
        out
    }

    fn is_websocket_upgrade(&self) -> bool {
        self.req
            .header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"websocket"))
    }

    fn value_of(&self, var: &'a ServerVar, out: &mut String) {
        match var {
            ServerVar::Https => out.push_str(if self.https() { "on" } else { "off" }),
            ServerVar::ServerPortSecure => out.push(if self.https() { '1' } else { '0' }),
            ServerVar::HttpHost => out.push_str(&self.host()),
            ServerVar::ServerName => self.push_server_name(out),
            ServerVar::ServerPort => self.push_address(Property::DestinationAddress, true, out),
            ServerVar::ServerAddr => self.push_address(Property::DestinationAddress, false, out),
            ServerVar::RemoteAddr => self.push_address(Property::SourceAddress, false, out),
            ServerVar::RemotePort => self.push_address(Property::SourceAddress, true, out),
            ServerVar::RequestMethod => {
                out.push_str(&self.header(":method").unwrap_or(Cow::Borrowed("GET")))
            }
            ServerVar::QueryString => out.push_str(self.query.as_deref().unwrap_or("")),
            ServerVar::RequestUri => self.push_request_uri(out),
            ServerVar::Url | ServerVar::PhysicalPath => {
                out.push('/');
                out.push_str(&self.url_input);
            }
            ServerVar::HttpUrl | ServerVar::UnencodedUrl => out.push_str(&self.original_target),
            ServerVar::CacheUrl => {
                let scheme = match (self.is_websocket_upgrade(), self.https()) {
                    (true, true) => "wss",
                    (true, false) => "ws",
                    (false, true) => "https",
                    (false, false) => "http",
                };
                out.push_str(scheme);
                out.push_str("://");
                out.push_str(&self.host());
                out.push_str(&self.original_target);
            }
            ServerVar::ServerProtocol => out.push_str(
                &self
                    .req
                    .property(Property::Protocol)
                    .map_or(Cow::Borrowed("HTTP/1.1"), lossy),
            ),
            ServerVar::Header(name) => {
                if let Some(v) = self.header(name) {
                    out.push_str(&v);
                }
            }
            ServerVar::Custom(slot, fallback) => match self.custom.get(*slot) {
                Some(Some(v)) => out.push_str(v),
                _ => self.value_of(fallback, out),
            },
            // Response variables have no value before there is a response.
            ServerVar::ResponseHeader(_)
            | ServerVar::ResponseStatus
            | ServerVar::Unknown(_)
            | ServerVar::Snapshot(_) => {}
        }
    }
}

impl<'a> ConditionContext<'a> for Eval<'a> {
    fn cond_caps_mut(&mut self) -> &mut Vec<String> {
        &mut self.cond_caps
    }
}

impl<'a> Expand<'a> for Eval<'a> {
    fn var(&self, var: &'a ServerVar, out: &mut String) {
        self.value_of(var, out);
    }

    fn rule_capture(&self, n: u8, out: &mut String) {
        if let Some(Some((a, b))) = self.rule_spans.get(usize::from(n)) {
            out.push_str(self.url_input.get(*a..*b).unwrap_or_default());
        }
    }

    fn cond_capture(&self, n: u8, out: &mut String) {
        if let Some(v) = self.cond_caps.get(usize::from(n)) {
            out.push_str(v);
        }
    }

    fn map(&self, index: usize, key: &str, out: &mut String) {
        if let Some(m) = self.engine.maps.get(index) {
            out.push_str(m.lookup(key));
        }
    }
}

/// Whether `target` may be a redirect destination of a request for `request_host`: one of the
/// hosts the rule names, or the request's own host, a parent or a sub-domain of it (canonical
/// host rules such as www → bare domain).
fn redirect_host_allowed(target: &str, request_host: &str, named: &[String]) -> bool {
    let target = target.trim_end_matches('.').to_ascii_lowercase();
    if named.contains(&target) {
        return true;
    }
    let own = url::split_host_port(request_host)
        .map_or(request_host, |(h, _)| h)
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if own.is_empty() || target.is_empty() {
        return false;
    }
    let related = |a: &str, b: &str| {
        a.len() > b.len()
            && a.ends_with(b)
            && a.as_bytes().get(a.len() - b.len() - 1) == Some(&b'.')
    };
    target == own || related(&target, &own) || related(&own, &target)
}

/// What a `<set>` of a header writes: an empty value removes the header.
fn header_value(value: HeaderValue) -> Option<HeaderValue> {
    (!value.is_empty()).then(|| value.sanitized())
}

/// Whether a built Rewrite target names a proxy scheme (http, https, ws, wss).
fn is_proxy_target(target: &str) -> bool {
    url::split_scheme(target)
        .is_some_and(|(scheme, _)| url::default_port(&url::ascii_lowercase(scheme)).is_some())
}

/// Appends the current query string as `appendQueryString` asks (the target's own
/// query first, then `&`, then the original).
fn with_query(mut target: String, append: bool, query: Option<&str>) -> String {
    if let (true, Some(q)) = (append, query.filter(|q| !q.is_empty())) {
        target.push(if target.contains('?') { '&' } else { '?' });
        target.push_str(q);
    }
    target
}

/// A relative target (no scheme, no leading `/`) of a rule below the site root, resolved
/// against the rule's directory, as IIS does (`index.php` in `/blog/` is `/blog/index.php`).
fn in_directory(rule: &CompiledRule, target: String) -> String {
    let has_scheme = |t: &str| {
        t.split_once("://")
            .is_some_and(|(scheme, _)| !scheme.contains(['/', '?', '#']))
    };
    match &rule.directory {
        Some(d) if !target.starts_with(['/', '\\']) && !has_scheme(&target) => d.resolve(&target),
        _ => target,
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Continue => "continue".into(),
        Outcome::Rewrite { path } => format!("Rewrite to {path}"),
        Outcome::Proxy { cluster, path, .. } => format!("Proxy to {cluster} path {path}"),
        Outcome::Redirect { status, location } => format!("Redirect {status} to {location}"),
        Outcome::CustomResponse { status, .. } => format!("CustomResponse {status}"),
        Outcome::Abort => "AbortRequest".into(),
        Outcome::Refuse { status, reason } => format!("refused {status}: {reason}"),
    }
}

impl<'a> Eval<'a> {
    /// Expands a template whose result the request keeps (a value set, a target, a response
    /// text), counting it against the per-request bound.
    fn build(&mut self, template: &'a Template) -> Result<String, Exceeded> {
        let value = template.expand_to_string(self)?;
        self.produced.add(value.len())?;
        Ok(value)
    }

    fn apply_sets(
        &mut self,
        rule: &'a CompiledRule,
        trace: Option<&mut Vec<(String, String)>>,
    ) -> Result<(), Exceeded> {
        let mut trace = trace;
        for s in &rule.sets {
            let value = match (&s.constant, s.value.as_literal()) {
                // A constant header value is shared with the configuration, not built again.
                (Some(shared), Some(literal)) => {
                    self.produced.add(literal.len())?;
                    if let Some(t) = trace.as_deref_mut() {
                        t.push((s.name.clone(), literal.to_string()));
                    }
                    HeaderValue::Shared(Rc::clone(shared))
                }
                _ => {
                    let built = self.build(&s.value)?;
                    if let Some(t) = trace.as_deref_mut() {
                        t.push((s.name.clone(), built.clone()));
                    }
                    HeaderValue::Built(built)
                }
            };
            match &s.target {
                SetTarget::RequestHeader(name) => {
                    if !s.replace && self.header(name).is_some_and(|v| !v.is_empty()) {
                        continue;
                    }
                    self.edit_request(name, header_value(value));
                }
                SetTarget::ResponseHeader(name) => {
                    push_growing(
                        &mut self.response_edits,
                        HeaderEdit {
                            name: Rc::clone(name),
                            value: header_value(value),
                        },
                    );
                }
                SetTarget::Custom(slot) => {
                    if let Some(cell) = self.custom.get_mut(*slot) {
                        if !s.replace && cell.as_deref().is_some_and(|v| !v.is_empty()) {
                            continue;
                        }
                        *cell = Some(match value {
                            HeaderValue::Built(text) => text,
                            HeaderValue::Shared(text) => text.to_string(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Before the first rewrite: keeps the client's URL (outbound rules of a proxied request
    /// see it).
    fn keep_original(&mut self) {
        if self.original.is_none() {
            self.original = Some((
                std::mem::take(&mut self.url_input),
                std::mem::take(&mut self.path_raw),
                self.query.take(),
            ));
        }
    }

    /// Makes `target` (a relative Rewrite result) the current URL.
    fn rewrite_local(&mut self, target: &str) {
        self.keep_original();
        let (path, query) = url::split_query(target);
        let mut path_raw = url::encode_request_target(path).into_owned();
        if !path_raw.starts_with('/') {
            path_raw.insert(0, '/');
        }
        self.url_input = url::url_decode(path_raw.get(1..).unwrap_or_default());
        self.path_raw = Cow::Owned(path_raw);
        self.query = query.map(|q| Cow::Owned(url::encode_request_target(q).into_owned()));
        self.absolute = None;
        self.rewritten = true;
    }

    /// Makes an absolute Rewrite result the current target (its path from `rest_start` on);
    /// later rules see its path.
    fn rewrite_absolute(&mut self, target: String, rest_start: usize) {
        self.keep_original();
        let rest = target.get(rest_start..).unwrap_or_default();
        let (path, query) = url::split_query(rest);
        let path = if path.is_empty() { "/" } else { path };
        self.url_input = url::url_decode(path.get(1..).unwrap_or_default());
        self.path_raw = Cow::Owned(url::encode_request_target(path).into_owned());
        self.query = query.map(|q| Cow::Owned(url::encode_request_target(q).into_owned()));
        self.absolute = Some(target);
        self.rewritten = true;
    }

    fn redirect(&self, target: String, status: u16, named_hosts: &[String]) -> Outcome {
        // Browsers treat `\` like `/`: `/\evil` and `\\evil` are protocol-relative too.
        let normalized = target.replace('\\', "/");
        let foreign_host = if let Some(u) = url::parse_absolute(&normalized) {
            Some(u.host.into_owned())
        } else if let Some(rest) = normalized.strip_prefix("//") {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let authority = rest.get(..end).unwrap_or_default();
            Some(
                url::split_host_port(authority)
                    .map_or(authority, |(h, _)| h)
                    .to_ascii_lowercase(),
            )
        } else {
            None
        };
        let location = match foreign_host {
            Some(host) => {
                if !redirect_host_allowed(&host, &self.host(), named_hosts) {
                    return Outcome::Refuse {
                        status: 400,
                        reason: format!(
                            "redirect to host \"{host}\", which the rule does not name"
                        ),
                    };
                }
                normalized
            }
            // Relative: resolved against the site root (docs/differences.md).
            None if target.starts_with('/') => target,
            None => format!("/{target}"),
        };
        Outcome::Redirect {
            status,
            location: url::sanitize_header_value(&url::encode_request_target(&location))
                .into_owned(),
        }
    }

    /// Runs the action of a rule that fired; `Some` ends processing.
    fn action(&mut self, rule: &'a CompiledRule) -> Result<Option<Outcome>, Exceeded> {
        Ok(match &rule.action {
            CompiledAction::None => None,
            CompiledAction::Abort => Some(Outcome::Abort),
            CompiledAction::CustomResponse {
                status,
                sub_status,
                reason,
                description,
            } => Some(Outcome::CustomResponse {
                status: *status,
                sub_status: *sub_status,
                reason: url::sanitized_header_value(self.build(reason)?),
                body: self.build(description)?,
            }),
            CompiledAction::Redirect {
                url,
                append_query,
                status,
                named_hosts,
            } => {
                let target = with_query(self.build(url)?, *append_query, self.query.as_deref());
                let target = in_directory(rule, target);
                Some(self.redirect(target, *status, named_hosts))
            }
            CompiledAction::Rewrite { url, append_query } => {
                let target = with_query(self.build(url)?, *append_query, self.query.as_deref());
                // A target starting with http://, https://, ws:// or wss:// is proxied;
                // one that does not parse as such (userinfo, a bad port) is refused, never
                // taken as a local path.
                if !is_proxy_target(&target) {
                    self.rewrite_local(&in_directory(rule, target));
                    return Ok(None);
                }
                // Where the path starts (the parsed URL borrows `target`, which is kept).
                match url::parse_absolute(&target).map(|u| target.len() - u.rest.len()) {
                    Some(rest_start) => {
                        self.rewrite_absolute(target, rest_start);
                        None
                    }
                    None => Some(Outcome::Refuse {
                        status: 502,
                        reason: "the proxy target is not a valid http(s)/ws(s) URL".into(),
                    }),
                }
            }
        })
    }

    /// Sets and action of a rule whose pattern and conditions matched; `Some` ends processing.
    fn fire(
        &mut self,
        rule: &'a CompiledRule,
        set_trace: Option<&mut Vec<(String, String)>>,
    ) -> Result<Option<Outcome>, Exceeded> {
        self.apply_sets(rule, set_trace)?;
        self.action(rule)
    }

    fn run(
        &mut self,
        rules: &'a [CompiledRule],
        rule_index: &RuleIndex,
        mut trace: Option<&mut RequestTrace>,
    ) -> Option<Outcome> {
        // The prefilter skips rules the URL cannot match; a trace lists every rule.
        let indexed = trace.is_none();
        let mut candidates = if indexed {
            rule_index.candidates(&self.url_input, 0)
        } else {
            None
        };
        let mut next = 0;
        loop {
            let index = match candidates.as_mut() {
                Some(c) => match c.next() {
                    Some(i) => i,
                    None => break,
                },
                None => next,
            };
            let Some(rule) = rules.get(index) else {
                break;
            };
            next = index + 1;
            // A rule below the site root sees only URLs under its directory, relative to it.
            let start = match &rule.directory {
                None => 0,
                Some(d) => match d.relative_start(&self.url_input) {
                    Some(start) => start,
                    None => {
                        if let Some(t) = trace.as_deref_mut() {
                            let source = rule.pattern.source();
                            t.rules
                                .push(RuleTrace::outside(&rule.name, d.as_str(), source));
                        }
                        continue;
                    }
                },
            };
            let input = self.url_input.get(start..).unwrap_or_default();
            let found = rule.pattern.test(
                input,
                &mut self.rule_spans,
                rule.captures_read || trace.is_some(),
            );
            if start > 0 {
                // Captures index the whole URL, which `{R:n}` reads.
                for (a, b) in self.rule_spans.iter_mut().flatten() {
                    *a += start;
                    *b += start;
                }
            }
            let matched = found != rule.negate;
            if rule.negate {
                // A negated match yields no captures: `{R:n}` reads empty.
                self.rule_spans.clear();
            }
            let mut rt = trace.as_ref().map(|_| RuleTrace {
                name: rule.name.to_string(),
                directory: rule.directory.as_ref().map(|d| d.as_str().to_string()),
                input: self.url_input.get(start..).unwrap_or_default().to_string(),
                pattern: rule.pattern.source().to_string(),
                pattern_matched: matched,
                captures: self
                    .rule_spans
                    .iter()
                    .map(|s| {
                        s.and_then(|(a, b)| self.url_input.get(a..b))
                            .unwrap_or_default()
                            .to_string()
                    })
                    .collect(),
                ..RuleTrace::default()
            });
            let conditions = if matched {
                evaluate_conditions(
                    self,
                    &rule.conditions,
                    rt.as_mut().map(|t| &mut t.conditions),
                )
                .map_err(Exceeded::from)
            } else {
                Ok(false)
            };
            let fired = conditions == Ok(true);
            if fired {
                self.matched.push(Rc::clone(&rule.name));
                self.fired.push(self.rule_offset + index);
            }
            let result = match conditions {
                Ok(true) => self.fire(rule, rt.as_mut().map(|t| &mut t.set)),
                Ok(false) => Ok(None),
                Err(e) => Err(e),
            };
            let outcome = result.unwrap_or_else(|e| Some(limits::refusal(e, &rule.name)));
            let stop = fired && (rule.stop || outcome.is_some());
            if let (Some(t), Some(mut r)) = (trace.as_deref_mut(), rt) {
                r.fired = fired;
                r.stopped = stop;
                r.action = fired.then(|| match (&outcome, &rule.action) {
                    (Some(o), _) => describe(o),
                    (None, CompiledAction::Rewrite { .. }) => match &self.absolute {
                        Some(target) => format!("Rewrite to {target} (proxy)"),
                        None => format!("Rewrite to {}", self.request_uri()),
                    },
                    (None, _) => "None".into(),
                });
                t.rules.push(r);
            }
            if outcome.is_some() {
                return outcome;
            }
            if stop {
                break;
            }
            if fired && indexed {
                // The rule may have rewritten the URL the later rules see.
                candidates = rule_index.candidates(&self.url_input, next);
            }
        }
        None
    }

    fn finish(mut self, outcome: Option<Outcome>) -> Decision {
        let outcome = match outcome {
            Some(o) => o,
            None => self.final_outcome(),
        };
        let proxied = matches!(outcome, Outcome::Proxy { .. });
        let reverse_on = match &outcome {
            Outcome::Proxy { host, .. } => self
                .engine
                .find_farm(host)
                .map_or(self.engine.reverse_rewrite_host, |f| f.farm.reverse_rewrite),
            _ => false,
        };
        if let Outcome::Proxy { host, .. } = &outcome {
            let engine = self.engine;
            let headers = match engine.find_farm(host) {
                Some(f) => &f.headers,
                None => &engine.proxy_headers,
            };
            self.add_proxy_headers(headers);
        }
        let reverse_rewrite = reverse_on.then(|| ClientOrigin {
            scheme: if self.https() { "https" } else { "http" },
            host: self
                .req
                .header(":authority")
                .map(lossy)
                .unwrap_or_default()
                .into_owned(),
        });
        if self.rewritten
            && matches!(outcome, Outcome::Rewrite { .. } | Outcome::Proxy { .. })
            && !self
                .request_edits
                .iter()
                .any(|e| *e.name == *self.engine.fixed_names.original_url)
        {
            // URL Rewrite sets HTTP_X_ORIGINAL_URL to the client's URL when it rewrites.
            let original = url::sanitize_header_value(&self.original_target).into_owned();
            self.edit_request(
                &self.engine.fixed_names.original_url,
                Some(HeaderValue::Built(original)),
            );
        }
        // A client can never choose the upstream cluster.
        let upstream_header = &self.engine.upstream_header;
        self.read_headers.borrow_mut().push(upstream_header);
        if !proxied && self.req.header(upstream_header).is_some() {
            self.edit_request(upstream_header, None);
        }
        // Outbound rules of a proxied request see the client's URL.
        if self.absolute.is_some() {
            if let Some(original) = self.original.take() {
                (self.url_input, self.path_raw, self.query) = original;
            }
        }
        let outbound_snapshot = self
            .engine
            .outbound_snapshot_vars()
            .iter()
            .map(|v| {
                let mut out = String::new();
                self.value_of(v, &mut out);
                out
            })
            .collect();
        let read = self.read_headers.into_inner();
        Decision {
            reverse_rewrite,
            outbound_snapshot,
            outcome,
            request_headers: net_edits(self.request_edits, self.req, &read),
            response_headers: self.response_edits,
            matched_rules: self.matched,
            fired_rules: self.fired,
        }
    }

    /// What ARR adds to a proxied request: X-Forwarded-For with the client address
    /// (port included by default), and the backend credentials when configured.
    fn add_proxy_headers(&mut self, ph: &'a ProxyHeaders) {
        if let (Some(name), 0) = (&ph.xff_header, ph.trusted_hops) {
            let source = self
                .req
                .property(Property::SourceAddress)
                .map(lossy)
                .unwrap_or_default();
            let (ip, port) = address_parts(&source);
            let value = if ph.xff_port && !port.is_empty() && port != "0" {
                let mut value = String::with_capacity(ip.len() + port.len() + 3);
                if ip.contains(':') {
                    value.push('[');
                    value.push_str(ip);
                    value.push(']');
                } else {
                    value.push_str(ip);
                }
                value.push(':');
                value.push_str(port);
                value
            } else {
                ip.to_string()
            };
            self.edit_request(name, Some(HeaderValue::Built(value)));
        }
        if let Some(auth) = &ph.backend_auth {
            let names = &self.engine.fixed_names;
            self.edit_request(
                &names.authorization,
                Some(HeaderValue::from(&auth.authorization)),
            );
            self.edit_request(
                &names.remote_user,
                Some(HeaderValue::from(&auth.remote_user)),
            );
        }
    }

    fn final_outcome(&self) -> Outcome {
        let Some(target) = &self.absolute else {
            return if self.rewritten {
                Outcome::Rewrite {
                    path: self.request_uri(),
                }
            } else {
                Outcome::Continue
            };
        };
        let Some(u) = url::parse_absolute(target) else {
            return Outcome::Refuse {
                status: 502,
                reason: "proxy target is not a valid URL".into(),
            };
        };
        if !self.engine.proxy_enabled {
            return Outcome::Refuse {
                status: 404,
                reason: "proxying is disabled (proxy enabled=false)".into(),
            };
        }
        let tls = url::scheme_is_tls(&u.scheme);
        let host_set_by_rule = self.request_edits.iter().any(|e| &*e.name == ":authority");
        // A host naming an ARR server farm sends the request to that farm.
        if let Some(CompiledFarm { farm, .. }) = self.engine.find_farm(&u.host) {
            let port = u
                .port
                .or_else(|| url::default_port(&u.scheme))
                .unwrap_or(80);
            if farm.servers.is_empty() {
                // ARR: no server available (502.4).
                return Outcome::Refuse {
                    status: 502,
                    reason: format!("server farm \"{}\" has no enabled server", farm.name),
                };
            }
            let cluster = crate::engine::upstream::farm_cluster_name(tls, &farm.name);
            if !self
                .engine
                .farm_clusters
                .iter()
                .any(|(_, _, c)| *c == cluster)
            {
                return Outcome::Refuse {
                    status: 502,
                    reason: format!(
                        "proxy target {}://{} is not a farm cluster the rules name",
                        u.scheme, farm.name
                    ),
                };
            }
            return Outcome::Proxy {
                cluster,
                scheme: u.scheme.into_owned(),
                host: farm.name.clone(),
                port,
                path: self.request_uri(),
                authority: None,
            };
        }
        let Some(port) = u.port.or_else(|| url::default_port(&u.scheme)) else {
            return Outcome::Refuse {
                status: 502,
                reason: "proxy target has no port".into(),
            };
        };
        let Some(upstream) = self.engine.find_upstream(tls, &u.host, port) else {
            if dynamic_allowed(&self.engine.dynamic_upstreams, &u.host, port) {
                // Envoy's dynamic forward proxy resolves the Host it receives, so the target's
                // host:port is sent whatever preserveHostHeader says.
                return Outcome::Proxy {
                    cluster: dynamic_cluster_name(tls),
                    scheme: u.scheme.into_owned(),
                    host: u.host.into_owned(),
                    port,
                    path: self.request_uri(),
                    authority: Some(u.authority.to_ascii_lowercase()),
                };
            }
            return Outcome::Refuse {
                status: 502,
                reason: format!(
                    "proxy target {}://{}:{} is not a configured upstream",
                    u.scheme, u.host, port
                ),
            };
        };
        let authority = (!self.engine.preserve_host && !host_set_by_rule)
            .then(|| u.authority.to_ascii_lowercase());
        Outcome::Proxy {
            cluster: upstream.cluster.clone(),
            scheme: u.scheme.into_owned(),
            host: upstream.host.clone(),
            port,
            path: self.request_uri(),
            authority,
        }
    }
}

/// Collapses edits to one final value per header, in first-edit order, and drops edits that
/// change nothing (a header set to what the client sent, a removal of an absent header) among
/// the headers the rules read.
fn net_edits(mut edits: Vec<HeaderEdit>, req: &dyn RequestFacts, read: &[&str]) -> Vec<HeaderEdit> {
    collapse_edits(&mut edits);
    edits.retain(|e| {
        if !read.contains(&&*e.name) {
            return true;
        }
        let current = req.header(&e.name);
        match (&e.value, current) {
            (None, None) => false,
            (Some(v), Some(c)) => v.as_bytes() != c.as_ref(),
            _ => true,
        }
    });
    edits
}
impl Engine {
    /// Evaluates the inbound rules for one request.
    pub fn inbound(&self, req: &dyn RequestFacts) -> Decision {
        self.evaluate(req, None)
    }

    /// Same, recording what each rule did (for `iis-rewrite explain`).
    pub fn inbound_traced(&self, req: &dyn RequestFacts, trace: &mut RequestTrace) -> Decision {
        self.evaluate(req, Some(trace))
    }

    fn evaluate(&self, req: &dyn RequestFacts, mut trace: Option<&mut RequestTrace>) -> Decision {
        // One backtracking budget for every pattern this request runs.
        let _budget = RequestBudget::start();
        let raw_owned = req.header(":path").unwrap_or(Cow::Borrowed(b"/"));
        let raw: &[u8] = &raw_owned;
        let (raw_path, raw_query) = match raw.iter().position(|b| *b == b'?') {
            Some(i) => (raw.get(..i).unwrap_or_default(), raw.get(i + 1..)),
            None => (raw, None),
        };
        let refuse = |status: u16, reason: &str| Decision::refused(status, reason.to_string());
        let decoded = match url::decode_path(raw_path) {
            Ok(d) => d,
            Err(PathError::BadEscape) => {
                return refuse(400, "invalid percent-encoding in the path")
            }
            Err(PathError::NotUtf8) => return refuse(400, "the path does not decode to UTF-8"),
            Err(PathError::DoubleEscaped) => {
                return refuse(404, "double-escaped path (request filtering, 404.11)")
            }
        };
        let path_text = lossy_str(raw_path);
        let mut url_input = decoded;
        if url_input.starts_with('/') {
            url_input.remove(0);
        }
        let path_raw = if path_text.starts_with('/') {
            path_text
        } else {
            Cow::Owned(format!("/{path_text}"))
        };
        let query = raw_query.map(lossy_str);
        let mut eval = Eval {
            engine: self,
            req,
            original_target: lossy_str(raw),
            original: None,
            url_input,
            path_raw,
            query,
            absolute: None,
            rewritten: false,
            rule_spans: Spans::new(),
            cond_caps: Vec::new(),
            request_edits: Vec::new(),
            response_edits: Vec::new(),
            custom: vec![None; self.custom_vars.len()],
            matched: Vec::new(),
            fired: Vec::new(),
            rule_offset: 0,
            read_headers: RefCell::new(Vec::new()),
            produced: Produced::default(),
        };
        // Global rules first; a stopProcessing among them ends only their set.
        let mut outcome = eval.run(&self.global_rules, &self.global_index, trace.as_deref_mut());
        if outcome.is_none() {
            eval.rule_offset = self.global_rules.len();
            outcome = eval.run(&self.rules, &self.rules_index, trace);
        }
        eval.finish(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::FilterConfig;
    use crate::engine::request::StaticRequest;

    fn engine(json: &str) -> Engine {
        Engine::compile(&FilterConfig::from_json(json).unwrap()).unwrap()
    }

    fn edit(d: &Decision, name: &str) -> Option<Option<String>> {
        d.request_headers
            .iter()
            .find(|e| &*e.name == name)
            .map(|e| e.value.as_deref().map(str::to_string))
    }

    #[test]
    fn captures_are_kept_only_where_a_template_reads_them() {
        let e = engine(
            r#"{"rules": [
              {"name": "reads", "match": {"url": "^(a)(b)?"},
               "conditions": {"items": [
                 {"input": "{HTTP_HOST}", "pattern": "^(h)"},
                 {"input": "{C:1}", "pattern": "(x)?"}]},
               "serverVariables": [{"name": "HTTP_X_R", "value": "{R:1}{C:1}"}],
               "action": {"type": "None"}},
              {"name": "blind", "match": {"url": "(b)"},
               "conditions": {"items": [{"input": "{HTTP_HOST}", "pattern": "(h)"}]},
               "serverVariables": [{"name": "HTTP_X_B", "value": "set"}],
               "action": {"type": "None"}},
              {"name": "map", "match": {"url": "(c)"},
               "action": {"type": "Rewrite", "url": "/{ToLower:{R:1}}"}}]}"#,
        );
        let flags: Vec<(bool, bool)> = e
            .rules
            .iter()
            .map(|r| (r.captures_read, r.conditions.captures_read))
            .collect();
        assert_eq!(flags, [(true, true), (false, false), (true, false)]);
        let d = e.inbound(&StaticRequest::get("h", "/abc"));
        // {C:1} is the last matched condition's group: `(x)?` matched with group 1 empty.
        assert_eq!(edit(&d, "x-r"), Some(Some("a".into())));
        assert_eq!(edit(&d, "x-b"), Some(Some("set".into())));
        assert_eq!(d.outcome, Outcome::Rewrite { path: "/c".into() });
    }

    #[test]
    fn jellyfin_basic_inbound() {
        let e = engine(include_str!(
            "../../../../testdata/jellyfin-basic-inbound.json"
        ));
        let d = e.inbound(&StaticRequest::get("media.example.com", "/"));
        assert_eq!(
            d.outcome,
            Outcome::Redirect {
                status: 302,
                location: "/web/".into()
            }
        );
        let d = e.inbound(&StaticRequest::get("media.example.com", "/web/?x=1"));
        let Outcome::Proxy {
            cluster,
            path,
            authority,
            ..
        } = &d.outcome
        else {
            panic!("{:?}", d.outcome)
        };
        assert_eq!(cluster, "iis|http|localhost|8096");
        assert_eq!(path, "/web/index.html?x=1");
        assert_eq!(authority, &None, "Jellyfin preserves the Host header");
        assert_eq!(edit(&d, "x-forwarded-proto"), Some(Some("http".into())));
        assert_eq!(edit(&d, "x-forwarded-protocol"), Some(Some("http".into())));
        assert_eq!(edit(&d, "x-real-ip"), Some(Some("127.0.0.1".into())));
        assert_eq!(
            edit(&d, "x-forwarded-host"),
            Some(Some("media.example.com".into()))
        );
        assert_eq!(edit(&d, "x-forwarded-port"), Some(Some("80".into())));
        assert_eq!(edit(&d, "x-original-url"), Some(Some("/web/?x=1".into())));
        assert_eq!(
            d.matched_rules,
            ["ForwardedHttp", "web", "Proxy"].map(Rc::<str>::from)
        );

        let d = e.inbound(&StaticRequest::get("h", "/Items/1").over_tls());
        assert_eq!(edit(&d, "x-forwarded-proto"), Some(Some("https".into())));

        let d = e.inbound(&StaticRequest::get("h", "/.well-known/acme-challenge/t"));
        assert_eq!(d.outcome, Outcome::Continue);
        assert_eq!(d.matched_rules, ["ForwardedHttp"].map(Rc::<str>::from));
    }

    #[test]
    fn client_cannot_pick_the_upstream() {
        let e = engine(r#"{"rules":[]}"#);
        let d = e.inbound(
            &StaticRequest::get("h", "/").with_header("x-iis-rewrite-upstream", "iis|http|a|1"),
        );
        assert_eq!(edit(&d, "x-iis-rewrite-upstream"), Some(None));
    }

    #[test]
    fn open_redirects_and_open_proxies_are_refused() {
        let e = engine(
            r#"{"rules":[
              {"name":"r","match":{"url":"^go/(.*)"},"action":{"type":"Redirect","url":"{R:1}"}},
              {"name":"p","match":{"url":"^p/([^/]+)/(.*)"},"action":{"type":"Rewrite","url":"http://{R:1}/{R:2}"}}
            ]}"#,
        );
        for evil in [
            "/go///evil.example/x",
            "/go/%2F%2Fevil.example",
            "/go/http://evil.example/",
            "/go/%5C%5Cevil.example",
        ] {
            let d = e.inbound(&StaticRequest::get("site.example", evil));
            assert!(
                matches!(d.outcome, Outcome::Refuse { status: 400, .. }),
                "{evil}: {:?}",
                d.outcome
            );
        }
        let d = e.inbound(&StaticRequest::get("site.example", "/go/about"));
        assert_eq!(
            d.outcome,
            Outcome::Redirect {
                status: 301,
                location: "/about".into()
            }
        );
        let d = e.inbound(&StaticRequest::get(
            "site.example",
            "/go/https://www.site.example/",
        ));
        assert!(matches!(d.outcome, Outcome::Redirect { .. }));
        let d = e.inbound(&StaticRequest::get("site.example", "/p/evil.example/x"));
        assert!(matches!(d.outcome, Outcome::Refuse { status: 502, .. }));
        // Userinfo cannot smuggle a host in either.
        let d = e.inbound(&StaticRequest::get(
            "site.example",
            "/p/internal:80@evil.example/x",
        ));
        assert!(
            matches!(d.outcome, Outcome::Refuse { status: 502, .. }),
            "{:?}",
            d.outcome
        );
    }

    #[test]
    fn farms_forwarded_for_and_backend_auth() {
        let e = engine(
            r#"{"rules":[{"name":"farm","match":{"url":".*"},"action":{"type":"Rewrite","url":"https://Lync/{R:0}"}}],
               "webFarms":[{"name":"lync","servers":[{"address":"10.0.0.1","httpsPort":4443}]}],
               "proxy":{"backendAuth":{"user":"svc","password":"p@ss"}}}"#,
        );
        assert_eq!(
            e.farm_clusters(),
            [("lync".to_string(), true, "iis-farm|https|lync".to_string())]
        );
        assert!(e.upstreams().is_empty());
        let req = StaticRequest::get("meet.example.com", "/x")
            .with_property(Property::SourceAddress, "[2001:db8::1]:51234")
            .with_header("x-forwarded-for", "6.6.6.6");
        let d = e.inbound(&req);
        let Outcome::Proxy {
            cluster, authority, ..
        } = &d.outcome
        else {
            panic!("{:?}", d.outcome)
        };
        assert_eq!(cluster, "iis-farm|https|lync");
        assert_eq!(authority, &None, "farms keep the client's Host");
        assert_eq!(
            edit(&d, "x-forwarded-for"),
            Some(Some("[2001:db8::1]:51234".into()))
        );
        assert_eq!(
            edit(&d, "authorization"),
            Some(Some("Basic c3ZjOnBAc3M=".into()))
        );
        assert_eq!(edit(&d, "remote-user"), Some(Some("svc".into())));
        assert_eq!(
            d.reverse_rewrite, None,
            "farms do not reverse-rewrite by default"
        );
    }

    #[test]
    fn captured_farm_host_keeps_the_literal_scheme() {
        let e = engine(
            r#"{"rules":[{"name":"any","match":{"url":"^([^/]+)/(.*)"},"action":{"type":"Rewrite","url":"http://{R:1}/{R:2}"}}],
               "webFarms":[{"name":"a","servers":[{"address":"10.0.0.1"}]},{"name":"b","servers":[{"address":"10.0.0.2"}]}]}"#,
        );
        assert_eq!(
            e.farm_clusters(),
            [
                ("a".to_string(), false, "iis-farm|http|a".to_string()),
                ("b".to_string(), false, "iis-farm|http|b".to_string())
            ],
            "no TLS cluster where the rule says http"
        );
        let d = e.inbound(&StaticRequest::get("h", "/B/x"));
        assert!(
            matches!(&d.outcome, Outcome::Proxy { cluster, .. } if cluster == "iis-farm|http|b"),
            "{:?}",
            d.outcome
        );
        // Not a farm and not an upstream: refused, never an open proxy.
        let d = e.inbound(&StaticRequest::get("h", "/evil.example/x"));
        assert!(matches!(d.outcome, Outcome::Refuse { status: 502, .. }));
    }

    #[test]
    fn farm_protocol_decides_forwarded_for_and_no_server_is_502() {
        let e = engine(
            r#"{"rules":[{"name":"f","match":{"url":"^f/(.*)"},"action":{"type":"Rewrite","url":"http://f/{R:1}"}},
                         {"name":"g","match":{"url":"^g/(.*)"},"action":{"type":"Rewrite","url":"http://g/{R:1}"}},
                         {"name":"d","match":{"url":"^d/(.*)"},"action":{"type":"Rewrite","url":"http://10.1.1.1:81/{R:1}"}}],
               "proxy":{"xForwardedForHeaderName":"X-Client","includePortInXForwardedFor":true},
               "webFarms":[{"name":"f","servers":[{"address":"10.0.0.1"}],
                            "protocol":{"xForwardedForHeaderName":"X-Real-Client","includePortInXForwardedFor":false,"reverseRewriteHostInResponseHeaders":true}},
                           {"name":"g","servers":[{"address":"10.0.0.2","enabled":false}]}]}"#,
        );
        let req = |p: &str| {
            StaticRequest::get("front.example", p)
                .with_property(Property::SourceAddress, "192.0.2.7:40000")
        };
        let d = e.inbound(&req("/f/x"));
        assert_eq!(edit(&d, "x-real-client"), Some(Some("192.0.2.7".into())));
        assert_eq!(edit(&d, "x-client"), None);
        assert!(
            d.reverse_rewrite.is_some(),
            "the farm's protocol turns it on"
        );
        let d = e.inbound(&req("/d/x"));
        assert_eq!(edit(&d, "x-client"), Some(Some("192.0.2.7:40000".into())));
        let d = e.inbound(&req("/g/x"));
        assert!(
            matches!(&d.outcome, Outcome::Refuse { status: 502, reason } if reason.contains("no enabled server")),
            "{:?}",
            d.outcome
        );
    }

    #[test]
    fn farm_mistakes_are_located_errors() {
        let cfg = crate::FilterConfig::from_json(
            br#"{"webFarms":[{"name":"f","servers":[{"address":"10.0.0.1","weight":0},{"address":"http://x"}],
                 "loadBalancing":{"algorithm":"Fastest"},
                 "healthCheck":{"url":"/health","interval":"soon","statusCodeMatch":"2xx"},
                 "protocol":{"timeout":"00:00:00"}}],
                 "proxy":{"timeout":"2.00:00:00"}}"#,
        )
        .unwrap();
        let (errs, _) = Engine::compile_all(&cfg).unwrap_err();
        let got: Vec<String> = errs.iter().map(ToString::to_string).collect();
        for want in [
            "webFarm \"f\" <server> 1 attribute weight: value \"0\" is out of range",
            "webFarm \"f\" <server> 2 attribute address: unknown value \"http://x\"",
            "webFarm \"f\" <loadBalancing> attribute algorithm: unknown value \"Fastest\"",
            "webFarm \"f\" <healthCheck> attribute interval: unknown value \"soon\"",
            "webFarm \"f\" <healthCheck> attribute statusCodeMatch: unknown value \"2xx\"",
            "webFarm \"f\" <healthCheck> attribute url: unknown value \"/health\"",
            "webFarm \"f\" <protocol> attribute timeout: value \"00:00:00\" is out of range",
            "proxy \"proxy\" attribute timeout: value \"2.00:00:00\" is out of range",
        ] {
            assert!(got.iter().any(|g| g.starts_with(want)), "{want}\n{got:#?}");
        }
    }

    #[test]
    fn header_values_cannot_inject_lines() {
        let e = engine(
            r#"{"rules":[{"name":"h","match":{"url":"(.*)"},
              "serverVariables":[{"name":"HTTP_X_PATH","value":"{R:1}"}],
              "action":{"type":"Redirect","url":"/x/{R:1}"}}]}"#,
        );
        let d = e.inbound(&StaticRequest::get("h", "/a%0D%0ASet-Cookie:%20x=1"));
        let Outcome::Redirect { location, .. } = &d.outcome else {
            panic!()
        };
        assert!(!location.contains(['\r', '\n']), "{location}");
    }

    #[test]
    fn undecodable_paths_are_refused_not_panicked() {
        let e = engine(r#"{"rules":[{"name":"a","match":{"url":".*"}}]}"#);
        for (raw, status) in [
            (&b"/%zz"[..], 400),
            (b"/%C3%28", 400),
            (b"/\xff\xfe", 400),
            (b"/a%252e", 404),
        ] {
            let d =
                e.inbound(&StaticRequest::get("h", "/").with_header_bytes(":path", raw.to_vec()));
            assert!(
                matches!(d.outcome, Outcome::Refuse { status: s, .. } if s == status),
                "{raw:?}: {:?}",
                d.outcome
            );
        }
    }

    /// `levels` chained `<set>`s, each `copies` copies of the previous value, the first of `{R:1}`.
    fn amplifying(copies: usize, levels: usize) -> Engine {
        let mut sets = Vec::new();
        let mut prev = "{R:1}".to_string();
        for level in 0..levels {
            let name = format!("HTTP_X_AMP_{level}");
            sets.push(format!(
                r#"{{"name":"{name}","value":"{}"}}"#,
                prev.repeat(copies)
            ));
            prev = format!("{{{name}}}");
        }
        engine(&format!(
            r#"{{"rules":[{{"name":"amplify","match":{{"url":"^amp/(.*)"}},
              "serverVariables":[{}],"action":{{"type":"None"}}}}]}}"#,
            sets.join(",")
        ))
    }

    fn is_limit_refusal(d: &Decision) -> bool {
        crate::engine::plugin::metric_names::action_index(&d.outcome) == 7
            && d.outcome.is_limit_refusal()
    }

    #[test]
    fn amplifying_server_variables_are_refused_not_allocated() {
        let before = limits::limit_hits();
        let e = amplifying(9, 5);
        let small = e.inbound(&StaticRequest::get("h", "/amp/x"));
        assert_eq!(small.outcome, Outcome::Continue);
        assert_eq!(
            edit(&small, "x-amp-4").flatten().map(|v| v.len()),
            Some(9usize.pow(5))
        );
        // 10 KB × 9⁵ would be 590 MB; the first level already passes the template bound.
        let path = format!("/amp/{}", "a".repeat(10_000));
        let d = e.inbound(&StaticRequest::get("h", &path));
        assert!(is_limit_refusal(&d), "{:?}", d.outcome);
        assert_eq!(
            d.outcome,
            Outcome::Refuse {
                status: 431,
                reason: format!(
                    "the rules would build a value longer than {} bytes from this request",
                    crate::engine::template::MAX_TEMPLATE_BYTES
                ),
            }
        );
        assert!(
            d.request_headers.is_empty(),
            "nothing half-built is applied"
        );
        assert!(limits::limit_hits() > before);
        // A value just under the bound is built.
        let fits = format!(
            "/amp/{}",
            "a".repeat(crate::engine::template::MAX_TEMPLATE_BYTES / 9 / 9)
        );
        let d = amplifying(9, 2).inbound(&StaticRequest::get("h", &fits));
        assert_eq!(d.outcome, Outcome::Continue);
    }

    #[test]
    fn many_values_under_the_template_bound_add_up_to_the_request_bound() {
        // Each value is one 60,000-byte capture (under the template bound); five of them are
        // more than the request may produce in all.
        let e = amplifying(1, 5);
        let path = format!("/amp/{}", "a".repeat(60_000));
        let d = amplifying(1, 4).inbound(&StaticRequest::get("h", &path));
        assert_eq!(d.outcome, Outcome::Continue, "240,000 bytes fit");
        let d = e.inbound(&StaticRequest::get("h", &path));
        assert!(is_limit_refusal(&d), "{:?}", d.outcome);
        let Outcome::Refuse { reason, .. } = &d.outcome else {
            panic!()
        };
        assert!(
            reason.contains("bytes of variables and headers"),
            "{reason}"
        );
    }

    #[test]
    fn condition_inputs_and_action_targets_are_bounded_too() {
        let big = "{R:1}".repeat(20);
        let e = engine(&format!(
            r#"{{"rules":[
              {{"name":"cond","match":{{"url":"^c/(.*)"}},
                "conditions":{{"items":[{{"input":"{big}","pattern":"x"}}]}},
                "action":{{"type":"CustomResponse","statusCode":403}}}},
              {{"name":"target","match":{{"url":"^t/(.*)"}},
                "action":{{"type":"Redirect","url":"/{big}"}}}}]}}"#
        ));
        let long = "a".repeat(5_000);
        for prefix in ["c", "t"] {
            let d = e.inbound(&StaticRequest::get("h", &format!("/{prefix}/{long}")));
            assert!(is_limit_refusal(&d), "{prefix}: {:?}", d.outcome);
            let d = e.inbound(&StaticRequest::get("h", &format!("/{prefix}/short")));
            assert!(!is_limit_refusal(&d), "{prefix}: {:?}", d.outcome);
        }
    }

    #[test]
    fn backtracking_conditions_share_one_budget_per_request() {
        // Two catastrophic conditions (negated: an exhausted match counts as no match, so they
        // hold) spend the request's budget; the third, cheap one then cannot run.
        let slow = r#"{"input":"{R:1}","pattern":"^(a+)+\\1$","negate":true}"#;
        let e = engine(&format!(
            r#"{{"rules":[{{"name":"r","match":{{"url":"^x/(.*)"}},
              "conditions":{{"items":[{slow},{slow},
                {{"input":"{{HTTP_X_PAIR}}","pattern":"^(a)\\1$"}}]}},
              "action":{{"type":"CustomResponse","statusCode":403}}}}]}}"#
        ));
        let req = |path: &str| StaticRequest::get("h", path).with_header("x-pair", "aa");
        let d = e.inbound(&req("/x/abc"));
        assert!(
            matches!(d.outcome, Outcome::CustomResponse { .. }),
            "{:?}",
            d.outcome
        );
        let hostile = format!("/x/{}b", "a".repeat(40));
        let d = e.inbound(&req(&hostile));
        assert_eq!(d.outcome, Outcome::Continue);
        // The next request has a budget of its own.
        let d = e.inbound(&req("/x/abc"));
        assert!(
            matches!(d.outcome, Outcome::CustomResponse { .. }),
            "{:?}",
            d.outcome
        );
    }
}
