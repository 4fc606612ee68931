//! The syntax tree as regex-lite text, keeping the ECMAScript meaning where the two dialects
//! differ: `.` excludes every line terminator, `\s` is the Unicode space set, `[]` never
//! matches and `[^]` matches anything, and under ignoreCase non-ASCII letters match both cases
//! (regex-lite folds ASCII only). Look-aheads at the very start of a `^`-anchored pattern
//! (`^(?!api/).*`) become separate guards, which is exactly their meaning there. What has no
//! exact translation — back-references, other look-arounds, wide non-ASCII ranges under
//! ignoreCase — is `Unsupported`: the backtracking matcher runs those patterns.
//!
//! Wildcard patterns (Microsoft's URL Rewrite "Wildcard" syntax) are translated here too.

use super::syntax::{case_variants, sequence, Class, ClassItem, Node, PatternError, Perl, Tree};
use regex_lite::{Regex, RegexBuilder};
use std::fmt::Write as _;

/// ECMAScript `\S` as class ranges (the complement of [`ECMA_SPACE`]), usable inside a class.
const ECMA_NON_SPACE: &str = r"\x{0}-\x{8}\x{E}-\x{1F}\x{21}-\x{9F}\x{A1}-\x{167F}\x{1681}-\x{1FFF}\x{200B}-\x{2027}\x{202A}-\x{202E}\x{2030}-\x{205E}\x{2060}-\x{2FFF}\x{3001}-\x{D7FF}\x{E000}-\x{FEFE}\x{FF00}-\x{10FFFF}";
/// ECMAScript `\s` as a class body (Unicode white space and line terminators).
const ECMA_SPACE: &str =
    r"\t\n\x0B\f\r \x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}";
/// ECMAScript `.`: anything but a line terminator.
const ECMA_DOT: &str = r"[^\n\r\x{2028}\x{2029}]";

/// Widest non-ASCII class range whose case variants are listed under ignoreCase; a wider one
/// goes to the backtracking matcher, which folds each input character instead.
const MAX_FOLDED_RANGE: u32 = 4096;

/// An ECMAScript pattern as regex-lite text.
pub(crate) struct Translation {
    pub main: String,
    /// Leading look-aheads of a `^`-anchored pattern: (regex anchored at 0, must match).
    pub guards: Vec<(String, bool)>,
}

pub(crate) fn translate(tree: &Tree, ignore_case: bool) -> Result<Translation, PatternError> {
    let w = Writer { ignore_case };
    let mut main = String::with_capacity(64);
    let mut guards = Vec::new();
    let mut rest = sequence(&tree.root);
    // A top-level `|` makes the root an `Alt`: then `^` and a look-ahead after it belong to the
    // first alternative only, and the look-ahead goes to the backtracker.
    if let [Node::Start, after @ ..] = rest {
        main.push('^');
        rest = after;
        while let [Node::Look(look), after @ ..] = rest {
            if look.groups.0 != look.groups.1 {
                return Err(PatternError::Unsupported(
                    "a capture group inside a look-ahead",
                ));
            }
            let mut body = String::new();
            w.node(&look.body, &mut body)?;
            guards.push((format!("^(?:{body})"), look.positive));
            rest = after;
        }
    }
    for n in rest {
        w.node(n, &mut main)?;
    }
    Ok(Translation { main, guards })
}

/// Compiles regex-lite text; the number of capture groups.
pub(crate) fn build(regex: &str, ignore_case: bool) -> Result<(Regex, usize), PatternError> {
    let re = RegexBuilder::new(regex)
        .case_insensitive(ignore_case)
        .build()
        // regex-lite errors are one line; keep only that in config errors.
        .map_err(|e| {
            let text = e.to_string();
            PatternError::Invalid(text.lines().next().unwrap_or(&text).to_string())
        })?;
    let groups = re.captures_len().saturating_sub(1);
    Ok((re, groups))
}

