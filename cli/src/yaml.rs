//! The one YAML writer of the CLI: a small ordered document model ([`Y`]), a JSON reader that
//! keeps key order ([`parse_json`]; `serde_json::Value` without `preserve_order` would sort
//! keys, and the import order — `name`, `match`, `conditions`, `action` — is what people read),
//! and a block-style writer with two layouts ([`Style`]): the Envoy bootstrap (`envoy`) and the
//! Kubernetes manifests (`istio`).
//!
//! Every string is written as a YAML double-quoted scalar with JSON escapes (JSON string syntax
//! is a subset of YAML's double-quoted style), so no value — a filter configuration full of
//! regexes, braces and quotes, a file name with `: ` or `#` — can change the document's
//! structure or type (`"on"`, `"1.0"`, `"*"` stay strings). Keys are written plain only when
//! YAML reads them back as the same string.

use std::fmt;
use std::fmt::Write as _;

/// One node of the document. Maps keep their insertion order (Envoy does not care, readers do).
#[derive(Debug, Clone, PartialEq)]
pub enum Y {
    Str(String),
    Int(i64),
    Bool(bool),
    /// A JSON number, `true`, `false` or `null`, written as spelled in the JSON text.
    Raw(String),
    Map(Vec<(String, Y)>),
    Seq(Vec<Y>),
}

/// How a document is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Sequences indented under their key; plain keys are identifiers (`[A-Za-z_][A-Za-z0-9_]*`).
    Envoy,
    /// kubectl's layout: sequences at their key's indentation; plain keys may also hold `-` and
    /// `.` but must start with a letter and must not be a YAML 1.1 boolean or null word.
    Kubernetes,
}

impl Style {
    /// Extra indentation of a sequence that is the value of a map key.
    fn seq_indent(self) -> usize {
        match self {
            Style::Envoy => 2,
            Style::Kubernetes => 0,
        }
    }

    fn plain_key(self, k: &str) -> bool {
        match self {
            Style::Envoy => {
                k.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            }
            Style::Kubernetes => {
                k.starts_with(|c: char| c.is_ascii_alphabetic())
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                    && !matches!(
                        k.to_ascii_lowercase().as_str(),
                        "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
                    )
            }
        }
    }
}

impl Y {
    /// An empty map (`{}`).
    pub fn map() -> Y {
        Y::Map(Vec::new())
    }

    /// Adds `key: value` to a map (no-op on other nodes) and returns the map.
    pub fn with(mut self, key: &str, value: impl Into<Y>) -> Y {
        self.set(key, value);
        self
    }

    /// Adds `key: value` to a map when `value` is `Some`.
    pub fn with_opt(self, key: &str, value: Option<impl Into<Y>>) -> Y {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// Sets `key` in a map, replacing an existing entry.
    pub fn set(&mut self, key: &str, value: impl Into<Y>) {
        if let Y::Map(entries) = self {
            let value = value.into();
            match entries.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = value,
                None => entries.push((key.to_string(), value)),
            }
        }
    }

