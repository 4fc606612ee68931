//! The proxy-wasm glue (wasm32 only): Envoy callbacks in, [`Stream`] calls out, and [`Host`]
//! implemented with one proxy-wasm host call per method.
//!
//! The SDK's trait getters unwrap and would panic on an unexpected host status (a panic traps
//! the worker's VM, shared/envoy-proxy-wasm.md §7.3); the `hostcalls` functions used here return
//! the status instead, and a failed call degrades to "absent" rather than a crash.

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType};

use crate::compile::Engine;
use crate::stream::{Host, Stream, Verdict};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { engine: None }) });
}}

struct Root {
    engine: Option<Rc<Engine>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        log::info!(
            "iis-rewrite {} ({}) starting",
            crate::VERSION,
            crate::GIT_HASH
        );
        true
    }

    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        match Engine::from_json(&bytes) {
            Ok(engine) => {
                log::info!(
                    "iis-rewrite: configuration loaded: {} rules, {} upstreams",
                    engine.rule_count(),
                    engine.upstreams().len()
                );
                self.engine = Some(Rc::new(engine));
                true
            }
            Err(e) => {
                // Returning false makes Envoy refuse the configuration (startup fails, or the
                // LDS/ECDS update is rejected and the old rules stay).
                log::error!("iis-rewrite: configuration refused: {e}");
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Returning None would panic inside the SDK; without a configuration the stream fails
        // closed instead.
        Some(Box::new(Http {
            stream: self.engine.clone().map(Stream::new),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Http {
    stream: Option<Stream>,
}

/// The host as seen from one stream's callbacks.
struct ProxyWasmHost;

impl Host for ProxyWasmHost {
    fn request_header(&self, name: &str) -> Option<Vec<u8>> {
        hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name)
            .ok()
            .flatten()
    }

    fn set_request_header(&self, name: &str, value: Option<&str>) {
        if let Err(status) = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, value) {
            log::warn!("iis-rewrite: setting request header {name} failed: {status:?}");
        }
    }

    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        hostcalls::get_property(path.to_vec()).ok().flatten()
    }

    fn response_header(&self, name: &str) -> Option<Vec<u8>> {
        hostcalls::get_map_value_bytes(MapType::HttpResponseHeaders, name)
            .ok()
            .flatten()
    }

    fn set_response_header(&self, name: &str, value: Option<&str>) {
        if let Err(status) = hostcalls::set_map_value(MapType::HttpResponseHeaders, name, value) {
            log::warn!("iis-rewrite: setting response header {name} failed: {status:?}");
        }
    }

    fn send_response(&self, status: u32, headers: &[(&str, &str)], body: &[u8]) {
        let body = (!body.is_empty()).then_some(body);
        if let Err(s) = hostcalls::send_http_response(status, headers.to_vec(), body) {
            log::warn!("iis-rewrite: local reply {status} failed: {s:?}");
        }
    }

    fn reset_stream(&self) {
        if let Err(s) = hostcalls::reset_http_request() {
            log::warn!("iis-rewrite: stream reset failed: {s:?}");
        }
    }
}

fn action(v: Verdict) -> Action {
    match v {
        Verdict::Continue => Action::Continue,
        Verdict::Stop => Action::Pause,
    }
}

impl Context for Http {}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        match &mut self.stream {
            Some(stream) => action(stream.on_request_headers(&ProxyWasmHost)),
            None => {
                ProxyWasmHost.send_response(
                    503,
                    &[("content-type", "text/plain; charset=utf-8")],
                    b"iis-rewrite: no configuration\n",
                );
                Action::Pause
            }
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let Some(stream) = &mut self.stream {
            stream.on_response_headers(&ProxyWasmHost);
        }
        Action::Continue
    }
}
