//! Maps an engine [`Location`] back to a line and column of the file it came from.
//!
//! Both importers (web.config and JSON) record where each part of the configuration stands under
//! a *path* that mirrors the JSON model: `rules/3/conditions/items/1/pattern`,
//! `outboundRules/preConditions/0/items/2`, `rewriteMaps/1/entries/0/key`, `proxy/timeout`. A
//! location is turned into such a path and resolved to the deepest recorded prefix, so an error
//! about an attribute points at the attribute, and falls back to its element, then its item.

use std::collections::HashMap;

use iis_rewrite_filter::error::{Element, Section};
use iis_rewrite_filter::Location;

use crate::diag::{LineIndex, Pos};

/// Source positions by configuration path.
#[derive(Debug, Clone, Default)]
pub struct SpanMap {
    map: HashMap<String, Pos>,
    /// Where to report a location nothing more precise is known for (the root element).
    pub fallback: Option<Pos>,
}

impl SpanMap {
    pub fn insert(&mut self, path: String, pos: Pos) {
        self.map.entry(path).or_insert(pos);
    }

    #[cfg(test)]
    pub fn get(&self, path: &str) -> Option<Pos> {
        self.map.get(path).copied()
    }

    /// The position of the deepest recorded prefix of `path`.
    pub fn resolve(&self, path: &str) -> Option<Pos> {
        let mut p = path;
        loop {
            if let Some(pos) = self.map.get(p) {
                return Some(*pos);
            }
            match p.rfind('/') {
                Some(i) => p = p.get(..i).unwrap_or(""),
                None => return self.fallback,
            }
        }
    }

    /// Where an engine location is in the source.
    pub fn locate(&self, at: &Location) -> Option<Pos> {
        self.resolve(&location_path(at))
    }
}

/// The configuration path of the section an item belongs to.
pub fn section_path(section: Section) -> &'static str {
    match section {
        Section::GlobalRules => "globalRules",
        Section::Rules => "rules",
        Section::OutboundRules => "outboundRules/rules",
        Section::PreConditions => "outboundRules/preConditions",
        Section::RewriteMaps => "rewriteMaps",
        Section::CustomHeaders => "customHeaders",
        Section::AllowedServerVariables => "allowedServerVariables",
        Section::Routing => "routing/upstreams",
        Section::Proxy => "proxy",
        Section::WebFarms => "webFarms",
    }
}

/// The configuration path of a location (see the module documentation).
pub fn location_path(at: &Location) -> String {
    let mut path = section_path(at.section).to_string();
    if at.section != Section::Proxy {
        path.push_str(&format!("/{}", at.index));
    }
    match at.element {
        Element::Item => {}
        Element::Match => path.push_str("/match"),
        // A preCondition carries logicalGrouping itself: it is its own <conditions>.
        Element::Conditions if at.section == Section::PreConditions => {}
        Element::Conditions => path.push_str("/conditions"),
        Element::Condition(n) if at.section == Section::PreConditions => {
            path.push_str(&format!("/items/{n}"))
        }
        Element::Condition(n) => path.push_str(&format!("/conditions/items/{n}")),
        Element::Set(n) => path.push_str(&format!("/serverVariables/{n}")),
        Element::Action => path.push_str("/action"),
        Element::MapEntry(n) => path.push_str(&format!("/entries/{n}")),
        Element::FarmServer(n) => path.push_str(&format!("/servers/{n}")),
        Element::Protocol => path.push_str("/protocol"),
        Element::HealthCheck => path.push_str("/healthCheck"),
        Element::LoadBalancing => path.push_str("/loadBalancing"),
        Element::Affinity => path.push_str("/affinity"),
    }
    if !at.attribute.is_empty() {
        path.push('/');
        path.push_str(at.attribute);
    }
    path
}

/// Records the position of every member and array element of a JSON document under its path
/// (object members at their key, array elements at their first character). Stops quietly at
/// anything malformed: serde_json reports syntax errors with their own positions.
pub fn json_spans(text: &str, file: usize) -> SpanMap {
    let mut spans = SpanMap::default();
    let mut scanner = JsonScanner {
        lines: LineIndex::new(text),
        bytes: text.as_bytes(),
        i: 0,
        file,
        spans: &mut spans,
    };
    scanner.skip_ws();
    let start = scanner.i;
    spans_fallback(&mut scanner, start);
    let _ = scanner.value("", 0);
    spans
}

fn spans_fallback(s: &mut JsonScanner<'_, '_>, at: usize) {
    let pos = s.pos(at);
    s.spans.fallback = Some(pos);
}

struct JsonScanner<'t, 's> {
    /// Built once: positions of all keys cost O(n log n), not O(n²).
    lines: LineIndex<'t>,
    bytes: &'t [u8],
    i: usize,
    file: usize,
    spans: &'s mut SpanMap,
}

