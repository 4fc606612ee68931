//! Patterns whose result is computed without a regex, read off the syntax tree: `.*` and its
//! anchored / grouped forms, a plain literal (searched, anchored at either end or both), and an
//! alternation of plain literals. Each gives exactly the match and capture spans the regex
//! would (ECMAScript leftmost-first: the leftmost start wins, then the first alternative).

use super::literals::find_literal;
use super::syntax::{sequence, Node, Repeat, Spans, Tree};

/// Patterns whose result is computed directly, captures included, identical to the regex's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fast {
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
    /// The fast path for a parsed pattern, if it has one of the shapes above.
    pub(crate) fn detect(tree: &Tree, ignore_case: bool) -> Option<Fast> {
        let items = sequence(&tree.root);
        let (start, rest) = match items {
            [Node::Start, rest @ ..] => (true, rest),
            _ => (false, items),
        };
        let (end, body) = match rest {
            [body @ .., Node::End] => (true, body),
            _ => (false, rest),
        };
        match body {
            [n] if is_dot_star(n) && !end => return Some(Fast::DotStar { group: false }),
            [Node::Group(Some(_), n)] if is_dot_star(n) && !end => {
                return Some(Fast::DotStar { group: true })
            }
            [n] if is_dot_star(n) && start => return Some(Fast::WholeLine { group: false }),
            [Node::Group(Some(_), n)] if is_dot_star(n) && start => {
                return Some(Fast::WholeLine { group: true })
            }
            _ => {}
        }
        // A single group holding one literal or an alternation of literals.
        if let [Node::Group(capture, inner)] = body {
            return Fast::alternation(inner, start, end, capture.is_some(), ignore_case);
        }
        // An ungrouped alternation at the root has no anchor around it.
        if let [Node::Alt(_)] = items {
            return Fast::alternation(&tree.root, false, false, false, ignore_case);
        }
        let text = literal(body, ignore_case)?;
        Some(Fast::Literal {
            text,
            start,
            end,
            ignore_case,
        })
    }

    /// `node` (the group's body, or the root) as alternatives of literals; `None` for any other
    /// shape, non-ASCII under ignoreCase or an empty alternative (the regex runs those).
    fn alternation(
        node: &Node,
        start: bool,
        end: bool,
        group: bool,
        ignore_case: bool,
    ) -> Option<Fast> {
        let alts = match node {
            Node::Alt(alts) => alts
                .iter()
                .map(|a| literal(sequence(a), ignore_case))
                .collect::<Option<Vec<String>>>()?,
            other => vec![literal(sequence(other), ignore_case)?],
        };
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
    pub(crate) fn is_match(&self, input: &str) -> bool {
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

    pub(crate) fn find(&self, input: &str, spans: &mut Spans) -> bool {
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

/// `.*` (greedy).
fn is_dot_star(n: &Node) -> bool {
    matches!(n, Node::Repeat(r) if matches!(**r, Repeat { node: Node::Any, min: 0, max: None, greedy: true, .. }))
}

/// The text of a run of plain characters (ASCII under ignoreCase: regex-lite folds ASCII only).
fn literal(items: &[Node], ignore_case: bool) -> Option<String> {
    items
        .iter()
        .map(|n| match n {
            Node::Char(c) if !ignore_case || c.is_ascii() => Some(*c),
            _ => None,
        })
        .collect()
}
