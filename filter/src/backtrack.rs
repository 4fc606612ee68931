//! A small backtracking matcher for the ECMAScript patterns that regex-lite cannot run exactly:
//! back-references (`\1`, `\k<name>`) and look-aheads anywhere in a pattern.
//!
//! It covers what IIS rules are written with: literals, `.`, classes (ranges, negation, `\d \w \s
//! \D \W \S`, escapes), `^ $ \b \B`, capturing / non-capturing / named groups, alternation, greedy
//! and lazy `* + ? {n} {n,} {n,m}`, back-references, `(?=…)` and `(?!…)`, and ignoreCase by
//! simple case mapping (a character matches when it, its lower case or its upper case does).
//! Semantics follow ECMAScript: captures inside a repeated group are reset at each iteration, an
//! optional iteration that matches the empty string fails, a back-reference to a group that did
//! not take part matches the empty string, positive look-aheads keep their captures.
//!
//! The pattern is parsed once into a flat program of instructions; matching runs the program with
//! an explicit backtrack stack (no recursion but one level per nested look-ahead), reusing
//! per-thread scratch buffers. Every executed instruction costs one step out of
//! [`STEP_BUDGET`]; a match that runs out of steps (or of backtrack stack) fails and is reported
//! as [`Outcome::Exhausted`], so a hostile URL against a catastrophic pattern (`^(a+)+\1$`) costs
//! bounded time and memory.

use crate::pattern::{PatternError, Spans};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Steps (executed instructions) one `find` may spend over all start positions.
pub const STEP_BUDGET: u32 = 1_000_000;
/// Backtrack entries one `find` may hold at once (bounds memory: about 2 MB).
const MAX_FRAMES: usize = 128 * 1024;
/// Instructions a compiled program may have (counted repetitions are expanded).
const MAX_PROGRAM: usize = 20_000;
/// Deepest nesting of groups accepted (bounds parser recursion).
const MAX_NESTING: usize = 64;

/// How many matches ran out of steps since the process started (for logs and tests).
static EXHAUSTED: AtomicU64 = AtomicU64::new(0);

/// Matches that ran out of budget since start.
pub fn exhausted_count() -> u64 {
    EXHAUSTED.load(Ordering::Relaxed)
}

/// The result of one search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Match,
    NoMatch,
    /// The step or stack budget ran out: counted as no match.
    Exhausted,
}

// ---------------------------------------------------------------------------------------------
// Syntax tree

#[derive(Debug, Clone)]
enum Node {
    Empty,
    Char(char),
    Class(Class),
    /// `.`: anything but a line terminator.
    Any,
    Start,
    End,
    /// `\b` (true) or `\B` (false).
    Word(bool),
    /// A group: `Some(n)` captures as group n.
    Group(Option<usize>, Box<Node>),
    /// A look-ahead (positive?) with the capture groups it contains `[from, to)`.
    Look(bool, Box<Node>, (usize, usize)),
    BackRef(usize),
    /// `\k<name>`, replaced by a `BackRef` after parsing.
    NamedRef(String),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat(Box<Repeat>),
}

#[derive(Debug, Clone)]
struct Repeat {
    node: Node,
    min: u32,
    max: Option<u32>,
    greedy: bool,
    /// Capture groups inside the repeated atom `[from, to)`: reset at each iteration.
    groups: (usize, usize),
}

/// A character class: sorted, merged ranges and whether it is negated.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Class {
    ranges: Vec<(char, char)>,
    negated: bool,
}

