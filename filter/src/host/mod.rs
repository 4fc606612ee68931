//! The host side: everything that talks to Envoy. [`stream`] drives one HTTP stream through the
//! engine and reaches the proxy only through the [`Host`] trait below, so it runs natively in
//! tests against [`recording`]'s host; `proxy_wasm` (wasm32 only) implements `Host` with one
//! proxy-wasm call per method and registers the root and HTTP contexts.

pub mod stream;

#[cfg(test)]
pub(crate) mod recording;

// Left out of test builds so that the engine tests, compiled to wasm32-wasip1, run under a
// plain WASI runtime without the proxy-wasm host imports.
#[cfg(all(target_arch = "wasm32", not(test)))]
mod proxy_wasm;

pub use stream::Stream;

/// The host operations a stream needs.
pub trait Host {
    fn request_header(&self, name: &str) -> Option<Vec<u8>>;
    /// `None` removes the header.
    fn set_request_header(&self, name: &str, value: Option<&str>);
    fn property(&self, path: &[&str]) -> Option<Vec<u8>>;
    fn response_header(&self, name: &str) -> Option<Vec<u8>>;
    /// Every response header in one call (pairs in order; a repeated name appears repeatedly).
    fn response_headers(&self) -> Vec<(String, Vec<u8>)>;
    /// `None` removes the header.
    fn set_response_header(&self, name: &str, value: Option<&str>);
    fn send_response(&self, status: u32, headers: &[(&str, &str)], body: &[u8]);
    /// Resets the stream: no response at all (AbortRequest).
    fn reset_stream(&self);
    /// Adds one to a counter defined at configure time.
    fn increment_counter(&self, id: u32);
}

/// Counter ids of one rule set, defined by the glue at configure time
/// (names in [`crate::engine::plugin::metric_names`]).
#[derive(Debug, Clone, Default)]
pub struct SetMetrics {
    /// Per rule, in `Engine::rule_names` order.
    pub rule_hits: Vec<u32>,
    /// Per action kind, in `metric_names::ACTION_KINDS` order.
    pub actions: Vec<u32>,
}

/// What the stream tells the host after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    /// A local reply was sent or the stream was reset: stop iteration.
    Stop,
}
