//! The upstream closure as `check` reports it: every upstream a configuration's proxy rules can
//! reach, and a located warning for each proxy target whose host only the request knows.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::{run, run_in, scratch};

#[test]
fn check_lists_every_static_host_and_warns_about_request_hosts() {
    let path = "testdata/webconfigs/proxy-target-hosts.config";
    let r = run(&["check", path]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().skip(1).collect();
    assert_eq!(
        lines,
        [
            "  reaches http://legacy.internal:8080 (cluster iis|http|legacy.internal|8080)",
            "  reaches http://billing.internal:5002 (cluster iis|http|billing.internal|5002)",
            "  reaches http://orders.internal:5001 (cluster iis|http|orders.internal|5001)",
            "  reaches http://shop.internal:8081 (cluster iis|http|shop.internal|8081)",
            "  reaches farm \"blue\" over http (cluster iis-farm|http|blue)",
            "  module: iis_rewrite_filter_headers.wasm or iis_rewrite_filter.wasm (no rules on \
             response bodies)",
        ]
    );
    let w = r.warnings();
    assert_eq!(w.len(), 1, "{}", r.stderr);
    assert!(
        w[0].starts_with(&format!(
            "{path}:47:34: warning: rule \"Tenant from the Host header\" <action> attribute url: \
             proxy target \"http://{{HTTP_HOST}}:8080/{{R:1}}\": its host comes from the request"
        )),
        "{}",
        w[0]
    );
}

fn check_rule(name: &str, rule: &str, maps: &str) -> common::Run {
    let dir = scratch(name);
    std::fs::write(
        dir.join("web.config"),
        format!(
            "<configuration><system.webServer><rewrite>\n<rewriteMaps>{maps}</rewriteMaps>\n<rules>\n{rule}\n</rules></rewrite></system.webServer></configuration>\n"
        ),
    )
    .unwrap();
    run_in(&dir, &["check", "web.config"])
}

fn reached(r: &common::Run) -> Vec<String> {
    r.stdout
        .lines()
        .skip(1)
        .filter(|l| l.trim_start().starts_with("reaches "))
        .map(|l| l.trim().split(" (cluster").next().unwrap().to_string())
        .collect()
}

#[test]
fn hosts_written_before_request_data_are_reached() {
    for (url, want) in [
        (
            "http://10.0.0.5:8080{REQUEST_URI}",
            "reaches http://10.0.0.5:8080",
        ),
        (
            "https://api.internal{URL}",
            "reaches https://api.internal:443",
        ),
        (
            "http://api.internal:81{R:1}",
            "reaches http://api.internal:81",
        ),
        (
            "http://api.internal{UNENCODED_URL}",
            "reaches http://api.internal:80",
        ),
    ] {
        let r = check_rule(
            "closure-literal",
            &format!("<rule name=\"p\"><match url=\"(.*)\" /><action type=\"Rewrite\" url=\"{url}\" /></rule>"),
            "",
        );
        assert_eq!(r.code, 0, "{url}: {}", r.stderr);
        assert_eq!(reached(&r), [want], "{url}");
        assert!(r.warnings().is_empty(), "{url}: {}", r.stderr);
    }
}

#[test]
fn hosts_built_from_request_data_are_warned_about() {
    for url in [
        "http://{HTTP_HOST}:8080/{R:1}",
        "http://{R:1}/x",
        "http://tenant-{R:1}.internal/",
        "https://{ToLower:{HTTP_HOST}}/",
    ] {
        let r = check_rule(
            "closure-request",
            &format!("<rule name=\"p\"><match url=\"(.*)\" /><action type=\"Rewrite\" url=\"{url}\" /></rule>"),
            "",
        );
        assert_eq!(r.code, 0, "{url}: {}", r.stderr);
        assert!(reached(&r).is_empty(), "{url}: {}", r.stdout);
        let w = r.warnings();
        assert_eq!(w.len(), 1, "{url}: {}", r.stderr);
        assert!(
            w[0].starts_with("web.config:4:59: warning: rule \"p\" <action> attribute url:"),
            "{url}: {}",
            w[0]
        );
    }
}

#[test]
fn condition_captures_that_are_not_the_whole_map_value_are_not_guessed() {
    let maps = "<rewriteMap name=\"m\"><add key=\"a\" value=\"one.internal\" /></rewriteMap>";
    // A pattern that captures part of the value, and a negated condition: {C:1} is not a map
    // value, so the host is unknown.
    for condition in [
        "<add input=\"{m:{R:1}}\" pattern=\"^(.+)\\.internal$\" />",
        "<add input=\"{m:{R:1}}\" pattern=\"(.+)\" negate=\"true\" />",
    ] {
        let rule = format!(
            "<rule name=\"p\"><match url=\"(.*)\" /><conditions>{condition}</conditions><action type=\"Rewrite\" url=\"http://{{C:1}}/\" /></rule>"
        );
        let r = check_rule("closure-partial", &rule, maps);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(reached(&r).is_empty(), "{condition}: {}", r.stdout);
        assert_eq!(r.warnings().len(), 1, "{condition}: {}", r.stderr);
    }
    // The whole value, through the last condition.
    let rule = "<rule name=\"p\"><match url=\"(.*)\" /><conditions><add input=\"{HTTP_HOST}\" pattern=\".\" /><add input=\"{m:{R:1}}\" pattern=\"^(.*)$\" /></conditions><action type=\"Rewrite\" url=\"http://{C:1}/\" /></rule>";
    let r = check_rule("closure-whole", rule, maps);
    assert_eq!(reached(&r), ["reaches http://one.internal:80"]);
    assert!(r.warnings().is_empty(), "{}", r.stderr);
}

#[test]
fn local_rewrites_reach_nothing_and_are_not_warned_about() {
    let r = check_rule(
        "closure-local",
        "<rule name=\"p\"><match url=\"(.*)\" /><action type=\"Rewrite\" url=\"/app/{R:1}\" /></rule>",
        "",
    );
    assert_eq!(r.code, 0);
    assert!(reached(&r).is_empty(), "{}", r.stdout);
    assert!(r.warnings().is_empty(), "{}", r.stderr);
}

#[test]
fn the_dynamic_allow_list_is_reported_and_changes_the_warning() {
    let dir = scratch("closure-dynamic");
    std::fs::write(
        dir.join("c.json"),
        r#"{"rules": [{"name": "t", "match": {"url": "^t/([^/]+)/(.*)"},
            "action": {"type": "Rewrite", "url": "http://{R:1}/{R:2}"}}],
           "proxy": {"dynamicUpstreams": [{"host": "*.tenants.test", "ports": [8080, 8443]}]}}"#,
    )
    .unwrap();
    let r = run_in(&dir, &["check", "c.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.lines().nth(1),
        Some(
            "  reaches *.tenants.test on port 8080, 8443 through the dynamic forward proxy \
             (clusters iis-dynamic|http, iis-dynamic|https)"
        )
    );
    let w = r.warnings();
    assert_eq!(w.len(), 1, "{}", r.stderr);
    assert!(
        w[0].contains(
            "reaches only the hosts of proxy.dynamicUpstreams (*.tenants.test:[8080, 8443])"
        ),
        "{}",
        w[0]
    );
    std::fs::write(
        dir.join("open.json"),
        r#"{"proxy": {"dynamicUpstreams": [{"host": "*", "ports": [80]}]}}"#,
    )
    .unwrap();
    let r = run_in(&dir, &["check", "open.json"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("open proxy"), "{}", r.stderr);
}
