//! The ECMAScript pattern grammar (ECMA-262, "Patterns", with the Annex B web-compatibility
//! extensions that IIS accepts): one parser, one syntax tree. Everything else in this module —
//! the regex-lite text, the literal prefilters, the fast paths, the backtracking program — is
//! derived from the tree, so they cannot read a pattern differently.

/// Why a pattern cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternError {
    /// Not a valid pattern (IIS refuses it too).
    Invalid(String),
    /// Valid ECMAScript that this engine cannot run exactly.
    Unsupported(&'static str),
}

/// Capture spans of one match: index 0 is the whole match, index n the tree's group n; `None`
/// for a group that did not take part.
pub type Spans = Vec<Option<(usize, usize)>>;

/// Deepest nesting of groups accepted (bounds the recursion of the parser and of every pass
/// over the tree).
const MAX_NESTING: usize = 64;

/// A parsed pattern.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    pub root: Node,
    /// Capture groups, not counting group 0.
    pub groups: usize,
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Empty,
    Char(char),
    Class(Class),
    /// `.`: anything but a line terminator.
    Any,
    Start,
    End,
    /// `\b` (true) or `\B` (false).
    Word(bool),
    /// A group: `Some(n)` captures as group n (named groups are numbered like the others).
    Group(Option<usize>, Box<Node>),
    Look(Box<Look>),
    BackRef(usize),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat(Box<Repeat>),
}

/// `(?=…)` (positive) or `(?!…)`.
#[derive(Debug, Clone)]
pub(crate) struct Look {
    pub positive: bool,
    pub body: Node,
    /// Capture groups inside `[from, to)`.
    pub groups: (usize, usize),
}

#[derive(Debug, Clone)]
pub(crate) struct Repeat {
    pub node: Node,
    pub min: u32,
    pub max: Option<u32>,
    pub greedy: bool,
    /// Capture groups inside the repeated atom `[from, to)`: reset at each iteration.
    pub groups: (usize, usize),
}

/// A character class as written: its members and whether it is negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Class {
    pub items: Vec<ClassItem>,
    pub negated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClassItem {
    Char(char),
    Range(char, char),
    /// `\d \w \s` (false) or `\D \W \S` (true).
    Perl(Perl, bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Perl {
    Digit,
    Word,
    Space,
}

const DIGIT: &[(char, char)] = &[('0', '9')];
const WORD: &[(char, char)] = &[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')];
/// ECMAScript white space and line terminators.
pub(crate) const SPACE: &[(char, char)] = &[
    ('\t', '\r'),
    (' ', ' '),
    ('\u{A0}', '\u{A0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200A}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202F}', '\u{202F}'),
    ('\u{205F}', '\u{205F}'),
    ('\u{3000}', '\u{3000}'),
    ('\u{FEFF}', '\u{FEFF}'),
];

impl Perl {
    pub fn ranges(self) -> &'static [(char, char)] {
        match self {
            Perl::Digit => DIGIT,
            Perl::Word => WORD,
            Perl::Space => SPACE,
        }
    }
}

impl Class {
    fn perl(kind: Perl, negated: bool) -> Class {
        Class {
            items: vec![ClassItem::Perl(kind, negated)],
            negated: false,
        }
    }

    /// The members as sorted, merged ranges (negation not applied).
    pub fn ranges(&self) -> Vec<(char, char)> {
        let mut out = Vec::new();
        for item in &self.items {
            match *item {
                ClassItem::Char(c) => out.push((c, c)),
                ClassItem::Range(lo, hi) => out.push((lo, hi)),
                ClassItem::Perl(kind, false) => out.extend_from_slice(kind.ranges()),
                ClassItem::Perl(kind, true) => out.extend(complement(kind.ranges())),
            }
        }
        normalise(&mut out);
        out
    }
}

fn prev_char(c: char) -> Option<char> {
    match c {
        '\u{E000}' => Some('\u{D7FF}'),
        _ => char::from_u32(u32::from(c).checked_sub(1)?),
    }
}

fn next_char(c: char) -> Option<char> {
    match c {
        '\u{D7FF}' => Some('\u{E000}'),
        _ => char::from_u32(u32::from(c).checked_add(1)?),
    }
}

/// The complement of sorted, merged ranges.
fn complement(ranges: &[(char, char)]) -> Vec<(char, char)> {
    let mut out = Vec::new();
    let mut from = Some('\0');
    for &(lo, hi) in ranges {
        if let Some(f) = from {
            if f < lo {
                if let Some(p) = prev_char(lo) {
                    out.push((f, p));
                }
            }
        }
        from = next_char(hi);
    }
    if let Some(f) = from {
        out.push((f, char::MAX));
    }
    out
}

fn normalise(ranges: &mut Vec<(char, char)>) {
    ranges.sort_unstable();
    let mut merged: Vec<(char, char)> = Vec::with_capacity(ranges.len());
    for &(lo, hi) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if next_char(last.1).is_none_or(|n| lo <= n) => {
                if hi > last.1 {
                    last.1 = hi;
                }
            }
            _ => merged.push((lo, hi)),
        }
    }
    *ranges = merged;
}

