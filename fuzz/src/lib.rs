//! What each fuzz target runs, and the properties it checks beyond "no panic":
//!
//! * `import`: any bytes as a configuration file (web.config, fragment or the filter's JSON, as
//!   `iis-rewrite check` reads them). A file that loads without error must write JSON that loads
//!   and compiles again (the command and the filter accept the same configurations).
//! * `json_config`: any bytes as the filter's plugin configuration (`Plugin::from_json`, the
//!   filter's entry point at `on_configure`); what loads must evaluate a request.
//! * `request`: an arbitrary path, query, host, request headers and response headers against
//!   several real rule sets. No header value the rules write and no redirect target may carry
//!   CR, LF or NUL; traced evaluation (`iis-rewrite explain`) must reach the untraced decision.
//!
//! `cli/tests/fuzz_regressions.rs` includes this file and replays `fuzz/regressions/<target>/*`
//! through the same functions with a normal `cargo test`.

// A harness reports a broken property by panicking: that is what libFuzzer catches.
#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::cell::OnceCell;
use std::path::Path;

use iis_rewrite::load::load_bytes;
use iis_rewrite_filter::trace::RequestTrace;
use iis_rewrite_filter::{
    Engine, FilterConfig, HeaderEdit, Outcome, Plugin, Property, StaticRequest, StaticResponse,
};

/// Where `configSource` files would be looked for: a directory that does not exist, so a
/// fuzzed file never reads the disk.
const NO_DIR: &str = "/nonexistent/iis-rewrite-fuzz";

pub fn import(data: &[u8]) {
    let loaded = load_bytes("fuzz.config", data, Path::new(NO_DIR));
    let _ = loaded.render();
    let (Some(config), false) = (&loaded.config, loaded.has_errors()) else {
        return;
    };
    let json = serde_json::to_vec(config).expect("an accepted configuration serialises");
    let again = FilterConfig::from_json(&json).unwrap_or_else(|e| {
        panic!("the JSON written for an accepted configuration does not load: {e}")
    });
    if let Err(e) = Engine::compile(&again) {
        panic!("the JSON written for an accepted configuration does not compile: {e}");
    }
}

pub fn json_config(data: &[u8]) {
    let Ok((plugin, _warnings)) = Plugin::from_json(data) else {
        return;
    };
    for (_, engine) in plugin.sets() {
        let d = engine.inbound(&StaticRequest::get("example.com", "/a/b.html?x=1"));
        let _ = engine.outbound(
            &StaticResponse::new(200).with_header("content-type", "text/html"),
            &d.outbound_snapshot,
            &d.response_headers,
        );
    }
}

/// A rule set that exercises the bounds: chained amplifying `<set>`s, a back-reference pattern
/// in several conditions, a redirect and a rewrite built from the query.
const HOSTILE_RULES: &str = r#"{"rules":[
  {"name":"amplify","match":{"url":"^amp/(.*)"},
   "serverVariables":[
     {"name":"HTTP_X_A","value":"{R:1}{R:1}{R:1}{R:1}{R:1}{R:1}{R:1}{R:1}{R:1}"},
     {"name":"HTTP_X_B","value":"{HTTP_X_A}{HTTP_X_A}{HTTP_X_A}{HTTP_X_A}{HTTP_X_A}{HTTP_X_A}"},
     {"name":"X_C","value":"{UrlEncode:{HTTP_X_B}}{HtmlEncode:{HTTP_X_B}}"}],
   "action":{"type":"None"}},
  {"name":"backrefs","match":{"url":"^br/(\\w+)/(.*)\\1$"},
   "conditions":{"items":[
     {"input":"{QUERY_STRING}","pattern":"^((a|b)+)+\\1$","negate":true},
     {"input":"{HTTP_COOKIE}","pattern":"(?=.*x)(\\w+)=\\1","negate":true},
     {"input":"{URL}","pattern":"^/(.+)/(?!admin)\\1"}]},
   "action":{"type":"CustomResponse","statusCode":403,"statusDescription":"{R:2}{C:1}"}},
  {"name":"redirect","match":{"url":"^r/(.*)"},
   "action":{"type":"Redirect","url":"{QUERY_STRING}/{R:1}","appendQueryString":false}},
  {"name":"rewrite","match":{"url":"^w/(.*)"},
   "serverVariables":[{"name":"RESPONSE_X_Q","value":"{ToLower:{QUERY_STRING}}"}],
   "action":{"type":"Rewrite","url":"/{UrlDecode:{R:1}}?q={UrlEncode:{QUERY_STRING}}"}}
],
"outboundRules":{"rules":[
  {"name":"double","match":{"serverVariable":"RESPONSE_X_Q","pattern":"(.*)"},
   "action":{"type":"Rewrite","value":"{R:1}{R:1}{RESPONSE_X_Q}"}},
  {"name":"location","match":{"serverVariable":"RESPONSE_Location","pattern":"^http://([^/]+)/(.*)"},
   "action":{"type":"Rewrite","value":"https://{HTTP_HOST}/{R:2}"}}]}}"#;