    /// The value of `key` in a map.
    pub fn get(&self, key: &str) -> Option<&Y> {
        match self {
            Y::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The document as Envoy-style YAML text, ending with a newline.
    pub fn to_yaml(&self) -> String {
        self.to_yaml_with(Style::Envoy, 0)
    }

    /// The document as YAML text in `style`, every line starting with `indent` spaces. A
    /// scalar or an empty collection is written inline on one line.
    pub fn to_yaml_with(&self, style: Style, indent: usize) -> String {
        let mut out = String::new();
        match self {
            Y::Map(e) if !e.is_empty() => write_map(&mut out, e, indent, style),
            Y::Seq(s) if !s.is_empty() => write_seq(&mut out, s, indent, style),
            other => {
                out.push_str(&" ".repeat(indent));
                out.push_str(&inline(other));
                out.push('\n');
            }
        }
        out
    }
}

impl From<&str> for Y {
    fn from(s: &str) -> Y {
        Y::Str(s.to_string())
    }
}

impl From<String> for Y {
    fn from(s: String) -> Y {
        Y::Str(s)
    }
}

impl From<&String> for Y {
    fn from(s: &String) -> Y {
        Y::Str(s.clone())
    }
}

impl From<bool> for Y {
    fn from(b: bool) -> Y {
        Y::Bool(b)
    }
}

impl From<u16> for Y {
    fn from(n: u16) -> Y {
        Y::Int(i64::from(n))
    }
}

impl From<u32> for Y {
    fn from(n: u32) -> Y {
        Y::Int(i64::from(n))
    }
}

impl From<i64> for Y {
    fn from(n: i64) -> Y {
        Y::Int(n)
    }
}

impl<T: Into<Y>> From<Vec<T>> for Y {
    fn from(v: Vec<T>) -> Y {
        Y::Seq(v.into_iter().map(Into::into).collect())
    }
}

/// A YAML double-quoted scalar using JSON escapes.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // C0, DEL, C1, and the line/paragraph separators YAML treats as line breaks; the
            // BOM because YAML forbids it inside a document.
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string as a map key in `style`: plain when that reads back as the same string, else quoted.
pub fn key(k: &str, style: Style) -> String {
    if style.plain_key(k) {
        k.to_string()
    } else {
        quote(k)
    }
}

fn inline(v: &Y) -> String {
    match v {
        Y::Str(s) => quote(s),
        Y::Int(n) => n.to_string(),
        Y::Bool(b) => b.to_string(),
        Y::Raw(s) => s.clone(),
        Y::Map(e) if e.is_empty() => "{}".to_string(),
        Y::Seq(s) if s.is_empty() => "[]".to_string(),
        // Only reached for non-empty containers written inline, which the writer never does.
        Y::Map(_) | Y::Seq(_) => String::new(),
    }
}

fn is_block(v: &Y) -> bool {
    matches!(v, Y::Map(e) if !e.is_empty()) || matches!(v, Y::Seq(s) if !s.is_empty())
}

fn write_map(out: &mut String, entries: &[(String, Y)], indent: usize, style: Style) {
    for (k, v) in entries {
        out.push_str(&" ".repeat(indent));
        out.push_str(&key(k, style));
        out.push(':');
        match v {
            Y::Map(e) if !e.is_empty() => {
                out.push('\n');
                write_map(out, e, indent + 2, style);
            }
            Y::Seq(s) if !s.is_empty() => {
                out.push('\n');
                write_seq(out, s, indent + style.seq_indent(), style);
            }
            other => {
                out.push(' ');
                out.push_str(&inline(other));
                out.push('\n');
            }
        }
    }
}

fn write_seq(out: &mut String, items: &[Y], indent: usize, style: Style) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        if is_block(item) {
            // Written at indent + 2, then the first line's indentation becomes "- ".
            let mut nested = String::new();
            match item {
                Y::Map(e) => write_map(&mut nested, e, indent + 2, style),
                Y::Seq(s) => write_seq(&mut nested, s, indent + 2, style),
                _ => {}
            }
            out.push_str(nested.get(indent + 2..).unwrap_or_default());
        } else {
            out.push_str(&inline(item));
            out.push('\n');
        }
    }
}

/// Where the JSON text stopped making sense (byte offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub offset: usize,
    pub message: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JSON at byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for JsonError {}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, message: &'static str) -> JsonError {
        JsonError {
            offset: self.pos,
            message,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, b: u8, message: &'static str) -> Result<(), JsonError> {
        self.skip_ws();
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(message))
        }
    }

    /// A string literal, decoded.
    fn string(&mut self) -> Result<String, JsonError> {
        let start = self.pos;
        if self.peek() != Some(b'"') {
            return Err(self.err("expected a string"));
        }
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'\\') => self.pos += 2,
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => self.pos += 1,
            }
        }
        let raw = self
            .text
            .get(start..self.pos)
            .ok_or_else(|| self.err("unterminated string"))?;
        let raw = std::str::from_utf8(raw).map_err(|_| self.err("string is not UTF-8"))?;
        serde_json::from_str::<String>(raw).map_err(|_| JsonError {
            offset: start,
            message: "invalid string literal",
        })
    }

    /// After the opening bracket: items up to `close`, each read by `item`.
    fn items<T>(
        &mut self,
        close: u8,
        message: &'static str,
        mut item: impl FnMut(&mut Self) -> Result<T, JsonError>,
    ) -> Result<Vec<T>, JsonError> {
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(items);
        }
        loop {
            items.push(item(self)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                _ => return Err(self.err(message)),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Y, JsonError> {
        if depth > 128 {
            return Err(self.err("nested too deeply"));
        }
        self.skip_ws();
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let entries = self.items(b'}', "expected ',' or '}'", |p| {
                    p.skip_ws();
                    let key = p.string()?;
                    p.expect(b':', "expected ':'")?;
                    Ok((key, p.value(depth + 1)?))
                })?;
                Ok(Y::Map(entries))
            }
            Some(b'[') => {
                self.pos += 1;
                let items = self.items(b']', "expected ',' or ']'", |p| p.value(depth + 1))?;
                Ok(Y::Seq(items))
            }
            Some(b'"') => Ok(Y::Str(self.string()?)),
            Some(_) => {
                let start = self.pos;
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || b"+-.".contains(&c))
                {
                    self.pos += 1;
                }
                let raw = self.text.get(start..self.pos).unwrap_or_default();
                let tok = String::from_utf8_lossy(raw).into_owned();
                let ok = matches!(tok.as_str(), "true" | "false" | "null")
                    || (!tok.is_empty() && tok.parse::<f64>().is_ok());
                if ok {
                    Ok(Y::Raw(tok))
                } else {
                    Err(JsonError {
                        offset: start,
                        message: "expected a value",
                    })
                }
            }
            None => Err(self.err("unexpected end")),
        }
    }
}