const DIGIT: &[(char, char)] = &[('0', '9')];
const WORD: &[(char, char)] = &[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')];
/// ECMAScript white space and line terminators.
const SPACE: &[(char, char)] = &[
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

fn in_ranges(ranges: &[(char, char)], c: char) -> bool {
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// A character's one-character lower and upper case (itself where the mapping is not one char).
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

/// The canonical form compared under ignoreCase: the one-character lower case.
fn fold(c: char) -> char {
    let [lower, upper] = case_variants(c);
    if lower != c {
        lower
    } else if upper != c {
        // A character with only an upper mapping (e.g. final sigma): compare through it.
        case_variants(upper)[0]
    } else {
        c
    }
}

impl Class {
    fn matches(&self, c: char, ignore_case: bool) -> bool {
        let found = in_ranges(&self.ranges, c)
            || (ignore_case && case_variants(c).iter().any(|&v| in_ranges(&self.ranges, v)));
        found != self.negated
    }
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    groups: usize,
    names: Vec<(String, usize)>,
    source: &'a str,
}

fn invalid(msg: impl Into<String>) -> PatternError {
    PatternError::Invalid(msg.into())
}

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
            Node::Start | Node::End | Node::Word(_) | Node::Look(..) | Node::Empty
        ) {
            return Err(invalid(format!(
                "the repeat at offset {at} follows nothing that can be repeated"
            )));
        }
        if let Some(m) = max {
            if m < min {
                return Err(invalid(format!(
                    "the repeat at offset {at} has its bounds out of order"
                )));
            }
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
            Some(positive) => Node::Look(positive, Box::new(body), (first, self.groups + 1)),
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

    fn code_point(v: u32) -> Result<char, PatternError> {
        char::from_u32(v).ok_or_else(|| invalid(format!("\\u{v:04X} is not a character")))
    }

    /// Escapes that mean one character, shared by classes and the rest; `None` = not one of them.
    fn char_escape(&mut self, c: char) -> Result<Option<Node>, PatternError> {
        Ok(Some(match c {
            'n' => Node::Char('\n'),
            'r' => Node::Char('\r'),
            't' => Node::Char('\t'),
            'f' => Node::Char('\u{C}'),
            'v' => Node::Char('\u{B}'),
            '0' if !matches!(self.peek(), Some('0'..='9')) => Node::Char('\0'),
            'x' => match self.take_hex(2) {
                Some(v) => Node::Char(Self::code_point(v)?),
                None => Node::Char('x'),
            },
            'u' => match self.take_hex(4) {
                Some(v) => Node::Char(Self::code_point(v)?),
                None => Node::Char('u'),
            },
            'c' => match self.peek() {
                Some(l) if l.is_ascii_alphabetic() => {
                    self.pos += 1;
                    Node::Char(Self::code_point(u32::from(l) % 32)?)
                }
                _ => Node::Concat(vec![Node::Char('\\'), Node::Char('c')]),
            },
            'd' => Node::Class(Class::of(DIGIT, false)),
            'D' => Node::Class(Class::of(DIGIT, true)),
            'w' => Node::Class(Class::of(WORD, false)),
            'W' => Node::Class(Class::of(WORD, true)),
            's' => Node::Class(Class::of(SPACE, false)),
            'S' => Node::Class(Class::of(SPACE, true)),
            _ => return Ok(None),
        }))
    }

    /// An escape outside a class; the `\` was consumed.
    fn escape(&mut self) -> Result<Node, PatternError> {
        let Some(c) = self.peek() else {
            return Err(invalid("pattern ends with \\"));
        };
        self.pos += 1;
        if let Some(node) = self.char_escape(c)? {
            return Ok(node);
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
                Node::BackRef(n)
            }
            'k' if self.peek() == Some('<') => {
                self.pos += 1;
                // Resolved once every group is known (a reference may precede its group).
                Node::NamedRef(self.group_name()?)
            }
            // Identity escape.
            c => Node::Char(c),
        })
    }

    /// A class; the `[` was consumed.
    fn class(&mut self) -> Result<Class, PatternError> {
        let negated = self.eat('^');
        let mut ranges = Vec::new();
        // The previous item if it was a single character (a possible range start).
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
                match (&lo, &hi) {
                    (ClassAtom::Char(l), ClassAtom::Char(h)) => {
                        if l > h {
                            return Err(invalid(format!(
                                "the class range {l}-{h} is out of order"
                            )));
                        }
                        ranges.push((*l, *h));
                        continue;
                    }
                    _ => {
                        // A class escape next to `-`: the `-` is literal (ECMAScript Annex B).
                        lo.add_to(&mut ranges);
                        ranges.push(('-', '-'));
                        hi.add_to(&mut ranges);
                        continue;
                    }
                }
            }
            lo.add_to(&mut ranges);
        }
        normalise(&mut ranges);
        Ok(Class { ranges, negated })
    }

    fn class_atom(&mut self) -> Result<ClassAtom, PatternError> {
        let Some(c) = self.peek() else {
            return Err(invalid(format!(
                "unterminated character class in \"{}\"",
                self.source
            )));
        };
        self.pos += 1;
        if c != '\\' {
            return Ok(ClassAtom::Char(c));
        }
        let Some(e) = self.peek() else {
            return Err(invalid("pattern ends with \\"));
        };
        self.pos += 1;
        Ok(match e {
            'b' => ClassAtom::Char('\u{8}'),
            '1'..='9' => {
                return Err(invalid(
                    "a back-reference inside a character class is not ECMAScript",
                ))
            }
            _ => match self.char_escape(e)? {
                Some(Node::Char(c)) => ClassAtom::Char(c),
                Some(Node::Class(cls)) => ClassAtom::Set(cls),
                Some(_) => ClassAtom::Set(Class {
                    ranges: vec![('\\', '\\'), ('c', 'c')],
                    negated: false,
                }),
                None => ClassAtom::Char(e),
            },
        })
    }
}

