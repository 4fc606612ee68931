//! Outbound rules on response headers, their preConditions, and `<httpProtocol><customHeaders>`
//! (URL Rewrite Module Configuration Reference, outbound rules; docs/configuration.md).
//!
//! Order per response: inbound `RESPONSE_*` sets, then customHeaders (present when outbound rules
//! run, so a rule can change them), then the enabled outbound rules in order. Each rule runs
//! only when its preCondition holds (evaluated once per response); it matches its pattern
//! against the current value of its header (an absent header reads as empty), checks its
//! conditions (`trackAllCaptures` defaults to true here), and Rewrite sets the header, where an
//! empty value removes it and `replace="false"` appends with `, `. `stopProcessing` ends outbound
//! processing for the response. Request-side inputs (`{HTTP_USER_AGENT}`, `{REQUEST_URI}`, custom
//! variables) come from a snapshot the request phase took: request headers cannot be read once
//! the response runs. Rules on the response body are evaluated by `super::body`.
//! A rule that would build more than the expansion limits allow (`limits`) ends outbound
//! processing for the response: the headers keep the values the earlier rules gave them.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use crate::engine::decision::{ClientOrigin, HeaderEdit, HeaderValue};
use crate::engine::evaluate::conditions::{evaluate_conditions, ConditionContext};
use crate::engine::evaluate::limits::{self, Exceeded, Produced};
use crate::engine::evaluate::{collapse_edits, push_growing};
use crate::engine::model::{CompiledOutboundRule, Engine, OutboundAction};
use crate::engine::request::lossy;
use crate::engine::response::ResponseFacts;
use crate::engine::server_vars::ServerVar;
use crate::engine::template::Expand;
use crate::engine::trace::RuleTrace;
use crate::engine::url;
use crate::pattern::{RequestBudget, Spans};

/// One response's evaluation state (also used by the body rules, `super::body`).
pub(super) struct OutEval<'a> {
    engine: &'a Engine,
    resp: &'a dyn ResponseFacts,
    snapshot: &'a [String],
    edits: Vec<HeaderEdit>,
    read: RefCell<Vec<&'a str>>,
    /// The current rule's match input and spans.
    pub(super) input: String,
    pub(super) spans: Spans,
    cond_caps: Vec<String>,
    /// Header values the rules built so far, against the per-phase bound.
    produced: Produced,
    pre_results: PreConditionResults,
}

/// The preCondition results of one response. Each preCondition is evaluated once per response
/// (a later rule may change a header it reads): bits for the first 64, a list beyond them
/// (allocated only for such configurations).
#[derive(Default)]
struct PreConditionResults {
    known: u64,
    holds: u64,
    beyond: Vec<Option<bool>>,
}

impl PreConditionResults {
    const BITS: usize = 64;

    fn get(&self, i: usize) -> Option<bool> {
        match i.checked_sub(Self::BITS) {
            None => ((self.known >> i) & 1 == 1).then_some((self.holds >> i) & 1 == 1),
            Some(j) => self.beyond.get(j).copied().flatten(),
        }
    }

    fn set(&mut self, i: usize, holds: bool) {
        match i.checked_sub(Self::BITS) {
            None => {
                let bit = 1u64 << i;
                self.known |= bit;
                if holds {
                    self.holds |= bit;
                }
            }
            Some(j) => {
                if self.beyond.len() <= j {
                    self.beyond.resize(j + 1, None);
                }
                if let Some(slot) = self.beyond.get_mut(j) {
                    *slot = Some(holds);
                }
            }
        }
    }
}

impl<'a> OutEval<'a> {
    /// An evaluation over `resp` with `preset` edits already applied.
    pub(super) fn new(
        engine: &'a Engine,
        resp: &'a dyn ResponseFacts,
        snapshot: &'a [String],
        preset: &[HeaderEdit],
    ) -> Self {
        OutEval {
            engine,
            resp,
            snapshot,
            edits: preset.to_vec(),
            read: RefCell::new(Vec::new()),
            input: String::new(),
            spans: Spans::new(),
            cond_caps: Vec::new(),
            produced: Produced::default(),
            pre_results: PreConditionResults::default(),
        }
    }
}

