//! The JSON decoder of the configuration model: one function per struct, one line per key.
//! A new field is one more line here (the struct literal does not compile without it) beside
//! the field in `config.rs`. `req` is a required key, `opt` an optional one, `or_default` a
//! list or string whose absence means empty. The first problem is kept and reported by
//! [`object`], so the struct is built in one expression.

use super::*;
use crate::engine::json::{object, Decode, JsonError, Value};

impl Decode for FilterConfig {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| FilterConfig {
            global_rules: o.or_default("globalRules"),
            rules: o.or_default("rules"),
            rewrite_maps: o.or_default("rewriteMaps"),
            allowed_server_variables: o.opt("allowedServerVariables"),
            outbound_rules: o.opt("outboundRules"),
            custom_headers: o.or_default("customHeaders"),
            proxy: o.opt("proxy"),
            web_farms: o.or_default("webFarms"),
            routing: o.opt("routing"),
        })
    }
}

impl Decode for InboundRule {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| InboundRule {
            name: o.req("name"),
            enabled: o.opt("enabled"),
            pattern_syntax: o.opt("patternSyntax"),
            stop_processing: o.opt("stopProcessing"),
            response_cache_directive: o.opt("responseCacheDirective"),
            match_url: o.opt("match"),
            conditions: o.opt("conditions"),
            server_variables: o.or_default("serverVariables"),
            action: o.opt("action"),
            directory: o.opt("directory"),
        })
    }
}

impl Decode for MatchUrl {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| MatchUrl {
            url: o.opt("url"),
            ignore_case: o.opt("ignoreCase"),
            negate: o.opt("negate"),
        })
    }
}

impl Decode for Conditions {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| Conditions {
            logical_grouping: o.opt("logicalGrouping"),
            track_all_captures: o.opt("trackAllCaptures"),
            items: o.or_default("items"),
        })
    }
}

impl Decode for Condition {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| Condition {
            input: o.opt("input"),
            match_type: o.opt("matchType"),
            pattern: o.opt("pattern"),
            ignore_case: o.opt("ignoreCase"),
            negate: o.opt("negate"),
        })
    }
}

impl Decode for SetServerVariable {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| SetServerVariable {
            name: o.req("name"),
            value: o.or_default("value"),
            replace: o.opt("replace"),
        })
    }
}

impl Decode for Action {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| Action {
            action_type: o.opt("type"),
            url: o.opt("url"),
            append_query_string: o.opt("appendQueryString"),
            log_rewritten_url: o.opt("logRewrittenUrl"),
            redirect_type: o.opt("redirectType"),
            status_code: o.opt("statusCode"),
            sub_status_code: o.opt("subStatusCode"),
            status_reason: o.opt("statusReason"),
            status_description: o.opt("statusDescription"),
        })
    }
}

impl Decode for RewriteMap {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| RewriteMap {
            name: o.req("name"),
            default_value: o.opt("defaultValue"),
            ignore_case: o.opt("ignoreCase"),
            entries: o.or_default("entries"),
        })
    }
}

impl Decode for RewriteMapEntry {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| RewriteMapEntry {
            key: o.req("key"),
            value: o.or_default("value"),
        })
    }
}

impl Decode for OutboundRules {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| OutboundRules {
            rules: o.or_default("rules"),
            pre_conditions: o.or_default("preConditions"),
            custom_tags: o.or_default("customTags"),
        })
    }
}

impl Decode for OutboundRule {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| OutboundRule {
            name: o.req("name"),
            enabled: o.opt("enabled"),
            pattern_syntax: o.opt("patternSyntax"),
            stop_processing: o.opt("stopProcessing"),
            pre_condition: o.opt("preCondition"),
            match_target: o.opt("match"),
            conditions: o.opt("conditions"),
            action: o.opt("action"),
        })
    }
}

