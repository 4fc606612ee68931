//! The plugin configuration as Envoy hands it over: either one rule configuration (a
//! [`FilterConfig`]) or several named ones, `{"ruleSets": {"name": FilterConfig, …},
//! "defaultRuleSet": "name"}`, so that one filter instance serves several sites. Envoy has no
//! per-route configuration for Wasm filters (Envoy's Wasm HTTP filter documentation): a route
//! selects its rule set through route metadata, `filter_metadata: {"iis.rewrite": {"ruleSet":
//! "name"}}`, read once per request before any header is changed. A route without it gets the
//! default set.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::engine::config::FilterConfig;
use crate::engine::decision::Outcome;
use crate::engine::error::{ConfigError, Warning};
use crate::engine::json::{self, object, Decode, JsonError, Kind, Value};
use crate::engine::model::Engine;

/// The route-metadata namespace and key that select a rule set.
pub const METADATA_NAMESPACE: &str = "iis.rewrite";
pub const METADATA_KEY: &str = "ruleSet";
/// The name a single (unnamed) configuration goes by in metrics.
pub const DEFAULT_SET_NAME: &str = "default";

/// The plugin configuration document, before compilation. The filter and `iis-rewrite check`
/// both read it with [`PluginConfig::from_json`] or [`PluginConfig::decode`].
#[derive(Debug, Clone, PartialEq)]
pub enum PluginConfig {
    /// One rule configuration for every route.
    Single(Box<FilterConfig>),
    /// An object with a `ruleSets` key: named rule configurations.
    Multi {
        rule_sets: BTreeMap<String, FilterConfig>,
        default_rule_set: Option<String>,
    },
}

impl PluginConfig {
    /// Reads the plugin configuration document (strict: see [`crate::engine::json`]).
    pub fn from_json(bytes: &[u8]) -> Result<PluginConfig, JsonError> {
        json::from_slice(bytes)
    }
}

impl Decode for PluginConfig {
    fn decode(v: &Value<'_>) -> Result<Self, JsonError> {
        let multi = matches!(&v.kind, Kind::Object(members)
            if members.iter().any(|m| m.key == "ruleSets"));
        if !multi {
            return FilterConfig::decode(v).map(|c| PluginConfig::Single(Box::new(c)));
        }
        object(v, |o| PluginConfig::Multi {
            rule_sets: o.req("ruleSets"),
            default_rule_set: o.opt("defaultRuleSet"),
        })
    }
}

/// Compiled rule sets.
#[derive(Debug)]
pub struct Plugin {
    sets: Vec<(String, Rc<Engine>)>,
    default: Option<usize>,
}

impl Plugin {
    /// Parses and compiles the plugin configuration (single or multi-site).
    pub fn from_json(bytes: &[u8]) -> Result<(Plugin, Vec<Warning>), ConfigError> {
        let (mut rule_sets, default_rule_set) = match PluginConfig::from_json(bytes) {
            Err(e) => {
                return Err(ConfigError::Json {
                    message: e.to_string(),
                })
            }
            Ok(PluginConfig::Multi {
                rule_sets,
                default_rule_set,
            }) => (rule_sets, default_rule_set),
            Ok(PluginConfig::Single(mut config)) => {
                config.resolve_secrets(vm_env)?;
                let (engine, warnings) = compile(&config, None)?;
                return Ok((
                    Plugin {
                        sets: vec![(DEFAULT_SET_NAME.to_string(), Rc::new(engine))],
                        default: Some(0),
                    },
                    warnings,
                ));
            }
        };
        let mut sets = Vec::with_capacity(rule_sets.len());
        let mut warnings = Vec::new();
        for (name, config) in &mut rule_sets {
            config
                .resolve_secrets(vm_env)
                .map_err(|e| ConfigError::InRuleSet {
                    name: name.clone(),
                    error: Box::new(e),
                })?;
            let (engine, w) = compile(config, Some(name))?;
            warnings.extend(w);
            sets.push((name.clone(), Rc::new(engine)));
        }
        let default =
            match &default_rule_set {
                None => None,
                Some(d) => Some(sets.iter().position(|(n, _)| n == d).ok_or_else(|| {
                    ConfigError::Json {
                        message: format!("defaultRuleSet \"{d}\" is not one of ruleSets"),
                    }
                })?),
            };
        Ok((Plugin { sets, default }, warnings))
    }

    /// One unnamed rule set.
    pub fn single(engine: Rc<Engine>) -> Plugin {
        Plugin {
            sets: vec![(DEFAULT_SET_NAME.to_string(), engine)],
            default: Some(0),
        }
    }

    /// The upstream headers of every rule set (a client-sent copy of each is removed even on
    /// routes no rule set serves).
    pub fn upstream_headers(&self) -> Vec<&str> {
        let mut h: Vec<&str> = self.sets.iter().map(|(_, e)| e.upstream_header()).collect();
        h.sort_unstable();
        h.dedup();
        h
    }

    /// The rule set for a request: the one its route names, else the default. `Err` carries a
    /// name no rule set has (the route and the plugin configuration disagree).
    pub fn select(
        &self,
        route_rule_set: Option<&[u8]>,
    ) -> Result<Option<(usize, &Rc<Engine>)>, String> {
        match route_rule_set {
            Some(name) if !name.is_empty() => self
                .sets
                .iter()
                .position(|(n, _)| n.as_bytes() == name)
                .map(|i| self.sets.get(i).map(|(_, e)| (i, e)))
                .ok_or_else(|| String::from_utf8_lossy(name).into_owned()),
            _ => Ok(self
                .default
                .and_then(|i| self.sets.get(i).map(|(_, e)| (i, e)))),
        }
    }

