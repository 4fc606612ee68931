//! The backtracking matcher, for the ECMAScript patterns that regex-lite cannot run exactly:
//! back-references (`\1`, `\k<name>`) and look-aheads anywhere in a pattern.
//!
//! The program is compiled from the syntax tree. Semantics follow ECMAScript (ECMA-262,
//! "Pattern Semantics"): captures inside a repeated group are reset at each iteration, an
//! optional iteration that matches the empty string fails, a back-reference to a group that did
//! not take part matches the empty string, positive look-aheads keep their captures, and
//! ignoreCase compares by simple case mapping (a character matches when it, its lower case or its
//! upper case does).
//!
//! Matching runs the program with an explicit backtrack stack (no recursion but one level per
//! nested look-ahead), reusing per-thread scratch buffers. Every executed instruction costs one
//! step out of [`STEP_BUDGET`]; a match that runs out of steps (or of backtrack stack) fails and
//! is reported as [`Outcome::Exhausted`], so a hostile URL against a catastrophic pattern
//! (`^(a+)+\1$`) costs bounded time and memory.
//!
//! A rule set may hold many such patterns (ten conditions would otherwise cost ten budgets), so
//! while a [`RequestBudget`] is active, every match also draws on one budget per request phase,
//! [`REQUEST_STEP_BUDGET`]: once it is spent, the remaining backtracking matches of that phase
//! fail at once, exhausted.

use super::syntax::{case_variants, Class, Node, PatternError, Repeat, Spans, Tree};
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};

/// Steps (executed instructions) one `find` may spend over all start positions.
pub const STEP_BUDGET: u32 = 1_000_000;
/// Steps all the matches of one request phase may spend together (about 40 ms of a worker).
pub const REQUEST_STEP_BUDGET: u32 = 2 * STEP_BUDGET;
/// Backtrack entries one `find` may hold at once (bounds memory: about 2 MB).
const MAX_FRAMES: usize = 128 * 1024;
/// Instructions a compiled program may have (counted repetitions are expanded).
const MAX_PROGRAM: usize = 20_000;

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

/// A class as the matcher tests it: sorted, merged ranges and whether they are negated.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ranges {
    ranges: Vec<(char, char)>,
    negated: bool,
}

impl Ranges {
    fn of(class: &Class) -> Ranges {
        Ranges {
            ranges: class.ranges(),
            negated: class.negated,
        }
    }

    fn matches(&self, c: char, ignore_case: bool) -> bool {
        let found = in_ranges(&self.ranges, c)
            || (ignore_case && case_variants(c).iter().any(|&v| in_ranges(&self.ranges, v)));
        found != self.negated
    }
}

