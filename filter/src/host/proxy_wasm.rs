//! The proxy-wasm glue (wasm32 only): Envoy callbacks in, [`Stream`] calls out, and [`Host`]
//! implemented with one proxy-wasm host call per method.
//!
//! The SDK's trait getters unwrap and would panic on an unexpected host status (a panic traps
//! the worker's VM, and Envoy then treats that worker's requests as the plugin's failure policy
//! says); the `hostcalls` functions used here return the status instead, and a failed call
//! degrades to "absent" rather than a crash.

use std::rc::Rc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MetricType};

use crate::engine::plugin::{metric_names, Plugin};
use crate::host::abi::{self, Map};
use crate::host::body::BodyEvent;
use crate::host::stream::Stream;
use crate::host::{flush_counters, Counter, HeaderMap, Host, SetMetrics, Verdict};

proxy_wasm::main! {{
    // Info until the host says otherwise (on_vm_start): with the SDK cap at Trace every
    // per-request `log::debug!` would format its arguments and cross into the host, which then
    // drops the line at Envoy's default level.
    proxy_wasm::set_log_level(LogLevel::Info);
    // After set_log_level, which installs the SDK's own hook (it unwraps the log call).
    install_panic_hook();
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> {
        Box::new(Root { plugin: None, metrics: None, retired: Vec::new() })
    });
}}

/// Logs any panic, with its message and location, at critical level before the VM traps.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| (l.file(), l.line(), l.column()));
        let report = crate::host::panic_report(location, info.payload());
        // Nothing else can be done if the host refuses the log line.
        let _ = hostcalls::log(LogLevel::Critical, &report);
    }));
}

struct Root {
    plugin: Option<Rc<Plugin>>,
    metrics: Option<Rc<Vec<SetMetrics>>>,
    /// Counters of replaced configurations that streams still in flight may count into;
    /// flushed on each tick until no stream holds them.
    retired: Vec<Rc<Vec<SetMetrics>>>,
}

/// How often the counts kept in the module are added to Envoy's counters, and the host's log
/// level is read again (`POST /logging?wasm=debug` takes effect within this period).
const TICK: Duration = Duration::from_secs(1);

impl Root {
    /// Adds every count kept in the module to Envoy's counters, and lets go of retired
    /// counters no stream holds any more.
    fn flush(&mut self) {
        for metrics in self.metrics.iter().chain(&self.retired) {
            flush_counters(metrics, &ProxyWasmHost);
        }
        self.retired.retain(|m| Rc::strong_count(m) > 1);
    }
}

/// Caps the SDK's log level at the host's, so disabled levels cost one comparison.
fn follow_host_log_level() {
    if let Ok(level) = hostcalls::get_log_level() {
        proxy_wasm::set_log_level(level);
    }
}

/// Whether this is the headers-only build (feature `headers-only`, scripts/build-wasm.sh): its
/// post-link step strips the body callbacks, so Envoy never enters it per body chunk, and it
/// cannot rewrite bodies.
const HEADERS_ONLY: bool = cfg!(feature = "headers-only");

/// Why this build cannot run `plugin`: the headers-only build refuses body rules, since
/// loading them would leave them unapplied without a word.
fn unrunnable_here(plugin: &Plugin) -> Option<String> {
    if !HEADERS_ONLY {
        return None;
    }
    let (set, _) = plugin.sets().iter().find(|(_, e)| e.has_body_rules())?;
    let set = match set.as_str() {
        "" => String::new(),
        name => format!(" (rule set \"{name}\")"),
    };
    Some(format!(
        "it has rules on response bodies{set}, which this headers-only build \
         (iis_rewrite_filter_headers.wasm) does not run; deploy iis_rewrite_filter.wasm"
    ))
}

/// Marks a counter whose definition failed (Envoy's ids encode the metric type in their low
/// bits and start near 0, so 0 cannot serve as "none").
const NO_COUNTER: u32 = u32::MAX;

fn counter_id(name: &str) -> u32 {
    hostcalls::define_metric(MetricType::Counter, name).unwrap_or(NO_COUNTER)
}

