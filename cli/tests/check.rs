//! `iis-rewrite check`: valid fixtures pass with their summary; each broken fixture is refused
//! with exit 1 and one located error (exact file, line and column, message naming the rule, the
//! attribute and the value).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::{run, run_in, scratch, FIXTURES};

#[test]
fn valid_fixtures_pass_with_their_summary() {
    for (file, summary) in FIXTURES {
        let path = format!("testdata/webconfigs/{file}");
        let r = run(&["check", &path]);
        assert_eq!(r.code, 0, "{path}: {}", r.stderr);
        let mut lines = r.stdout.lines();
        assert_eq!(
            lines.next(),
            Some(format!("{path}: ok: {summary}").as_str())
        );
        let rest: Vec<&str> = lines.collect();
        let (module, reaches) = rest.split_last().expect("the module line");
        assert!(
            reaches.iter().all(|l| l.starts_with("  reaches ")),
            "{}",
            r.stdout
        );
        assert!(module.starts_with("  module: "), "{}", r.stdout);
        assert!(r.errors().is_empty(), "{path}: {}", r.stderr);
    }
}

#[test]
fn jellyfin_basic_warns_only_about_its_disabled_rule() {
    let r = run(&["check", "testdata/webconfigs/jellyfin-basic.config"]);
    assert_eq!(r.code, 0);
    let w = r.warnings();
    assert_eq!(w.len(), 1, "{}", r.stderr);
    assert!(
        w[0].starts_with(
            "testdata/webconfigs/jellyfin-basic.config:7:48: warning: rule \"Redirect to https\""
        ),
        "{}",
        w[0]
    );
    assert!(w[0].contains("disabled"), "{}", w[0]);
}

/// One broken fixture: exit 1, exactly one error, at FILE:LINE:COL, containing MESSAGE.
fn assert_refused(file: &str, line: u32, col: u32, message: &str) {
    let path = format!("testdata/broken/{file}");
    let r = run(&["check", &path]);
    assert_eq!(r.code, 1, "{path}: exit code; stderr: {}", r.stderr);
    assert!(r.stdout.is_empty(), "{path}: stdout {:?}", r.stdout);
    let errors = r.errors();
    let prefix = format!("{path}:{line}:{col}: error: ");
    let hit = errors
        .iter()
        .find(|e| e.starts_with(&prefix) && e.contains(message));
    assert!(
        hit.is_some(),
        "{path}: expected an error at {line}:{col} containing {message:?}; got:\n{}",
        r.stderr
    );
    // Every line on stderr is a located diagnostic.
    for l in r.stderr_lines() {
        assert!(
            l.starts_with(&format!("{path}:")),
            "{path}: unlocated line {l:?}"
        );
    }
    // `import` refuses the same file the same way and writes nothing.
    let i = run(&["import", &path]);
    assert_eq!(i.code, 1, "{path}: import exit code");
    assert!(i.stdout.is_empty());
    assert_eq!(i.errors(), errors, "{path}: import and check disagree");
}

macro_rules! broken {
    ($name:ident, $file:expr, $line:expr, $col:expr, $msg:expr) => {
        #[test]
        fn $name() {
            assert_refused($file, $line, $col, $msg);
        }
    };
}