/// Deeper than the configuration model goes; serde_json refuses far less deep nesting anyway.
const MAX_JSON_DEPTH: usize = 64;

impl JsonScanner<'_, '_> {
    fn pos(&self, at: usize) -> Pos {
        let (line, col) = self.lines.line_col(at);
        Pos {
            file: self.file,
            line,
            col,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.skip_ws();
        if self.peek() == Some(b) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// A string's contents (escapes decoded well enough for object keys).
    fn string(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            let b = self.peek()?;
            self.i += 1;
            match b {
                b'"' => return Some(String::from_utf8_lossy(&out).into_owned()),
                b'\\' => {
                    let e = self.peek()?;
                    self.i += 1;
                    match e {
                        b'u' => {
                            // Keys of our model are plain ASCII; keep the escape undecoded.
                            out.extend_from_slice(b"\\u");
                        }
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
    }

    fn value(&mut self, path: &str, depth: usize) -> Option<()> {
        if depth > MAX_JSON_DEPTH {
            return None;
        }
        self.skip_ws();
        match self.peek()? {
            b'{' => {
                self.i += 1;
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.skip_ws();
                    let key_at = self.i;
                    let key = self.string()?;
                    let child = join(path, &key);
                    let pos = self.pos(key_at);
                    self.spans.insert(child.clone(), pos);
                    self.eat(b':')?;
                    self.value(&child, depth + 1)?;
                    self.skip_ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Some(());
                }
                let mut n = 0usize;
                loop {
                    self.skip_ws();
                    let child = join(path, &n.to_string());
                    let pos = self.pos(self.i);
                    self.spans.insert(child.clone(), pos);
                    self.value(&child, depth + 1)?;
                    n += 1;
                    self.skip_ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => self.string().map(|_| ()),
            _ => {
                // number, true, false, null
                while matches!(self.peek(), Some(b) if !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                {
                    self.i += 1;
                }
                Some(())
            }
        }
    }
}

fn join(path: &str, segment: &str) -> String {
    if path.is_empty() {
        segment.to_string()
    } else {
        format!("{path}/{segment}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: u32, col: u32) -> Pos {
        Pos { file: 0, line, col }
    }

    #[test]
    fn location_paths_follow_the_json_model() {
        let at = Location::new(Section::Rules, 3, "r").at(Element::Condition(1), "pattern");
        assert_eq!(location_path(&at), "rules/3/conditions/items/1/pattern");
        let at = Location::new(Section::PreConditions, 0, "p").at(Element::Condition(2), "input");
        assert_eq!(
            location_path(&at),
            "outboundRules/preConditions/0/items/2/input"
        );
        let at = Location::new(Section::PreConditions, 2, "p")
            .at(Element::Conditions, "logicalGrouping");
        assert_eq!(
            location_path(&at),
            "outboundRules/preConditions/2/logicalGrouping"
        );
        let at = Location::new(Section::Proxy, 0, "").at(Element::Item, "timeout");
        assert_eq!(location_path(&at), "proxy/timeout");
        let at = Location::new(Section::RewriteMaps, 1, "m").at(Element::MapEntry(4), "");
        assert_eq!(location_path(&at), "rewriteMaps/1/entries/4");
    }

    #[test]
    fn resolve_falls_back_to_the_deepest_known_prefix() {
        let mut m = SpanMap::default();
        m.insert("rules/0".into(), pos(3, 5));
        m.insert("rules/0/match".into(), pos(4, 7));
        m.fallback = Some(pos(1, 1));
        assert_eq!(m.resolve("rules/0/match/url"), Some(pos(4, 7)));
        assert_eq!(m.resolve("rules/0/action/url"), Some(pos(3, 5)));
        assert_eq!(m.resolve("rewriteMaps/0"), Some(pos(1, 1)));
    }

    #[test]
    fn json_spans_record_keys_and_elements() {
        let text = "{\n  \"rules\": [\n    {\"name\": \"a\", \"match\": {\"url\": \"x\"}},\n    {\"name\": \"b\"}\n  ]\n}";
        let m = json_spans(text, 0);
        assert_eq!(m.get("rules"), Some(pos(2, 3)));
        assert_eq!(m.get("rules/0"), Some(pos(3, 5)));
        assert_eq!(m.get("rules/0/match/url"), Some(pos(3, 29)));
        assert_eq!(m.get("rules/1/name"), Some(pos(4, 6)));
    }

    #[test]
    fn json_spans_survive_garbage() {
        for text in [
            "",
            "{",
            "{\"a\":",
            "[[[[",
            "{\"a\": [1, {\"b\"",
            "\"\\",
            "{\"\\u",
        ] {
            let _ = json_spans(text, 0);
        }
        let deep = "[".repeat(10_000);
        let _ = json_spans(&deep, 0);
    }
}
