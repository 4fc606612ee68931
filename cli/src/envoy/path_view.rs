//! The request path as the filter receives it behind the generated bootstrap: what the HTTP
//! connection manager's `path_with_escaped_slashes_action: UNESCAPE_AND_FORWARD`,
//! `normalize_path: true` and `merge_slashes: true` (written by [`super::listener`], policy in
//! docs/security.md) make of the client's request target, in the order Envoy applies them.
//! `iis-rewrite explain` runs a request through this first, so that it matches the rules
//! against the same path as the filter in Envoy; `tests/e2e/test_upstreams.py` holds the two
//! together on a corpus of odd paths.
//!
//! Envoy's `normalize_path` is the URL canonicaliser of Chromium's `url` library (Envoy's API
//! reference, `HttpConnectionManager.normalize_path`): RFC 3986 dot segments (also written
//! `%2e`), `\` read as `/`, escapes of unreserved characters decoded, characters a path may not
//! hold percent-encoded. Only the part before `?` is touched; the query is kept as sent.
//! Observed in Envoy 1.40 and kept here: a segment of one or two raw dots followed by a path
//! parameter (`..;x`, the form Tomcat and Spring treat as `..`) is a dot segment too, so
//! `/app/..;/admin` reaches the filter as `/admin`. Envoy answers 400 itself, before any filter,
//! to a raw space, control byte, `#` or non-ASCII byte in the target, and to `%00` in the path.

use iis_rewrite_filter::url::escape_at;

/// Why Envoy answers 400 to a request target before any filter runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// The `:path` the filter, the router and the upstream see for `target`, the request's path and
/// query as the client sent it.
pub fn envoy_view(target: &str) -> Result<String, Refused> {
    if let Some(c) = target
        .chars()
        .find(|c| !c.is_ascii() || c.is_ascii_control() || *c == ' ' || *c == '#')
    {
        let what = match c {
            ' ' => "a raw space".to_string(),
            '#' => "a fragment (#)".to_string(),
            c if c.is_ascii() => format!("the control byte 0x{:02X}", u32::from(c)),
            c => format!("the raw non-ASCII character {c:?} (send it percent-encoded)"),
        };
        return Err(Refused(format!(
            "Envoy answers 400 before any filter runs: the request target holds {what}"
        )));
    }
    let (path, query) = match target.find('?') {
        Some(at) => target.split_at(at),
        None => (target, ""),
    };
    if path.contains("%00") {
        return Err(Refused(
            "Envoy answers 400 before any filter runs: the path holds an escaped NUL (%00)"
                .to_string(),
        ));
    }
    let path = unescape_slashes(&drop_dot_segment_parameters(path));
    let mut seen = merge_slashes(&canonical_path(&path));
    seen.push_str(query);
    Ok(seen)
}

/// `/..;x/` and `/.;x/` (raw dots, a parameter up to the next `/`) are dot segments.
fn drop_dot_segment_parameters(path: &str) -> String {
    let segments: Vec<&str> = path
        .split('/')
        .map(|segment| match segment.split_once(';') {
            Some((dots @ ("." | ".."), _)) => dots,
            _ => segment,
        })
        .collect();
    segments.join("/")
}

