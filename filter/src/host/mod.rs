//! The host side: everything that talks to Envoy. `stream` drives one HTTP stream through the
//! engine and reaches the proxy only through the [`Host`] trait below, so it runs natively in
//! tests against `recording`'s host; `proxy_wasm` (wasm32 only) implements `Host` with one
//! proxy-wasm call per method and registers the root and HTTP contexts.

pub mod body;
pub mod set_cookie;
pub mod stream;

#[cfg(test)]
pub(crate) mod recording;

// Left out of test builds so that the engine tests, compiled to wasm32-wasip1, run under a
// plain WASI runtime without the proxy-wasm host imports.
#[cfg(all(target_arch = "wasm32", not(test)))]
mod proxy_wasm;

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
    /// Adds one more value of a header that may repeat (`Set-Cookie`).
    fn add_response_header(&self, name: &str, value: &[u8]);
    fn send_response(&self, status: u32, headers: &[(&str, &str)], body: &[u8]);
    /// Resets the stream: no response at all (AbortRequest).
    fn reset_stream(&self);
    /// Adds one to a counter defined at configure time.
    fn increment_counter(&self, id: u32);

    // Response bodies (`body`): only called for responses the body rules rewrite.
    /// `size` bytes from `start` of the response body chunk Envoy holds now.
    fn response_body(&self, start: usize, size: usize) -> Option<Vec<u8>>;
    /// Replaces the first `size` bytes of the chunk Envoy holds (all of it) by `bytes`.
    fn replace_response_body(&self, size: usize, bytes: &[u8]);
    /// Counts what happened to a response body.
    fn body_event(&self, event: body::BodyEvent);
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
