//! The floor of the benchmark: the least a proxy-wasm HTTP filter can do that still shows it ran.
//! Envoy creates the VM, a root context and one HTTP context per stream, calls the request and
//! response header callbacks, and the filter sets `x-bench-floor: 1` on every response. Whatever
//! this costs over Envoy without a filter is the price of entering the VM, which every
//! proxy-wasm filter pays before doing any work of its own.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MapType};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
}}

struct Root;

impl Context for Root {}

impl RootContext for Root {
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Floor))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Floor;

impl Context for Floor {}

impl HttpContext for Floor {
    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        // A failure cannot happen for a response-header callback; ignoring it keeps the floor
        // free of anything but the one host call.
        let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, "x-bench-floor", Some("1"));
        Action::Continue
    }
}