enum ClassAtom {
    Char(char),
    Set(Class),
}

impl ClassAtom {
    fn add_to(&self, ranges: &mut Vec<(char, char)>) {
        match self {
            ClassAtom::Char(c) => ranges.push((*c, *c)),
            ClassAtom::Set(s) if s.negated => ranges.extend(complement(&s.ranges)),
            ClassAtom::Set(s) => ranges.extend_from_slice(&s.ranges),
        }
    }
}

impl Class {
    fn of(ranges: &[(char, char)], negated: bool) -> Class {
        Class {
            ranges: ranges.to_vec(),
            negated,
        }
    }
}

/// Whether a node can match the empty string.
fn nullable(n: &Node) -> bool {
    match n {
        Node::Empty
        | Node::Start
        | Node::End
        | Node::Word(_)
        | Node::Look(..)
        | Node::BackRef(_)
        | Node::NamedRef(_) => true,
        Node::Char(_) | Node::Class(_) | Node::Any => false,
        Node::Group(_, b) => nullable(b),
        Node::Concat(v) => v.iter().all(nullable),
        Node::Alt(v) => v.iter().any(nullable),
        Node::Repeat(r) => r.min == 0 || nullable(&r.node),
    }
}

/// Replaces named back-reference placeholders by group numbers; checks every number.
fn resolve_refs(n: &mut Node, p: &Parser<'_>) -> Result<(), PatternError> {
    match n {
        Node::BackRef(k) if *k > p.groups => Err(invalid(format!(
            "the back-reference \\{k} refers to a group the pattern does not have ({} group{})",
            p.groups,
            if p.groups == 1 { "" } else { "s" }
        ))),
        Node::NamedRef(name) => match p.names.iter().find(|(n, _)| n == name) {
            Some(&(_, g)) => {
                *n = Node::BackRef(g);
                Ok(())
            }
            None => Err(invalid(format!("\\k<{name}> names no group"))),
        },
        Node::Group(_, b) | Node::Look(_, b, _) => resolve_refs(b, p),
        Node::Concat(v) | Node::Alt(v) => v.iter_mut().try_for_each(|x| resolve_refs(x, p)),
        Node::Repeat(r) => resolve_refs(&mut r.node, p),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Program

#[derive(Debug, Clone, Copy)]
enum Inst {
    Char(char),
    /// A pattern character compared under ignoreCase (stored folded).
    Fold(char),
    Class(u32),
    Any,
    Start,
    End,
    Word(bool),
    /// Try `.0` first, then `.1`.
    Split(u32, u32),
    Jmp(u32),
    Save(u32),
    /// Unset slots `[from, to)`.
    Clear(u32, u32),
    /// Record the position in a register (start of an optional iteration).
    Mark(u32),
    /// Fail if the position equals the register (an empty optional iteration).
    Progress(u32),
    BackRef(u32),
    /// A look-ahead whose body starts at the next instruction and ends with `Match`; `next` is
    /// where matching resumes; slots `[from, to)` are the captures inside.
    Look {
        positive: bool,
        next: u32,
        from: u32,
        to: u32,
    },
    Match,
}

/// A compiled backtracking program.
#[derive(Debug)]
pub struct Program {
    insts: Vec<Inst>,
    classes: Vec<Class>,
    /// Per class, which ASCII characters it matches (bit n = character n), case folding
    /// included.
    ascii: Vec<u128>,
    groups: usize,
    slots: usize,
    ignore_case: bool,
    /// Every match starts at 0 (the pattern begins with `^`).
    anchored: bool,
}

const NONE: usize = usize::MAX;

struct Emitter {
    insts: Vec<Inst>,
    classes: Vec<Class>,
    regs: usize,
    first_reg: usize,
    ignore_case: bool,
}

fn too_large() -> PatternError {
    PatternError::Unsupported(
        "a pattern too large for the backtracking matcher once its counted repeats are expanded",
    )
}

fn to_u32(v: usize) -> Result<u32, PatternError> {
    u32::try_from(v).map_err(|_| too_large())
}

impl Emitter {
    fn pc(&self) -> u32 {
        // The program size is capped far below u32::MAX.
        self.insts.len() as u32
    }

    fn push(&mut self, i: Inst) -> Result<u32, PatternError> {
        if self.insts.len() >= MAX_PROGRAM {
            return Err(too_large());
        }
        self.insts.push(i);
        Ok(self.pc() - 1)
    }

    fn patch(&mut self, at: u32, target: u32) {
        if let Some(i) = self.insts.get_mut(at as usize) {
            match i {
                Inst::Split(_, b) => *b = target,
                Inst::Jmp(t) => *t = target,
                Inst::Look { next, .. } => *next = target,
                _ => {}
            }
        }
    }

    fn emit(&mut self, n: &Node) -> Result<(), PatternError> {
        match n {
            Node::Empty => {}
            Node::Char(c) => {
                let i = if self.ignore_case && case_variants(*c) != [*c, *c] {
                    Inst::Fold(fold(*c))
                } else {
                    Inst::Char(*c)
                };
                self.push(i)?;
            }
            Node::Class(c) => {
                let idx = match self.classes.iter().position(|x| x == c) {
                    Some(i) => i,
                    None => {
                        self.classes.push(c.clone());
                        self.classes.len() - 1
                    }
                };
                self.push(Inst::Class(to_u32(idx)?))?;
            }
            Node::Any => {
                self.push(Inst::Any)?;
            }
            Node::Start => {
                self.push(Inst::Start)?;
            }
            Node::End => {
                self.push(Inst::End)?;
            }
            Node::Word(b) => {
                self.push(Inst::Word(*b))?;
            }
            Node::BackRef(k) => {
                self.push(Inst::BackRef(to_u32(*k)?))?;
            }
            // Resolved before emitting; one left over can only be a bug: refuse, never guess.
            Node::NamedRef(name) => {
                return Err(invalid(format!("\\k<{name}> names no group")));
            }
            Node::Group(cap, body) => {
                if let Some(g) = cap {
                    self.push(Inst::Save(to_u32(2 * g)?))?;
                }
                self.emit(body)?;
                if let Some(g) = cap {
                    self.push(Inst::Save(to_u32(2 * g + 1)?))?;
                }
            }
            Node::Look(positive, body, (from, to)) => {
                let at = self.push(Inst::Look {
                    positive: *positive,
                    next: 0,
                    from: to_u32(2 * from)?,
                    to: to_u32(2 * to)?,
                })?;
                self.emit(body)?;
                self.push(Inst::Match)?;
                let end = self.pc();
                self.patch(at, end);
            }
            Node::Concat(items) => {
                for i in items {
                    self.emit(i)?;
                }
            }
            Node::Alt(alts) => {
                let mut jumps = Vec::new();
                let last = alts.len().saturating_sub(1);
                for (k, a) in alts.iter().enumerate() {
                    if k < last {
                        let split = self.push(Inst::Split(0, 0))?;
                        if let Some(Inst::Split(first, _)) = self.insts.get_mut(split as usize) {
                            *first = split + 1;
                        }
                        self.emit(a)?;
                        jumps.push(self.push(Inst::Jmp(0))?);
                        let next = self.pc();
                        self.patch(split, next);
                    } else {
                        self.emit(a)?;
                    }
                }
                let end = self.pc();
                for j in jumps {
                    self.patch(j, end);
                }
            }
            Node::Repeat(r) => self.repeat(r)?,
        }
        Ok(())
    }

    /// One iteration: reset the captures inside, then the body.
    fn iteration(&mut self, r: &Repeat) -> Result<(), PatternError> {
        let (from, to) = r.groups;
        if to > from {
            self.push(Inst::Clear(to_u32(2 * from)?, to_u32(2 * to)?))?;
        }
        self.emit(&r.node)
    }

    fn repeat(&mut self, r: &Repeat) -> Result<(), PatternError> {
        for _ in 0..r.min {
            self.iteration(r)?;
        }
        let empty_check = nullable(&r.node);
        let reg = if empty_check {
            self.regs += 1;
            Some(to_u32(self.first_reg + self.regs - 1)?)
        } else {
            None
        };
        // Split(a, b) tries a first: greedy enters the body first, lazy skips it first.
        let split = |body: u32, out: u32| {
            if r.greedy {
                Inst::Split(body, out)
            } else {
                Inst::Split(out, body)
            }
        };
        match r.max {
            None => {
                let top = self.push(Inst::Split(0, 0))?;
                if let Some(reg) = reg {
                    self.push(Inst::Mark(reg))?;
                }
                self.iteration(r)?;
                if let Some(reg) = reg {
                    self.push(Inst::Progress(reg))?;
                }
                self.push(Inst::Jmp(top))?;
                let out = self.pc();
                let inst = split(top + 1, out);
                if let Some(slot) = self.insts.get_mut(top as usize) {
                    *slot = inst;
                }
            }
            Some(max) => {
                let mut exits = Vec::new();
                for _ in r.min..max {
                    let at = self.push(Inst::Split(0, 0))?;
                    if let Some(reg) = reg {
                        self.push(Inst::Mark(reg))?;
                    }
                    self.iteration(r)?;
                    if let Some(reg) = reg {
                        self.push(Inst::Progress(reg))?;
                    }
                    exits.push(at);
                }
                let out = self.pc();
                for at in exits {
                    let inst = split(at + 1, out);
                    if let Some(slot) = self.insts.get_mut(at as usize) {
                        *slot = inst;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether every alternative of the pattern starts with `^`.
fn starts_anchored(n: &Node) -> bool {
    match n {
        Node::Start => true,
        Node::Concat(v) => v.first().is_some_and(starts_anchored),
        Node::Group(_, b) => starts_anchored(b),
        Node::Alt(v) => v.iter().all(starts_anchored),
        _ => false,
    }
}

impl Program {
    /// Parses and compiles an ECMAScript pattern.
    pub fn compile(source: &str, ignore_case: bool) -> Result<Program, PatternError> {
        let mut p = Parser {
            chars: source.chars().collect(),
            pos: 0,
            groups: 0,
            names: Vec::new(),
            source,
        };
        let mut tree = p.alternation(0)?;
        if p.pos < p.chars.len() {
            return Err(invalid(format!(
                "unmatched \")\" at offset {} in \"{source}\"",
                p.pos
            )));
        }
        resolve_refs(&mut tree, &p)?;
        let groups = p.groups;
        let first_reg = 2 * (groups + 1);
        let mut e = Emitter {
            insts: Vec::new(),
            classes: Vec::new(),
            regs: 0,
            first_reg,
            ignore_case,
        };
        e.push(Inst::Save(0))?;
        e.emit(&tree)?;
        e.push(Inst::Save(1))?;
        e.push(Inst::Match)?;
        let ascii = e
            .classes
            .iter()
            .map(|cls| {
                (0u8..128).fold(0u128, |bits, b| {
                    if cls.matches(char::from(b), ignore_case) {
                        bits | 1 << b
                    } else {
                        bits
                    }
                })
            })
            .collect();
        Ok(Program {
            ascii,
            anchored: starts_anchored(&tree),
            slots: first_reg + e.regs,
            insts: e.insts,
            classes: e.classes,
            groups,
            ignore_case,
        })
    }

    /// Whether class `k` matches `c` (ASCII through the precomputed bitmap).
    fn class_matches(&self, k: u32, c: char) -> bool {
        if c.is_ascii() {
            let bits = self.ascii.get(k as usize).copied().unwrap_or(0);
            return bits >> u32::from(c) & 1 == 1;
        }
        self.classes
            .get(k as usize)
            .is_some_and(|cls| cls.matches(c, self.ignore_case))
    }

    /// Capture groups, not counting group 0.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// Searches `input` (leftmost match, ECMAScript priorities); fills `spans` on a match.
    pub fn find(&self, input: &str, spans: &mut Spans) -> Outcome {
        spans.clear();
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => {
                let (slots, stack) = &mut *s;
                let out = self.search(input, slots, stack, spans);
                if stack.capacity() > 4096 {
                    stack.clear();
                    stack.shrink_to(4096);
                }
                out
            }
            Err(_) => self.search(input, &mut Vec::new(), &mut Vec::new(), spans),
        })
    }

    fn search(
        &self,
        input: &str,
        slots: &mut Vec<usize>,
        stack: &mut Vec<Frame>,
        spans: &mut Spans,
    ) -> Outcome {
        let mut vm = Vm {
            prog: self,
            input,
            slots,
            stack,
            steps: 0,
        };
        let mut start = 0;
        loop {
            vm.slots.clear();
            vm.slots.resize(self.slots, NONE);
            vm.stack.clear();
            match vm.run(0, start) {
                Err(Exhausted) => {
                    EXHAUSTED.fetch_add(1, Ordering::Relaxed);
                    return Outcome::Exhausted;
                }
                Ok(true) => {
                    for g in 0..=self.groups {
                        let a = vm.slots.get(2 * g).copied().unwrap_or(NONE);
                        let b = vm.slots.get(2 * g + 1).copied().unwrap_or(NONE);
                        spans.push((a != NONE && b != NONE).then_some((a, b)));
                    }
                    return Outcome::Match;
                }
                Ok(false) => {}
            }
            if self.anchored {
                return Outcome::NoMatch;
            }
            match input.get(start..).and_then(|t| t.chars().next()) {
                Some(c) => start += c.len_utf8(),
                None => return Outcome::NoMatch,
            }
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<(Vec<usize>, Vec<Frame>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

#[derive(Debug, Clone, Copy)]
enum Frame {
    Resume { pc: u32, pos: usize },
    Restore { slot: u32, old: usize },
}

struct Exhausted;

struct Vm<'a> {
    prog: &'a Program,
    input: &'a str,
    slots: &'a mut Vec<usize>,
    stack: &'a mut Vec<Frame>,
    steps: u32,
}

fn is_word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

impl Vm<'_> {
    fn char_at(&self, pos: usize) -> Option<char> {
        let b = *self.input.as_bytes().get(pos)?;
        if b.is_ascii() {
            return Some(char::from(b));
        }
        self.input.get(pos..).and_then(|t| t.chars().next())
    }

    fn slot(&self, s: u32) -> usize {
        self.slots.get(s as usize).copied().unwrap_or(NONE)
    }

    fn push(&mut self, f: Frame) -> Result<(), Exhausted> {
        if self.stack.len() >= MAX_FRAMES {
            return Err(Exhausted);
        }
        self.stack.push(f);
        Ok(())
    }

    fn set(&mut self, s: u32, v: usize) -> Result<(), Exhausted> {
        let old = self.slot(s);
        self.push(Frame::Restore { slot: s, old })?;
        if let Some(x) = self.slots.get_mut(s as usize) {
            *x = v;
        }
        Ok(())
    }

    /// Whether the input at `pos` repeats group `g`; the length matched.
    fn backref(&self, g: u32, pos: usize) -> Option<usize> {
        let (a, b) = (self.slot(2 * g), self.slot(2 * g + 1));
        if a == NONE || b == NONE || b < a {
            return Some(0);
        }
        let captured = self.input.get(a..b)?;
        let rest = self.input.get(pos..)?;
        if !self.prog.ignore_case {
            return rest.starts_with(captured).then_some(captured.len());
        }
        let mut it = rest.char_indices();
        for c in captured.chars() {
            let (_, d) = it.next()?;
            if c != d && fold(c) != fold(d) {
                return None;
            }
        }
        Some(it.next().map_or(rest.len(), |(i, _)| i))
    }

    /// Runs from `pc` at `pos` until a `Match` (true) or every alternative failed (false).
    fn run(&mut self, mut pc: u32, mut pos: usize) -> Result<bool, Exhausted> {
        let base = self.stack.len();
        loop {
            self.steps += 1;
            if self.steps > STEP_BUDGET {
                return Err(Exhausted);
            }
            let ok = match self.prog.insts.get(pc as usize).copied() {
                None => false,
                Some(inst) => match inst {
                    Inst::Char(c) => match self.char_at(pos) {
                        Some(d) if d == c => {
                            pos += d.len_utf8();
                            pc += 1;
                            true
                        }
                        _ => false,
                    },
                    Inst::Fold(c) => match self.char_at(pos) {
                        Some(d) if d == c || fold(d) == c => {
                            pos += d.len_utf8();
                            pc += 1;
                            true
                        }
                        _ => false,
                    },
                    Inst::Class(k) => match self.char_at(pos) {
                        Some(d) if self.prog.class_matches(k, d) => {
                            pos += d.len_utf8();
                            pc += 1;
                            true
                        }
                        _ => false,
                    },
                    Inst::Any => match self.char_at(pos) {
                        Some(d) if !is_line_terminator(d) => {
                            pos += d.len_utf8();
                            pc += 1;
                            true
                        }
                        _ => false,
                    },
                    Inst::Start => {
                        pc += 1;
                        pos == 0
                    }
                    Inst::End => {
                        pc += 1;
                        pos == self.input.len()
                    }
                    Inst::Word(want) => {
                        let before = self.input.get(..pos).and_then(|t| t.chars().next_back());
                        pc += 1;
                        (is_word(before) != is_word(self.char_at(pos))) == want
                    }
                    Inst::Split(a, b) => {
                        self.push(Frame::Resume { pc: b, pos })?;
                        pc = a;
                        true
                    }
                    Inst::Jmp(t) => {
                        pc = t;
                        true
                    }
                    Inst::Save(s) | Inst::Mark(s) => {
                        self.set(s, pos)?;
                        pc += 1;
                        true
                    }
                    Inst::Clear(from, to) => {
                        for s in from..to {
                            if self.slot(s) != NONE {
                                self.set(s, NONE)?;
                            }
                        }
                        pc += 1;
                        true
                    }
                    Inst::Progress(r) => {
                        pc += 1;
                        self.slot(r) != pos
                    }
                    Inst::BackRef(g) => match self.backref(g, pos) {
                        Some(n) => {
                            pos += n;
                            pc += 1;
                            true
                        }
                        None => false,
                    },
                    Inst::Look {
                        positive,
                        next,
                        from,
                        to,
                    } => {
                        // Save the captures the body may set, so that backtracking past the
                        // look-ahead restores them.
                        for s in from..to {
                            let old = self.slot(s);
                            self.push(Frame::Restore { slot: s, old })?;
                        }
                        let found = self.run(pc + 1, pos)?;
                        pc = next;
                        found == positive
                    }
                    Inst::Match => {
                        self.stack.truncate(base);
                        return Ok(true);
                    }
                },
            };
            if ok {
                continue;
            }
            // Backtrack.
            loop {
                if self.stack.len() <= base {
                    return Ok(false);
                }
                match self.stack.pop() {
                    Some(Frame::Restore { slot, old }) => {
                        if let Some(x) = self.slots.get_mut(slot as usize) {
                            *x = old;
                        }
                    }
                    Some(Frame::Resume { pc: p, pos: q }) => {
                        pc = p;
                        pos = q;
                        break;
                    }
                    None => return Ok(false),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(src: &str, ic: bool, input: &str) -> Option<Vec<Option<String>>> {
        let p = Program::compile(src, ic).unwrap();
        let mut spans = Spans::new();
        match p.find(input, &mut spans) {
            Outcome::Match => Some(
                spans
                    .iter()
                    .map(|s| s.map(|(a, b)| input[a..b].to_string()))
                    .collect(),
            ),
            Outcome::NoMatch => None,
            Outcome::Exhausted => panic!("budget exhausted on {src:?}"),
        }
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn back_references() {
        assert_eq!(
            caps(r"^([^|]+)\|\1$", true, "Example.com|example.COM"),
            Some(vec![s("Example.com|example.COM"), s("Example.com")])
        );
        assert_eq!(caps(r"^([^|]+)\|\1$", false, "a|A"), None);
        assert_eq!(caps(r"^(a)|\1b", true, "b"), Some(vec![s("b"), None]));
        assert_eq!(
            caps(r"(?<x>ab)\k<x>", false, "zabab").unwrap()[0],
            s("abab")
        );
        // A reference may come before its group (it then matches the empty string).
        assert_eq!(caps(r"\k<x>(?<x>a)", false, "a").unwrap()[0], s("a"));
        assert!(matches!(
            Program::compile(r"(?<x>a)\99999999999999999999999", false),
            Err(PatternError::Invalid(_))
        ));
        // A group that did not take part matches the empty string.
        assert_eq!(caps(r"^(?:(x)|y)\1z$", false, "yz").unwrap()[1], None);
        // Backtracking into the group to satisfy the reference.
        assert_eq!(caps(r"^(a+)a\1$", false, "aaaaa").unwrap()[1], s("aa"));
    }

    #[test]
    fn look_aheads() {
        assert_eq!(caps(r"^la/(?!private)(.*)$", true, "la/private"), None);
        assert_eq!(
            caps(r"^la/(?!private)(.*)$", true, "la/pub").unwrap()[1],
            s("pub")
        );
        assert_eq!(
            caps(r"^pl/(\w+)(?=\.json$)", true, "pl/data.json").unwrap()[0],
            s("pl/data")
        );
        // Captures of a positive look-ahead are kept; of a negative one never.
        assert_eq!(
            caps(r"(?=(\d+))\w+", false, "ab12").unwrap(),
            vec![s("12"), s("12")]
        );
        assert_eq!(
            caps(r"^(?!(a)b)a", false, "ac").unwrap(),
            vec![s("a"), None]
        );
        // Nested.
        assert!(caps(r"^(?=a(?!b))", false, "ac").is_some());
        assert!(caps(r"^(?=a(?!b))", false, "ab").is_none());
    }

    #[test]
    fn ecmascript_repeat_semantics() {
        // Captures reset at each iteration.
        assert_eq!(caps(r"^(?:(a)|b)+$", false, "ab").unwrap()[1], None);
        // An empty optional iteration fails.
        assert_eq!(caps(r"^(a?)*$", false, "aa").unwrap()[1], s("a"));
        assert_eq!(caps(r"(a|)+b", false, "ab").unwrap()[1], s("a"));
        assert_eq!(
            caps(r"^(a*?)(a+)$", false, "aaa").unwrap()[1..],
            [s(""), s("aaa")]
        );
        assert_eq!(caps(r"^a{2,3}?", false, "aaaa").unwrap()[0], s("aa"));
        assert_eq!(caps(r"^a{2,}$", false, "aaaa").unwrap()[0], s("aaaa"));
        assert_eq!(caps(r"^a{2}$", false, "aaa"), None);
    }

    #[test]
    fn classes_escapes_and_case() {
        assert!(caps(r"^[é-ë]$", true, "É").is_some());
        assert!(caps(r"^[é-ë]$", true, "Ê").is_some());
        assert!(caps(r"^[é-ë]$", true, "Ì").is_none());
        assert!(caps(r"^\u00e9$", true, "É").is_some());
        assert!(caps(r"^[^\S]$", false, "\u{3000}").is_some());
        assert!(caps(r"^[\s\S]$", false, "\n").is_some());
        assert!(caps(r"^.$", false, "\u{2028}").is_none());
        assert!(caps(r"^[\d-z]+$", false, "1-z").is_some());
        assert!(caps(r"^[\b]$", false, "\u{8}").is_some());
        assert!(caps(r"\bfoo\b", false, "a foo.").is_some());
        assert!(caps(r"\Bfoo", false, "a foo").is_none());
        assert!(caps(r"^[]$", false, "]").is_none());
        assert!(caps(r"^a[^]b$", false, "a\nb").is_some());
        assert!(caps(r"^\x41\cJ$", false, "A\n").is_some());
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in [
            "*a",
            "a**",
            "(a",
            "a)",
            "[a",
            r"\",
            r"(a)\2",
            r"\k<n>(?<m>a)",
            "(?<=a)b",
            "(?i)a",
            "^*",
            "[z-a]",
            "a{2,1}",
            "/{C:1}",
            r"[\1]",
        ] {
            assert!(
                matches!(Program::compile(bad, true), Err(PatternError::Invalid(_))),
                "{bad:?} should be refused"
            );
        }
        assert!(matches!(
            Program::compile("(a{100}){1000}", true),
            Err(PatternError::Unsupported(_))
        ));
        assert!(Program::compile(&"(".repeat(100), true).is_err());
    }

    #[test]
    fn budget_stops_catastrophic_patterns() {
        let p = Program::compile(r"^(a+)+\1$", false).unwrap();
        let input = format!("{}b", "a".repeat(40));
        let mut spans = Spans::new();
        let before = exhausted_count();
        assert_eq!(p.find(&input, &mut spans), Outcome::Exhausted);
        assert!(spans.is_empty());
        assert!(exhausted_count() > before);
        // Long inputs on a linear pattern stay within budget and stack.
        let p = Program::compile(r"^(.*)\1$", false).unwrap();
        let long = "ab".repeat(5000);
        assert_eq!(p.find(&long, &mut spans), Outcome::Match);
    }
}
