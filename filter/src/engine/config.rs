//! The raw configuration model: a structured JSON image of a web.config `<rewrite>` section
//! (plus the `<httpProtocol>` and ARR parts we carry), as the filter receives it from Envoy and as
//! `iis-rewrite import` writes it. Names follow IIS's schema (docs/configuration.md).
//!
//! Enum-valued attributes (`patternSyntax`, action `type`, `redirectType`, …) stay strings here:
//! `compile` parses them so that a bad value is reported as a typed error naming the rule and the
//! attribute, exactly as `iis-rewrite check` reports it. Unknown JSON keys are refused.

use crate::engine::json::{self, JsonError};

mod decode;

/// The whole filter configuration (the plugin configuration JSON).
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct FilterConfig {
    /// `system.webServer/rewrite/globalRules`: evaluated before `rules`, on the whole path.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub global_rules: Vec<InboundRule>,
    /// `system.webServer/rewrite/rules` (distributed rules), after `<clear/>`/`<remove/>`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub rules: Vec<InboundRule>,
    /// `system.webServer/rewrite/rewriteMaps`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub rewrite_maps: Vec<RewriteMap>,
    /// `system.webServer/rewrite/allowedServerVariables`. Absent: every name may be set
    /// (docs/differences.md); present: only these names (case-insensitive).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub allowed_server_variables: Option<Vec<String>>,
    /// `system.webServer/rewrite/outboundRules`: rules and their preConditions.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub outbound_rules: Option<OutboundRules>,
    /// `system.webServer/httpProtocol/customHeaders`, after `<clear/>`/`<remove/>`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub custom_headers: Vec<CustomHeader>,
    /// `system.webServer/proxy` (ARR server-level proxy settings).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub proxy: Option<ProxySettings>,
    /// `webFarms` (ARR server farms, applicationHost.config): a Rewrite to
    /// `http(s)://<farm name>/…` goes to the farm.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub web_farms: Vec<WebFarm>,
    /// How the filter steers Envoy to upstreams (not an IIS element).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub routing: Option<Routing>,
}

/// One `<rule>` of `rules` or `globalRules`.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct InboundRule {
    pub name: String,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub enabled: Option<bool>,
    /// `ECMAScript` (default) | `Wildcard` | `ExactMatch`; applies to match and conditions.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub pattern_syntax: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub stop_processing: Option<bool>,
    /// URL Rewrite 2.1 cache directive; accepted and ignored (no kernel cache in Envoy).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub response_cache_directive: Option<String>,
    /// Absent `<match>`: the rule matches every URL.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "match", skip_serializing_if = "Option::is_none")
    )]
    pub match_url: Option<MatchUrl>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub conditions: Option<Conditions>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub server_variables: Vec<SetServerVariable>,
    /// Absent `<action>`: type `None`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub action: Option<Action>,
    /// Not an IIS attribute: the directory whose web.config (or `<location path>`) defines the
    /// rule, such as `/app/`. The rule then runs only for URLs under it and matches the URL
    /// relative to it; `rules` only (docs/configuration.md).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub directory: Option<String>,
}

/// Inbound `<match url=… ignoreCase=… negate=…/>`.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct MatchUrl {
    /// Required by `compile` when the element is present.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub url: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub ignore_case: Option<bool>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub negate: Option<bool>,
}

/// `<conditions logicalGrouping=… trackAllCaptures=…>` and its `<add>` children (`items`).
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct Conditions {
    /// `MatchAll` (default) | `MatchAny`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub logical_grouping: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub track_all_captures: Option<bool>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub items: Vec<Condition>,
}

/// One condition `<add input=… matchType=… pattern=… ignoreCase=… negate=…/>`; also the shape
/// of a preCondition's `<add>`.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct Condition {
    /// A template (server variables, back-references, functions, maps). Required.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub input: Option<String>,
    /// `Pattern` (default) | `IsFile` | `IsDirectory`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub match_type: Option<String>,
    /// A pattern in the rule's syntax (not a template). Absent means empty (matches anything).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub pattern: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub ignore_case: Option<bool>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub negate: Option<bool>,
}

/// `<serverVariables><set name=… value=… replace=…/>`.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct SetServerVariable {
    pub name: String,
    pub value: String,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub replace: Option<bool>,
}

/// Inbound `<action>`.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct Action {
    /// `None` (default) | `Rewrite` | `Redirect` | `CustomResponse` | `AbortRequest`.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "type", skip_serializing_if = "Option::is_none")
    )]
    pub action_type: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub url: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub append_query_string: Option<bool>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub log_rewritten_url: Option<bool>,
    /// `Permanent` (301, default) | `Found` (302) | `SeeOther` (303) | `Temporary` (307).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub redirect_type: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub status_code: Option<u32>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub sub_status_code: Option<u32>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub status_reason: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub status_description: Option<String>,
}

