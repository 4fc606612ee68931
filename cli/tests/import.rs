//! `iis-rewrite import`: snapshot of the JSON written for every fixture (compared exactly), and
//! the JSON round trip. Re-bless the snapshots after an intended change with
//! `IIS_REWRITE_BLESS=1 cargo test -p iis-rewrite --test import` and review the diff.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::{root, run, run_in, scratch, FIXTURES};

fn snapshot_path(fixture: &str) -> std::path::PathBuf {
    let stem = fixture.trim_end_matches(".config");
    root()
        .join("testdata/snapshots")
        .join(format!("{stem}.json"))
}

#[test]
fn import_output_matches_the_snapshots() {
    let bless = std::env::var_os("IIS_REWRITE_BLESS").is_some();
    let mut failures = Vec::new();
    for (fixture, _) in FIXTURES {
        let r = run(&["import", &format!("testdata/webconfigs/{fixture}")]);
        assert_eq!(r.code, 0, "{fixture}: {}", r.stderr);
        let snap = snapshot_path(fixture);
        if bless {
            std::fs::write(&snap, &r.stdout).unwrap();
            continue;
        }
        match std::fs::read_to_string(&snap) {
            Ok(expected) if expected == r.stdout => {}
            Ok(expected) => failures.push(format!(
                "{fixture}: import output differs from {}\n--- expected\n{expected}\n--- got\n{}",
                snap.display(),
                r.stdout
            )),
            Err(_) => failures.push(format!(
                "{fixture}: no snapshot {} (run with IIS_REWRITE_BLESS=1)",
                snap.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn jellyfin_import_keeps_what_iis_has() {
    let r = run(&["import", "testdata/webconfigs/jellyfin-basic.config"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let rules = v["rules"].as_array().unwrap();
    let names: Vec<&str> = rules.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "Redirect to https",
            "ForwardedHttps",
            "ForwardedHttp",
            "Redirect",
            "web",
            "Proxy"
        ]
    );
    // The disabled rule stays, marked disabled; booleans are JSON booleans.
    assert_eq!(rules[0]["enabled"], false);
    assert_eq!(rules[0]["stopProcessing"], true);
    assert_eq!(rules[5]["action"]["logRewrittenUrl"], true);
    // Action-less rules have no action; their sets are kept in order.
    assert!(rules[1].get("action").is_none());
    assert_eq!(
        rules[1]["serverVariables"][1]["name"],
        "HTTP_X_FORWARDED_PROTO"
    );
    // No allowedServerVariables in the file: the key is absent (every name may be set).
    assert!(v.get("allowedServerVariables").is_none());
    assert_eq!(v["outboundRules"]["rules"][0]["preCondition"], "images");
    assert_eq!(
        v["outboundRules"]["preConditions"][0]["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // customHeaders after <clear/>; <caching> (another module) is not imported.
    assert_eq!(v["customHeaders"].as_array().unwrap().len(), 5);
    assert_eq!(v["customHeaders"][4]["value"], "noindex, nofollow");
    assert!(r.stdout.ends_with("}\n"));
}

#[test]
fn config_source_maps_are_inlined() {
    let r = run(&["import", "testdata/webconfigs/configsource-site.config"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["rewriteMaps"][0]["name"], "TenantBackends");
    assert_eq!(
        v["rewriteMaps"][0]["entries"][2]["value"],
        "https://gamma.internal.example:8443"
    );
}

#[test]
fn output_file_and_json_round_trip() {
    let dir = scratch("import-roundtrip");
    for (fixture, summary) in FIXTURES {
        let out = dir.join(fixture.replace(".config", ".json"));
        let src = root().join("testdata/webconfigs").join(fixture);
        let r = run(&["import", src.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{fixture}: {}", r.stderr);
        assert!(r.stdout.is_empty());
        let written = std::fs::read_to_string(&out).unwrap();
        assert_eq!(written, run(&["import", src.to_str().unwrap()]).stdout);
        // The JSON is accepted as input, says the same, and re-imports to itself.
        let name = out.file_name().unwrap().to_str().unwrap();
        let c = run_in(&dir, &["check", name]);
        assert_eq!(c.code, 0, "{fixture}: {}", c.stderr);
        assert_eq!(
            c.stdout.lines().next(),
            Some(format!("{name}: ok: {summary}").as_str())
        );
        let again = run_in(&dir, &["import", name]);
        assert_eq!(again.code, 0);
        assert_eq!(
            again.stdout, written,
            "{fixture}: JSON import is not idempotent"
        );
    }
}

#[test]
fn import_refuses_invalid_input_and_writes_nothing() {
    let dir = scratch("import-refused");
    let out = dir.join("out.json");
    let r = run(&[
        "import",
        "testdata/broken/unknown-action-type.config",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(!out.exists());
    assert!(
        r.stderr
            .starts_with("testdata/broken/unknown-action-type.config:8:19: error: "),
        "{}",
        r.stderr
    );
}

#[test]
fn unwritable_output_is_an_error() {
    let r = run(&[
        "import",
        "testdata/webconfigs/jellyfin-basic.config",
        "-o",
        "testdata/no-such-dir/out.json",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("testdata/no-such-dir/out.json: error: cannot write"),
        "{}",
        r.stderr
    );
}
