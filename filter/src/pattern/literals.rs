//! Literals every match must contain, read off the syntax tree: the prefix a `^`-anchored
//! pattern's matches start with, and the longest run of characters every match contains. Both
//! let a request skip the regex (or a whole bucket of rules) when the literal is absent.
//!
//! Under ignoreCase only ASCII characters count: regex-lite folds ASCII only (non-ASCII letters
//! get both cases written out), so an ASCII-caseless search finds exactly what the regex could
//! match. The backtracking matcher folds by simple Unicode case mapping, under which a few
//! non-ASCII characters (the Kelvin sign, long s, dotless i) fold to ASCII letters: for it, those
//! letters end a literal too.

use super::syntax::{sequence, Node, Tree};

/// ASCII letters that some non-ASCII character folds to under the backtracker's case mapping
/// (checked by a test over every character).
const FOLDED_FROM_NON_ASCII: &[char] = &['i', 'k', 's'];

/// How a literal is compared with the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Folding {
    /// Exact characters.
    None,
    /// ASCII letters without case (regex-lite's ignoreCase).
    Ascii,
    /// The backtracker's ignoreCase.
    Unicode,
}

impl Folding {
    pub fn of(ignore_case: bool, backtracking: bool) -> Folding {
        match (ignore_case, backtracking) {
            (false, _) => Folding::None,
            (true, false) => Folding::Ascii,
            (true, true) => Folding::Unicode,
        }
    }

    /// Whether `c` in a pattern can be compared as itself (ASCII-caseless when folding).
    fn keeps(self, c: char) -> bool {
        match self {
            Folding::None => true,
            Folding::Ascii => c.is_ascii(),
            Folding::Unicode => {
                c.is_ascii() && !FOLDED_FROM_NON_ASCII.contains(&c.to_ascii_lowercase())
            }
        }
    }
}

/// A pattern's atoms in match order, with the groups that hold one concatenation (not
/// repeated, no `|` inside) opened up: their characters are adjacent to their neighbours'.
fn atoms<'a>(items: &'a [Node], out: &mut Vec<&'a Node>) {
    for n in items {
        match n {
            Node::Group(_, body) if !matches!(**body, Node::Alt(_)) => atoms(sequence(body), out),
            other => out.push(other),
        }
    }
}

/// Whether a node consumes no input (so the characters around it are adjacent).
fn zero_width(n: &Node) -> bool {
    matches!(
        n,
        Node::Start | Node::End | Node::Word(_) | Node::Look(_) | Node::Empty
    )
}

