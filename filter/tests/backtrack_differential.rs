//! Differential test: the backtracking matcher and the regex-lite translation must agree on
//! whether a pattern matches and on every capture span, for patterns both can run.
//!
//! Patterns and inputs are generated from a fixed seed (the same cases on every run). The
//! grammar leaves out the few places where ECMAScript and regex-lite legitimately differ and the
//! translation does not bridge them: a quantified atom never matches the empty string (ECMAScript
//! fails an empty iteration, regex-lite does not) and has no capture group inside it other than
//! itself (ECMAScript resets inner captures at each iteration); inputs are ASCII plus a few
//! caseless or Latin-1 letters (regex-lite folds ASCII only, by design of the translation).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::type_complexity
)]

mod common;

use common::Rng;
use iis_rewrite_filter::pattern::{Pattern, Spans, Syntax};

/// A generated fragment: its text, whether it can match the empty string, whether it has a
/// capture group.
struct Frag {
    text: String,
    nullable: bool,
    captures: bool,
}

const LITERALS: &[&str] = &[
    "a", "b", "c", "A", "B", "/", "-", r"\.", "1", "x", " ", r"\/", "é",
];
const CLASSES: &[&str] = &[
    "[abc]", "[^a]", "[a-c]", r"\d", r"\w", r"\s", r"\W", r"\D", ".", r"[\s\S]", "[A-Z/]", "[^/]",
    r"[\d.]", "[-a]", "[b-]", r"[^\s]",
];
const QUANTIFIERS: &[&str] = &[
    "*", "+", "?", "{1,2}", "{2}", "{0,}", "{1,}", "*?", "+?", "??", "{1,3}?", "{0,2}",
];

fn atom(r: &mut Rng, depth: usize) -> Frag {
    match r.below(if depth < 2 { 10 } else { 7 }) {
        0..=3 => Frag {
            text: r.pick(LITERALS).to_string(),
            nullable: false,
            captures: false,
        },
        4..=6 => Frag {
            text: r.pick(CLASSES).to_string(),
            nullable: false,
            captures: false,
        },
        k => {
            let inner = alternation(r, depth + 1);
            let capture = k != 9;
            Frag {
                text: format!("({}{})", if capture { "" } else { "?:" }, inner.text),
                nullable: inner.nullable,
                captures: capture || inner.captures,
            }
        }
    }
}

fn piece(r: &mut Rng, depth: usize) -> Frag {
    let a = atom(r, depth);
    // A capture *inside* the atom would be reset per iteration by ECMAScript only; a capturing
    // atom itself is fine. `a.captures` counts both, so look at the text.
    let inner_captures = a.text.starts_with('(') && {
        let body = &a.text[1..];
        body.contains('(')
            && body
                .match_indices('(')
                .any(|(i, _)| !body[i..].starts_with("(?:"))
    };
    if a.nullable || inner_captures || r.below(3) != 0 {
        return a;
    }
    let q = r.pick(QUANTIFIERS);
    let nullable = q.starts_with('*') || q.starts_with('?') || q.starts_with("{0");
    Frag {
        text: format!("{}{q}", a.text),
        nullable,
        captures: a.captures,
    }
}

fn sequence(r: &mut Rng, depth: usize) -> Frag {
    let n = 1 + r.below(3);
    let mut f = Frag {
        text: String::new(),
        nullable: true,
        captures: false,
    };
    for _ in 0..n {
        let p = piece(r, depth);
        f.text.push_str(&p.text);
        f.nullable &= p.nullable;
        f.captures |= p.captures;
    }
    f
}

fn alternation(r: &mut Rng, depth: usize) -> Frag {
    let n = if r.below(3) == 0 { 2 } else { 1 };
    let mut parts = Vec::new();
    let mut f = Frag {
        text: String::new(),
        nullable: false,
        captures: false,
    };
    for _ in 0..n {
        let s = sequence(r, depth);
        f.nullable |= s.nullable;
        f.captures |= s.captures;
        parts.push(s.text);
    }
    f.text = parts.join("|");
    f
}

fn pattern(r: &mut Rng) -> String {
    let body = alternation(r, 0).text;
    let body = if body.contains('|') && r.below(2) == 0 {
        format!("(?:{body})")
    } else {
        body
    };
    let mut p = String::new();
    match r.below(4) {
        0 => p.push('^'),
        1 => p.push_str(r"\b"),
        _ => {}
    }
    p.push_str(&body);
    match r.below(4) {
        0 => p.push('$'),
        1 => p.push_str(r"\b"),
        _ => {}
    }
    p
}

const INPUT_CHARS: &[&str] = &[
    "a", "b", "c", "A", "B", "C", "/", "-", ".", "1", "2", "x", " ", "\n", "é", "É", "_", "\t",
];

fn input(r: &mut Rng) -> String {
    let n = r.below(9);
    (0..n).map(|_| r.pick(INPUT_CHARS)).collect()
}

