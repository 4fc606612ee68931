//! Compiles outbound rules, their preconditions and custom response headers.

use super::*;
use crate::engine::body::{TagFilterError, TagSet};
use crate::engine::model::{BodyTarget, CompiledBodyRule};

/// Resolves outbound template names: response variables stay, request-side ones become
/// snapshot slots.
pub(crate) struct OutboundNames<'a> {
    pub maps: &'a dyn Fn(&str) -> Option<usize>,
    pub vars: &'a CustomVars,
    pub snapshot: RefCell<Vec<ServerVar>>,
}

impl Names for OutboundNames<'_> {
    fn map(&self, name: &str) -> Option<usize> {
        (self.maps)(name)
    }

    fn var(&self, name: &str) -> ServerVar {
        let v = self.vars.resolve(name);
        if v.is_response_side() || matches!(v, ServerVar::Unknown(_)) {
            return v;
        }
        let mut snap = self.snapshot.borrow_mut();
        let i = match snap.iter().position(|s| *s == v) {
            Some(i) => i,
            None => {
                snap.push(v);
                snap.len() - 1
            }
        };
        ServerVar::Snapshot(i)
    }
}

impl Compiler<'_> {
    /// Compiles outboundRules, preConditions and customHeaders.
    pub(super) fn outbound(&mut self) -> Outbound {
        let maps = &self.maps;
        let map_index = |name: &str| maps.iter().position(|m| m.name.eq_ignore_ascii_case(name));
        let names = OutboundNames {
            maps: &map_index,
            vars: &self.vars,
            snapshot: RefCell::new(Vec::new()),
        };
        let mut errs = Vec::new();
        let mut warnings = Vec::new();
        let raw = self.config.outbound_rules.clone().unwrap_or_default();

        let mut pre_conditions = Vec::with_capacity(raw.pre_conditions.len());
        for (i, p) in raw.pre_conditions.iter().enumerate() {
            let at = Location::new(Section::PreConditions, i, &p.name);
            if p.name.trim().is_empty() {
                errs.push(ConfigError::Missing {
                    at: at.at(Element::Item, "name"),
                });
                continue;
            }
            if pre_conditions
                .iter()
                .any(|c: &CompiledPreCondition| c.name.eq_ignore_ascii_case(p.name.trim()))
            {
                errs.push(ConfigError::DuplicateName {
                    at: at.at(Element::Item, "name"),
                    name: p.name.clone(),
                });
                continue;
            }
            let syntax = parse_syntax(
                p.pattern_syntax.as_ref(),
                at.at(Element::Item, "patternSyntax"),
                &mut errs,
            );
            let conditions = config::Conditions {
                logical_grouping: p.logical_grouping.clone(),
                track_all_captures: Some(true),
                items: p.items.clone(),
            };
            // A preCondition has no <conditions> element: its grouping sits on the item.
            let at_items = at.clone();
            let reads = Cell::new(Reads::default());
            let (mut conditions, _) = compile_conditions(
                &names,
                &conditions,
                true,
                syntax,
                &at_items,
                0,
                &reads,
                &mut errs,
                &mut warnings,
            );
            conditions.captures_read = reads.get().cond;
            pre_conditions.push(CompiledPreCondition {
                name: p.name.trim().to_string(),
                conditions,
            });
        }

        let mut rules = Vec::with_capacity(raw.rules.len());
        let mut body_rules = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (i, r) in raw.rules.iter().enumerate() {
            let at = Location::new(Section::OutboundRules, i, &r.name);
            if r.name.trim().is_empty() {
                errs.push(ConfigError::Missing {
                    at: at.at(Element::Item, "name"),
                });
                continue;
            }
            if seen.iter().any(|n| n.eq_ignore_ascii_case(r.name.trim())) {
                errs.push(ConfigError::DuplicateName {
                    at: at.at(Element::Item, "name"),
                    name: r.name.clone(),
                });
            }
            seen.push(r.name.trim());
            let enabled = r.enabled.unwrap_or(true);
            let mut rule_errs = Vec::new();
            let compiled = self.outbound_rule(
                r,
                &at,
                &names,
                &pre_conditions,
                &mut rule_errs,
                &mut warnings,
            );
            if enabled {
                errs.extend(rule_errs);
                match compiled {
                    Some(CompiledRuleKind::Header(rule)) => rules.push(rule),
                    Some(CompiledRuleKind::Body(rule)) => body_rules.push(rule),
                    None => {}
                }
            } else {
                warnings.push(Warning {
                    at: at.at(Element::Item, "enabled"),
                    message: "is disabled and never runs".into(),
                });
                for e in rule_errs {
                    warnings.push(Warning {
                        at: e.location().cloned().unwrap_or_else(|| at.clone()),
                        message: format!("would not load if enabled: {e}"),
                    });
                }
            }
        }

        let mut custom_headers: Vec<(Rc<str>, Rc<str>)> = Vec::new();
        for (i, h) in self.config.custom_headers.iter().enumerate() {
            let name = h.name.trim().to_ascii_lowercase();
            let at = Location::new(Section::CustomHeaders, i, &h.name);
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                errs.push(ConfigError::UnknownValue {
                    at: at.at(Element::Item, "name"),
                    value: h.name.clone(),
                    expected: "a header name",
                });
                continue;
            }
            if h.value.contains(['\r', '\n', '\0']) {
                errs.push(ConfigError::UnknownValue {
                    at: at.at(Element::Item, "value"),
                    value: h.value.clone(),
                    expected: "a header value without line breaks",
                });
                continue;
            }
            // Sanitised once here, not per response.
            let value = Rc::from(url::sanitize_header_value(&h.value));
            match custom_headers.iter_mut().find(|(n, _)| **n == *name) {
                Some(existing) => existing.1 = value,
                None => custom_headers.push((name.into(), value)),
            }
        }

        let snapshot_vars = names.snapshot.into_inner();
        let body_reads = body_response_reads(&body_rules);
        self.errs.extend(errs);
        self.warnings.extend(warnings);
        Outbound {
            rules,
            body_rules,
            body_reads,
            pre_conditions,
            custom_headers,
            snapshot_vars,
        }
    }

    pub(super) fn outbound_rule(
        &self,
        r: &config::OutboundRule,
        at: &Location,
        names: &OutboundNames<'_>,
        pre_conditions: &[CompiledPreCondition],
        errs: &mut Vec<ConfigError>,
        warnings: &mut Vec<Warning>,
    ) -> Option<CompiledRuleKind> {
        let before = errs.len();
        let syntax = parse_syntax(
            r.pattern_syntax.as_ref(),
            at.at(Element::Item, "patternSyntax"),
            errs,
        );
        let pre_condition = self.pre_condition_index(r, at, pre_conditions, errs);
        let m = r.match_target.clone().unwrap_or_default();
        let target = match_target(&m, at, errs, warnings);
        let body_target = match &target {
            Some(MatchTarget::Body(kind)) => self.body_target(kind, &m, syntax, at, errs),
            _ => None,
        };
        let pattern_src = m.pattern.as_deref().unwrap_or("");
        let pattern = match &target {
            Some(MatchTarget::Body(BodyKind::Text)) => text_pattern(
                pattern_src,
                syntax,
                m.ignore_case.unwrap_or(true),
                at,
                errs,
                warnings,
            ),
            _ => compile_pattern(
                pattern_src,
                syntax,
                m.ignore_case.unwrap_or(true),
                at.at(Element::Match, "pattern"),
                errs,
                warnings,
            ),
        };
        let rule_groups = pattern.as_ref().map_or(9, Pattern::groups);
        let raw_conditions = r.conditions.clone().unwrap_or_default();
        let reads = Cell::new(Reads::default());
        let (mut conditions, cond_max) = compile_conditions(
            names,
            &raw_conditions,
            true,
            syntax,
            at,
            rule_groups,
            &reads,
            errs,
            warnings,
        );
        let limits = RefLimits {
            rule_groups,
            cond_max,
            reads: &reads,
        };
        let action = match &r.action {
            None => OutboundAction::None,
            Some(a) => outbound_action(a, at, names, limits, errs, warnings),
        };
        if errs.len() > before {
            return None;
        }
        conditions.captures_read = reads.get().cond;
        let header = match target? {
            MatchTarget::Header(header) => header,
            MatchTarget::Body(_) => {
                return Some(CompiledRuleKind::Body(CompiledBodyRule {
                    captures_read: reads.get().rule,
                    name: r.name.clone(),
                    stop: r.stop_processing.unwrap_or(false),
                    pre_condition,
                    target: body_target?,
                    pattern: pattern?,
                    negate: m.negate.unwrap_or(false),
                    conditions,
                    action,
                }));
            }
        };
        let input_unused = input_unused(syntax, pattern_src, &conditions, &action);
        Some(CompiledRuleKind::Header(CompiledOutboundRule {
            captures_read: reads.get().rule,
            name: r.name.clone(),
            stop: r.stop_processing.unwrap_or(false),
            pre_condition,
            header: header.into(),
            input_unused,
            pattern: pattern?,
            negate: m.negate.unwrap_or(false),
            conditions,
            action,
        }))
    }

    /// What a body rule rewrites: the attributes of its tags (built-in flags and the named
    /// `<customTags>` collection) or the body text.
    fn body_target(
        &self,
        kind: &BodyKind,
        m: &config::OutboundMatch,
        syntax: Option<Syntax>,
        at: &Location,
        errs: &mut Vec<ConfigError>,
    ) -> Option<BodyTarget> {
        match kind {
            BodyKind::Text => {
                if syntax == Some(Syntax::Wildcard) {
                    // URL Rewrite allows Wildcard in outbound rules only together with tag
                    // filters.
                    errs.push(ConfigError::Unsupported {
                        at: at.at(Element::Item, "patternSyntax"),
                        what: "patternSyntax=\"Wildcard\" on a rule that rewrites the body text \
                               (IIS allows Wildcard in outbound rules only with filterByTags)"
                            .into(),
                    });
                    return None;
                }
                Some(BodyTarget::Text {
                    occurrences: m.occurrences.unwrap_or(0),
                })
            }
            BodyKind::Tags(filter) => {
                let custom = self.custom_tag_pairs(m, at, errs)?;
                match TagSet::from_filter(filter, custom.as_deref()) {
                    Ok(set) => Some(BodyTarget::Tags(set)),
                    Err(e) => {
                        let attribute = match e {
                            TagFilterError::UnknownFlag(_) => "filterByTags",
                            TagFilterError::CustomTagsMismatch => "customTags",
                        };
                        errs.push(ConfigError::UnknownValue {
                            at: at.at(Element::Match, attribute),
                            value: match e {
                                TagFilterError::UnknownFlag(flag) => flag,
                                TagFilterError::CustomTagsMismatch => {
                                    m.custom_tags.clone().unwrap_or_default()
                                }
                            },
                            expected: match attribute {
                                "filterByTags" => {
                                    "comma-separated flags among None, A, Area, Base, Form, \
                                     Frame, Head, IFrame, Img, Input, Link, Script, CustomTags"
                                }
                                _ => {
                                    "the name of a <customTags> collection, given exactly \
                                     when filterByTags names CustomTags"
                                }
                            },
                        });
                        None
                    }
                }
            }
        }
    }

    /// The (tag, attribute) pairs of the `<customTags>` collection a rule names: `Some(None)`
    /// when it names none, `None` after reporting an unknown name.
    #[allow(clippy::option_option)]
    fn custom_tag_pairs(
        &self,
        m: &config::OutboundMatch,
        at: &Location,
        errs: &mut Vec<ConfigError>,
    ) -> Option<Option<Vec<(String, String)>>> {
        let Some(name) = m
            .custom_tags
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        else {
            return Some(None);
        };
        let collections = self
            .config
            .outbound_rules
            .as_ref()
            .map(|o| o.custom_tags.as_slice())
            .unwrap_or_default();
        match collections
            .iter()
            .find(|c| c.name.trim().eq_ignore_ascii_case(name))
        {
            Some(c) => Some(Some(
                c.tags
                    .iter()
                    .map(|t| (t.name.clone(), t.attribute.clone()))
                    .collect(),
            )),
            None => {
                errs.push(ConfigError::UnknownValue {
                    at: at.at(Element::Match, "customTags"),
                    value: name.to_string(),
                    expected: "the name of a <customTags><tags> collection",
                });
                None
            }
        }
    }

    /// The index of the rule's `preCondition` among the compiled ones; an unknown name is
    /// reported (a precondition that exists but failed to compile was reported already).
    fn pre_condition_index(
        &self,
        r: &config::OutboundRule,
        at: &Location,
        pre_conditions: &[CompiledPreCondition],
        errs: &mut Vec<ConfigError>,
    ) -> Option<usize> {
        let name = r
            .pre_condition
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())?;
        let found = pre_conditions
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case(name));
        if found.is_none()
            && !self.config.outbound_rules.as_ref().is_some_and(|o| {
                o.pre_conditions
                    .iter()
                    .any(|p| p.name.trim().eq_ignore_ascii_case(name))
            })
        {
            errs.push(ConfigError::UnknownPreCondition {
                at: at.at(Element::Item, "preCondition"),
                name: name.to_string(),
            });
        }
        found
    }
}

