//! The response body through the body rules: decided once when the response headers pass,
//! then rewritten chunk by chunk as Envoy hands the chunks over.
//!
//! A response no body rule applies to gets no state and its chunks are never read: the glue
//! answers each body callback with `Continue` without a host call, so media, downloads and
//! upgraded (WebSocket) streams pass untouched. A rewritten response loses `Content-Length`
//! (its length changes; HTTP/1.1 clients get it chunked, HTTP/2 clients framed), and each
//! chunk is replaced by what the rewriter writes out for it; the rewriter holds back only a tag
//! that is still open or the end of the text window (bounded, see `engine::body`), and the
//! last callback, marked end of stream, flushes what is held. Nothing is buffered beyond that,
//! and a body cut short or malformed passes as far as it arrived.
//!
//! Envoy fact relied on: the body callback sees only the chunk that arrived since the last
//! callback when the filter answers `Continue` each time, and replacing the whole buffer (or
//! inserting into an empty one) is allowed (tests/e2e/test_body.py).

use std::rc::Rc;

use crate::engine::decision::HeaderEdit;
use crate::engine::evaluate::body::{BodyDecision, BodyRewrite, BodySkip};
use crate::engine::model::Engine;
use crate::engine::response::ResponseFacts;
use crate::host::Host;

/// What happened to one response body, for the glue's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEvent {
    /// Body rules rewrite this response.
    Rewritten,
    /// Rules applied, but the body is compressed (`Content-Encoding`).
    SkippedEncoded,
    /// Rules applied, but the charset is neither UTF-8 nor single-byte.
    SkippedCharset,
}

impl BodyEvent {
    /// Every event, in the order of [`BodyEvent::metric_name`]'s names.
    pub const ALL: [BodyEvent; 3] = [
        BodyEvent::Rewritten,
        BodyEvent::SkippedEncoded,
        BodyEvent::SkippedCharset,
    ];

    /// The counter's name (`wasmcustom.` + this in Envoy's stats).
    pub fn metric_name(self) -> &'static str {
        match self {
            BodyEvent::Rewritten => "iis_rewrite.body_rewritten",
            BodyEvent::SkippedEncoded => "iis_rewrite.body_skipped_encoded",
            BodyEvent::SkippedCharset => "iis_rewrite.body_skipped_charset",
        }
    }
}

/// The body rewrite of one response.
pub struct ResponseBody {
    rewrite: BodyRewrite,
    /// Output of the current chunk; reused.
    out: Vec<u8>,
    /// The rewrite gave up (a chunk could not be read): later chunks pass as they are.
    passthrough: bool,
}

/// Decides in the response-headers phase whether body rules rewrite this response; removes
/// `Content-Length` when they do. No host call unless the configuration has body rules.
pub fn decide(
    engine: &Rc<Engine>,
    host: &dyn Host,
    response: &dyn ResponseFacts,
    snapshot: &[String],
    edits: &[HeaderEdit],
) -> Option<ResponseBody> {
    if !engine.has_body_rules() {
        return None;
    }
    match engine.body_rewrite(response, snapshot, edits) {
        BodyDecision::Rewrite(rewrite) => {
            host.set_response_header("content-length", None);
            host.body_event(BodyEvent::Rewritten);
            Some(ResponseBody {
                rewrite,
                out: Vec::new(),
                passthrough: false,
            })
        }
        BodyDecision::Skip(BodySkip::Encoded) => {
            host.body_event(BodyEvent::SkippedEncoded);
            None
        }
        BodyDecision::Skip(BodySkip::Charset) => {
            host.body_event(BodyEvent::SkippedCharset);
            None
        }
        BodyDecision::Skip(BodySkip::NotApplicable) => None,
    }
}

