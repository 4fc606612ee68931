//! Pattern syntaxes of URL Rewrite: ECMAScript (unanchored search, the IIS default), Wildcard
//! (anchored, each `*` a capture) and ExactMatch, all compiled once. Microsoft documents them in
//! "URL Rewrite Module Configuration Reference", section "Rule pattern syntax"
//! (<https://learn.microsoft.com/iis/extensions/url-rewrite-module/url-rewrite-module-configuration-reference>);
//! ECMAScript itself is ECMA-262's RegExp grammar.
//!
//! An ECMAScript pattern is parsed once ([`syntax`]) and everything is derived from that tree:
//! the no-regex fast paths ([`fast`]), the regex-lite text ([`translate`]), the literals a match
//! must contain ([`literals`]), and, for what regex-lite cannot run exactly (back-references,
//! look-aheads past the start), the backtracking program ([`backtrack`]).

mod backtrack;
mod fast;
mod literals;
mod syntax;
mod translate;

use backtrack::request_budget_spent;
pub use backtrack::{exhausted_count, RequestBudget, REQUEST_STEP_BUDGET, STEP_BUDGET};
pub use syntax::{PatternError, Spans};

use backtrack::{Outcome, Program};
use fast::Fast;
use literals::{find_literal, starts_with, Folding};
use regex_lite::Regex;

/// Longest pattern accepted: bounds the time a configuration can spend compiling (regex-lite
/// has no size limit).
pub const MAX_PATTERN_LEN: usize = 64 * 1024;

/// `patternSyntax`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    EcmaScript,
    Wildcard,
    ExactMatch,
}

impl Syntax {
    /// Parses an attribute value (case-insensitive, as IIS reads it).
    pub fn parse(value: &str) -> Option<Syntax> {
        match value.to_ascii_lowercase().as_str() {
            "ecmascript" => Some(Syntax::EcmaScript),
            "wildcard" => Some(Syntax::Wildcard),
            "exactmatch" => Some(Syntax::ExactMatch),
            _ => None,
        }
    }
}

#[derive(Debug)]
enum Matcher {
    Regex {
        re: Regex,
        /// Leading look-aheads: (anchored body, must match).
        guards: Vec<(Regex, bool)>,
        /// A literal every match starts with at position 0 (patterns `^literal…`).
        prefix: Option<String>,
        ignore_case: bool,
    },
    Exact {
        text: String,
        ignore_case: bool,
    },
    /// A pattern that needs no regex at all.
    Fast(Fast),
    /// The backtracking fallback, for what regex-lite cannot run exactly.
    Backtrack(Program),
}

/// A literal every match contains: an input without it cannot match, so the matcher is
/// skipped. ASCII when `ignore_case`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Required {
    text: String,
    ignore_case: bool,
}

impl Required {
    fn present(&self, input: &str) -> bool {
        find_literal(input, &self.text, self.ignore_case).is_some()
    }
}

/// A compiled pattern.
#[derive(Debug)]
pub struct Pattern {
    source: String,
    matcher: Matcher,
    groups: usize,
    /// Checked before the regex / backtracking matcher (ECMAScript only).
    required: Option<Required>,
    /// What every matching input starts with, lowercase under ignoreCase (for indexing rules).
    index_prefix: Option<String>,
}

/// How much of the derived machinery [`Pattern::build`] uses (all of it outside tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Build {
    Full,
    /// The regex alone: no fast path, no prefilter (the reference in tests).
    PlainRegex,
    /// The backtracking program alone, no prefilter (the reference in tests).
    PlainBacktracking,
}

impl Pattern {
    pub fn compile(
        source: &str,
        syntax: Syntax,
        ignore_case: bool,
    ) -> Result<Pattern, PatternError> {
        if source.len() > MAX_PATTERN_LEN {
            return Err(PatternError::Invalid(format!(
                "the pattern is {} bytes long; at most {MAX_PATTERN_LEN} are accepted",
                source.len()
            )));
        }
        match syntax {
            Syntax::EcmaScript => Pattern::build(source, ignore_case, Build::Full),
            Syntax::ExactMatch => Ok(Pattern {
                source: source.to_string(),
                matcher: Matcher::Exact {
                    text: source.to_string(),
                    ignore_case,
                },
                groups: 0,
                required: None,
                index_prefix: None,
            }),
            Syntax::Wildcard => {
                let (re, groups) =
                    translate::build(&translate::wildcard_to_regex(source), ignore_case)?;
                let prefix: String = source
                    .chars()
                    .take_while(|&c| c != '*' && c != '?' && (!ignore_case || c.is_ascii()))
                    .collect();
                Ok(Pattern {
                    source: source.to_string(),
                    matcher: Matcher::Regex {
                        re,
                        guards: Vec::new(),
                        prefix: None,
                        ignore_case,
                    },
                    groups,
                    required: None,
                    index_prefix: index_key(Some(prefix), ignore_case),
                })
            }
        }
    }

