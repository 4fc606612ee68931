//! Inbound rules (`<rules>`, `<globalRules>`): match, conditions, server variables, action;
//! and `<allowedServerVariables>`.

use std::collections::HashMap;

use iis_rewrite_filter::config::{
    Action, Condition, Conditions, InboundRule, MatchUrl, SetServerVariable,
};
use roxmltree::Node;

use crate::diag::{quote, Pos};

use super::application_host::LevelDrop;
use super::collection::{Coll, Entry};
use super::vocab::{
    canon, ACTION_TYPE, LOGICAL_GROUPING, MATCH_TYPE, PATTERN_SYNTAX, REDIRECT_TYPE,
    RESPONSE_CACHE_DIRECTIVE,
};
use super::xml::{Doc, Spans};
use super::Importer;

impl Importer<'_> {
    pub(super) fn rules_section(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>, global: bool) {
        let tag = if global { "<globalRules>" } else { "<rules>" };
        let a = self.attrs(d, node, tag, &["useOriginalURLEncoding"]);
        if let Some(v) = self.bool_attr(&a, "useOriginalURLEncoding", tag) {
            let pos = a.pos("useOriginalURLEncoding");
            self.warn(
                pos,
                format!(
                    "{tag} attribute useOriginalURLEncoding=\"{v}\" is not imported: the filter \
                     uses targets as built and never encodes an escape twice"
                ),
            );
        }
        // Below the site's root a level's rules are read apart, then appended with their
        // directory (application_host/levels.rs).
        let level = self.directory.clone().filter(|_| !global);
        let mut drops = Vec::new();
        let mut coll = if global {
            std::mem::replace(&mut self.global_rules, Coll::new("global rule", false))
        } else if level.is_some() {
            Coll::new("rule", false)
        } else {
            std::mem::replace(&mut self.rules, Coll::new("rule", false))
        };
        coll.pos.get_or_insert(a.elem);
        for child in self.elements(d, node, tag) {
            let name = child.tag_name().name();
            if level.is_some() && (name == "clear" || name == "remove") {
                drops.push(LevelDrop {
                    name: (name == "remove")
                        .then(|| child.attribute("name").unwrap_or("").trim().to_string()),
                    pos: d.node_pos(child),
                });
            }
            if self.clear_remove(d, child, &mut coll, "name", tag) {
                continue;
            }
            if name == "rule" {
                let (mut rule, spans, key_pos) = self.inbound_rule(d, child, global);
                rule.directory = level.clone();
                let entry = Entry {
                    key: rule.name.clone(),
                    key_pos,
                    value: rule,
                    spans,
                };
                Self::add_entry(&mut coll, entry, &mut self.diags, self.files);
            } else {
                self.unknown_element(d, child, tag, &["rule", "clear", "remove"]);
            }
        }
        if global {
            self.global_rules = coll;
        } else if level.is_some() {
            self.add_level_rules(coll, drops);
        } else {
            self.rules = coll;
        }
    }

    /// A file holding one `<rule>` (as rules are quoted in answers and blog posts): an
    /// outbound rule when its `<match>` names a serverVariable or filterByTags, else inbound.
    pub(super) fn single_rule(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>) {
        let outbound = node.children().any(|c| {
            c.is_element()
                && c.tag_name().name() == "match"
                && (c.has_attribute("serverVariable") || c.has_attribute("filterByTags"))
        }) || node.has_attribute("preCondition");
        if outbound {
            self.saw_outbound = true;
            self.outbound.pos.get_or_insert(d.node_pos(node));
            let (rule, spans, key_pos) = self.outbound_rule(d, node);
            let entry = Entry {
                key: rule.name.clone(),
                key_pos,
                value: rule,
                spans,
            };
            Self::add_entry(&mut self.outbound, entry, &mut self.diags, self.files);
        } else {
            self.rules.pos.get_or_insert(d.node_pos(node));
            let (rule, spans, key_pos) = self.inbound_rule(d, node, false);
            let entry = Entry {
                key: rule.name.clone(),
                key_pos,
                value: rule,
                spans,
            };
            Self::add_entry(&mut self.rules, entry, &mut self.diags, self.files);
        }
    }

    pub(super) fn inbound_rule(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        global: bool,
    ) -> (InboundRule, Spans, Pos) {
        let word = if global { "global rule" } else { "rule" };
        let a = self.attrs(
            d,
            node,
            &format!("<{word}>"),
            &[
                "name",
                "enabled",
                "patternSyntax",
                "stopProcessing",
                "responseCacheDirective",
            ],
        );
        let name = self
            .key_attr(&a, "name", &format!("<{}>", "rule"))
            .unwrap_or_default();
        let what = format!("{word} \"{name}\"");
        let mut spans = Spans::new();
        a.spans_into(&mut spans, "");
        let mut rule = InboundRule {
            name,
            enabled: self.bool_attr(&a, "enabled", &what),
            pattern_syntax: canon(a.get("patternSyntax"), &PATTERN_SYNTAX),
            stop_processing: self.bool_attr(&a, "stopProcessing", &what),
            response_cache_directive: canon(
                a.get("responseCacheDirective"),
                &RESPONSE_CACHE_DIRECTIVE,
            ),
            ..InboundRule::default()
        };
        let mut seen = HashMap::new();
        for child in self.elements(d, node, &what) {
            let cname = child.tag_name().name();
            if !["match", "conditions", "serverVariables", "action"].contains(&cname) {
                self.unknown_element(
                    d,
                    child,
                    &what,
                    &["match", "conditions", "serverVariables", "action"],
                );
                continue;
            }
            if !self.once(d, &mut seen, child, &what) {
                continue;
            }
            match cname {
                "match" => rule.match_url = Some(self.match_url(d, child, &what, &mut spans)),
                "conditions" => {
                    rule.conditions = Some(self.conditions(d, child, &what, &mut spans));
                }
                "serverVariables" => {
                    rule.server_variables = self.server_variables(d, child, &what, &mut spans);
                }
                _ => rule.action = Some(self.inbound_action(d, child, &what, global, &mut spans)),
            }
        }
        (rule, spans, a.pos("name"))
    }

    /// A rule's `<match>`.
    fn match_url(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        what: &str,
        spans: &mut Spans,
    ) -> MatchUrl {
        let w = format!("{what} <match>");
        let m = self.attrs(d, node, &w, &["url", "ignoreCase", "negate"]);
        m.spans_into(spans, "match");
        let match_url = MatchUrl {
            url: m.string("url"),
            ignore_case: self.bool_attr(&m, "ignoreCase", &w),
            negate: self.bool_attr(&m, "negate", &w),
        };
        self.no_children(d, node, &w);
        match_url
    }

    /// An inbound rule's `<action>` (a global rule's has no logRewrittenUrl).
    fn inbound_action(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        what: &str,
        global: bool,
        spans: &mut Spans,
    ) -> Action {
        let w = format!("{what} <action>");
        let mut allowed = vec![
            "type",
            "url",
            "appendQueryString",
            "redirectType",
            "statusCode",
            "subStatusCode",
            "statusReason",
            "statusDescription",
        ];
        if !global {
            allowed.push("logRewrittenUrl");
        }
        let m = self.attrs(d, node, &w, &allowed);
        m.spans_into(spans, "action");
        let action = Action {
            action_type: canon(m.get("type"), &ACTION_TYPE),
            url: self.trimmed_attr(&m, "url", &w),
            append_query_string: self.bool_attr(&m, "appendQueryString", &w),
            log_rewritten_url: self.bool_attr(&m, "logRewrittenUrl", &w),
            redirect_type: canon(m.get("redirectType"), &REDIRECT_TYPE),
            status_code: self.uint_attr(&m, "statusCode", &w),
            sub_status_code: self.uint_attr(&m, "subStatusCode", &w),
            status_reason: m.string("statusReason"),
            status_description: m.string("statusDescription"),
        };
        self.no_children(d, node, &w);
        action
    }

    /// `<conditions>` of an inbound or outbound rule (items at `conditions/items/n`).
    pub(super) fn conditions(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        rule_what: &str,
        spans: &mut Spans,
    ) -> Conditions {
        let w = format!("{rule_what} <conditions>");
        let a = self.attrs(d, node, &w, &["logicalGrouping", "trackAllCaptures"]);
        a.spans_into(spans, "conditions");
        let mut conditions = Conditions {
            logical_grouping: canon(a.get("logicalGrouping"), &LOGICAL_GROUPING),
            track_all_captures: self.bool_attr(&a, "trackAllCaptures", &w),
            items: Vec::new(),
        };
        for child in self.elements(d, node, &w) {
            if child.tag_name().name() != "add" {
                self.unknown_element(d, child, &w, &["add"]);
                continue;
            }
            let n = conditions.items.len();
            let cw = format!("{rule_what} condition {}", n + 1);
            let c = self.condition(d, child, &cw, spans, &format!("conditions/items/{n}"));
            conditions.items.push(c);
        }
        conditions
    }

    /// One condition `<add>` (rules and preConditions).
    pub(super) fn condition(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        what: &str,
        spans: &mut Spans,
        prefix: &str,
    ) -> Condition {
        let a = self.attrs(
            d,
            node,
            what,
            &["input", "matchType", "pattern", "ignoreCase", "negate"],
        );
        a.spans_into(spans, prefix);
        let c = Condition {
            input: a.string("input"),
            match_type: canon(a.get("matchType"), &MATCH_TYPE),
            pattern: a.string("pattern"),
            ignore_case: self.bool_attr(&a, "ignoreCase", what),
            negate: self.bool_attr(&a, "negate", what),
        };
        self.no_children(d, node, what);
        c
    }

    pub(super) fn server_variables(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        rule_what: &str,
        spans: &mut Spans,
    ) -> Vec<SetServerVariable> {
        let w = format!("{rule_what} <serverVariables>");
        let a = self.attrs(d, node, &w, &[]);
        a.spans_into(spans, "serverVariables");
        let mut sets: Vec<SetServerVariable> = Vec::new();
        let mut names: Vec<(String, Pos)> = Vec::new();
        for child in self.elements(d, node, &w) {
            if child.tag_name().name() != "set" {
                self.unknown_element(d, child, &w, &["set"]);
                continue;
            }
            let n = sets.len();
            let sw = format!("{rule_what} <set> {}", n + 1);
            let s = self.attrs(d, child, &sw, &["name", "value", "replace"]);
            s.spans_into(spans, &format!("serverVariables/{n}"));
            let name = match self.key_attr(&s, "name", &sw) {
                Some(_) => self.trimmed_attr(&s, "name", &sw).unwrap_or_default(),
                None => String::new(),
            };
            if !name.is_empty() {
                if let Some((_, first)) = names.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name))
                {
                    let first = self.where_(*first);
                    let pos = s.pos("name");
                    self.error(
                        pos,
                        format!(
                            "{sw} attribute name: server variable {} is set twice in this rule \
                             (first at {first})",
                            quote(&name)
                        ),
                    );
                }
                names.push((name.clone(), s.pos("name")));
            }
            sets.push(SetServerVariable {
                name,
                value: s.string("value").unwrap_or_default(),
                replace: self.bool_attr(&s, "replace", &sw),
            });
            self.no_children(d, child, &sw);
        }
        sets
    }

    pub(super) fn allowed_section(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>) {
        let tag = "<allowedServerVariables>";
        let a = self.attrs(d, node, tag, &[]);
        let mut coll = self
            .allowed
            .take()
            .unwrap_or_else(|| Coll::new("allowed server variable", false));
        coll.pos.get_or_insert(a.elem);
        for child in self.elements(d, node, tag) {
            if !self.entry_child(d, child, &mut coll, "name", "add", tag) {
                continue;
            }
            let w = format!("{tag} <add>");
            let e = self.attrs(d, child, &w, &["name"]);
            if let Some(name) = self.key_attr(&e, "name", &w) {
                let entry = Entry {
                    key: name,
                    key_pos: e.pos("name"),
                    value: (),
                    spans: vec![(String::new(), e.pos("name"))],
                };
                Self::add_entry(&mut coll, entry, &mut self.diags, self.files);
            }
            self.no_children(d, child, &w);
        }
        self.allowed = Some(coll);
    }
}