/// A character's one-character lower and upper case (itself where the mapping is not one
/// character): ECMAScript's simple case mapping for ignoreCase.
pub(crate) fn case_variants(c: char) -> [char; 2] {
    if c.is_ascii() {
        return [c.to_ascii_lowercase(), c.to_ascii_uppercase()];
    }
    let one = |mut it: std::iter::Peekable<&mut dyn Iterator<Item = char>>| -> char {
        match (it.next(), it.peek()) {
            (Some(x), None) => x,
            _ => c,
        }
    };
    let lower = one((&mut c.to_lowercase() as &mut dyn Iterator<Item = char>).peekable());
    let upper = one((&mut c.to_uppercase() as &mut dyn Iterator<Item = char>).peekable());
    [lower, upper]
}

/// The items of a concatenation (a lone node is a concatenation of one).
pub(crate) fn sequence(node: &Node) -> &[Node] {
    match node {
        Node::Empty => &[],
        Node::Concat(items) => items,
        other => std::slice::from_ref(other),
    }
}

fn invalid(msg: impl Into<String>) -> PatternError {
    PatternError::Invalid(msg.into())
}

/// Parses an ECMAScript pattern.
pub(crate) fn parse(source: &str) -> Result<Tree, PatternError> {
    let mut p = Parser {
        chars: source.chars().collect(),
        pos: 0,
        groups: 0,
        names: Vec::new(),
        named_refs: Vec::new(),
        source,
    };
    let mut root = p.alternation(0)?;
    if p.pos < p.chars.len() {
        return Err(invalid(format!(
            "unmatched \")\" at offset {} in \"{source}\"",
            p.pos
        )));
    }
    p.resolve_refs(&mut root)?;
    Ok(Tree {
        root,
        groups: p.groups,
    })
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    groups: usize,
    /// Group names and their numbers.
    names: Vec<(String, usize)>,
    /// Names used by `\k<name>`, in order: `BackRef(NAMED_REF + i)` stands for the i-th until
    /// every group name is known (a reference may precede its group).
    named_refs: Vec<String>,
    source: &'a str,
}