fn counter(name: &str) -> Counter {
    Counter::new(counter_id(name))
}

/// A count the engine keeps for the whole process (matches that ran out of backtracking budget,
/// values refused by the expansion limits), reported to one of Envoy's counters: each report
/// adds what is new since the last one (one atomic load when there is nothing new).
struct EngineCount {
    metric: AtomicU32,
    reported: AtomicU64,
    read: fn() -> u64,
}

impl EngineCount {
    const fn new(read: fn() -> u64) -> Self {
        EngineCount {
            metric: AtomicU32::new(NO_COUNTER),
            reported: AtomicU64::new(0),
            read,
        }
    }

    fn define(&self, name: &str) {
        self.metric.store(counter_id(name), Ordering::Relaxed);
    }

    fn report(&self) {
        let now = (self.read)();
        let before = self.reported.swap(now, Ordering::Relaxed);
        let id = self.metric.load(Ordering::Relaxed);
        if now > before && id != NO_COUNTER {
            let _ =
                hostcalls::increment_metric(id, i64::try_from(now - before).unwrap_or(i64::MAX));
        }
    }
}

static EXHAUSTED: EngineCount = EngineCount::new(crate::pattern::exhausted_count);
static LIMIT_HITS: EngineCount = EngineCount::new(metric_names::limit_hits);

/// Reports what the engine counted during a callback.
fn report_engine_counts() {
    EXHAUSTED.report();
    LIMIT_HITS.report();
}

/// The body counters' ids, in [`BodyEvent::ALL`] order (defined with each configuration).
static BODY_METRICS: [AtomicU32; 4] = [
    AtomicU32::new(NO_COUNTER),
    AtomicU32::new(NO_COUNTER),
    AtomicU32::new(NO_COUNTER),
    AtomicU32::new(NO_COUNTER),
];

fn define_body_metrics() {
    for (slot, event) in BODY_METRICS.iter().zip(BodyEvent::ALL) {
        slot.store(counter_id(event.metric_name()), Ordering::Relaxed);
    }
}

/// Defines the counters of every rule set (once per configuration).
fn define_metrics(plugin: &Plugin) -> Vec<SetMetrics> {
    plugin
        .sets()
        .iter()
        .map(|(set, engine)| SetMetrics {
            rule_hits: engine
                .rule_names()
                .map(|rule| counter(&metric_names::rule_hits(set, rule)))
                .collect(),
            actions: metric_names::ACTION_KINDS
                .iter()
                .map(|kind| counter(&metric_names::action(set, kind)))
                .collect(),
        })
        .collect()
}

impl Context for Root {
    /// The plugin is torn down (configuration replaced or Envoy draining): the last counts go
    /// to Envoy before the VM does.
    fn on_done(&mut self) -> bool {
        self.flush();
        true
    }
}