/// Parses JSON text into an order-keeping document.
pub fn parse_json(text: &str) -> Result<Y, JsonError> {
    let mut p = Parser {
        text: text.as_bytes(),
        pos: 0,
    };
    let node = p.value(0)?;
    p.skip_ws();
    if p.pos != p.text.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kube(json: &str, indent: usize) -> String {
        parse_json(json)
            .unwrap()
            .to_yaml_with(Style::Kubernetes, indent)
    }

    #[test]
    fn nested_maps_and_sequences() {
        let doc = Y::map()
            .with("a", 1i64)
            .with(
                "list",
                vec![
                    Y::map()
                        .with("name", "x")
                        .with("inner", Y::map().with("k", true)),
                    Y::from("plain"),
                    Y::from(vec![Y::from("n1"), Y::from("n2")]),
                ],
            )
            .with("empty", Y::map())
            .with("none", Vec::<Y>::new())
            .with("@type", "t");
        assert_eq!(
            doc.to_yaml(),
            "a: 1\nlist:\n  - name: \"x\"\n    inner:\n      k: true\n  - \"plain\"\n  - - \"n1\"\n    - \"n2\"\nempty: {}\nnone: []\n\"@type\": \"t\"\n"
        );
        // The same document in the Kubernetes layout: sequences at their key's indentation.
        assert_eq!(
            doc.to_yaml_with(Style::Kubernetes, 0),
            "a: 1\nlist:\n- name: \"x\"\n  inner:\n    k: true\n- \"plain\"\n- - \"n1\"\n  - \"n2\"\nempty: {}\nnone: []\n\"@type\": \"t\"\n"
        );
    }

    #[test]
    fn strings_cannot_break_the_structure() {
        assert_eq!(quote("a\"b\\c\nd: #e"), "\"a\\\"b\\\\c\\nd: #e\"");
        assert_eq!(quote("\u{0}\u{85}\u{2028}"), "\"\\u0000\\u0085\\u2028\"");
        assert_eq!(key("@type", Style::Envoy), "\"@type\"");
        assert_eq!(key("iis|http", Style::Envoy), "\"iis|http\"");
        assert_eq!(key("stat_prefix", Style::Envoy), "stat_prefix");
    }

    #[test]
    fn key_styles() {
        assert_eq!(key("a.b-c", Style::Envoy), "\"a.b-c\"");
        assert_eq!(key("a.b-c", Style::Kubernetes), "a.b-c");
        assert_eq!(key("_x", Style::Envoy), "_x");
        assert_eq!(key("_x", Style::Kubernetes), "\"_x\"");
        assert_eq!(key("On", Style::Kubernetes), "\"On\"");
        assert_eq!(key("a/b", Style::Kubernetes), "\"a/b\"");
    }

    #[test]
    fn keeps_order_and_quotes_strings() {
        let y = kube(
            r#"{"rules":[{"name":"on","match":{"url":"^(.*)$"},"n":1.5,"e":[],"o":{}}],"b":true}"#,
            0,
        );
        assert_eq!(
            y,
            "rules:\n- name: \"on\"\n  match:\n    url: \"^(.*)$\"\n  \"n\": 1.5\n  e: []\n  o: {}\nb: true\n"
        );
    }

    #[test]
    fn nested_sequences_and_odd_keys() {
        let y = kube(r#"{"a b":[[1,2],{"x":[{"y":null}]}]}"#, 2);
        assert_eq!(
            y,
            "  \"a b\":\n  - - 1\n    - 2\n  - x:\n    - \"y\": null\n"
        );
    }

    #[test]
    fn json_strings_are_decoded_and_requoted() {
        assert_eq!(
            kube(r#"{"k\u0041":"a\/b\"c\u00e9\b"}"#, 0),
            "kA: \"a/b\\\"c\u{e9}\\u0008\"\n"
        );
        assert_eq!(kube("1e3", 4), "    1e3\n");
    }

    #[test]
    fn bad_json_is_located() {
        let e = parse_json(r#"{"a": tru}"#).unwrap_err();
        assert_eq!(e.offset, 6);
        assert!(parse_json(r#"{"a": "x"} z"#).is_err());
        assert!(parse_json(r#"{"a": "x"#).is_err());
        assert_eq!(parse_json(r#"["a\q"]"#).unwrap_err().offset, 1);
        assert_eq!(
            parse_json(r#"[1 2]"#).unwrap_err().message,
            "expected ',' or ']'"
        );
        assert_eq!(
            parse_json(r#"{"a" 1}"#).unwrap_err().message,
            "expected ':'"
        );
        let deep = "[".repeat(200);
        assert_eq!(parse_json(&deep).unwrap_err().message, "nested too deeply");
    }
}