/// Where the placeholder numbers of named back-references start (numbered ones stay below).
const NAMED_REF: usize = usize::MAX / 2;

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.chars.get(self.pos + k).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn alternation(&mut self, depth: usize) -> Result<Node, PatternError> {
        if depth > MAX_NESTING {
            return Err(invalid(format!(
                "groups are nested more than {MAX_NESTING} deep"
            )));
        }
        let mut alts = vec![self.sequence(depth)?];
        while self.eat('|') {
            alts.push(self.sequence(depth)?);
        }
        Ok(if alts.len() == 1 {
            alts.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alt(alts)
        })
    }

    fn sequence(&mut self, depth: usize) -> Result<Node, PatternError> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let groups_before = self.groups;
            let atom = self.atom(depth)?;
            let atom = self.quantified(atom, groups_before)?;
            items.push(atom);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Concat(items),
        })
    }

    /// At a `{`: `(min, max, position after })` if it starts a quantifier. A number that
    /// overflows is `None`; `max` is `None` for `{n,}` and `Some(min)` for `{n}`.
    #[allow(clippy::type_complexity)]
    fn brace_quantifier(&self) -> Option<(Option<u32>, Option<Option<u32>>, usize)> {
        let mut i = self.pos + 1;
        let number = |i: &mut usize| -> Option<Option<u32>> {
            let start = *i;
            let mut v: Option<u32> = Some(0);
            while let Some(d) = self.chars.get(*i).and_then(|c| c.to_digit(10)) {
                v = v
                    .and_then(|v| v.checked_mul(10))
                    .and_then(|v| v.checked_add(d));
                *i += 1;
            }
            (*i > start).then_some(v)
        };
        let min = number(&mut i)?;
        let max = if self.chars.get(i) == Some(&',') {
            i += 1;
            number(&mut i)
        } else {
            Some(min)
        };
        (self.chars.get(i) == Some(&'}')).then_some((min, max, i + 1))
    }

    fn brace_is_quantifier(&self) -> bool {
        self.peek() == Some('{') && self.brace_quantifier().is_some()
    }

    /// `{n}`, `{n,}`, `{n,m}` at the current `{`: (min, max, position after `}`).
    fn brace_quantifier_bounds(&self) -> Result<Option<(u32, Option<u32>, usize)>, PatternError> {
        let Some((min, max, next)) = self.brace_quantifier() else {
            return Ok(None);
        };
        let too_big = || {
            invalid(format!(
                "a repeat count at offset {} is too large",
                self.pos
            ))
        };
        let min = min.ok_or_else(too_big)?;
        let max = match max {
            None => None,
            Some(None) => return Err(too_big()),
            Some(Some(m)) => Some(m),
        };
        Ok(Some((min, max, next)))
    }

    fn quantified(&mut self, atom: Node, groups_before: usize) -> Result<Node, PatternError> {
        let at = self.pos;
        let (min, max) = match self.peek() {
            Some('*') => {
                self.pos += 1;
                (0, None)
            }
            Some('+') => {
                self.pos += 1;
                (1, None)
            }
            Some('?') => {
                self.pos += 1;
                (0, Some(1))
            }
            Some('{') => match self.brace_quantifier_bounds()? {
                Some((min, max, next)) => {
                    self.pos = next;
                    (min, max)
                }
                None => return Ok(atom),
            },
            _ => return Ok(atom),
        };
        let greedy = !self.eat('?');
        if matches!(
            atom,
            Node::Start | Node::End | Node::Word(_) | Node::Look(_) | Node::Empty
        ) {
            return Err(invalid(format!(
                "the repeat at offset {at} follows nothing that can be repeated"
            )));
        }
        if max.is_some_and(|m| m < min) {
            return Err(invalid(format!(
                "the repeat at offset {at} has its bounds out of order"
            )));
        }
        if matches!(self.peek(), Some('*' | '+' | '?')) || self.brace_is_quantifier() {
            return Err(invalid(format!(
                "a repeat at offset {} follows another repeat (IIS refuses this too)",
                self.pos
            )));
        }
        Ok(Node::Repeat(Box::new(Repeat {
            node: atom,
            min,
            max,
            greedy,
            groups: (groups_before + 1, self.groups + 1),
        })))
    }

    fn atom(&mut self, depth: usize) -> Result<Node, PatternError> {
        let at = self.pos;
        let Some(c) = self.peek() else {
            return Ok(Node::Empty);
        };
        self.pos += 1;
        Ok(match c {
            '^' => Node::Start,
            '$' => Node::End,
            '.' => Node::Any,
            '(' => self.group(depth, at)?,
            '[' => Node::Class(self.class()?),
            '\\' => self.escape()?,
            '*' | '+' | '?' => {
                return Err(invalid(format!(
                    "the repeat \"{c}\" at offset {at} is not preceded by an expression"
                )))
            }
            '{' => {
                self.pos -= 1;
                if self.brace_is_quantifier() {
                    return Err(invalid(format!(
                        "the repeat \"{{\" at offset {at} is not preceded by an expression"
                    )));
                }
                // IIS's ECMAScript engine refuses a brace that starts no quantifier; the usual
                // cause is a template written in a pattern.
                return Err(invalid(format!(
                    "\"{{\" at offset {at} starts no quantifier {{n}}, {{n,}} or {{n,m}}; patterns are not templates (IIS refuses this too); write \\{{ for a literal brace"
                )));
            }
            c => Node::Char(c),
        })
    }

    fn group(&mut self, depth: usize, at: usize) -> Result<Node, PatternError> {
        let mut capture = None;
        let mut look = None;
        if self.eat('?') {
            match (self.peek(), self.peek_at(1)) {
                (Some(':'), _) => self.pos += 1,
                (Some('='), _) => {
                    self.pos += 1;
                    look = Some(true);
                }
                (Some('!'), _) => {
                    self.pos += 1;
                    look = Some(false);
                }
                (Some('<'), Some('=' | '!')) => {
                    return Err(invalid(
                        "look-behind is not ECMAScript (IIS refuses it too)",
                    ))
                }
                (Some('<'), _) => {
                    self.pos += 1;
                    let name = self.group_name()?;
                    self.groups += 1;
                    if self.names.iter().any(|(n, _)| *n == name) {
                        return Err(invalid(format!("the group name \"{name}\" is used twice")));
                    }
                    self.names.push((name, self.groups));
                    capture = Some(self.groups);
                }
                _ => return Err(invalid(format!("\"(?\" at offset {at} is not ECMAScript"))),
            }
        } else {
            self.groups += 1;
            capture = Some(self.groups);
        }
        let first = self.groups + 1;
        let body = self.alternation(depth + 1)?;
        if !self.eat(')') {
            return Err(invalid(format!(
                "the group opened at offset {at} is not closed in \"{}\"",
                self.source
            )));
        }
        Ok(match look {
            Some(positive) => Node::Look(Box::new(Look {
                positive,
                body,
                groups: (first, self.groups + 1),
            })),
            None => Node::Group(capture, Box::new(body)),
        })
    }

    /// Reads `name>` (after `<`).
    fn group_name(&mut self) -> Result<String, PatternError> {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == '>' {
                if name.is_empty() {
                    break;
                }
                return Ok(name);
            }
            if !(c.is_alphanumeric() || c == '_' || c == '$') {
                break;
            }
            name.push(c);
        }
        Err(invalid(format!(
            "a malformed group name in \"{}\"",
            self.source
        )))
    }

    fn take_hex(&mut self, n: usize) -> Option<u32> {
        let digits = self.chars.get(self.pos..self.pos + n)?;
        let mut v = 0u32;
        for d in digits {
            v = v * 16 + d.to_digit(16)?;
        }
        self.pos += n;
        Some(v)
    }

    fn code_point(&self, v: u32) -> Result<char, PatternError> {
        char::from_u32(v).ok_or_else(|| {
            invalid(format!(
                "an escape in \"{}\" is not a character (\\u{v:04X})",
                self.source
            ))
        })
    }

    /// Escapes that mean one character or a class escape, shared by classes and the rest;
    /// `None` = not one of them.
    fn char_escape(&mut self, c: char) -> Result<Option<ClassItem>, PatternError> {
        Ok(Some(match c {
            'n' => ClassItem::Char('\n'),
            'r' => ClassItem::Char('\r'),
            't' => ClassItem::Char('\t'),
            'f' => ClassItem::Char('\u{C}'),
            'v' => ClassItem::Char('\u{B}'),
            '0' if !matches!(self.peek(), Some('0'..='9')) => ClassItem::Char('\0'),
            'x' => match self.take_hex(2) {
                Some(v) => ClassItem::Char(self.code_point(v)?),
                None => ClassItem::Char('x'),
            },
            'u' => match self.take_hex(4) {
                Some(v) => ClassItem::Char(self.code_point(v)?),
                None => ClassItem::Char('u'),
            },
            'c' => match self.peek() {
                Some(l) if l.is_ascii_alphabetic() => {
                    self.pos += 1;
                    ClassItem::Char(self.code_point(u32::from(l) % 32)?)
                }
                // Annex B: a `\` not followed by a control letter is itself; the `c` is read
                // again as the next atom.
                _ => {
                    self.pos -= 1;
                    ClassItem::Char('\\')
                }
            },
            'd' => ClassItem::Perl(Perl::Digit, false),
            'D' => ClassItem::Perl(Perl::Digit, true),
            'w' => ClassItem::Perl(Perl::Word, false),
            'W' => ClassItem::Perl(Perl::Word, true),
            's' => ClassItem::Perl(Perl::Space, false),
            'S' => ClassItem::Perl(Perl::Space, true),
            _ => return Ok(None),
        }))
    }

    /// An escape outside a class; the `\` was consumed.
    fn escape(&mut self) -> Result<Node, PatternError> {
        let Some(c) = self.peek() else {
            return Err(invalid("pattern ends with \\"));
        };
        self.pos += 1;
        match self.char_escape(c)? {
            Some(ClassItem::Char(ch)) => return Ok(Node::Char(ch)),
            Some(ClassItem::Perl(kind, negated)) => {
                return Ok(Node::Class(Class::perl(kind, negated)))
            }
            Some(ClassItem::Range(..)) | None => {}
        }
        Ok(match c {
            'b' => Node::Word(true),
            'B' => Node::Word(false),
            '1'..='9' => {
                let mut n = c.to_digit(10).map_or(0, |d| d as usize);
                while let Some(d) = self.peek().and_then(|d| d.to_digit(10)) {
                    n = n.saturating_mul(10).saturating_add(d as usize);
                    self.pos += 1;
                }
                Node::BackRef(n.min(NAMED_REF - 1))
            }
            'k' if self.peek() == Some('<') => {
                self.pos += 1;
                let name = self.group_name()?;
                self.named_refs.push(name);
                Node::BackRef(NAMED_REF + self.named_refs.len() - 1)
            }
            // Identity escape.
            c => Node::Char(c),
        })
    }

    /// A class; the `[` was consumed. ECMAScript: the first unescaped `]` closes it (`[]`
    /// never matches, `[^]` matches anything), and `[` inside is literal.
    fn class(&mut self) -> Result<Class, PatternError> {
        let negated = self.eat('^');
        let mut items = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(invalid(format!(
                    "unterminated character class in \"{}\"",
                    self.source
                )));
            };
            if c == ']' {
                self.pos += 1;
                break;
            }
            let lo = self.class_atom()?;
            // A range `a-z` (a `-` before `]` is literal).
            if self.peek() == Some('-') && !matches!(self.peek_at(1), Some(']') | None) {
                self.pos += 1;
                let hi = self.class_atom()?;
                if let (ClassItem::Char(l), ClassItem::Char(h)) = (lo, hi) {
                    if l > h {
                        return Err(invalid(format!(
                            "the class range {l}-{h} is out of order in \"{}\"",
                            self.source
                        )));
                    }
                    items.push(ClassItem::Range(l, h));
                } else {
                    // A class escape next to `-`: the `-` is literal (Annex B).
                    items.extend([lo, ClassItem::Char('-'), hi]);
                }
                continue;
            }
            items.push(lo);
        }
        Ok(Class { items, negated })
    }

    fn class_atom(&mut self) -> Result<ClassItem, PatternError> {
        let Some(c) = self.peek() else {
            return Err(invalid(format!(
                "unterminated character class in \"{}\"",
                self.source
            )));
        };
        self.pos += 1;
        if c != '\\' {
            return Ok(ClassItem::Char(c));
        }
        let Some(e) = self.peek() else {
            return Err(invalid("pattern ends with \\"));
        };
        self.pos += 1;
        Ok(match e {
            // In a class, `\b` is backspace.
            'b' => ClassItem::Char('\u{8}'),
            '1'..='9' => {
                return Err(invalid(
                    "a back-reference inside a character class is not ECMAScript",
                ))
            }
            _ => self.char_escape(e)?.unwrap_or(ClassItem::Char(e)),
        })
    }

    /// Gives named back-references their group numbers; checks every number.
    fn resolve_refs(&self, n: &mut Node) -> Result<(), PatternError> {
        match n {
            Node::BackRef(k) if *k >= NAMED_REF => {
                let name = self
                    .named_refs
                    .get(*k - NAMED_REF)
                    .map_or("", String::as_str);
                match self.names.iter().find(|(n, _)| n == name) {
                    Some(&(_, g)) => {
                        *k = g;
                        Ok(())
                    }
                    None => Err(invalid(format!("\\k<{name}> names no group"))),
                }
            }
            Node::BackRef(k) if *k > self.groups => Err(invalid(format!(
                "the back-reference \\{k} refers to a group the pattern does not have ({} group{})",
                self.groups,
                if self.groups == 1 { "" } else { "s" }
            ))),
            Node::Group(_, b) => self.resolve_refs(b),
            Node::Look(l) => self.resolve_refs(&mut l.body),
            Node::Concat(v) | Node::Alt(v) => v.iter_mut().try_for_each(|x| self.resolve_refs(x)),
            Node::Repeat(r) => self.resolve_refs(&mut r.node),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_numbered_by_their_opening_parenthesis() {
        let t = parse(r"(a(?:b)(?<n>c))\k<n>(?=(d))").unwrap();
        assert_eq!(t.groups, 3);
        let items = sequence(&t.root);
        assert!(
            matches!(items, [Node::Group(Some(1), _), Node::BackRef(2), Node::Look(l)]
            if l.positive && l.groups == (3, 4))
        );
    }

    #[test]
    fn named_references_may_precede_their_group() {
        let t = parse(r"\k<x>(?<x>a)").unwrap();
        assert!(matches!(sequence(&t.root), [Node::BackRef(1), _]));
        assert!(parse(r"\k<y>(?<x>a)").is_err());
        assert!(parse(r"(?<x>a)(?<x>b)").is_err());
    }

    #[test]
    fn annex_b_escapes() {
        // `\c` without a control letter is a backslash; `c` is the next atom.
        let t = parse(r"\c*").unwrap();
        assert!(
            matches!(sequence(&t.root), [Node::Char('\\'), Node::Repeat(r)]
            if matches!(r.node, Node::Char('c')))
        );
        // A `-` next to a class escape is literal; `\b` in a class is backspace.
        let t = parse(r"[\d-z\b]").unwrap();
        let Node::Class(c) = &t.root else { panic!() };
        assert_eq!(
            c.items,
            [
                ClassItem::Perl(Perl::Digit, false),
                ClassItem::Char('-'),
                ClassItem::Char('z'),
                ClassItem::Char('\u{8}')
            ]
        );
        assert_eq!(
            c.ranges(),
            [('\u{8}', '\u{8}'), ('-', '-'), ('0', '9'), ('z', 'z')]
        );
    }

    #[test]
    fn brace_without_quantifier_is_refused_as_a_template() {
        let e = parse("^/{C:1}").unwrap_err();
        assert!(matches!(e, PatternError::Invalid(m) if m.contains("not templates")));
        assert!(parse(r"a\{b}").is_ok());
        assert!(parse(&"(".repeat(MAX_NESTING + 2)).is_err());
    }
}
