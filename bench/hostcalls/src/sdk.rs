//! The variants on the Rust SDK (the same SDK and version as the filter).

use std::hint::black_box;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MapType, MetricType};

use crate::variant::{
    rewritten_path, Variant, CLUSTER_HEADER, METRICS, REQUEST_READS, RESPONSE_READS,
    RESPONSE_WRITES,
};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> {
        Box::new(Root { variant: Variant::Nothing, metrics: Vec::new() })
    });
}}

struct Root {
    variant: Variant,
    metrics: Vec<u32>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = self.get_plugin_configuration().unwrap_or_default();
        let Some(variant) = Variant::parse(&config) else {
            let _ = hostcalls::log(LogLevel::Error, "hostcalls bench: unknown variant");
            return false;
        };
        self.variant = variant;
        if variant == Variant::Metrics {
            self.metrics = METRICS
                .iter()
                .filter_map(|name| hostcalls::define_metric(MetricType::Counter, name).ok())
                .collect();
        }
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            variant: self.variant,
            metrics: self.metrics.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Stream {
    variant: Variant,
    metrics: Vec<u32>,
}

impl Context for Stream {}

const REQ: MapType = MapType::HttpRequestHeaders;
const RESP: MapType = MapType::HttpResponseHeaders;

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        match self.variant {
            Variant::RequestGetEach => {
                for name in REQUEST_READS {
                    let _ = black_box(hostcalls::get_map_value_bytes(REQ, name));
                }
            }
            Variant::RequestGetPairs => {
                let pairs = hostcalls::get_map_bytes(REQ).unwrap_or_default();
                for name in REQUEST_READS {
                    black_box(pairs.iter().find(|(k, _)| k == name));
                }
            }
            Variant::RequestSetEach => {
                let path = hostcalls::get_map_value_bytes(REQ, ":path")
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                let _ = hostcalls::set_map_value_bytes(REQ, ":path", Some(&rewritten_path(&path)));
                let _ = hostcalls::set_map_value_bytes(REQ, CLUSTER_HEADER, Some(b"b"));
                let _ = hostcalls::set_map_value_bytes(REQ, "x-forwarded-proto", Some(b"http"));
                let _ = hostcalls::set_map_value_bytes(REQ, "x-original-url", Some(&path));
            }
            Variant::RequestSetPairs => {
                let mut pairs = hostcalls::get_map_bytes(REQ).unwrap_or_default();
                let path = pairs
                    .iter()
                    .find(|(k, _)| k == ":path")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                replace(&mut pairs, ":path", rewritten_path(&path));
                replace(&mut pairs, CLUSTER_HEADER, b"b".to_vec());
                replace(&mut pairs, "x-forwarded-proto", b"http".to_vec());
                replace(&mut pairs, "x-original-url", path);
                let _ = hostcalls::set_map_bytes(REQ, borrowed(&pairs));
            }
            Variant::Metrics => {
                for id in &self.metrics {
                    let _ = hostcalls::increment_metric(*id, 1);
                }
            }
            Variant::SourceAddress => {
                let _ = black_box(hostcalls::get_property(vec!["source", "address"]));
            }
            Variant::LogLevel => {
                for _ in 0..2 {
                    let _ = black_box(hostcalls::get_log_level());
                }
            }
            Variant::Nothing | Variant::ResponseEach | Variant::ResponsePairs => {}
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        match self.variant {
            Variant::ResponseEach => {
                for name in RESPONSE_READS {
                    let _ = black_box(hostcalls::get_map_value_bytes(RESP, name));
                }
                for (name, value) in RESPONSE_WRITES {
                    let _ = hostcalls::set_map_value_bytes(RESP, name, Some(value));
                }
            }
            Variant::ResponsePairs => {
                let mut pairs = hostcalls::get_map_bytes(RESP).unwrap_or_default();
                for name in RESPONSE_READS {
                    black_box(pairs.iter().find(|(k, _)| k == name));
                }
                for (name, value) in RESPONSE_WRITES {
                    replace(&mut pairs, name, value.to_vec());
                }
                let _ = hostcalls::set_map_bytes(RESP, borrowed(&pairs));
            }
            _ => {}
        }
        Action::Continue
    }
}

/// Sets `name` in a copied header map: the first entry's value replaced and any later entries
/// of the same name dropped (what `proxy_replace_header_map_value` does), or appended.
fn replace(pairs: &mut Vec<(String, Vec<u8>)>, name: &str, value: Vec<u8>) {
    let mut value = Some(value);
    pairs.retain_mut(|(k, v)| {
        if k != name {
            return true;
        }
        match value.take() {
            Some(new) => {
                *v = new;
                true
            }
            None => false,
        }
    });
    if let Some(new) = value {
        pairs.push((name.to_string(), new));
    }
}

fn borrowed(pairs: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect()
}
