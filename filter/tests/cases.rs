//! The native runner of the shared case corpus (`testdata/cases/*.json`): every case file is
//! compiled into an [`Engine`], every case's request is run through [`Engine::inbound`], and all
//! mismatches are reported together at the end (file, case, expected, got), never stopping at the
//! first. `IIS_CASES=<substring>` runs only the files or cases whose name contains it.
//!
//! # File format
//!
//! ```text
//! { "description": "...", "config": { FilterConfig JSON },
//!   "cases": [ { "name", "reference", "note"?, "request": {...}, "expect": {...} } ] }
//! { "description": "...", "config": {...}, "expectConfigError": "substring" | ["s1", "s2"] }
//! ```
//!
//! `request`: `method` (GET), `url` (the raw request target, becomes `:path`), `host`
//! (`:authority`, default `example.com`), `https` (false; true = TLS connection, HTTPS=on),
//! `remoteAddr` (`127.0.0.1:50000`), `localAddr` (`127.0.0.1:80`, or `:443` when https),
//! `headers` (name → value; names case-insensitive).
//!
//! `expect` (only the keys present are checked):
//! * `kind` (`continue|rewrite|proxy|redirect|custom_response|abort|refuse`) or `kindIn` (any of).
//! * `path` (rewrite, proxy), `cluster`, `host`, `port`, `scheme`, `authority` (proxy: the Host
//!   the upstream receives — the outcome's `authority`, else a `:authority` edit; `null` = the
//!   client's Host is kept), `status` (redirect, custom_response, refuse), `location`,
//!   `locationIn` (any of), `body`, `reason`, `subStatus` (custom_response).
//! * `requestHeaders`: lowercase name → value or `null`. The decision carries the *edits* the
//!   filter makes, so the runner takes the last edit of that name:
//!   - `"x": "v"` passes when the last edit sets `v`, or when there is no edit and the client
//!     sent exactly `v` (the header goes on untouched);
//!   - `"x": null` passes when the last edit removes the header, or when there is no edit and
//!     the client never sent it. An edit to the empty string does not count as removal.
//! * `responseHeaders`: the same against the response-header edits (no client fallback).
//! * `matchedRules`: the exact list of rule names whose pattern and conditions matched.
//! * `forbidCrLf`: no CR, LF or NUL in the path, location, authority, or any header edit.
//! * `forbidSubstrings`: none of these (case-insensitively) in path, location, authority,
//!   proxy host, cluster or any header edit value.
//! * `locationHostIn`: when the outcome has a Location, the host it points a browser to
//!   (`//h`, `/\h`, `\\h`, `scheme://h`) must be one of these; a plain relative path passes.
//!
//! Percent-escape hex case is not significant (`%2f` and `%2F` are the same byte): paths, locations
//! and header values are compared after upper-casing the two hex digits of every `%XX`.
//!
//! # Who runs the corpus
//!
//! This runner, natively (`cargo test`) and compiled to wasm32-wasip1 under wasmtime
//! (`scripts/test.sh`), so the engine is checked on the target it ships for. The stream tests in
//! `host::stream` also run two of the files through the per-stream host logic. No runner sends
//! these cases through a real Envoy: the end-to-end suite (`tests/e2e`, pytest) has its own tests
//! of the same behaviours on Envoy with the built wasm, where the client address, listener and
//! Envoy's own path normalisation are fixed by the harness rather than chosen per case.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use iis_rewrite_filter::{Decision, Engine, HeaderEdit, Outcome, Property, StaticRequest};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CaseFile {
    description: String,
    config: Value,
    #[serde(default)]
    expect_config_error: Option<OneOrMany>,
    #[serde(default)]
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn all(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Case {
    name: String,
    reference: String,
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
    request: Request,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Request {
    #[serde(default)]
    method: Option<String>,
    url: String,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    https: Option<bool>,
    #[serde(default)]
    remote_addr: Option<String>,
    #[serde(default)]
    local_addr: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Expect {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    kind_in: Option<Vec<String>>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    scheme: Option<String>,
    /// Absent: not checked; `null`: the client's Host is kept; a string: that Host is sent.
    #[serde(default, deserialize_with = "present")]
    authority: Option<Value>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    location_in: Option<Vec<String>>,
    #[serde(default)]
    location_host_in: Option<Vec<String>>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    sub_status: Option<u32>,
    #[serde(default)]
    request_headers: BTreeMap<String, Option<String>>,
    #[serde(default)]
    response_headers: BTreeMap<String, Option<String>>,
    #[serde(default)]
    matched_rules: Option<Vec<String>>,
    #[serde(default)]
    forbid_cr_lf: Option<bool>,
    #[serde(default)]
    forbid_substrings: Option<Vec<String>>,
}

/// Keeps an explicit `null` apart from an absent key.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/cases")
}

fn build_request(r: &Request) -> StaticRequest {
    let host = r.host.as_deref().unwrap_or("example.com");
    let https = r.https.unwrap_or(false);
    let mut req = StaticRequest::get(host, &r.url);
    if let Some(m) = &r.method {
        req = req.with_header(":method", m);
    }
    let local = r.local_addr.clone().unwrap_or_else(|| {
        if https {
            "127.0.0.1:443"
        } else {
            "127.0.0.1:80"
        }
        .to_string()
    });
    req = req.with_property(Property::DestinationAddress, local);
    if let Some(a) = &r.remote_addr {
        req = req.with_property(Property::SourceAddress, a);
    }
    if https {
        req = req.over_tls();
    }
    for (name, value) in &r.headers {
        let lower = name.to_ascii_lowercase();
        if lower == "host" {
            req = req.with_header(":authority", value);
        } else {
            req = req.with_header(&lower, value);
        }
    }
    req
}

/// Upper-cases the hex digits of every `%XX` escape.
fn norm(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            out.push('%');
            out.push((b[i + 1] as char).to_ascii_uppercase());
            out.push((b[i + 2] as char).to_ascii_uppercase());
            i += 3;
        } else {
            let ch = s[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The outcome's `kind` as `explain` names it.
fn kind_of(o: &Outcome) -> String {
    match o {
        Outcome::Continue => "continue",
        Outcome::Rewrite { .. } => "rewrite",
        Outcome::Proxy { .. } => "proxy",
        Outcome::Redirect { .. } => "redirect",
        Outcome::CustomResponse { .. } => "custom_response",
        Outcome::Abort => "abort",
        Outcome::Refuse { .. } => "refuse",
    }
    .to_string()
}

fn last_edit<'a>(edits: &'a [HeaderEdit], name: &str) -> Option<&'a HeaderEdit> {
    edits
        .iter()
        .rev()
        .find(|e| e.name.eq_ignore_ascii_case(name))
}

/// The host a browser would go to for this Location, `None` for a same-origin relative path.
fn location_host(loc: &str) -> Option<String> {
    // Browsers ignore leading C0 controls and spaces, and tabs/newlines anywhere.
    let cleaned: String = loc
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let l = cleaned.trim_start_matches(|c: char| c <= ' ');
    let authority_from = |rest: &str| -> String {
        let rest = rest.trim_start_matches(['/', '\\']);
        let end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
        let auth = &rest[..end];
        let auth = auth.rsplit('@').next().unwrap_or(auth);
        let host = if auth.starts_with('[') {
            auth.split(']')
                .next()
                .unwrap_or(auth)
                .trim_start_matches('[')
        } else {
            auth.split(':').next().unwrap_or(auth)
        };
        host.to_ascii_lowercase()
    };
    let bytes = l.as_bytes();
    if bytes.len() >= 2 && matches!(bytes[0], b'/' | b'\\') && matches!(bytes[1], b'/' | b'\\') {
        return Some(authority_from(l));
    }
    // scheme ":" — RFC 3986 scheme characters.
    if let Some(colon) = l.find(':') {
        let scheme = &l[..colon];
        if !scheme.is_empty()
            && scheme.as_bytes()[0].is_ascii_alphabetic()
            && scheme
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            return Some(authority_from(&l[colon + 1..]));
        }
    }
    None
}

fn strings_of(d: &Decision) -> Vec<(String, String)> {
    let mut v = Vec::new();
    match &d.outcome {
        Outcome::Rewrite { path } => v.push(("path".into(), path.clone())),
        Outcome::Proxy {
            cluster,
            host,
            path,
            authority,
            ..
        } => {
            v.push(("path".into(), path.clone()));
            v.push(("cluster".into(), cluster.clone()));
            v.push(("host".into(), host.clone()));
            if let Some(a) = authority {
                v.push(("authority".into(), a.clone()));
            }
        }
        Outcome::Redirect { location, .. } => v.push(("location".into(), location.clone())),
        _ => {}
    }
    for e in d.request_headers.iter().chain(d.response_headers.iter()) {
        v.push((format!("header name {}", e.name), e.name.to_string()));
        if let Some(val) = &e.value {
            v.push((format!("header {}", e.name), val.to_string()));
        }
    }
    v
}

fn check(case: &Case, req: &Request, d: &Decision) -> Vec<String> {
    let e = &case.expect;
    let mut errs = Vec::new();
    let kind = kind_of(&d.outcome);
    if let Some(k) = &e.kind {
        if *k != kind {
            errs.push(format!("kind: expected {k}, got {kind}"));
        }
    }
    if let Some(ks) = &e.kind_in {
        if !ks.contains(&kind) {
            errs.push(format!("kind: expected one of {ks:?}, got {kind}"));
        }
    }
    let mut want = |what: &str, expected: String, got: Option<String>, normalise: bool| {
        let ok = match &got {
            Some(g) if normalise => norm(g) == norm(&expected),
            Some(g) => *g == expected,
            None => false,
        };
        if !ok {
            errs.push(format!(
                "{what}: expected {expected:?}, got {}",
                got.map(|g| format!("{g:?}"))
                    .unwrap_or_else(|| format!("nothing (outcome is {kind})"))
            ));
        }
    };
    let path = match &d.outcome {
        Outcome::Rewrite { path } | Outcome::Proxy { path, .. } => Some(path.clone()),
        _ => None,
    };
    if let Some(p) = &e.path {
        want("path", p.clone(), path, true);
    }
    if let Outcome::Proxy {
        cluster,
        scheme,
        host,
        port,
        authority,
        ..
    } = &d.outcome
    {
        if let Some(x) = &e.cluster {
            want("cluster", x.clone(), Some(cluster.clone()), false);
        }
        if let Some(x) = &e.host {
            want("host", x.clone(), Some(host.clone()), false);
        }
        if let Some(x) = e.port {
            want("port", x.to_string(), Some(port.to_string()), false);
        }
        if let Some(x) = &e.scheme {
            want("scheme", x.clone(), Some(scheme.clone()), false);
        }
        if let Some(a) = &e.authority {
            // The Host the upstream receives: the outcome's authority, else a `:authority`
            // (or `host`) edit, else the client's own Host (`null`).
            let expected = a.as_str().map(str::to_string);
            let edited = last_edit(&d.request_headers, ":authority")
                .or_else(|| last_edit(&d.request_headers, "host"))
                .and_then(|e| e.value.as_deref().map(str::to_string));
            let sent = authority.clone().or(edited);
            if expected != sent {
                errs.push(format!(
                    "authority (Host sent upstream): expected {expected:?}, got {sent:?}"
                ));
            }
        }
    } else {
        for (k, present) in [
            ("cluster", e.cluster.is_some()),
            ("host", e.host.is_some()),
            ("port", e.port.is_some()),
            ("scheme", e.scheme.is_some()),
            ("authority", e.authority.is_some()),
        ] {
            if present {
                errs.push(format!("{k}: expected a proxy outcome, got {kind}"));
            }
        }
    }
    let status = match &d.outcome {
        Outcome::Redirect { status, .. }
        | Outcome::CustomResponse { status, .. }
        | Outcome::Refuse { status, .. } => Some(*status),
        _ => None,
    };
    if let Some(s) = e.status {
        if status != Some(s) {
            errs.push(format!("status: expected {s}, got {status:?} ({kind})"));
        }
    }
    let location = match &d.outcome {
        Outcome::Redirect { location, .. } => Some(location.clone()),
        _ => None,
    };
    if let Some(l) = &e.location {
        let ok = location.as_deref().map(norm) == Some(norm(l));
        if !ok {
            errs.push(format!("location: expected {l:?}, got {location:?}"));
        }
    }
    if let Some(ls) = &e.location_in {
        let ok = location
            .as_deref()
            .map(|g| ls.iter().any(|l| norm(l) == norm(g)))
            .unwrap_or(false);
        if !ok {
            errs.push(format!(
                "location: expected one of {ls:?}, got {location:?}"
            ));
        }
    }
    if let (Some(hosts), Some(loc)) = (&e.location_host_in, &location) {
        if let Some(h) = location_host(loc) {
            if !hosts.iter().any(|x| x.eq_ignore_ascii_case(&h)) {
                errs.push(format!(
                    "location {loc:?} points to host {h:?}, allowed only {hosts:?}"
                ));
            }
        }
    }
    if let Outcome::CustomResponse {
        sub_status,
        reason,
        body,
        ..
    } = &d.outcome
    {
        if let Some(b) = &e.body {
            if b != body {
                errs.push(format!("body: expected {b:?}, got {body:?}"));
            }
        }
        if let Some(r) = &e.reason {
            if r != reason {
                errs.push(format!("reason: expected {r:?}, got {reason:?}"));
            }
        }
        if let Some(s) = e.sub_status {
            if s != *sub_status {
                errs.push(format!("subStatus: expected {s}, got {sub_status}"));
            }
        }
    } else if e.body.is_some() || e.reason.is_some() || e.sub_status.is_some() {
        errs.push(format!(
            "body/reason/subStatus: expected a custom_response, got {kind}"
        ));
    }
    // Request headers: the filter's edits, falling back to what the client sent.
    let client: BTreeMap<String, String> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    for (name, expected) in &e.request_headers {
        let edit = last_edit(&d.request_headers, name);
        let sent = client.get(&name.to_ascii_lowercase());
        let ok = match (expected, edit) {
            (Some(v), Some(HeaderEdit { value: Some(g), .. })) => norm(g) == norm(v),
            (Some(_), Some(HeaderEdit { value: None, .. })) => false,
            (Some(v), None) => sent.map(|s| norm(s) == norm(v)).unwrap_or(false),
            (None, Some(HeaderEdit { value, .. })) => value.is_none(),
            (None, None) => sent.is_none(),
        };
        if !ok {
            errs.push(format!(
                "request header {name}: expected {}, got {} (client sent {sent:?})",
                expected
                    .as_deref()
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_else(|| "absent/removed".into()),
                edit.map(|x| format!("edit {:?}", x.value))
                    .unwrap_or_else(|| "no edit".into()),
            ));
        }
    }
    for (name, expected) in &e.response_headers {
        let edit = last_edit(&d.response_headers, name);
        let ok = match (expected, edit) {
            (Some(v), Some(HeaderEdit { value: Some(g), .. })) => norm(g) == norm(v),
            (Some(_), _) => false,
            (None, Some(HeaderEdit { value, .. })) => value.is_none(),
            (None, None) => true,
        };
        if !ok {
            errs.push(format!(
                "response header {name}: expected {expected:?}, got {:?}",
                edit.map(|x| x.value.clone())
            ));
        }
    }
    if let Some(m) = &e.matched_rules {
        if !m
            .iter()
            .map(String::as_str)
            .eq(d.matched_rules.iter().map(|n| &**n))
        {
            errs.push(format!(
                "matchedRules: expected {m:?}, got {:?}",
                d.matched_rules
            ));
        }
    }
    if e.forbid_cr_lf == Some(true) {
        for (what, s) in strings_of(d) {
            if s.contains(['\r', '\n', '\0']) {
                errs.push(format!("{what} contains CR/LF/NUL: {s:?}"));
            }
        }
    }
    if let Some(bad) = &e.forbid_substrings {
        for (what, s) in strings_of(d) {
            let low = s.to_ascii_lowercase();
            for b in bad {
                if low.contains(&b.to_ascii_lowercase()) {
                    errs.push(format!("{what} contains forbidden {b:?}: {s:?}"));
                }
            }
        }
    }
    errs
}

#[derive(Default)]
struct Report {
    files: usize,
    cases: usize,
    passed: usize,
    failures: Vec<String>,
}

fn run_file(path: &Path, filter: Option<&str>, report: &mut Report) {
    let fname = path.file_name().unwrap().to_string_lossy().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(err) => {
            report.failures.push(format!("{fname}: cannot read: {err}"));
            return;
        }
    };
    let file: CaseFile = match serde_json::from_str(&text) {
        Ok(f) => f,
        Err(err) => {
            report
                .failures
                .push(format!("{fname}: not a valid case file: {err}"));
            return;
        }
    };
    if file.description.trim().is_empty() {
        report.failures.push(format!("{fname}: empty description"));
    }
    let file_selected = filter.is_none_or(|f| fname.contains(f));
    report.files += 1;
    let config_bytes = serde_json::to_vec(&file.config).unwrap();
    let compiled = Engine::from_json(&config_bytes);

    if let Some(expected) = &file.expect_config_error {
        if !file.cases.is_empty() {
            report.failures.push(format!(
                "{fname}: a file with expectConfigError must have no cases"
            ));
        }
        if !file_selected {
            return;
        }
        report.cases += 1;
        match compiled {
            Ok(_) => report.failures.push(format!(
                "{fname} :: (config error)\n    expected the configuration to be refused with {:?}\n    got: compiled successfully",
                expected.all()
            )),
            Err(err) => {
                let msg = err.to_string();
                let missing: Vec<String> = expected
                    .all()
                    .into_iter()
                    .filter(|s| !msg.contains(s.as_str()))
                    .collect();
                if missing.is_empty() {
                    report.passed += 1;
                } else {
                    report.failures.push(format!(
                        "{fname} :: (config error)\n    expected the error to contain {missing:?}\n    got: {msg}"
                    ));
                }
            }
        }
        return;
    }

    let mut names = std::collections::BTreeSet::new();
    for case in &file.cases {
        if !names.insert(case.name.clone()) {
            report
                .failures
                .push(format!("{fname} :: {}: duplicate case name", case.name));
        }
        if case.reference.trim().is_empty() {
            report
                .failures
                .push(format!("{fname} :: {}: no reference", case.name));
        }
    }
    let engine = match compiled {
        Ok(e) => e,
        Err(err) => {
            if file_selected
                || file
                    .cases
                    .iter()
                    .any(|c| filter.is_some_and(|f| c.name.contains(f)))
            {
                report.cases += file.cases.len();
                report.failures.push(format!(
                    "{fname}: configuration refused ({} cases not run): {err}",
                    file.cases.len()
                ));
            }
            return;
        }
    };
    for case in &file.cases {
        if !(file_selected || filter.is_some_and(|f| case.name.contains(f))) {
            continue;
        }
        report.cases += 1;
        let req = build_request(&case.request);
        let decision = engine.inbound(&req);
        let errs = check(case, &case.request, &decision);
        if errs.is_empty() {
            report.passed += 1;
        } else {
            let mut msg = format!("{fname} :: {} [{}]\n", case.name, case.reference);
            for e in &errs {
                let _ = writeln!(msg, "    {e}");
            }
            let _ = write!(msg, "    got: {decision:?}");
            report.failures.push(msg);
        }
    }
}