// Positions were computed from a marker placed where each error must point (the attribute at
// fault, or the element when the attribute is absent), independently of the tool.
broken!(
    malformed_unclosed_end_tag,
    "malformed-unclosed-end-tag.config",
    9,
    9,
    "malformed XML: end tag </rule is not closed with '>'"
);
broken!(
    unknown_action_type,
    "unknown-action-type.config",
    8,
    19,
    "rule \"Proxy\" <action> attribute type: unknown value \"Rewite\""
);
broken!(
    unknown_redirect_type,
    "unknown-redirect-type.config",
    8,
    67,
    "rule \"To HTTPS\" <action> attribute redirectType: unknown value \"Moved\""
);
broken!(
    unknown_logical_grouping,
    "unknown-logical-grouping.config",
    8,
    23,
    "rule \"Bots\" <conditions> attribute logicalGrouping: unknown value \"MatchEvery\""
);
broken!(
    unknown_pattern_syntax,
    "unknown-pattern-syntax.config",
    6,
    27,
    "rule \"Farm\" attribute patternSyntax: unknown value \"Wildcards\""
);
broken!(
    unknown_match_type,
    "unknown-match-type.config",
    9,
    45,
    "rule \"SPA\" condition 1 attribute matchType: unknown value \"IsLink\""
);
broken!(
    match_without_url,
    "match-without-url.config",
    7,
    11,
    "rule \"Proxy\" <match> attribute url: required but missing or empty"
);
broken!(
    condition_without_input,
    "condition-without-input.config",
    9,
    13,
    "rule \"HTTPS only\" condition 1 attribute input: required but missing or empty"
);
broken!(
    empty_rewrite_url,
    "empty-rewrite-url.config",
    8,
    34,
    "rule \"Proxy\" <action> attribute url: required but missing or empty"
);
broken!(
    empty_redirect_url,
    "empty-redirect-url.config",
    8,
    11,
    "rule \"Moved\" <action> attribute url: required but missing or empty"
);
broken!(
    unbalanced_brace,
    "unbalanced-brace.config",
    9,
    18,
    "rule \"Canonical host\" condition 1 attribute input: \"{HTTP_HOST\""
);
broken!(
    backref_beyond_groups,
    "backref-beyond-groups.config",
    8,
    34,
    "rule \"Blog\" <action> attribute url: back-reference \"{R:2}\""
);
broken!(
    backref_two_digit,
    "backref-two-digit.config",
    8,
    34,
    "rule \"Deep\" <action> attribute url: back-reference \"{R:10}\""
);
broken!(
    invalid_regex,
    "invalid-regex.config",
    7,
    18,
    "rule \"Everything\" <match> attribute url: invalid pattern \"*\""
);
broken!(server_variable_not_allowed, "server-variable-not-allowed.config", 13, 18, "rule \"Proxy\" <set> 2 attribute name: server variable \"HTTP_X_REAL_IP\" is not in allowedServerVariables");
broken!(
    unknown_rewrite_map,
    "unknown-rewrite-map.config",
    9,
    18,
    "rule \"Legacy\" condition 1 attribute input: unknown rewrite map or function \"Redirects\""
);
broken!(duplicate_rule_names, "duplicate-rule-names.config", 10, 15, "rule \"proxy\": duplicate name \"proxy\" (first defined at testdata/broken/duplicate-rule-names.config:6:15)");
broken!(
    unknown_precondition,
    "unknown-precondition.config",
    6,
    35,
    "outbound rule \"Cache images\" attribute preCondition: unknown preCondition \"images\""
);
broken!(
    rewrite_outside_system_webserver,
    "rewrite-outside-system-webserver.config",
    6,
    3,
    "<rewrite> outside <system.webServer>"
);
broken!(
    unknown_element,
    "unknown-element.config",
    7,
    11,
    "rule \"Proxy\": unknown element <matches>"
);
broken!(
    unknown_attribute,
    "unknown-attribute.config",
    6,
    28,
    "<rule>: unknown attribute stopprocessing (did you mean stopProcessing?)"
);
broken!(
    outbound_server_variables,
    "outbound-server-variables.config",
    8,
    11,
    "outbound rule \"Hide Server\": unknown element <serverVariables>"
);
broken!(
    enabled_not_boolean,
    "enabled-not-boolean.config",
    6,
    28,
    "rule \"Proxy\" attribute enabled: \"yes\" is not a boolean"
);
broken!(
    status_code_not_numeric,
    "status-code-not-numeric.config",
    8,
    41,
    "rule \"Deny admin\" <action> attribute statusCode: \"forbidden\" is not a number"
);
broken!(
    status_code_redirect_range,
    "status-code-redirect-range.config",
    8,
    41,
    "rule \"Fake redirect\" <action> attribute statusCode: value \"302\" is out of range"
);
broken!(
    missing_config_source,
    "missing-config-source.config",
    5,
    20,
    "<rewriteMaps> attribute configSource: file \"missing-maps.config\" not found"
);
broken!(
    duplicate_section,
    "duplicate-section.config",
    11,
    7,
    "<rules> is defined twice (first at testdata/broken/duplicate-section.config:5:7)"
);
broken!(
    json_invalid_pattern,
    "invalid-pattern.json",
    7,
    9,
    "rule \"API\" <match> attribute url: invalid pattern \"(api\""
);
broken!(
    json_unknown_field,
    "unknown-field.json",
    5,
    7,
    "invalid configuration JSON: unknown field `stopprocessing`"
);
broken!(
    json_duplicate_key,
    "duplicate-key.json",
    9,
    3,
    "invalid configuration JSON: duplicate field `rules` at rules"
);
broken!(
    json_wrong_type,
    "wrong-type.json",
    6,
    59,
    "invalid configuration JSON: invalid type: a string, expected an integer from 0 to 4294967295 at rules[0].action.statusCode"
);

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let path = "testdata/broken/many-problems.config";
    let r = run(&["check", path]);
    assert_eq!(r.code, 1);
    let errors = r.errors();
    let expect = [
        (
            6,
            24,
            "rule \"A\" attribute enabled: \"maybe\" is not a boolean",
        ),
        (
            7,
            18,
            "rule \"A\" <match> attribute url: invalid pattern \"(\"",
        ),
        (
            8,
            19,
            "rule \"A\" <action> attribute type: unknown value \"Proxy\"",
        ),
        (10, 15, "rule \"A\": duplicate name \"A\""),
        (11, 11, "rule \"A\": unknown element <matchUrl>"),
        (
            15,
            11,
            "rule \"B\" <action> attribute url: required but missing or empty",
        ),
    ];
    for (line, col, msg) in expect {
        let prefix = format!("{path}:{line}:{col}: error: ");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&prefix) && e.contains(msg)),
            "missing {line}:{col} {msg:?} in:\n{}",
            r.stderr
        );
    }
    assert_eq!(errors.len(), expect.len(), "{}", r.stderr);
    // Sorted by position.
    let positions: Vec<(u32, u32)> = errors
        .iter()
        .map(|e| {
            let mut it = e[path.len() + 1..].split(':');
            (
                it.next().unwrap().parse().unwrap(),
                it.next().unwrap().parse().unwrap(),
            )
        })
        .collect();
    let mut sorted = positions.clone();
    sorted.sort();
    assert_eq!(positions, sorted);
}

