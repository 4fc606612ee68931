//! JSON text → block-style YAML, keeping the key order of the JSON (`serde_json::Value` without
//! `preserve_order` would sort keys, and the import order — `name`, `match`, `conditions`,
//! `action` — is what people read). Strings are written as JSON string literals, which are
//! valid YAML double-quoted scalars, so no value can change type or meaning on the way
//! (`"on"`, `"1.0"`, `"*"` stay strings).

use std::fmt;

/// A JSON value with its object keys in document order. Scalars keep their JSON spelling.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
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

    /// A string literal, returned as written (quotes and escapes included).
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
        String::from_utf8(raw.to_vec()).map_err(|_| self.err("string is not UTF-8"))
    }

    fn value(&mut self, depth: usize) -> Result<Node, JsonError> {
        if depth > 128 {
            return Err(self.err("nested too deeply"));
        }
        self.skip_ws();
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Node::Map(entries));
                }
                loop {
                    self.skip_ws();
                    let key = self.string()?;
                    self.expect(b':', "expected ':'")?;
                    let v = self.value(depth + 1)?;
                    entries.push((key, v));
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Node::Map(entries));
                        }
                        _ => return Err(self.err("expected ',' or '}'")),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Node::Seq(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Node::Seq(items));
                        }
                        _ => return Err(self.err("expected ',' or ']'")),
                    }
                }
            }
            Some(b'"') => Ok(Node::Scalar(self.string()?)),
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
                    Ok(Node::Scalar(tok))
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

/// Parses JSON text into an order-keeping tree.
pub fn parse_json(text: &str) -> Result<Node, JsonError> {
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

/// A map key: plain when it is a simple identifier YAML reads back as the same string,
/// otherwise the JSON literal.
fn key(raw: &str) -> String {
    let inner = raw
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(raw);
    let plain = !inner.is_empty()
        && inner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        && inner.starts_with(|c: char| c.is_ascii_alphabetic())
        && !matches!(
            inner.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain {
        inner.to_string()
    } else {
        raw.to_string()
    }
}

fn is_block(node: &Node) -> bool {
    match node {
        Node::Scalar(_) => false,
        Node::Seq(v) => !v.is_empty(),
        Node::Map(v) => !v.is_empty(),
    }
}

fn inline(node: &Node) -> String {
    match node {
        Node::Scalar(s) => s.clone(),
        Node::Seq(_) => "[]".to_string(),
        Node::Map(_) => "{}".to_string(),
    }
}

/// Writes `node` as block YAML, every line starting with `indent` spaces. A top-level scalar or
/// empty collection is written inline.
pub fn emit(node: &Node, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match node {
        Node::Map(entries) if !entries.is_empty() => {
            for (k, v) in entries {
                out.push_str(&pad);
                out.push_str(&key(k));
                out.push(':');
                if is_block(v) {
                    out.push('\n');
                    let child = if matches!(v, Node::Seq(_)) {
                        indent
                    } else {
                        indent + 2
                    };
                    emit(v, child, out);
                } else {
                    out.push(' ');
                    out.push_str(&inline(v));
                    out.push('\n');
                }
            }
        }
        Node::Seq(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                if is_block(item) {
                    // The first line of the item goes after "- ", the rest indented under it.
                    let mut sub = String::new();
                    let child = indent + 2;
                    emit(item, child, &mut sub);
                    out.push(' ');
                    out.push_str(sub.get(child..).unwrap_or_default());
                } else {
                    out.push(' ');
                    out.push_str(&inline(item));
                    out.push('\n');
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
}

/// JSON text → block YAML at `indent`.
pub fn json_to_yaml(json: &str, indent: usize) -> Result<String, JsonError> {
    let node = parse_json(json)?;
    let mut out = String::new();
    emit(&node, indent, &mut out);
    Ok(out)
}

/// A string as a map key: plain when that reads back as the same string, else quoted.
pub fn key_of(s: &str) -> String {
    key(&quote(s))
}

/// A string as a YAML scalar that reads back as exactly that string (the JSON literal).
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_quotes_strings() {
        let y = json_to_yaml(
            r#"{"rules":[{"name":"on","match":{"url":"^(.*)$"},"n":1.5,"e":[],"o":{}}],"b":true}"#,
            0,
        )
        .unwrap();
        assert_eq!(
            y,
            "rules:\n- name: \"on\"\n  match:\n    url: \"^(.*)$\"\n  \"n\": 1.5\n  e: []\n  o: {}\nb: true\n"
        );
    }

    #[test]
    fn nested_sequences_and_odd_keys() {
        let y = json_to_yaml(r#"{"a b":[[1,2],{"x":[{"y":null}]}]}"#, 2).unwrap();
        assert_eq!(
            y,
            "  \"a b\":\n  - - 1\n    - 2\n  - x:\n    - \"y\": null\n"
        );
    }

    #[test]
    fn bad_json_is_located() {
        let e = parse_json(r#"{"a": tru}"#).unwrap_err();
        assert_eq!(e.offset, 6);
        assert!(parse_json(r#"{"a": "x"} z"#).is_err());
        assert!(parse_json(r#"{"a": "x"#).is_err());
    }
}