impl Decode for OutboundMatch {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| OutboundMatch {
            server_variable: o.opt("serverVariable"),
            filter_by_tags: o.opt("filterByTags"),
            custom_tags: o.opt("customTags"),
            pattern: o.opt("pattern"),
            occurrences: o.opt("occurrences"),
            ignore_case: o.opt("ignoreCase"),
            negate: o.opt("negate"),
        })
    }
}

impl Decode for OutboundAction {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| OutboundAction {
            action_type: o.opt("type"),
            value: o.opt("value"),
            replace: o.opt("replace"),
        })
    }
}

impl Decode for PreCondition {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| PreCondition {
            name: o.req("name"),
            logical_grouping: o.opt("logicalGrouping"),
            pattern_syntax: o.opt("patternSyntax"),
            items: o.or_default("items"),
        })
    }
}

impl Decode for CustomHeader {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| CustomHeader {
            name: o.req("name"),
            value: o.or_default("value"),
        })
    }
}

impl Decode for ProxySettings {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| ProxySettings {
            enabled: o.opt("enabled"),
            preserve_host_header: o.opt("preserveHostHeader"),
            timeout: o.opt("timeout"),
            reverse_rewrite_host_in_response_headers: o.opt("reverseRewriteHostInResponseHeaders"),
            x_forwarded_for_header_name: o.opt("xForwardedForHeaderName"),
            include_port_in_x_forwarded_for: o.opt("includePortInXForwardedFor"),
            backend_auth: o.opt("backendAuth"),
            trusted_hops: o.opt("trustedHops"),
            dynamic_upstreams: o.or_default("dynamicUpstreams"),
        })
    }
}

impl Decode for DynamicUpstream {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| DynamicUpstream {
            host: o.req("host"),
            ports: o.req("ports"),
        })
    }
}

impl Decode for BackendAuth {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| BackendAuth {
            user: o.req("user"),
            password: o.or_default("password"),
            password_env: o.opt("passwordEnv"),
        })
    }
}

impl Decode for WebFarm {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| WebFarm {
            name: o.req("name"),
            enabled: o.opt("enabled"),
            servers: o.or_default("servers"),
            load_balancing: o.opt("loadBalancing"),
            health_check: o.opt("healthCheck"),
            affinity: o.opt("affinity"),
            protocol: o.opt("protocol"),
        })
    }
}

impl Decode for FarmServer {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| FarmServer {
            address: o.req("address"),
            enabled: o.opt("enabled"),
            http_port: o.opt("httpPort"),
            https_port: o.opt("httpsPort"),
            weight: o.opt("weight"),
            host_name: o.opt("hostName"),
        })
    }
}

impl Decode for LoadBalancing {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| LoadBalancing {
            algorithm: o.opt("algorithm"),
            hash_server_variable: o.opt("hashServerVariable"),
            query_string_names: o.opt("queryStringNames"),
        })
    }
}

impl Decode for HealthCheck {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| HealthCheck {
            url: o.opt("url"),
            interval: o.opt("interval"),
            timeout: o.opt("timeout"),
            status_code_match: o.opt("statusCodeMatch"),
            response_match: o.opt("responseMatch"),
            retries: o.opt("retries"),
        })
    }
}

impl Decode for Affinity {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| Affinity {
            use_cookie: o.opt("useCookie"),
            cookie_name: o.opt("cookieName"),
            timeout: o.opt("timeout"),
        })
    }
}

impl Decode for Routing {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| Routing {
            upstream_header: o.opt("upstreamHeader"),
            upstreams: o.or_default("upstreams"),
        })
    }
}

impl Decode for UpstreamDecl {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| UpstreamDecl {
            url: o.req("url"),
            cluster: o.opt("cluster"),
        })
    }
}

impl Decode for CustomTags {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| CustomTags {
            name: o.req("name"),
            tags: o.or_default("tags"),
        })
    }
}

impl Decode for CustomTag {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        object(v, |o| CustomTag {
            name: o.req("name"),
            attribute: o.req("attribute"),
        })
    }
}
