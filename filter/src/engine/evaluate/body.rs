//! Outbound rules on the response body (URL Rewrite 2.x: `<match filterByTags=…>` and a
//! `<match pattern=…>` without `serverVariable`), wired to the streaming rewriter of
//! [`crate::engine::body`]; docs/configuration.md, "Rules on the response body".
//!
//! Everything that decides *whether* a body is rewritten happens once, when the response
//! headers pass ([`Engine::body_rewrite`]): each rule's preCondition, the status, the
//! content type, the content encoding and the charset. A response no rule applies to is never
//! looked at again. Then, per URL attribute (tag rules) or per match in the text (text rules),
//! a rule matches its pattern, checks its conditions and expands its action as a header rule
//! does. The response headers those conditions and values read are frozen with the decision,
//! since the body callbacks come after Envoy has sent the headers on.
//!
//! Chaining follows IIS per location: consecutive tag rules run in order on each attribute
//! value, the output of one being the input of the next, and a rule with `stopProcessing` that
//! fires ends the chain for that value. A text rule sees the body as the rules before it left
//! it. Values are matched as text: UTF-8 bodies as they are (an attribute that is not valid
//! UTF-8 is left alone, and a text search skips invalid bytes), single-byte charsets one byte
//! per character (Latin-1), and a replacement character a single-byte charset cannot hold is
//! written as an HTML character reference.

use std::rc::Rc;

use crate::engine::body::{BodyPipeline, Charset, TagRewriter, TagSet, TextMatch, TextRewriter};
use crate::engine::decision::HeaderEdit;
use crate::engine::evaluate::conditions::evaluate_conditions;
use crate::engine::evaluate::outbound::OutEval;
use crate::engine::model::{BodyTarget, CompiledBodyRule, Engine, OutboundAction};
use crate::engine::response::{ResponseFacts, StaticResponse};

/// Why a response's body is left alone although body rules exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodySkip {
    /// No rule's preCondition holds, or the status or content type carries no rewritable body
    /// (1xx, 204, 206, 304; a content type that is not text, HTML, XML, JSON or JavaScript).
    NotApplicable,
    /// `Content-Encoding` other than `identity`: the bytes are not text (see the generated
    /// decompressor in docs/configuration.md).
    Encoded,
    /// A charset whose bytes the scanners cannot read (UTF-16, Shift_JIS, …).
    Charset,
}

/// What the response-headers phase decided about the body.
pub enum BodyDecision {
    Skip(BodySkip),
    Rewrite(BodyRewrite),
}

/// The streaming rewrite of one response body: feed it the chunks in order, then finish.
pub struct BodyRewrite {
    pipeline: BodyPipeline<'static>,
}

impl BodyRewrite {
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.pipeline.feed(chunk, out);
    }

    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.pipeline.finish(out);
    }

    /// Gives up text look-ahead here (see [`BodyPipeline::soft_flush`]).
    pub fn soft_flush(&mut self, out: &mut Vec<u8>) {
        self.pipeline.soft_flush(out);
    }

    /// Bytes held back between chunks (bounded by the rewriters' limits).
    pub fn held_bytes(&self) -> usize {
        self.pipeline.held_bytes()
    }
}

/// What the rules of one response share while its body streams.
struct BodyContext {
    engine: Rc<Engine>,
    response: StaticResponse,
    snapshot: Vec<String>,
    charset: Charset,
}

/// Content types whose bodies are text that links can be written in.
fn is_text(content_type: &[u8]) -> bool {
    let essence = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii()
        .to_ascii_lowercase();
    let essence = essence.as_slice();
    essence.starts_with(b"text/")
        || essence.ends_with(b"+xml")
        || essence.ends_with(b"+json")
        || matches!(
            essence,
            b"application/xhtml+xml"
                | b"application/xml"
                | b"application/json"
                | b"application/javascript"
                | b"application/x-javascript"
                | b"application/ecmascript"
        )
}

