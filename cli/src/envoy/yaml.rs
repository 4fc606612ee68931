//! A small ordered document model and its YAML block-style writer.
//!
//! Every string is written as a YAML double-quoted scalar with JSON escapes (JSON string syntax
//! is a subset of YAML's double-quoted style), so no value — a filter configuration full of
//! regexes, braces and quotes, a file name with `: ` or `#` — can change the document's
//! structure. Keys are written plain only when they are simple identifiers.

use std::fmt::Write as _;

/// One node of the document. Maps keep their insertion order (Envoy does not care, readers do).
#[derive(Debug, Clone, PartialEq)]
pub enum Y {
    Str(String),
    Int(i64),
    Bool(bool),
    Map(Vec<(String, Y)>),
    Seq(Vec<Y>),
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

    /// The document as YAML text, ending with a newline.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        match self {
            Y::Map(e) if !e.is_empty() => write_map(&mut out, e, 0),
            Y::Seq(s) if !s.is_empty() => write_seq(&mut out, s, 0),
            other => {
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

fn key(k: &str) -> String {
    let simple = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if simple {
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
        Y::Map(e) if e.is_empty() => "{}".to_string(),
        Y::Seq(s) if s.is_empty() => "[]".to_string(),
        // Only reached for non-empty containers written inline, which the writer never does.
        Y::Map(_) | Y::Seq(_) => String::new(),
    }
}

fn is_block(v: &Y) -> bool {
    matches!(v, Y::Map(e) if !e.is_empty()) || matches!(v, Y::Seq(s) if !s.is_empty())
}

fn write_map(out: &mut String, entries: &[(String, Y)], indent: usize) {
    for (k, v) in entries {
        out.push_str(&" ".repeat(indent));
        out.push_str(&key(k));
        out.push(':');
        match v {
            Y::Map(e) if !e.is_empty() => {
                out.push('\n');
                write_map(out, e, indent + 2);
            }
            Y::Seq(s) if !s.is_empty() => {
                out.push('\n');
                write_seq(out, s, indent + 2);
            }
            other => {
                out.push(' ');
                out.push_str(&inline(other));
                out.push('\n');
            }
        }
    }
}

fn write_seq(out: &mut String, items: &[Y], indent: usize) {
    for item in items {
        if is_block(item) {
            // Written at indent + 2, then the first line's indentation becomes "- ".
            let mut nested = String::new();
            match item {
                Y::Map(e) => write_map(&mut nested, e, indent + 2),
                Y::Seq(s) => write_seq(&mut nested, s, indent + 2),
                _ => {}
            }
            out.push_str(&" ".repeat(indent));
            out.push_str("- ");
            out.push_str(nested.get(indent + 2..).unwrap_or_default());
        } else {
            out.push_str(&" ".repeat(indent));
            out.push_str("- ");
            out.push_str(&inline(item));
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn strings_cannot_break_the_structure() {
        assert_eq!(quote("a\"b\\c\nd: #e"), "\"a\\\"b\\\\c\\nd: #e\"");
        assert_eq!(quote("\u{0}\u{85}\u{2028}"), "\"\\u0000\\u0085\\u2028\"");
        assert_eq!(key("@type"), "\"@type\"");
        assert_eq!(key("iis|http"), "\"iis|http\"");
        assert_eq!(key("stat_prefix"), "stat_prefix");
    }
}
