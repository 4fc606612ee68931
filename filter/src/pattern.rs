//! Pattern syntaxes of URL Rewrite (iis-reference.md §4): ECMAScript (unanchored search, the IIS
//! default), Wildcard (anchored, each `*` a capture) and ExactMatch, all compiled once.
//!
//! ECMAScript patterns run on regex-lite after a translation that keeps their ECMAScript meaning
//! where the two dialects differ: `.` excludes all line terminators, `\s` is the Unicode space
//! set, a `{` or `}` that forms no quantifier is literal, `[` inside a class is literal, `[]` and
//! `[^]` keep their ECMAScript sense, identity escapes (`\/`, `\-`, `\e`) are literals, and with
//! ignoreCase non-ASCII letters match both cases (regex-lite folds ASCII only). Look-aheads at
//! the very start of a `^`-anchored pattern (`^(?!api/).*`) run as separate guards, which is
//! exactly their meaning there. What has no exact translation — back-references inside a pattern
//! (`\1`), other look-arounds — is refused at load, naming the construct.

use crate::backtrack::{Outcome, Program};
use regex_lite::{Regex, RegexBuilder};
use std::fmt::Write as _;

/// `patternSyntax`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    EcmaScript,
    Wildcard,
    ExactMatch,
}

impl Syntax {
    /// Parses an attribute value (case-insensitive, §11).
    pub fn parse(value: &str) -> Option<Syntax> {
        match value.to_ascii_lowercase().as_str() {
            "ecmascript" => Some(Syntax::EcmaScript),
            "wildcard" => Some(Syntax::Wildcard),
            "exactmatch" => Some(Syntax::ExactMatch),
            _ => None,
        }
    }
}

/// Why a pattern cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternError {
    /// Not a valid pattern (IIS refuses it too).
    Invalid(String),
    /// Valid ECMAScript that this engine cannot run exactly.
    Unsupported(&'static str),
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
    /// A pattern that needs no regex at all (see [`Fast`]).
    Fast(Fast),
    /// The backtracking fallback, for what regex-lite cannot run exactly.
    Backtrack(Program),
}

/// Patterns whose result is computed directly, captures included, identical to the regex's.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fast {
    /// `.*`, `^.*`, `(.*)`, `^(.*)`: the run up to the first line terminator, from 0 (group 1
    /// the same when `group`). Always matches.
    DotStar { group: bool },
    /// `^.*$`, `^(.*)$`: the whole input when it holds no line terminator.
    WholeLine { group: bool },
    /// A literal, no group: searched (no anchor), at the start (`^lit`), at the end (`lit$`),
    /// or the whole input (`^lit$`). Under ignoreCase the literal is ASCII.
    Literal {
        text: String,
        start: bool,
        end: bool,
        ignore_case: bool,
    },
    /// Alternatives of plain literals, `a|b|c` (no anchor), or grouped `(a|b)` / `(?:a|b)`
    /// with optional `^` / `$` around the group. Leftmost match wins, then the first
    /// alternative in order (the regex's leftmost-first rule). Under ignoreCase every
    /// alternative is ASCII; none is empty.
    Alternation {
        alts: Vec<String>,
        start: bool,
        end: bool,
        group: bool,
        ignore_case: bool,
    },
}

/// A literal every match of a pattern contains (a run of plain characters of its top-level
/// concatenation that no quantifier makes optional): an input without it cannot match, so the
/// regex is skipped. ASCII when `ignore_case`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Required {
    text: String,
    ignore_case: bool,
}

impl Required {
    fn present(&self, input: &str) -> bool {
        if self.ignore_case {
            find_ascii_ci(input.as_bytes(), self.text.as_bytes()).is_some()
        } else {
            input.contains(self.text.as_str())
        }
    }
}

/// First position of `needle` in `hay`, ASCII letters compared without case; no allocation.
fn find_ascii_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let Some((&first, rest)) = needle.split_first() else {
        return Some(0);
    };
    let (lo, up) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    let last = hay.len().checked_sub(needle.len())?;
    let mut i = 0;
    while i <= last {
        match hay.get(i) {
            Some(&b) if b == lo || b == up => {
                if hay
                    .get(i + 1..i + needle.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(rest))
                {
                    return Some(i);
                }
            }
            Some(_) => {}
            None => return None,
        }
        i += 1;
    }
    None
}