#[test]
fn case_corpus() {
    let dir = cases_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no case files in {}", dir.display());
    let filter = std::env::var("IIS_CASES").ok().filter(|f| !f.is_empty());
    let mut report = Report::default();
    for p in &paths {
        run_file(p, filter.as_deref(), &mut report);
    }
    let failed = report.cases.saturating_sub(report.passed);
    let summary = format!(
        "case corpus: {} files, {} cases, {} passed, {} failed ({} problem reports)",
        report.files,
        report.cases,
        report.passed,
        failed,
        report.failures.len()
    );
    eprintln!("{summary}");
    if !report.failures.is_empty() {
        panic!("{summary}\n\n{}\n\n{summary}", report.failures.join("\n\n"));
    }
}

#[test]
fn location_host_parsing() {
    assert_eq!(location_host("/a/b"), None);
    assert_eq!(location_host("a/b?x=1"), None);
    assert_eq!(
        location_host("//evil.example/x").as_deref(),
        Some("evil.example")
    );
    assert_eq!(
        location_host("/\\evil.example").as_deref(),
        Some("evil.example")
    );
    assert_eq!(
        location_host("\\\\evil.example").as_deref(),
        Some("evil.example")
    );
    assert_eq!(
        location_host("https://u@Evil.Example:8443/x").as_deref(),
        Some("evil.example")
    );
    assert_eq!(
        location_host("http:evil.example/").as_deref(),
        Some("evil.example")
    );
    assert_eq!(
        location_host(" /\t/evil.example").as_deref(),
        Some("evil.example")
    );
    assert_eq!(
        location_host("http://[2001:db8::1]:80/").as_deref(),
        Some("2001:db8::1")
    );
    assert_eq!(norm("/a%2fb%c3%A9"), "/a%2Fb%C3%A9");
    assert_eq!(norm("100%"), "100%");
}
