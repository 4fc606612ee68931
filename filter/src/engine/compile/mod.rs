//! Compiles a [`FilterConfig`] once (at `on_configure`, or in the CLI) into an [`Engine`]: every
//! pattern, template and map is built here, and every mistake that can be found at load time is
//! reported with its location. Nothing here runs per request.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::engine::config::{self, FilterConfig};
use crate::engine::directory::{Directory, DirectoryError};
use crate::engine::error::{ConfigError, Element, Location, Section, Warning};
use crate::engine::farm;
use crate::engine::model::{
    BackendAuthHeaders, CompiledAction, CompiledCondition, CompiledConditions, CompiledFarm,
    CompiledMap, CompiledOutboundRule, CompiledPreCondition, CompiledRule, CompiledSet, CondTest,
    Engine, FixedHeaderNames, Outbound, OutboundAction, ProxyHeaders,
};
use crate::engine::rule_index::RuleIndex;
use crate::engine::server_vars::{set_kind, CustomVars, ServerVar, SetTarget};
use crate::engine::template::{Names, Segment, Template, TemplateError};
use crate::engine::upstream::{default_cluster_name, Upstream};
use crate::engine::url;
use crate::engine::vocab::{
    ActionType, LogicalGrouping, MatchType, OutboundActionType, PatternSyntax, Vocabulary,
    ACTION_TYPE, LOGICAL_GROUPING, MATCH_TYPE, OUTBOUND_ACTION_TYPE, PATTERN_SYNTAX, REDIRECT_TYPE,
};
use crate::pattern::{Pattern, PatternError, Syntax};
use std::cell::{Cell, RefCell};
/// What `compile_all` returns for a refused configuration: every error, and the warnings.
pub type Refused = (Vec<ConfigError>, Vec<Warning>);

/// Default name of the header that carries the chosen cluster.
pub const DEFAULT_UPSTREAM_HEADER: &str = "x-iis-rewrite-upstream";

impl ProxyHeaders {
    pub(super) fn new(
        p: &config::ProxySettings,
        trusted_hops: u32,
        fallback_auth: Option<&config::BackendAuth>,
    ) -> Self {
        ProxyHeaders {
            xff_header: farm::xff_header(Some(p)).map(Rc::from),
            xff_port: p.include_port_in_x_forwarded_for.unwrap_or(true),
            trusted_hops,
            backend_auth: p.backend_auth.as_ref().or(fallback_auth).map(|a| {
                let credentials = format!("{}:{}", a.user, a.password);
                BackendAuthHeaders {
                    authorization: format!("Basic {}", url::base64(credentials.as_bytes())).into(),
                    remote_user: url::sanitize_header_value(&a.user).into(),
                }
            }),
        }
    }
}

/// Each rule's required literal prefix, in rule order, for the rule index.
fn prefixes(rules: &[CompiledRule]) -> impl Iterator<Item = Option<&str>> + Clone {
    rules
        .iter()
        .map(|r| r.prefix.as_ref().map(|(p, _)| p.as_str()))
}

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
            let parsed = PATTERN_SYNTAX.parse(v.trim()).map(|s| match s {
                PatternSyntax::EcmaScript => Syntax::EcmaScript,
                PatternSyntax::Wildcard => Syntax::Wildcard,
                PatternSyntax::ExactMatch => Syntax::ExactMatch,
            });
            if parsed.is_none() {
                errs.push(ConfigError::UnknownValue {
                    at,
                    value: v.clone(),
                    expected: PATTERN_SYNTAX.expected,
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

/// Parses an IIS enum attribute (case-insensitive, surrounding spaces ignored) or reports it.
fn parse_enum<T: Copy>(
    value: Option<&String>,
    default: T,
    vocabulary: &Vocabulary<T>,
    at: Location,
    errs: &mut Vec<ConfigError>,
) -> T {
    match value {
        None => default,
        Some(v) => vocabulary.parse(v.trim()).unwrap_or_else(|| {
            errs.push(ConfigError::UnknownValue {
                at,
                value: v.clone(),
                expected: vocabulary.expected,
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
        .is_some_and(|s| PATTERN_SYNTAX.parse(s) == Some(PatternSyntax::Wildcard));
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
        LogicalGrouping::MatchAll,
        &LOGICAL_GROUPING,
        at.at(Element::Conditions, LOGICAL_GROUPING.attribute),
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
        let test = match MATCH_TYPE.parse(match_type) {
            Some(MatchType::Pattern) => {
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
            Some(MatchType::IsFile | MatchType::IsDirectory) => {
                warnings.push(Warning {
                    at: at.at(Element::Condition(k), "matchType"),
                    message: format!(
                        "matchType=\"{match_type}\" tests the file system; there is none behind Envoy, so it is always false{}",
                        if c.negate.unwrap_or(false) { " (negated: always true)" } else { "" }
                    ),
                });
                CondTest::NoFileSystem
            }
            None => {
                errs.push(ConfigError::UnknownValue {
                    at: at.at(Element::Condition(k), MATCH_TYPE.attribute),
                    value: match_type.to_string(),
                    expected: MATCH_TYPE.expected,
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
    /// What the rules compiled so far can write, for the amplification warning.
    growth: amplification::Growth,
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
            growth: amplification::Growth::default(),
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
        let dynamic_upstreams = c.dynamic_upstreams();
        let mut upstreams = c.upstreams(&global_rules, &rules, &dynamic_upstreams);
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
            .map_or_else(|| Rc::from(DEFAULT_UPSTREAM_HEADER), Rc::from);
        let proxy = config.proxy.clone().unwrap_or_default();
        if !c.errs.is_empty() {
            return Err((c.errs, c.warnings));
        }
        Ok((
            Engine {
                global_index: RuleIndex::build(prefixes(&global_rules)),
                rules_index: RuleIndex::build(prefixes(&rules)),
                global_rules,
                rules,
                maps: c.maps,
                custom_vars: c.vars,
                upstreams,
                upstream_header,
                fixed_names: FixedHeaderNames::default(),
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
                dynamic_upstreams,
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
}

mod amplification;
mod farms;
mod inbound;
mod outbound;
mod upstreams;