/// Whether a response with this status carries a body that can be rewritten whole.
fn status_has_body(status: &[u8]) -> bool {
    let code: Option<u16> = std::str::from_utf8(status)
        .ok()
        .and_then(|s| s.parse().ok());
    match code {
        Some(c) => !(c < 200 || c == 204 || c == 206 || c == 304),
        None => false,
    }
}

impl Engine {
    /// The names of the body rules, in order.
    pub fn body_rule_names(&self) -> impl Iterator<Item = &str> {
        self.outbound.body_rules.iter().map(|r| r.name.as_str())
    }

    /// Whether the configuration has rules on response bodies.
    pub fn has_body_rules(&self) -> bool {
        !self.outbound.body_rules.is_empty()
    }

    /// Decides, when the response headers pass, whether and how this response's body is
    /// rewritten. `edits` are the header edits of this response phase (preConditions see the
    /// headers as the header rules left them); `snapshot` the request-side values of
    /// [`Engine::outbound_snapshot_vars`].
    pub fn body_rewrite(
        self: &Rc<Self>,
        resp: &dyn ResponseFacts,
        snapshot: &[String],
        edits: &[HeaderEdit],
    ) -> BodyDecision {
        let rules = &self.outbound.body_rules;
        let mut ev = OutEval::new(self, resp, snapshot, edits);
        let status = ev.current(":status").map(|s| s.into_owned());
        if rules.is_empty() || !status.is_some_and(|s| status_has_body(s.as_bytes())) {
            return BodyDecision::Skip(BodySkip::NotApplicable);
        }
        let content_type = ev
            .current("content-type")
            .map(|c| c.into_owned())
            .unwrap_or_default();
        if !is_text(content_type.as_bytes()) {
            return BodyDecision::Skip(BodySkip::NotApplicable);
        }
        let applicable: Vec<usize> = (0..rules.len())
            .filter(|&i| {
                rules.get(i).and_then(|r| r.pre_condition).is_none_or(|p| {
                    // Past the expansion limits a preCondition does not hold.
                    ev.pre_condition_holds(p).unwrap_or(false)
                })
            })
            .collect();
        if applicable.is_empty() {
            return BodyDecision::Skip(BodySkip::NotApplicable);
        }
        let encoded = ev
            .current("content-encoding")
            .is_some_and(|e| !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("identity"));
        if encoded {
            return BodyDecision::Skip(BodySkip::Encoded);
        }
        let charset = Charset::of_content_type(content_type.as_bytes());
        if !charset.is_rewritable() {
            return BodyDecision::Skip(BodySkip::Charset);
        }
        let mut response = StaticResponse::default();
        for name in &self.outbound.body_reads {
            if let Some(v) = ev.current(name) {
                response = response.with_header(name, v.as_bytes());
            }
        }
        let context = Rc::new(BodyContext {
            engine: Rc::clone(self),
            response,
            snapshot: snapshot.to_vec(),
            charset,
        });
        BodyDecision::Rewrite(BodyRewrite {
            pipeline: pipeline(&context, rules, &applicable),
        })
    }

    /// The body as a response with these headers would have it rewritten (`iis-rewrite
    /// explain --body`), or why it would pass unchanged.
    pub fn rewrite_whole_body(
        self: &Rc<Self>,
        resp: &dyn ResponseFacts,
        snapshot: &[String],
        body: &[u8],
    ) -> Result<Vec<u8>, BodySkip> {
        match self.body_rewrite(resp, snapshot, &[]) {
            BodyDecision::Skip(reason) => Err(reason),
            BodyDecision::Rewrite(mut rewrite) => {
                let mut out = Vec::with_capacity(body.len());
                rewrite.feed(body, &mut out);
                rewrite.finish(&mut out);
                Ok(out)
            }
        }
    }
}

