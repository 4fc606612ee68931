#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;
use crate::engine::config::{Action, FilterConfig, InboundRule};

fn kind_of(text: &str) -> Kind<'_> {
    parse(text.as_bytes()).unwrap().kind
}

fn refused(text: &[u8]) -> JsonError {
    match parse(text) {
        Ok(v) => panic!("{:?} was read as {v:?}", String::from_utf8_lossy(text)),
        Err(e) => e,
    }
}

fn string(text: &str) -> String {
    match kind_of(text) {
        Kind::String(s) => s,
        other => panic!("{text}: {other:?}"),
    }
}

#[test]
fn reads_every_kind_of_value_with_its_offset() {
    let doc = parse(br#" {"a": [1, -2.5e+3, true, false, null, "x"], "b": {}} "#).unwrap();
    assert_eq!(doc.at, 1);
    let Kind::Object(members) = &doc.kind else {
        panic!()
    };
    assert_eq!(members[0].key, "a");
    assert_eq!(members[0].key_at, 2);
    let Kind::Array(items) = &members[0].value.kind else {
        panic!()
    };
    let kinds: Vec<&Kind<'_>> = items.iter().map(|v| &v.kind).collect();
    assert_eq!(
        kinds,
        [
            &Kind::Number("1"),
            &Kind::Number("-2.5e+3"),
            &Kind::Bool(true),
            &Kind::Bool(false),
            &Kind::Null,
            &Kind::String("x".into()),
        ]
    );
    assert_eq!(items[1].at, 11);
    assert_eq!(members[1].value.kind, Kind::Object(Vec::new()));
    assert_eq!(kind_of("[]"), Kind::Array(Vec::new()));
    assert_eq!(kind_of("\t\r\n 0 \n"), Kind::Number("0"));
}

#[test]
fn decodes_escapes_and_surrogate_pairs() {
    assert_eq!(
        string(r#""\" \\ \/ \b \f \n \r \t""#),
        "\" \\ / \u{8} \u{c} \n \r \t"
    );
    assert_eq!(string(r#""\u0041\u00e9\u20AC""#), "Aé€");
    assert_eq!(string(r#""\ud83d\ude00""#), "😀");
    assert_eq!(string(r#""\u0000""#), "\0");
    assert_eq!(string("\"é😀 raw\""), "é😀 raw");
}

#[test]
fn refuses_bad_strings() {
    for (text, kind) in [
        (&br#""\ud83d""#[..], ErrorKind::LoneSurrogate),
        (br#""\ude00\ud83d""#, ErrorKind::LoneSurrogate),
        (br#""\ud83d\u0041""#, ErrorKind::LoneSurrogate),
        (br#""\ud83dx""#, ErrorKind::LoneSurrogate),
        (br#""\x""#, ErrorKind::InvalidEscape),
        (br#""\u12G4""#, ErrorKind::InvalidEscape),
        (br#""\u12""#, ErrorKind::InvalidEscape),
        (b"\"a\nb\"", ErrorKind::ControlCharacter),
        (b"\"a\tb\"", ErrorKind::ControlCharacter),
        (b"\"\x01\"", ErrorKind::ControlCharacter),
    ] {
        assert_eq!(
            refused(text).kind,
            kind,
            "{}",
            String::from_utf8_lossy(text)
        );
    }
    assert!(matches!(
        refused(b"\"abc").kind,
        ErrorKind::Unexpected { found: None, .. }
    ));
}

#[test]
fn numbers_follow_the_grammar() {
    for ok in ["0", "-0", "12", "1.5", "1e5", "1E+5", "1e-05", "-0.0e0"] {
        assert_eq!(kind_of(ok), Kind::Number(ok), "{ok}");
    }
    for bad in ["-", "1.", ".5", "1e", "1e+", "-a", "+1"] {
        let e = refused(bad.as_bytes());
        assert!(
            matches!(
                e.kind,
                ErrorKind::InvalidNumber | ErrorKind::Unexpected { .. }
            ),
            "{bad}: {e}"
        );
    }
    // A leading zero ends the number; what follows is not part of the document.
    assert_eq!(refused(b"01").kind, ErrorKind::TrailingCharacters);
    assert_eq!(
        refused(b"[01]").kind.to_string(),
        "expected ',' or ']', found '1'"
    );
}

#[test]
fn refuses_what_the_grammar_does_not_allow() {
    for bad in [
        "",
        " ",
        "{",
        "[",
        "[1,]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "{'a':1}",
        "[1 2]",
        "tru",
        "nul",
        "NaN",
        "Infinity",
        "// c\n1",
        "/* c */1",
        "{} {}",
        "1 2",
        "\"a\" x",
        "[\"a\"\"b\"]",
        "{\"a\":}",
        "\u{feff}\u{feff}{}",
    ] {
        let e = refused(bad.as_bytes());
        assert!(e.line >= 1 && e.column >= 1, "{bad:?}: {e}");
    }
}

#[test]
fn refuses_invalid_utf8_where_it_starts() {
    let e = refused(b"{\"a\": \"\xC3\x28\"}");
    assert_eq!((e.kind, e.offset), (ErrorKind::InvalidUtf8, 7));
    assert_eq!(refused(b"\"\xED\xA0\x80\"").kind, ErrorKind::InvalidUtf8);
}

#[test]
fn skips_one_byte_order_mark() {
    assert_eq!(
        parse(b"\xEF\xBB\xBF{}").unwrap().kind,
        Kind::Object(Vec::new())
    );
    // It takes no column.
    let e = refused(b"\xEF\xBB\xBF{x");
    assert_eq!((e.line, e.column), (1, 2));
}

#[test]
fn refuses_duplicate_keys_at_the_second_one() {
    let e = refused(b"{\"rules\": [],\n \"rules\": []}");
    assert_eq!(e.kind, ErrorKind::DuplicateKey("rules".into()));
    assert_eq!((e.offset, e.line, e.column), (15, 2, 2));
    assert_eq!(
        e.to_string(),
        "duplicate field `rules` at rules (line 2 column 2)"
    );
    // Nested, and in an object large enough to be checked by sorting.
    let mut big: Vec<String> = (0..40).map(|i| format!("\"k{i}\": {i}")).collect();
    big.push("\"k7\": 0".into());
    big.push("\"k3\": 0".into());
    let text = format!("{{\"ruleSets\": {{\"a\": {{{}}}}}}}", big.join(", "));
    let e = refused(text.as_bytes());
    assert_eq!(e.kind, ErrorKind::DuplicateKey("k7".into()));
    assert_eq!(e.path(), "ruleSets.a.k7");
    // Keys are compared after unescaping.
    assert_eq!(
        refused(br#"{"a": 1, "\u0061": 2}"#).kind,
        ErrorKind::DuplicateKey("a".into())
    );
}

#[test]
fn limits_depth_and_size() {
    let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(parse(ok.as_bytes()).is_ok());
    let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    assert_eq!(
        refused(deep.as_bytes()).kind,
        ErrorKind::TooDeep { limit: MAX_DEPTH }
    );
    // Far deeper than any stack would take: refused before recursing.
    let hostile = "[{\"a\":".repeat(1_000_000);
    assert_eq!(
        refused(hostile.as_bytes()).kind,
        ErrorKind::TooDeep { limit: MAX_DEPTH }
    );
    let mut large = vec![b' '; MAX_BYTES + 1];
    large[0] = b'0';
    assert_eq!(
        refused(&large).kind,
        ErrorKind::TooLarge { limit: MAX_BYTES }
    );
}

#[test]
fn errors_carry_line_column_and_path() {
    let text = "{\n  \"rules\": [\n    {\"name\": \"a\"},\n    {\"name\": \"b\", \"action\": {\"url\": 5}}\n  ]\n}";
    let e = FilterConfig::from_json(text).unwrap_err();
    assert_eq!(e.path(), "rules[1].action.url");
    assert_eq!((e.line, e.column), (4, 37));
    assert_eq!(
        e.to_string(),
        "invalid type: a number, expected a string at rules[1].action.url (line 4 column 37)"
    );
    let e = refused(b"{\"ruleSets\": {\"my site\": [1, }}");
    assert_eq!(e.path(), "ruleSets[\"my site\"][1]");
}

#[test]
fn decoder_refuses_wrong_types_everywhere() {
    for (text, path, expected) in [
        ("[]", "", "an object"),
        ("\"rules\"", "", "an object"),
        ("{\"rules\": {}}", "rules", "an array"),
        ("{\"rules\": [[]]}", "rules[0]", "an object"),
        ("{\"rules\": [{\"name\": 1}]}", "rules[0].name", "a string"),
        (
            "{\"rules\": [{\"name\": null}]}",
            "rules[0].name",
            "a string",
        ),
        (
            "{\"rules\": [{\"name\": \"r\", \"enabled\": \"true\"}]}",
            "rules[0].enabled",
            "a boolean",
        ),
        (
            "{\"rules\": [{\"name\": \"r\", \"action\": {\"statusCode\": \"403\"}}]}",
            "rules[0].action.statusCode",
            "an integer from 0 to 4294967295",
        ),
        (
            "{\"rules\": [{\"name\": \"r\", \"action\": {\"statusCode\": 403.0}}]}",
            "rules[0].action.statusCode",
            "an integer from 0 to 4294967295",
        ),
        (
            "{\"allowedServerVariables\": [\"A\", 1]}",
            "allowedServerVariables[1]",
            "a string",
        ),
    ] {
        let e = FilterConfig::from_json(text).unwrap_err();
        assert_eq!(e.path(), path, "{text}");
        assert!(
            matches!(e.kind, ErrorKind::WrongType { expected: x, .. } if x == expected),
            "{text}: {e}"
        );
    }
}

#[test]
fn decoder_checks_integer_ranges() {
    let port = |n: &str| {
        FilterConfig::from_json(format!(
            "{{\"webFarms\": [{{\"name\": \"f\", \"servers\": [{{\"address\": \"a\", \"httpPort\": {n}}}]}}]}}"
        ))
    };
    assert_eq!(
        port("65535").unwrap().web_farms[0].servers[0].http_port,
        Some(65535)
    );
    for bad in ["65536", "-1", "99999999999999999999999"] {
        let e = port(bad).unwrap_err();
        assert!(
            matches!(&e.kind, ErrorKind::OutOfRange { value, .. } if value == bad),
            "{bad}: {e}"
        );
        assert_eq!(e.path(), "webFarms[0].servers[0].httpPort");
    }
    let occurrences = FilterConfig::from_json(
        r#"{"outboundRules": {"rules": [{"name": "o", "match": {"occurrences": 18446744073709551615}}]}}"#,
    )
    .unwrap();
    assert_eq!(
        occurrences.outbound_rules.unwrap().rules[0]
            .match_target
            .as_ref()
            .unwrap()
            .occurrences,
        Some(u64::MAX)
    );
}

#[test]
fn decoder_refuses_unknown_keys_before_missing_ones() {
    let e = FilterConfig::from_json(r#"{"rules": [{"nmae": "r"}]}"#).unwrap_err();
    assert_eq!(e.path(), "rules[0].nmae");
    assert_eq!(e.column, 13);
    let message = e.message();
    assert!(
        message.starts_with(
            "unknown field `nmae` at rules[0].nmae (expected one of `name`, `enabled`,"
        ),
        "{message}"
    );
    let e = FilterConfig::from_json(r#"{"rules": [{"enabled": true}]}"#).unwrap_err();
    assert_eq!(e.kind, ErrorKind::MissingKey("name"));
    assert_eq!((e.path().as_str(), e.column), ("rules[0]", 12));
    let e = FilterConfig::from_json(r#"{"rules": [], "bogus": 1}"#).unwrap_err();
    assert_eq!(e.path(), "bogus");
}

#[test]
fn decoder_fills_the_model() {
    let config = FilterConfig::from_json(
        r#"{"rules": [{"name": "r", "match": {"url": "^a$"}, "action": {"type": "Redirect",
            "url": "/b", "statusCode": 301}}], "allowedServerVariables": []}"#,
    )
    .unwrap();
    assert_eq!(
        config.rules,
        [InboundRule {
            name: "r".into(),
            match_url: Some(crate::engine::config::MatchUrl {
                url: Some("^a$".into()),
                ..Default::default()
            }),
            action: Some(Action {
                action_type: Some("Redirect".into()),
                url: Some("/b".into()),
                status_code: Some(301),
                ..Default::default()
            }),
            ..Default::default()
        }]
    );
    assert_eq!(config.allowed_server_variables, Some(Vec::new()));
}

#[test]
fn plugin_configuration_shapes() {
    use crate::engine::plugin::PluginConfig;
    assert!(matches!(
        PluginConfig::from_json(b"{}").unwrap(),
        PluginConfig::Single(_)
    ));
    let PluginConfig::Multi {
        rule_sets,
        default_rule_set,
    } = PluginConfig::from_json(br#"{"ruleSets": {"b": {}, "a": {"rules": []}}}"#).unwrap()
    else {
        panic!("a multi configuration")
    };
    assert_eq!(rule_sets.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(default_rule_set, None);
    for (bad, path) in [
        (&br#"{"ruleSets": {"a": {}, "a": {}}}"#[..], "ruleSets.a"),
        (br#"{"ruleSets": {"a": {}}, "rules": []}"#, "rules"),
        (br#"{"ruleSets": []}"#, "ruleSets"),
        (br#"{"ruleSets": {"a": {"rules": 1}}}"#, "ruleSets.a.rules"),
        (
            br#"{"ruleSets": {}, "defaultRuleSet": 1}"#,
            "defaultRuleSet",
        ),
    ] {
        let e = PluginConfig::from_json(bad).unwrap_err();
        assert_eq!(e.path(), path, "{}", String::from_utf8_lossy(bad));
    }
}
