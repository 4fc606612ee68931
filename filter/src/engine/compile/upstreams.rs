//! The upstream closure: every origin an absolute Rewrite can reach, found when the
//! configuration loads, so that the filter is never an open proxy (docs/arr.md). A host is
//! known when it is written in the URL (also when request data follows it), when it is a
//! rewrite-map value (looked up in the URL, or in a condition whose whole match `{C:1}` the URL
//! uses), or when it names a farm; a host built from request data is reported, with the rule,
//! as a warning.

use super::*;
use crate::engine::upstream::{target_reach, DynamicAllow, HostPattern, Piece};

impl Compiler<'_> {
    /// Every upstream an absolute Rewrite can reach: the declared `routing.upstreams`, the
    /// targets of Rewrite actions, and map values that are absolute URLs.
    pub(super) fn upstreams(
        &mut self,
        global_rules: &[CompiledRule],
        rules: &[CompiledRule],
        dynamic: &[DynamicAllow],
    ) -> Vec<Upstream> {
        let mut found: Vec<Upstream> = Vec::new();
        self.declared_upstreams(&mut found);
        for (section, compiled, raw) in [
            (
                Section::GlobalRules,
                global_rules,
                &self.config.global_rules,
            ),
            (Section::Rules, rules, &self.config.rules),
        ] {
            for (index, rule) in raw.iter().enumerate() {
                let Some(c) = compiled.iter().find(|c| *c.name == *rule.name) else {
                    continue;
                };
                let CompiledAction::Rewrite { url, .. } = &c.action else {
                    continue;
                };
                let pieces = self.pieces(url, c, rule);
                let reach = target_reach(&pieces);
                for o in &reach.origins {
                    add_upstream(&mut found, o.tls, &o.host, o.port, None);
                }
                let written = rule
                    .action
                    .as_ref()
                    .and_then(|a| a.url.as_deref())
                    .unwrap_or_default();
                let at = Location::new(section, index, &rule.name).at(Element::Action, "url");
                if reach.host_from_request && dynamic.is_empty() {
                    self.warnings.push(Warning {
                        at,
                        message: format!(
                            "proxy target {written:?}: its host comes from the request, so it \
                             reaches no upstream known at load; the filter answers 502 for it \
                             (write the host, use a rewrite map or a farm, or allow hosts with \
                             proxy.dynamicUpstreams)"
                        ),
                    });
                } else if reach.host_from_request {
                    let allowed: Vec<String> = dynamic
                        .iter()
                        .map(|a| format!("{}:{:?}", a.host, a.ports))
                        .collect();
                    self.warnings.push(Warning {
                        at,
                        message: format!(
                            "proxy target {written:?}: its host comes from the request; it \
                             reaches only the hosts of proxy.dynamicUpstreams ({}) through the \
                             dynamic forward proxy, and the filter answers 502 for any other",
                            allowed.join(", ")
                        ),
                    });
                } else if reach.too_many {
                    self.warnings.push(Warning {
                        at,
                        message: format!(
                            "proxy target {written:?}: its rewrite-map values combine into more \
                             hosts than are enumerated at load; the filter answers 502 for them"
                        ),
                    });
                }
            }
        }
        for m in &self.maps {
            for v in m.entries.values().chain(std::iter::once(&m.default)) {
                if let Some(u) = url::parse_absolute(v) {
                    if let Some(port) = u.port.or_else(|| url::default_port(&u.scheme)) {
                        add_upstream(
                            &mut found,
                            url::scheme_is_tls(&u.scheme),
                            &u.host,
                            port,
                            None,
                        );
                    }
                }
            }
        }
        found
    }

    /// `proxy.dynamicUpstreams`: the hosts and ports request-built targets may reach through
    /// the dynamic forward proxy.
    pub(super) fn dynamic_upstreams(&mut self) -> Vec<DynamicAllow> {
        let Some(proxy) = &self.config.proxy else {
            return Vec::new();
        };
        let at = Location::new(Section::Proxy, 0, "proxy").at(Element::Item, "dynamicUpstreams");
        let mut out = Vec::new();
        for entry in &proxy.dynamic_upstreams {
            let host = match HostPattern::parse(&entry.host) {
                Ok(h) => h,
                Err(expected) => {
                    self.errs.push(ConfigError::UnknownValue {
                        at: at.clone(),
                        value: entry.host.clone(),
                        expected,
                    });
                    continue;
                }
            };
            if entry.ports.is_empty() || entry.ports.contains(&0) {
                self.errs.push(ConfigError::UnknownValue {
                    at: at.clone(),
                    value: format!("{}: ports {:?}", entry.host, entry.ports),
                    expected: "one or more ports from 1 to 65535",
                });
                continue;
            }
            out.push(DynamicAllow {
                host,
                ports: entry.ports.clone(),
            });
        }
        out
    }

    /// `routing.upstreams`: origins declared with their cluster names.
    fn declared_upstreams(&mut self, found: &mut Vec<Upstream>) {
        let Some(routing) = &self.config.routing else {
            return;
        };
        for (i, d) in routing.upstreams.iter().enumerate() {
            match url::parse_absolute(&d.url).and_then(|u| {
                let port = u.port.or_else(|| url::default_port(&u.scheme))?;
                Some((url::scheme_is_tls(&u.scheme), u.host.into_owned(), port))
            }) {
                Some((tls, host, port)) => {
                    add_upstream(found, tls, &host, port, d.cluster.as_deref())
                }
                None => self.errs.push(ConfigError::UnknownValue {
                    at: Location::new(Section::Routing, i, &d.url).at(Element::Item, "url"),
                    value: d.url.clone(),
                    expected: "an absolute http://, https://, ws:// or wss:// URL",
                }),
            }
        }
    }

    /// The URL template as the closure reads it.
    fn pieces<'m>(
        &'m self,
        url: &'m Template,
        rule: &CompiledRule,
        raw: &config::InboundRule,
    ) -> Vec<Piece<'m>> {
        url.segments()
            .iter()
            .map(|segment| match segment {
                Segment::Literal(text) => Piece::Text(text),
                Segment::Map(index, _) => self.map_values(*index),
                Segment::CondRef(n) => match map_condition(rule, raw, *n) {
                    Some(index) => self.map_values(index),
                    None => Piece::Request { starts_path: false },
                },
                Segment::Var(v) => Piece::Request {
                    starts_path: matches!(
                        v,
                        ServerVar::RequestUri
                            | ServerVar::Url
                            | ServerVar::HttpUrl
                            | ServerVar::UnencodedUrl
                    ),
                },
                Segment::RuleRef(_) | Segment::Call(..) => Piece::Request { starts_path: false },
            })
            .collect()
    }

    /// What a lookup in map `index` can return: its values, and its default when not empty.
    fn map_values(&self, index: usize) -> Piece<'_> {
        match self.maps.get(index) {
            Some(m) => Piece::OneOf(
                m.entries
                    .values()
                    .map(String::as_str)
                    .chain((!m.default.is_empty()).then_some(m.default.as_str()))
                    .collect(),
            ),
            None => Piece::Request { starts_path: false },
        }
    }
}