/// First position of `needle` in `input`, with or without ASCII case folding.
fn find_literal(input: &str, needle: &str, ignore_case: bool) -> Option<usize> {
    if ignore_case {
        find_ascii_ci(input.as_bytes(), needle.as_bytes())
    } else {
        input.find(needle)
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
}

/// Capture spans of one match: index 0 is the whole match; `None` for a group that did not
/// take part.
pub type Spans = Vec<Option<(usize, usize)>>;

impl Pattern {
    pub fn compile(
        source: &str,
        syntax: Syntax,
        ignore_case: bool,
    ) -> Result<Pattern, PatternError> {
        // Bounds the time a configuration can spend compiling (regex-lite has no size limit).
        if source.len() > MAX_PATTERN_LEN {
            return Err(PatternError::Invalid(format!(
                "the pattern is {} bytes long; at most {MAX_PATTERN_LEN} are accepted",
                source.len()
            )));
        }
        let (matcher, groups) = match syntax {
            Syntax::ExactMatch => (
                Matcher::Exact {
                    text: source.to_string(),
                    ignore_case,
                },
                0,
            ),
            Syntax::Wildcard => {
                let (re, groups) = build(&wildcard_to_regex(source), ignore_case)?;
                (
                    Matcher::Regex {
                        re,
                        guards: Vec::new(),
                        prefix: None,
                        ignore_case,
                    },
                    groups,
                )
            }
            Syntax::EcmaScript => {
                if let Some(fast) = Fast::detect(source, ignore_case) {
                    let groups = usize::from(matches!(
                        fast,
                        Fast::DotStar { group: true }
                            | Fast::WholeLine { group: true }
                            | Fast::Alternation { group: true, .. }
                    ));
                    return Ok(Pattern {
                        source: source.to_string(),
                        matcher: Matcher::Fast(fast),
                        groups,
                        required: None,
                    });
                }
                let t = match Translation::run(source, ignore_case) {
                    Ok(t) => t,
                    // No exact regex-lite translation: the backtracking matcher runs it.
                    Err(PatternError::Unsupported(_)) => {
                        let program = Program::compile(source, ignore_case)?;
                        let groups = program.groups();
                        return Ok(Pattern {
                            source: source.to_string(),
                            matcher: Matcher::Backtrack(program),
                            groups,
                            required: required_literal(source, ignore_case),
                        });
                    }
                    Err(e) => return Err(e),
                };
                let (re, groups) = build(&t.main, ignore_case)?;
                let mut guards = Vec::with_capacity(t.guards.len());
                for (body, positive) in &t.guards {
                    guards.push((build(body, ignore_case)?.0, *positive));
                }
                let prefix = t.prefix.filter(|p| !ignore_case || p.is_ascii());
                let required = required_literal(source, ignore_case)
                    // `^lit…` already checks a literal at least as long at 0.
                    .filter(|r| prefix.as_ref().is_none_or(|p| r.text.len() > p.len()));
                return Ok(Pattern {
                    source: source.to_string(),
                    matcher: Matcher::Regex {
                        re,
                        guards,
                        prefix,
                        ignore_case,
                    },
                    groups,
                    required,
                });
            }
        };
        Ok(Pattern {
            source: source.to_string(),
            matcher,
            groups,
            required: None,
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

    /// Compiles an ECMAScript pattern for the backtracking matcher, whatever it contains (for
    /// tests comparing the two engines).
    pub fn compile_backtracking(source: &str, ignore_case: bool) -> Result<Pattern, PatternError> {
        let program = Program::compile(source, ignore_case)?;
        Ok(Pattern {
            source: source.to_string(),
            groups: program.groups(),
            matcher: Matcher::Backtrack(program),
            required: None,
        })
    }

    /// Compiles an ECMAScript pattern without the no-regex fast paths (for tests).
    pub fn compile_without_fast_paths(
        source: &str,
        ignore_case: bool,
    ) -> Result<Pattern, PatternError> {
        let t = Translation::run(source, ignore_case)?;
        let (re, groups) = build(&t.main, ignore_case)?;
        let mut guards = Vec::with_capacity(t.guards.len());
        for (body, positive) in &t.guards {
            guards.push((build(body, ignore_case)?.0, *positive));
        }
        Ok(Pattern {
            source: source.to_string(),
            matcher: Matcher::Regex {
                re,
                guards,
                prefix: None,
                ignore_case,
            },
            groups,
            required: None,
        })
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
            Matcher::Backtrack(program) => match program.find(input, spans) {
                Outcome::Match => true,
                Outcome::NoMatch => false,
                Outcome::Exhausted => {
                    log::debug!(
                        "iis-rewrite: pattern \"{}\" ran out of its {} step budget on a {}-byte input; counted as no match",
                        self.source,
                        crate::backtrack::STEP_BUDGET,
                        input.len()
                    );
                    false
                }
            },
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

/// Where the first ECMAScript line terminator (what `.` does not match: LF, CR, U+2028,
/// U+2029) starts, or the input's length. Scans bytes: U+2028/U+2029 are E2 80 A8/A9 in UTF-8.
fn line_end(input: &str) -> usize {
    let b = input.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'\n' | b'\r' => return i,
            0xE2 if matches!(b.get(i + 1..i + 3), Some([0x80, 0xA8 | 0xA9])) => return i,
            _ => i += 1,
        }
    }
    b.len()
}

impl Fast {
    fn detect(source: &str, ignore_case: bool) -> Option<Fast> {
        match source {
            ".*" | "^.*" => return Some(Fast::DotStar { group: false }),
            "(.*)" | "^(.*)" => return Some(Fast::DotStar { group: true }),
            "^.*$" => return Some(Fast::WholeLine { group: false }),
            "^(.*)$" => return Some(Fast::WholeLine { group: true }),
            _ => {}
        }
        let (start, rest) = match source.strip_prefix('^') {
            Some(r) => (true, r),
            None => (false, source),
        };
        // A trailing `$` is an anchor unless escaped (an odd run of backslashes before it).
        let (end, body) = match rest.strip_suffix('$') {
            Some(b) if b.chars().rev().take_while(|&c| c == '\\').count() % 2 == 0 => (true, b),
            _ => (false, rest),
        };
        if let Some(alt) = Fast::alternation(body, start, end, ignore_case) {
            return Some(alt);
        }
        let mut text = String::with_capacity(body.len());
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(e) if e.is_ascii_punctuation() => text.push(e),
                    _ => return None,
                },
                '^' | '$' | '.' | '|' | '?' | '*' | '+' | '(' | ')' | '[' | ']' | '{' | '}' => {
                    return None
                }
                c if ignore_case && !c.is_ascii() => return None,
                c => text.push(c),
            }
        }
        Some(Fast::Literal {
            text,
            start,
            end,
            ignore_case,
        })
    }

    /// `body` (the pattern without its anchors) as an alternation of literals, or a group of
    /// them; `None` for any other shape, non-ASCII under ignoreCase or an empty alternative
    /// (the regex runs those).
    fn alternation(body: &str, start: bool, end: bool, ignore_case: bool) -> Option<Fast> {
        let (group, inner) = match body.strip_prefix("(?:") {
            Some(r) => (false, r),
            None => match body.strip_prefix('(') {
                Some(r) => (true, r),
                None => (false, body),
            },
        };
        let grouped = group || inner.len() != body.len();
        // Anchors outside a group would bind to the first / last alternative only.
        if !grouped && (start || end) {
            return None;
        }
        let mut alts = vec![String::new()];
        let mut chars = inner.chars();
        let mut closed = false;
        while let Some(c) = chars.next() {
            if closed {
                // Something after the group's `)`.
                return None;
            }
            let lit = match c {
                '\\' => match chars.next() {
                    Some(e) if e.is_ascii_punctuation() => e,
                    _ => return None,
                },
                '|' => {
                    alts.push(String::new());
                    continue;
                }
                ')' if grouped => {
                    closed = true;
                    continue;
                }
                '^' | '$' | '.' | '?' | '*' | '+' | '(' | ')' | '[' | ']' | '{' | '}' => {
                    return None
                }
                c => c,
            };
            if ignore_case && !lit.is_ascii() {
                return None;
            }
            if let Some(a) = alts.last_mut() {
                a.push(lit);
            }
        }
        if grouped && !closed {
            return None;
        }
        // A single ungrouped literal is `Fast::Literal`'s.
        if !grouped && alts.len() < 2 {
            return None;
        }
        if alts.iter().any(String::is_empty) {
            return None;
        }
        Some(Fast::Alternation {
            alts,
            start,
            end,
            group,
            ignore_case,
        })
    }

    /// The span of the match the regex would report, for [`Fast::Alternation`].
    fn alternation_span(
        alts: &[String],
        start: bool,
        end: bool,
        ignore_case: bool,
        input: &str,
    ) -> Option<(usize, usize)> {
        let at = |alt: &String, pos: usize| {
            input.as_bytes().get(pos..pos + alt.len()).is_some_and(|w| {
                if ignore_case {
                    w.eq_ignore_ascii_case(alt.as_bytes())
                } else {
                    w == alt.as_bytes()
                }
            })
        };
        let n = input.len();
        match (start, end) {
            // At 0: the first alternative in order that fits (and ends the input when `$`).
            (true, _) => alts
                .iter()
                .find(|a| at(a, 0) && (!end || a.len() == n))
                .map(|a| (0, a.len())),
            // Leftmost start among the suffixes: the longest alternative that ends the input.
            (false, true) => {
                let mut best: Option<(usize, usize)> = None;
                for a in alts {
                    if let Some(pos) = n.checked_sub(a.len()).filter(|&p| at(a, p)) {
                        if best.is_none_or(|(b, _)| pos < b) {
                            best = Some((pos, n));
                        }
                    }
                }
                best
            }
            // Leftmost start; at equal starts the earlier alternative.
            (false, false) => {
                let mut best: Option<(usize, usize)> = None;
                for a in alts {
                    let limit = best.map_or(n, |(b, _)| b);
                    // Only a start before the best one so far can win.
                    let hay = input.get(..(limit + a.len()).min(n)).unwrap_or(input);
                    if let Some(pos) = find_literal(hay, a, ignore_case) {
                        if best.is_none_or(|(b, _)| pos < b) {
                            best = Some((pos, pos + a.len()));
                        }
                    }
                }
                best
            }
        }
    }

    /// Whether `input` matches (no spans, no allocation).
    fn is_match(&self, input: &str) -> bool {
        match self {
            // Any alternative anywhere: no need to find the leftmost one.
            Fast::Alternation {
                alts,
                start: false,
                end: false,
                ignore_case,
                ..
            } => alts
                .iter()
                .any(|a| find_literal(input, a, *ignore_case).is_some()),
            _ => self.span(input).is_some(),
        }
    }

    fn find(&self, input: &str, spans: &mut Spans) -> bool {
        let Some((span, group)) = self.span(input) else {
            return false;
        };
        spans.push(Some(span));
        if group {
            spans.push(Some(span));
        }
        true
    }

    /// The whole match's span, and whether group 1 is the same span. A case-sensitive literal
    /// may be non-ASCII; its span lies on char boundaries because it equals the literal's bytes.
    fn span(&self, input: &str) -> Option<((usize, usize), bool)> {
        match self {
            Fast::Alternation {
                alts,
                start,
                end,
                group,
                ignore_case,
            } => {
                Fast::alternation_span(alts, *start, *end, *ignore_case, input).map(|s| (s, *group))
            }
            Fast::DotStar { group } => Some(((0, line_end(input)), *group)),
            Fast::WholeLine { group } => {
                (line_end(input) == input.len()).then_some(((0, input.len()), *group))
            }
            Fast::Literal {
                text,
                start,
                end,
                ignore_case,
            } => {
                let n = text.len();
                let same = |at: usize| {
                    input.as_bytes().get(at..at + n).is_some_and(|w| {
                        if *ignore_case {
                            w.eq_ignore_ascii_case(text.as_bytes())
                        } else {
                            w == text.as_bytes()
                        }
                    })
                };
                match (start, end) {
                    (true, true) => (input.len() == n && same(0)).then_some(0),
                    (true, false) => same(0).then_some(0),
                    (false, true) => input.len().checked_sub(n).filter(|&at| same(at)),
                    (false, false) => find_literal(input, text, *ignore_case),
                }
                .map(|at| ((at, at + n), false))
            }
        }
    }
}

fn build(regex: &str, ignore_case: bool) -> Result<(Regex, usize), PatternError> {
    let re = RegexBuilder::new(regex)
        .case_insensitive(ignore_case)
        .build()
        .map_err(|e| PatternError::Invalid(first_line(&e.to_string())))?;
    let groups = re.captures_len().saturating_sub(1);
    Ok((re, groups))
}

fn first_line(s: &str) -> String {
    // regex-lite errors are one line; keep only that in config errors.
    s.lines().next().unwrap_or(s).to_string()
}

/// Wildcard: `*` captures any run (newlines included), `?` is one character, the rest literal,
/// and the whole input must match (§4.2).
fn wildcard_to_regex(source: &str) -> String {
    let mut out = String::from(r"\A(?s:");
    for c in source.chars() {
        match c {
            '*' => out.push_str("(.*)"),
            '?' => out.push('.'),
            _ => push_literal(&mut out, c),
        }
    }
    out.push_str(r")\z");
    out
}

/// Appends `c` so that it matches itself, in or out of a class.
fn push_literal(out: &mut String, c: char) {
    if c.is_ascii_punctuation() && c != '<' && c != '>' {
        out.push('\\');
        out.push(c);
    } else if c.is_ascii_alphanumeric() || !c.is_ascii() || c == '<' || c == '>' || c == ' ' {
        out.push(c);
    } else {
        let _ = write!(out, r"\x{{{:X}}}", u32::from(c));
    }
}

/// The cheap checks in front of a translated regex: its literal prefix (`^lit…`) and its
/// leading look-ahead guards. `false` means the regex cannot match.
fn regex_prefilters_pass(
    prefix: Option<&str>,
    guards: &[(Regex, bool)],
    ignore_case: bool,
    input: &str,
) -> bool {
    if let Some(p) = prefix {
        let ok = match input.as_bytes().get(..p.len()) {
            Some(h) if ignore_case => h.eq_ignore_ascii_case(p.as_bytes()),
            Some(h) => h == p.as_bytes(),
            None => false,
        };
        if !ok {
            return false;
        }
    }
    guards.iter().all(|(g, want)| g.is_match(input) == *want)
}

/// Longest pattern accepted.
pub const MAX_PATTERN_LEN: usize = 64 * 1024;

/// ECMAScript `\S` as class ranges (the complement of [`ECMA_SPACE`]), usable inside a class.
const ECMA_NON_SPACE: &str = r"\x{0}-\x{8}\x{E}-\x{1F}\x{21}-\x{9F}\x{A1}-\x{167F}\x{1681}-\x{1FFF}\x{200B}-\x{2027}\x{202A}-\x{202E}\x{2030}-\x{205E}\x{2060}-\x{2FFF}\x{3001}-\x{D7FF}\x{E000}-\x{FEFE}\x{FF00}-\x{10FFFF}";

/// ECMAScript `\s` as a class body (Unicode white space and line terminators).
const ECMA_SPACE: &str =
    r"\t\n\x0B\f\r \x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}";
/// ECMAScript `.`: anything but a line terminator.
const ECMA_DOT: &str = r"[^\n\r\x{2028}\x{2029}]";

/// The result of translating one ECMAScript pattern.
struct Translation {
    main: String,
    guards: Vec<(String, bool)>,
    prefix: Option<String>,
}

struct Translator<'a> {
    chars: Vec<char>,
    pos: usize,
    ignore_case: bool,
    source: &'a str,
}

