//! Compiles a [`FilterConfig`] once (at `on_configure`, or in the CLI) into an [`Engine`]: every
//! pattern, template and map is built here, and every mistake that iis-reference.md §11 lists as
//! a load-time error is reported with its location. Nothing here runs per request.

use std::collections::BTreeMap;

use crate::config::{self, FilterConfig};
use crate::error::{ConfigError, Element, Location, Section, Warning};
use crate::farm::{self, Farm};
use crate::outbound::{
    CompiledOutboundRule, CompiledPreCondition, Outbound, OutboundAction, OutboundNames,
};
use crate::pattern::{Pattern, PatternError, Syntax};
use crate::server_vars::{set_kind, CustomVars, ServerVar, SetTarget};
use crate::template::{Names, Segment, Template, TemplateError};
use crate::upstream::{default_cluster_name, Upstream};
use crate::url;
use std::cell::{Cell, RefCell};

/// `logicalGrouping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grouping {
    MatchAll,
    MatchAny,
}

impl Grouping {
    fn parse(value: &str) -> Option<Grouping> {
        match value.to_ascii_lowercase().as_str() {
            "matchall" => Some(Grouping::MatchAll),
            "matchany" => Some(Grouping::MatchAny),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub(crate) enum CondTest {
    Pattern(Pattern),
    /// `IsFile` / `IsDirectory`: no file system behind Envoy, always "not a file".
    NoFileSystem,
}

#[derive(Debug)]
pub(crate) struct CompiledCondition {
    pub input: Template,
    pub test: CondTest,
    pub negate: bool,
}

#[derive(Debug)]
pub(crate) struct CompiledConditions {
    pub grouping: Grouping,
    pub track_all: bool,
    pub items: Vec<CompiledCondition>,
    /// Some template (a later condition's input, a set, the action) reads `{C:n}`: the
    /// conditions' captures must be computed. When false the patterns only test for a match
    /// (decided at compile time; traced evaluation computes them anyway).
    pub captures_read: bool,
}

#[derive(Debug)]
pub(crate) struct CompiledSet {
    pub name: String,
    pub target: SetTarget,
    pub value: Template,
    pub replace: bool,
}

#[derive(Debug)]
pub(crate) enum CompiledAction {
    None,
    Rewrite {
        url: Template,
        append_query: bool,
    },
    Redirect {
        url: Template,
        append_query: bool,
        status: u16,
        /// Hosts the rule names literally (its own text and the maps it reads).
        named_hosts: Vec<String>,
    },
    CustomResponse {
        status: u16,
        sub_status: u32,
        reason: Template,
        description: Template,
    },
    Abort,
}

#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub name: String,
    pub stop: bool,
    pub pattern: Pattern,
    pub negate: bool,
    /// A literal every URL the pattern matches starts with (lowercase when `.1`, the pattern
    /// ignoring case): the rule prefilter skips the rule for other URLs.
    pub prefix: Option<(String, bool)>,
    pub conditions: CompiledConditions,
    pub sets: Vec<CompiledSet>,
    pub action: CompiledAction,
    /// Some template of the rule reads `{R:n}`: the pattern's captures must be computed.
    pub captures_read: bool,
}

#[derive(Debug)]
pub(crate) struct CompiledMap {
    pub name: String,
    pub default: String,
    pub ignore_case: bool,
    pub entries: BTreeMap<String, String>,
}

impl CompiledMap {
    pub fn lookup(&self, key: &str) -> &str {
        let found = if self.ignore_case {
            self.entries.get(&key.to_lowercase())
        } else {
            self.entries.get(key)
        };
        found.map_or(self.default.as_str(), String::as_str)
    }
}

/// What ARR adds to every proxied request (§7.4), server-level or for one farm.
#[derive(Debug)]
pub(crate) struct ProxyHeaders {
    /// `xForwardedForHeaderName` (lowercase); `None` when set to empty.
    pub xff_header: Option<String>,
    pub xff_port: bool,
    /// With trusted proxies in front, the X-Forwarded-For Envoy built is kept.
    pub trusted_hops: u32,
    /// `Authorization` value and user, from `backendAuth`.
    pub backend_auth: Option<(String, String)>,
}

impl ProxyHeaders {
    fn new(
        p: &config::ProxySettings,
        trusted_hops: u32,
        fallback_auth: Option<&config::BackendAuth>,
    ) -> Self {
        ProxyHeaders {
            xff_header: farm::xff_header(Some(p)),
            xff_port: p.include_port_in_x_forwarded_for.unwrap_or(true),
            trusted_hops,
            backend_auth: p.backend_auth.as_ref().or(fallback_auth).map(|a| {
                let credentials = format!("{}:{}", a.user, a.password);
                (
                    format!("Basic {}", url::base64(credentials.as_bytes())),
                    a.user.clone(),
                )
            }),
        }
    }
}

/// A farm with the request headers its `<protocol>` asks for.
#[derive(Debug)]
pub(crate) struct CompiledFarm {
    pub farm: Farm,
    pub headers: ProxyHeaders,
}

/// A compiled configuration: what the filter holds between requests.
#[derive(Debug)]
pub struct Engine {
    pub(crate) global_rules: Vec<CompiledRule>,
    pub(crate) rules: Vec<CompiledRule>,
    /// Prefilters of `global_rules` and `rules`.
    pub(crate) global_index: crate::inbound::RuleIndex,
    pub(crate) rules_index: crate::inbound::RuleIndex,
    pub(crate) maps: Vec<CompiledMap>,
    pub(crate) custom_vars: CustomVars,
    pub(crate) upstreams: Vec<Upstream>,
    pub(crate) upstream_header: String,
    pub(crate) preserve_host: bool,
    pub(crate) proxy_enabled: bool,
    pub(crate) reverse_rewrite_host: bool,
    pub(crate) outbound: Outbound,
    pub(crate) farms: Vec<CompiledFarm>,
    /// (farm, tls, cluster) of every farm cluster the rules can reach.
    pub(crate) farm_clusters: Vec<(String, bool, String)>,
    pub(crate) proxy_headers: ProxyHeaders,
    /// Server-level backend timeout (`proxy timeout`, 120 s by default).
    pub(crate) proxy_timeout_ms: u64,
}

/// What `compile_all` returns for a refused configuration: every error, and the warnings.
pub type Refused = (Vec<ConfigError>, Vec<Warning>);

/// Default name of the header that carries the chosen cluster.
pub const DEFAULT_UPSTREAM_HEADER: &str = "x-iis-rewrite-upstream";

struct NameTable<'a> {
    maps: &'a [CompiledMap],
    vars: &'a CustomVars,
}

impl Names for NameTable<'_> {
    fn map(&self, name: &str) -> Option<usize> {
        self.maps
            .iter()
            .position(|m| m.name.eq_ignore_ascii_case(name))
    }
    fn var(&self, name: &str) -> ServerVar {
        self.vars.resolve(name)
    }
}