/// Wildcard: `*` captures any run (newlines included), `?` is one character, the rest literal,
/// and the whole input must match.
pub(crate) fn wildcard_to_regex(source: &str) -> String {
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

struct Writer {
    ignore_case: bool,
}

impl Writer {
    fn node(&self, n: &Node, out: &mut String) -> Result<(), PatternError> {
        match n {
            Node::Empty => {}
            Node::Char(c) => self.char(*c, out, false),
            Node::Class(class) => self.class(class, out)?,
            Node::Any => out.push_str(ECMA_DOT),
            Node::Start => out.push('^'),
            Node::End => out.push('$'),
            Node::Word(true) => out.push_str(r"\b"),
            Node::Word(false) => out.push_str(r"\B"),
            // Named groups are numbered like the others; regex-lite needs no name.
            Node::Group(Some(_), body) => {
                out.push('(');
                self.node(body, out)?;
                out.push(')');
            }
            Node::Group(None, body) => {
                out.push_str("(?:");
                self.node(body, out)?;
                out.push(')');
            }
            Node::Look(_) => {
                return Err(PatternError::Unsupported(
                    "a look-ahead (?=…)/(?!…) that is not at the start of a ^-anchored pattern",
                ))
            }
            Node::BackRef(_) => {
                return Err(PatternError::Unsupported(
                    "a back-reference (\\1…\\9, \\k<name>) inside a pattern",
                ))
            }
            Node::Concat(items) => {
                for i in items {
                    self.node(i, out)?;
                }
            }
            Node::Alt(alts) => {
                for (k, a) in alts.iter().enumerate() {
                    if k > 0 {
                        out.push('|');
                    }
                    self.node(a, out)?;
                }
            }
            Node::Repeat(r) => {
                // The parser only repeats atoms; anything else is wrapped to keep its extent.
                let atom = matches!(
                    r.node,
                    Node::Char(_) | Node::Class(_) | Node::Any | Node::Group(..)
                );
                if atom {
                    self.node(&r.node, out)?;
                } else {
                    out.push_str("(?:");
                    self.node(&r.node, out)?;
                    out.push(')');
                }
                match (r.min, r.max) {
                    (0, None) => out.push('*'),
                    (1, None) => out.push('+'),
                    (0, Some(1)) => out.push('?'),
                    (min, None) => {
                        let _ = write!(out, "{{{min},}}");
                    }
                    (min, Some(max)) if min == max => {
                        let _ = write!(out, "{{{min}}}");
                    }
                    (min, Some(max)) => {
                        let _ = write!(out, "{{{min},{max}}}");
                    }
                }
                if !r.greedy {
                    out.push('?');
                }
            }
        }
        Ok(())
    }

    fn char(&self, c: char, out: &mut String, in_class: bool) {
        if self.ignore_case && !c.is_ascii() {
            push_case_pair(out, c, in_class);
        } else {
            push_literal(out, c);
        }
    }

    fn class(&self, class: &Class, out: &mut String) -> Result<(), PatternError> {
        // regex-lite has no empty class: `[]` is "no character", `[^]` "any character".
        if class.items.is_empty() {
            out.push_str(if class.negated {
                r"[\x{0}-\x{10FFFF}]"
            } else {
                r"[^\x{0}-\x{10FFFF}]"
            });
            return Ok(());
        }
        out.push('[');
        if class.negated {
            out.push('^');
        }
        // Case variants of non-ASCII range members, added at the end of the class.
        let mut variants = String::new();
        for item in &class.items {
            match *item {
                ClassItem::Char(c) => self.char(c, out, true),
                ClassItem::Range(lo, hi) => {
                    push_literal(out, lo);
                    out.push('-');
                    push_literal(out, hi);
                    if self.ignore_case {
                        range_case_variants(lo, hi, &mut variants)?;
                    }
                }
                ClassItem::Perl(Perl::Digit, negated) => {
                    out.push_str(if negated { r"\D" } else { r"\d" })
                }
                ClassItem::Perl(Perl::Word, negated) => {
                    out.push_str(if negated { r"\W" } else { r"\w" })
                }
                ClassItem::Perl(Perl::Space, false) => out.push_str(ECMA_SPACE),
                ClassItem::Perl(Perl::Space, true) => out.push_str(ECMA_NON_SPACE),
            }
        }
        out.push_str(&variants);
        out.push(']');
        Ok(())
    }
}

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
        for v in case_variants(c) {
            if !(lo..=hi).contains(&v) {
                push_literal(out, v);
            }
        }
    }
    Ok(())
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

/// A non-ASCII letter under ignoreCase: both its cases (regex-lite folds ASCII only).
fn push_case_pair(out: &mut String, c: char, in_class: bool) {
    let mut set = vec![c];
    let lower: Vec<char> = c.to_lowercase().collect();
    let upper: Vec<char> = c.to_uppercase().collect();
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
    use crate::pattern::syntax::parse;

    fn regex(src: &str, ignore_case: bool) -> Regex {
        let t = translate(&parse(src).unwrap(), ignore_case).unwrap();
        assert!(t.guards.is_empty());
        build(&t.main, ignore_case).unwrap().0
    }

    #[test]
    fn every_character_is_written_so_that_it_matches_itself() {
        for c in (0u8..128).map(char::from).chain(['é', '\u{2028}', '€']) {
            let mut out = String::new();
            push_literal(&mut out, c);
            let re = build(&format!("^{out}$"), false).unwrap().0;
            assert!(re.is_match(&c.to_string()), "{c:?} as {out:?}");
            let class = build(&format!("^[{out}]$"), false).unwrap().0;
            assert!(class.is_match(&c.to_string()), "[{c:?}] as {out:?}");
            assert!(!re.is_match("x\u{1}") && !class.is_match("x\u{1}"));
        }
    }

    #[test]
    fn dialect_differences() {
        // `\c` without a control letter: a backslash, then `c` is the repeated atom.
        assert!(regex(r"^\c+$", false).is_match(r"\cc"));
        // Repeats keep their bounds and laziness.
        assert_eq!(regex("a{2,3}?", false).find("aaaa").unwrap().as_str(), "aa");
        assert!(regex("^(?<n>a)(b)$", false).captures_len() == 3);
        // Wide non-ASCII ranges under ignoreCase are left to the backtracker.
        let wide = parse(r"[\u0100-\uffff]").unwrap();
        assert!(matches!(
            translate(&wide, true),
            Err(PatternError::Unsupported(_))
        ));
        assert!(translate(&wide, false).is_ok());
        assert!(!regex("^[^]$", false).is_match("") && regex("^[^]$", false).is_match("\n"));
    }

    #[test]
    fn wildcard_stars_capture_and_anchor() {
        let (re, groups) = build(&wildcard_to_regex("a*.?s"), true).unwrap();
        assert_eq!(groups, 1);
        assert!(re.is_match("A\nb.Xs") && !re.is_match("xa.bs"));
    }
}