impl<'a> OutEval<'a> {
    pub(super) fn current(&self, name: &'a str) -> Option<Cow<'_, str>> {
        if let Some(e) = self.edits.iter().rev().find(|e| *e.name == *name) {
            return e.value.as_deref().map(Cow::Borrowed);
        }
        let mut read = self.read.borrow_mut();
        if !read.contains(&name) {
            push_growing(&mut read, name);
        }
        self.resp.header(name).map(lossy)
    }

    /// Sets (`None`: removes) a header to a value built for this response.
    fn set(&mut self, name: &Rc<str>, value: Option<String>) {
        let value = value.map(|v| HeaderValue::Built(url::sanitized_header_value(v)));
        self.set_clean(name, value);
    }

    /// [`OutEval::set`] for a value sanitised when the configuration was compiled.
    fn set_clean(&mut self, name: &Rc<str>, value: Option<HeaderValue>) {
        let name = Rc::clone(name);
        push_growing(&mut self.edits, HeaderEdit { name, value });
    }
}

impl<'a> ConditionContext<'a> for OutEval<'a> {
    fn cond_caps_mut(&mut self) -> &mut Vec<String> {
        &mut self.cond_caps
    }
}

impl<'a> Expand<'a> for OutEval<'a> {
    fn var(&self, var: &'a ServerVar, out: &mut String) {
        match var {
            ServerVar::ResponseHeader(name) => {
                if let Some(v) = self.current(name) {
                    out.push_str(&v);
                }
            }
            ServerVar::ResponseStatus => {
                if let Some(v) = self.resp.header(":status") {
                    out.push_str(&lossy(v));
                }
            }
            ServerVar::Snapshot(i) => {
                if let Some(v) = self.snapshot.get(*i) {
                    out.push_str(v);
                }
            }
            _ => {}
        }
    }

    fn rule_capture(&self, n: u8, out: &mut String) {
        if let Some(Some((a, b))) = self.spans.get(usize::from(n)) {
            out.push_str(self.input.get(*a..*b).unwrap_or_default());
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

/// An absolute backend URL with the client's scheme and host (path kept); `None` for relative
/// values, which ARR leaves alone.
fn reverse_rewrite(value: &str, origin: &ClientOrigin) -> Option<String> {
    let u = url::parse_absolute(value)?;
    if !matches!(&*u.scheme, "http" | "https") || origin.host.is_empty() {
        return None;
    }
    Some(format!("{}://{}{}", origin.scheme, origin.host, u.rest))
}

/// A backend `Set-Cookie` value with its `Domain=` attribute set to the client's Host, as ARR's
/// `reverseRewriteHostInResponseHeaders` does (a leading dot is kept, the Host keeps its port);
/// `None` when the cookie has no `Domain` (or no client Host is known).
pub fn set_cookie_for_client(value: &[u8], origin: &ClientOrigin) -> Option<Vec<u8>> {
    if origin.host.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(value.len() + origin.host.len());
    let mut changed = false;
    for (i, part) in value.split(|&b| b == b';').enumerate() {
        if i > 0 {
            out.push(b';');
        }
        let (name, rest) = match part.iter().position(|&b| b == b'=') {
            Some(eq) => part.split_at(eq),
            None => (part, &b""[..]),
        };
        // The first part is the cookie itself, never an attribute.
        if i == 0 || !name.trim_ascii().eq_ignore_ascii_case(b"domain") || rest.is_empty() {
            out.extend_from_slice(part);
            continue;
        }
        let leading = name.len() - name.trim_ascii_start().len();
        let domain = rest.get(1..).unwrap_or_default().trim_ascii();
        out.extend_from_slice(part.get(..leading).unwrap_or_default());
        out.extend_from_slice(b"Domain=");
        if domain.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(origin.host.as_bytes());
        changed = true;
    }
    changed.then_some(out)
}

/// Whether a comma-separated header value already carries `value`.
fn carries(current: &str, value: &str) -> bool {
    current == value || current.split(',').any(|v| v.trim() == value)
}

impl Engine {
    /// The request-side variables the response phase needs, in snapshot order.
    pub fn outbound_snapshot_vars(&self) -> &[ServerVar] {
        &self.outbound.snapshot_vars
    }

    /// How many response headers one response phase reads at most (for choosing between one
    /// host call per header and one call for all); `reverse`: Location/Content-Location are
    /// reverse-rewritten.
    pub fn response_reads(&self, reverse: bool) -> usize {
        let o = &self.outbound;
        let rules = o.rules.iter().filter(|r| !r.input_unused).count();
        let conditions: usize = o
            .pre_conditions
            .iter()
            .map(|p| p.conditions.items.len())
            .chain(o.rules.iter().map(|r| r.conditions.items.len()))
            .sum();
        o.custom_headers.len() + rules + conditions + if reverse { 2 } else { 0 }
    }

    /// Whether the response phase has anything to do besides inbound `RESPONSE_*` sets.
    pub fn has_outbound(&self) -> bool {
        !self.outbound.is_empty()
    }

    /// Evaluates customHeaders and outbound rules for one response. `preset` are the inbound
    /// `RESPONSE_*` sets still to apply; `snapshot` the values of
    /// [`Engine::outbound_snapshot_vars`] taken in the request phase. Returns the response header
    /// edits that change something, one per header.
    pub fn outbound(
        &self,
        resp: &dyn ResponseFacts,
        snapshot: &[String],
        preset: &[HeaderEdit],
    ) -> Vec<HeaderEdit> {
        self.evaluate_outbound(resp, snapshot, preset, None, None)
    }

    /// [`Engine::outbound`] for a response to a proxied request: `origin` (from
    /// `Decision::reverse_rewrite`) turns backend `Location`/`Content-Location` URLs back to the
    /// client's scheme and host first, as ARR does before outbound rules run.
    pub fn outbound_for_proxied(
        &self,
        resp: &dyn ResponseFacts,
        snapshot: &[String],
        preset: &[HeaderEdit],
        origin: Option<&ClientOrigin>,
    ) -> Vec<HeaderEdit> {
        self.evaluate_outbound(resp, snapshot, preset, origin, None)
    }

    /// Same, recording each outbound rule's evaluation.
    pub fn outbound_traced(
        &self,
        resp: &dyn ResponseFacts,
        snapshot: &[String],
        preset: &[HeaderEdit],
        trace: &mut Vec<RuleTrace>,
    ) -> Vec<HeaderEdit> {
        self.evaluate_outbound(resp, snapshot, preset, None, Some(trace))
    }

    fn evaluate_outbound(
        &self,
        resp: &dyn ResponseFacts,
        snapshot: &[String],
        preset: &[HeaderEdit],
        origin: Option<&ClientOrigin>,
        mut trace: Option<&mut Vec<RuleTrace>>,
    ) -> Vec<HeaderEdit> {
        let _budget = RequestBudget::start();
        let mut ev = OutEval::new(self, resp, snapshot, preset);
        if let Some(origin) = origin {
            ev.reverse_rewrite_locations(origin);
        }
        ev.add_custom_headers();
        for rule in &self.outbound.rules {
            let mut rt = trace.as_ref().map(|_| RuleTrace {
                name: rule.name.clone(),
                pattern: rule.pattern.source().to_string(),
                ..RuleTrace::default()
            });
            if let Some(i) = rule.pre_condition {
                let holds = ev.pre_condition_holds(i);
                if holds != Ok(true) {
                    if let (Some(t), Some(mut r)) = (trace.as_deref_mut(), rt) {
                        r.action = Some("skipped: preCondition false".into());
                        t.push(r);
                    }
                    if let Err(e) = holds {
                        limits::record(e, &rule.name);
                        break;
                    }
                    continue;
                }
            }
            let result = ev
                .matches(rule, rt.as_mut(), trace.is_some())
                .and_then(|fired| {
                    if fired {
                        ev.rewrite(rule, rt.as_mut())?;
                    }
                    Ok(fired)
                });
            let fired = result == Ok(true);
            if let (Some(t), Some(mut r)) = (trace.as_deref_mut(), rt) {
                r.fired = fired;
                r.stopped = fired && rule.stop || result.is_err();
                if result.is_err() {
                    r.action = Some("stopped: expansion limit".into());
                }
                t.push(r);
            }
            if let Err(e) = result {
                limits::record(e, &rule.name);
                break;
            }
            if fired && rule.stop {
                break;
            }
        }
        ev.net_edits()
    }
}

impl<'a> OutEval<'a> {
    /// Turns backend `Location`/`Content-Location` URLs back to the client's scheme and host.
    fn reverse_rewrite_locations(&mut self, origin: &ClientOrigin) {
        let names = &self.engine.fixed_names;
        for name in [&names.location, &names.content_location] {
            let back = self.current(name).and_then(|v| reverse_rewrite(&v, origin));
            if back.is_some() {
                self.set(name, back);
            }
        }
    }

    /// `<httpProtocol><customHeaders>`, present before the outbound rules run.
    fn add_custom_headers(&mut self) {
        let engine = self.engine;
        for (name, value) in &engine.outbound.custom_headers {
            // Values were sanitised at compile time.
            match self.current(name) {
                None => self.set_clean(name, Some(HeaderValue::from(value))),
                Some(c) if c.is_empty() => self.set_clean(name, Some(HeaderValue::from(value))),
                Some(c) if carries(&c, value) => {}
                // IIS adds a custom header to what the backend sent: both values.
                Some(c) => {
                    let both = format!("{c}, {value}");
                    self.set(name, Some(both));
                }
            }
        }
    }

    /// Whether preCondition `i` holds, evaluated once per response.
    pub(super) fn pre_condition_holds(&mut self, i: usize) -> Result<bool, Exceeded> {
        if let Some(r) = self.pre_results.get(i) {
            return Ok(r);
        }
        let engine = self.engine;
        let r = match engine.outbound.pre_conditions.get(i) {
            Some(p) => evaluate_conditions(self, &p.conditions, None)?,
            None => false,
        };
        self.pre_results.set(i, r);
        Ok(r)
    }

    /// Whether the rule's pattern (against its header's current value) and conditions match.
    fn matches(
        &mut self,
        rule: &'a CompiledOutboundRule,
        mut rt: Option<&mut RuleTrace>,
        traced: bool,
    ) -> Result<bool, Exceeded> {
        self.input.clear();
        if !rule.input_unused || traced {
            if let Some(v) = self.current(&rule.header) {
                let v = v.into_owned();
                self.input = v;
            }
        }
        let input = std::mem::take(&mut self.input);
        let found = rule
            .pattern
            .test(&input, &mut self.spans, rule.captures_read || traced);
        self.input = input;
        let matched = found != rule.negate;
        if rule.negate {
            self.spans.clear();
        }
        if let Some(r) = rt.as_deref_mut() {
            r.input = self.input.clone();
            r.pattern_matched = matched;
        }
        if !matched {
            return Ok(false);
        }
        Ok(evaluate_conditions(
            self,
            &rule.conditions,
            rt.map(|r| &mut r.conditions),
        )?)
    }

    /// Runs a fired rule's Rewrite action: an empty value removes the header, `replace="false"`
    /// appends with `, `.
    fn rewrite(
        &mut self,
        rule: &'a CompiledOutboundRule,
        rt: Option<&mut RuleTrace>,
    ) -> Result<(), Exceeded> {
        let OutboundAction::Rewrite {
            value,
            replace,
            constant,
        } = &rule.action
        else {
            return Ok(());
        };
        let new = match (constant, *replace) {
            (Some(v), true) => (!v.is_empty()).then(|| HeaderValue::from(v)),
            _ => {
                let v = value.expand_to_string(self)?;
                let new = match (*replace, self.current(&rule.header)) {
                    (false, Some(c)) if !c.is_empty() && !v.is_empty() => Some(format!("{c}, {v}")),
                    (false, Some(c)) if !c.is_empty() => Some(c.into_owned()),
                    _ => (!v.is_empty()).then_some(v),
                };
                new.map(HeaderValue::Built)
            }
        };
        self.produced.add(new.as_deref().map_or(0, str::len))?;
        if let Some(r) = rt {
            r.action = Some(match &new {
                Some(v) => format!("set {}: {v}", rule.header),
                None => format!("remove {}", rule.header),
            });
        }
        self.set_clean(&rule.header, new.map(HeaderValue::sanitized));
        Ok(())
    }

    /// One final value per header; drops what changes nothing.
    fn net_edits(self) -> Vec<HeaderEdit> {
        let mut out = self.edits;
        collapse_edits(&mut out);
        let read = self.read.into_inner();
        let resp = self.resp;
        out.retain(|e| {
            if !read.contains(&&*e.name) {
                return true;
            }
            match (&e.value, resp.header(&e.name)) {
                (None, None) => false,
                (Some(v), Some(c)) => v.as_bytes() != c.as_ref(),
                _ => true,
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::FilterConfig;
    use crate::engine::request::StaticRequest;
    use crate::engine::response::StaticResponse;

    const CONFIG: &str = r#"{
      "rules": [{"name": "Proxy", "match": {"url": ".*"},
                 "action": {"type": "Rewrite", "url": "http://localhost:8096/{R:0}"}}],
      "outboundRules": {
        "preConditions": [
          {"name": "images", "logicalGrouping": "MatchAny", "items": [
            {"input": "{REQUEST_URI}", "pattern": "Items/.+/Images/.*"},
            {"input": "{RESPONSE_CONTENT_TYPE}", "pattern": "^image/.+"}]},
          {"name": "browsers", "logicalGrouping": "MatchAll", "items": [
            {"input": "{HTTP_USER_AGENT}", "pattern": "Web0S", "negate": true},
            {"input": "{HTTP_USER_AGENT}", "pattern": "playstation", "negate": true},
            {"input": "{HTTP_USER_AGENT}", "pattern": "Dalvik", "negate": true},
            {"input": "{RESPONSE_CONTENT_TYPE}", "pattern": "^text/html"}]}
        ],
        "rules": [
          {"name": "Add Cache", "preCondition": "images",
           "match": {"serverVariable": "RESPONSE_Cache_Control", "pattern": "(.*)"},
           "action": {"type": "Rewrite", "value": "max-age=604800"}},
          {"name": "CSP", "preCondition": "browsers",
           "match": {"serverVariable": "RESPONSE_Content_Security_Policy", "pattern": ".*"},
           "action": {"type": "Rewrite", "value": "default-src 'self'"}},
          {"name": "Hide server", "match": {"serverVariable": "RESPONSE_Server", "pattern": ".+"},
           "action": {"type": "Rewrite", "value": ""}},
          {"name": "Disabled", "enabled": false,
           "match": {"serverVariable": "RESPONSE_X_Disabled", "pattern": ".*"},
           "action": {"type": "Rewrite", "value": "on"}}
        ]
      },
      "customHeaders": [
        {"name": "X-Content-Type-Options", "value": "nosniff"},
        {"name": "Cache-Control", "value": "no-cache"}
      ]
    }"#;

    #[test]
    fn pre_condition_results_are_kept_past_64() {
        let mut results = PreConditionResults::default();
        for i in [0, 5, 63, 64, 65, 200] {
            assert_eq!(results.get(i), None, "{i}");
        }
        for (i, holds) in [(0, true), (5, false), (63, true), (64, false), (200, true)] {
            results.set(i, holds);
        }
        for (i, want) in [
            (0, Some(true)),
            (1, None),
            (5, Some(false)),
            (63, Some(true)),
            (64, Some(false)),
            (65, None),
            (200, Some(true)),
        ] {
            assert_eq!(results.get(i), want, "{i}");
        }
    }

    fn engine() -> Engine {
        Engine::compile(&FilterConfig::from_json(CONFIG).unwrap()).unwrap()
    }

    fn respond(
        e: &Engine,
        path: &str,
        ua: &str,
        resp: StaticResponse,
    ) -> Vec<(String, Option<String>)> {
        let d = e.inbound(&StaticRequest::get("h", path).with_header("user-agent", ua));
        e.outbound(&resp, &d.outbound_snapshot, &d.response_headers)
            .into_iter()
            .map(|h| (h.name.to_string(), h.value.as_deref().map(str::to_string)))
            .collect()
    }

    fn get<'a>(edits: &'a [(String, Option<String>)], name: &str) -> Option<&'a Option<String>> {
        edits.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    const DESKTOP: &str = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0";

    #[test]
    fn only_needed_request_values_are_snapshotted() {
        let e = engine();
        assert_eq!(
            e.outbound_snapshot_vars(),
            [
                ServerVar::RequestUri,
                ServerVar::Header("user-agent".into())
            ]
        );
        // A proxied request's outbound rules see the client's URL, not the target's.
        let d = e.inbound(&StaticRequest::get("h", "/Items/5/Images/Primary?x=1"));
        assert_eq!(d.outbound_snapshot[0], "/Items/5/Images/Primary?x=1");
    }

    #[test]
    fn custom_headers_then_outbound_rules() {
        let e = engine();
        let html = StaticResponse::new(200).with_header("content-type", "text/html; charset=utf-8");
        let edits = respond(&e, "/web/index.html", DESKTOP, html.clone());
        assert_eq!(
            get(&edits, "x-content-type-options"),
            Some(&Some("nosniff".into()))
        );
        assert_eq!(get(&edits, "cache-control"), Some(&Some("no-cache".into())));
        assert_eq!(
            get(&edits, "content-security-policy"),
            Some(&Some("default-src 'self'".into()))
        );
        assert_eq!(get(&edits, "x-disabled"), None, "disabled rules stay off");

        // An image: the outbound rule overwrites the custom Cache-Control.
        let img = StaticResponse::new(200).with_header("content-type", "image/jpeg");
        let edits = respond(&e, "/Items/1/Images/Primary", DESKTOP, img);
        assert_eq!(
            get(&edits, "cache-control"),
            Some(&Some("max-age=604800".into()))
        );
        assert_eq!(get(&edits, "content-security-policy"), None);
    }

    #[test]
    fn tv_and_android_clients_get_no_csp() {
        let e = engine();
        let html = StaticResponse::new(200).with_header("content-type", "text/html");
        for ua in [
            "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36",
            "Mozilla/5.0 (PlayStation 5 3.00) AppleWebKit/605.1.15",
            "Mozilla/5.0 (PLAYSTATION 4 9.00)",
            "Dalvik/2.1.0 (Linux; U; Android 12)",
        ] {
            let edits = respond(&e, "/web/index.html", ua, html.clone());
            assert_eq!(get(&edits, "content-security-policy"), None, "{ua}");
            assert_eq!(
                get(&edits, "x-content-type-options"),
                Some(&Some("nosniff".into()))
            );
        }
    }

    #[test]
    fn backend_values_empty_rewrites_and_append() {
        let e = engine();
        // Same value from the backend: not duplicated; another value: both, as IIS does.
        let resp = StaticResponse::new(200)
            .with_header("x-content-type-options", "nosniff")
            .with_header("cache-control", "private")
            .with_header("server", "Kestrel");
        let edits = respond(&e, "/a", DESKTOP, resp);
        assert_eq!(get(&edits, "x-content-type-options"), None);
        assert_eq!(
            get(&edits, "cache-control"),
            Some(&Some("private, no-cache".into()))
        );
        assert_eq!(
            get(&edits, "server"),
            Some(&None),
            "an empty Rewrite value removes"
        );

        let e = Engine::compile(
            &FilterConfig::from_json(
                r#"{"outboundRules":{"rules":[{"name":"v","match":{"serverVariable":"RESPONSE_Vary","pattern":".*"},
                 "action":{"type":"Rewrite","value":"Origin","replace":false}}]}}"#,
            )
            .unwrap(),
        )
        .unwrap();
        let edits = respond(
            &e,
            "/a",
            DESKTOP,
            StaticResponse::new(200).with_header("vary", "Accept"),
        );
        assert_eq!(get(&edits, "vary"), Some(&Some("Accept, Origin".into())));
        let edits = respond(&e, "/a", DESKTOP, StaticResponse::new(200));
        assert_eq!(get(&edits, "vary"), Some(&Some("Origin".into())));
    }

    #[test]
    fn doubling_rules_stop_at_the_expansion_limit() {
        // Each rule doubles X; a last rule would mark the response.
        let mut rules: Vec<String> = (0..6)
            .map(|i| {
                format!(
                    r#"{{"name":"double{i}","match":{{"serverVariable":"RESPONSE_X","pattern":".*"}},
                     "action":{{"type":"Rewrite","value":"{{RESPONSE_X}}{{RESPONSE_X}}"}}}}"#
                )
            })
            .collect();
        rules.push(
            r#"{"name":"last","match":{"serverVariable":"RESPONSE_Y","pattern":".*"},
               "action":{"type":"Rewrite","value":"reached"}}"#
                .into(),
        );
        let json = format!(r#"{{"outboundRules":{{"rules":[{}]}}}}"#, rules.join(","));
        let e = Engine::compile(&FilterConfig::from_json(&json).unwrap()).unwrap();
        let small = respond(
            &e,
            "/",
            DESKTOP,
            StaticResponse::new(200).with_header("x", "ab"),
        );
        assert_eq!(get(&small, "x"), Some(&Some("ab".repeat(64))));
        assert_eq!(get(&small, "y"), Some(&Some("reached".into())));
        // 10,000 bytes doubled: 20,000, 40,000, then 80,000 is over the template bound.
        let before = crate::engine::evaluate::limits::limit_hits();
        let big = "a".repeat(10_000);
        let edits = respond(
            &e,
            "/",
            DESKTOP,
            StaticResponse::new(200).with_header("x", &big),
        );
        assert_eq!(
            get(&edits, "x").cloned().flatten().map(|v| v.len()),
            Some(40_000)
        );
        assert_eq!(get(&edits, "y"), None, "processing stopped at the limit");
        assert!(crate::engine::evaluate::limits::limit_hits() > before);
    }

    #[test]
    fn captures_status_and_stop_processing() {
        let e = Engine::compile(
            &FilterConfig::from_json(
                r#"{"outboundRules":{"preConditions":[{"name":"redirects","items":[{"input":"{RESPONSE_STATUS}","pattern":"^30[12]"}]}],
                "rules":[
                 {"name":"loc","preCondition":"redirects","stopProcessing":true,
                  "match":{"serverVariable":"RESPONSE_Location","pattern":"^https?://backend(:\\d+)?/(.*)"},
                  "action":{"type":"Rewrite","value":"https://{HTTP_HOST}/{R:2}"}},
                 {"name":"after","match":{"serverVariable":"RESPONSE_X_After","pattern":".*"},
                  "action":{"type":"Rewrite","value":"1"}}]}}"#,
            )
            .unwrap(),
        )
        .unwrap();
        let d = e.inbound(&StaticRequest::get("front.example", "/x"));
        let resp =
            StaticResponse::new(302).with_header("location", "http://backend:8080/login?r=1");
        let edits = e.outbound(&resp, &d.outbound_snapshot, &[]);
        assert_eq!(
            edits,
            [HeaderEdit {
                name: "location".into(),
                value: Some("https://front.example/login?r=1".into())
            }]
        );
        let edits = e.outbound(&StaticResponse::new(200), &d.outbound_snapshot, &[]);
        assert_eq!(edits.len(), 1, "{edits:?}");
    }

    #[test]
    fn backend_redirects_are_reverse_rewritten_to_the_client_host() {
        let e = engine();
        let d = e.inbound(&StaticRequest::get("media.example.com:8443", "/web/").over_tls());
        let origin = d.reverse_rewrite.clone().expect("proxied");
        let resp = StaticResponse::new(302)
            .with_header("location", "http://localhost:8096/web/index.html?x=1")
            .with_header("content-location", "/relative/stays");
        let edits = e.outbound_for_proxied(&resp, &d.outbound_snapshot, &[], Some(&origin));
        assert_eq!(
            edits
                .iter()
                .find(|h| &*h.name == "location")
                .and_then(|h| h.value.as_deref().map(str::to_string)),
            Some("https://media.example.com:8443/web/index.html?x=1".into())
        );
        assert!(edits.iter().all(|h| &*h.name != "content-location"));
        // Switched off: the backend's Location passes unchanged.
        let e = Engine::compile(
            &FilterConfig::from_json(
                r#"{"rules":[{"name":"p","match":{"url":".*"},"action":{"type":"Rewrite","url":"http://b/{R:0}"}}],
                   "proxy":{"reverseRewriteHostInResponseHeaders":false}}"#,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            e.inbound(&StaticRequest::get("h", "/")).reverse_rewrite,
            None
        );
    }

    #[test]
    fn set_cookie_domains_become_the_client_host() {
        let origin = ClientOrigin {
            scheme: "https",
            host: "public.example:8443".into(),
        };
        let rewrite = |v: &str| {
            set_cookie_for_client(v.as_bytes(), &origin).map(|b| String::from_utf8(b).unwrap())
        };
        assert_eq!(
            rewrite("sid=1; Path=/; domain=.backend.local; HttpOnly").as_deref(),
            Some("sid=1; Path=/; Domain=.public.example:8443; HttpOnly")
        );
        assert_eq!(
            rewrite("a=b;Domain=backend").as_deref(),
            Some("a=b;Domain=public.example:8443")
        );
        // No Domain attribute, or "domain" only as the cookie's own name: left alone.
        assert_eq!(rewrite("sid=1; Path=/"), None);
        assert_eq!(rewrite("domain=x; Path=/"), None);
    }

    #[test]
    fn config_errors() {
        let err = |json: &str| {
            Engine::compile(&FilterConfig::from_json(json).unwrap())
                .unwrap_err()
                .to_string()
        };
        assert!(err(r#"{"outboundRules":{"rules":[{"name":"a","preCondition":"nope","match":{"serverVariable":"RESPONSE_X","pattern":".*"}}]}}"#)
            .contains("unknown preCondition \"nope\""));
        assert!(err(r#"{"outboundRules":{"rules":[{"name":"a","match":{"filterByTags":"A, Div","pattern":".*"}}]}}"#)
            .contains("Div"));
        assert!(err(r#"{"outboundRules":{"rules":[{"name":"a","match":{"serverVariable":"RESPONSE_X","pattern":"(a"}}]}}"#)
            .contains("invalid pattern"));
        assert!(err(r#"{"outboundRules":{"rules":[{"name":"a","match":{"serverVariable":"RESPONSE_X","pattern":"(a)"},"action":{"type":"Rewrite","value":"{R:2}"}}]}}"#)
            .contains("{R:2}"));
    }
}