/// Parses `patternSyntax`; `None` after reporting an unknown value, so that the patterns of
/// that item are not also reported as invalid in a syntax the author did not choose.
fn parse_syntax(
    value: Option<&String>,
    at: Location,
    errs: &mut Vec<ConfigError>,
) -> Option<Syntax> {
    match value {
        None => Some(Syntax::EcmaScript),
        Some(v) => {
            let parsed = Syntax::parse(v.trim());
            if parsed.is_none() {
                errs.push(ConfigError::UnknownValue {
                    at,
                    value: v.clone(),
                    expected: "ECMAScript, Wildcard or ExactMatch",
                });
            }
            parsed
        }
    }
}

/// Compiles a pattern, or nothing when its syntax was already reported unknown.
fn compile_pattern(
    source: &str,
    syntax: Option<Syntax>,
    ignore_case: bool,
    at: Location,
    errs: &mut Vec<ConfigError>,
    warnings: &mut Vec<Warning>,
) -> Option<Pattern> {
    match Pattern::compile(source, syntax?, ignore_case) {
        Ok(p) => {
            if p.uses_backtracking() {
                warnings.push(Warning {
                    at,
                    message: format!(
                        "pattern \"{source}\" uses a back-reference or a look-ahead that the linear-time regex engine cannot run; it runs on the backtracking matcher, whose matches are limited to {} steps (a match that needs more fails)",
                        crate::pattern::STEP_BUDGET
                    ),
                });
            }
            Some(p)
        }
        Err(e) => {
            errs.push(pattern_error(at, source, e));
            None
        }
    }
}

/// Parses an IIS boolean-ish enum (case-insensitive) or reports it.
fn parse_enum<T>(
    value: Option<&String>,
    default: T,
    parse: fn(&str) -> Option<T>,
    at: Location,
    expected: &'static str,
    errs: &mut Vec<ConfigError>,
) -> T {
    match value {
        None => default,
        Some(v) => parse(v.trim()).unwrap_or_else(|| {
            errs.push(ConfigError::UnknownValue {
                at,
                value: v.clone(),
                expected,
            });
            default
        }),
    }
}

fn template_error(at: Location, source: &str, e: TemplateError) -> ConfigError {
    match e {
        TemplateError::Unbalanced(offset) => ConfigError::BadTemplate {
            at,
            template: source.to_string(),
            reason: format!("unbalanced \"{{\" at offset {offset}"),
        },
        TemplateError::Malformed(offset, what) => ConfigError::BadTemplate {
            at,
            template: source.to_string(),
            reason: format!("malformed token at offset {offset}: {what}"),
        },
        TemplateError::BadBackReference(reference, reason) => ConfigError::BadBackReference {
            at,
            reference,
            reason: reason.to_string(),
        },
        TemplateError::UnknownMap(name) => ConfigError::UnknownMap { at, name },
    }
}