/// `<rewriteMap name=… defaultValue=… ignoreCase=…>` with its `<add key=… value=…/>` entries.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct RewriteMap {
    pub name: String,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub default_value: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub ignore_case: Option<bool>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub entries: Vec<RewriteMapEntry>,
}

#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct RewriteMapEntry {
    pub key: String,
    pub value: String,
}

/// `<outboundRules>`: header and body rules, the preConditions and the `<customTags>`
/// collections they name.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct OutboundRules {
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub rules: Vec<OutboundRule>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub pre_conditions: Vec<PreCondition>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub custom_tags: Vec<CustomTags>,
}

/// `<customTags><tags name=…>`: the (tag, attribute) pairs a body rule with
/// `filterByTags="CustomTags" customTags=NAME` rewrites besides the built-in ones.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct CustomTags {
    pub name: String,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub tags: Vec<CustomTag>,
}

/// `<tag name=… attribute=…/>` of a `<customTags><tags>` collection.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct CustomTag {
    pub name: String,
    pub attribute: String,
}

/// One outbound `<rule>`.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct OutboundRule {
    pub name: String,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub enabled: Option<bool>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub pattern_syntax: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub stop_processing: Option<bool>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub pre_condition: Option<String>,
    #[cfg_attr(
        feature = "serde",
        serde(rename = "match", skip_serializing_if = "Option::is_none")
    )]
    pub match_target: Option<OutboundMatch>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub conditions: Option<Conditions>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub action: Option<OutboundAction>,
}

/// Outbound `<match serverVariable=… | filterByTags=… customTags=… pattern=… …/>`: a rule with
/// `serverVariable` rewrites a response header; one without rewrites the response body (the URL
/// attributes of the tags `filterByTags` names, or, without it, the body text).
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct OutboundMatch {
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub server_variable: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub filter_by_tags: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub custom_tags: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub pattern: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub occurrences: Option<u64>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub ignore_case: Option<bool>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub negate: Option<bool>,
}

/// Outbound `<action type=… value=… replace=…/>`.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct OutboundAction {
    /// `None` (default) | `Rewrite`.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "type", skip_serializing_if = "Option::is_none")
    )]
    pub action_type: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub value: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub replace: Option<bool>,
}

/// `<preCondition name=… logicalGrouping=… patternSyntax=…>` with `<add>` items.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct PreCondition {
    pub name: String,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub logical_grouping: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub pattern_syntax: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub items: Vec<Condition>,
}

/// `<customHeaders><add name=… value=…/>` (after `<clear/>` and `<remove/>` were applied).
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct CustomHeader {
    pub name: String,
    pub value: String,
}

/// `system.webServer/proxy` attributes that change what the filter decides.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct ProxySettings {
    /// ARR master switch; a web.config cannot carry it, so absent means on.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub enabled: Option<bool>,
    /// false (IIS server default): upstream Host is the rewritten URL's host[:port].
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub preserve_host_header: Option<bool>,
    /// Backend timeout as an IIS timeSpan (`hh:mm:ss`); used by the Envoy generator.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub timeout: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub reverse_rewrite_host_in_response_headers: Option<bool>,
    /// Header ARR adds with the client address (`X-Forwarded-For`); empty disables it.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub x_forwarded_for_header_name: Option<String>,
    /// ARR appends `:port` to the client address (default true).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub include_port_in_x_forwarded_for: Option<bool>,
    /// Not an IIS attribute: basic authentication the filter adds to every proxied request
    /// (`Authorization: Basic …`), with the user also sent as `Remote-User`. The password is put
    /// here by `iis-rewrite envoy` from a file or an environment variable; it is never logged.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub backend_auth: Option<BackendAuth>,
    /// Not an IIS attribute: how many proxies in front of Envoy are trusted (Envoy's
    /// `xff_num_trusted_hops`); only then is a client's X-Forwarded-For appended to.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub trusted_hops: Option<u32>,
    /// Not an IIS attribute: the hosts and ports a proxy target whose host is built from the
    /// request may reach, through Envoy's dynamic forward proxy. Empty (the default): only the
    /// upstreams known at load are reachable.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub dynamic_upstreams: Vec<DynamicUpstream>,
}

/// One entry of the dynamic upstream allow list: a host (`app.internal`, an IP literal, or
/// `*.tenants.example` for any name below that domain) and the ports allowed on it.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct DynamicUpstream {
    pub host: String,
    pub ports: Vec<u16>,
}