/// Whether a node can match the empty string.
fn nullable(n: &Node) -> bool {
    match n {
        Node::Empty
        | Node::Start
        | Node::End
        | Node::Word(_)
        | Node::Look(_)
        | Node::BackRef(_) => true,
        Node::Char(_) | Node::Class(_) | Node::Any => false,
        Node::Group(_, b) => nullable(b),
        Node::Concat(v) => v.iter().all(nullable),
        Node::Alt(v) => v.iter().any(nullable),
        Node::Repeat(r) => r.min == 0 || nullable(&r.node),
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
    classes: Vec<Ranges>,
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
    classes: Vec<Ranges>,
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
            Node::Class(class) => {
                let c = Ranges::of(class);
                let idx = match self.classes.iter().position(|x| *x == c) {
                    Some(i) => i,
                    None => {
                        self.classes.push(c);
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
            Node::Group(cap, body) => {
                if let Some(g) = cap {
                    self.push(Inst::Save(to_u32(2 * g)?))?;
                }
                self.emit(body)?;
                if let Some(g) = cap {
                    self.push(Inst::Save(to_u32(2 * g + 1)?))?;
                }
            }
            Node::Look(look) => {
                let (from, to) = look.groups;
                let at = self.push(Inst::Look {
                    positive: look.positive,
                    next: 0,
                    from: to_u32(2 * from)?,
                    to: to_u32(2 * to)?,
                })?;
                self.emit(&look.body)?;
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
    /// Compiles a parsed ECMAScript pattern.
    pub(crate) fn compile(tree: &Tree, ignore_case: bool) -> Result<Program, PatternError> {
        let groups = tree.groups;
        let first_reg = 2 * (groups + 1);
        let mut e = Emitter {
            insts: Vec::new(),
            classes: Vec::new(),
            regs: 0,
            first_reg,
            ignore_case,
        };
        e.push(Inst::Save(0))?;
        e.emit(&tree.root)?;
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
            anchored: starts_anchored(&tree.root),
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
        let request_left = REQUEST_LEFT.with(Cell::get);
        let mut vm = Vm {
            prog: self,
            input,
            slots,
            stack,
            steps: 0,
            limit: request_left.map_or(STEP_BUDGET, |left| left.min(STEP_BUDGET)),
        };
        let outcome = vm.search(spans);
        if let Some(left) = request_left {
            REQUEST_LEFT.with(|cell| cell.set(Some(left.saturating_sub(vm.steps))));
        }
        if outcome == Outcome::Exhausted {
            EXHAUSTED.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }
}

impl Vm<'_> {
    /// Tries every start position (one when the pattern is anchored).
    fn search(&mut self, spans: &mut Spans) -> Outcome {
        let (prog, input) = (self.prog, self.input);
        let mut start = 0;
        loop {
            self.slots.clear();
            self.slots.resize(prog.slots, NONE);
            self.stack.clear();
            match self.run(0, start) {
                Err(Exhausted) => return Outcome::Exhausted,
                Ok(true) => {
                    for g in 0..=prog.groups {
                        let a = self.slots.get(2 * g).copied().unwrap_or(NONE);
                        let b = self.slots.get(2 * g + 1).copied().unwrap_or(NONE);
                        spans.push((a != NONE && b != NONE).then_some((a, b)));
                    }
                    return Outcome::Match;
                }
                Ok(false) => {}
            }
            if prog.anchored {
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
    /// Steps left to the request phase being evaluated on this thread; `None` outside one.
    static REQUEST_LEFT: Cell<Option<u32>> = const { Cell::new(None) };
    static SCRATCH: RefCell<(Vec<usize>, Vec<Frame>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// The step budget of one request phase, shared by its backtracking matches while the value
/// lives (the engine holds one per inbound and per outbound evaluation).
#[derive(Debug)]
pub struct RequestBudget {
    /// The budget this one replaced (restored on drop).
    outer: Option<u32>,
}

impl RequestBudget {
    pub fn start() -> RequestBudget {
        RequestBudget {
            outer: REQUEST_LEFT.with(|left| left.replace(Some(REQUEST_STEP_BUDGET))),
        }
    }
}

impl Drop for RequestBudget {
    fn drop(&mut self) {
        REQUEST_LEFT.with(|left| left.set(self.outer));
    }
}

/// Whether the current request phase has spent its whole step budget.
pub fn request_budget_spent() -> bool {
    REQUEST_LEFT.with(|left| left.get() == Some(0))
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
    /// Steps this search may spend: the per-match budget, or less of the request's is left.
    limit: u32,
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
            if self.steps > self.limit {
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

    fn program(src: &str, ic: bool) -> Result<Program, PatternError> {
        Program::compile(&crate::pattern::syntax::parse(src)?, ic)
    }

    fn caps(src: &str, ic: bool, input: &str) -> Option<Vec<Option<String>>> {
        let p = program(src, ic).unwrap();
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
            program(r"(?<x>a)\99999999999999999999999", false),
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
                matches!(program(bad, true), Err(PatternError::Invalid(_))),
                "{bad:?} should be refused"
            );
        }
        assert!(matches!(
            program("(a{100}){1000}", true),
            Err(PatternError::Unsupported(_))
        ));
        assert!(program(&"(".repeat(100), true).is_err());
    }

    #[test]
    fn budget_stops_catastrophic_patterns() {
        let p = program(r"^(a+)+\1$", false).unwrap();
        let input = format!("{}b", "a".repeat(40));
        let mut spans = Spans::new();
        let before = exhausted_count();
        assert_eq!(p.find(&input, &mut spans), Outcome::Exhausted);
        assert!(spans.is_empty());
        assert!(exhausted_count() > before);
        // Long inputs on a linear pattern stay within budget and stack.
        let p = program(r"^(.*)\1$", false).unwrap();
        let long = "ab".repeat(5000);
        assert_eq!(p.find(&long, &mut spans), Outcome::Match);
    }

    #[test]
    fn a_request_shares_one_budget_between_its_matches() {
        let slow = program(r"^(a+)+\1$", false).unwrap();
        let cheap = program(r"^(a)\1$", false).unwrap();
        let input = format!("{}b", "a".repeat(40));
        let mut spans = Spans::new();
        {
            let _budget = RequestBudget::start();
            // Two exhausted matches spend the request's budget ...
            assert_eq!(slow.find(&input, &mut spans), Outcome::Exhausted);
            assert!(!request_budget_spent());
            assert_eq!(slow.find(&input, &mut spans), Outcome::Exhausted);
            assert!(request_budget_spent());
            // ... so even a cheap match then fails without running.
            assert_eq!(cheap.find("aa", &mut spans), Outcome::Exhausted);
            {
                // A nested phase has its own budget and gives the outer one back.
                let _inner = RequestBudget::start();
                assert_eq!(cheap.find("aa", &mut spans), Outcome::Match);
            }
            assert!(request_budget_spent());
        }
        // Outside a request phase only the per-match budget applies.
        assert_eq!(cheap.find("aa", &mut spans), Outcome::Match);
        let _budget = RequestBudget::start();
        assert_eq!(cheap.find("aa", &mut spans), Outcome::Match);
    }
}
