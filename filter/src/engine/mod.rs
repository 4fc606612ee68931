//! The rule engine: pure Rust, no host call. It turns the raw configuration ([`config`]) into a
//! compiled rule set ([`model`]) once, then evaluates requests and responses against it
//! ([`evaluate`]) and returns [`decision`]s. The CLI links it natively; the wasm build wraps it
//! in `crate::host`.

pub mod vocab;

pub mod config;
pub mod error;
pub mod json;

pub mod decision;
pub mod request;
pub mod response;
pub(crate) mod server_vars;
pub(crate) mod template;
pub mod trace;
pub mod url;

/// Response bodies: the streaming HTML tag and text rewriter behind outbound body rules.
pub mod body;

pub mod farm;
pub mod upstream;

pub(crate) mod directory;
pub(crate) mod model;
pub(crate) mod rule_index;

pub(crate) mod compile;
pub(crate) mod evaluate;
pub use evaluate::body::{BodyDecision, BodyRewrite, BodySkip};
pub use evaluate::outbound::set_cookie_for_client;

pub mod plugin;
