//! The response body through the body rules: decided once when the response headers pass,
//! then rewritten chunk by chunk as Envoy hands the chunks over.
//!
//! A response no body rule applies to gets no state and its chunks are never read: the glue
//! answers each body callback with `Continue` without a host call, so media, downloads and
//! upgraded (WebSocket) streams pass untouched. A rewritten response loses `Content-Length`
//! (its length changes; HTTP/1.1 clients get it chunked, HTTP/2 clients framed), and each
//! chunk is replaced by what the rewriter writes out for it. Nothing is ever held in Envoy: the
//! filter answers `Continue` to every chunk, and only the rewriter's own bounded state (an open
//! tag, a text window) waits for the next chunk.
//!
//! The end of a body is normally a chunk marked end of stream, where that state is written
//! out. A body can also end with trailers instead: Envoy's decompressor adds some to every body
//! it decompresses (the generated bootstrap puts it in front of the filter), and trailers come
//! after the last chunk has been passed on, when proxy-wasm can no longer add body bytes (a
//! chunk held in Envoy's buffer at that point is not resumed either, because the decompressor
//! adds its trailers inside the last data callback). So when a response may end that way — it
//! came without `Content-Length` — the text windows are written out at the end of every chunk
//! (a text match spanning two chunks is then not found), and what a tag rule holds is only a
//! tag still open, which a well-formed body never ends in. A body that ends inside a tag and
//! then has trailers loses that partial tag; it is logged and counted
//! (`iis_rewrite.body_tail_lost`).
//!
//! Envoy fact relied on (tests/e2e/test_body.py): with `Continue` a body callback sees only
//! the chunk that arrived since the last callback, and replacing the whole chunk (or inserting
//! into an empty one) is allowed.

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
    /// The body ended inside a tag and then had trailers: that tag's bytes were not sent.
    TailLost,
}

impl BodyEvent {
    /// Every event, in the order of [`BodyEvent::metric_name`]'s names.
    pub const ALL: [BodyEvent; 4] = [
        BodyEvent::Rewritten,
        BodyEvent::SkippedEncoded,
        BodyEvent::SkippedCharset,
        BodyEvent::TailLost,
    ];

    /// The counter's name (`wasmcustom.` + this in Envoy's stats).
    pub fn metric_name(self) -> &'static str {
        match self {
            BodyEvent::Rewritten => "iis_rewrite.body_rewritten",
            BodyEvent::SkippedEncoded => "iis_rewrite.body_skipped_encoded",
            BodyEvent::SkippedCharset => "iis_rewrite.body_skipped_charset",
            BodyEvent::TailLost => "iis_rewrite.body_tail_lost",
        }
    }
}

