//! Differential test of the matcher's shortcuts: the literal-alternation fast path, the
//! required-literal prefilter and `is_match` (no capture slots) must give exactly what the plain
//! regex gives — same match / no match, same spans — on generated patterns and inputs.
//!
//! The reference is `Pattern::compile_without_fast_paths` (the regex alone, no prefilter), or the
//! backtracking matcher for patterns regex-lite cannot run. Patterns and inputs come from a fixed
//! seed; inputs are built from the patterns' own literal pieces (in both cases, cut, joined) plus
//! caseless and non-ASCII letters, so that near-misses of the required literal are common.

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

/// Literal pieces: plain words, mixed case, escaped punctuation, non-ASCII.
const WORDS: &[&str] = &[
    "Items", "images", "web", "OS", "ab", "a", "b", "k", "s", "x1", "/", "-", "_", r"\.", r"\/",
    r"\?", "é", "Ab", " ", "=",
];
/// Atoms that are not plain literals.
const OTHER: &[&str] = &[
    ".", "[abc]", "[^/]", r"\d", r"\w", r"\s", "[]", "[^]", r"\b", r"\B", "(a|b)", "(?:ab|x)",
    "(ab)", r"\x41", r"\u0042", r"\cJ", "[a-z]", r"[\]a]",
];
const QUANTS: &[&str] = &["", "", "", "*", "+", "?", "{2}", "{0,2}", "*?", "+?"];

/// Text the pattern source `w` matches literally (unescaped).
fn plain(w: &str) -> String {
    w.strip_prefix('\\').unwrap_or(w).to_string()
}

fn concat(r: &mut Rng, pieces: &mut Vec<String>) -> String {
    let mut out = String::new();
    for _ in 0..1 + r.below(5) {
        if r.below(3) > 0 {
            let w = r.pick(WORDS);
            pieces.push(plain(w));
            out.push_str(w);
        } else {
            out.push_str(r.pick(OTHER));
        }
        out.push_str(r.pick(QUANTS));
    }
    out
}

fn pattern(r: &mut Rng, pieces: &mut Vec<String>) -> String {
    match r.below(6) {
        // An alternation of literals, maybe grouped and anchored.
        0 | 1 => {
            let n = 1 + r.below(4);
            let alts: Vec<String> = (0..n)
                .map(|_| {
                    let w: String = (0..1 + r.below(2)).map(|_| r.pick(WORDS)).collect();
                    pieces.push(w.replace('\\', ""));
                    w
                })
                .collect();
            let body = alts.join("|");
            let (open, close) = match r.below(3) {
                0 => ("", ""),
                1 => ("(", ")"),
                _ => ("(?:", ")"),
            };
            let start = if r.below(3) == 0 { "^" } else { "" };
            let end = if r.below(3) == 0 { "$" } else { "" };
            format!("{start}{open}{body}{close}{end}")
        }
        // A top-level alternation of concatenations (no prefilter may apply).
        2 => format!("{}|{}", concat(r, pieces), concat(r, pieces)),
        // Anchored / unanchored concatenations.
        _ => {
            let start = if r.below(4) == 0 { "^" } else { "" };
            let end = if r.below(4) == 0 { "$" } else { "" };
            format!("{start}{}{end}", concat(r, pieces))
        }
    }
}

#[test]
fn shortcuts_agree_with_the_plain_regex() {
    let mut r = Rng(0x5eed_cafe_f00d_0001);
    let mut checked = 0usize;
    let mut compared_inputs = 0usize;
    for _ in 0..6000 {
        let mut pieces = Vec::new();
        let src = pattern(&mut r, &mut pieces);
        for ic in [true, false] {
            let Ok(fast) = Pattern::compile(&src, Syntax::EcmaScript, ic) else {
                continue;
            };
            let slow = match Pattern::compile_without_fast_paths(&src, ic) {
                Ok(p) => p,
                Err(_) => Pattern::compile_backtracking(&src, ic).unwrap(),
            };
            assert_eq!(fast.groups(), slow.groups(), "{src:?}");
            checked += 1;
            for _ in 0..40 {
                let s = common::input_from(&pieces, &mut r);
                let (mut a, mut b) = (Spans::new(), Spans::new());
                let (ma, mb) = (fast.find(&s, &mut a), slow.find(&s, &mut b));
                assert_eq!((ma, &a), (mb, &b), "{src:?} ic={ic} on {s:?}");
                assert_eq!(fast.is_match(&s), mb, "is_match {src:?} ic={ic} on {s:?}");
                let mut c = Spans::new();
                assert_eq!(fast.test(&s, &mut c, false), mb, "{src:?} on {s:?}");
                assert!(c.is_empty());
                check_prefix(&fast, &s, mb, &src, ic);
                compared_inputs += 1;
            }
        }
    }
    assert!(checked > 8000, "only {checked} patterns compiled");
    assert!(compared_inputs > 300_000);
}

