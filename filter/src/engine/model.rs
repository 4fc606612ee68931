//! The compiled rule set: what `compile` builds once from the raw config and the evaluators
//! read per request. Nothing here parses or evaluates.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::engine::directory::Directory;
use crate::engine::farm::Farm;
use crate::engine::rule_index::RuleIndex;
use crate::engine::server_vars::{CustomVars, ServerVar, SetTarget};
use crate::engine::template::Template;
use crate::engine::upstream::Upstream;
use crate::engine::vocab::LogicalGrouping;
use crate::pattern::Pattern;

#[derive(Debug)]
pub(crate) struct CompiledPreCondition {
    pub name: String,
    pub conditions: CompiledConditions,
}

#[derive(Debug)]
pub(crate) enum OutboundAction {
    None,
    Rewrite {
        value: Template,
        /// The value, sanitised, when the template is a constant (no per-response expansion).
        constant: Option<Rc<str>>,
        replace: bool,
    },
}

#[derive(Debug)]
pub(crate) struct CompiledOutboundRule {
    pub name: String,
    pub stop: bool,
    pub pre_condition: Option<usize>,
    /// Lowercase response header name.
    pub header: Rc<str>,
    /// The header's current value cannot change what the rule does (a match-everything pattern,
    /// no `{R:n}`, no append), so it is not fetched.
    pub input_unused: bool,
    pub pattern: Pattern,
    pub negate: bool,
    pub conditions: CompiledConditions,
    pub action: OutboundAction,
    /// Some template of the rule reads `{R:n}`: the pattern's captures must be computed.
    pub captures_read: bool,
}

/// What a body rule rewrites.
#[derive(Debug)]
pub(crate) enum BodyTarget {
    /// `filterByTags`: the URL attributes of these tags, one value at a time.
    Tags(crate::engine::body::TagSet),
    /// Neither `serverVariable` nor `filterByTags`: matches in the body text; `occurrences`
    /// limits how many are replaced (0 = all).
    Text { occurrences: u64 },
}

/// An outbound rule without `serverVariable`: it rewrites the response body.
#[derive(Debug)]
pub(crate) struct CompiledBodyRule {
    pub name: String,
    pub stop: bool,
    pub pre_condition: Option<usize>,
    pub target: BodyTarget,
    pub pattern: Pattern,
    pub negate: bool,
    pub conditions: CompiledConditions,
    pub action: OutboundAction,
    /// Some template of the rule reads `{R:n}`: the pattern's captures must be computed.
    pub captures_read: bool,
}

/// The compiled response side of a configuration.
#[derive(Debug, Default)]
pub(crate) struct Outbound {
    pub rules: Vec<CompiledOutboundRule>,
    /// Rules on the response body, in configuration order.
    pub body_rules: Vec<CompiledBodyRule>,
    /// Response headers (lowercase, `:status` included) that body rules read while the body
    /// streams: their values are frozen in the response-headers phase.
    pub body_reads: Vec<String>,
    pub pre_conditions: Vec<CompiledPreCondition>,
    /// (lowercase name, sanitised value) after `<clear/>`/`<remove/>`.
    pub custom_headers: Vec<(Rc<str>, Rc<str>)>,
    /// Request-side variables the response phase reads, in snapshot order.
    pub snapshot_vars: Vec<ServerVar>,
}

impl Outbound {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.custom_headers.is_empty()
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
    pub grouping: LogicalGrouping,
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
    /// The value, sanitised, when the template is a constant and the target a header: the edit
    /// shares it instead of building a copy per request.
    pub constant: Option<Rc<str>>,
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
    /// Shared with `Decision::matched_rules` (no copy per fired rule).
    pub name: Rc<str>,
    pub stop: bool,
    pub pattern: Pattern,
    pub negate: bool,
    /// A literal every URL the pattern matches starts with (lowercase when `.1`, the pattern
    /// ignoring case): the rule prefilter skips the rule for other URLs.
    pub prefix: Option<(String, bool)>,
    /// The directory that defines the rule (distributed rules below the site root): the rule
    /// applies only under it, to the URL relative to it.
    pub directory: Option<Directory>,
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

/// What ARR adds to every proxied request, server-level or for one farm.
#[derive(Debug)]
pub(crate) struct ProxyHeaders {
    /// `xForwardedForHeaderName` (lowercase); `None` when set to empty.
    pub xff_header: Option<Rc<str>>,
    pub xff_port: bool,
    /// With trusted proxies in front, the X-Forwarded-For Envoy built is kept.
    pub trusted_hops: u32,
    /// From `backendAuth`.
    pub backend_auth: Option<BackendAuthHeaders>,
}

/// The request headers `backendAuth` adds, built once.
#[derive(Debug)]
pub(crate) struct BackendAuthHeaders {
    /// `Basic <base64 of user:password>`.
    pub authorization: Rc<str>,
    /// The user (sanitised), sent as `Remote-User`.
    pub remote_user: Rc<str>,
}

/// Names of the headers the engine writes on its own (no rule names them), built once so every
/// edit shares them.
#[derive(Debug)]
pub(crate) struct FixedHeaderNames {
    pub original_url: Rc<str>,
    pub authorization: Rc<str>,
    pub remote_user: Rc<str>,
    pub location: Rc<str>,
    pub content_location: Rc<str>,
}

impl Default for FixedHeaderNames {
    fn default() -> Self {
        FixedHeaderNames {
            original_url: Rc::from("x-original-url"),
            authorization: Rc::from("authorization"),
            remote_user: Rc::from("remote-user"),
            location: Rc::from("location"),
            content_location: Rc::from("content-location"),
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
    pub(crate) global_index: RuleIndex,
    pub(crate) rules_index: RuleIndex,
    pub(crate) maps: Vec<CompiledMap>,
    pub(crate) custom_vars: CustomVars,
    pub(crate) upstreams: Vec<Upstream>,
    pub(crate) upstream_header: Rc<str>,
    pub(crate) fixed_names: FixedHeaderNames,
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
    /// Hosts and ports a target outside `upstreams` may reach through the dynamic forward
    /// proxy (`proxy.dynamicUpstreams`); empty: none.
    pub(crate) dynamic_upstreams: Vec<crate::engine::upstream::DynamicAllow>,
}

impl Engine {
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
            .map(|r| &*r.name)
    }

    /// Every farm cluster the rules can reach: (farm name, tls, cluster name).
    pub fn farm_clusters(&self) -> &[(String, bool, String)] {
        &self.farm_clusters
    }

    /// The dynamic upstream allow list (`proxy.dynamicUpstreams`), for the Envoy generator.
    pub fn dynamic_upstreams(&self) -> &[crate::engine::upstream::DynamicAllow] {
        &self.dynamic_upstreams
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
