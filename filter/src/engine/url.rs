//! Percent-encoding as IIS applies it: the decoded path rules match against, request filtering's
//! refusal of double escaping (`allowDoubleEscaping="false"`), the encoding of built targets (used
//! as built, with what cannot stand in a request line escaped; docs/differences.md), and the
//! template functions `UrlEncode`, `UrlDecode`, `HtmlEncode`. Also the guard that keeps CR/LF out
//! of every header value the filter writes.

use std::borrow::Cow;

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The escape at the start of `bytes`, if it is `%` and two hex digits.
pub fn escape_at(bytes: &[u8]) -> Option<u8> {
    match bytes {
        [b'%', h, l, ..] => Some(hex_value(*h)? * 16 + hex_value(*l)?),
        _ => None,
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_escaped(out: &mut String, b: u8) {
    out.push('%');
    for nibble in [b >> 4, b & 0x0f] {
        out.push(char::from(*HEX.get(usize::from(nibble)).unwrap_or(&b'0')));
    }
}

/// Why a request path cannot be matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// A `%` not followed by two hex digits (HTTP.sys answers 400).
    BadEscape,
    /// The decoded bytes are not UTF-8 (HTTP.sys answers 400).
    NotUtf8,
    /// Decoding twice gives something else than decoding once (request filtering 404.11).
    DoubleEscaped,
}

/// Decodes a raw request path strictly, as HTTP.sys does before URL Rewrite sees it.
pub fn decode_path(raw: &[u8]) -> Result<String, PathError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let v = escape_at(rest).ok_or(PathError::BadEscape)?;
            out.push(v);
            rest = tail.get(2..).unwrap_or_default();
        } else {
            out.push(b);
            rest = tail;
        }
    }
    // Double escaping: the decoded path still holds a valid escape (`%252e` → `%2e`).
    if out.windows(3).any(|w| escape_at(w).is_some()) {
        return Err(PathError::DoubleEscaped);
    }
    let text = String::from_utf8(out).map_err(|_| PathError::NotUtf8)?;
    Ok(canonicalize(text))
}

/// What HTTP.sys does to a decoded path before URL Rewrite sees it: `\` is `/`, and `.` and
/// `..` segments are resolved (never above the root). Without this, `/x/..%2Fadmin` would slip
/// past a rule on `^admin`. A path that needs neither is returned as it is.
fn canonicalize(path: String) -> String {
    let path = if path.contains('\\') {
        path.replace('\\', "/")
    } else {
        path
    };
    let has_dots = path.split('/').any(|seg| seg == "." || seg == "..");
    if !has_dots {
        return path;
    }
    let absolute = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for seg in path.split('/').skip(usize::from(absolute)) {
        trailing_slash = false;
        match seg {
            "." => trailing_slash = true,
            ".." => {
                out.pop();
                trailing_slash = true;
            }
            s => out.push(s),
        }
    }
    let mut result = String::with_capacity(path.len());
    if absolute {
        result.push('/');
    }
    result.push_str(&out.join("/"));
    if trailing_slash && !result.ends_with('/') {
        result.push('/');
    }
    result
}

/// Decodes `%XX` leniently (the `UrlDecode` function): invalid escapes stay as they are, and
/// bytes that do not form UTF-8 become U+FFFD.
pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    if !bytes.contains(&b'%') {
        return s.to_string();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((&b, tail)) = rest.split_first() {
        match escape_at(rest) {
            Some(v) => {
                out.push(v);
                rest = tail.get(2..).unwrap_or_default();
            }
            None => {
                out.push(b);
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `UrlEncode` function: every byte outside the RFC 3986 unreserved set is escaped.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            push_escaped(&mut out, b);
        }
    }
    out
}

/// The `HtmlEncode` function.
pub fn html_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Makes a built path or query fit a request line without changing what it means: existing
/// `%XX` escapes stay (they come from encoded variables and must not be encoded twice), while
/// bytes that cannot appear in a request target (controls, space, non-ASCII, `"<>\^`{|}`, `#`,
/// and a `%` that starts no escape) are escaped as UTF-8.
pub fn encode_request_target(s: &str) -> Cow<'_, str> {
    let needs = |i: usize, b: u8| -> bool {
        b <= b' '
            || b >= 0x7f
            || matches!(
                b,
                b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}' | b'#'
            )
            || (b == b'%' && escape_at(s.as_bytes().get(i..).unwrap_or_default()).is_none())
    };
    if !s.bytes().enumerate().any(|(i, b)| needs(i, b)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for (i, b) in s.bytes().enumerate() {
        if needs(i, b) {
            push_escaped(&mut out, b);
        } else {
            out.push(char::from(b));
        }
    }
    Cow::Owned(out)
}