/// `UNESCAPE_AND_FORWARD`: `%2F` becomes `/` and `%5C` becomes `\` (either hex case).
fn unescape_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(at) = rest.find('%') {
        let (before, escape) = rest.split_at(at);
        out.push_str(before);
        let replaced = match escape.get(1..3) {
            Some(hex) if hex.eq_ignore_ascii_case("2f") => Some('/'),
            Some(hex) if hex.eq_ignore_ascii_case("5c") => Some('\\'),
            _ => None,
        };
        match replaced {
            Some(c) => {
                out.push(c);
                rest = escape.get(3..).unwrap_or("");
            }
            None => {
                out.push('%');
                rest = escape.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

/// What the canonicaliser does with one byte of a path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ByteClass {
    /// Copied as it is, and copied as written when it arrives escaped.
    Keep,
    /// Percent-encoded when raw; an escape of it stays an escape.
    Escape,
    /// Copied when raw, and decoded when it arrives escaped (RFC 3986 unreserved characters).
    Unreserved,
}

fn class(b: u8) -> ByteClass {
    match b {
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
            ByteClass::Unreserved
        }
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'/' | b':' | b';'
        | b'=' | b'@' | b'[' | b']' => ByteClass::Keep,
        _ => ByteClass::Escape,
    }
}

/// Whether a segment is `.` (1) or `..` (2), any dot possibly written `%2e`.
fn dots(segment: &[u8]) -> usize {
    let mut count = 0;
    let mut rest = segment;
    while !rest.is_empty() {
        if rest.first() == Some(&b'.') {
            rest = rest.get(1..).unwrap_or(&[]);
        } else if escape_at(rest) == Some(b'.') {
            rest = rest.get(3..).unwrap_or(&[]);
        } else {
            return 0;
        }
        count += 1;
    }
    if count <= 2 {
        count
    } else {
        0
    }
}

/// One segment's bytes as the canonicaliser writes them.
fn canonical_segment(segment: &[u8], out: &mut String) {
    let mut i = 0;
    while let Some(&b) = segment.get(i) {
        if b == b'%' {
            if let Some(value) = escape_at(segment.get(i..).unwrap_or(&[])) {
                if class(value) == ByteClass::Unreserved {
                    out.push(char::from(value));
                } else {
                    // An escape of anything else is kept as written (hex case included).
                    let written = segment.get(i..i + 3).unwrap_or(&[]);
                    out.extend(written.iter().copied().map(char::from));
                }
                i += 3;
                continue;
            }
            // A `%` that starts no escape is copied.
            out.push('%');
        } else if class(b) == ByteClass::Escape {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
        i += 1;
    }
}

/// `normalize_path`: `\` is a separator, dot segments are resolved (never above the root),
/// bytes a path cannot hold are escaped.
fn canonical_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let body = bytes.strip_prefix(b"/").unwrap_or(bytes);
    let segments: Vec<&[u8]> = body.split(|b| *b == b'/' || *b == b'\\').collect();
    let mut kept: Vec<String> = Vec::new();
    let last = segments.len().saturating_sub(1);
    for (n, segment) in segments.iter().enumerate() {
        match dots(segment) {
            1 => {
                if n == last {
                    kept.push(String::new());
                }
            }
            2 => {
                kept.pop();
                if n == last {
                    kept.push(String::new());
                }
            }
            _ => {
                let mut s = String::new();
                canonical_segment(segment, &mut s);
                kept.push(s);
            }
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// `merge_slashes`: runs of `/` become one.
fn merge_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    fn seen(target: &str) -> String {
        envoy_view(target).unwrap()
    }

    #[test]
    fn separators_and_dot_segments() {
        assert_eq!(seen("/%2Fsystem/config"), "/system/config");
        assert_eq!(seen("/a/..%2F/system/x"), "/system/x");
        assert_eq!(seen("/a/%2e%2e/system/x"), "/system/x");
        assert_eq!(seen("/a/.%2E/system/x"), "/system/x");
        assert_eq!(seen("/\\system\\config"), "/system/config");
        assert_eq!(seen("/a/..%5csystem/x"), "/system/x");
        assert_eq!(seen("/static//..//system/x"), "/static/system/x");
        assert_eq!(seen("/../../etc"), "/etc");
        assert_eq!(seen("/a/b/.."), "/a/");
        assert_eq!(seen("/a/."), "/a/");
        assert_eq!(seen("/a/./b/"), "/a/b/");
        assert_eq!(seen("/"), "/");
    }

    #[test]
    fn dots_with_a_parameter_are_dot_segments() {
        assert_eq!(seen("/app/..;/admin/config"), "/admin/config");
        assert_eq!(seen("/a/b/..;x/c"), "/a/c");
        assert_eq!(seen("/a/b/.;.;/c"), "/a/b/c");
        assert_eq!(seen("/a;b/..;/c"), "/c");
        assert_eq!(seen("/a/b/..;\\c/d"), "/a/d");
        // Only raw dots, and only when `/` delimits the segment.
        assert_eq!(seen("/a/b/.%2e;/c"), "/a/b/..;/c");
        assert_eq!(seen("/a/b%5c..;/c"), "/a/b/..;/c");
        assert_eq!(seen("/a/...;/b"), "/a/...;/b");
        assert_eq!(seen("/a/b/;/c"), "/a/b/;/c");
    }

    #[test]
    fn the_query_is_kept() {
        assert_eq!(seen("/a/../b?x=/../%2F"), "/b?x=/../%2F");
        assert_eq!(seen("/a?x=%00"), "/a?x=%00");
    }

    #[test]
    fn what_envoy_refuses() {
        for target in ["/a b", "/a#f", "/a\u{7f}", "/caf\u{e9}", "/a\tb", "/a%00b"] {
            assert!(envoy_view(target).is_err(), "{target:?}");
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(seen("/%41%7e%2d"), "/A~-");
        assert_eq!(seen("/a%20b%3F%3f"), "/a%20b%3F%3f");
        assert_eq!(seen("/100%"), "/100%");
        assert_eq!(seen("/a%2eb/.%2e./c"), "/a.b/.../c");
        assert_eq!(
            seen("/a\"b<c>{d}|e^f`g"),
            "/a%22b%3Cc%3E%7Bd%7D%7Ce%5Ef%60g"
        );
        assert_eq!(seen("/%252F"), "/%252F");
    }
}
