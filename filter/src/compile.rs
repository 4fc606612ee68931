//! (being written) Compiles a FilterConfig once into an Engine.
use crate::config::FilterConfig;
use crate::error::{ConfigError, Warning};
use crate::upstream::Upstream;

/// A compiled configuration.
#[derive(Debug)]
pub struct Engine {
    upstreams: Vec<Upstream>,
    upstream_header: String,
}

impl Engine {
    /// Compiles a configuration; the first error refuses it.
    pub fn compile(config: &FilterConfig) -> Result<Engine, ConfigError> {
        Self::compile_all(config)
            .map(|(e, _)| e)
            .map_err(|mut errs| errs.remove(0))
    }

    /// Compiles, collecting every error (for `iis-rewrite check`) and the warnings.
    pub fn compile_all(_config: &FilterConfig) -> Result<(Engine, Vec<Warning>), Vec<ConfigError>> {
        Ok((
            Engine {
                upstreams: Vec::new(),
                upstream_header: "x-iis-rewrite-upstream".into(),
            },
            Vec::new(),
        ))
    }

    /// Parses and compiles the plugin configuration JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Engine, ConfigError> {
        let config = FilterConfig::from_json(bytes).map_err(|e| ConfigError::Json {
            message: e.to_string(),
        })?;
        Self::compile(&config)
    }

    /// Every upstream an absolute rewrite can reach, with its cluster name.
    pub fn upstreams(&self) -> &[Upstream] {
        &self.upstreams
    }

    /// The request header carrying the chosen cluster name.
    pub fn upstream_header(&self) -> &str {
        &self.upstream_header
    }
}