/// Keeps a value safe for a header line: control characters (CR, LF, NUL, …; tab is allowed)
/// are percent-escaped, so a capture can never inject a header or split a response.
pub fn sanitize_header_value(s: &str) -> Cow<'_, str> {
    let bad = |c: char| (c < ' ' && c != '\t') || c == '\x7f';
    if !s.contains(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            // `bad` chars are ASCII, so the cast is exact.
            push_escaped(&mut out, c as u8);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`sanitize_header_value`] of a value the caller owns: kept as it is (no copy) when clean.
pub fn sanitized_header_value(s: String) -> String {
    match sanitize_header_value(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(clean) => clean,
    }
}

/// Standard base64 with padding (for `Authorization: Basic`).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].iter().enumerate() {
            if i <= chunk.len() {
                let idx = usize::try_from((n >> shift) & 63).unwrap_or(0);
                out.push(char::from(*ALPHABET.get(idx).unwrap_or(&b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Splits a request target into path and query (without the `?`).
pub fn split_query(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    }
}

/// An absolute URL's parts, as far as the proxy and redirect checks need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbsoluteUrl<'a> {
    /// Lowercase scheme as written (`http`, `https`, `ws`, `wss`, …); borrowed when it was
    /// written in lowercase.
    pub scheme: Cow<'a, str>,
    /// Host as written, lowercased; IPv6 without brackets.
    pub host: Cow<'a, str>,
    /// Port if written.
    pub port: Option<u16>,
    /// The authority exactly as written (`host:port`).
    pub authority: &'a str,
    /// Everything from the first `/`, `?` (or empty).
    pub rest: &'a str,
}

/// The scheme and what follows `://` in `scheme://…`, split at the first `:`: a scheme has no
/// colon, so text whose first colon does not start `://` has none (and a single-character
/// search is far cheaper than a substring search).
pub fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let (scheme, after) = s.split_once(':')?;
    Some((scheme, after.strip_prefix("//")?))
}

/// Parses `scheme://authority/rest`. `None` when the text does not start with a scheme and `//`,
/// or the authority is malformed (userinfo, bad port): such targets are never proxied.
pub fn parse_absolute(s: &str) -> Option<AbsoluteUrl<'_>> {
    let (scheme, after) = split_scheme(s)?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    if !first.is_ascii_alphabetic()
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let authority = after.get(..end)?;
    let rest = after.get(end..)?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = split_host_port(authority)?;
    Some(AbsoluteUrl {
        scheme: ascii_lowercase(scheme),
        host: ascii_lowercase(host),
        port,
        authority,
        rest,
    })
}

/// `text` in ASCII lowercase, copied only when it has an uppercase letter.
pub fn ascii_lowercase(text: &str) -> Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(text.to_ascii_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}