impl RootContext for Root {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        follow_host_log_level();
        log::info!(
            "iis-rewrite {} ({}) starting",
            crate::VERSION,
            crate::GIT_HASH
        );
        true
    }

    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        follow_host_log_level();
        let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        let loaded = Plugin::from_json(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|(plugin, warnings)| match unrunnable_here(&plugin) {
                Some(reason) => Err(reason),
                None => Ok((plugin, warnings)),
            });
        match loaded {
            Ok((plugin, warnings)) => {
                for (set, engine) in plugin.sets() {
                    log::info!(
                        "iis-rewrite: rule set \"{set}\" loaded: {} rules, {} upstreams",
                        engine.rule_count(),
                        engine.upstreams().len()
                    );
                }
                for w in warnings {
                    log::debug!("iis-rewrite: warning: {w}");
                }
                // Defined (at 0) with every accepted configuration, so dashboards and alerts
                // see the rejection counter before the first rejection.
                let _ = counter_id(metric_names::CONFIG_REJECTED);
                EXHAUSTED.define(metric_names::BACKTRACK_EXHAUSTED);
                LIMIT_HITS.define(metric_names::EXPANSION_LIMIT);
                define_body_metrics();
                if let Some(old) = self.metrics.replace(Rc::new(define_metrics(&plugin))) {
                    self.retired.push(old);
                }
                self.plugin = Some(Rc::new(plugin));
                if let Err(status) = hostcalls::set_tick_period(TICK) {
                    log::warn!("iis-rewrite: no timer ({status:?}): counters are not updated");
                }
                true
            }
            Err(reason) => {
                // Returning false makes Envoy refuse the configuration (startup fails, or the
                // LDS/ECDS update is rejected and the old rules stay).
                log::error!("iis-rewrite: configuration refused: {reason}");
                ProxyWasmHost.add_to_counter(counter_id(metric_names::CONFIG_REJECTED), 1);
                false
            }
        }
    }

    fn on_tick(&mut self) {
        self.flush();
        follow_host_log_level();
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Returning None would panic inside the SDK; without a configuration the stream fails
        // closed instead.
        Some(Box::new(Http {
            stream: self
                .plugin
                .clone()
                .map(|p| Stream::for_plugin(p, self.metrics.clone())),
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
        abi::header(Map::RequestHeaders, name).ok().flatten()
    }

    fn request_headers(&self) -> HeaderMap {
        abi::header_map(Map::RequestHeaders)
    }

    fn set_request_header(&self, name: &str, value: Option<&str>) {
        if let Err(status) = abi::set_header(Map::RequestHeaders, name, value.map(str::as_bytes)) {
            log::warn!("iis-rewrite: setting request header {name} failed: {status:?}");
        }
    }

    fn add_request_header(&self, name: &str, value: &str) {
        if let Err(status) = abi::add_header(Map::RequestHeaders, name, value.as_bytes()) {
            log::warn!("iis-rewrite: adding request header {name} failed: {status:?}");
        }
    }

    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        abi::property(path).ok().flatten()
    }

    fn response_header(&self, name: &str) -> Option<Vec<u8>> {
        abi::header(Map::ResponseHeaders, name).ok().flatten()
    }

    fn response_headers(&self) -> HeaderMap {
        abi::header_map(Map::ResponseHeaders)
    }

    fn set_response_header(&self, name: &str, value: Option<&str>) {
        if let Err(status) = abi::set_header(Map::ResponseHeaders, name, value.map(str::as_bytes)) {
            log::warn!("iis-rewrite: setting response header {name} failed: {status:?}");
        }
    }

    fn add_response_header(&self, name: &str, value: &[u8]) {
        if let Err(status) = abi::add_header(Map::ResponseHeaders, name, value) {
            log::warn!("iis-rewrite: adding response header {name} failed: {status:?}");
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

    fn add_to_counter(&self, id: u32, delta: u64) {
        if id != NO_COUNTER {
            let _ = hostcalls::increment_metric(id, i64::try_from(delta).unwrap_or(i64::MAX));
        }
    }

    fn response_body(&self, start: usize, size: usize) -> Option<Vec<u8>> {
        hostcalls::get_buffer(BufferType::HttpResponseBody, start, size)
            .ok()
            .map(Option::unwrap_or_default)
    }

    fn replace_response_body(&self, size: usize, bytes: &[u8]) {
        if let Err(s) = hostcalls::set_buffer(BufferType::HttpResponseBody, 0, size, bytes) {
            log::warn!("iis-rewrite: replacing the response body failed: {s:?}");
        }
    }

    fn body_event(&self, event: BodyEvent) {
        let index = BodyEvent::ALL.iter().position(|e| *e == event);
        if let Some(slot) = index.and_then(|i| BODY_METRICS.get(i)) {
            self.add_to_counter(slot.load(Ordering::Relaxed), 1);
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
            Some(stream) => {
                let verdict = stream.on_request_headers(&ProxyWasmHost);
                report_engine_counts();
                action(verdict)
            }
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
            report_engine_counts();
        }
        Action::Continue
    }

    // Body rules (host::body): each chunk is rewritten as it passes, never held in Envoy.
    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if let Some(stream) = &mut self.stream {
            stream.on_response_body(&ProxyWasmHost, body_size, end_of_stream);
        }
        Action::Continue
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        if let Some(stream) = &mut self.stream {
            stream.on_response_trailers(&ProxyWasmHost);
        }
        Action::Continue
    }
}