/// The map whose whole value `{C:n}` holds, when it is certain: without trackAllCaptures and
/// under MatchAll, `{C:n}` are the captures of the last condition; when that condition's input
/// is one map lookup and its pattern captures the whole input (`(.+)`, `^(.*)$`, or `*` as a
/// wildcard), `{C:0}` and `{C:1}` are the map's value.
fn map_condition(rule: &CompiledRule, raw: &config::InboundRule, n: u8) -> Option<usize> {
    let conditions = &rule.conditions;
    if conditions.track_all || conditions.grouping != LogicalGrouping::MatchAll || n > 1 {
        return None;
    }
    let last = conditions.items.last()?;
    let raw_last = raw.conditions.as_ref()?.items.last()?;
    if last.negate || !matches!(last.test, CondTest::Pattern(_)) {
        return None;
    }
    let [Segment::Map(index, _)] = last.input.segments() else {
        return None;
    };
    let wildcard = raw
        .pattern_syntax
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("wildcard"));
    let pattern = raw_last.pattern.as_deref().unwrap_or_default();
    let whole = if wildcard {
        pattern == "*"
    } else {
        let inner = pattern.strip_prefix('^').unwrap_or(pattern);
        let inner = inner.strip_suffix('$').unwrap_or(inner);
        matches!(inner, "(.+)" | "(.*)" | "(.+?)" | "(.*?)")
    };
    whole.then_some(*index)
}

/// Adds an origin once (scheme, host and port), with its cluster name.
fn add_upstream(
    found: &mut Vec<Upstream>,
    tls: bool,
    host: &str,
    port: u16,
    cluster: Option<&str>,
) {
    let host = host.to_ascii_lowercase();
    if found
        .iter()
        .any(|u| u.tls == tls && u.host == host && u.port == port)
    {
        return;
    }
    found.push(Upstream {
        cluster: cluster.map_or_else(|| default_cluster_name(tls, &host, port), str::to_string),
        tls,
        host,
        port,
    });
}