impl ResponseBody {
    /// One body callback: `size` bytes arrived, `end_of_stream` marks the last one.
    pub fn on_chunk(&mut self, host: &dyn Host, size: usize, end_of_stream: bool) {
        if self.passthrough {
            return;
        }
        let chunk = if size == 0 {
            Some(Vec::new())
        } else {
            host.response_body_chunk(size)
        };
        self.out.clear();
        let Some(chunk) = chunk else {
            // Unreadable: emit what is held in front of this chunk and stop rewriting, so that
            // no byte is lost or reordered.
            log::warn!("iis-rewrite: response body chunk of {size} bytes unreadable; the rest of the body passes unrewritten");
            self.passthrough = true;
            self.rewrite.finish(&mut self.out);
            if !self.out.is_empty() {
                host.replace_response_body_chunk(0, &self.out);
            }
            return;
        };
        self.rewrite.feed(&chunk, &mut self.out);
        if end_of_stream {
            self.rewrite.finish(&mut self.out);
        }
        if self.out != chunk {
            host.replace_response_body_chunk(size, &self.out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::BodyEvent;
    use crate::host::recording::*;
    use crate::host::stream::Stream;

    const CONFIG: &str = r#"{
      "rules": [{"name": "Proxy", "match": {"url": "^app/(.*)"},
                 "action": {"type": "Rewrite", "url": "http://backend:8090/{R:1}"}}],
      "outboundRules": {
        "preConditions": [{"name": "html", "items": [
          {"input": "{RESPONSE_CONTENT_TYPE}", "pattern": "^text/html"}]}],
        "rules": [{"name": "links", "preCondition": "html",
          "match": {"filterByTags": "A, Script", "pattern": "^/(.*)"},
          "action": {"type": "Rewrite", "value": "/app/{R:1}"}}]
      }
    }"#;

    /// Runs a response through a stream: headers, then the body in chunks of `size`; returns
    /// the stream's body as Envoy would send it on.
    fn run(s: &mut Stream, host: &RecordingHost, body: &[u8], size: usize) -> Vec<u8> {
        s.on_response_headers(host);
        let mut sent = Vec::new();
        for chunk in body.chunks(size.max(1)) {
            *host.body.borrow_mut() = chunk.to_vec();
            s.on_response_body(host, chunk.len(), false);
            sent.extend_from_slice(&host.body.borrow());
        }
        // The end of the stream, as an empty last chunk.
        host.body.borrow_mut().clear();
        s.on_response_body(host, 0, true);
        sent.extend_from_slice(&host.body.borrow());
        sent
    }

    fn proxied(content_type: &str) -> (Stream, RecordingHost) {
        let mut s = stream(CONFIG);
        let host = RecordingHost::request("/app/", "public.example");
        s.on_request_headers(&host);
        *host.response.borrow_mut() = vec![
            (":status".into(), b"200".to_vec()),
            ("content-type".into(), content_type.as_bytes().to_vec()),
            ("content-length".into(), b"99".to_vec()),
        ];
        (s, host)
    }

    const PAGE: &[u8] = b"<a href=\"/x\">x</a><script src='/s.js'></script><img src=/i.png>";

    #[test]
    fn html_is_rewritten_chunk_by_chunk_without_content_length() {
        for size in 1..=PAGE.len() {
            let (mut s, host) = proxied("text/html; charset=utf-8");
            let out = run(&mut s, &host, PAGE, size);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                "<a href=\"/app/x\">x</a><script src='/app/s.js'></script><img src=/i.png>",
                "chunks of {size}"
            );
            assert!(host
                .response
                .borrow()
                .iter()
                .all(|(n, _)| n != "content-length"));
            assert_eq!(host.calls_of("body_event Rewritten"), 1);
        }
    }

    #[test]
    fn other_content_types_are_never_read() {
        let (mut s, host) = proxied("image/png");
        let out = run(&mut s, &host, PAGE, 7);
        assert_eq!(out, PAGE);
        assert_eq!(host.calls_of("get_response_body"), 0);
        assert_eq!(host.calls_of("set_response_body"), 0);
        assert!(host
            .response
            .borrow()
            .iter()
            .any(|(n, _)| n == "content-length"));
    }

    #[test]
    fn compressed_html_passes_and_is_counted() {
        let (mut s, host) = proxied("text/html");
        host.response
            .borrow_mut()
            .push(("content-encoding".into(), b"gzip".to_vec()));
        let out = run(&mut s, &host, PAGE, 7);
        assert_eq!(out, PAGE);
        assert_eq!(host.calls_of("get_response_body"), 0);
        assert_eq!(host.calls_of("body_event SkippedEncoded"), 1);
    }

    #[test]
    fn a_configuration_without_body_rules_costs_no_host_call_per_chunk() {
        let mut s = stream(r#"{"rules": []}"#);
        let host = RecordingHost::request("/", "h");
        s.on_request_headers(&host);
        let before = host.calls.borrow().len();
        *host.body.borrow_mut() = PAGE.to_vec();
        s.on_response_body(&host, PAGE.len(), true);
        assert_eq!(host.calls.borrow().len(), before);
    }

    #[test]
    fn an_unreadable_chunk_flushes_what_is_held_and_stops_rewriting() {
        let (mut s, host) = proxied("text/html");
        s.on_response_headers(&host);
        *host.body.borrow_mut() = b"ok <a href=\"/x".to_vec();
        s.on_response_body(&host, 14, false);
        assert_eq!(&*host.body.borrow(), b"ok ");
        *host.unreadable_body.borrow_mut() = true;
        *host.body.borrow_mut() = b"\">".to_vec();
        s.on_response_body(&host, 2, false);
        assert_eq!(&*host.body.borrow(), b"<a href=\"/x\">");
    }

    #[test]
    fn body_counters_have_distinct_names() {
        let names: Vec<&str> = BodyEvent::ALL.iter().map(|e| e.metric_name()).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(n.starts_with("iis_rewrite.body_"), "{n}");
            assert!(!names[i + 1..].contains(n), "{n}");
        }
    }
}