/// Splits `host[:port]` / `[v6][:port]`; the host comes back without brackets. `None` when the
/// port is not a number or the brackets do not close.
pub fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(p) => Some((host, Some(p.parse().ok()?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match authority.rsplit_once(':') {
        // More than one colon without brackets: an IPv6 literal with no port.
        Some((h, _)) if h.contains(':') => Some((authority, None)),
        Some((h, p)) => Some((h, Some(p.parse().ok()?))),
        None => Some((authority, None)),
    }
}

/// The default port of a scheme that can be proxied.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// Whether a proxied scheme uses TLS.
pub fn scheme_is_tls(scheme: &str) -> bool {
    matches!(scheme, "https" | "wss")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_path_is_strict() {
        assert_eq!(decode_path(b"/a%20b/%C3%A9").as_deref(), Ok("/a b/é"));
        assert_eq!(decode_path(b"/a%2Fb").as_deref(), Ok("/a/b"));
        assert_eq!(decode_path(b"/%zz"), Err(PathError::BadEscape));
        assert_eq!(decode_path(b"/%4"), Err(PathError::BadEscape));
        assert_eq!(decode_path(b"/%C3%28"), Err(PathError::NotUtf8));
        assert_eq!(decode_path(b"/\xff"), Err(PathError::NotUtf8));
        assert_eq!(decode_path(b"/a%252e%252e/"), Err(PathError::DoubleEscaped));
        // A lone `%25` decodes to `%` that starts no escape: not double escaping.
        assert_eq!(decode_path(b"/100%25").as_deref(), Ok("/100%"));
    }

    #[test]
    fn decoded_paths_are_canonical() {
        for (raw, want) in [
            (&b"/x/../admin"[..], "/admin"),
            (b"/x/%2e%2e/admin", "/admin"),
            (b"/x/..%2Fadmin", "/admin"),
            (b"/x/..%5Cadmin", "/admin"),
            (b"/./admin", "/admin"),
            (b"/../../admin/", "/admin/"),
            (b"/a/b/..", "/a/"),
            (b"/a/.", "/a/"),
            (b"/a//b", "/a//b"),
            (b"/a..b/.c", "/a..b/.c"),
        ] {
            assert_eq!(decode_path(raw).as_deref(), Ok(want), "{raw:?}");
        }
    }

    #[test]
    fn functions() {
        assert_eq!(url_encode("a b/é~"), "a%20b%2F%C3%A9~");
        assert_eq!(url_decode("a%20b%2f%zz%C3%A9"), "a b/%zzé");
        assert_eq!(
            html_encode("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn request_target_keeps_escapes_and_encodes_the_rest() {
        assert_eq!(encode_request_target("/a%20b"), "/a%20b");
        assert_eq!(encode_request_target("/a b/é"), "/a%20b/%C3%A9");
        assert_eq!(encode_request_target("/100%"), "/100%25");
        assert_eq!(encode_request_target("/x\r\ny#z"), "/x%0D%0Ay%23z");
        assert!(matches!(encode_request_target("/plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn base64_matches_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("user:p@ss", "dXNlcjpwQHNz"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn header_values_never_carry_line_breaks() {
        assert_eq!(sanitize_header_value("a\r\nX-Evil: 1"), "a%0D%0AX-Evil: 1");
        assert_eq!(sanitize_header_value("tab\tok"), "tab\tok");
    }

    #[test]
    fn absolute_urls() {
        let u = parse_absolute("HTTP://LocalHost:8096/web?x").unwrap();
        assert_eq!(
            (&*u.scheme, &*u.host, u.port),
            ("http", "localhost", Some(8096))
        );
        assert_eq!(u.rest, "/web?x");
        let lower = parse_absolute("http://localhost/").unwrap();
        assert!(
            matches!(
                (&lower.scheme, &lower.host),
                (Cow::Borrowed(_), Cow::Borrowed(_))
            ),
            "lowercase text is not copied"
        );
        let u = parse_absolute("wss://[::1]:6080/websockify").unwrap();
        assert_eq!((&*u.host, u.port), ("::1", Some(6080)));
        assert!(parse_absolute("http://user@evil/").is_none());
        assert!(parse_absolute("http://host:99999/").is_none());
        assert!(parse_absolute("//evil.example/").is_none());
        // The scheme ends at the first colon: a later `://` does not make one.
        assert!(parse_absolute("a:b://host/").is_none());
        assert_eq!(split_scheme("HTTP://h/p"), Some(("HTTP", "h/p")));
        assert_eq!(split_scheme("mailto:a@b"), None);
        assert!(parse_absolute("/x?u=http://h").is_none());
        assert!(parse_absolute("web/index.html").is_none());
    }
}