/// One stage per text rule, one per run of consecutive tag rules (so that `stopProcessing`
/// can end the chain per value).
fn pipeline(
    context: &Rc<BodyContext>,
    rules: &[CompiledBodyRule],
    applicable: &[usize],
) -> BodyPipeline<'static> {
    let mut pipeline = BodyPipeline::new();
    let mut run: Vec<usize> = Vec::new();
    let mut union = TagSet::default();
    let flush = |pipeline: &mut BodyPipeline<'static>, run: &mut Vec<usize>, union: &mut TagSet| {
        if run.is_empty() {
            return;
        }
        let context = Rc::clone(context);
        let indices = std::mem::take(run);
        let set = std::mem::take(union);
        pipeline.push(TagRewriter::new(
            set,
            move |tag: &str, attribute: &str, value: &[u8]| {
                context.rewrite_attribute(&indices, tag, attribute, value)
            },
        ));
    };
    for &i in applicable {
        let Some(rule) = rules.get(i) else { continue };
        match &rule.target {
            BodyTarget::Tags(set) => {
                union.extend(set);
                run.push(i);
            }
            BodyTarget::Text { occurrences } => {
                flush(&mut pipeline, &mut run, &mut union);
                let context = Rc::clone(context);
                let limit = *occurrences;
                let mut replaced = 0u64;
                let utf8 = context.charset == Charset::Utf8;
                pipeline.push(TextRewriter::new(
                    move |haystack: &[u8], from: usize| {
                        let found = context.next_text_match(i, haystack, from, {
                            limit == 0 || replaced < limit
                        })?;
                        if found.replacement.is_some() {
                            replaced += 1;
                        }
                        Some(found)
                    },
                    utf8,
                ));
            }
        }
    }
    flush(&mut pipeline, &mut run, &mut union);
    pipeline
}

impl BodyContext {
    fn rule(&self, i: usize) -> Option<&CompiledBodyRule> {
        self.engine.outbound.body_rules.get(i)
    }

    /// The value after the tag rules `indices` ran on it in order; `None` leaves it as it is.
    fn rewrite_attribute(
        &self,
        indices: &[usize],
        tag: &str,
        attribute: &str,
        value: &[u8],
    ) -> Option<Vec<u8>> {
        let mut text = self.decode(value)?;
        let mut changed = false;
        for &i in indices {
            let Some(rule) = self.rule(i) else { continue };
            let BodyTarget::Tags(set) = &rule.target else {
                continue;
            };
            if !set.contains(tag, attribute) {
                continue;
            }
            let mut ev = OutEval::new(&self.engine, &self.response, &self.snapshot, &[]);
            let (fired, new) = apply(&mut ev, rule, std::mem::take(&mut text));
            if let Some(new) = new {
                changed = true;
                text = new;
            } else {
                text = std::mem::take(&mut ev.input);
            }
            if fired && rule.stop {
                break;
            }
        }
        changed.then(|| self.encode(&text))
    }

    /// The next match of text rule `i` in `haystack` at or after `from`, with its replacement
    /// when its conditions hold and `may_replace`.
    fn next_text_match(
        &self,
        i: usize,
        haystack: &[u8],
        mut from: usize,
        may_replace: bool,
    ) -> Option<TextMatch> {
        let rule = self.rule(i)?;
        loop {
            let rest = haystack.get(from..)?;
            if rest.is_empty() {
                return None;
            }
            // The text from `from` as a string, and how its offsets map back to bytes.
            let (text, latin1) = match self.charset {
                Charset::SingleByte => (rest.iter().map(|&b| char::from(b)).collect(), true),
                _ => match std::str::from_utf8(rest) {
                    Ok(s) => (s.to_string(), false),
                    Err(e) => {
                        let valid = rest.get(..e.valid_up_to()).unwrap_or_default();
                        if valid.is_empty() {
                            // Skip the bytes that are not UTF-8.
                            from += e.error_len().unwrap_or(1);
                            continue;
                        }
                        (String::from_utf8_lossy(valid).into_owned(), false)
                    }
                },
            };
            let text_len = text.len();
            let mut ev = OutEval::new(&self.engine, &self.response, &self.snapshot, &[]);
            ev.input = text;
            if !rule.pattern.find(&ev.input, &mut ev.spans) || rule.negate {
                if latin1 || text_len == rest.len() {
                    return None;
                }
                // Search again after the bytes that are not UTF-8.
                from += text_len;
                continue;
            }
            let (start, end) = ev.spans.first().copied().flatten()?;
            let to_bytes = |at: usize| -> usize {
                if latin1 {
                    from + ev.input.get(..at).map_or(0, |s| s.chars().count())
                } else {
                    from + at
                }
            };
            let range = to_bytes(start)..to_bytes(end);
            // Past the expansion limits a match is left as it is.
            let holds = may_replace
                && evaluate_conditions(&mut ev, &rule.conditions, None).unwrap_or(false);
            let replacement = match &rule.action {
                OutboundAction::Rewrite { value, .. } if holds => {
                    value.expand_to_string(&ev).ok().map(|v| self.encode(&v))
                }
                _ => None,
            };
            return Some(TextMatch { range, replacement });
        }
    }

