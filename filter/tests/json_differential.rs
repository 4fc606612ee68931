//! The filter's JSON reader against serde_json: on every JSON file of `testdata/`, on generated
//! documents (every kind of value, escapes, surrogate pairs, odd whitespace) and on mutations of
//! them, both accept the same documents and read the same values. The only intended
//! differences: the filter's reader refuses duplicate keys (serde_json keeps the last) and
//! nesting deeper than its limit, and keeps numbers as written (serde_json refuses a number
//! that overflows a double).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};

use iis_rewrite_filter::json::{self, ErrorKind, Kind, Value};

/// The filter's document as a serde_json value, for comparison.
fn to_serde(v: &Value<'_>) -> serde_json::Value {
    match &v.kind {
        Kind::Null => serde_json::Value::Null,
        Kind::Bool(b) => serde_json::Value::Bool(*b),
        Kind::Number(text) => serde_json::from_str(text).unwrap(),
        Kind::String(s) => serde_json::Value::String(s.clone()),
        Kind::Array(items) => serde_json::Value::Array(items.iter().map(to_serde).collect()),
        Kind::Object(members) => serde_json::Value::Object(
            members
                .iter()
                .map(|m| (m.key.clone(), to_serde(&m.value)))
                .collect(),
        ),
    }
}

/// Whether both readers agree on `bytes`; `Err` describes a disagreement.
fn agree(bytes: &[u8]) -> Result<bool, String> {
    let ours = json::parse(bytes);
    let theirs = serde_json::from_slice::<serde_json::Value>(bytes);
    match (ours, theirs) {
        (Ok(v), Ok(s)) if to_serde(&v) == s => Ok(true),
        (Ok(v), Ok(s)) => Err(format!("different values: {v:?} / {s}")),
        (Err(e), Ok(_)) if matches!(e.kind, ErrorKind::DuplicateKey(_)) => Ok(false),
        (Err(e), Ok(_)) => Err(format!("only serde_json accepts it; we say {e}")),
        (Ok(_), Err(e)) if e.to_string().contains("number out of range") => Ok(false),
        (Ok(v), Err(e)) => Err(format!("only we accept it ({v:?}); serde_json says {e}")),
        (Err(_), Err(_)) => Ok(false),
    }
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

fn testdata() -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let mut paths = Vec::new();
    json_files(&root, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

#[test]
fn every_json_file_of_testdata_reads_the_same() {
    let files = testdata();
    assert!(files.len() > 50, "{} files", files.len());
    for (path, bytes) in &files {
        // `broken/duplicate-key.json` is the one file serde_json reads and we refuse.
        let readable = !path.ends_with("broken/duplicate-key.json");
        assert_eq!(agree(bytes), Ok(readable), "{}", path.display());
    }
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const CHARS: &[char] = &[
    'a', 'Z', '0', ' ', '"', '\\', '/', '\u{0}', '\u{8}', '\t', '\n', '\u{c}', '\r', '\u{1f}',
    '\u{7f}', 'é', '€', '\u{2028}', '\u{ffff}', '😀', '𝄞', '{', ']', ':', ',',
];

/// A string literal, each character written raw or escaped in one of the ways JSON allows.
fn string(rng: &mut Rng, out: &mut String) {
    out.push('"');
    for _ in 0..rng.below(8) {
        let c = CHARS[rng.below(CHARS.len())];
        let must_escape = c == '"' || c == '\\' || c < ' ';
        match rng.below(4) {
            0 => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    if rng.below(2) == 0 {
                        out.push_str(&format!("\\u{unit:04x}"));
                    } else {
                        out.push_str(&format!("\\u{unit:04X}"));
                    }
                }
            }
            // The short escapes (`\n`, `\"`, …) as serde_json writes them, and `\/`.
            1 if c == '/' => out.push_str("\\/"),
            1 if must_escape => {
                let quoted = serde_json::to_string(&c).unwrap();
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
            _ if must_escape => out.push_str(&format!("\\u{:04x}", c as u32)),
            _ => out.push(c),
        }
    }
    out.push('"');
}

fn whitespace(rng: &mut Rng, out: &mut String) {
    for _ in 0..rng.below(3) {
        out.push([' ', '\t', '\n', '\r'][rng.below(4)]);
    }
}

fn number(rng: &mut Rng, out: &mut String) {
    if rng.below(2) == 0 {
        out.push('-');
    }
    if rng.below(3) == 0 {
        out.push('0');
    } else {
        out.push_str(&(1 + rng.next() % 1_000_000_000_000).to_string());
    }
    if rng.below(3) == 0 {
        out.push_str(&format!(".{}", rng.next() % 100_000));
    }
    if rng.below(3) == 0 {
        out.push(['e', 'E'][rng.below(2)]);
        out.push_str(["", "+", "-"][rng.below(3)]);
        out.push_str(&(rng.next() % 300).to_string());
    }
}

fn value(rng: &mut Rng, depth: usize, out: &mut String) {
    whitespace(rng, out);
    match rng.below(if depth > 6 { 5 } else { 7 }) {
        0 => out.push_str("null"),
        1 => out.push_str(["true", "false"][rng.below(2)]),
        2 | 3 => number(rng, out),
        4 => string(rng, out),
        5 => {
            out.push('[');
            for i in 0..rng.below(5) {
                if i > 0 {
                    out.push(',');
                }
                value(rng, depth + 1, out);
            }
            whitespace(rng, out);
            out.push(']');
        }
        _ => {
            out.push('{');
            for i in 0..rng.below(5) {
                if i > 0 {
                    out.push(',');
                }
                whitespace(rng, out);
                string(rng, out);
                whitespace(rng, out);
                out.push(':');
                value(rng, depth + 1, out);
            }
            whitespace(rng, out);
            out.push('}');
        }
    }
    whitespace(rng, out);
}

#[test]
fn generated_documents_read_the_same() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let mut text = String::new();
        value(&mut rng, 0, &mut text);
        match agree(text.as_bytes()) {
            Ok(true) => accepted += 1,
            Ok(false) => {}
            Err(why) => panic!("{text:?}: {why}"),
        }
    }
    // Only documents with a duplicate key (random keys rarely collide) are refused.
    assert!(accepted > 19_000, "{accepted}");
}

