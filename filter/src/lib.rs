//! IIS URL Rewrite 2.1 + ARR 3.0 rules for Envoy.
//!
//! Two layers, and the dependency runs one way:
//!
//! - `engine`: pure Rust, no host call. `vocab` → `config`, `error` → facts and helpers
//!   (`request`, `response`, `decision`, `trace`, `url`, `template`, `server_vars`, `farm`,
//!   `upstream`) → `model` (the compiled rule set) and `rule_index` → `compile` (config to
//!   model) and `evaluate` (model and facts to a decision) → `plugin` (named rule sets).
//! - `host`: the per-stream logic behind the `Host` trait, and the proxy-wasm glue (wasm32
//!   only) that implements it. The host uses the engine; the engine never uses the host.
//!
//! `pattern` (the ECMAScript front end and its backtracking matcher) sits beside the engine:
//! the compiler builds patterns and the evaluators run them. The `iis-rewrite` command links the engine natively.

pub mod pattern;

pub mod engine;
// Only the wasm build and the tests drive streams; the CLI and the benchmarks use the engine.
#[cfg(any(target_arch = "wasm32", test))]
pub(crate) mod host;

// The paths the `iis-rewrite` command, the tests and the benchmarks use.
pub use engine::decision::{Decision, HeaderEdit, Outcome};
pub use engine::error::{ConfigError, Location, Warning};
pub use engine::model::Engine;
pub use engine::plugin::Plugin;
pub use engine::request::{Property, RequestFacts, StaticRequest};
pub use engine::response::{ResponseFacts, StaticResponse};
pub use engine::upstream::Upstream;
pub use engine::{
    body, config, config::FilterConfig, decision, error, farm, json, plugin, trace, upstream, url,
    vocab,
};

/// The crate version and the git commit it was built from (logged at VM start, printed by
/// `iis-rewrite --version`). The build scripts pass the commit in `IIS_REWRITE_GIT_HASH`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GIT_HASH: &str = match option_env!("IIS_REWRITE_GIT_HASH") {
    Some(h) => h,
    None => "unknown",
};