impl Translation {
    fn run(source: &str, ignore_case: bool) -> Result<Translation, PatternError> {
        let mut t = Translator {
            chars: source.chars().collect(),
            pos: 0,
            ignore_case,
            source,
        };
        let mut main = String::with_capacity(source.len() + 8);
        let mut guards = Vec::new();
        let anchored = t.peek() == Some('^');
        // With a top-level `|`, the `^`, a leading look-ahead and a literal after them belong to
        // the first alternative only: no guards, no prefix (a look-ahead then goes to the
        // backtracker).
        let whole = !has_top_level_alternation(source);
        if anchored {
            t.pos += 1;
            main.push('^');
            // Leading look-aheads of an anchored pattern are tests of the whole input at 0.
            while whole && (t.starts_with("(?=") || t.starts_with("(?!")) {
                let positive = t.chars.get(t.pos + 2) == Some(&'=');
                t.pos += 3;
                let body = t.group_body()?;
                let inner = Translation::run(&body, ignore_case)?;
                if !inner.guards.is_empty() || has_capture_group(&body) {
                    return Err(PatternError::Unsupported(
                        "a capture group inside a look-ahead",
                    ));
                }
                guards.push((format!("^(?:{})", inner.main), positive));
            }
        }
        let prefix = if anchored && whole {
            t.literal_prefix()
        } else {
            None
        };
        t.translate_into(&mut main)?;
        Ok(Translation {
            main,
            guards,
            prefix,
        })
    }
}

