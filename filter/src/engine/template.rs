//! The template language of condition inputs, action URLs and `<set>` values: literals mixed with
//! `{VAR}`, `{R:n}`, `{C:n}`, `{Function:arg}` and `{Map:key}`, where arguments nest. There is no
//! escape character; a `}` outside a token is literal. Parsed once; expansion appends to a
//! caller-owned buffer.
//!
//! Expansion is bounded: one template may produce at most [`MAX_TEMPLATE_BYTES`]. IIS has no
//! such limit, but without one a configuration whose `<set>` values repeat an earlier variable
//! several times multiplies the request's size at every step, and one request could ask the
//! module for more memory than it has (a trap that fails the VM).

use crate::engine::server_vars::ServerVar;
use crate::engine::url;

/// A built-in function (`ToLower`, `UrlEncode`, `UrlDecode`, `HtmlEncode`); names are
/// case-insensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    ToLower,
    UrlEncode,
    UrlDecode,
    HtmlEncode,
}

impl Function {
    fn parse(name: &str) -> Option<Function> {
        match name.to_ascii_lowercase().as_str() {
            "tolower" => Some(Function::ToLower),
            "urlencode" => Some(Function::UrlEncode),
            "urldecode" => Some(Function::UrlDecode),
            "htmlencode" => Some(Function::HtmlEncode),
            _ => None,
        }
    }

    fn apply(self, arg: &str, out: &mut String) {
        match self {
            Function::ToLower => out.push_str(&arg.to_lowercase()),
            Function::UrlEncode => out.push_str(&url::url_encode(arg)),
            Function::UrlDecode => out.push_str(&url::url_decode(arg)),
            Function::HtmlEncode => out.push_str(&url::html_encode(arg)),
        }
    }
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Var(ServerVar),
    /// `{R:n}`, n in 0..=9.
    RuleRef(u8),
    /// `{C:n}`, n in 0..=9.
    CondRef(u8),
    Call(Function, Template),
    /// Rewrite map lookup: map index, key template.
    Map(usize, Template),
}