    fn decode(&self, value: &[u8]) -> Option<String> {
        match self.charset {
            Charset::SingleByte => Some(value.iter().map(|&b| char::from(b)).collect()),
            _ => std::str::from_utf8(value).ok().map(str::to_string),
        }
    }

    fn encode(&self, text: &str) -> Vec<u8> {
        match self.charset {
            Charset::SingleByte => {
                let mut out = Vec::with_capacity(text.len());
                for c in text.chars() {
                    match u8::try_from(u32::from(c)) {
                        Ok(b) => out.push(b),
                        Err(_) => out.extend_from_slice(format!("&#{};", u32::from(c)).as_bytes()),
                    }
                }
                out
            }
            _ => text.as_bytes().to_vec(),
        }
    }
}

/// Runs one rule on `input` (pattern, conditions, action). Returns whether it fired and, for a
/// Rewrite, the new value; `ev.input` keeps the input when nothing was rewritten.
fn apply<'a>(
    ev: &mut OutEval<'a>,
    rule: &'a CompiledBodyRule,
    input: String,
) -> (bool, Option<String>) {
    ev.input = input;
    let found = rule
        .pattern
        .test(&ev.input, &mut ev.spans, rule.captures_read);
    let matched = found != rule.negate;
    if rule.negate {
        ev.spans.clear();
    }
    // Past the expansion limits the rule does not fire and the value stays as it is.
    if !matched || !evaluate_conditions(ev, &rule.conditions, None).unwrap_or(false) {
        return (false, None);
    }
    match &rule.action {
        OutboundAction::Rewrite { value, .. } => match value.expand_to_string(&*ev) {
            Ok(v) => (true, Some(v)),
            Err(_) => (false, None),
        },
        OutboundAction::None => (true, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::FilterConfig;
    use crate::engine::request::StaticRequest;

    /// Microsoft's reverse-proxy walkthrough, in short: the application answers as
    /// `http://backend:8080/app/…` and is published as `/proxy/…`.
    const WALKTHROUGH: &str = r#"{
      "rules": [{"name": "Proxy", "match": {"url": "^proxy/(.*)"},
                 "action": {"type": "Rewrite", "url": "http://backend:8080/app/{R:1}"}}],
      "outboundRules": {
        "preConditions": [{"name": "ResponseIsHtml1", "items": [
          {"input": "{RESPONSE_CONTENT_TYPE}", "pattern": "^text/html"}]}],
        "customTags": [{"name": "Media", "tags": [{"name": "video", "attribute": "poster"}]}],
        "rules": [
          {"name": "Absolute links", "preCondition": "ResponseIsHtml1",
           "match": {"filterByTags": "A, Form, Img, Script, Link, CustomTags", "customTags": "Media",
                     "pattern": "^http(s)?://backend:8080/app/(.*)"},
           "action": {"type": "Rewrite", "value": "/proxy/{R:2}"}},
          {"name": "Rooted links", "preCondition": "ResponseIsHtml1", "stopProcessing": true,
           "match": {"filterByTags": "A, Form, Img, Script, Link", "pattern": "^/app/(.*)"},
           "action": {"type": "Rewrite", "value": "/proxy/{R:1}"}},
          {"name": "Never after stop", "preCondition": "ResponseIsHtml1",
           "match": {"filterByTags": "A", "pattern": "^/proxy/(.*)"},
           "action": {"type": "Rewrite", "value": "/wrong/{R:1}"}},
          {"name": "Footer", "preCondition": "ResponseIsHtml1",
           "match": {"pattern": "backend:8080", "occurrences": 1},
           "action": {"type": "Rewrite", "value": "{HTTP_HOST}"}}
        ]
      }
    }"#;

    fn engine(json: &str) -> Rc<Engine> {
        Rc::new(Engine::compile(&FilterConfig::from_json(json).unwrap()).unwrap())
    }

    fn rewrite(e: &Rc<Engine>, content_type: &str, body: &[u8], chunk: usize) -> Option<Vec<u8>> {
        let d = e.inbound(&StaticRequest::get("public.example", "/proxy/"));
        let resp = StaticResponse::new(200).with_header("content-type", content_type);
        let BodyDecision::Rewrite(mut r) = e.body_rewrite(&resp, &d.outbound_snapshot, &[]) else {
            return None;
        };
        let mut out = Vec::new();
        for c in body.chunks(chunk.max(1)) {
            r.feed(c, &mut out);
        }
        r.finish(&mut out);
        assert_eq!(r.held_bytes(), 0);
        Some(out)
    }

    const PAGE: &str = "<html><head><link rel=stylesheet href='http://backend:8080/app/s.css'>\
        <script src=\"/app/app.js\"></script></head><body>\
        <a href=\"/app/a?x=1&amp;y=2\">/app/ in text</a><form action=https://backend:8080/app/post>\
        <img src=other.png><video poster=\"http://backend:8080/app/p.jpg\"></video>\
        <p>served by backend:8080, really backend:8080</p></body></html>";

    const EXPECTED: &str = "<html><head><link rel=stylesheet href='/proxy/s.css'>\
        <script src=\"/proxy/app.js\"></script></head><body>\
        <a href=\"/proxy/a?x=1&amp;y=2\">/app/ in text</a><form action=/proxy/post>\
        <img src=other.png><video poster=\"/proxy/p.jpg\"></video>\
        <p>served by public.example, really backend:8080</p></body></html>";

    #[test]
    fn the_walkthrough_page_is_rewritten_at_every_chunk_size() {
        let e = engine(WALKTHROUGH);
        for size in 1..=PAGE.len() {
            let out = rewrite(&e, "text/html; charset=utf-8", PAGE.as_bytes(), size).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                EXPECTED,
                "chunks of {size}"
            );
        }
    }

    #[test]
    fn responses_no_rule_applies_to_are_not_rewritten() {
        let e = engine(WALKTHROUGH);
        // The preCondition asks for HTML.
        assert!(rewrite(&e, "text/plain", PAGE.as_bytes(), 64).is_none());
        // Not text at all.
        assert!(rewrite(&e, "image/png", PAGE.as_bytes(), 64).is_none());
        let resp = |status: u16, extra: (&str, &str)| {
            StaticResponse::new(status)
                .with_header("content-type", "text/html")
                .with_header(extra.0, extra.1)
        };
        let skip = |r: &StaticResponse| match e.body_rewrite(r, &[], &[]) {
            BodyDecision::Skip(why) => Some(why),
            BodyDecision::Rewrite(_) => None,
        };
        assert_eq!(skip(&resp(304, ("x", "y"))), Some(BodySkip::NotApplicable));
        assert_eq!(skip(&resp(206, ("x", "y"))), Some(BodySkip::NotApplicable));
        assert_eq!(
            skip(&resp(200, ("content-encoding", "gzip"))),
            Some(BodySkip::Encoded)
        );
        assert_eq!(skip(&resp(200, ("x", "y"))), None);
        let sjis =
            StaticResponse::new(200).with_header("content-type", "text/html; charset=Shift_JIS");
        assert_eq!(skip(&sjis), Some(BodySkip::Charset));
    }

    #[test]
    fn single_byte_and_invalid_utf8_bodies() {
        let e = engine(WALKTHROUGH);
        // Latin-1: the byte 0xE9 is one character and comes back as the same byte.
        let page = b"<a href=\"/app/caf\xe9\">caf\xe9 backend:8080</a>";
        let out = rewrite(&e, "text/html; charset=iso-8859-1", page, 3).unwrap();
        assert_eq!(
            out,
            b"<a href=\"/proxy/caf\xe9\">caf\xe9 public.example</a>"
        );
        // UTF-8 declared, bytes that are not: the bad attribute is left, the rest rewritten.
        let page = b"<a href=\"/app/\xff\"><a href=/app/ok>\xfe backend:8080";
        let out = rewrite(&e, "text/html", page, 5).unwrap();
        assert_eq!(
            out,
            b"<a href=\"/app/\xff\"><a href=/proxy/ok>\xfe public.example"
        );
    }

    #[test]
    fn a_malformed_page_is_never_truncated() {
        let e = engine(WALKTHROUGH);
        let page = b"<p>text <a href=\"/app/x\">ok</a> <a href=\"/app/cut";
        let out = rewrite(&e, "text/html", page, 7).unwrap();
        assert_eq!(
            out,
            b"<p>text <a href=\"/proxy/x\">ok</a> <a href=\"/app/cut"
        );
    }

    fn errors(json: &str) -> String {
        match Engine::compile_all(&FilterConfig::from_json(json).unwrap()) {
            Ok(_) => String::new(),
            Err((errs, _)) => errs.iter().map(|e| format!("{e}\n")).collect(),
        }
    }

    #[test]
    fn bad_body_rules_are_located_errors() {
        let rule = |m: &str, action: &str| {
            format!(
                r#"{{"outboundRules":{{"customTags":[{{"name":"T","tags":[{{"name":"v","attribute":"p"}}]}}],
              "rules":[{{"name":"r","match":{m},"action":{action}}}]}}}}"#
            )
        };
        let rewrite_to = |v: &str| format!(r#"{{"type":"Rewrite","value":"{v}"}}"#);
        let e = errors(&rule(
            r#"{"filterByTags":"A","pattern":"(a"}"#,
            &rewrite_to("x"),
        ));
        assert!(
            e.contains("outbound rule \"r\"") && e.contains("invalid pattern"),
            "{e}"
        );
        let e = errors(&rule(r#"{"pattern":"(a)"}"#, &rewrite_to("{R:2}")));
        assert!(e.contains("{R:2}"), "{e}");
        let e = errors(&rule(
            r#"{"filterByTags":"A","pattern":"a"}"#,
            &rewrite_to("{nope"),
        ));
        assert!(e.contains("<action>") && e.contains("value"), "{e}");
        let e = errors(&rule(
            r#"{"filterByTags":"CustomTags","customTags":"U","pattern":"a"}"#,
            &rewrite_to("x"),
        ));
        assert!(e.contains("customTags") && e.contains("\"U\""), "{e}");
        let e = errors(&rule(
            r#"{"filterByTags":"A, Div","pattern":"a"}"#,
            &rewrite_to("x"),
        ));
        assert!(e.contains("filterByTags") && e.contains("Div"), "{e}");
        let e = errors(&rule(
            r#"{"filterByTags":"A","serverVariable":"RESPONSE_X","pattern":"a"}"#,
            &rewrite_to("x"),
        ));
        assert!(
            e.contains("filterByTags together with serverVariable"),
            "{e}"
        );
        // Fine: CustomTags with its collection; a text rule in ExactMatch.
        assert_eq!(
            errors(&rule(
                r#"{"filterByTags":"A, CustomTags","customTags":"t","pattern":"a"}"#,
                &rewrite_to("x")
            )),
            ""
        );
    }

    #[test]
    fn exact_match_text_rules_search_the_literal() {
        let e = engine(
            r#"{"outboundRules":{"rules":[{"name":"r","patternSyntax":"ExactMatch",
                "match":{"pattern":"a.b(c)"},"action":{"type":"Rewrite","value":"[{R:0}]"}}]}}"#,
        );
        let out = rewrite(&e, "text/html", b"xa.b(c) axb(c) A.B(C)", 4).unwrap();
        assert_eq!(out, b"x[a.b(c)] axb(c) [A.B(C)]");
    }
}
