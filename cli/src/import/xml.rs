//! XML reading helpers: positions of elements and attributes, schema-checked attributes, typed
//! attribute values, and where roxmltree reports a syntax error.

use std::collections::{HashMap, HashSet};

use roxmltree::{Document, Node, NodeId};

use crate::diag::{quote, LineIndex, Pos};

use super::Importer;

/// Spans relative to an item: (`path below the item`, position).
pub(super) type Spans = Vec<(String, Pos)>;

/// One parsed document and how to turn its offsets into positions.
pub(super) struct Doc<'d, 'i> {
    pub(super) doc: &'d Document<'i>,
    pub(super) lines: LineIndex<'i>,
    pub(super) file: usize,
    /// `<rewrite>` elements read, and subtrees knowingly skipped (for the stray-rewrite check).
    pub(super) handled: HashSet<NodeId>,
}

impl Doc<'_, '_> {
    pub(super) fn pos(&self, offset: usize) -> Pos {
        let (line, col) = self.lines.line_col(offset);
        Pos {
            file: self.file,
            line,
            col,
        }
    }

    pub(super) fn node_pos(&self, node: Node<'_, '_>) -> Pos {
        self.pos(node.range().start)
    }
}

/// An element's attributes that passed the schema check.
#[derive(Debug)]
pub(super) struct Attrs {
    pub(super) elem: Pos,
    pub(super) list: Vec<(String, String, Pos)>,
}

impl Attrs {
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, v, _)| v.as_str())
    }

    pub(super) fn pos(&self, name: &str) -> Pos {
        self.list
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, p)| *p)
            .unwrap_or(self.elem)
    }

    pub(super) fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    /// Records the element under `prefix` and each attribute under `prefix/name`.
    pub(super) fn spans_into(&self, spans: &mut Spans, prefix: &str) {
        spans.push((prefix.to_string(), self.elem));
        for (name, _, pos) in &self.list {
            spans.push((join(prefix, name), *pos));
        }
    }
}

pub(super) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else if name.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// Attributes IIS accepts on every configuration element.
pub(super) const GENERIC_ATTRIBUTES: &[&str] = &[
    "lockAttributes",
    "lockAllAttributesExcept",
    "lockElements",
    "lockAllElementsExcept",
    "lockItem",
];

