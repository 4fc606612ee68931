//! A fixed amount of engine work for instruction-count profiles (`valgrind --tool=callgrind`),
//! where wall time on a shared machine is too noisy: `ITER` Jellyfin-advanced requests through
//! both phases. `PROFILE_SET=basic` uses the basic set, `empty` no rules.
//!
//! CARGO_PROFILE_BENCH_DEBUG=true CARGO_PROFILE_BENCH_STRIP=false \
//!   cargo bench -p iis-rewrite-filter --bench profile --no-run
//! valgrind --tool=callgrind target/release/deps/profile-*

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    use iis_rewrite_filter::{Engine, StaticRequest, StaticResponse};
    use std::hint::black_box;

    let set = std::env::var("PROFILE_SET").unwrap_or_default();
    let file = match set.as_str() {
        "basic" => "jellyfin-basic.json",
        _ => "jellyfin-advanced.json",
    };
    let iterations: usize = std::env::var("ITER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let path = format!("{}/../testdata/cases/{file}", env!("CARGO_MANIFEST_DIR"));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).unwrap();
    let config = if set == "empty" {
        r#"{"rules":[]}"#.to_string()
    } else {
        v.get("config").unwrap().to_string()
    };
    let e = Engine::from_json(config.as_bytes()).unwrap();
    let req = StaticRequest::get("jellyfin.example.com", "/web/index.html?v=10.9").with_header(
        "user-agent",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    );
    let resp = StaticResponse::new(200).with_header("content-type", "text/html; charset=utf-8");
    let mut n = 0;
    for _ in 0..iterations {
        let d = e.inbound(black_box(&req));
        let edits = e.outbound_for_proxied(
            &resp,
            &d.outbound_snapshot,
            &d.response_headers,
            d.reverse_rewrite.as_ref(),
        );
        n += d.request_headers.len() + edits.len();
    }
    println!("{n}");
}