fn run(p: &Pattern, input: &str) -> (bool, Spans) {
    let mut spans = Spans::new();
    let m = p.find(input, &mut spans);
    (m, spans)
}

#[test]
fn backtracker_agrees_with_regex_lite() {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut patterns, mut runs, mut matched) = (0usize, 0usize, 0usize);
    let mut mismatches = Vec::new();
    while patterns < 2500 {
        let src = pattern(&mut r);
        let ignore_case = r.below(2) == 0;
        let lite = match Pattern::compile_without_fast_paths(&src, ignore_case) {
            Ok(p) => p,
            Err(e) => panic!("generated pattern {src:?} refused by the translation: {e:?}"),
        };
        let back = match Pattern::compile_backtracking(&src, ignore_case) {
            Ok(p) => p,
            Err(e) => panic!("generated pattern {src:?} refused by the backtracker: {e:?}"),
        };
        let default = Pattern::compile(&src, Syntax::EcmaScript, ignore_case)
            .unwrap_or_else(|e| panic!("{src:?}: {e:?}"));
        assert_eq!(lite.groups(), back.groups(), "group count of {src:?}");
        assert!(
            !default.uses_backtracking(),
            "{src:?} should stay on regex-lite"
        );
        patterns += 1;
        let mut inputs: Vec<String> = (0..24).map(|_| input(&mut r)).collect();
        inputs.push(String::new());
        for s in &inputs {
            let want = run(&lite, s);
            let got = run(&back, s);
            let via_default = run(&default, s);
            runs += 1;
            matched += usize::from(want.0);
            if want != got || want != via_default {
                mismatches.push(format!(
                    "{src:?} ignoreCase={ignore_case} on {s:?}: regex-lite {want:?}, backtracker {got:?}, default {via_default:?}"
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {runs} runs disagree:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The generator must exercise both outcomes, not only misses.
    assert!(matched * 5 > runs, "only {matched} of {runs} runs matched");
    assert!(matched * 10 < runs * 9, "{matched} of {runs} runs matched");
    println!("{patterns} patterns, {runs} runs, {matched} matches: engines agree");
}

/// Every pattern of the test data that regex-lite runs: the backtracking program built from the
/// same syntax tree gives the same result. Under ignoreCase, inputs keep out the few non-ASCII
/// letters that simple case mapping folds to ASCII (the Kelvin sign, long s, dotless i), where
/// the two engines differ by design.
#[test]
fn testdata_patterns_run_the_same_on_both_engines() {
    let mut r = Rng(0x9E37_79B9_7F4A_7C16);
    let (mut compared, mut runs, mut matched) = (0usize, 0usize, 0usize);
    for (src, written_ic) in common::testdata_patterns() {
        for ic in [written_ic, !written_ic] {
            let Ok(lite) = Pattern::compile_without_fast_paths(&src, ic) else {
                continue;
            };
            let back = Pattern::compile_backtracking(&src, ic).unwrap_or_else(|e| {
                panic!("{src:?} runs on regex-lite, not on the backtracker: {e:?}")
            });
            assert_eq!(lite.groups(), back.groups(), "group count of {src:?}");
            compared += 1;
            for s in common::inputs_for(&src, &mut r, 60) {
                if ic && s.contains(['\u{212A}', '\u{17F}', '\u{131}']) {
                    continue;
                }
                let want = run(&lite, &s);
                assert_eq!(run(&back, &s), want, "{src:?} ignoreCase={ic} on {s:?}");
                runs += 1;
                matched += usize::from(want.0);
            }
        }
    }
    assert!(compared > 300, "only {compared} patterns compared");
    assert!(matched * 20 > runs, "only {matched} of {runs} runs matched");
}

/// Leading look-aheads run as guards on regex-lite and inside the program on the backtracker.
#[test]
fn leading_look_aheads_agree() {
    let mut r = Rng(0xD1B5_4A32_D192_ED03);
    let mut runs = 0;
    for _ in 0..800 {
        // Bodies without capture groups (a capture inside a look-ahead is not a guard).
        let body = alternation(&mut r, 2)
            .text
            .replace('(', "(?:")
            .replace("(?:?:", "(?:");
        let look = if r.below(2) == 0 { "?=" } else { "?!" };
        let rest = alternation(&mut r, 0).text;
        let src = format!("^({look}{body})({rest})");
        let ignore_case = r.below(2) == 0;
        let lite = Pattern::compile_without_fast_paths(&src, ignore_case)
            .unwrap_or_else(|e| panic!("{src:?}: {e:?}"));
        let back = Pattern::compile_backtracking(&src, ignore_case)
            .unwrap_or_else(|e| panic!("{src:?}: {e:?}"));
        for _ in 0..20 {
            let s = input(&mut r);
            assert_eq!(
                run(&lite, &s),
                run(&back, &s),
                "{src:?} ignoreCase={ignore_case} on {s:?}"
            );
            runs += 1;
        }
    }
    assert_eq!(runs, 16_000);
}

/// What only the backtracker runs, against values worked out by hand from ECMAScript rules.
#[test]
fn back_references_and_inner_look_aheads() {
    let cases: &[(&str, bool, &str, Option<&[Option<&str>]>)] = &[
        (
            r"^([^|]+)\|\1$",
            true,
            "Host.Example|host.example",
            Some(&[Some("Host.Example|host.example"), Some("Host.Example")]),
        ),
        (r"^([^|]+)\|\1$", false, "Host|host", None),
        (
            r"^([^|]+)\|https?://\1/",
            true,
            "a.b|http://A.B/x",
            Some(&[Some("a.b|http://A.B/"), Some("a.b")]),
        ),
        (r"(\w)\1", true, "abBa", Some(&[Some("bB"), Some("b")])),
        (r"^(?:(a)|b)\1c$", false, "bc", Some(&[Some("bc"), None])),
        (r"^la/(?!private)(.*)$", true, "la/Private", None),
        (
            r"^la/(?!private)(.*)$",
            true,
            "la/priv",
            Some(&[Some("la/priv"), Some("priv")]),
        ),
        (
            r"^pl/(\w+)(?=\.json$)",
            true,
            "pl/data.json",
            Some(&[Some("pl/data"), Some("data")]),
        ),
        (r"^pl/(\w+)(?=\.json$)", true, "pl/data.jsonx", None),
        (
            r"(?<year>\d{4})-\k<year>",
            false,
            "x2024-2024",
            Some(&[Some("2024-2024"), Some("2024")]),
        ),
        (
            r"a(?=(b+))\1c",
            false,
            "abbc",
            Some(&[Some("abbc"), Some("bb")]),
        ),
    ];
    for (src, ic, input, want) in cases {
        let p = Pattern::compile(src, Syntax::EcmaScript, *ic).unwrap();
        assert!(p.uses_backtracking(), "{src}");
        let (m, spans) = run(&p, input);
        let got: Option<Vec<Option<&str>>> =
            m.then(|| spans.iter().map(|s| s.map(|(a, b)| &input[a..b])).collect());
        assert_eq!(got.as_deref(), *want, "{src} on {input}");
    }
}

/// A catastrophic pattern against a hostile input stops at the step budget: no match, bounded
/// time (the elapsed time is printed for the notes; the assertion is generous for debug builds
/// on a loaded machine).
#[test]
fn hostile_input_stops_at_the_budget() {
    let p = Pattern::compile(r"^(\w+)+\1$", Syntax::EcmaScript, true).unwrap();
    assert!(p.uses_backtracking());
    let hostile = format!("{}!", "a".repeat(4000));
    let t = std::time::Instant::now();
    let (m, spans) = run(&p, &hostile);
    let elapsed = t.elapsed();
    assert!(!m && spans.is_empty());
    assert!(elapsed.as_secs() < 20, "{elapsed:?}");
    println!(
        "budget of {} steps exhausted in {elapsed:?}",
        iis_rewrite_filter::pattern::STEP_BUDGET
    );
    // The same pattern still answers ordinary inputs.
    assert!(run(&p, "abab").0 && !run(&p, "abc").0);
}

/// Arbitrary pattern text (mostly syntax characters) never panics either engine; whatever the
/// backtracker accepts runs within its budget on arbitrary inputs.
#[test]
fn arbitrary_pattern_text_is_refused_or_runs() {
    const PIECES: &[&str] = &[
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "?",
        "*",
        "+",
        "|",
        "^",
        "$",
        ".",
        "\\",
        "-",
        ",",
        "a",
        "b",
        "1",
        "2",
        "0",
        "\\1",
        "\\2",
        "(?=",
        "(?!",
        "(?:",
        "(?<n>",
        "\\k<n>",
        "\\b",
        "\\B",
        "\\d",
        "\\S",
        "\\u00e9",
        "\\x4",
        "\\c",
        "é",
        "{2}",
        "{1,}",
        "{,3}",
        "{9999999999}",
        "\\",
    ];
    let mut r = Rng(0x0123_4567_89AB_CDEF);
    let (mut accepted, mut refused, mut backtracking) = (0, 0, 0);
    for _ in 0..20_000 {
        let n = 1 + r.below(10);
        let src: String = (0..n).map(|_| r.pick(PIECES)).collect();
        for ic in [true, false] {
            match Pattern::compile(&src, Syntax::EcmaScript, ic) {
                Ok(p) => {
                    accepted += 1;
                    backtracking += usize::from(p.uses_backtracking());
                    for _ in 0..4 {
                        let s = input(&mut r);
                        run(&p, &s);
                    }
                }
                Err(_) => refused += 1,
            }
            if let Ok(p) = Pattern::compile_backtracking(&src, ic) {
                for _ in 0..4 {
                    let s = input(&mut r);
                    run(&p, &s);
                }
            }
        }
    }
    println!("{accepted} accepted ({backtracking} on the backtracker), {refused} refused");
    assert!(accepted > 2000 && refused > 2000 && backtracking > 50);
}