    /// Whether more than one rule set exists (only then is route metadata read).
    pub fn is_multi(&self) -> bool {
        self.sets.len() > 1 || self.default.is_none()
    }

    pub fn sets(&self) -> &[(String, Rc<Engine>)] {
        &self.sets
    }
}

/// The VM's environment (WASI `environ`: the Envoy variables named in
/// `vm_config.environment_variables`).
fn vm_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn compile(
    config: &FilterConfig,
    set: Option<&str>,
) -> Result<(Engine, Vec<Warning>), ConfigError> {
    Engine::compile_all(config).map_err(|(mut errs, _)| {
        let first = if errs.is_empty() {
            ConfigError::Json {
                message: "configuration refused".into(),
            }
        } else {
            errs.swap_remove(0)
        };
        match set {
            Some(name) => ConfigError::InRuleSet {
                name: name.to_string(),
                error: Box::new(first),
            },
            None => first,
        }
    })
}

/// Counter names, under Envoy's `wasmcustom.` prefix: `iis_rewrite.<set>.rule.<rule>.hits`,
/// `iis_rewrite.<set>.action.<kind>`, and `iis_rewrite.config_rejected`.
pub mod metric_names {
    use super::*;

    /// Characters outside `[A-Za-z0-9_-]` become `_` (stat names are dot-separated).
    pub fn sanitize(name: &str) -> String {
        name.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }

    pub fn rule_hits(set: &str, rule: &str) -> String {
        format!("iis_rewrite.{}.rule.{}.hits", sanitize(set), sanitize(rule))
    }

    pub const ACTION_KINDS: [&str; 8] = [
        "continue",
        "rewrite",
        "proxy",
        "redirect",
        "custom_response",
        "abort",
        "refuse",
        "expansion_limit",
    ];

    pub fn action(set: &str, kind: &str) -> String {
        format!("iis_rewrite.{}.action.{kind}", sanitize(set))
    }

    pub const CONFIG_REJECTED: &str = "iis_rewrite.config_rejected";

    /// Pattern matches that ran out of the backtracking matcher's step budget (counted as no
    /// match), over every rule set.
    pub const BACKTRACK_EXHAUSTED: &str = "iis_rewrite.backtrack_exhausted";

    /// Request and response phases that hit an expansion limit, over every rule set (the
    /// response phase has no decision; the value to report is [`limit_hits`]).
    pub const EXPANSION_LIMIT: &str = "iis_rewrite.expansion_limit";

    pub use crate::engine::evaluate::limits::limit_hits;

    /// Index of an outcome's kind in [`ACTION_KINDS`].
    pub fn action_index(outcome: &Outcome) -> usize {
        match outcome {
            Outcome::Continue => 0,
            Outcome::Rewrite { .. } => 1,
            Outcome::Proxy { .. } => 2,
            Outcome::Redirect { .. } => 3,
            Outcome::CustomResponse { .. } => 4,
            Outcome::Abort => 5,
            o if o.is_limit_refusal() => 7,
            Outcome::Refuse { .. } => 6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_password_comes_from_the_vm_environment() {
        let json = br#"{"proxy":{"backendAuth":{"user":"svc","passwordEnv":"IIS_REWRITE_TEST_SURELY_UNSET"}}}"#;
        let err = Plugin::from_json(json).unwrap_err().to_string();
        assert!(
            err.contains("IIS_REWRITE_TEST_SURELY_UNSET") && err.contains("host_env_keys"),
            "{err}"
        );
        let mut c = FilterConfig::from_json(json).unwrap();
        c.resolve_secrets(|k| (k == "IIS_REWRITE_TEST_SURELY_UNSET").then(|| "pw".to_string()))
            .unwrap();
        let a = c.proxy.unwrap().backend_auth.unwrap();
        assert_eq!(a.password, "pw");
        assert!(!format!("{a:?}").contains("pw\""), "Debug never shows it");
    }

    #[test]
    fn single_and_multi_configurations() {
        let (p, _) = Plugin::from_json(br#"{"rules":[]}"#).unwrap();
        assert!(!p.is_multi());
        assert_eq!(p.select(None).unwrap().map(|(i, _)| i), Some(0));

        let (p, _) = Plugin::from_json(
            br#"{"ruleSets":{"a":{"rules":[]},"b":{"rules":[]}},"defaultRuleSet":"b"}"#,
        )
        .unwrap();
        assert!(p.is_multi());
        assert_eq!(p.select(Some(b"a")).unwrap().map(|(i, _)| i), Some(0));
        assert_eq!(p.select(None).unwrap().map(|(i, _)| i), Some(1));
        assert_eq!(p.select(Some(b"zzz")).unwrap_err(), "zzz");
    }

    #[test]
    fn errors_name_the_rule_set() {
        let err = Plugin::from_json(
            br#"{"ruleSets":{"site":{"rules":[{"name":"r","match":{"url":"(a"}}]}}}"#,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("rule set \"site\": rule \"r\""), "{text}");
        assert!(Plugin::from_json(br#"{"ruleSets":{},"defaultRuleSet":"x"}"#).is_err());
        assert!(Plugin::from_json(br#"{"ruleSets":{"a":{}},"bogus":1}"#).is_err());
    }

    #[test]
    fn metric_names_are_stat_safe() {
        assert_eq!(
            metric_names::rule_hits("default", "Redirect to https"),
            "iis_rewrite.default.rule.Redirect_to_https.hits"
        );
    }
}