/// A compiled outbound rule: on a response header or on the body.
pub(super) enum CompiledRuleKind {
    Header(CompiledOutboundRule),
    Body(CompiledBodyRule),
}

/// What `<match>` points a rule at.
enum MatchTarget {
    /// Lowercase response header name.
    Header(String),
    Body(BodyKind),
}

enum BodyKind {
    /// The `filterByTags` value.
    Tags(String),
    Text,
}

/// Where an outbound rule works (`serverVariable="RESPONSE_…"`, `filterByTags`, or the body
/// text); `None` after reporting a conflict, or for a request variable (a rule that does
/// nothing here).
fn match_target(
    m: &config::OutboundMatch,
    at: &Location,
    errs: &mut Vec<ConfigError>,
    warnings: &mut Vec<Warning>,
) -> Option<MatchTarget> {
    let tags = m
        .filter_by_tags
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("none"));
    let server_variable = m
        .server_variable
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty());
    match (server_variable, tags) {
        (Some(_), Some(_)) => {
            errs.push(ConfigError::Unsupported {
                at: at.at(Element::Match, "filterByTags"),
                what: "filterByTags together with serverVariable (a rule rewrites either a \
                       server variable or the body)"
                    .into(),
            });
            None
        }
        (None, Some(t)) => Some(MatchTarget::Body(BodyKind::Tags(t.to_string()))),
        (None, None) => Some(MatchTarget::Body(if m.custom_tags.is_some() {
            // customTags without the CustomTags flag: reported by the tag set.
            BodyKind::Tags(String::new())
        } else {
            BodyKind::Text
        })),
        (Some(v), None) => match crate::engine::server_vars::builtin(v) {
            ServerVar::ResponseHeader(h) => Some(MatchTarget::Header(h)),
            _ => {
                warnings.push(Warning {
                    at: at.at(Element::Match, "serverVariable"),
                    message: format!(
                        "\"{v}\" is not a response header (RESPONSE_…); request variables cannot change once the response runs, so this rule does nothing on Envoy"
                    ),
                });
                None
            }
        },
    }
}