fn pattern_error(at: Location, source: &str, e: PatternError) -> ConfigError {
    match e {
        PatternError::Invalid(reason) => ConfigError::InvalidPattern {
            at,
            pattern: source.to_string(),
            reason,
        },
        PatternError::Unsupported(construct) => ConfigError::UnsupportedConstruct {
            at,
            pattern: source.to_string(),
            construct,
        },
    }
}

/// How many back-references a template may use: `None` = that kind has no groups at all.
#[derive(Clone, Copy)]
struct RefLimits<'a> {
    rule_groups: usize,
    cond_max: Option<usize>,
    /// Records which kinds of back-reference the checked templates use.
    reads: &'a Cell<Reads>,
}

/// Which captures the templates of one rule (or preCondition) read.
#[derive(Clone, Copy, Default)]
struct Reads {
    rule: bool,
    cond: bool,
}

fn check_refs(t: &Template, limits: RefLimits, at: &Location, errs: &mut Vec<ConfigError>) {
    t.visit(&mut |s| {
        let mut r = limits.reads.get();
        match s {
            Segment::RuleRef(_) => r.rule = true,
            Segment::CondRef(_) => r.cond = true,
            _ => {}
        }
        limits.reads.set(r);
    });
    t.visit(&mut |s| match s {
        Segment::RuleRef(n) if usize::from(*n) > limits.rule_groups => {
            errs.push(ConfigError::BadBackReference {
                at: at.clone(),
                reference: format!("{{R:{n}}}"),
                reason: format!(
                    "the rule's pattern has {} capture group{}",
                    limits.rule_groups,
                    if limits.rule_groups == 1 { "" } else { "s" }
                ),
            })
        }
        Segment::CondRef(n) => match limits.cond_max {
            None => errs.push(ConfigError::BadBackReference {
                at: at.clone(),
                reference: format!("{{C:{n}}}"),
                reason: "no condition pattern precedes it".into(),
            }),
            Some(max) if usize::from(*n) > max => errs.push(ConfigError::BadBackReference {
                at: at.clone(),
                reference: format!("{{C:{n}}}"),
                reason: format!("the conditions have capture indexes up to {max}"),
            }),
            _ => {}
        },
        _ => {}
    });
}

fn warn_unknown_vars(t: &Template, at: &Location, warnings: &mut Vec<Warning>) {
    t.visit(&mut |s| {
        if let Segment::Var(ServerVar::Unknown(name)) = s {
            warnings.push(Warning {
                at: at.clone(),
                message: format!(
                    "server variable \"{name}\" has no value on Envoy and reads as empty"
                ),
            });
        }
    });
}

/// Whether a pattern obviously matches every URL (for the unreachable-rule warning).
fn matches_everything(rule: &config::InboundRule) -> bool {
    let Some(m) = &rule.match_url else {
        return true;
    };
    if m.negate.unwrap_or(false) {
        return false;
    }
    let url = m.url.as_deref().unwrap_or("").trim();
    let wildcard = rule
        .pattern_syntax
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("wildcard"));
    if wildcard {
        return url == "*";
    }
    matches!(
        url,
        "" | ".*" | "^.*$" | "^(.*)$" | "(.*)" | "^(.*)" | ".*$" | "^.*" | "(.*)$"
    )
}

fn parse_template(
    names: &dyn Names,
    source: &str,
    at: &Location,
    errs: &mut Vec<ConfigError>,
) -> Template {
    Template::parse(source, names).unwrap_or_else(|e| {
        errs.push(template_error(at.clone(), source, e));
        Template::default()
    })
}