#[test]
fn mutated_documents_are_refused_alike() {
    const PIECES: &[&[u8]] = &[
        b"\"", b"\\", b"\\u", b"\\ud800", b"{", b"}", b"[", b"]", b",", b":", b"-", b"0", b".",
        b"e", b"\xff", b"\xc3", b"\x00", b"\n", b"tru", b"null",
    ];
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..20_000 {
        let mut text = String::new();
        value(&mut rng, 0, &mut text);
        let mut bytes = text.into_bytes();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(bytes.len() + 1);
            match rng.below(3) {
                0 if at < bytes.len() => {
                    bytes.remove(at);
                }
                1 if at < bytes.len() => bytes[at] = rng.next() as u8,
                _ => {
                    let piece = PIECES[rng.below(PIECES.len())];
                    bytes.splice(at..at, piece.iter().copied());
                }
            }
        }
        match agree(&bytes) {
            Ok(true) => accepted += 1,
            Ok(false) => refused += 1,
            Err(why) => panic!("{:?}: {why}", String::from_utf8_lossy(&bytes)),
        }
    }
    assert!(accepted > 1000 && refused > 1000, "{accepted} / {refused}");
}

/// Every configuration of `testdata/` decodes into the model; the import snapshots decode and
/// serialize back byte for byte, so the decoder reads every key the command writes.
#[cfg(feature = "serde")]
#[test]
fn configurations_decode_and_snapshots_round_trip() {
    let mut snapshots = 0;
    for (path, bytes) in testdata() {
        let text = String::from_utf8(bytes).unwrap();
        let config = if path.parent().unwrap().ends_with("cases") {
            let case: serde_json::Value = serde_json::from_str(&text).unwrap();
            if case.get("expectConfigError").is_some() {
                continue;
            }
            case["config"].to_string()
        } else {
            text.clone()
        };
        if path.parent().unwrap().ends_with("broken") {
            continue;
        }
        let decoded = iis_rewrite_filter::FilterConfig::from_json(&config)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if path.parent().unwrap().ends_with("snapshots") {
            let written = serde_json::to_string_pretty(&decoded).unwrap() + "\n";
            assert_eq!(written, text, "{}", path.display());
            snapshots += 1;
        }
    }
    assert!(snapshots > 5);
}