/// A parsed template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// A `{` with no matching `}` (byte offset of the `{`).
    Unbalanced(usize),
    /// A token that is not `{NAME}` / `{NAME:arg}`.
    Malformed(usize, &'static str),
    /// `{R:…}` / `{C:…}` that is not a single digit.
    BadBackReference(String, &'static str),
    /// `{Name:…}` where Name is neither a function nor a rewrite map.
    UnknownMap(String),
}

/// The most bytes one expansion may produce. Above Envoy's default limit on a request's headers
/// (60 KiB), so any value a client can send fits; no URL or header value longer than this can
/// reach an upstream through Envoy's defaults anyway.
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

thread_local! {
    /// The buffer [`Template::with_expansion`] expands into.
    static SCRATCH: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
}

/// An expansion stopped because it would produce more than [`MAX_TEMPLATE_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

/// What the parser needs to resolve names.
pub trait Names {
    /// The index of a rewrite map by name (case-insensitive).
    fn map(&self, name: &str) -> Option<usize>;
    /// Resolves a variable name.
    fn var(&self, name: &str) -> ServerVar;
}

/// What expansion needs from the evaluation. `'e` is the compiled configuration's lifetime:
/// the variables a template names live as long as it, so an evaluation may keep their names.
pub trait Expand<'e> {
    fn var(&self, var: &'e ServerVar, out: &mut String);
    fn rule_capture(&self, n: u8, out: &mut String);
    fn cond_capture(&self, n: u8, out: &mut String);
    fn map(&self, index: usize, key: &str, out: &mut String);
}

impl Template {
    pub fn parse(source: &str, names: &dyn Names) -> Result<Template, TemplateError> {
        let mut p = Parser {
            s: source.as_bytes(),
            src: source,
            pos: 0,
        };
        let t = p.sequence(false, names)?;
        Ok(t)
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The text, when the template has no token.
    pub fn as_literal(&self) -> Option<&str> {
        match self.segments.as_slice() {
            [] => Some(""),
            [Segment::Literal(s)] => Some(s),
            _ => None,
        }
    }

    /// The literal text the template starts with ("" if it starts with a token).
    #[cfg(test)]
    pub fn literal_prefix(&self) -> &str {
        match self.segments.first() {
            Some(Segment::Literal(s)) => s,
            _ => "",
        }
    }

    /// Calls `f` on every segment, nested ones included.
    pub fn visit(&self, f: &mut dyn FnMut(&Segment)) {
        for s in &self.segments {
            f(s);
            match s {
                Segment::Call(_, t) | Segment::Map(_, t) => t.visit(f),
                _ => {}
            }
        }
    }

    /// Appends the expansion to `out`; fails once it has appended more than
    /// [`MAX_TEMPLATE_BYTES`] (what was appended is then left in `out`). Each step appends one
    /// bounded value (a variable, a capture, a function of an expansion that fit), so the
    /// memory used stays a small multiple of the limit whatever the input.
    pub fn expand<'e>(&'e self, ctx: &dyn Expand<'e>, out: &mut String) -> Result<(), TooLarge> {
        let start = out.len();
        for s in &self.segments {
            match s {
                Segment::Literal(l) => out.push_str(l),
                Segment::Var(v) => ctx.var(v, out),
                Segment::RuleRef(n) => ctx.rule_capture(*n, out),
                Segment::CondRef(n) => ctx.cond_capture(*n, out),
                Segment::Call(f, arg) => {
                    let mut tmp = String::new();
                    arg.expand(ctx, &mut tmp)?;
                    f.apply(&tmp, out);
                }
                Segment::Map(i, key) => {
                    let mut tmp = String::new();
                    key.expand(ctx, &mut tmp)?;
                    ctx.map(*i, &tmp, out);
                }
            }
            if out.len() - start > MAX_TEMPLATE_BYTES {
                return Err(TooLarge);
            }
        }
        Ok(())
    }

    /// Calls `f` with the expansion (at most [`MAX_TEMPLATE_BYTES`]) for values that are only
    /// read, such as condition inputs: a literal is lent as it is, anything else is expanded
    /// into a buffer this thread reuses, so no allocation is made per expansion once it has
    /// grown to fit.
    pub fn with_expansion<'e, R>(
        &'e self,
        ctx: &dyn Expand<'e>,
        f: impl FnOnce(&str) -> R,
    ) -> Result<R, TooLarge> {
        if let Some(l) = self.as_literal() {
            return Ok(f(l));
        }
        // Taken out while in use: an expansion nested inside `f` finds an empty buffer.
        let mut buf = SCRATCH.take();
        buf.clear();
        let result = self.expand(ctx, &mut buf).map(|()| f(&buf));
        // A buffer grown past the limit is not kept.
        if buf.capacity() <= MAX_TEMPLATE_BYTES {
            SCRATCH.set(buf);
        }
        result
    }

    /// The expansion as a new string (at most [`MAX_TEMPLATE_BYTES`]). It is built in the
    /// reused buffer and copied once at its final size: a string grown piece by piece would be
    /// reallocated at each doubling.
    pub fn expand_to_string<'e>(&'e self, ctx: &dyn Expand<'e>) -> Result<String, TooLarge> {
        self.with_expansion(ctx, str::to_string)
    }
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    pos: usize,
}