/// Compiles `<conditions>` (of an inbound rule, an outbound rule, or a preCondition's items).
/// Returns them and the highest `{C:n}` index an action may use (`None`: no pattern condition).
#[allow(clippy::too_many_arguments)]
fn compile_conditions(
    names: &dyn Names,
    raw: &config::Conditions,
    track_all_default: bool,
    syntax: Option<Syntax>,
    at: &Location,
    rule_groups: usize,
    reads: &Cell<Reads>,
    errs: &mut Vec<ConfigError>,
    warnings: &mut Vec<Warning>,
) -> (CompiledConditions, Option<usize>) {
    let grouping = parse_enum(
        raw.logical_grouping.as_ref(),
        Grouping::MatchAll,
        Grouping::parse,
        at.at(Element::Conditions, "logicalGrouping"),
        "MatchAll or MatchAny",
        errs,
    );
    let track_all = raw.track_all_captures.unwrap_or(track_all_default);
    let mut items = Vec::with_capacity(raw.items.len());
    // Capture indexes reachable so far: the max over conditions, or the running total.
    let mut cond_max: Option<usize> = None;
    for (k, c) in raw.items.iter().enumerate() {
        let cat = at.at(Element::Condition(k), "input");
        let input_source = match c.input.as_deref() {
            None | Some("") => {
                errs.push(ConfigError::Missing { at: cat.clone() });
                continue;
            }
            Some(i) => i,
        };
        let input = parse_template(names, input_source, &cat, errs);
        check_refs(
            &input,
            RefLimits {
                rule_groups,
                cond_max,
                reads,
            },
            &cat,
            errs,
        );
        warn_unknown_vars(&input, &cat, warnings);
        let match_type = c.match_type.as_deref().unwrap_or("Pattern");
        let test = match match_type.to_ascii_lowercase().as_str() {
            "pattern" => {
                let src = c.pattern.as_deref().unwrap_or("");
                let pat_at = at.at(Element::Condition(k), "pattern");
                match compile_pattern(
                    src,
                    syntax,
                    c.ignore_case.unwrap_or(true),
                    pat_at,
                    errs,
                    warnings,
                ) {
                    Some(p) => {
                        let g = p.groups();
                        cond_max = Some(match (cond_max, track_all) {
                            (None, _) => g,
                            (Some(m), true) => m + g,
                            (Some(m), false) => m.max(g),
                        });
                        CondTest::Pattern(p)
                    }
                    None => continue,
                }
            }
            "isfile" | "isdirectory" => {
                warnings.push(Warning {
                    at: at.at(Element::Condition(k), "matchType"),
                    message: format!(
                        "matchType=\"{match_type}\" tests the file system; there is none behind Envoy, so it is always false{}",
                        if c.negate.unwrap_or(false) { " (negated: always true)" } else { "" }
                    ),
                });
                CondTest::NoFileSystem
            }
            _ => {
                errs.push(ConfigError::UnknownValue {
                    at: at.at(Element::Condition(k), "matchType"),
                    value: match_type.to_string(),
                    expected: "Pattern, IsFile or IsDirectory",
                });
                continue;
            }
        };
        items.push(CompiledCondition {
            input,
            test,
            negate: c.negate.unwrap_or(false),
        });
    }
    (
        CompiledConditions {
            grouping,
            track_all,
            items,
            // The caller sets it once every template that may read `{C:n}` is checked.
            captures_read: true,
        },
        cond_max,
    )
}

struct Compiler<'a> {
    config: &'a FilterConfig,
    maps: Vec<CompiledMap>,
    vars: CustomVars,
    allowed: Option<Vec<String>>,
    errs: Vec<ConfigError>,
    warnings: Vec<Warning>,
}

