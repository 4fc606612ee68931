//! The engine alone, natively: nanoseconds per request for 0, 10, 100 and 1 000 rules (literal-
//! heavy and regex-heavy sets that the request cannot match), the Jellyfin rule sets (request
//! and response phase), and configure time for 1 000 rules. A counting allocator reports the
//! memory a 1 000-rule engine keeps and the allocations one Jellyfin request costs (printed
//! before the timings).
//!
//! `cargo bench -p iis-rewrite-filter --bench engine` (add `-- --quick` style criterion
//! arguments as usual; `BENCH_ENGINE_FAST=1` shortens every measurement for a smoke run).

// Benchmark inputs are fixed and valid: a failure to build them is a bug in this file, and
// aborting the benchmark with a message is the right reaction.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(native::benches);

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::hint::black_box;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::time::{Duration, Instant};

    use criterion::{BenchmarkId, Criterion};
    use iis_rewrite_filter::{Engine, FilterConfig, ResponseFacts, StaticRequest, StaticResponse};

    /// System allocator with live-byte, peak and call counters.
    struct Counting;

    static LIVE: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);
    static CALLS: AtomicUsize = AtomicUsize::new(0);

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            CALLS.fetch_add(1, Relaxed);
            let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(live, Relaxed);
            // SAFETY: forwarded unchanged to the system allocator.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            LIVE.fetch_sub(layout.size(), Relaxed);
            // SAFETY: `ptr` came from `alloc` above with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            CALLS.fetch_add(1, Relaxed);
            if new_size >= layout.size() {
                let live =
                    LIVE.fetch_add(new_size - layout.size(), Relaxed) + new_size - layout.size();
                PEAK.fetch_max(live, Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Relaxed);
            }
            // SAFETY: forwarded unchanged to the system allocator.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOC: Counting = Counting;

    pub const SIZES: [usize; 4] = [0, 10, 100, 1000];

    /// `n` anchored literal rules (`^app17/static/page\.html$` → Rewrite), none matching the
    /// benchmark request: the literal-prefix prefilter should make each one nearly free.
    pub fn literal_rules(n: usize) -> String {
        let rules: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"name":"lit{i}","match":{{"url":"^app{i}/static/page\\.html$"}},"action":{{"type":"Rewrite","url":"/s{i}/page.html"}}}}"#
                )
            })
            .collect();
        format!(r#"{{"rules":[{}]}}"#, rules.join(","))
    }

    /// `n` unanchored regex rules with captures and a user-agent condition, none matching.
    pub fn regex_rules(n: usize) -> String {
        let rules: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"name":"re{i}","match":{{"url":"(v{i}|api{i})/([0-9]+)/(.*)\\.(json|xml)$"}},"conditions":{{"items":[{{"input":"{{HTTP_USER_AGENT}}","pattern":"Mozilla/[0-9.]+ .*Build{i}"}}]}},"action":{{"type":"Rewrite","url":"/api/{{R:2}}/{{R:3}}.{{R:4}}"}}}}"#
                )
            })
            .collect();
        format!(r#"{{"rules":[{}]}}"#, rules.join(","))
    }

    fn case_config(file: &str) -> String {
        let path = format!("{}/../testdata/cases/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect(&path);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v.get("config").unwrap().to_string()
    }

    fn engine(json: &str) -> Engine {
        Engine::from_json(json.as_bytes()).unwrap()
    }

    fn request() -> StaticRequest {
        StaticRequest::get("jellyfin.example.com", "/web/index.html?v=10.9")
            .with_header(
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            )
            .with_header("accept", "text/html")
    }

    fn response() -> StaticResponse {
        StaticResponse::new(200)
            .with_header("content-type", "text/html; charset=utf-8")
            .with_header("content-length", "1234")
    }

    /// One request through both phases, as the glue drives it.
    fn both_phases(e: &Engine, req: &StaticRequest, resp: &dyn ResponseFacts) -> usize {
        let d = e.inbound(req);
        let edits = e.outbound_for_proxied(
            resp,
            &d.outbound_snapshot,
            &d.response_headers,
            d.reverse_rewrite.as_ref(),
        );
        d.request_headers.len() + edits.len()
    }

    /// Memory and allocation figures (printed once, before the timings).
    fn report() {
        let json = regex_rules(1000);
        let config = FilterConfig::from_json(json.as_bytes()).unwrap();
        let before = LIVE.load(Relaxed);
        PEAK.store(before, Relaxed);
        let t = Instant::now();
        let e = Engine::compile(&config).unwrap();
        let took = t.elapsed();
        let kept = LIVE.load(Relaxed) - before;
        let peak = PEAK.load(Relaxed) - before;
        println!(
            "engine-report configure_1000_regex_rules time_ms={:.2} kept_bytes={kept} peak_bytes={peak}",
            took.as_secs_f64() * 1e3
        );
        drop(e);
        let json = literal_rules(1000);
        let config = FilterConfig::from_json(json.as_bytes()).unwrap();
        let before = LIVE.load(Relaxed);
        PEAK.store(before, Relaxed);
        let t = Instant::now();
        let e = Engine::compile(&config).unwrap();
        let took = t.elapsed();
        println!(
            "engine-report configure_1000_literal_rules time_ms={:.2} kept_bytes={} peak_bytes={}",
            took.as_secs_f64() * 1e3,
            LIVE.load(Relaxed) - before,
            PEAK.load(Relaxed) - before
        );
        drop(e);
        for file in ["jellyfin-basic.json", "jellyfin-advanced.json"] {
            let e = engine(&case_config(file));
            let req = request();
            let resp = response();
            both_phases(&e, &req, &resp);
            let calls = CALLS.load(Relaxed);
            both_phases(&e, &req, &resp);
            println!(
                "engine-report allocations_per_request {file} {}",
                CALLS.load(Relaxed) - calls
            );
        }
    }

    fn sized(c: &mut Criterion, group: &str, make: fn(usize) -> String) {
        let mut g = c.benchmark_group(group);
        let req = request();
        for n in SIZES {
            let e = engine(&make(n));
            g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
                b.iter(|| black_box(e.inbound(black_box(&req))))
            });
        }
        g.finish();
    }

    fn rule_counts(c: &mut Criterion) {
        report();
        sized(c, "inbound_literal_rules", literal_rules);
        sized(c, "inbound_regex_rules", regex_rules);
    }

    fn jellyfin(c: &mut Criterion) {
        let mut g = c.benchmark_group("jellyfin");
        let req = request();
        let resp = response();
        for (name, file) in [
            ("basic", "jellyfin-basic.json"),
            ("advanced", "jellyfin-advanced.json"),
        ] {
            let e = engine(&case_config(file));
            g.bench_function(format!("{name}_inbound"), |b| {
                b.iter(|| black_box(e.inbound(black_box(&req))))
            });
            g.bench_function(format!("{name}_both_phases"), |b| {
                b.iter(|| black_box(both_phases(&e, black_box(&req), &resp)))
            });
        }
        g.finish();
    }

    fn configure(c: &mut Criterion) {
        let mut g = c.benchmark_group("configure");
        g.sample_size(10);
        for (name, make) in [
            ("1000_literal_rules", literal_rules as fn(usize) -> String),
            ("1000_regex_rules", regex_rules),
        ] {
            let json = make(1000);
            g.bench_function(name, |b| {
                b.iter(|| black_box(Engine::from_json(black_box(json.as_bytes())).is_ok()))
            });
        }
        g.finish();
    }

    fn config() -> Criterion {
        let fast = std::env::var_os("BENCH_ENGINE_FAST").is_some();
        let (warm, measure) = if fast { (0.3, 0.7) } else { (1.0, 3.0) };
        Criterion::default()
            .warm_up_time(Duration::from_secs_f64(warm))
            .measurement_time(Duration::from_secs_f64(measure))
            .sample_size(if fast { 10 } else { 40 })
    }

    criterion::criterion_group! {
        name = benches;
        config = config();
        targets = rule_counts, jellyfin, configure
    }
}
