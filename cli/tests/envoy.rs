//! `iis-rewrite envoy`: usage errors, refused configurations, and the generated bootstrap
//! carrying the filter configuration and one cluster per upstream. (Real-Envoy validation of the
//! output is in the e2e suite.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::{run, scratch};

const JF: &str = "testdata/webconfigs/jellyfin-basic.config";

#[test]
fn usage_mistakes_exit_2() {
    for args in [
        vec!["envoy", JF],
        vec!["envoy", JF, "--wasm", "f.wasm"],
        vec!["envoy", JF, "--listen", "127.0.0.1:8080"],
        vec![
            "envoy",
            JF,
            "--wasm",
            "f.wasm",
            "--listen",
            "127.0.0.1:8080",
            "--https-listen",
            "127.0.0.1:8443",
        ],
        vec![
            "envoy",
            JF,
            "--wasm",
            "f.wasm",
            "--listen",
            "127.0.0.1:8080",
            "--https-listen",
            "127.0.0.1:8443",
            "--tls-cert",
            "c.pem",
        ],
        vec![
            "envoy",
            JF,
            "--wasm",
            "f.wasm",
            "--listen",
            "127.0.0.1:8080",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ],
        vec![
            "envoy",
            JF,
            "--wasm",
            "f.wasm",
            "--listen",
            "127.0.0.1:8080",
            "--xff-trusted-hops",
            "many",
        ],
    ] {
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty());
    }
}

#[test]
fn invalid_configuration_exits_1_with_located_errors() {
    let r = run(&[
        "envoy",
        "testdata/broken/server-variable-not-allowed.config",
        "--wasm",
        "f.wasm",
        "--listen",
        "127.0.0.1:8080",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr
            .starts_with("testdata/broken/server-variable-not-allowed.config:13:18: error: "),
        "{}",
        r.stderr
    );
}

/// Decodes a YAML double-quoted scalar (the escapes the generator uses).
fn yaml_unquote(s: &str) -> String {
    let inner = s
        .trim()
        .strip_prefix('"')
        .unwrap()
        .strip_suffix('"')
        .unwrap();
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next().unwrap();
        let hex = |n: usize, chars: &mut std::str::Chars<'_>| {
            let h: String = chars.take(n).collect();
            char::from_u32(u32::from_str_radix(&h, 16).unwrap()).unwrap()
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            'x' => out.push(hex(2, &mut chars)),
            'u' => out.push(hex(4, &mut chars)),
            'U' => out.push(hex(8, &mut chars)),
            other => out.push(other),
        }
    }
    out
}

fn render(file: &str) -> String {
    let r = run(&[
        "envoy",
        file,
        "--wasm",
        "/opt/iis_rewrite_filter.wasm",
        "--listen",
        "127.0.0.1:10000",
    ]);
    assert_eq!(r.code, 0, "{file}: {}", r.stderr);
    r.stdout
}

/// The plugin configuration embedded in the bootstrap, parsed.
fn embedded_config(yaml: &str) -> serde_json::Value {
    let lines: Vec<&str> = yaml.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("type.googleapis.com/google.protobuf.StringValue"))
        .expect("a StringValue plugin configuration");
    let value = lines[at..]
        .iter()
        .find_map(|l| l.trim_start().strip_prefix("value: "))
        .expect("its value");
    serde_json::from_str(&yaml_unquote(value)).unwrap()
}

#[test]
fn bootstrap_embeds_the_imported_configuration_and_every_upstream() {
    for (file, clusters) in [
        ("jellyfin-basic.config", vec!["iis|http|localhost|8096"]),
        (
            "novnc-websocket.config",
            vec!["iis|http|127.0.0.1|6080", "iis|https|127.0.0.1|6080"],
        ),
        (
            "configsource-site.config",
            vec![
                "iis|http|10.0.0.11|8080",
                "iis|http|10.0.0.12|8080",
                "iis|https|gamma.internal.example|8443",
            ],
        ),
    ] {
        let path = format!("testdata/webconfigs/{file}");
        let yaml = render(&path);
        let imported: serde_json::Value =
            serde_json::from_str(&run(&["import", &path]).stdout).unwrap();
        assert_eq!(embedded_config(&yaml), imported, "{file}");
        for c in clusters {
            assert!(yaml.contains(&format!("\"{c}\"")), "{file}: no cluster {c}");
        }
        assert!(yaml.contains("/opt/iis_rewrite_filter.wasm"));
        assert!(yaml.contains("10000"));
    }
}

#[test]
fn json_input_and_output_file() {
    let dir = scratch("envoy-out");
    let json = dir.join("jf.json");
    assert_eq!(run(&["import", JF, "-o", json.to_str().unwrap()]).code, 0);
    let out = dir.join("envoy.yaml");
    let r = run(&[
        "envoy",
        json.to_str().unwrap(),
        "--wasm",
        "/opt/iis_rewrite_filter.wasm",
        "--listen",
        "127.0.0.1:10000",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), render(JF));
}