/// The characters of an ECMAScript pattern that are syntax — not escaped, not inside a
/// character class — each with the character that follows it.
fn syntax_chars(s: &str) -> impl Iterator<Item = (char, Option<char>)> + '_ {
    let mut chars = s.chars().peekable();
    let mut in_class = false;
    std::iter::from_fn(move || {
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '[' if !in_class => in_class = true,
                ']' if in_class => in_class = false,
                _ if in_class => {}
                _ => return Some((c, chars.peek().copied())),
            }
        }
        None
    })
}

/// The longest literal run every match of an ECMAScript pattern contains, if any: scans the
/// top-level concatenation (none when it has a top-level `|`); a plain character that no
/// quantifier follows consumes exactly itself, so consecutive ones appear together in every
/// match. Groups, classes, `.`, escapes other than escaped punctuation, anchors and quantified
/// characters end a run (they are skipped, not analysed). Under ignoreCase only ASCII
/// characters count (regex-lite folds ASCII only, and non-ASCII letters get both cases).
fn required_literal(source: &str, ignore_case: bool) -> Option<Required> {
    if has_top_level_alternation(source) {
        return None;
    }
    let chars: Vec<char> = source.chars().collect();
    let quantified = |i: usize| matches!(chars.get(i), Some('*' | '+' | '?' | '{'));
    let mut best = String::new();
    let mut run = String::new();
    let mut i = 0;
    let mut end_run = |run: &mut String| {
        if run.len() > best.len() {
            best = std::mem::take(run);
        }
        run.clear();
    };
    while let Some(&c) = chars.get(i) {
        let (lit, width) = match c {
            '\\' => match chars.get(i + 1) {
                Some(&n) if n.is_ascii_punctuation() => (Some(n), 2),
                // `\d`, `\b`, `\12`, `\x41`, `\u0041`, `\cJ`…: not analysed. The letters and
                // digits after the escape may belong to it (hex digits, a control letter), so
                // they are skipped too rather than read as literals.
                Some(_) => {
                    let mut j = i + 2;
                    while chars.get(j).is_some_and(|d| d.is_alphanumeric()) {
                        j += 1;
                    }
                    // `\k<name>`: the name is part of the back-reference.
                    if chars.get(i + 1) == Some(&'k') && chars.get(i + 2) == Some(&'<') {
                        while let Some(&d) = chars.get(j) {
                            j += 1;
                            if d == '>' {
                                break;
                            }
                        }
                    }
                    (None, j - i)
                }
                None => (None, 1),
            },
            '[' => {
                // ECMAScript: the first unescaped `]` closes the class (`[]` is empty).
                let mut j = i + 1;
                while let Some(&d) = chars.get(j) {
                    j += if d == '\\' { 2 } else { 1 };
                    if d == ']' {
                        break;
                    }
                }
                (None, j - i)
            }
            '(' => {
                let mut depth = 0usize;
                let mut in_class = false;
                let mut j = i;
                while let Some(&d) = chars.get(j) {
                    j += 1;
                    match d {
                        '\\' => j += 1,
                        '[' if !in_class => in_class = true,
                        ']' if in_class => in_class = false,
                        '(' if !in_class => depth += 1,
                        ')' if !in_class => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                (None, j - i)
            }
            c if c.is_ascii_alphanumeric() || "/_-=&%:;,@!'\"~ #".contains(c) => (Some(c), 1),
            c if !c.is_ascii() && !ignore_case && c.is_alphanumeric() => (Some(c), 1),
            _ => (None, 1),
        };
        i += width;
        match lit {
            Some(l) if !quantified(i) && (!ignore_case || l.is_ascii()) => run.push(l),
            _ => end_run(&mut run),
        }
        // A quantifier (with its lazy `?`) after anything: skip it.
        if let Some(&q) = chars.get(i) {
            if matches!(q, '*' | '+' | '?') {
                i += 1;
                if chars.get(i) == Some(&'?') {
                    i += 1;
                }
            } else if q == '{' {
                while let Some(&d) = chars.get(i) {
                    i += 1;
                    if d == '}' {
                        break;
                    }
                }
                if chars.get(i) == Some(&'?') {
                    i += 1;
                }
            }
        }
    }
    end_run(&mut run);
    (!best.is_empty()).then_some(Required {
        text: best,
        ignore_case,
    })
}

/// Whether an ECMAScript pattern has a `|` outside every group and class.
fn has_top_level_alternation(s: &str) -> bool {
    let mut depth = 0usize;
    for (c, _) in syntax_chars(s) {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '|' if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// Whether an ECMAScript fragment has a capturing group (not `(?…`, not escaped, not in a class).
fn has_capture_group(s: &str) -> bool {
    syntax_chars(s).any(|(c, next)| c == '(' && next != Some('?'))
}

impl Translator<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(k, c)| self.chars.get(self.pos + k) == Some(&c))
    }

    /// Reads up to the `)` that closes a group whose opening was consumed; returns the body.
    fn group_body(&mut self) -> Result<String, PatternError> {
        let mut depth = 1usize;
        let mut in_class = false;
        let mut body = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '\\' => {
                    body.push(c);
                    if let Some(n) = self.peek() {
                        body.push(n);
                        self.pos += 1;
                    }
                    continue;
                }
                '[' if !in_class => in_class = true,
                ']' if in_class => in_class = false,
                '(' if !in_class => depth += 1,
                ')' if !in_class => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(body);
                    }
                }
                _ => {}
            }
            body.push(c);
        }
        Err(PatternError::Invalid("unterminated group".into()))
    }

    /// The literal run right after `^` that every match must start with (for a cheap test
    /// before running the regex); a literal followed by a quantifier is not required.
    fn literal_prefix(&self) -> Option<String> {
        let mut out = String::new();
        let mut i = self.pos;
        while let Some(&c) = self.chars.get(i) {
            let next = self.chars.get(i + 1).copied();
            let (lit, width) = match c {
                '\\' => match next {
                    Some(n) if n.is_ascii_punctuation() => (n, 2),
                    _ => break,
                },
                c if c.is_alphanumeric() || "/_-=&%:;,@!'\"~ ".contains(c) => (c, 1),
                _ => break,
            };
            if matches!(self.chars.get(i + width), Some('*' | '?' | '+' | '{')) {
                break;
            }
            out.push(lit);
            i += width;
        }
        (!out.is_empty()).then_some(out)
    }

    fn translate_into(&mut self, out: &mut String) -> Result<(), PatternError> {
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '\\' => self.escape(out, false)?,
                '[' => self.class(out)?,
                '.' => out.push_str(ECMA_DOT),
                '(' => self.group_open(out)?,
                '{' => {
                    if !self.quantifier_ahead() {
                        // IIS's ECMAScript engine refuses a brace that starts no quantifier; the
                        // usual cause is a template written in a pattern.
                        return Err(PatternError::Invalid(format!(
                            "\"{{\" at offset {} starts no quantifier {{n}}, {{n,}} or {{n,m}}; patterns are not templates (IIS refuses this too); write \\{{ for a literal brace",
                            self.pos - 1
                        )));
                    }
                    {
                        // Copy the whole quantifier, closing brace included.
                        out.push('{');
                        while let Some(q) = self.peek() {
                            self.pos += 1;
                            out.push(q);
                            if q == '}' {
                                break;
                            }
                        }
                    }
                }
                '}' => out.push_str(r"\}"),
                ']' => out.push_str(r"\]"),
                c if self.ignore_case && !c.is_ascii() => push_case_pair(out, c, false),
                _ => out.push(c),
            }
        }
        Ok(())
    }

    /// After a `{`: whether `n}`, `n,}` or `n,m}` follows (a quantifier, not a literal).
    fn quantifier_ahead(&self) -> bool {
        let mut i = self.pos;
        let digits = |i: &mut usize| {
            let start = *i;
            while matches!(self.chars.get(*i), Some(c) if c.is_ascii_digit()) {
                *i += 1;
            }
            *i > start
        };
        if !digits(&mut i) {
            return false;
        }
        if self.chars.get(i) == Some(&',') {
            i += 1;
            digits(&mut i);
        }
        self.chars.get(i) == Some(&'}')
    }

    fn group_open(&mut self, out: &mut String) -> Result<(), PatternError> {
        if self.peek() != Some('?') {
            out.push('(');
            return Ok(());
        }
        if self.starts_with("?:") {
            self.pos += 2;
            out.push_str("(?:");
        } else if self.starts_with("?=") || self.starts_with("?!") {
            return Err(PatternError::Unsupported(
                "a look-ahead (?=…)/(?!…) that is not at the start of a ^-anchored pattern",
            ));
        } else if self.starts_with("?<=") || self.starts_with("?<!") {
            return Err(PatternError::Invalid(
                "look-behind is not ECMAScript (IIS refuses it too)".into(),
            ));
        } else if self.starts_with("?<") {
            // Named group: regex-lite spells it (?P<name>…).
            self.pos += 2;
            out.push_str("(?P<");
        } else {
            return Err(PatternError::Invalid(format!(
                "\"(?\" at offset {} is not ECMAScript",
                self.pos - 1
            )));
        }
        Ok(())
    }

    /// Translates an escape whose `\` was consumed.
    fn escape(&mut self, out: &mut String, in_class: bool) -> Result<(), PatternError> {
        let Some(c) = self.peek() else {
            return Err(PatternError::Invalid("pattern ends with \\".into()));
        };
        self.pos += 1;
        match c {
            'd' | 'D' | 'w' | 'W' | 'n' | 'r' | 't' | 'f' | 'v' => {
                out.push('\\');
                out.push(c);
            }
            'b' | 'B' if !in_class => {
                out.push('\\');
                out.push(c);
            }
            // In a class, ECMAScript \b is backspace.
            'b' => out.push_str(r"\x08"),
            's' if in_class => out.push_str(ECMA_SPACE),
            's' => {
                out.push('[');
                out.push_str(ECMA_SPACE);
                out.push(']');
            }
            'S' if in_class => out.push_str(ECMA_NON_SPACE),
            'S' => {
                out.push_str("[^");
                out.push_str(ECMA_SPACE);
                out.push(']');
            }
            '0' if !matches!(self.peek(), Some('0'..='9')) => out.push_str(r"\x00"),
            '1'..='9' => {
                return Err(PatternError::Unsupported(
                    "a back-reference (\\1…\\9) inside a pattern",
                ))
            }
            'x' | 'u' => match self.take_hex(if c == 'x' { 2 } else { 4 }) {
                // An escaped non-ASCII letter folds like a written one.
                Some(v) => match char::from_u32(v) {
                    Some(ch) if self.ignore_case && !ch.is_ascii() => {
                        push_case_pair(out, ch, in_class)
                    }
                    _ => push_code(out, v),
                },
                None => push_literal(out, c),
            },
            'c' => match self.peek() {
                Some(l) if l.is_ascii_alphabetic() => {
                    self.pos += 1;
                    push_code(out, u32::from(l) % 32);
                }
                _ => {
                    out.push_str(r"\\");
                    push_literal(out, 'c');
                }
            },
            'k' => return Err(PatternError::Unsupported("a named back-reference \\k<…>")),
            // Any other escaped character stands for itself (ECMAScript identity escape).
            _ => push_literal(out, c),
        }
        Ok(())
    }

    fn take_hex(&mut self, n: usize) -> Option<u32> {
        let digits: String = self.chars.get(self.pos..self.pos + n)?.iter().collect();
        let v = u32::from_str_radix(&digits, 16).ok()?;
        if digits.chars().all(|c| c.is_ascii_hexdigit()) {
            self.pos += n;
            Some(v)
        } else {
            None
        }
    }

    /// Translates a class whose `[` was consumed.
    fn class(&mut self, out: &mut String) -> Result<(), PatternError> {
        let negated = self.peek() == Some('^');
        if negated {
            self.pos += 1;
        }
        // ECMAScript `[]` never matches and `[^]` matches anything; regex-lite would read the
        // `]` as a literal member.
        if self.peek() == Some(']') {
            self.pos += 1;
            out.push_str(if negated {
                r"[\x{0}-\x{10FFFF}]"
            } else {
                r"[^\x{0}-\x{10FFFF}]"
            });
            return Ok(());
        }
        out.push('[');
        if negated {
            out.push('^');
        }
        // Case variants of non-ASCII range members, added at the end of the class.
        let mut variants = String::new();
        loop {
            if self.peek() == Some(']') {
                self.pos += 1;
                break;
            }
            let lo = self.class_item()?;
            // `a-z` is a range unless the `-` is last; next to a class escape it is literal.
            if self.peek() == Some('-') && !matches!(self.chars.get(self.pos + 1), Some(']') | None)
            {
                self.pos += 1;
                let hi = self.class_item()?;
                if let (ClassItem::Char(l), ClassItem::Char(h)) = (&lo, &hi) {
                    if l > h {
                        return Err(PatternError::Invalid(format!(
                            "the class range {l}-{h} is out of order in \"{}\"",
                            self.source
                        )));
                    }
                    push_literal(out, *l);
                    out.push('-');
                    push_literal(out, *h);
                    if self.ignore_case {
                        range_case_variants(*l, *h, &mut variants)?;
                    }
                    continue;
                }
                self.push_class_item(out, &lo);
                out.push_str(r"\-");
                self.push_class_item(out, &hi);
                continue;
            }
            self.push_class_item(out, &lo);
        }
        out.push_str(&variants);
        out.push(']');
        Ok(())
    }

    /// One member of a class: a character or an escape (the `]` check is the caller's).
    fn class_item(&mut self) -> Result<ClassItem, PatternError> {
        let Some(c) = self.peek() else {
            return Err(PatternError::Invalid(format!(
                "unterminated character class in \"{}\"",
                self.source
            )));
        };
        self.pos += 1;
        if c != '\\' {
            return Ok(ClassItem::Char(c));
        }
        let Some(e) = self.peek() else {
            return Err(PatternError::Invalid("pattern ends with \\".into()));
        };
        self.pos += 1;
        Ok(match e {
            'n' => ClassItem::Char('\n'),
            'r' => ClassItem::Char('\r'),
            't' => ClassItem::Char('\t'),
            'f' => ClassItem::Char('\u{C}'),
            'v' => ClassItem::Char('\u{B}'),
            'b' => ClassItem::Char('\u{8}'),
            '0' if !matches!(self.peek(), Some('0'..='9')) => ClassItem::Char('\0'),
            'd' | 'D' | 'w' | 'W' => ClassItem::Set(format!("\\{e}")),
            's' => ClassItem::Set(ECMA_SPACE.into()),
            'S' => ClassItem::Set(ECMA_NON_SPACE.into()),
            '1'..='9' => {
                return Err(PatternError::Unsupported(
                    "a back-reference (\\1…\\9) inside a pattern",
                ))
            }
            'x' | 'u' => match self
                .take_hex(if e == 'x' { 2 } else { 4 })
                .map(char::from_u32)
            {
                Some(Some(ch)) => ClassItem::Char(ch),
                Some(None) => {
                    return Err(PatternError::Invalid(format!(
                        "an escape in \"{}\" is not a character",
                        self.source
                    )))
                }
                None => ClassItem::Char(e),
            },
            'c' => match self.peek() {
                Some(l) if l.is_ascii_alphabetic() => {
                    self.pos += 1;
                    ClassItem::Char(char::from(l as u8 % 32))
                }
                _ => ClassItem::Set(r"\\c".into()),
            },
            // Identity escape.
            _ => ClassItem::Char(e),
        })
    }

    fn push_class_item(&self, out: &mut String, item: &ClassItem) {
        match item {
            ClassItem::Set(s) => out.push_str(s),
            ClassItem::Char(c) if self.ignore_case && !c.is_ascii() => {
                push_case_pair(out, *c, true)
            }
            ClassItem::Char(c) => push_literal(out, *c),
        }
    }
}

