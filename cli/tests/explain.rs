//! `iis-rewrite explain`: one request through the engine; assertions on the `--json` form.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::run;
use serde_json::{json, Value};

fn explain(file: &str, args: &[&str]) -> Value {
    let path = format!("testdata/webconfigs/{file}");
    let mut all = vec!["explain", path.as_str()];
    all.extend_from_slice(args);
    all.push("--json");
    let r = run(&all);
    assert_eq!(r.code, 0, "{file} {args:?}: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// (name, fired, stopped) of every traced rule.
fn fired(v: &Value) -> Vec<(String, bool, bool)> {
    v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["fired"].as_bool().unwrap(),
                r["stopped"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn rule<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no rule {name} in {v}"))
}

fn s(x: &str) -> String {
    x.to_string()
}

#[test]
fn jellyfin_web_is_rewritten_then_proxied() {
    let v = explain(
        "jellyfin-basic.config",
        &["--url", "http://media.example.com/web/"],
    );
    assert_eq!(
        fired(&v),
        [
            (s("ForwardedHttps"), false, false),
            (s("ForwardedHttp"), true, false),
            (s("Redirect"), false, false),
            (s("web"), true, false),
            (s("Proxy"), true, false),
        ]
    );
    let fh = rule(&v, "ForwardedHttp");
    assert_eq!(fh["input"], "web/");
    assert_eq!(fh["conditions"][0]["input"], "off");
    assert_eq!(fh["conditions"][0]["pattern"], "Off");
    assert_eq!(fh["conditions"][0]["matched"], true);
    assert_eq!(
        fh["set"],
        json!([
            ["HTTP_X_FORWARDED_PROTOCOL", "http"],
            ["HTTP_X_FORWARDED_PROTO", "http"]
        ])
    );
    // The Proxy rule sees the URL the "web" rule produced.
    let proxy = rule(&v, "Proxy");
    assert_eq!(proxy["input"], "web/index.html");
    assert_eq!(proxy["captures"], json!(["web/index.html"]));
    assert_eq!(proxy["conditions"][0]["input"], "/web/index.html");
    assert_eq!(proxy["conditions"][0]["negate"], true);
    assert_eq!(proxy["conditions"][0]["matched"], true);
    let d = &v["decision"];
    assert_eq!(
        d["outcome"],
        json!({"kind": "proxy", "cluster": "iis|http|localhost|8096", "scheme": "http",
               "host": "localhost", "port": 8096, "path": "/web/index.html",
               "authority": "localhost:8096"})
    );
    let headers = &d["request_headers"];
    for (name, value) in [
        ("x-forwarded-proto", "http"),
        ("x-forwarded-protocol", "http"),
        ("x-real-ip", "127.0.0.1"),
        ("x-forwarded-host", "media.example.com"),
        ("x-forwarded-port", "80"),
    ] {
        assert!(
            headers
                .as_array()
                .unwrap()
                .contains(&json!({"name": name, "value": value})),
            "{name}: {value} not in {headers}"
        );
    }
    assert_eq!(d["matched_rules"], json!(["ForwardedHttp", "web", "Proxy"]));
}

#[test]
fn jellyfin_root_over_https_redirects_to_web() {
    let v = explain(
        "jellyfin-basic.config",
        &["--url", "https://media.example.com/"],
    );
    assert_eq!(
        fired(&v),
        [
            (s("ForwardedHttps"), true, false),
            (s("ForwardedHttp"), false, false),
            (s("Redirect"), true, true),
        ]
    );
    assert_eq!(rule(&v, "ForwardedHttps")["conditions"][0]["input"], "on");
    let outcome = &v["decision"]["outcome"];
    assert_eq!(outcome["kind"], "redirect");
    assert_eq!(outcome["status"], 302);
    // A relative target is resolved against the site root, as IIS
    // resolves a relative Redirect url.
    let location = outcome["location"].as_str().unwrap();
    assert!(
        location == "/web/" || location == "https://media.example.com/web/",
        "{location}"
    );
}

#[test]
fn remote_address_host_header_and_https_flag_reach_the_variables() {
    let v = explain(
        "jellyfin-basic.config",
        &[
            "--url",
            "/Items/1/Images/Primary",
            "--https",
            "--remote-addr",
            "203.0.113.5",
            "-H",
            "Host: media.example.com:8920",
        ],
    );
    let headers = v["decision"]["request_headers"].as_array().unwrap().clone();
    for (name, value) in [
        ("x-forwarded-proto", "https"),
        ("x-real-ip", "203.0.113.5"),
        ("x-forwarded-host", "media.example.com:8920"),
        ("x-forwarded-port", "443"),
    ] {
        assert!(
            headers.contains(&json!({"name": name, "value": value})),
            "{name}: {value} not in {headers:?}"
        );
    }
    assert_eq!(v["decision"]["outcome"]["path"], "/Items/1/Images/Primary");
}

#[test]
fn http_is_redirected_to_https_with_its_query() {
    let v = explain(
        "https-redirect.config",
        &["--url", "http://example.com/a?b=1"],
    );
    assert_eq!(fired(&v), [(s("HTTP to HTTPS"), true, true)]);
    let r = rule(&v, "HTTP to HTTPS");
    assert_eq!(r["captures"], json!(["a", "a"]));
    assert_eq!(r["conditions"][0]["input"], "off");
    assert_eq!(r["conditions"][1]["input"], "/a?b=1");
    assert_eq!(
        v["decision"]["outcome"],
        json!({"kind": "redirect", "status": 301, "location": "https://example.com/a?b=1"})
    );
}

#[test]
fn acme_challenges_are_not_redirected() {
    let v = explain(
        "https-redirect.config",
        &["--url", "http://example.com/.well-known/acme-challenge/tok"],
    );
    assert_eq!(
        fired(&v),
        [
            (s("HTTP to HTTPS"), false, false),
            (s("ACME challenge"), true, true)
        ]
    );
    let c = &rule(&v, "HTTP to HTTPS")["conditions"];
    assert_eq!(c[1]["negate"], true);
    assert_eq!(c[1]["matched"], false);
    let o = &v["decision"]["outcome"];
    assert_eq!(o["kind"], "proxy");
    assert_eq!(o["cluster"], "iis|http|127.0.0.1|8089");
    assert_eq!(o["path"], "/.well-known/acme-challenge/tok");
}

#[test]
fn websocket_keeps_the_client_scheme() {
    let v = explain(
        "novnc-websocket.config",
        &[
            "--url",
            "wss://vnc.example.com/websockify",
            "-H",
            "Upgrade: websocket",
        ],
    );
    let r = rule(&v, "noVNC WebSocket");
    assert_eq!(
        r["conditions"][0]["input"],
        "wss://vnc.example.com/websockify"
    );
    assert_eq!(r["conditions"][0]["captures"], json!(["wss://", "wss"]));
    let o = &v["decision"]["outcome"];
    assert_eq!(o["kind"], "proxy");
    assert_eq!(o["scheme"], "wss");
    assert_eq!(
        (o["host"].as_str(), o["port"].as_u64()),
        (Some("127.0.0.1"), Some(6080))
    );
    assert_eq!(o["path"], "/websockify");
}

#[test]
fn rewrite_map_redirects() {
    let v = explain("redirect-map.config", &["--url", "/products.aspx?id=7"]);
    let r = rule(&v, "Legacy redirects");
    assert_eq!(r["conditions"][0]["input"], "/products/widget");
    assert_eq!(
        v["decision"]["outcome"],
        json!({"kind": "redirect", "status": 301, "location": "/products/widget"})
    );
    // A key that is not in the map: the default (empty) value fails "(.+)", the request goes on.
    let v = explain("redirect-map.config", &["--url", "/elsewhere"]);
    assert_eq!(
        fired(&v),
        [
            (s("Legacy redirects"), false, false),
            (s("Application"), true, true)
        ]
    );
}

#[test]
fn config_source_map_routes_by_host() {
    let v = explain(
        "configsource-site.config",
        &["--url", "http://beta.example.com/p?q"],
    );
    let o = &v["decision"]["outcome"];
    assert_eq!(o["cluster"], "iis|http|10.0.0.12|8080");
    assert_eq!(o["path"], "/p?q");
    let v = explain(
        "configsource-site.config",
        &["--url", "http://nobody.example.com/"],
    );
    assert_eq!(
        v["decision"]["outcome"],
        json!({"kind": "custom_response", "status": 404, "sub_status": 0,
               "reason": "Not Found", "body": "Unknown site"})
    );
}

#[test]
fn headers_and_global_rules() {
    let v = explain(
        "arr-farm-front.config",
        &["--url", "/x", "-H", "User-Agent: sqlmap/1.7"],
    );
    assert_eq!(fired(&v), [(s("Block bad bots"), true, true)]);
    assert_eq!(
        rule(&v, "Block bad bots")["conditions"][0]["input"],
        "sqlmap/1.7"
    );
    assert_eq!(v["decision"]["outcome"], json!({"kind": "abort"}));
}

#[test]
fn method_and_nothing_matching() {
    let v = explain(
        "rules-fragment.config",
        &["--url", "/app/page", "--method", "POST"],
    );
    assert_eq!(rule(&v, "SPA fallback")["conditions"][0]["input"], "POST");
    assert_eq!(v["decision"]["outcome"], json!({"kind": "continue"}));
    assert_eq!(v["decision"]["matched_rules"], json!([]));
}

#[test]
fn text_form_tells_the_same_story() {
    let r = run(&[
        "explain",
        "testdata/webconfigs/jellyfin-basic.config",
        "--url",
        "http://media.example.com/web/",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = &r.stdout;
    for needle in [
        "request: GET /web/ (Host media.example.com, HTTPS off)",
        "rule \"ForwardedHttp\"",
        "  condition 1: input \"off\" pattern \"Off\" -> true",
        "  set HTTP_X_FORWARDED_PROTO = \"http\"",
        "rule \"Proxy\"",
        "  match: input \"web/index.html\" pattern \".*\" -> matched",
        "decision: proxy to http://localhost:8096/web/index.html (cluster iis|http|localhost|8096, Host localhost:8096)",
        "  x-real-ip: 127.0.0.1",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    // The disabled rule's warning goes to stderr, never into the explanation.
    assert!(!out.contains("warning"));
    assert!(r.stderr.contains("warning: rule \"Redirect to https\""));
}

#[test]
fn explain_refuses_an_invalid_configuration() {
    let r = run(&[
        "explain",
        "testdata/broken/invalid-regex.config",
        "--url",
        "/",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    assert!(r
        .stderr
        .starts_with("testdata/broken/invalid-regex.config:7:18: error: "));
}

#[test]
fn bad_request_arguments_are_usage_errors() {
    let f = "testdata/webconfigs/jellyfin-basic.config";
    for args in [
        vec!["explain", f],
        vec!["explain", f, "--url", "example.com/a"],
        vec!["explain", f, "--url", "ftp://h/"],
        vec!["explain", f, "--url", "/", "--remote-addr", "localhost"],
        vec!["explain", f, "--url", "/", "-H", "no colon"],
    ] {
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty());
    }
}

#[test]
fn body_shows_what_the_walkthrough_rule_does_to_a_page() {
    let dir = common::scratch("explain-body");
    let page = dir.join("page.html");
    std::fs::write(
        &page,
        "<a href=\"/default.aspx?id=1\">link</a> <img src=\"/logo.png\">",
    )
    .unwrap();
    let page = page.to_str().unwrap();
    let config = "ms-reverse-proxy-walkthrough.config";
    let v = explain(config, &["--url", "/payroll/default.aspx", "--body", page]);
    assert_eq!(v["body"]["rules"], json!(["Add application prefix"]));
    // Only A is filtered; the folder comes from the condition on {URL}.
    assert_eq!(
        v["body"]["body"],
        "<a href=\"/payroll/default.aspx?id=1\">link</a> <img src=\"/logo.png\">"
    );
    let v = explain(
        config,
        &[
            "--url",
            "/payroll/logo.png",
            "--body",
            page,
            "--response-header",
            "Content-Type: image/png",
        ],
    );
    assert!(v["body"]["unchanged"]
        .as_str()
        .unwrap()
        .contains("no body rule applies"));
    assert!(v["body"].get("body").is_none());
}