/// A configuration that sets every key of the model: it decodes, and serializes back to the same
/// value, so the decoder and the `Serialize` derive name every field alike.
#[cfg(feature = "serde")]
#[test]
fn every_key_of_the_model_round_trips() {
    let text = r#"{
      "globalRules": [{"name": "g"}],
      "rules": [{
        "name": "r", "enabled": true, "patternSyntax": "ECMAScript", "stopProcessing": true,
        "responseCacheDirective": "Auto",
        "match": {"url": "a", "ignoreCase": false, "negate": true},
        "conditions": {"logicalGrouping": "MatchAny", "trackAllCaptures": true, "items": [
          {"input": "{HTTP_HOST}", "matchType": "Pattern", "pattern": "x", "ignoreCase": true,
           "negate": false}]},
        "serverVariables": [{"name": "HTTP_X", "value": "1", "replace": false}],
        "action": {"type": "CustomResponse", "url": "/u", "appendQueryString": false,
          "logRewrittenUrl": true, "redirectType": "Found", "statusCode": 403,
          "subStatusCode": 1, "statusReason": "No", "statusDescription": "Nope"}
      }],
      "rewriteMaps": [{"name": "m", "defaultValue": "d", "ignoreCase": false,
        "entries": [{"key": "k", "value": "v"}]}],
      "allowedServerVariables": ["HTTP_X"],
      "outboundRules": {
        "rules": [{"name": "o", "enabled": false, "patternSyntax": "Wildcard",
          "stopProcessing": false, "preCondition": "p",
          "match": {"serverVariable": "RESPONSE_X", "filterByTags": "A", "customTags": "t",
            "pattern": "*", "occurrences": 2, "ignoreCase": true, "negate": false},
          "conditions": {"logicalGrouping": "MatchAll"},
          "action": {"type": "Rewrite", "value": "v", "replace": true}}],
        "preConditions": [{"name": "p", "logicalGrouping": "MatchAll",
          "patternSyntax": "ExactMatch", "items": [{"input": "{RESPONSE_STATUS}"}]}]
      },
      "customHeaders": [{"name": "X-A", "value": "b"}],
      "proxy": {"enabled": true, "preserveHostHeader": false, "timeout": "00:00:30",
        "reverseRewriteHostInResponseHeaders": true, "xForwardedForHeaderName": "X-F",
        "includePortInXForwardedFor": false,
        "backendAuth": {"user": "u", "password": "p", "passwordEnv": "E"}, "trustedHops": 1},
      "webFarms": [{"name": "f", "enabled": true,
        "servers": [{"address": "a", "enabled": true, "httpPort": 80, "httpsPort": 443,
          "weight": 10, "hostName": "h"}],
        "loadBalancing": {"algorithm": "RequestHash", "hashServerVariable": "HTTP_HOST",
          "queryStringNames": "q"},
        "healthCheck": {"url": "http://f/h", "interval": "00:00:05", "timeout": "00:00:01",
          "statusCodeMatch": "200", "responseMatch": "ok", "retries": 2},
        "affinity": {"useCookie": true, "cookieName": "c", "timeout": "00:01:00"},
        "protocol": {"timeout": "00:00:10"}}],
      "routing": {"upstreamHeader": "x-up", "upstreams": [{"url": "http://b", "cluster": "c"}]}
    }"#;
    let config = iis_rewrite_filter::FilterConfig::from_json(text).unwrap();
    let written = serde_json::to_value(&config).unwrap();
    let read: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(written, read);
}