impl Parser<'_> {
    /// Parses literals and tokens; in `nested` mode stops at (and consumes) the closing `}`.
    fn sequence(&mut self, nested: bool, names: &dyn Names) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut lit_start = self.pos;
        let flush = |segments: &mut Vec<Segment>, src: &str, from: usize, to: usize| {
            if to > from {
                if let Some(text) = src.get(from..to) {
                    segments.push(Segment::Literal(text.to_string()));
                }
            }
        };
        while let Some(&b) = self.s.get(self.pos) {
            match b {
                b'{' => {
                    flush(&mut segments, self.src, lit_start, self.pos);
                    segments.push(self.token(names)?);
                    lit_start = self.pos;
                }
                b'}' if nested => {
                    flush(&mut segments, self.src, lit_start, self.pos);
                    self.pos += 1;
                    return Ok(Template { segments });
                }
                _ => self.pos += 1,
            }
        }
        if nested {
            // The caller reports the `{` that opened this argument.
            return Err(TemplateError::Unbalanced(0));
        }
        flush(&mut segments, self.src, lit_start, self.pos);
        Ok(Template { segments })
    }

    /// Parses `{…}` starting at the `{`.
    fn token(&mut self, names: &dyn Names) -> Result<Segment, TemplateError> {
        let open = self.pos;
        self.pos += 1;
        let name_start = self.pos;
        loop {
            match self.s.get(self.pos) {
                None => return Err(TemplateError::Unbalanced(open)),
                Some(b'{') => return Err(TemplateError::Malformed(open, "a \"{\" inside a name")),
                Some(b'}') | Some(b':') => break,
                Some(_) => self.pos += 1,
            }
        }
        let name = self.src.get(name_start..self.pos).unwrap_or_default();
        let closing = self.s.get(self.pos) == Some(&b'}');
        self.pos += 1;
        if name.trim().is_empty() {
            return Err(TemplateError::Malformed(open, "an empty name"));
        }
        if closing {
            return Ok(Segment::Var(names.var(name)));
        }
        // `{NAME:` … — a back-reference, a function or a map.
        let upper = name.trim().to_ascii_uppercase();
        if upper == "R" || upper == "C" {
            let digits_start = self.pos;
            while matches!(self.s.get(self.pos), Some(b) if *b != b'}') {
                self.pos += 1;
            }
            if self.s.get(self.pos).is_none() {
                return Err(TemplateError::Unbalanced(open));
            }
            let digits = self.src.get(digits_start..self.pos).unwrap_or_default();
            self.pos += 1;
            let text = self.src.get(open..self.pos).unwrap_or_default().to_string();
            let n = match digits.as_bytes() {
                [d @ b'0'..=b'9'] => d - b'0',
                [b'0'..=b'9', b'0'..=b'9', ..] => {
                    return Err(TemplateError::BadBackReference(
                        text,
                        "the index is above 9 (IIS back-references are 0 to 9)",
                    ))
                }
                _ => {
                    return Err(TemplateError::BadBackReference(
                        text,
                        "the index must be a digit 0 to 9",
                    ))
                }
            };
            return Ok(if upper == "R" {
                Segment::RuleRef(n)
            } else {
                Segment::CondRef(n)
            });
        }
        let arg = self.sequence(true, names).map_err(|e| match e {
            TemplateError::Unbalanced(0) => TemplateError::Unbalanced(open),
            other => other,
        })?;
        if let Some(f) = Function::parse(name.trim()) {
            return Ok(Segment::Call(f, arg));
        }
        match names.map(name.trim()) {
            Some(i) => Ok(Segment::Map(i, arg)),
            None => Err(TemplateError::UnknownMap(name.trim().to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::server_vars::builtin;

    struct N;
    impl Names for N {
        fn map(&self, name: &str) -> Option<usize> {
            name.eq_ignore_ascii_case("Redirects").then_some(0)
        }
        fn var(&self, name: &str) -> ServerVar {
            builtin(name)
        }
    }

    struct E;
    impl Expand<'_> for E {
        fn var(&self, v: &ServerVar, out: &mut String) {
            out.push_str(&format!("<{v:?}>"))
        }
        fn rule_capture(&self, n: u8, out: &mut String) {
            out.push_str(&format!("R{n}"))
        }
        fn cond_capture(&self, n: u8, out: &mut String) {
            out.push_str(&format!("C{n}"))
        }
        fn map(&self, i: usize, key: &str, out: &mut String) {
            out.push_str(&format!("m{i}[{key}]"))
        }
    }

    fn expand(s: &str) -> String {
        Template::parse(s, &N)
            .unwrap()
            .expand_to_string(&E)
            .unwrap()
    }

    #[test]
    fn tokens_and_nesting() {
        assert_eq!(expand("http://x/{R:1}?a={C:0}"), "http://x/R1?a=C0");
        assert_eq!(expand("{ToLower:AbC{R:2}}"), "abcr2");
        assert_eq!(expand("{redirects:{REQUEST_URI}}"), "m0[<RequestUri>]");
        assert_eq!(expand("{UrlEncode:a b}}"), "a%20b}");
        assert_eq!(expand("{UrlDecode:%7B}x"), "{x");
        assert_eq!(
            Template::parse("a{HTTP_HOST}", &N)
                .unwrap()
                .literal_prefix(),
            "a"
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            Template::parse("x{R:1", &N),
            Err(TemplateError::Unbalanced(1))
        );
        assert_eq!(
            Template::parse("{ToLower:{R:1}", &N),
            Err(TemplateError::Unbalanced(0))
        );
        assert!(matches!(
            Template::parse("{R:10}", &N),
            Err(TemplateError::BadBackReference(..))
        ));
        assert!(matches!(
            Template::parse("{C:x}", &N),
            Err(TemplateError::BadBackReference(..))
        ));
        assert_eq!(
            Template::parse("{Nope:1}", &N),
            Err(TemplateError::UnknownMap("Nope".into()))
        );
        assert!(matches!(
            Template::parse("{}", &N),
            Err(TemplateError::Malformed(0, _))
        ));
    }
}