/// The literal every match of a `^`-anchored pattern starts with at 0 (`None` if empty or not
/// anchored; a top-level `|` anchors one alternative only).
pub(crate) fn literal_prefix(tree: &Tree, folding: Folding) -> Option<String> {
    let items = sequence(&tree.root);
    let [Node::Start, rest @ ..] = items else {
        return None;
    };
    let mut flat = Vec::new();
    atoms(rest, &mut flat);
    let mut out = String::new();
    for n in flat {
        match n {
            Node::Char(c) if folding.keeps(*c) => out.push(*c),
            // `x+`, `x{2,}`: one `x` at least, then something unknown.
            Node::Repeat(r) if r.min >= 1 => {
                if let Node::Char(c) = r.node {
                    if folding.keeps(c) {
                        out.push(c);
                    }
                }
                break;
            }
            n if zero_width(n) => {}
            _ => break,
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The longest run of characters every match contains, if any (none with a top-level `|`).
pub(crate) fn required_literal(tree: &Tree, folding: Folding) -> Option<String> {
    let mut flat = Vec::new();
    atoms(sequence(&tree.root), &mut flat);
    let mut best = String::new();
    let mut run = String::new();
    let end_run = |run: &mut String, best: &mut String| {
        if run.len() > best.len() {
            *best = std::mem::take(run);
        }
        run.clear();
    };
    for n in flat {
        match n {
            Node::Char(c) if folding.keeps(*c) => run.push(*c),
            // `x+`: the run goes up to the first `x`; the last `x` starts the next one.
            Node::Repeat(r) if r.min >= 1 => match r.node {
                Node::Char(c) if folding.keeps(c) => {
                    run.push(c);
                    end_run(&mut run, &mut best);
                    run.push(c);
                }
                _ => end_run(&mut run, &mut best),
            },
            n if zero_width(n) => {}
            _ => end_run(&mut run, &mut best),
        }
    }
    end_run(&mut run, &mut best);
    (!best.is_empty()).then_some(best)
}

/// First position of `needle` in `hay`, ASCII letters compared without case; no allocation.
pub(crate) fn find_ascii_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (Some(&first), Some(&last)) = (needle.first(), needle.last()) else {
        return Some(0);
    };
    // Setting bit 5 maps an ASCII upper-case letter to its lower case (and a few other bytes
    // onto each other): a cheap first test of a window's two ends, which the exact comparison
    // then confirms.
    let (first, last) = (first | 0x20, last | 0x20);
    hay.windows(needle.len()).position(|w| {
        w.first().is_some_and(|b| b | 0x20 == first)
            && w.last().is_some_and(|b| b | 0x20 == last)
            && w.eq_ignore_ascii_case(needle)
    })
}

/// First position of `needle` in `input`, with or without ASCII case folding.
pub(crate) fn find_literal(input: &str, needle: &str, ignore_case: bool) -> Option<usize> {
    if ignore_case {
        find_ascii_ci(input.as_bytes(), needle.as_bytes())
    } else {
        input.find(needle)
    }
}

/// Whether `input` starts with `prefix`, with or without ASCII case folding.
pub(crate) fn starts_with(input: &str, prefix: &str, ignore_case: bool) -> bool {
    match input.as_bytes().get(..prefix.len()) {
        Some(h) if ignore_case => h.eq_ignore_ascii_case(prefix.as_bytes()),
        Some(h) => h == prefix.as_bytes(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::syntax::{case_variants, parse};

    fn prefix(src: &str, folding: Folding) -> Option<String> {
        literal_prefix(&parse(src).unwrap(), folding)
    }

    fn required(src: &str, folding: Folding) -> Option<String> {
        required_literal(&parse(src).unwrap(), folding)
    }

    #[test]
    fn prefixes() {
        let a = Folding::Ascii;
        for (src, want) in [
            ("^api/v1/(.*)", Some("api/v1/")),
            ("api/", None),
            ("^ab?c", Some("a")),
            ("^ab*", Some("a")),
            ("^ab+c", Some("ab")),
            ("^ab{2}", Some("ab")),
            ("^a\\.b\\/c", Some("a.b/c")),
            ("^a\\.?b", Some("a")),
            ("^a\\db", Some("a")),
            ("^a|b", None),
            ("^(a)b", Some("ab")),
            ("^(a|c)b", None),
            ("^(?!x)a", Some("a")),
            ("^[ab]c", None),
            ("^é/x", None),
            ("^x.y", Some("x")),
            ("^\\x41b", Some("Ab")),
        ] {
            assert_eq!(prefix(src, a).as_deref(), want, "{src}");
        }
        assert_eq!(prefix("^é/x", Folding::None).as_deref(), Some("é/x"));
        assert_eq!(prefix("^ask", Folding::Unicode).as_deref(), Some("a"));
    }

    #[test]
    fn required_literals() {
        let a = Folding::Ascii;
        for (src, want) in [
            ("blog/(.*)", Some("blog/")),
            ("a(b)c", Some("abc")),
            ("x\\d+items", Some("items")),
            ("ab+cd", Some("bcd")),
            ("a|bcd", None),
            ("(a|b)cd", Some("cd")),
            ("(?:ab)*c", Some("c")),
            ("\\bweb\\b", Some("web")),
            ("éte", Some("te")),
        ] {
            assert_eq!(required(src, a).as_deref(), want, "{src}");
        }
        assert_eq!(required("éte", Folding::None).as_deref(), Some("éte"));
        assert_eq!(
            required("(a)\\1kitty", Folding::Unicode).as_deref(),
            Some("tty")
        );
    }

    #[test]
    fn only_the_listed_ascii_letters_are_folded_to_from_outside_ascii() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            if c.is_ascii() {
                continue;
            }
            for v in case_variants(c)
                .into_iter()
                .flat_map(|v| case_variants(v).into_iter().chain([v]))
            {
                if v.is_ascii() {
                    assert!(
                        FOLDED_FROM_NON_ASCII.contains(&v.to_ascii_lowercase()),
                        "{c:?} folds to {v:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn caseless_search() {
        assert_eq!(find_ascii_ci(b"xxAbC", b"abc"), Some(2));
        assert_eq!(find_ascii_ci(b"ab", b"abc"), None);
        assert_eq!(find_literal("a/B", "/b", true), Some(1));
        assert!(starts_with("ABc", "ab", true) && !starts_with("ABc", "ab", false));
    }
}