/// The pattern of a rule on the body text. It is searched for anywhere in the text, so an
/// ExactMatch pattern becomes a literal search.
fn text_pattern(
    source: &str,
    syntax: Option<Syntax>,
    ignore_case: bool,
    at: &Location,
    errs: &mut Vec<ConfigError>,
    warnings: &mut Vec<Warning>,
) -> Option<Pattern> {
    let at = at.at(Element::Match, "pattern");
    match syntax? {
        Syntax::ExactMatch => {
            let literal = escape_literal(source);
            compile_pattern(
                &literal,
                Some(Syntax::EcmaScript),
                ignore_case,
                at,
                errs,
                warnings,
            )
        }
        // Refused by `body_target`; nothing more to report here.
        Syntax::Wildcard => None,
        Syntax::EcmaScript => compile_pattern(
            source,
            Some(Syntax::EcmaScript),
            ignore_case,
            at,
            errs,
            warnings,
        ),
    }
}

/// `text` as an ECMAScript pattern that matches it literally.
fn escape_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\^$.|?*+()[]{}/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The response headers body rules read (conditions and action values), frozen when the
/// response headers pass: the body callbacks come after Envoy has sent them on.
fn body_response_reads(rules: &[CompiledBodyRule]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut note = |seg: &Segment| {
        let name = match seg {
            Segment::Var(ServerVar::ResponseHeader(h)) => h.as_str(),
            Segment::Var(ServerVar::ResponseStatus) => ":status",
            _ => return,
        };
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    };
    for rule in rules {
        for c in &rule.conditions.items {
            c.input.visit(&mut note);
        }
        if let OutboundAction::Rewrite { value, .. } = &rule.action {
            value.visit(&mut note);
        }
    }
    names
}

