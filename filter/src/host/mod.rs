//! The host side: everything that talks to Envoy. `stream` drives one HTTP stream through the
//! engine and reaches the proxy only through the [`Host`] trait below, so it runs natively in
//! tests against `recording`'s host; `proxy_wasm` (wasm32 only) implements `Host` with one
//! proxy-wasm call per method and registers the root and HTTP contexts.

use std::cell::Cell;

pub mod body;
pub mod header_map;
pub mod set_cookie;
pub mod stream;

#[cfg(test)]
pub(crate) mod recording;

#[cfg(test)]
mod alloc_tests;

// Left out of test builds so that the engine tests, compiled to wasm32-wasip1, run under a
// plain WASI runtime without the proxy-wasm host imports.
#[cfg(all(target_arch = "wasm32", not(test)))]
mod abi;
#[cfg(all(target_arch = "wasm32", not(test)))]
mod proxy_wasm;

pub use header_map::HeaderMap;

/// The host operations a stream needs. Each method is one host call (one VM exit and a copy
/// across the boundary). Reads come one header at a time or the whole map at once
/// (`*_headers`), chosen per phase by the stream; writes are one header at a time, which
/// measured cheaper in Envoy than rewriting the whole map (docs/benchmarks.md).
pub trait Host {
    /// One request header (the first value of a repeated one).
    fn request_header(&self, name: &str) -> Option<Vec<u8>>;
    /// Every request header in one call.
    fn request_headers(&self) -> HeaderMap;
    /// Replaces one request header; `None` removes it.
    fn set_request_header(&self, name: &str, value: Option<&str>);
    /// Adds a request header known to be absent (cheaper for Envoy than a replace).
    fn add_request_header(&self, name: &str, value: &str);
    fn property(&self, path: &[&str]) -> Option<Vec<u8>>;
    /// One response header (the first value of a repeated one).
    fn response_header(&self, name: &str) -> Option<Vec<u8>>;
    /// Every response header in one call.
    fn response_headers(&self) -> HeaderMap;
    /// Replaces one response header; `None` removes it.
    fn set_response_header(&self, name: &str, value: Option<&str>);
    /// Adds one more value of a header that may repeat (`Set-Cookie`).
    fn add_response_header(&self, name: &str, value: &[u8]);
    fn send_response(&self, status: u32, headers: &[(&str, &str)], body: &[u8]);
    /// Resets the stream: no response at all (AbortRequest).
    fn reset_stream(&self);
    /// Adds `delta` to a counter defined at configure time (called by [`flush_counters`], never
    /// per request).
    fn add_to_counter(&self, id: u32, delta: u64);

    // Response bodies (`body`): only called for responses the body rules rewrite.
    /// `size` bytes from `start` of the response body chunk Envoy holds now.
    fn response_body(&self, start: usize, size: usize) -> Option<Vec<u8>>;
    /// Replaces the first `size` bytes of the chunk Envoy holds (all of it) by `bytes`.
    fn replace_response_body(&self, size: usize, bytes: &[u8]);
    /// Counts what happened to a response body.
    fn body_event(&self, event: body::BodyEvent);
}

/// One of the filter's counters: its host id and the hits not yet added to it. Requests count
/// here, in the module; [`flush_counters`] moves the counts to the host in bulk.
#[derive(Debug, Default)]
pub struct Counter {
    pub id: u32,
    pending: Cell<u64>,
}

impl Counter {
    pub fn new(id: u32) -> Self {
        Counter {
            id,
            pending: Cell::new(0),
        }
    }

    /// Counts one hit (no host call).
    pub fn hit(&self) {
        self.pending.set(self.pending.get().saturating_add(1));
    }

    /// The hits counted since the last call.
    fn take(&self) -> u64 {
        self.pending.replace(0)
    }
}

/// The counters of one rule set, defined by the glue at configure time
/// (names in [`crate::engine::plugin::metric_names`]).
#[derive(Debug, Default)]
pub struct SetMetrics {
    /// Per rule, in `Engine::rule_names` order.
    pub rule_hits: Vec<Counter>,
    /// Per action kind, in `metric_names::ACTION_KINDS` order.
    pub actions: Vec<Counter>,
}

/// Adds every counter's pending hits to the host's counter, one host call per counter that
/// changed; afterwards the host's counters are exact. The glue calls it on its timer and when
/// the plugin is torn down.
pub fn flush_counters(sets: &[SetMetrics], host: &dyn Host) {
    for counter in sets
        .iter()
        .flat_map(|m| m.rule_hits.iter().chain(&m.actions))
    {
        let n = counter.take();
        if n > 0 {
            host.add_to_counter(counter.id, n);
        }
    }
}

/// What the stream tells the host after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    /// A local reply was sent or the stream was reset: stop iteration.
    Stop,
}

/// The line logged at critical level when the filter panics (never expected: nothing reachable
/// from a request may panic, and a panic traps the worker's VM, so the operator must see where
/// and why). `payload` is the panic's payload: a `&str` or a `String` for `panic!` and friends.
pub fn panic_report(location: Option<(&str, u32, u32)>, payload: &dyn std::any::Any) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    let at = location.map_or_else(
        || "an unknown location".to_string(),
        |(file, line, column)| format!("{file}:{line}:{column}"),
    );
    format!(
        "iis-rewrite {} ({}) panicked at {at}: {message}; the VM traps now",
        crate::VERSION,
        crate::GIT_HASH
    )
}

#[cfg(test)]
mod tests {
    use super::panic_report;

    #[test]
    fn panic_report_names_the_location_and_the_message() {
        let r = panic_report(Some(("filter/src/x.rs", 12, 5)), &"index out of bounds");
        assert!(
            r.contains("panicked at filter/src/x.rs:12:5: index out of bounds"),
            "{r}"
        );
        assert!(r.contains(crate::VERSION), "{r}");
        let owned = String::from("formatted 42");
        assert!(panic_report(None, &owned).contains("an unknown location: formatted 42"));
        assert!(panic_report(None, &7u8).contains("(no message)"));
    }
}
