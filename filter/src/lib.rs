//! IIS URL Rewrite 2.1 + ARR 3.0 rules for Envoy.
//!
//! The engine (every module but `glue`) is pure Rust with no host call: it compiles a
//! [`config::FilterConfig`] once into an [`Engine`] and, per request, reads facts through
//! [`request::RequestFacts`] and returns a [`decision::Decision`]. The proxy-wasm glue, built for
//! wasm32 only, turns Envoy callbacks into engine calls and decisions into host calls. The
//! `iis-rewrite` command links the same engine natively.

pub mod compile;
mod conditions;
pub mod config;
pub mod decision;
pub mod error;
pub mod farm;
pub mod inbound;
pub mod outbound;
pub mod pattern;
pub mod plugin;
pub mod request;
pub mod server_vars;
pub mod stream;
pub mod template;
pub mod trace;
pub mod upstream;
pub mod url;

// The glue is left out of test builds so that the engine tests, compiled to wasm32-wasip1,
// run under a plain WASI runtime without the proxy-wasm host imports.
#[cfg(all(target_arch = "wasm32", not(test)))]
mod glue;

pub use compile::Engine;
pub use config::FilterConfig;
pub use decision::{Decision, HeaderEdit, Outcome};
pub use error::{ConfigError, Location, Warning};
pub use outbound::{ResponseFacts, StaticResponse};
pub use plugin::Plugin;
pub use request::{Property, RequestFacts, StaticRequest};
pub use upstream::Upstream;

/// The crate version and the git commit it was built from (logged at VM start, printed by
/// `iis-rewrite --version`). The build scripts pass the commit in `IIS_REWRITE_GIT_HASH`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GIT_HASH: &str = match option_env!("IIS_REWRITE_GIT_HASH") {
    Some(h) => h,
    None => "unknown",
};
