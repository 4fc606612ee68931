//! `--applicationhost`: a whole IIS server through `check`, `import`, `explain` and `envoy`, on
//! the fixtures of testdata/applicationhost/.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::run;
use serde_json::Value;

const CONTOSO: &str = "testdata/applicationhost/contoso/applicationHost.config";
const API_ROOT: &str = "Contoso API=testdata/applicationhost/contoso/api-site";
const LYNC: &str = "testdata/applicationhost/lync/applicationHost.config";

#[test]
fn check_reports_each_site_its_sources_and_what_is_left_to_the_upstream() {
    let r = run(&[
        "check",
        "--applicationhost",
        CONTOSO,
        "--site-root",
        API_ROOT,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = &r.stdout;
    for expected in [
        "site \"Default Web Site\" (id 1): ok: 4 rules, 2 global rules,",
        "  binding net.tcp 808:*: not served: protocol \"net.tcp\" is not HTTP",
        "  read: web.config testdata/applicationhost/contoso/inetpub/wwwroot/web.config",
        "  read for /wiki/: web.config testdata/applicationhost/contoso/inetpub/wiki/web.config",
        "<defaultDocument> (testdata/applicationhost/contoso/inetpub/wwwroot/web.config:6:5)",
        "site \"Contoso Shop\" (id 2): ok: 2 rules, 2 global rules,",
        "  binding https *:443:shop.contoso.example: its certificate is in the Windows \
         certificate store; name its PEM files with `envoy --certificate \
         shop.contoso.example=CERT,KEY`",
        "  read: <location path=\"Contoso Shop\"> at \
         testdata/applicationhost/contoso/applicationHost.config:148:3",
        "  read for /admin/: <location> at \
         testdata/applicationhost/contoso/applicationHost.config:177:3",
        "<security> (testdata/applicationhost/contoso/applicationHost.config:150:7)",
        "site \"Contoso API\" (id 3): ok: 2 rules, 2 global rules,",
        "  read: web.config testdata/applicationhost/contoso/api-site/web.config",
        "site \"Legacy FTP\" (id 4): ok: 0 rules, 2 global rules,",
        "  binding ftp *:21:: not served",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
    // The /admin <location> rule is imported; the shop's catch-all before it (inherited, so it
    // runs first, as in IIS) leaves it unreachable, which is reported once.
    let admin: Vec<&str> = r
        .warnings()
        .into_iter()
        .filter(|l| l.contains("rule \"Admin to the back office\": is unreachable"))
        .collect();
    assert_eq!(admin.len(), 1, "{}", r.stderr);
    assert!(admin[0].starts_with("testdata/applicationhost/contoso/applicationHost.config:181:11:"));
    assert!(!r.stderr.contains("not imported"), "{}", r.stderr);
    // Without --site-root the API's web.config is looked for under its physicalPath.
    let r = run(&["check", "--applicationhost", CONTOSO]);
    assert!(r
        .stdout
        .contains("site \"Contoso API\" (id 3): ok: 0 rules, 2 global rules,"));
    assert!(r
        .stdout
        .contains("  no web.config in testdata/applicationhost/contoso/inetpub/api"));
}

#[test]
fn an_error_in_a_site_web_config_is_located_there_and_refuses_that_site() {
    let dir = std::env::temp_dir().join(format!("iis-ah-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("web.config"),
        "<configuration><system.webServer><rewrite><rules>\n  <rule name=\"bad\"><match url=\"(\" /></rule>\n</rules></rewrite></system.webServer></configuration>\n",
    )
    .unwrap();
    let root = format!("Contoso API={}", dir.display());
    let r = run(&["check", "--applicationhost", CONTOSO, "--site-root", &root]);
    assert_eq!(r.code, 1);
    let errors = r.errors();
    assert_eq!(errors.len(), 1, "{}", r.stderr);
    assert!(
        errors[0].starts_with(&format!("{}:2:", dir.join("web.config").display())),
        "{}",
        errors[0]
    );
    assert!(r
        .stdout
        .contains("site \"Contoso API\" (id 3): refused: 1 error(s)"));
    assert!(r.stdout.contains("site \"Contoso Shop\" (id 2): ok:"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn import_writes_one_rule_set_per_site_with_the_global_rules_first() {
    let r = run(&[
        "import",
        "--applicationhost",
        CONTOSO,
        "--site-root",
        API_ROOT,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["defaultRuleSet"], "default");
    let sets = v["ruleSets"].as_object().unwrap();
    let names: Vec<&str> = sets.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "contoso api",
            "contoso shop",
            "default",
            "default web site",
            "legacy ftp"
        ]
    );
    let api = &sets["contoso api"];
    assert_eq!(
        api["globalRules"][0]["name"],
        "Block source-control folders"
    );
    assert_eq!(api["rules"][0]["name"], "v1 is served by v2");
    assert_eq!(api["webFarms"].as_array().unwrap().len(), 2);
    assert_eq!(
        sets["contoso shop"]["allowedServerVariables"][1],
        "HTTP_X_FORWARDED_PROTO"
    );
    // One site alone.
    let r = run(&[
        "import",
        "--applicationhost",
        CONTOSO,
        "--site",
        "CONTOSO SHOP",
    ]);
    let one: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(one["rules"][0]["name"], "Shop to its farm");
    assert_eq!(one["rules"][1]["name"], "Admin to the back office");
    assert_eq!(one["rules"][1]["directory"], "/admin/");
    assert_eq!(one["rules"].as_array().unwrap().len(), 2);
    let site = &sets["default web site"]["rules"];
    assert_eq!(site[2]["name"], "Wiki pages");
    assert_eq!(site[2]["directory"], "/wiki/");
    assert!(site[0].get("directory").is_none());
}

#[test]
fn explain_runs_an_application_rule_on_the_url_relative_to_it() {
    let explain = |url: &str| {
        let r = run(&[
            "explain",
            "--applicationhost",
            CONTOSO,
            "--site",
            "Default Web Site",
            "--url",
            url,
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
    };
    let out = explain("http://intranet/Wiki/page/Main?x=1");
    for expected in [
        "rule \"Wiki pages\"\n  directory: /wiki/ (the input is the URL relative to it)\n  \
         match: input \"page/Main\" pattern \"^page/([^/]+)$\" -> matched",
        "decision: rewrite to /wiki/index.php?title=Main&x=1",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
    // The site's rules ran first, on the whole URL.
    assert!(out.contains("rule \"Docs from the docs server\"\n  match: input \"Wiki/page/Main\""));
    let out = explain("http://intranet/wiki/w/Home");
    assert!(
        out.contains("decision: redirect 302, Location: /wiki/page/Home"),
        "{out}"
    );
    // Outside /wiki the rule does not apply at all.
    let out = explain("http://intranet/page/Main");
    assert!(
        out.contains(
            "rule \"Wiki pages\"\n  not applied: the URL is not under its directory /wiki/"
        ),
        "{out}"
    );
    assert!(out.contains("decision: continue"), "{out}");
}

#[test]
fn explain_picks_the_site_by_binding_or_by_name() {
    let r = run(&[
        "explain",
        "--applicationhost",
        LYNC,
        "--url",
        "https://meet.contoso.com/alice/X1",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("site \"Default Web Site\"\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("proxy to server farm meet.contoso.com over https"),
        "{}",
        r.stdout
    );

    let r = run(&[
        "explain",
        "--applicationhost",
        CONTOSO,
        "--url",
        "http://api.contoso.example:8080/v1/a",
        "--json",
        "--site-root",
        API_ROOT,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let fired: Vec<&str> = v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["fired"].as_bool() == Some(true))
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(fired, ["v1 is served by v2", "API farm"]);

    // A path and a Host header choose the site the same way.
    let r = run(&[
        "explain",
        "--applicationhost",
        CONTOSO,
        "--url",
        "/cart",
        "-H",
        "Host: shop.contoso.example",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("site \"Contoso Shop\"\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("redirect"), "{}", r.stdout);

    // Port 8080 with another host name: no binding takes it.
    let r = run(&[
        "explain",
        "--applicationhost",
        CONTOSO,
        "--url",
        "http://www.contoso.example:8080/",
    ]);
    assert_eq!(r.code, 2);
    assert!(r
        .stderr
        .contains("no site has a binding for http://www.contoso.example:8080"));
    let r = run(&[
        "explain",
        "--applicationhost",
        CONTOSO,
        "--site",
        "Contoso Shop",
        "--url",
        "/x",
    ]);
    assert!(r.stdout.contains("Shop to its farm"), "{}", r.stdout);
}

#[test]
fn envoy_needs_a_certificate_for_store_bindings_and_reports_the_rest() {
    let r = run(&[
        "envoy",
        "--applicationhost",
        CONTOSO,
        "--wasm",
        "/f.wasm",
        "--bind",
        "80=127.0.0.1:18080",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains(
        "warning: site \"Contoso Shop\" binding https *:443:shop.contoso.example is not served: \
         its certificate is in the Windows certificate store; name its PEM files with \
         --certificate shop.contoso.example=CERT,KEY"
    ));
    let y = &r.stdout;
    assert!(y.contains("name: \"http-80\"") && y.contains("port_value: 18080"));
    assert!(y.contains("name: \"http-8080\"") && y.contains("port_value: 8080"));
    assert!(!y.contains("https-443"));
    assert!(y.contains("\"shop.contoso.example:80\""));
    assert!(y.contains("name: \"iis-farm|http|shop-farm\""));
    // --listen belongs to the single-file form.
    let r = run(&[
        "envoy",
        "--applicationhost",
        CONTOSO,
        "--wasm",
        "/f.wasm",
        "--listen",
        "127.0.0.1:1",
    ]);
    assert_eq!(r.code, 2);
}

#[test]
fn server_options_need_the_server_and_exclude_the_one_file_form() {
    let jellyfin = "testdata/webconfigs/jellyfin-basic.config";
    for args in [
        vec!["check", jellyfin, "--site-root", "A=dir"],
        vec!["check", jellyfin, "--drive-root", "dir"],
        vec!["import", jellyfin, "--site", "A"],
        vec!["explain", jellyfin, "--url", "/", "--site", "A"],
        vec![
            "envoy",
            jellyfin,
            "--wasm",
            "x",
            "--listen",
            "127.0.0.1:1",
            "--certificate",
            "a=b,c",
        ],
        vec![
            "envoy",
            jellyfin,
            "--wasm",
            "x",
            "--listen",
            "127.0.0.1:1",
            "--bind",
            "80=127.0.0.1:1",
        ],
    ] {
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("--applicationhost"),
            "{args:?}: {}",
            r.stderr
        );
    }
    for (args, with) in [
        (vec!["check", jellyfin, "--applicationhost", LYNC], "FILE"),
        (
            vec!["check", "--applicationhost", LYNC, "--config-dir", "x"],
            "--config-dir",
        ),
        (
            vec![
                "envoy",
                "--applicationhost",
                LYNC,
                "--wasm",
                "x",
                "--site",
                "a.example=x",
            ],
            "--site",
        ),
        (
            vec![
                "envoy",
                "--applicationhost",
                LYNC,
                "--wasm",
                "x",
                "--https-listen",
                "127.0.0.1:1",
                "--tls-cert",
                "c",
                "--tls-key",
                "k",
            ],
            "--https-listen",
        ),
    ] {
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr
                .contains(&format!("--applicationhost cannot be used with {with} ")),
            "{args:?}: {}",
            r.stderr
        );
    }
}

/// A server written to a temporary directory; returns its applicationHost.config path.
fn server_file(name: &str, sites: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("iis-ah-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("applicationHost.config");
    std::fs::write(
        &path,
        format!(
            "<configuration><system.applicationHost><sites>\n{sites}</sites>\
             </system.applicationHost></configuration>\n"
        ),
    )
    .unwrap();
    path
}

fn site(name: &str, bindings: &[(&str, &str)]) -> String {
    let b: String = bindings
        .iter()
        .map(|(p, i)| format!("<binding protocol=\"{p}\" bindingInformation=\"{i}\" />\n"))
        .collect();
    format!("<site name=\"{name}\"><bindings>\n{b}</bindings></site>\n")
}

#[test]
fn bindings_of_one_site_share_its_virtual_host_and_duplicates_are_refused() {
    let sites = site(
        "A",
        &[
            ("http", "*:80:"),
            ("http", "*:80:a.example"),
            ("https", "*:443:a.example"),
        ],
    ) + &site(
        "B",
        &[("http", "*:80:b.example"), ("https", "*:443:*.b.example")],
    );
    let path = server_file("vhosts", &sites);
    let p = path.to_str().unwrap();
    let r = run(&[
        "envoy",
        "--applicationhost",
        p,
        "--wasm",
        "/f.wasm",
        "--certificate",
        "a.example=/a.pem,/a.key",
        "--certificate",
        "*.b.example=/b.pem,/b.key",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let y = &r.stdout;
    // Port 80: A for every host and for a.example, in one virtual host; B for b.example. Port
    // 443 has two filter chains (one per certificate), each with the route configuration: A's
    // virtual host appears once per connection manager.
    assert_eq!(y.matches("name: \"site-a\"").count(), 3, "{y}");
    let port80 = y.split("name: \"https-443\"").next().unwrap();
    let a = port80.split("name: \"site-a\"").nth(1).unwrap();
    let a_domains = a.split("routes:").next().unwrap();
    for d in ["\"*\"", "\"a.example\"", "\"a.example:80\""] {
        assert!(a_domains.contains(d), "{d} in {a_domains}");
    }
    // Port 443: two certificates chosen by SNI, and the inspector that reads it.
    assert!(
        y.contains("server_names:") && y.contains("\"*.b.example\""),
        "{y}"
    );
    assert!(y.contains("envoy.filters.listener.tls_inspector"));
    assert!(y.contains("/b.pem") && y.contains("/a.pem"));
    // 443 binds only host names: other hosts get HTTP.sys's 400.
    assert!(y.contains("Bad Request - Invalid Hostname"));

    let dup = site("A", &[("http", "*:80:x.example")]) + &site("B", &[("http", "*:80:X.example")]);
    let path = server_file("dup", &dup);
    let r = run(&[
        "envoy",
        "--applicationhost",
        path.to_str().unwrap(),
        "--wasm",
        "/f.wasm",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(":6:1: error: site \"B\" binding http *:80:X.example: the same host name and port are bound by rule set \"a\" already"),
        "{}",
        r.stderr
    );
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn a_server_with_nothing_envoy_can_serve_is_refused() {
    let path = server_file("none", &site("F", &[("ftp", "*:21:"), ("https", "*:443:")]));
    let p = path.to_str().unwrap();
    let r = run(&["envoy", "--applicationhost", p, "--wasm", "/f.wasm"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("binding ftp *:21: is not served"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("--certificate *=CERT,KEY"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(&format!(
        "{p}: error: no site has a binding Envoy can serve"
    )));
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
