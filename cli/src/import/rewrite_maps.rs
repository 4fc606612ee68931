//! `<rewriteMaps>` and `<providers>`.

use iis_rewrite_filter::config::{RewriteMap, RewriteMapEntry};
use roxmltree::Node;

use crate::diag::quote;

use super::collection::{Coll, Entry};
use super::xml::{Doc, Spans};
use super::Importer;

impl Importer<'_> {
    pub(super) fn maps_section(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>) {
        let tag = "<rewriteMaps>";
        let a = self.attrs(d, node, tag, &[]);
        self.maps.pos.get_or_insert(a.elem);
        let mut coll = std::mem::replace(&mut self.maps, Coll::new("rewriteMap", false));
        for child in self.elements(d, node, tag) {
            if !self.entry_child(d, child, &mut coll, "name", "rewriteMap", tag) {
                continue;
            }
            let m = self.attrs(
                d,
                child,
                "<rewriteMap>",
                &["name", "defaultValue", "ignoreCase"],
            );
            let name = match self.key_attr(&m, "name", "<rewriteMap>") {
                Some(_) => self
                    .trimmed_attr(&m, "name", "<rewriteMap>")
                    .unwrap_or_default(),
                None => String::new(),
            };
            let what = format!("rewriteMap \"{name}\"");
            let mut spans = Spans::new();
            m.spans_into(&mut spans, "");
            let mut entries: Coll<RewriteMapEntry> = Coll::new("key", true);
            for add in self.elements(d, child, &what) {
                if !self.entry_child(d, add, &mut entries, "key", "add", &what) {
                    continue;
                }
                let ew = format!("{what} <add>");
                let e = self.attrs(d, add, &ew, &["key", "value"]);
                let key = self.key_attr(&e, "key", &ew).unwrap_or_default();
                let mut espans = Spans::new();
                e.spans_into(&mut espans, "");
                if let Some(first) = entries.find(&key) {
                    let first = self.where_(first.key_pos);
                    let pos = e.pos("key");
                    self.error(
                        pos,
                        format!(
                            "{what} <add> attribute key: duplicate key {} (first at {first})",
                            quote(&key)
                        ),
                    );
                }
                let entry = RewriteMapEntry {
                    key: key.clone(),
                    value: e.string("value").unwrap_or_default(),
                };
                entries.push(Entry {
                    key,
                    key_pos: e.pos("key"),
                    value: entry,
                    spans: espans,
                });
                self.no_children(d, add, &ew);
            }
            let map_entries = entries.into_values("entries", |path, pos| spans.push((path, pos)));
            let map = RewriteMap {
                name: name.clone(),
                default_value: m.string("defaultValue"),
                ignore_case: self.bool_attr(&m, "ignoreCase", &what),
                entries: map_entries,
            };
            let entry = Entry {
                key: name,
                key_pos: m.pos("name"),
                value: map,
                spans,
            };
            Self::add_entry(&mut coll, entry, &mut self.diags, self.files);
        }
        self.maps = coll;
    }

    pub(super) fn providers(&mut self, d: &Doc<'_, '_>, node: Node<'_, '_>) {
        let has = node
            .children()
            .any(|c| c.is_element() && c.tag_name().name() == "provider");
        if has {
            let pos = d.node_pos(node);
            self.warn(
                pos,
                "<providers> is not imported: custom rewrite providers are .NET assemblies that \
                 cannot run in Envoy; rules that use them are refused as unknown rewrite maps",
            );
        }
    }
}
