//! `<httpProtocol>`: the custom response headers.

use std::collections::HashMap;

use iis_rewrite_filter::config::CustomHeader;
use roxmltree::Node;

use super::collection::{Coll, Entry};
use super::xml::{Doc, Spans};
use super::Importer;

impl Importer<'_> {
    pub(super) fn http_protocol(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>) {
        let tag = "<httpProtocol>";
        // allowKeepAlive is Envoy's business; accepted silently.
        self.attrs(d, node, tag, &["allowKeepAlive"]);
        let mut seen = HashMap::new();
        for child in node.children().filter(Node::is_element) {
            match child.tag_name().name() {
                "customHeaders" => {
                    if self.once(d, &mut seen, child, tag) {
                        self.custom_headers(d, child);
                    }
                }
                "redirectHeaders" => {
                    let has = child
                        .children()
                        .any(|c| c.is_element() && c.tag_name().name() == "add");
                    if has {
                        let pos = d.node_pos(child);
                        self.warn(
                            pos,
                            "<redirectHeaders> is not imported: the headers are not added to \
                             redirects",
                        );
                    }
                }
                _ => {
                    let pos = d.node_pos(child);
                    let name = child.tag_name().name();
                    self.warn(pos, format!("{tag}: element <{name}> is not imported"));
                }
            }
        }
    }

    pub(super) fn custom_headers(&mut self, d: &Doc<'_, '_>, node: Node<'_, '_>) {
        let tag = "<customHeaders>";
        let a = self.attrs(d, node, tag, &[]);
        self.headers.pos.get_or_insert(a.elem);
        let mut coll = std::mem::replace(&mut self.headers, Coll::new("customHeader", false));
        for child in self.elements(d, node, tag) {
            if !self.entry_child(d, child, &mut coll, "name", "add", tag) {
                continue;
            }
            let w = format!("{tag} <add>");
            let e = self.attrs(d, child, &w, &["name", "value"]);
            if let Some(name) = self.key_attr(&e, "name", &w) {
                let mut spans = Spans::new();
                e.spans_into(&mut spans, "");
                let entry = Entry {
                    key: name.clone(),
                    key_pos: e.pos("name"),
                    value: CustomHeader {
                        name,
                        value: e.string("value").unwrap_or_default(),
                    },
                    spans,
                };
                Self::add_entry(&mut coll, entry, &mut self.diags, self.files);
            }
            self.no_children(d, child, &w);
        }
        self.headers = coll;
    }
}