/// The web.configs from `testdata/webconfigs` the request target runs against.
const WEB_CONFIGS: [&str; 8] = [
    include_str!("../../testdata/webconfigs/jellyfin-advanced.config"),
    include_str!("../../testdata/webconfigs/arr-farm-front.config"),
    include_str!("../../testdata/webconfigs/https-redirect.config"),
    include_str!("../../testdata/webconfigs/redirect-map.config"),
    include_str!("../../testdata/webconfigs/sonarqube-sso-user-site.config"),
    include_str!("../../testdata/webconfigs/prepend-www-cache-url.config"),
    include_str!("../../testdata/webconfigs/angular-spa-fallback.config"),
    include_str!("../../testdata/webconfigs/novnc-websocket.config"),
];

fn engines() -> Vec<Engine> {
    let mut out = Vec::new();
    for json in [
        include_str!("../../testdata/jellyfin-basic-inbound.json"),
        HOSTILE_RULES,
    ] {
        let config = FilterConfig::from_json(json.as_bytes()).expect("fixture JSON loads");
        out.push(Engine::compile(&config).expect("fixture JSON compiles"));
    }
    for xml in WEB_CONFIGS {
        let loaded = load_bytes("fixture.config", xml.as_bytes(), Path::new(NO_DIR));
        let rendered = loaded.render();
        out.push(
            loaded
                .engine
                .unwrap_or_else(|| panic!("fixture loads: {rendered:?}")),
        );
    }
    out
}

thread_local! {
    static ENGINES: OnceCell<Vec<Engine>> = const { OnceCell::new() };
}

/// The request target's input: byte 0 picks the rule set, byte 1 the connection (bit 0 TLS,
/// bit 1 HTTP/2, bits 2-3 the method) and byte 2 the response status; the rest is lines: the
/// request target (`:path`, query included), the Host, request headers `name:value`, an empty
/// line, response headers `name:value`.
pub fn request(data: &[u8]) {
    let [pick, flags, status, rest @ ..] = data else {
        return;
    };
    ENGINES.with(|cell| {
        let engines = cell.get_or_init(engines);
        let engine = &engines[usize::from(*pick) % engines.len()];
        let mut lines = rest.split(|b| *b == b'\n');
        let path = lines.next().unwrap_or_default();
        let host = lines.next().unwrap_or_default();
        let mut req = StaticRequest::get("", "/")
            .with_header_bytes(":path", path.to_vec())
            .with_header_bytes(":authority", host.to_vec())
            .with_header(
                ":method",
                ["GET", "POST", "HEAD", "OPTIONS"][usize::from(flags >> 2 & 3)],
            );
        if flags & 1 == 1 {
            req = req.over_tls();
        }
        if flags & 2 == 2 {
            req = req.with_property(Property::Protocol, "HTTP/2");
        }
        let mut response = StaticResponse::new(100 + u16::from(*status) % 500);
        let mut in_response = false;
        for line in lines {
            if line.is_empty() {
                in_response = true;
                continue;
            }
            let Some(colon) = line.iter().position(|b| *b == b':').filter(|&i| i > 0) else {
                continue;
            };
            let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
            if name.starts_with(':') {
                continue;
            }
            let value = &line[colon + 1..];
            if in_response {
                response = response.with_header(&name, value);
            } else {
                req = req.with_header_bytes(&name, value.to_vec());
            }
        }
        evaluate(engine, &req, &response);
    });
}

fn evaluate(engine: &Engine, req: &StaticRequest, response: &StaticResponse) {
    let exhausted = iis_rewrite_filter::pattern::exhausted_count();
    let d = engine.inbound(req);
    assert_clean(&d.request_headers);
    assert_clean(&d.response_headers);
    if let Outcome::Redirect { location, .. } = &d.outcome {
        assert!(
            !has_control(location),
            "redirect target with CR/LF/NUL: {location:?}"
        );
    }
    let mut trace = RequestTrace::default();
    let traced = engine.inbound_traced(req, &mut trace);
    // Traced evaluation computes every capture, so a pattern that ran out of its step budget
    // may have stopped elsewhere: compare only when no match was cut off.
    if iis_rewrite_filter::pattern::exhausted_count() == exhausted {
        assert_eq!(
            d.outcome, traced.outcome,
            "traced and untraced decisions differ"
        );
    }
    let edits = engine.outbound(response, &d.outbound_snapshot, &d.response_headers);
    assert_clean(&edits);
}

fn has_control(value: &str) -> bool {
    value.contains(['\r', '\n', '\0'])
}

fn assert_clean(edits: &[HeaderEdit]) {
    for e in edits {
        if let Some(v) = &e.value {
            assert!(!has_control(v), "header {} gets CR/LF/NUL: {v:?}", e.name);
        }
    }
}
