//! Maps an engine [`Location`] back to a line and column of the file it came from.
//!
//! Both importers (web.config and JSON) record where each part of the configuration stands under
//! a *path* that mirrors the JSON model: `rules/3/conditions/items/1/pattern`,
//! `outboundRules/preConditions/0/items/2`, `rewriteMaps/1/entries/0/key`, `proxy/timeout`. A
//! location is turned into such a path and resolved to the deepest recorded prefix, so an error
//! about an attribute points at the attribute, and falls back to its element, then its item.

use std::collections::HashMap;

use iis_rewrite_filter::error::{Element, Section};
use iis_rewrite_filter::json::{Kind, Value};
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
/// (object members at their key, array elements at their first character), from the offsets the
/// filter's reader kept. The root value is the fallback.
pub fn json_spans(document: &Value<'_>, lines: &LineIndex<'_>, file: usize) -> SpanMap {
    let pos = |offset: usize| {
        let (line, col) = lines.line_col(offset);
        Pos { file, line, col }
    };
    let mut spans = SpanMap {
        fallback: Some(pos(document.at)),
        ..SpanMap::default()
    };
    // An explicit stack: the reader's depth limit holds, but nothing here depends on it.
    let mut pending = vec![(String::new(), document)];
    while let Some((path, value)) = pending.pop() {
        match &value.kind {
            Kind::Object(members) => {
                for m in members {
                    let child = join(&path, &m.key);
                    spans.insert(child.clone(), pos(m.key_at));
                    pending.push((child, &m.value));
                }
            }
            Kind::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let child = join(&path, &i.to_string());
                    spans.insert(child.clone(), pos(item.at));
                    pending.push((child, item));
                }
            }
            _ => {}
        }
    }
    spans
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

    fn spans_of(text: &str) -> SpanMap {
        let document = iis_rewrite_filter::json::parse(text.as_bytes()).unwrap();
        json_spans(&document, &LineIndex::new(text), 0)
    }

    #[test]
    fn json_spans_record_keys_and_elements() {
        let text = "{\n  \"rules\": [\n    {\"name\": \"a\", \"match\": {\"url\": \"x\"}},\n    {\"name\": \"b\"}\n  ]\n}";
        let m = spans_of(text);
        assert_eq!(m.get("rules"), Some(pos(2, 3)));
        assert_eq!(m.get("rules/0"), Some(pos(3, 5)));
        assert_eq!(m.get("rules/0/match/url"), Some(pos(3, 29)));
        assert_eq!(m.get("rules/1/name"), Some(pos(4, 6)));
        assert_eq!(m.fallback, Some(pos(1, 1)));
    }

    #[test]
    fn json_spans_count_characters_not_bytes() {
        let m = spans_of("{\"rules\": [{\"name\": \"é\", \"match\": {}}]}");
        assert_eq!(m.get("rules/0/match"), Some(pos(1, 26)));
    }
}