impl Importer<'_> {
    /// Reads an element's attributes, refusing those its schema does not have.
    pub(super) fn attrs(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        what: &str,
        allowed: &[&str],
    ) -> Attrs {
        let mut list = Vec::new();
        for a in node.attributes() {
            if a.namespace().is_some() {
                continue; // xdt:Transform and other tooling attributes
            }
            let name = a.name();
            let pos = d.pos(a.range_qname().start);
            if allowed.contains(&name) {
                list.push((name.to_string(), a.value().to_string(), pos));
            } else if !GENERIC_ATTRIBUTES.contains(&name) {
                let hint = allowed
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(name))
                    .map(|k| format!(" (did you mean {k}?)"))
                    .unwrap_or_default();
                self.error(
                    pos,
                    format!(
                        "{what}: unknown attribute {name}{hint}; IIS refuses unknown \
                         configuration attributes (500.19)"
                    ),
                );
            }
        }
        Attrs {
            elem: d.node_pos(node),
            list,
        }
    }

    pub(super) fn unknown_element(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        what: &str,
        known: &[&str],
    ) {
        let name = node.tag_name().name();
        let hint = known
            .iter()
            .find(|k| k.eq_ignore_ascii_case(name))
            .map(|k| format!(" (did you mean <{k}>?)"))
            .unwrap_or_default();
        let pos = d.node_pos(node);
        self.error(
            pos,
            format!(
                "{what}: unknown element <{name}>{hint}; IIS refuses unknown configuration \
                 elements (500.19)"
            ),
        );
    }

    /// Text other than white space inside a configuration element is ignored by IIS.
    pub(super) fn text(&mut self, d: &Doc<'_, '_>, node: Node<'_, '_>, what: &str) {
        if let Some(t) = node.text() {
            if node.is_text() && !t.trim().is_empty() {
                let pos = d.node_pos(node);
                self.warn(pos, format!("{what}: text {} is ignored", quote(t.trim())));
            }
        }
    }

    /// The element children of `node`, in document order. Text other than white space between
    /// them is reported here (IIS ignores it); diagnostics are sorted by position afterwards.
    pub(super) fn elements<'a, 'i>(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'a, 'i>,
        what: &str,
    ) -> Vec<Node<'a, 'i>> {
        let mut out = Vec::new();
        for child in node.children() {
            if child.is_element() {
                out.push(child);
            } else {
                self.text(d, child, what);
            }
        }
        out
    }

    /// A child element that may appear once.
    pub(super) fn once(
        &mut self,
        d: &Doc<'_, '_>,
        seen: &mut HashMap<String, Pos>,
        node: Node<'_, '_>,
        what: &str,
    ) -> bool {
        let name = node.tag_name().name().to_string();
        let pos = d.node_pos(node);
        if let Some(first) = seen.get(&name).copied() {
            let first = self.where_(first);
            self.error(
                pos,
                format!("{what}: element <{name}> appears twice (first at {first})"),
            );
            false
        } else {
            seen.insert(name, pos);
            true
        }
    }

    pub(super) fn bool_attr(&mut self, a: &Attrs, name: &str, what: &str) -> Option<bool> {
        let raw = a.get(name)?;
        let v = raw.trim();
        if v.eq_ignore_ascii_case("true") {
            Some(true)
        } else if v.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            let pos = a.pos(name);
            self.error(
                pos,
                format!(
                    "{what} attribute {name}: {} is not a boolean (expected true or false)",
                    quote(raw)
                ),
            );
            None
        }
    }

    /// An unsigned integer attribute (`u32`, `u64`); anything else is reported.
    pub(super) fn uint_attr<T: std::str::FromStr>(
        &mut self,
        a: &Attrs,
        name: &str,
        what: &str,
    ) -> Option<T> {
        let raw = a.get(name)?;
        match raw.trim().parse::<T>() {
            Ok(n) => Some(n),
            Err(_) => {
                let pos = a.pos(name);
                self.error(
                    pos,
                    format!(
                        "{what} attribute {name}: {} is not a number (expected an unsigned \
                         integer)",
                        quote(raw)
                    ),
                );
                None
            }
        }
    }

    /// An attribute IIS requires to be free of surrounding white space (`requireTrimmedString`).
    pub(super) fn trimmed_attr(&mut self, a: &Attrs, name: &str, what: &str) -> Option<String> {
        let raw = a.get(name)?;
        if raw.trim() != raw {
            let pos = a.pos(name);
            self.error(
                pos,
                format!(
                    "{what} attribute {name}: {} has leading or trailing white space, which IIS \
                     refuses for this attribute",
                    quote(raw)
                ),
            );
        }
        Some(raw.to_string())
    }

    /// A required key attribute (`name`, `key`); reports its absence.
    pub(super) fn key_attr(&mut self, a: &Attrs, name: &str, what: &str) -> Option<String> {
        match a.get(name) {
            Some(v) if !v.is_empty() => Some(v.to_string()),
            _ => {
                self.error(
                    a.elem,
                    format!("{what}: required attribute {name} is missing or empty"),
                );
                None
            }
        }
    }

    /// Elements that must be empty (`<match>`, `<action>`, `<add>`, …).
    pub(super) fn no_children(&mut self, d: &Doc<'_, '_>, node: Node<'_, '_>, what: &str) {
        for child in self.elements(d, node, what) {
            self.unknown_element(d, child, what, &[]);
        }
    }
}

/// Parses a configuration file as IIS reads one: no DTD, and a bound on its size in nodes. A
/// refusal is the byte offset and message of [`xml_error`].
pub(super) fn parse_document(text: &str) -> Result<Document<'_>, (usize, String)> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: 2_000_000,
        ..roxmltree::ParsingOptions::default()
    };
    Document::parse_with_options(text, options).map_err(|e| xml_error(text, &e))
}

/// Where a roxmltree error is (byte offset) and its message without the position. An end tag
/// missing its `>` (`</rule` followed by the next tag) is reported at that end tag.
fn xml_error(text: &str, e: &roxmltree::Error) -> (usize, String) {
    use roxmltree::Error as E;
    let message = e.to_string();
    let p = e.pos();
    let mut message = message.replace(&format!(" at {p}"), "");
    if let E::MalformedEntityReference(_) | E::UnknownEntityReference(..) = e {
        message.push_str(" (a literal & must be written &amp;)");
    }
    let offset = match e {
        E::UnexpectedEndOfStream | E::UnclosedRootNode | E::NoRootNode => text.len(),
        _ => offset_of(text, p.row, p.col),
    };
    // `</name` + white space + `<`: point at the unterminated end tag.
    if let E::InvalidChar(b'>', _, _) | E::InvalidChar2(..) = e {
        let before = text.get(..offset).unwrap_or("");
        if let Some(lt) = before.rfind("</") {
            let between = before.get(lt + 2..).unwrap_or("");
            let name_end = between
                .find(|c: char| c.is_whitespace())
                .unwrap_or(between.len());
            let (name, rest) = between.split_at(name_end);
            if !name.is_empty()
                && !name.contains(['<', '>'])
                && rest.chars().all(char::is_whitespace)
            {
                return (lt, format!("end tag </{name} is not closed with '>'"));
            }
        }
    }
    (offset, message)
}

/// Byte offset of a roxmltree row/column (1-based, columns in characters).
fn offset_of(text: &str, row: u32, col: u32) -> usize {
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i + 1 == row as usize {
            let extra: usize = line
                .chars()
                .take(col.saturating_sub(1) as usize)
                .map(char::len_utf8)
                .sum();
            return offset + extra;
        }
        offset += line.len();
    }
    text.len()
}