    /// Compiles an ECMAScript pattern for the backtracking matcher, whatever it contains, with
    /// no prefilter (for tests comparing the engines).
    pub fn compile_backtracking(source: &str, ignore_case: bool) -> Result<Pattern, PatternError> {
        Pattern::build(source, ignore_case, Build::PlainBacktracking)
    }

    /// Compiles an ECMAScript pattern to the regex alone: no fast path, no prefilter (for
    /// tests).
    pub fn compile_without_fast_paths(
        source: &str,
        ignore_case: bool,
    ) -> Result<Pattern, PatternError> {
        Pattern::build(source, ignore_case, Build::PlainRegex)
    }

    /// An ECMAScript pattern: parse once, then derive the matcher and its prefilters.
    fn build(source: &str, ignore_case: bool, build: Build) -> Result<Pattern, PatternError> {
        let tree = syntax::parse(source)?;
        let pattern = |matcher, required, index_prefix| Pattern {
            source: source.to_string(),
            matcher,
            groups: tree.groups,
            required,
            index_prefix,
        };
        let backtracking = |required| -> Result<Pattern, PatternError> {
            let program = Program::compile(&tree, ignore_case)?;
            let folding = Folding::of(ignore_case, true);
            let index_prefix = literals::literal_prefix(&tree, folding);
            Ok(pattern(
                Matcher::Backtrack(program),
                required,
                index_key(index_prefix, ignore_case),
            ))
        };
        if build == Build::PlainBacktracking {
            return backtracking(None);
        }
        if build == Build::Full {
            if let Some(fast) = Fast::detect(&tree, ignore_case) {
                let folding = Folding::of(ignore_case, false);
                let index_prefix = literals::literal_prefix(&tree, folding);
                return Ok(pattern(
                    Matcher::Fast(fast),
                    None,
                    index_key(index_prefix, ignore_case),
                ));
            }
        }
        let t = match translate::translate(&tree, ignore_case) {
            Ok(t) => t,
            // No exact regex-lite translation: the backtracking matcher runs it.
            Err(PatternError::Unsupported(_)) if build == Build::Full => {
                let folding = Folding::of(ignore_case, true);
                let required = literals::required_literal(&tree, folding)
                    .map(|text| Required { text, ignore_case });
                return backtracking(required);
            }
            Err(e) => return Err(e),
        };
        let (re, groups) = translate::build(&t.main, ignore_case)?;
        let mut guards = Vec::with_capacity(t.guards.len());
        for (body, positive) in &t.guards {
            guards.push((translate::build(body, ignore_case)?.0, *positive));
        }
        let folding = Folding::of(ignore_case, false);
        let prefix = literals::literal_prefix(&tree, folding);
        let index_prefix = index_key(prefix.clone(), ignore_case);
        let (prefix, required) = match build {
            Build::Full => {
                let required = literals::required_literal(&tree, folding)
                    // `^lit…` already checks a literal at least as long at 0.
                    .filter(|r| prefix.as_ref().is_none_or(|p| r.len() > p.len()))
                    .map(|text| Required { text, ignore_case });
                (prefix, required)
            }
            Build::PlainRegex | Build::PlainBacktracking => (None, None),
        };
        let matcher = Matcher::Regex {
            re,
            guards,
            prefix,
            ignore_case,
        };
        Ok(Pattern {
            groups,
            ..pattern(matcher, required, index_prefix)
        })
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Number of capture groups, not counting group 0.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// Whether this pattern runs on the backtracking matcher (bounded by a step budget) rather
    /// than the linear-time regex engine.
    pub fn uses_backtracking(&self) -> bool {
        matches!(self.matcher, Matcher::Backtrack(_))
    }

    /// Whether this pattern is answered without a regex (`.*`, a literal, literal
    /// alternatives), with exactly the regex's result.
    pub fn uses_fast_path(&self) -> bool {
        matches!(self.matcher, Matcher::Fast(_))
    }

    /// A literal every matching input starts with, lowercase when the pattern ignores case
    /// (ASCII then): rules can be indexed by it. `None` when there is none.
    pub fn required_prefix(&self) -> Option<&str> {
        self.index_prefix.as_deref()
    }

    /// Tests `input`; on a match fills `spans` (0 = whole match) and returns true.
    pub fn find(&self, input: &str, spans: &mut Spans) -> bool {
        spans.clear();
        if self.required.as_ref().is_some_and(|r| !r.present(input)) {
            return false;
        }
        match &self.matcher {
            Matcher::Exact { text, ignore_case } => {
                let equal = if *ignore_case {
                    text.len() == input.len() && text.to_lowercase() == input.to_lowercase()
                        || text.eq_ignore_ascii_case(input)
                } else {
                    text == input
                };
                if equal {
                    spans.push(Some((0, input.len())));
                }
                equal
            }
            Matcher::Regex {
                re,
                guards,
                prefix,
                ignore_case,
            } => {
                if !regex_prefilters_pass(prefix.as_deref(), guards, *ignore_case, input) {
                    return false;
                }
                let mut locs = re.capture_locations();
                if re.captures_read(&mut locs, input).is_none() {
                    return false;
                }
                spans.extend((0..locs.len()).map(|i| locs.get(i)));
                true
            }
            Matcher::Fast(fast) => fast.find(input, spans),
            Matcher::Backtrack(program) => self.backtrack(program, input, spans),
        }
    }

    /// Runs the backtracking program; an exhausted match counts as no match and is logged, as
    /// not run at all when the request phase had already spent its budget.
    fn backtrack(&self, program: &Program, input: &str, spans: &mut Spans) -> bool {
        let spent_before = request_budget_spent();
        match program.find(input, spans) {
            Outcome::Match => true,
            Outcome::NoMatch => false,
            Outcome::Exhausted if spent_before => {
                log::debug!(
                    "iis-rewrite: pattern \"{}\" not run: the request spent its {} backtracking steps; counted as no match",
                    self.source,
                    REQUEST_STEP_BUDGET
                );
                false
            }
            Outcome::Exhausted => {
                log::debug!(
                    "iis-rewrite: pattern \"{}\" ran out of its {} step budget on a {}-byte input; counted as no match",
                    self.source,
                    STEP_BUDGET,
                    input.len()
                );
                false
            }
        }
    }

    /// Whether `input` matches, without captures: the regex stops at the first match and keeps
    /// no capture slots. Same result as [`Pattern::find`].
    pub fn is_match(&self, input: &str) -> bool {
        if self.required.as_ref().is_some_and(|r| !r.present(input)) {
            return false;
        }
        match &self.matcher {
            Matcher::Regex {
                re,
                guards,
                prefix,
                ignore_case,
            } => {
                regex_prefilters_pass(prefix.as_deref(), guards, *ignore_case, input)
                    && re.is_match(input)
            }
            Matcher::Fast(fast) => fast.is_match(input),
            Matcher::Exact { .. } | Matcher::Backtrack(_) => self.find(input, &mut Spans::new()),
        }
    }

    /// [`Pattern::find`] when `captures`, else [`Pattern::is_match`] with `spans` left empty.
    pub fn test(&self, input: &str, spans: &mut Spans, captures: bool) -> bool {
        if captures {
            self.find(input, spans)
        } else {
            spans.clear();
            self.is_match(input)
        }
    }
}

/// The rule-index key for a prefix: lowercase under ignoreCase, `None` when empty.
fn index_key(prefix: Option<String>, ignore_case: bool) -> Option<String> {
    let mut prefix = prefix.filter(|p| !p.is_empty())?;
    if ignore_case {
        prefix.make_ascii_lowercase();
    }
    Some(prefix)
}

/// The cheap checks in front of a translated regex: its literal prefix (`^lit…`) and its
/// leading look-ahead guards. `false` means the regex cannot match.
fn regex_prefilters_pass(
    prefix: Option<&str>,
    guards: &[(Regex, bool)],
    ignore_case: bool,
    input: &str,
) -> bool {
    if prefix.is_some_and(|p| !starts_with(input, p, ignore_case)) {
        return false;
    }
    guards.iter().all(|(g, want)| g.is_match(input) == *want)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(p: &Pattern, input: &str) -> Option<Vec<String>> {
        let mut spans = Spans::new();
        p.find(input, &mut spans).then(|| {
            spans
                .iter()
                .map(|s| s.map_or(String::new(), |(a, b)| input[a..b].to_string()))
                .collect()
        })
    }

    fn ecma(src: &str) -> Pattern {
        Pattern::compile(src, Syntax::EcmaScript, true).unwrap()
    }

    #[test]
    fn ecmascript_is_an_unanchored_case_insensitive_search() {
        let p = ecma("blog");
        assert!(p.is_match("blogger") && p.is_match("demo/BLOG"));
        let p = Pattern::compile("blog", Syntax::EcmaScript, false).unwrap();
        assert!(!p.is_match("BLOG"));
        assert_eq!(
            caps(&ecma("^(web)?$"), ""),
            Some(vec!["".into(), "".into()])
        );
        assert_eq!(caps(&ecma("^(web)?$"), "web").unwrap()[1], "web");
    }

    #[test]
    fn ecmascript_dialect_differences_are_translated() {
        // A brace that forms no quantifier is refused, as IIS does; an escaped one is literal.
        assert!(ecma(r"^a\{b}$").is_match("a{b}"));
        assert!(ecma("^a{2}$").is_match("aa"));
        assert!(ecma("^a{2,}b}$").is_match("aaab}"));
        // Identity escapes.
        assert!(ecma(r"^a\/b\-c\e$").is_match("a/b-ce"));
        // `[\s\S]` is the usual "anything, newlines included".
        assert!(ecma(r"^a[\s\S]b$").is_match("a\nb") && ecma(r"^a[\s\S]b$").is_match("axb"));
        assert!(!ecma(r"^[^\S]$").is_match("x") && ecma(r"^[^\S]$").is_match(" "));
        // `.` excludes line terminators.
        assert!(!ecma("^a.b$").is_match("a\rb"));
        // `\s` is Unicode white space.
        assert!(ecma(r"^a\sb$").is_match("a\u{3000}b"));
        // `[` inside a class is literal; `[]` never matches, `[^]` matches anything.
        assert!(ecma(r"^[[x]$").is_match("["));
        assert!(!ecma("^[]$").is_match("]"));
        assert!(ecma("^a[^]b$").is_match("a\nb"));
        // Non-ASCII letters fold under ignoreCase.
        assert!(ecma("^é$").is_match("É"));
        assert!(ecma("^[é]$").is_match("É"));
        // \u escapes.
        assert!(ecma(r"^\u00e9$").is_match("é"));
        // Named groups count as groups.
        assert_eq!(ecma("(?<x>a)(b)").groups(), 2);
    }

    #[test]
    fn leading_lookaheads_are_guards() {
        let p = ecma("^(?!api/)(.*)$");
        assert!(!p.is_match("api/x"));
        assert_eq!(caps(&p, "web/x").unwrap()[1], "web/x");
        let p = ecma("^(?=.*\\.js$)(?!vendor/)(.*)$");
        assert!(p.is_match("a/b.js") && !p.is_match("vendor/b.js") && !p.is_match("a/b.css"));
        assert_eq!(p.groups(), 1);
    }

    #[test]
    fn constructs_without_exact_translation_run_on_the_backtracker() {
        let p = ecma(r"^([^|]+)\|\1$");
        assert!(p.uses_backtracking());
        assert_eq!(p.groups(), 1);
        assert_eq!(caps(&p, "A.com|a.COM").unwrap(), ["A.com|a.COM", "A.com"]);
        assert!(!p.is_match("a.com|b.com"));
        let p = ecma("^la/(?!private)(.*)$");
        assert!(p.uses_backtracking() && !p.is_match("la/Private/x"));
        assert_eq!(caps(&p, "la/pub").unwrap()[1], "pub");
        // A capture inside a leading look-ahead cannot be a guard either.
        assert!(ecma("^(?=(a))").uses_backtracking());
        // Everything regex-lite runs stays there.
        assert!(!ecma("^(?!api/)(.*)$").uses_backtracking());
        assert!(!ecma(r"^a[\s\S]b$").uses_backtracking());
    }

    #[test]
    fn invalid_patterns_are_refused_by_both_engines() {
        let bad = |s| Pattern::compile(s, Syntax::EcmaScript, true).unwrap_err();
        assert!(matches!(bad("(?<=a)b"), PatternError::Invalid(_)));
        assert!(matches!(bad("*"), PatternError::Invalid(_)));
        assert!(matches!(bad("(a"), PatternError::Invalid(_)));
        assert!(matches!(bad("^/{C:1}"), PatternError::Invalid(m) if m.contains("not templates")));
        assert!(matches!(bad(r"x{,2}"), PatternError::Invalid(_)));
        // Refused after the construct that sends the pattern to the backtracker.
        assert!(
            matches!(bad(r"(a)\1{C:1}"), PatternError::Invalid(m) if m.contains("not templates"))
        );
        assert!(matches!(bad(r"(a)\1(?<=b)"), PatternError::Invalid(_)));
        assert!(matches!(bad(r"(a)\2"), PatternError::Invalid(m) if m.contains("group")));
        assert!(matches!(bad(r"(?!a)(b"), PatternError::Invalid(_)));
        assert!(matches!(
            Pattern::compile(&"a".repeat(MAX_PATTERN_LEN + 1), Syntax::EcmaScript, true),
            Err(PatternError::Invalid(_))
        ));
    }

    #[test]
    fn escaped_and_ranged_non_ascii_fold_under_ignore_case() {
        // \u00e9 is é: it folds like a written é, in and out of a class.
        assert!(ecma(r"^\u00e9$").is_match("É"));
        assert!(ecma(r"^\xe9$").is_match("É"));
        assert!(ecma(r"^[\u00e9]$").is_match("É"));
        let cs = Pattern::compile(r"^\u00e9$", Syntax::EcmaScript, false).unwrap();
        assert!(!cs.is_match("É") && cs.is_match("é"));
        // [é-ë] is é, ê, ë and their capitals; never the letters between É and ë.
        let p = ecma("^[é-ë]$");
        for yes in ["é", "ê", "ë", "É", "Ê", "Ë"] {
            assert!(p.is_match(yes), "{yes}");
        }
        for no in ["Ì", "ß", "à", "È", "ì"] {
            assert!(!p.is_match(no), "{no}");
        }
        assert!(ecma(r"^[\u00e0-\u00e2]+$").is_match("àÁâ"));
        assert!(!ecma("^[^é-ë]$").is_match("Ê"));
        let cs = Pattern::compile("^[é-ë]$", Syntax::EcmaScript, false).unwrap();
        assert!(!cs.is_match("É") && cs.is_match("ê"));
        // Out of order ranges are refused, a `-` next to a class escape is literal.
        assert!(Pattern::compile("[ë-é]", Syntax::EcmaScript, true).is_err());
        assert!(ecma(r"^[\d-z]+$").is_match("1-z"));
        // A wide non-ASCII range under ignoreCase goes to the backtracker, which folds inputs.
        let p = ecma(r"^[\u0100-\uffff]$");
        assert!(p.uses_backtracking() && p.is_match("Ā") && !p.is_match("a"));
    }

    #[test]
    fn fast_paths_give_the_regex_result() {
        let inputs = [
            "",
            "a",
            "web/index.html",
            "WEB/Index.HTML",
            "x\ny",
            "a\rb",
            "l\u{2028}m",
            "p\u{2029}",
            "q\u{2027}r\u{20AC}",
            "\u{212A}\u{17F}",
            "ks",
            "é/É",
            "api",
            "/api/",
            "xapi",
            "apix",
            "index.html",
            "a$b",
            "^lit",
        ];
        for (src, fast) in [
            (".*", true),
            ("^.*", true),
            ("(.*)", true),
            ("^(.*)", true),
            ("^.*$", true),
            ("^(.*)$", true),
            ("api", true),
            ("^api", true),
            ("api$", true),
            ("^api$", true),
            // regex-lite folds ASCII only: the Kelvin sign and long s stay themselves.
            ("^ks$", true),
            (r"^index\.html$", true),
            (r"^web/index\.html", true),
            ("", true),
            ("^", true),
            ("$", true),
            ("^$", true),
            (r"a\$b", true),
            (r"\^lit", true),
            ("é/É", false),
            (".*$", false),
            ("^api/?", false),
        ] {
            for ic in [true, false] {
                let p = Pattern::compile(src, Syntax::EcmaScript, ic).unwrap();
                let slow = Pattern::compile_without_fast_paths(src, ic).unwrap();
                if ic || src != "é/É" {
                    assert_eq!(p.uses_fast_path(), fast, "{src:?} ic={ic}");
                }
                assert_eq!(p.groups(), slow.groups(), "{src:?}");
                for input in inputs {
                    let (mut a, mut b) = (Spans::new(), Spans::new());
                    let (ma, mb) = (p.find(input, &mut a), slow.find(input, &mut b));
                    assert_eq!((ma, &a), (mb, &b), "{src:?} ic={ic} on {input:?}");
                }
            }
        }
        // Case-sensitive non-ASCII literal is fast too.
        let p = Pattern::compile("é/É", Syntax::EcmaScript, false).unwrap();
        assert!(p.uses_fast_path() && p.is_match("xé/É") && !p.is_match("É/É"));
    }

    #[test]
    fn wildcard_is_anchored_and_captures_each_star() {
        let p = Pattern::compile("*.*", Syntax::Wildcard, true).unwrap();
        assert_eq!(caps(&p, "logo.jpg").unwrap(), ["logo.jpg", "logo", "jpg"]);
        let p = Pattern::compile("blog", Syntax::Wildcard, true).unwrap();
        assert!(p.is_match("BLOG") && !p.is_match("blogger"));
        let p = Pattern::compile("a?c(x)", Syntax::Wildcard, true).unwrap();
        assert!(p.is_match("abc(x)") && !p.is_match("ac(x)"));
    }

    #[test]
    fn exact_match_compares_the_whole_input() {
        let p = Pattern::compile("Web/Index.html", Syntax::ExactMatch, true).unwrap();
        assert_eq!(caps(&p, "web/index.HTML").unwrap(), ["web/index.HTML"]);
        assert!(!p.is_match("web/index.html2"));
        let p = Pattern::compile("ÉTÉ", Syntax::ExactMatch, true).unwrap();
        assert!(p.is_match("été"));
    }

    #[test]
    fn literal_prefix_prefilter_agrees_with_the_regex() {
        let p = ecma("^web/index");
        assert!(p.is_match("WEB/index.html") && !p.is_match("api/web/index"));
        // A top-level alternative needs no prefix, nor the first alternative's look-ahead.
        let p = ecma("^1|a$");
        assert!(p.is_match("xa") && p.is_match("1x") && !p.is_match("x1"));
        let p = ecma("^(?!api/)a|b");
        assert!(p.uses_backtracking() && p.is_match("api/b") && !p.is_match("api/a"));
        // A literal followed by a quantifier is not required.
        let p = ecma("^webs?/");
        assert!(p.is_match("web/"));
    }

    #[test]
    fn required_prefixes_index_rules() {
        let (e, w, x) = (Syntax::EcmaScript, Syntax::Wildcard, Syntax::ExactMatch);
        for (src, syntax, ic, want) in [
            ("^api/v1/(.*)", e, true, Some("api/v1/")),
            ("^API/x", e, true, Some("api/x")),
            ("^API/x", e, false, Some("API/x")),
            ("api/", e, true, None),
            ("^ab?c", e, true, Some("a")),
            ("^ab+c", e, true, Some("ab")),
            ("^a|b", e, true, None),
            ("^(a)b", e, true, Some("ab")),
            ("^(?!x)a", e, true, Some("a")),
            ("^[ab]c", e, true, None),
            ("^é/x", e, true, None),
            ("^é/x", e, false, Some("é/x")),
            // Fast path, regex, backtracker.
            ("^Web$", e, true, Some("web")),
            ("^web/(a|b)$", e, true, Some("web/")),
            ("^sky/(a)\\1", e, true, Some("")),
            ("^ab(a)\\1", e, true, Some("aba")),
            ("blog/*", w, true, Some("blog/")),
            ("b?og/*", w, true, Some("b")),
            ("*x", w, true, None),
            ("abc", x, true, None),
        ] {
            let p = Pattern::compile(src, syntax, ic).unwrap();
            let want = want.filter(|w| !w.is_empty());
            assert_eq!(
                p.required_prefix(),
                want,
                "{src:?} {syntax:?} ignoreCase={ic}"
            );
        }
        assert!(ecma("^sky/(a)\\1").uses_backtracking());
    }
}
