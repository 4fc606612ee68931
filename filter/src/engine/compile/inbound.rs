//! Compiles inbound rules (global and distributed) and their actions; the upstreams absolute
//! rewrites reach are closed in [`super::upstreams`].

use super::*;

impl Compiler<'_> {
    /// Compiles one rule; errors go to `errs` (the caller decides whether they count).
    pub(super) fn rule(
        &self,
        rule: &config::InboundRule,
        at: &Location,
        global: bool,
        errs: &mut Vec<ConfigError>,
        warnings: &mut Vec<Warning>,
    ) -> Option<CompiledRule> {
        let before = errs.len();
        let syntax = parse_syntax(
            rule.pattern_syntax.as_ref(),
            at.at(Element::Item, "patternSyntax"),
            errs,
        );

        // <match>
        let (pattern, negate) = match &rule.match_url {
            None => {
                warnings.push(Warning {
                    at: at.clone(),
                    message: "has no <match>: it matches every URL, as in IIS".into(),
                });
                (Pattern::compile("", Syntax::EcmaScript, true).ok(), false)
            }
            Some(m) => {
                let ignore_case = m.ignore_case.unwrap_or(true);
                match m.url.as_deref() {
                    None | Some("") => {
                        errs.push(ConfigError::Missing {
                            at: at.at(Element::Match, "url"),
                        });
                        (None, false)
                    }
                    Some(u) => (
                        compile_pattern(
                            u,
                            syntax,
                            ignore_case,
                            at.at(Element::Match, "url"),
                            errs,
                            warnings,
                        ),
                        m.negate.unwrap_or(false),
                    ),
                }
            }
        };
        let rule_groups = pattern.as_ref().map_or(9, Pattern::groups);

        // <conditions>
        let raw = rule.conditions.clone().unwrap_or_default();
        let reads = Cell::new(Reads::default());
        let (mut conditions, cond_max) = compile_conditions(
            &self.names(),
            &raw,
            false,
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

        // <serverVariables>
        let mut sets = Vec::with_capacity(rule.server_variables.len());
        for (k, s) in rule.server_variables.iter().enumerate() {
            let sat = at.at(Element::Set(k), "name");
            let name = s.name.trim();
            if name.is_empty() {
                errs.push(ConfigError::Missing { at: sat });
                continue;
            }
            if !global {
                if let Some(allowed) = &self.allowed {
                    if !allowed.iter().any(|a| a.trim().eq_ignore_ascii_case(name)) {
                        errs.push(ConfigError::NotAllowedServerVariable {
                            at: sat,
                            name: name.to_string(),
                        });
                        continue;
                    }
                }
            }
            let vat = at.at(Element::Set(k), "value");
            let value = self.template(&s.value, &vat, errs);
            check_refs(&value, limits, &vat, errs);
            warn_unknown_vars(&value, &vat, warnings);
            let target = set_kind(name).unwrap_or_else(|| {
                // Custom variables were given slots before any rule compiled.
                match self.vars.resolve(name) {
                    ServerVar::Custom(slot, _) => SetTarget::Custom(slot),
                    _ => SetTarget::Custom(0),
                }
            });
            // A header's constant value is sanitised once here, not per request.
            let constant = match target {
                SetTarget::RequestHeader(_) | SetTarget::ResponseHeader(_) => value
                    .as_literal()
                    .map(|l| Rc::from(url::sanitize_header_value(l))),
                SetTarget::Custom(_) => None,
            };
            sets.push(CompiledSet {
                name: name.to_string(),
                target,
                value,
                constant,
                replace: s.replace.unwrap_or(true),
            });
        }

        // <action>
        let action = self.action(rule, at, limits, errs, warnings);
        let directory = rule_directory(rule, at, global, errs);

        if errs.len() > before {
            return None;
        }
        let prefix = match (&rule.match_url, negate) {
            (Some(m), false) => {
                let ignore_case = m.ignore_case.unwrap_or(true);
                pattern
                    .as_ref()
                    .and_then(Pattern::required_prefix)
                    .map(|p| (p.to_string(), ignore_case))
            }
            _ => None,
        };
        // The directory is a prefix of every URL the rule can apply to, negated or not.
        let prefix = match &directory {
            Some(d) => Some((
                d.index_prefix(prefix.as_ref().map(|(p, _)| p.as_str())),
                true,
            )),
            None => prefix,
        };
        conditions.captures_read = reads.get().cond;
        Some(CompiledRule {
            captures_read: reads.get().rule,
            name: rule.name.as_str().into(),
            stop: rule.stop_processing.unwrap_or(false),
            pattern: pattern?,
            negate,
            prefix,
            directory,
            conditions,
            sets,
            action,
        })
    }

    pub(super) fn action(
        &self,
        rule: &config::InboundRule,
        at: &Location,
        limits: RefLimits,
        errs: &mut Vec<ConfigError>,
        warnings: &mut Vec<Warning>,
    ) -> CompiledAction {
        let Some(a) = &rule.action else {
            return CompiledAction::None;
        };
        let kind = a.action_type.as_deref().unwrap_or("None");
        let url_template = |errs: &mut Vec<ConfigError>, warnings: &mut Vec<Warning>| {
            let uat = at.at(Element::Action, "url");
            match a.url.as_deref().map(str::trim) {
                None | Some("") => {
                    errs.push(ConfigError::Missing { at: uat });
                    None
                }
                Some(u) => {
                    let t = self.template(u, &uat, errs);
                    check_refs(&t, limits, &uat, errs);
                    warn_unknown_vars(&t, &uat, warnings);
                    Some(t)
                }
            }
        };
        let append_query = a.append_query_string.unwrap_or(true);
        match ACTION_TYPE.parse(kind) {
            Some(ActionType::None) => CompiledAction::None,
            Some(ActionType::AbortRequest) => CompiledAction::Abort,
            Some(ActionType::Rewrite) => match url_template(errs, warnings) {
                Some(url) => CompiledAction::Rewrite { url, append_query },
                None => CompiledAction::None,
            },
            Some(ActionType::Redirect) => {
                let status = parse_enum(
                    a.redirect_type.as_ref(),
                    301,
                    &REDIRECT_TYPE,
                    at.at(Element::Action, REDIRECT_TYPE.attribute),
                    errs,
                );
                match url_template(errs, warnings) {
                    Some(url) => {
                        let named_hosts = self.named_hosts(&url);
                        CompiledAction::Redirect {
                            url,
                            append_query,
                            status,
                            named_hosts,
                        }
                    }
                    None => CompiledAction::None,
                }
            }
            Some(ActionType::CustomResponse) => self.custom_response(a, at, limits, errs),
            None => {
                errs.push(ConfigError::UnknownValue {
                    at: at.at(Element::Action, ACTION_TYPE.attribute),
                    value: kind.to_string(),
                    expected: ACTION_TYPE.expected,
                });
                CompiledAction::None
            }
        }
    }

    /// A CustomResponse action: IIS's status range (no redirect statuses), the sub-status, and
    /// the reason and description templates.
    fn custom_response(
        &self,
        a: &config::Action,
        at: &Location,
        limits: RefLimits,
        errs: &mut Vec<ConfigError>,
    ) -> CompiledAction {
        let sat = at.at(Element::Action, "statusCode");
        let status = match a.status_code {
            None => {
                errs.push(ConfigError::Missing { at: sat });
                500
            }
            Some(s) if (300..=307).contains(&s) || !(100..=999).contains(&s) => {
                errs.push(ConfigError::OutOfRange {
                    at: sat,
                    value: s.to_string(),
                    allowed: "100 to 999, except 300 to 307 (use a Redirect action)",
                });
                500
            }
            Some(s) => u16::try_from(s).unwrap_or(500),
        };
        let sub_status = a.sub_status_code.unwrap_or(0);
        if sub_status > 999 {
            errs.push(ConfigError::OutOfRange {
                at: at.at(Element::Action, "subStatusCode"),
                value: sub_status.to_string(),
                allowed: "0 to 999",
            });
        }
        let text = |attr: &'static str, v: &Option<String>, errs: &mut Vec<ConfigError>| {
            let tat = at.at(Element::Action, attr);
            let t = self.template(v.as_deref().unwrap_or(""), &tat, errs);
            check_refs(&t, limits, &tat, errs);
            t
        };
        CompiledAction::CustomResponse {
            status,
            sub_status,
            reason: text("statusReason", &a.status_reason, errs),
            description: text("statusDescription", &a.status_description, errs),
        }
    }

    /// Hosts a redirect template names: in its literal text, and in the values of the maps it
    /// reads. A redirect may go there (or to the request's own host family), nowhere else.
    pub(super) fn named_hosts(&self, url: &Template) -> Vec<String> {
        let mut hosts = Vec::new();
        url.visit(&mut |s| match s {
            Segment::Literal(text) => {
                if let Some(u) = url::parse_absolute(text) {
                    hosts.push(u.host.into_owned());
                }
            }
            Segment::Map(i, _) => {
                if let Some(m) = self.maps.get(*i) {
                    for v in m.entries.values().chain(std::iter::once(&m.default)) {
                        if let Some(u) = url::parse_absolute(v) {
                            hosts.push(u.host.into_owned());
                        }
                    }
                }
            }
            _ => {}
        });
        hosts.sort();
        hosts.dedup();
        hosts
    }

    pub(super) fn rule_set(&mut self, section: Section) -> Vec<CompiledRule> {
        let raw = match section {
            Section::GlobalRules => &self.config.global_rules,
            _ => &self.config.rules,
        };
        let mut out = Vec::with_capacity(raw.len());
        let mut errs = Vec::new();
        let mut warnings = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        let mut catch_all: Option<&str> = None;
        for (i, rule) in raw.iter().enumerate() {
            let at = Location::new(section, i, &rule.name);
            if rule.name.trim().is_empty() {
                errs.push(ConfigError::Missing {
                    at: at.at(Element::Item, "name"),
                });
                continue;
            }
            if names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(rule.name.trim()))
            {
                errs.push(ConfigError::DuplicateName {
                    at: at.at(Element::Item, "name"),
                    name: rule.name.clone(),
                });
            }
            names.push(rule.name.trim());
            if !rule.enabled.unwrap_or(true) {
                // A disabled rule never runs; its mistakes are reported, but do not refuse the
                // configuration (the published Jellyfin config has one; IIS does not document this
                // case).
                warnings.push(Warning {
                    at: at.at(Element::Item, "enabled"),
                    message: "is disabled and never runs".into(),
                });
                let mut rule_errs = Vec::new();
                let mut ignored = Vec::new();
                let _ = self.rule(
                    rule,
                    &at,
                    section == Section::GlobalRules,
                    &mut rule_errs,
                    &mut ignored,
                );
                for e in rule_errs {
                    warnings.push(Warning {
                        at: e.location().cloned().unwrap_or_else(|| at.clone()),
                        message: format!("would not load if enabled: {e}"),
                    });
                }
                continue;
            }
            if let Some(by) = catch_all {
                warnings.push(Warning {
                    at: at.clone(),
                    message: format!(
                        "is unreachable: rule \"{by}\" before it matches every URL and stops processing"
                    ),
                });
            }
            let stops = rule.stop_processing.unwrap_or(false)
                || rule.action.as_ref().is_some_and(|a| {
                    matches!(
                        a.action_type
                            .as_deref()
                            .map(str::to_ascii_lowercase)
                            .as_deref(),
                        Some("redirect" | "customresponse" | "abortrequest")
                    )
                });
            let unconditional = rule.conditions.as_ref().is_none_or(|c| c.items.is_empty());
            // A rule of a directory catches only the URLs under it.
            let site_wide = matches!(
                rule.directory.as_deref().map(Directory::parse),
                None | Some(Ok(None))
            );
            if catch_all.is_none()
                && stops
                && unconditional
                && site_wide
                && matches_everything(rule)
            {
                catch_all = Some(rule.name.as_str());
            }
            if let Some(r) = self.rule(
                rule,
                &at,
                section == Section::GlobalRules,
                &mut errs,
                &mut warnings,
            ) {
                self.growth.rule(&r, &at, &mut warnings);
                out.push(r);
            }
        }
        self.errs.extend(errs);
        self.warnings.extend(warnings);
        out
    }
}

/// The rule's `directory`, normalised; refused on a global rule (global rules always see the
/// whole URL) and when malformed.
fn rule_directory(
    rule: &config::InboundRule,
    at: &Location,
    global: bool,
    errs: &mut Vec<ConfigError>,
) -> Option<Directory> {
    let raw = rule.directory.as_deref()?;
    let dat = at.at(Element::Item, "directory");
    if global {
        errs.push(ConfigError::Unsupported {
            at: dat,
            what: "a directory on a global rule (global rules are server-level and see the \
                   whole URL)"
                .into(),
        });
        return None;
    }
    match Directory::parse(raw) {
        Ok(d) => d,
        Err(DirectoryError::Malformed) => {
            errs.push(ConfigError::UnknownValue {
                at: dat,
                value: raw.to_string(),
                expected: "a URL path such as /app/, without ?, #, %, \\, empty, . or .. \
                           segments",
            });
            None
        }
    }
}