/// Basic authentication towards the upstream.
#[derive(Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct BackendAuth {
    pub user: String,
    pub password: String,
    /// Where the filter finds the password when it loads: an environment variable of the
    /// Envoy process, passed into the VM (`vm_config.environment_variables.host_env_keys`), so
    /// that the password is in neither the bootstrap nor Envoy's configuration dump.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub password_env: Option<String>,
}

impl std::fmt::Debug for BackendAuth {
    // The password never reaches a log line through Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendAuth")
            .field("user", &self.user)
            .field("password", &"***")
            .field("password_env", &self.password_env)
            .finish()
    }
}

/// `<webFarm name enabled>` with its servers and `<applicationRequestRouting>` settings.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct WebFarm {
    pub name: String,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub enabled: Option<bool>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub servers: Vec<FarmServer>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub load_balancing: Option<LoadBalancing>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub health_check: Option<HealthCheck>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub affinity: Option<Affinity>,
    /// The farm's `<protocol>`: the same attributes as `system.webServer/proxy`, with the farm
    /// defaults (timeout 30 s, preserveHostHeader true, reverseRewriteHostInResponseHeaders
    /// false).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub protocol: Option<ProxySettings>,
}

/// `<server address enabled>` + `<applicationRequestRouting httpPort httpsPort weight hostName>`.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct FarmServer {
    pub address: String,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub enabled: Option<bool>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub http_port: Option<u16>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub https_port: Option<u16>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub weight: Option<u32>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub host_name: Option<String>,
}

/// `<loadBalancing algorithm hashServerVariable queryStringNames>`.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct LoadBalancing {
    /// `WeightedRoundRobin` (default) | `RequestHash` | legacy names ARR 3 maps to round robin.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub algorithm: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub hash_server_variable: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub query_string_names: Option<String>,
}

/// `<healthCheck url interval timeout statusCodeMatch responseMatch …>`.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct HealthCheck {
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub url: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub interval: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub timeout: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub status_code_match: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub response_match: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub retries: Option<u32>,
}

/// `<affinity useCookie cookieName timeout>`.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct Affinity {
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub use_cookie: Option<bool>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub cookie_name: Option<String>,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub timeout: Option<String>,
}

/// How absolute rewrites reach Envoy clusters.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct Routing {
    /// The request header the filter writes the chosen cluster name into; a `cluster_header`
    /// route reads it. Default `x-iis-rewrite-upstream`. A client-sent copy is always removed.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub upstream_header: Option<String>,
    /// Extra upstreams an absolute rewrite may reach besides those the rules name literally
    /// (for targets whose host comes from a capture): `http://host:port` or `https://host`.
    /// Each may give its cluster name; default `iis|<scheme>|<host>|<port>`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub upstreams: Vec<UpstreamDecl>,
}

#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct UpstreamDecl {
    pub url: String,
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub cluster: Option<String>,
}

impl FilterConfig {
    /// Parses one rule configuration (strict: see [`crate::engine::json`]).
    pub fn from_json(bytes: impl AsRef<[u8]>) -> Result<Self, JsonError> {
        json::from_slice(bytes.as_ref())
    }

    /// Fills every `backendAuth` password named by `passwordEnv` from `lookup` (the filter
    /// passes the VM's environment). A variable that is unset or empty refuses the
    /// configuration: the backend would otherwise get wrong credentials.
    pub fn resolve_secrets(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), crate::engine::error::ConfigError> {
        use crate::engine::error::{Element, Location, Section};
        let mut slots: Vec<(Location, &mut BackendAuth)> = Vec::new();
        if let Some(a) = self.proxy.as_mut().and_then(|p| p.backend_auth.as_mut()) {
            slots.push((
                Location::new(Section::Proxy, 0, "proxy").at(Element::Item, "backendAuth"),
                a,
            ));
        }
        for (i, f) in self.web_farms.iter_mut().enumerate() {
            let at =
                Location::new(Section::WebFarms, i, &f.name).at(Element::Protocol, "backendAuth");
            if let Some(a) = f.protocol.as_mut().and_then(|p| p.backend_auth.as_mut()) {
                slots.push((at, a));
            }
        }
        for (at, a) in slots {
            let Some(var) = a.password_env.as_deref() else {
                continue;
            };
            match lookup(var) {
                Some(v) if !v.is_empty() => a.password = v,
                _ => {
                    return Err(crate::engine::error::ConfigError::UnknownValue {
                        at,
                        value: var.to_string(),
                        expected: "an environment variable set for Envoy and listed in \
                                   vm_config.environment_variables.host_env_keys (passwordEnv)",
                    })
                }
            }
        }
        Ok(())
    }
}
