//! The `iis-rewrite` command as a library: reading web.config and the filter's JSON
//! ([`load::load_bytes`], what `check`, `import`, `explain` and `envoy` all go through), the
//! subcommands, and the Envoy and Istio generators. `main.rs` parses the command line and calls
//! [`commands`]; the fuzz targets call [`load::load_bytes`] directly.

pub mod commands;
mod diag;
mod envoy;
mod explain;
mod import;
mod istio;
pub mod load;
mod secrets;
mod spans;
mod work;
mod yaml;

pub use diag::Diagnostic;