/// The rule-index prefix: every input the pattern matches starts with it.
fn check_prefix(p: &Pattern, input: &str, matched: bool, src: &str, ic: bool) {
    if let (Some(prefix), true) = (p.required_prefix(), matched) {
        let head = input.as_bytes().get(..prefix.len());
        let ok = head.is_some_and(|h| {
            if ic {
                h.eq_ignore_ascii_case(prefix.as_bytes())
            } else {
                h == prefix.as_bytes()
            }
        });
        assert!(
            ok,
            "{src:?} ic={ic}: {input:?} matches without the prefix {prefix:?}"
        );
    }
}

/// Every pattern of the test data, in both cases: fast path, prefilters, `is_match` and the
/// rule-index prefix against the plain regex (or the plain backtracker).
#[test]
fn testdata_patterns_agree_with_the_plain_matcher() {
    let mut r = Rng(0x5eed_cafe_f00d_0002);
    let (mut compiled, mut fast_paths, mut prefixed, mut matched) = (0, 0, 0, 0);
    let patterns = common::testdata_patterns();
    assert!(
        patterns.len() > 150,
        "only {} patterns found",
        patterns.len()
    );
    for (src, written_ic) in &patterns {
        for ic in [*written_ic, !*written_ic] {
            let Ok(full) = Pattern::compile(src, Syntax::EcmaScript, ic) else {
                continue;
            };
            let plain = match Pattern::compile_without_fast_paths(src, ic) {
                Ok(p) => p,
                Err(_) => Pattern::compile_backtracking(src, ic).unwrap(),
            };
            assert_eq!(full.groups(), plain.groups(), "{src:?}");
            compiled += 1;
            fast_paths += usize::from(full.uses_fast_path());
            prefixed += usize::from(full.required_prefix().is_some());
            for s in common::inputs_for(src, &mut r, 60) {
                let (mut a, mut b) = (Spans::new(), Spans::new());
                let (ma, mb) = (full.find(&s, &mut a), plain.find(&s, &mut b));
                assert_eq!((ma, &a), (mb, &b), "{src:?} ic={ic} on {s:?}");
                assert_eq!(full.is_match(&s), mb, "is_match {src:?} ic={ic} on {s:?}");
                check_prefix(&full, &s, mb, src, ic);
                matched += usize::from(mb);
            }
        }
    }
    assert!(
        compiled > 300 && fast_paths > 20 && prefixed > 50 && matched > 2000,
        "compiled {compiled}, fast {fast_paths}, prefixed {prefixed}, matched {matched}"
    );
}

#[test]
fn literal_alternations_follow_leftmost_first() {
    // Leftmost start wins, then the first alternative; anchors bind to the group.
    let cases: &[(&str, &str, Option<(usize, usize)>)] = &[
        (
            "webOS|playstation|Dalvik",
            "Mozilla (PlayStation 5) Dalvik",
            Some((9, 20)),
        ),
        ("a|ab", "xab", Some((1, 2))),
        ("ab|a", "xab", Some((1, 3))),
        ("(a|ab)$", "xab", Some((1, 3))),
        ("(b|ab)$", "xab", Some((1, 3))),
        ("^(a|ab)$", "ab", Some((0, 2))),
        ("^(?:a|ab)", "ab", Some((0, 1))),
        ("^(x|y)", "ax", None),
    ];
    for (src, s, want) in cases {
        let p = Pattern::compile(src, Syntax::EcmaScript, true).unwrap();
        let slow = Pattern::compile_without_fast_paths(src, true).unwrap();
        let mut spans = Spans::new();
        let got = p.find(s, &mut spans).then(|| spans[0].unwrap());
        assert_eq!(got, *want, "{src} on {s}");
        let mut ref_spans = Spans::new();
        slow.find(s, &mut ref_spans);
        assert_eq!(spans, ref_spans, "{src} on {s}");
    }
}