/// A member of a class being translated.
enum ClassItem {
    Char(char),
    /// Already translated class body text (`\d`, the `\s` ranges…).
    Set(String),
}

/// Widest non-ASCII class range whose case variants are listed under ignoreCase; a wider one
/// goes to the backtracking matcher, which folds each input character instead.
const MAX_FOLDED_RANGE: u32 = 4096;

/// Under ignoreCase, the case variants of the range's members that lie outside it (regex-lite
/// folds ASCII only), e.g. `[é-ë]` also needs `É-Ë`.
fn range_case_variants(lo: char, hi: char, out: &mut String) -> Result<(), PatternError> {
    if hi.is_ascii() {
        return Ok(());
    }
    if u32::from(hi) - u32::from(lo) > MAX_FOLDED_RANGE {
        return Err(PatternError::Unsupported(
            "a wide non-ASCII class range under ignoreCase",
        ));
    }
    for c in lo..=hi {
        for v in crate::backtrack::case_variants(c) {
            if !(lo..=hi).contains(&v) {
                push_literal(out, v);
            }
        }
    }
    Ok(())
}

fn push_code(out: &mut String, v: u32) {
    let _ = write!(out, r"\x{{{v:X}}}");
}

/// A non-ASCII letter under ignoreCase: both its cases (regex-lite folds ASCII only).
fn push_case_pair(out: &mut String, c: char, in_class: bool) {
    let lower: Vec<char> = c.to_lowercase().collect();
    let upper: Vec<char> = c.to_uppercase().collect();
    let mut set = vec![c];
    for alt in [lower, upper] {
        if let [one] = alt.as_slice() {
            if !set.contains(one) {
                set.push(*one);
            }
        }
    }
    if set.len() == 1 {
        out.push(c);
        return;
    }
    if !in_class {
        out.push('[');
    }
    set.iter().for_each(|c| out.push(*c));
    if !in_class {
        out.push(']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_scan_skips_escapes_and_classes() {
        assert!(has_top_level_alternation("a|b"));
        assert!(has_top_level_alternation("(a)|b"));
        assert!(has_top_level_alternation("[(]|x"));
        assert!(!has_top_level_alternation("(a|b)"));
        assert!(!has_top_level_alternation("[|]\\|"));
        assert!(has_capture_group("x(a)"));
        assert!(has_capture_group("(?:a)(b)"));
        assert!(!has_capture_group("(?:a)\\([(]"));
        assert!(!has_capture_group("[\\](]"));
    }

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

    fn is_fast(p: &Pattern) -> bool {
        matches!(p.matcher, Matcher::Fast(_))
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
                    assert_eq!(is_fast(&p), fast, "{src:?} ic={ic}");
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
        assert!(is_fast(&p) && p.is_match("xé/É") && !p.is_match("É/É"));
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
}