/// An outbound rule's `<action>`.
fn outbound_action(
    a: &config::OutboundAction,
    at: &Location,
    names: &OutboundNames<'_>,
    limits: RefLimits,
    errs: &mut Vec<ConfigError>,
    warnings: &mut Vec<Warning>,
) -> OutboundAction {
    let kind = a.action_type.as_deref().unwrap_or("None");
    match OUTBOUND_ACTION_TYPE.parse(kind) {
        Some(OutboundActionType::None) => OutboundAction::None,
        Some(OutboundActionType::Rewrite) => {
            let vat = at.at(Element::Action, "value");
            let value = parse_template(names, a.value.as_deref().unwrap_or(""), &vat, errs);
            check_refs(&value, limits, &vat, errs);
            warn_unknown_vars(&value, &vat, warnings);
            OutboundAction::Rewrite {
                constant: value
                    .as_literal()
                    .map(|l| Rc::from(url::sanitize_header_value(l))),
                value,
                replace: a.replace.unwrap_or(true),
            }
        }
        None => {
            errs.push(ConfigError::UnknownValue {
                at: at.at(Element::Action, OUTBOUND_ACTION_TYPE.attribute),
                value: kind.to_ascii_lowercase(),
                expected: OUTBOUND_ACTION_TYPE.expected,
            });
            OutboundAction::None
        }
    }
}

/// A pattern that matches every value (`.*`), whose captures nothing reads, and an action that
/// does not append: the header's current value cannot change the outcome, so the response
/// phase need not fetch it.
fn input_unused(
    syntax: Option<Syntax>,
    pattern_src: &str,
    conditions: &CompiledConditions,
    action: &OutboundAction,
) -> bool {
    let matches_all = match syntax {
        Some(Syntax::EcmaScript) => matches!(pattern_src, ".*" | "^.*" | "(.*)" | "^(.*)"),
        Some(Syntax::Wildcard) => pattern_src == "*",
        Some(Syntax::ExactMatch) | None => false,
    };
    let mut reads_rule_captures = false;
    let mut note = |seg: &Segment| {
        if matches!(seg, Segment::RuleRef(_)) {
            reads_rule_captures = true;
        }
    };
    for c in &conditions.items {
        c.input.visit(&mut note);
    }
    let appends = match action {
        OutboundAction::Rewrite { value, replace, .. } => {
            value.visit(&mut note);
            !*replace
        }
        OutboundAction::None => false,
    };
    matches_all && !reads_rule_captures && !appends
}