impl Compiler<'_> {
    fn compile_maps(&mut self) {
        let mut seen: Vec<String> = Vec::new();
        for (i, m) in self.config.rewrite_maps.iter().enumerate() {
            let at = Location::new(Section::RewriteMaps, i, &m.name);
            if m.name.trim().is_empty() {
                self.errs.push(ConfigError::Missing {
                    at: at.at(Element::Item, "name"),
                });
                continue;
            }
            if seen.iter().any(|s| s.eq_ignore_ascii_case(&m.name)) {
                self.errs.push(ConfigError::DuplicateName {
                    at: at.at(Element::Item, "name"),
                    name: m.name.clone(),
                });
                continue;
            }
            seen.push(m.name.clone());
            let ignore_case = m.ignore_case.unwrap_or(true);
            let mut entries = BTreeMap::new();
            for (j, e) in m.entries.iter().enumerate() {
                let key = if ignore_case {
                    e.key.to_lowercase()
                } else {
                    e.key.clone()
                };
                if entries.insert(key, e.value.clone()).is_some() {
                    self.errs.push(ConfigError::DuplicateName {
                        at: at.at(Element::MapEntry(j), "key"),
                        name: e.key.clone(),
                    });
                }
            }
            self.maps.push(CompiledMap {
                name: m.name.trim().to_string(),
                default: m.default_value.clone().unwrap_or_default(),
                ignore_case,
                entries,
            });
        }
    }

    fn names(&self) -> NameTable<'_> {
        NameTable {
            maps: &self.maps,
            vars: &self.vars,
        }
    }

    fn template(&self, source: &str, at: &Location, errs: &mut Vec<ConfigError>) -> Template {
        parse_template(&self.names(), source, at, errs)
    }

    /// Compiles one rule; errors go to `errs` (the caller decides whether they count).
    fn rule(
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
            sets.push(CompiledSet {
                name: name.to_string(),
                target,
                value,
                replace: s.replace.unwrap_or(true),
            });
        }

        // <action>
        let action = self.action(rule, at, limits, errs, warnings);

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
        conditions.captures_read = reads.get().cond;
        Some(CompiledRule {
            captures_read: reads.get().rule,
            name: rule.name.clone(),
            stop: rule.stop_processing.unwrap_or(false),
            pattern: pattern?,
            negate,
            prefix,
            conditions,
            sets,
            action,
        })
    }

    fn action(
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
        match kind.to_ascii_lowercase().as_str() {
            "none" => CompiledAction::None,
            "abortrequest" => CompiledAction::Abort,
            "rewrite" => match url_template(errs, warnings) {
                Some(url) => CompiledAction::Rewrite { url, append_query },
                None => CompiledAction::None,
            },
            "redirect" => {
                let status = parse_enum(
                    a.redirect_type.as_ref(),
                    301,
                    |v| match v.to_ascii_lowercase().as_str() {
                        "permanent" => Some(301),
                        "found" => Some(302),
                        "seeother" => Some(303),
                        "temporary" => Some(307),
                        _ => None,
                    },
                    at.at(Element::Action, "redirectType"),
                    "Permanent, Found, SeeOther or Temporary",
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
            "customresponse" => {
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
            _ => {
                errs.push(ConfigError::UnknownValue {
                    at: at.at(Element::Action, "type"),
                    value: kind.to_string(),
                    expected: "None, Rewrite, Redirect, CustomResponse or AbortRequest",
                });
                CompiledAction::None
            }
        }
    }

    /// Hosts a redirect template names: in its literal text, and in the values of the maps it
    /// reads. A redirect may go there (or to the request's own host family), nowhere else.
    fn named_hosts(&self, url: &Template) -> Vec<String> {
        let mut hosts = Vec::new();
        url.visit(&mut |s| match s {
            Segment::Literal(text) => {
                if let Some(u) = url::parse_absolute(text) {
                    hosts.push(u.host);
                }
            }
            Segment::Map(i, _) => {
                if let Some(m) = self.maps.get(*i) {
                    for v in m.entries.values().chain(std::iter::once(&m.default)) {
                        if let Some(u) = url::parse_absolute(v) {
                            hosts.push(u.host);
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

    fn rule_set(&mut self, section: Section) -> Vec<CompiledRule> {
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
                // configuration (the published Jellyfin config has one, §8.23 leaves it open).
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
            if catch_all.is_none() && stops && unconditional && matches_everything(rule) {
                catch_all = Some(rule.name.as_str());
            }
            if let Some(r) = self.rule(
                rule,
                &at,
                section == Section::GlobalRules,
                &mut errs,
                &mut warnings,
            ) {
                out.push(r);
            }
        }
        self.errs.extend(errs);
        self.warnings.extend(warnings);
        out
    }

    /// Every upstream an absolute Rewrite can reach: literal targets, map values that are
    /// absolute URLs, and the declared `routing.upstreams`.
    fn upstreams(&mut self, rules: &[&CompiledRule]) -> Vec<Upstream> {
        let mut found: Vec<Upstream> = Vec::new();
        let mut add = |tls: bool, host: &str, port: u16, cluster: Option<&str>| {
            let host = host.to_ascii_lowercase();
            if found
                .iter()
                .any(|u| u.tls == tls && u.host == host && u.port == port)
            {
                return;
            }
            found.push(Upstream {
                cluster: cluster
                    .map_or_else(|| default_cluster_name(tls, &host, port), str::to_string),
                tls,
                host,
                port,
            });
        };
        if let Some(routing) = &self.config.routing {
            for (i, d) in routing.upstreams.iter().enumerate() {
                match url::parse_absolute(&d.url).and_then(|u| {
                    let port = u.port.or_else(|| url::default_port(&u.scheme))?;
                    Some((url::scheme_is_tls(&u.scheme), u.host, port))
                }) {
                    Some((tls, host, port)) => add(tls, &host, port, d.cluster.as_deref()),
                    None => self.errs.push(ConfigError::UnknownValue {
                        at: Location::new(Section::Routing, i, &d.url).at(Element::Item, "url"),
                        value: d.url.clone(),
                        expected: "an absolute http://, https://, ws:// or wss:// URL",
                    }),
                }
            }
        }
        for rule in rules {
            let CompiledAction::Rewrite { url, .. } = &rule.action else {
                continue;
            };
            let mut pieces = url.segments().iter();
            match pieces.next() {
                // Literal scheme and authority.
                Some(Segment::Literal(text)) => {
                    if let Some(u) = url::parse_absolute(text) {
                        let authority_complete = !u.rest.is_empty() || url.segments().len() == 1;
                        if let (true, Some(port)) = (
                            authority_complete,
                            u.port.or_else(|| url::default_port(&u.scheme)),
                        ) {
                            add(url::scheme_is_tls(&u.scheme), &u.host, port, None);
                        }
                    }
                }
                // `{C:1}://host:port/…`: the scheme comes from a capture (ws/wss/http/https),
                // the authority is literal: both a plain and a TLS cluster can be reached.
                Some(_) => {
                    if let Some(Segment::Literal(text)) = pieces.next() {
                        if let Some(after) = text.strip_prefix("://") {
                            let end = after.find(['/', '?']).unwrap_or(after.len());
                            let complete = end < after.len() || url.segments().len() == 2;
                            if let (true, Some((host, port))) =
                                (complete, after.get(..end).and_then(url::split_host_port))
                            {
                                add(false, host, port.unwrap_or(80), None);
                                add(true, host, port.unwrap_or(443), None);
                            }
                        }
                    }
                }
                None => {}
            }
        }
        for m in &self.maps {
            for v in m.entries.values().chain(std::iter::once(&m.default)) {
                if let Some(u) = url::parse_absolute(v) {
                    if let Some(port) = u.port.or_else(|| url::default_port(&u.scheme)) {
                        add(url::scheme_is_tls(&u.scheme), &u.host, port, None);
                    }
                }
            }
        }
        found
    }
}

impl Compiler<'_> {
    /// Compiles outboundRules, preConditions and customHeaders.
    fn outbound(&mut self) -> Outbound {
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
                rules.extend(compiled);
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

        let mut custom_headers: Vec<(String, String)> = Vec::new();
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
            let value = url::sanitize_header_value(&h.value).into_owned();
            match custom_headers.iter_mut().find(|(n, _)| *n == name) {
                Some(existing) => existing.1 = value,
                None => custom_headers.push((name, value)),
            }
        }

        let snapshot_vars = names.snapshot.into_inner();
        self.errs.extend(errs);
        self.warnings.extend(warnings);
        Outbound {
            rules,
            pre_conditions,
            custom_headers,
            snapshot_vars,
        }
    }

    fn outbound_rule(
        &self,
        r: &config::OutboundRule,
        at: &Location,
        names: &OutboundNames<'_>,
        pre_conditions: &[CompiledPreCondition],
        errs: &mut Vec<ConfigError>,
        warnings: &mut Vec<Warning>,
    ) -> Option<CompiledOutboundRule> {
        let before = errs.len();
        let syntax = parse_syntax(
            r.pattern_syntax.as_ref(),
            at.at(Element::Item, "patternSyntax"),
            errs,
        );
        let pre_condition = match r.pre_condition.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => {
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
        };
        let m = r.match_target.clone().unwrap_or_default();
        if m.filter_by_tags
            .as_deref()
            .is_some_and(|t| !t.trim().eq_ignore_ascii_case("none"))
            || m.custom_tags.is_some()
        {
            errs.push(ConfigError::Unsupported {
                at: at.at(Element::Match, "filterByTags"),
                what: "rewriting URLs inside the response body (filterByTags)".into(),
            });
            return None;
        }
        let header = match m.server_variable.as_deref().map(str::trim) {
            None | Some("") => {
                errs.push(ConfigError::Unsupported {
                    at: at.at(Element::Match, "serverVariable"),
                    what: "an outbound rule without serverVariable (response body rewriting)"
                        .into(),
                });
                return None;
            }
            Some(v) => match crate::server_vars::builtin(v) {
                ServerVar::ResponseHeader(h) => h,
                _ => {
                    warnings.push(Warning {
                        at: at.at(Element::Match, "serverVariable"),
                        message: format!(
                            "\"{v}\" is not a response header (RESPONSE_…); request variables cannot change once the response runs, so this rule does nothing on Envoy"
                        ),
                    });
                    return None;
                }
            },
        };
        let pattern_src = m.pattern.as_deref().unwrap_or("");
        let pattern = compile_pattern(
            pattern_src,
            syntax,
            m.ignore_case.unwrap_or(true),
            at.at(Element::Match, "pattern"),
            errs,
            warnings,
        );
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
        let action = match &r.action {
            None => OutboundAction::None,
            Some(a) => match a
                .action_type
                .as_deref()
                .unwrap_or("None")
                .to_ascii_lowercase()
                .as_str()
            {
                "none" => OutboundAction::None,
                "rewrite" => {
                    let vat = at.at(Element::Action, "value");
                    let value = parse_template(names, a.value.as_deref().unwrap_or(""), &vat, errs);
                    check_refs(
                        &value,
                        RefLimits {
                            rule_groups,
                            cond_max,
                            reads: &reads,
                        },
                        &vat,
                        errs,
                    );
                    warn_unknown_vars(&value, &vat, warnings);
                    OutboundAction::Rewrite {
                        constant: value
                            .as_literal()
                            .map(|l| url::sanitize_header_value(l).into_owned()),
                        value,
                        replace: a.replace.unwrap_or(true),
                    }
                }
                other => {
                    errs.push(ConfigError::UnknownValue {
                        at: at.at(Element::Action, "type"),
                        value: other.to_string(),
                        expected: "None or Rewrite",
                    });
                    OutboundAction::None
                }
            },
        };
        if errs.len() > before {
            return None;
        }
        // A pattern that matches every value (`.*`), whose captures nothing reads, and an
        // action that does not append: the header's current value cannot change the outcome,
        // so the response phase need not fetch it.
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
        let appends = match &action {
            OutboundAction::Rewrite { value, replace, .. } => {
                value.visit(&mut note);
                !*replace
            }
            OutboundAction::None => false,
        };
        let input_unused = matches_all && !reads_rule_captures && !appends;
        conditions.captures_read = reads.get().cond;
        Some(CompiledOutboundRule {
            captures_read: reads.get().rule,
            name: r.name.clone(),
            stop: r.stop_processing.unwrap_or(false),
            pre_condition,
            header,
            input_unused,
            pattern: pattern?,
            negate: m.negate.unwrap_or(false),
            conditions,
            action,
        })
    }
}

impl Compiler<'_> {
    /// The enabled farms, with the farm defaults of §7.2, and the server-level proxy checks.
    fn farms(&mut self) -> Vec<CompiledFarm> {
        let mut check = farm::Check {
            errs: &mut self.errs,
            warnings: &mut self.warnings,
        };
        let proxy = self.config.proxy.clone().unwrap_or_default();
        check.proxy(&proxy);
        let trusted_hops = proxy.trusted_hops.unwrap_or(0);
        check
            .farms(self.config)
            .into_iter()
            .map(|f| {
                let idx = self
                    .config
                    .web_farms
                    .iter()
                    .position(|w| w.name.trim().eq_ignore_ascii_case(&f.name));
                let protocol = idx
                    .and_then(|i| self.config.web_farms.get(i))
                    .and_then(|w| w.protocol.clone())
                    .unwrap_or_default();
                CompiledFarm {
                    headers: ProxyHeaders::new(
                        &protocol,
                        trusted_hops,
                        proxy.backend_auth.as_ref(),
                    ),
                    farm: f,
                }
            })
            .collect()
    }

    /// Farm clusters the rules can reach: a farm named literally (or in a map value) with its
    /// scheme; both schemes when the scheme is a capture; every farm when the host is one, with
    /// the rule's literal scheme (`http://{R:1}/` reaches only plain farm clusters).
    fn farm_clusters(
        &self,
        rules: &[&CompiledRule],
        farms: &[CompiledFarm],
    ) -> Vec<(String, bool, String)> {
        let mut reach: Vec<(String, bool)> = Vec::new();
        let mut add = |farm: &str, tls: bool| {
            if let Some(f) = farms
                .iter()
                .find(|f| f.farm.name.eq_ignore_ascii_case(farm))
            {
                if !reach.iter().any(|(n, t)| *n == f.farm.name && *t == tls) {
                    reach.push((f.farm.name.clone(), tls));
                }
            }
        };
        // Schemes of targets whose host is a capture (`http://{R:1}/…`): the literal scheme
        // decides plain or TLS; a captured scheme can be either.
        let mut dynamic_plain = false;
        let mut dynamic_tls = false;
        for rule in rules {
            let CompiledAction::Rewrite { url, .. } = &rule.action else {
                continue;
            };
            let segments = url.segments();
            match segments.first() {
                Some(Segment::Literal(text)) => match url::parse_absolute(text) {
                    Some(u) => add(&u.host, url::scheme_is_tls(&u.scheme)),
                    // `http://{R:1}/…`: the host is dynamic, the scheme literal.
                    None if text.ends_with("://") => {
                        let scheme = text.trim_end_matches("://").to_ascii_lowercase();
                        match scheme.as_str() {
                            "http" | "ws" => dynamic_plain = true,
                            "https" | "wss" => dynamic_tls = true,
                            _ => {}
                        }
                    }
                    None => {}
                },
                // `{C:1}://farm/…`. A target that is a capture from its first character names
                // no upstream (the same rule as for literal upstreams): it is refused with 502.
                Some(_) => {
                    if let Some(Segment::Literal(text)) = segments.get(1) {
                        if let Some(after) = text.strip_prefix("://") {
                            let end = after.find(['/', '?', ':']).unwrap_or(after.len());
                            let host = after.get(..end).unwrap_or_default();
                            if host.is_empty() {
                                // `{C:1}://{R:1}/…`: scheme and host both captured.
                                dynamic_plain = true;
                                dynamic_tls = true;
                            }
                            add(host, false);
                            add(host, true);
                        }
                    }
                }
                None => {}
            }
        }
        for m in &self.maps {
            for v in m.entries.values().chain(std::iter::once(&m.default)) {
                if let Some(u) = url::parse_absolute(v) {
                    add(&u.host, url::scheme_is_tls(&u.scheme));
                }
            }
        }
        for f in farms {
            if dynamic_plain {
                add(&f.farm.name, false);
            }
            if dynamic_tls {
                add(&f.farm.name, true);
            }
        }
        reach
            .into_iter()
            .map(|(farm, tls)| {
                let cluster = crate::upstream::farm_cluster_name(tls, &farm);
                (farm, tls, cluster)
            })
            .collect()
    }
}

impl Engine {
    /// Compiles a configuration; the first error refuses it.
    pub fn compile(config: &FilterConfig) -> Result<Engine, ConfigError> {
        match Self::compile_all(config) {
            Ok((engine, _)) => Ok(engine),
            Err((mut errs, _)) => Err(if errs.is_empty() {
                ConfigError::Json {
                    message: "configuration refused".into(),
                }
            } else {
                errs.swap_remove(0)
            }),
        }
    }

    /// Compiles, collecting every error (for `iis-rewrite check`) and the warnings.
    pub fn compile_all(config: &FilterConfig) -> Result<(Engine, Vec<Warning>), Refused> {
        let mut c = Compiler {
            config,
            maps: Vec::new(),
            vars: CustomVars::default(),
            allowed: config.allowed_server_variables.clone(),
            errs: Vec::new(),
            warnings: Vec::new(),
        };
        c.compile_maps();
        // Custom variables get their slots first, so a rule can read one a later rule sets.
        for rule in config.global_rules.iter().chain(&config.rules) {
            for s in &rule.server_variables {
                if !s.name.trim().is_empty() && set_kind(&s.name).is_none() {
                    c.vars.slot(&s.name);
                }
            }
        }
        let global_rules = c.rule_set(Section::GlobalRules);
        let rules = c.rule_set(Section::Rules);
        let all: Vec<&CompiledRule> = global_rules.iter().chain(&rules).collect();
        let farms = c.farms();
        let mut upstreams = c.upstreams(&all);
        // A host naming a farm is the farm, not a literal upstream.
        upstreams.retain(|u| {
            !farms
                .iter()
                .any(|f| f.farm.name.eq_ignore_ascii_case(&u.host))
        });
        let farm_clusters = c.farm_clusters(&all, &farms);
        let outbound = c.outbound();
        let routing = config.routing.clone().unwrap_or_default();
        let upstream_header = routing
            .upstream_header
            .as_deref()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| DEFAULT_UPSTREAM_HEADER.to_string());
        let proxy = config.proxy.clone().unwrap_or_default();
        if !c.errs.is_empty() {
            return Err((c.errs, c.warnings));
        }
        Ok((
            Engine {
                global_index: crate::inbound::RuleIndex::build(&global_rules),
                rules_index: crate::inbound::RuleIndex::build(&rules),
                global_rules,
                rules,
                maps: c.maps,
                custom_vars: c.vars,
                upstreams,
                upstream_header,
                preserve_host: proxy.preserve_host_header.unwrap_or(false),
                proxy_enabled: proxy.enabled.unwrap_or(true),
                reverse_rewrite_host: proxy
                    .reverse_rewrite_host_in_response_headers
                    .unwrap_or(true),
                outbound,
                farms,
                farm_clusters,
                proxy_headers: ProxyHeaders::new(&proxy, proxy.trusted_hops.unwrap_or(0), None),
                proxy_timeout_ms: farm::server_timeout_ms(Some(&proxy)),
            },
            c.warnings,
        ))
    }

    /// Parses and compiles the plugin configuration JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Engine, ConfigError> {
        let config = FilterConfig::from_json(bytes).map_err(|e| ConfigError::Json {
            message: e.to_string(),
        })?;
        Self::compile(&config)
    }

    /// Every upstream an absolute rewrite can reach, with its cluster name.
    pub fn upstreams(&self) -> &[Upstream] {
        &self.upstreams
    }

    /// The request header carrying the chosen cluster name.
    pub fn upstream_header(&self) -> &str {
        &self.upstream_header
    }

    /// Number of enabled rules (global and distributed).
    pub fn rule_count(&self) -> usize {
        self.global_rules.len() + self.rules.len()
    }

    /// Names of the enabled rules, global rules first (`Decision::fired_rules` indexes this).
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.global_rules
            .iter()
            .chain(&self.rules)
            .map(|r| r.name.as_str())
    }

    /// Every farm cluster the rules can reach: (farm name, tls, cluster name).
    pub fn farm_clusters(&self) -> &[(String, bool, String)] {
        &self.farm_clusters
    }

    /// The enabled farms (servers, balancing, health check, affinity, timeout), for the Envoy
    /// generator.
    pub fn farms(&self) -> impl Iterator<Item = &Farm> {
        self.farms.iter().map(|f| &f.farm)
    }

    /// The server-level backend timeout in milliseconds (ARR `proxy timeout`).
    pub fn proxy_timeout_ms(&self) -> u64 {
        self.proxy_timeout_ms
    }

    pub(crate) fn find_farm(&self, host: &str) -> Option<&CompiledFarm> {
        self.farms
            .iter()
            .find(|f| f.farm.name.eq_ignore_ascii_case(host))
    }

    pub(crate) fn find_upstream(&self, tls: bool, host: &str, port: u16) -> Option<&Upstream> {
        self.upstreams
            .iter()
            .find(|u| u.tls == tls && u.port == port && u.host.eq_ignore_ascii_case(host))
    }
}
