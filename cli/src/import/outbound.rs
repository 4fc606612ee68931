//! Outbound rules and their preConditions.

use std::collections::HashMap;

use iis_rewrite_filter::config::{
    CustomTag, CustomTags, OutboundAction, OutboundMatch, OutboundRule, PreCondition,
};
use roxmltree::Node;

use crate::diag::Pos;

use super::collection::{Coll, Entry};
use super::vocab::{canon, LOGICAL_GROUPING, OUTBOUND_ACTION_TYPE, PATTERN_SYNTAX};
use super::xml::{Doc, Spans};
use super::Importer;

impl Importer<'_> {
    pub(super) fn outbound_section(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>) {
        let tag = "<outboundRules>";
        self.saw_outbound = true;
        let a = self.attrs(d, node, tag, &["rewriteBeforeCache"]);
        if self.bool_attr(&a, "rewriteBeforeCache", tag) == Some(true) {
            let pos = a.pos("rewriteBeforeCache");
            self.warn(
                pos,
                "<outboundRules> attribute rewriteBeforeCache is not imported (Envoy has no \
                 IIS output cache)",
            );
        }
        self.outbound.pos.get_or_insert(a.elem);
        let mut coll = std::mem::replace(&mut self.outbound, Coll::new("outbound rule", false));
        let mut seen = HashMap::new();
        for child in self.elements(d, node, tag) {
            if self.clear_remove(d, child, &mut coll, "name", tag) {
                continue;
            }
            match child.tag_name().name() {
                "rule" => {
                    let (rule, spans, key_pos) = self.outbound_rule(d, child);
                    let entry = Entry {
                        key: rule.name.clone(),
                        key_pos,
                        value: rule,
                        spans,
                    };
                    Self::add_entry(&mut coll, entry, &mut self.diags, self.files);
                }
                "preConditions" => {
                    if self.once(d, &mut seen, child, tag) {
                        self.pre_conditions_element(d, child);
                    }
                }
                "customTags" => {
                    if self.once(d, &mut seen, child, tag) {
                        self.custom_tags(d, child);
                    }
                }
                _ => self.unknown_element(
                    d,
                    child,
                    tag,
                    &["rule", "preConditions", "customTags", "clear", "remove"],
                ),
            }
        }
        self.outbound = coll;
    }

    pub(super) fn outbound_rule(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
    ) -> (OutboundRule, Spans, Pos) {
        let a = self.attrs(
            d,
            node,
            "<outboundRules> <rule>",
            &[
                "name",
                "preCondition",
                "enabled",
                "patternSyntax",
                "stopProcessing",
            ],
        );
        let name = self
            .key_attr(&a, "name", "<outboundRules> <rule>")
            .unwrap_or_default();
        let what = format!("outbound rule \"{name}\"");
        let mut spans = Spans::new();
        a.spans_into(&mut spans, "");
        let mut rule = OutboundRule {
            name,
            enabled: self.bool_attr(&a, "enabled", &what),
            pattern_syntax: canon(a.get("patternSyntax"), &PATTERN_SYNTAX),
            stop_processing: self.bool_attr(&a, "stopProcessing", &what),
            pre_condition: a.string("preCondition"),
            ..OutboundRule::default()
        };
        let mut seen = HashMap::new();
        for child in self.elements(d, node, &what) {
            let cname = child.tag_name().name();
            if !["match", "conditions", "action"].contains(&cname) {
                self.unknown_element(d, child, &what, &["match", "conditions", "action"]);
                continue;
            }
            if !self.once(d, &mut seen, child, &what) {
                continue;
            }
            match cname {
                "match" => {
                    let w = format!("{what} <match>");
                    let m = self.attrs(
                        d,
                        child,
                        &w,
                        &[
                            "serverVariable",
                            "filterByTags",
                            "customTags",
                            "pattern",
                            "occurrences",
                            "ignoreCase",
                            "negate",
                        ],
                    );
                    m.spans_into(&mut spans, "match");
                    rule.match_target = Some(OutboundMatch {
                        server_variable: m.string("serverVariable"),
                        filter_by_tags: m.string("filterByTags"),
                        custom_tags: m.string("customTags"),
                        pattern: m.string("pattern"),
                        occurrences: self.uint_attr(&m, "occurrences", &w),
                        ignore_case: self.bool_attr(&m, "ignoreCase", &w),
                        negate: self.bool_attr(&m, "negate", &w),
                    });
                    self.no_children(d, child, &w);
                }
                "conditions" => {
                    rule.conditions = Some(self.conditions(d, child, &what, &mut spans));
                }
                _ => {
                    let w = format!("{what} <action>");
                    let m = self.attrs(d, child, &w, &["type", "value", "replace"]);
                    m.spans_into(&mut spans, "action");
                    rule.action = Some(OutboundAction {
                        action_type: canon(m.get("type"), &OUTBOUND_ACTION_TYPE),
                        value: m.string("value"),
                        replace: self.bool_attr(&m, "replace", &w),
                    });
                    self.no_children(d, child, &w);
                }
            }
        }
        (rule, spans, a.pos("name"))
    }

    pub(super) fn pre_conditions_element(&mut self, d: &Doc<'_, '_>, node: Node<'_, '_>) {
        let tag = "<preConditions>";
        let a = self.attrs(d, node, tag, &[]);
        self.pre_conditions.pos.get_or_insert(a.elem);
        let mut coll =
            std::mem::replace(&mut self.pre_conditions, Coll::new("preCondition", false));
        for child in self.elements(d, node, tag) {
            if !self.entry_child(d, child, &mut coll, "name", "preCondition", tag) {
                continue;
            }
            let p = self.attrs(
                d,
                child,
                "<preCondition>",
                &["name", "logicalGrouping", "patternSyntax"],
            );
            let name = self
                .key_attr(&p, "name", "<preCondition>")
                .unwrap_or_default();
            let what = format!("preCondition \"{name}\"");
            let mut spans = Spans::new();
            p.spans_into(&mut spans, "");
            let mut pc = PreCondition {
                name: name.clone(),
                logical_grouping: canon(p.get("logicalGrouping"), &LOGICAL_GROUPING),
                pattern_syntax: canon(p.get("patternSyntax"), &PATTERN_SYNTAX),
                items: Vec::new(),
            };
            for add in self.elements(d, child, &what) {
                if add.tag_name().name() != "add" {
                    self.unknown_element(d, add, &what, &["add"]);
                    continue;
                }
                let n = pc.items.len();
                let cw = format!("{what} condition {}", n + 1);
                let c = self.condition(d, add, &cw, &mut spans, &format!("items/{n}"));
                pc.items.push(c);
            }
            let entry = Entry {
                key: name,
                key_pos: p.pos("name"),
                value: pc,
                spans,
            };
            Self::add_entry(&mut coll, entry, &mut self.diags, self.files);
        }
        self.pre_conditions = coll;
    }

    /// `<customTags>`: named `<tags>` collections of `<tag name=… attribute=…/>` that body rules
    /// with `filterByTags="CustomTags"` rewrite.
    pub(super) fn custom_tags(&mut self, d: &Doc<'_, '_>, node: Node<'_, '_>) {
        let tag = "<customTags>";
        let a = self.attrs(d, node, tag, &[]);
        self.custom_tags.pos.get_or_insert(a.elem);
        let mut coll = std::mem::replace(&mut self.custom_tags, Coll::new("customTags", false));
        for child in self.elements(d, node, tag) {
            if !self.entry_child(d, child, &mut coll, "name", "tags", tag) {
                continue;
            }
            let t = self.attrs(d, child, "<customTags> <tags>", &["name"]);
            let name = self
                .key_attr(&t, "name", "<customTags> <tags>")
                .unwrap_or_default();
            let what = format!("customTags \"{name}\"");
            let mut spans = Spans::new();
            t.spans_into(&mut spans, "");
            let mut tags = CustomTags {
                name: name.clone(),
                tags: Vec::new(),
            };
            for pair in self.elements(d, child, &what) {
                if pair.tag_name().name() != "tag" {
                    self.unknown_element(d, pair, &what, &["tag"]);
                    continue;
                }
                let w = format!("{what} <tag>");
                let p = self.attrs(d, pair, &w, &["name", "attribute"]);
                p.spans_into(&mut spans, &format!("tags/{}", tags.tags.len()));
                let tag_name = self.key_attr(&p, "name", &w);
                let attribute = self.key_attr(&p, "attribute", &w);
                if let (Some(name), Some(attribute)) = (tag_name, attribute) {
                    tags.tags.push(CustomTag { name, attribute });
                }
                self.no_children(d, pair, &w);
            }
            let entry = Entry {
                key: name,
                key_pos: t.pos("name"),
                value: tags,
                spans,
            };
            Self::add_entry(&mut coll, entry, &mut self.diags, self.files);
        }
        self.custom_tags = coll;
    }
}