/// The body rewrite of one response.
pub struct ResponseBody {
    rewrite: BodyRewrite,
    /// The response may end with trailers (it had no `Content-Length`): text windows are
    /// written out at the end of every chunk.
    may_end_with_trailers: bool,
    /// Output of the current chunk; reused.
    out: Vec<u8>,
    /// The rewrite gave up (a chunk could not be read): the rest passes as it is.
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
            let may_end_with_trailers = response.header("content-length").is_none();
            host.set_response_header("content-length", None);
            host.body_event(BodyEvent::Rewritten);
            Some(ResponseBody {
                rewrite,
                may_end_with_trailers,
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
    /// One body callback: the `size` bytes that arrived; `end_of_stream` marks the last one.
    pub fn on_chunk(&mut self, host: &dyn Host, size: usize, end_of_stream: bool) {
        if self.passthrough {
            return;
        }
        self.out.clear();
        let Some(chunk) = host.response_body(0, size) else {
            // Unreadable: put what is held in front of this chunk and stop rewriting, so that
            // no byte is lost or reordered.
            log::warn!("iis-rewrite: a response body chunk of {size} bytes is unreadable; the rest of the body passes unrewritten");
            self.passthrough = true;
            self.rewrite.finish(&mut self.out);
            if !self.out.is_empty() {
                host.replace_response_body(0, &self.out);
            }
            return;
        };
        self.rewrite.feed(&chunk, &mut self.out);
        if end_of_stream {
            self.rewrite.finish(&mut self.out);
        } else if self.may_end_with_trailers {
            self.rewrite.soft_flush(&mut self.out);
        }
        if self.out != chunk {
            host.replace_response_body(size, &self.out);
        }
    }

    /// The trailers callback: the body has ended, after its last chunk was passed on. Only a
    /// tag the body ended in can still be held; it cannot be sent any more.
    pub fn on_trailers(&mut self, host: &dyn Host) {
        if self.passthrough {
            return;
        }
        self.out.clear();
        self.rewrite.finish(&mut self.out);
        if !self.out.is_empty() {
            log::warn!(
                "iis-rewrite: the response body ended inside a tag and then had trailers; its last {} bytes could not be sent",
                self.out.len()
            );
            host.body_event(BodyEvent::TailLost);
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

    /// How the response ends after its last chunk.
    #[derive(Clone, Copy)]
    enum End {
        /// An empty chunk marked end of stream.
        EmptyChunk,
        /// Trailers (as after Envoy's decompressor).
        Trailers,
    }

    /// Runs a response through a stream as Envoy would: headers, then the body in chunks of
    /// `size`; returns the body as sent on.
    fn run_ending(
        s: &mut Stream,
        host: &RecordingHost,
        body: &[u8],
        size: usize,
        end: End,
    ) -> Vec<u8> {
        s.on_response_headers(host);
        let mut sent = Vec::new();
        for chunk in body.chunks(size.max(1)) {
            *host.body.borrow_mut() = chunk.to_vec();
            s.on_response_body(host, chunk.len(), false);
            sent.append(&mut host.body.borrow_mut());
        }
        match end {
            End::EmptyChunk => {
                s.on_response_body(host, 0, true);
                sent.append(&mut host.body.borrow_mut());
            }
            End::Trailers => s.on_response_trailers(host),
        }
        sent
    }

    fn run(s: &mut Stream, host: &RecordingHost, body: &[u8], size: usize) -> Vec<u8> {
        run_ending(s, host, body, size, End::EmptyChunk)
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
    fn a_well_formed_body_that_ends_with_trailers_loses_nothing() {
        for size in 1..=PAGE.len() {
            let (mut s, host) = proxied("text/html");
            host.response
                .borrow_mut()
                .retain(|(n, _)| n != "content-length");
            let out = run_ending(&mut s, &host, PAGE, size, End::Trailers);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                "<a href=\"/app/x\">x</a><script src='/app/s.js'></script><img src=/i.png>",
                "chunks of {size}"
            );
            assert_eq!(host.calls_of("body_event TailLost"), 0);
        }
    }

    #[test]
    fn text_rules_look_ahead_only_when_the_end_is_a_chunk() {
        let config = r#"{"outboundRules": {"rules": [{"name": "t", "match": {"pattern": "backend:8080"},
                 "action": {"type": "Rewrite", "value": "public"}}]}}"#;
        let body = b"<p>backend:8080 and backend:8080</p>";
        for (content_length, end, expected) in [
            // With Content-Length the end is a chunk: a match across chunks is found.
            (true, End::EmptyChunk, &b"<p>public and public</p>"[..]),
            // Without, the body may end with trailers: each chunk is rewritten on its own.
            (false, End::Trailers, &b"<p>public and backend:8080</p>"[..]),
        ] {
            let mut s = stream(config);
            let host = RecordingHost::request("/", "h");
            s.on_request_headers(&host);
            let mut headers = vec![
                (":status".into(), b"200".to_vec()),
                ("content-type".into(), b"text/html".to_vec()),
            ];
            if content_length {
                headers.push(("content-length".into(), body.len().to_string().into_bytes()));
            }
            *host.response.borrow_mut() = headers;
            let out = run_ending(&mut s, &host, body, 22, end);
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(expected)
            );
        }
    }

    #[test]
    fn a_body_that_ends_inside_a_tag_then_trailers_is_counted() {
        let (mut s, host) = proxied("text/html");
        host.response
            .borrow_mut()
            .retain(|(n, _)| n != "content-length");
        let out = run_ending(&mut s, &host, b"<p>x</p><a href=\"/cut", 8, End::Trailers);
        assert_eq!(out, b"<p>x</p>");
        assert_eq!(host.calls_of("body_event TailLost"), 1);
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
        s.on_response_trailers(&host);
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