#[test]
fn jellyfin_advanced_as_published_is_refused_at_the_unclosed_tag() {
    // The published Jellyfin advanced web.config has `</rule` without its `>`. The fixture
    // comes from the `cases` branch; until it is merged this test checks nothing.
    let path = "testdata/webconfigs/jellyfin-advanced-published.config";
    let Ok(text) = std::fs::read_to_string(common::root().join(path)) else {
        eprintln!("{path} not present yet (cases branch not merged): skipped");
        return;
    };
    let line = text
        .lines()
        .position(|l| l.trim_end() == l.trim_end().trim_end_matches('>') && l.trim() == "</rule")
        .map(|i| i + 1)
        .expect("the fixture has a `</rule` line");
    let col = text.lines().nth(line - 1).unwrap().find("</rule").unwrap() + 1;
    let r = run(&["check", path]);
    assert_eq!(r.code, 1);
    let prefix = format!("{path}:{line}:{col}: error: malformed XML");
    assert!(
        r.errors().iter().any(|e| e.starts_with(&prefix)),
        "{}",
        r.stderr
    );
}

#[test]
fn warnings_do_not_change_the_exit_code() {
    let dir = scratch("warnings");
    std::fs::write(
        dir.join("web.config"),
        r#"<configuration>
  <system.webServer>
    <rewrite>
      <rules>
        <rule name="Everything" stopProcessing="true">
          <match url=".*" />
          <action type="Rewrite" url="http://127.0.0.1:8080/{R:0}" />
        </rule>
        <rule name="Never">
          <match url="^x" />
          <action type="Rewrite" url="/y" />
        </rule>
        <rule name="Static">
          <match url=".*" />
          <conditions>
            <add input="{REQUEST_FILENAME}" matchType="IsFile" />
          </conditions>
        </rule>
        <rule name="No match"><action type="None" /></rule>
      </rules>
    </rewrite>
  </system.webServer>
  <location path="admin"><system.webServer><rewrite><rules /></rewrite></system.webServer></location>
  <webFarms><webFarm name="farm" /></webFarms>
</configuration>
"#,
    )
    .unwrap();
    let r = run_in(&dir, &["check", "web.config"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.lines().next().unwrap(),
        "web.config: ok: 4 rules, 0 outbound rules, 0 preConditions, 0 rewrite maps, 1 server \
         farm (0 servers)"
    );
    let w = r.warnings();
    let has =
        |prefix: &str, text: &str| w.iter().any(|l| l.starts_with(prefix) && l.contains(text));
    assert!(
        has("web.config:9:9: warning: rule \"Never\"", "unreachable"),
        "{}",
        r.stderr
    );
    assert!(
        has(
            "web.config:16:45: warning: rule \"Static\" condition 1",
            "IsFile"
        ),
        "{}",
        r.stderr
    );
    assert!(
        has("web.config:19:9: warning: rule \"No match\"", "no <match>"),
        "{}",
        r.stderr
    );
    assert!(
        has(
            "web.config:23:3: warning: <location path=\"admin\">",
            "not imported"
        ),
        "{}",
        r.stderr
    );
    assert!(
        has(
            "web.config:24:13: warning: webFarm \"farm\"",
            "has no enabled server: requests routed to it get 502"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn enum_and_boolean_values_are_case_insensitive() {
    let r = run(&["import", "testdata/webconfigs/arr-farm-front.config"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v["globalRules"][0]["conditions"]["logicalGrouping"],
        "MatchAny"
    );
    assert_eq!(v["rules"][0]["action"]["redirectType"], "Found");
    assert_eq!(v["proxy"]["preserveHostHeader"], true);
    assert_eq!(v["outboundRules"]["rules"][0]["enabled"], true);
}

#[test]
fn config_dir_tells_where_config_source_files_are() {
    let dir = scratch("configdir");
    std::fs::copy(
        common::root().join("testdata/webconfigs/configsource-site.config"),
        dir.join("web.config"),
    )
    .unwrap();
    let r = run_in(&dir, &["check", "web.config"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("web.config:8:22: error: <rewriteMaps> attribute configSource: file \"configsource-maps.config\" not found"),
        "{}",
        r.stderr
    );
    let webconfigs = common::root().join("testdata/webconfigs");
    let r = run_in(
        &dir,
        &[
            "check",
            "web.config",
            "--config-dir",
            webconfigs.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn errors_in_a_config_source_file_name_that_file() {
    let dir = scratch("configsource-errors");
    std::fs::write(
        dir.join("web.config"),
        "<configuration><system.webServer><rewrite>\n<rewriteMaps configSource=\"maps.config\" />\n</rewrite></system.webServer></configuration>\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("maps.config"),
        "<rewriteMaps>\n  <rewriteMap name=\"m\" ignoreCase=\"sometimes\">\n  </rewriteMap>\n</rewriteMaps>\n",
    )
    .unwrap();
    let r = run_in(&dir, &["check", "web.config"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.errors(),
        ["maps.config:2:24: error: rewriteMap \"m\" attribute ignoreCase: \"sometimes\" is not a boolean (expected true or false)"]
    );
    std::fs::write(dir.join("maps.config"), "<rules />\n").unwrap();
    let r = run_in(&dir, &["check", "web.config"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("maps.config:1:1: error: configSource file: the root element is <rules>, expected <rewriteMaps>"),
        "{}",
        r.stderr
    );
    std::fs::write(
        dir.join("web.config"),
        "<configuration><system.webServer><rewrite>\n<rewriteMaps configSource=\"../maps.config\" />\n</rewrite></system.webServer></configuration>\n",
    )
    .unwrap();
    let r = run_in(&dir, &["check", "web.config"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("leaves the site's folder"),
        "{}",
        r.stderr
    );
}

#[test]
fn unreadable_and_non_text_files_are_invalid_input() {
    let r = run(&["check", "testdata/does-not-exist.config"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .starts_with("testdata/does-not-exist.config: error: cannot read"),
        "{}",
        r.stderr
    );
    let dir = scratch("binary");
    std::fs::write(dir.join("bin.config"), b"<configuration>\n\xff\xfe\x00\x01").unwrap();
    let r = run_in(&dir, &["check", "bin.config"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .starts_with("bin.config:2:1: error: the file is not UTF-8 text"),
        "{}",
        r.stderr
    );
}

#[test]
fn utf16_and_bom_files_are_read() {
    let dir = scratch("utf16");
    let text =
        std::fs::read_to_string(common::root().join("testdata/webconfigs/jellyfin-basic.config"))
            .unwrap();
    let mut utf16 = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    std::fs::write(dir.join("utf16.config"), utf16).unwrap();
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(text.as_bytes());
    std::fs::write(dir.join("bom.config"), bom).unwrap();
    for f in ["utf16.config", "bom.config"] {
        let r = run_in(&dir, &["check", f]);
        assert_eq!(r.code, 0, "{f}: {}", r.stderr);
        assert_eq!(
            r.stdout.lines().next().unwrap(),
            format!(
                "{f}: ok: 6 rules (1 disabled), 1 outbound rule, 1 preCondition, 0 rewrite maps"
            )
        );
    }
}

#[test]
fn single_rule_fragments_are_read() {
    let dir = scratch("single-rule");
    std::fs::write(
        dir.join("rule.config"),
        "<rule name=\"www\" stopProcessing=\"true\">\n  <match url=\".*\" />\n  <conditions trackAllCaptures=\"true\">\n    <add input=\"{HTTP_HOST}\" pattern=\"^([^.]+\\.[^.]+)$\" />\n    <add input=\"{CACHE_URL}\" pattern=\"^(.+)://\" />\n  </conditions>\n  <action type=\"Redirect\" url=\"{C:2}://www.{C:1}/{R:0}\" />\n</rule>\n",
    )
    .unwrap();
    let r = run_in(&dir, &["check", "rule.config"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "rule.config: ok: 1 rule, 0 outbound rules, 0 preConditions, 0 rewrite maps\n  module: \
         iis_rewrite_filter_headers.wasm or iis_rewrite_filter.wasm (no rules on response \
         bodies)\n"
    );
}

// ARR server farms (applicationHost.config `<webFarms>`).
broken!(
    farm_timeout_out_of_range,
    "farm-timeout-out-of-range.config",
    6,
    19,
    "webFarm \"lync\" <protocol> attribute timeout: \"2.00:00:00\" is out of range"
);
broken!(
    farm_unknown_algorithm,
    "farm-unknown-algorithm.config",
    6,
    24,
    "webFarm \"web\" <loadBalancing> attribute algorithm: unknown value \"Fastest\""
);
broken!(
    farm_health_check_relative_url,
    "farm-health-check-relative-url.config",
    6,
    22,
    "webFarm \"web\" <healthCheck> attribute url: unknown value \"/health\""
);
broken!(
    farm_duplicate_server,
    "farm-duplicate-server.config",
    6,
    15,
    "duplicate name \"10.0.0.1\""
);
broken!(
    farm_server_address_with_scheme,
    "farm-server-address-with-scheme.config",
    4,
    15,
    "webFarm \"web\" <server> 1 attribute address: unknown value \"http://10.0.0.1:8080\""
);

#[test]
fn back_references_and_inner_look_aheads_warn_about_the_backtracking_matcher() {
    let dir = scratch("backtracking");
    std::fs::write(
        dir.join("web.config"),
        r#"<configuration>
  <system.webServer>
    <rewrite>
      <rules>
        <rule name="Hotlink" stopProcessing="true">
          <match url="\.(png|jpg)$" />
          <conditions>
            <add input="{HTTP_HOST}|{HTTP_REFERER}" pattern="^([^|]+)\|https?://\1/" negate="true" />
          </conditions>
          <action type="CustomResponse" statusCode="403" />
        </rule>
        <rule name="Public">
          <match url="^files/(?!private/)(.*)$" />
          <action type="Rewrite" url="/pub/{R:1}" />
        </rule>
        <rule name="Linear">
          <match url="^(?!api/)(.*)$" />
          <action type="None" />
        </rule>
      </rules>
    </rewrite>
  </system.webServer>
</configuration>
"#,
    )
    .unwrap();
    let r = run_in(&dir, &["check", "web.config"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let w: Vec<_> = r
        .warnings()
        .into_iter()
        .filter(|l| l.contains("backtracking"))
        .collect();
    assert_eq!(w.len(), 2, "{}", r.stderr);
    assert!(
        w[0].starts_with("web.config:8:") && w[0].contains("rule \"Hotlink\" condition 1"),
        "{}",
        w[0]
    );
    assert!(w[0].contains("steps"), "{}", w[0]);
    assert!(
        w[1].starts_with("web.config:13:") && w[1].contains("rule \"Public\""),
        "{}",
        w[1]
    );
}

// Rules on the response body: the same located errors as header rules.
broken!(
    body_rule_invalid_pattern,
    "body-rule-invalid-pattern.config",
    7,
    40,
    "outbound rule \"Fix links\" <match> attribute pattern: invalid pattern \"^/(app/(.*)\""
);
broken!(
    body_rule_unbalanced_template,
    "body-rule-unbalanced-template.config",
    8,
    34,
    "outbound rule \"Footer\" <action> attribute value: \"Served by {R:1\": unbalanced \"{\""
);
broken!(
    body_rule_unknown_custom_tags,
    "body-rule-unknown-custom-tags.config",
    12,
    44,
    "outbound rule \"Posters\" <match> attribute customTags: unknown value \"Medias\""
);
broken!(
    body_rule_unknown_tag_flag,
    "body-rule-unknown-tag-flag.config",
    7,
    18,
    "outbound rule \"Links\" <match> attribute filterByTags: unknown value \"Anchor\""
);

#[test]
fn the_summary_names_the_module_that_runs_the_configuration() {
    for (file, module) in [
        (
            "jellyfin-advanced.config",
            "  module: iis_rewrite_filter_headers.wasm or iis_rewrite_filter.wasm (no rules on \
             response bodies)",
        ),
        (
            "arr-app-under-prefix.config",
            "  module: iis_rewrite_filter.wasm (it has rules on response bodies)",
        ),
    ] {
        let r = run(&["check", &format!("testdata/webconfigs/{file}")]);
        assert_eq!(r.code, 0, "{file}: {}", r.stderr);
        assert_eq!(r.stdout.lines().last(), Some(module), "{file}");
    }
}
