//! `proxy.dynamicUpstreams`: a proxy target whose host the request decides reaches Envoy's
//! dynamic forward proxy only when its host and port are on the allow list; anything else is
//! refused with 502, and the list itself cannot open the proxy to every host.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use iis_rewrite_filter::{ConfigError, Engine, Outcome, StaticRequest};

fn engine(allow: &str) -> Engine {
    let json = format!(
        r#"{{
          "rules": [{{
            "name": "tenant",
            "match": {{ "url": "^t/([^/]+)/(.*)" }},
            "action": {{ "type": "Rewrite", "url": "http://{{R:1}}/{{R:2}}" }}
          }}],
          "proxy": {{ "preserveHostHeader": true, "dynamicUpstreams": {allow} }}
        }}"#
    );
    Engine::from_json(json.as_bytes()).expect("compiles")
}

fn outcome(e: &Engine, path: &str) -> Outcome {
    e.inbound(&StaticRequest::get("front.example", path))
        .outcome
}

#[test]
fn allowed_hosts_go_to_the_dynamic_forward_proxy_with_their_own_host() {
    let e = engine(
        r#"[{"host": "*.tenants.test", "ports": [8080]}, {"host": "localhost", "ports": [80]}]"#,
    );
    assert_eq!(
        outcome(&e, "/t/a.tenants.test:8080/x?y=1"),
        Outcome::Proxy {
            cluster: "iis-dynamic|http".into(),
            scheme: "http".into(),
            host: "a.tenants.test".into(),
            port: 8080,
            path: "/x?y=1".into(),
            authority: Some("a.tenants.test:8080".into()),
        }
    );
    match outcome(&e, "/t/localhost/z") {
        Outcome::Proxy {
            cluster, authority, ..
        } => {
            assert_eq!(cluster, "iis-dynamic|http");
            assert_eq!(authority.as_deref(), Some("localhost"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn hosts_and_ports_outside_the_list_are_refused() {
    let e = engine(r#"[{"host": "*.tenants.test", "ports": [8080]}]"#);
    for path in [
        "/t/a.tenants.test:8081/x",
        "/t/a.tenants.test/x",
        "/t/tenants.test:8080/x",
        "/t/evil.test:8080/x",
        "/t/a.tenants.test.evil.test:8080/x",
        "/t/127.0.0.1:8080/x",
    ] {
        match outcome(&e, path) {
            Outcome::Refuse { status: 502, .. } => {}
            other => panic!("{path}: {other:?}"),
        }
    }
}

#[test]
fn without_a_list_nothing_dynamic_is_reached() {
    let e = engine("[]");
    assert!(matches!(
        outcome(&e, "/t/localhost/z"),
        Outcome::Refuse { status: 502, .. }
    ));
}

#[test]
fn an_open_list_is_refused_at_load() {
    for allow in [
        r#"[{"host": "*", "ports": [80]}]"#,
        r#"[{"host": "*.", "ports": [80]}]"#,
        r#"[{"host": "localhost", "ports": []}]"#,
        r#"[{"host": "localhost", "ports": [0]}]"#,
    ] {
        let json = format!(r#"{{"proxy": {{"dynamicUpstreams": {allow}}}}}"#);
        match Engine::from_json(json.as_bytes()) {
            Err(ConfigError::UnknownValue { .. }) => {}
            other => panic!("{allow}: {other:?}"),
        }
    }
}
