//! The RFC 8259 grammar, read into a small document tree that keeps the byte offset of every
//! value and key. Strict: UTF-8 only, no comments, no trailing commas, no duplicate keys, one
//! value per document; a leading UTF-8 byte order mark is skipped (RFC 8259 section 8.1 allows
//! it, and Windows editors write it). Numbers are checked against the grammar and kept as
//! written: the decoder reads the integers it needs with their range checks.

use super::error::{ErrorKind, JsonError};
use super::{BOM, MAX_BYTES, MAX_DEPTH};

/// A JSON value and the byte offset of its first character.
#[derive(Debug, Clone, PartialEq)]
pub struct Value<'a> {
    pub at: usize,
    pub kind: Kind<'a>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind<'a> {
    Null,
    Bool(bool),
    /// The number as written (valid by the grammar).
    Number(&'a str),
    String(String),
    Array(Vec<Value<'a>>),
    /// Members in document order; keys are unique.
    Object(Vec<Member<'a>>),
}

/// One `"key": value` of an object; `key_at` is the offset of the key's opening quote.
#[derive(Debug, Clone, PartialEq)]
pub struct Member<'a> {
    pub key: String,
    pub key_at: usize,
    pub value: Value<'a>,
}

impl Kind<'_> {
    /// The JSON type, as error messages name it.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Number(_) => "a number",
            Kind::String(_) => "a string",
            Kind::Array(_) => "an array",
            Kind::Object(_) => "an object",
        }
    }
}

/// Reads one JSON document.
pub fn parse(bytes: &[u8]) -> Result<Value<'_>, JsonError> {
    read(bytes).map_err(|e| e.located(bytes))
}

fn read(bytes: &[u8]) -> Result<Value<'_>, JsonError> {
    if bytes.len() > MAX_BYTES {
        return Err(JsonError::new(ErrorKind::TooLarge { limit: MAX_BYTES }, 0));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| JsonError::new(ErrorKind::InvalidUtf8, e.valid_up_to()))?;
    let mut reader = Reader {
        text,
        bytes,
        i: if bytes.starts_with(BOM) { BOM.len() } else { 0 },
    };
    let value = reader.value(1)?;
    reader.skip_whitespace();
    if reader.i < bytes.len() {
        return Err(reader.error(ErrorKind::TrailingCharacters));
    }
    Ok(value)
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    /// The next byte to read; always on a character boundary between tokens.
    i: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.i += 1;
        }
        hit
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn error(&self, kind: ErrorKind) -> JsonError {
        JsonError::new(kind, self.i)
    }

    fn unexpected(&self, expected: &'static str) -> JsonError {
        let found = self.text.get(self.i..).and_then(|s| s.chars().next());
        self.error(ErrorKind::Unexpected { expected, found })
    }

    /// A value whose arrays and objects sit at nesting level `depth` (1 for the document).
    fn value(&mut self, depth: usize) -> Result<Value<'a>, JsonError> {
        self.skip_whitespace();
        let at = self.i;
        let kind = match self.peek() {
            Some(b'{' | b'[') if depth > MAX_DEPTH => {
                return Err(self.error(ErrorKind::TooDeep { limit: MAX_DEPTH }))
            }
            Some(b'{') => Kind::Object(self.object(depth)?),
            Some(b'[') => Kind::Array(self.array(depth)?),
            Some(b'"') => Kind::String(self.string()?),
            Some(b'-' | b'0'..=b'9') => Kind::Number(self.number()?),
            Some(b't') => self.literal("true", Kind::Bool(true))?,
            Some(b'f') => self.literal("false", Kind::Bool(false))?,
            Some(b'n') => self.literal("null", Kind::Null)?,
            _ => return Err(self.unexpected("a value")),
        };
        Ok(Value { at, kind })
    }

    fn literal(&mut self, word: &str, kind: Kind<'a>) -> Result<Kind<'a>, JsonError> {
        if self.text.get(self.i..).is_some_and(|s| s.starts_with(word)) {
            self.i += word.len();
            Ok(kind)
        } else {
            Err(self.error(ErrorKind::InvalidLiteral))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Vec<Member<'a>>, JsonError> {
        self.i += 1; // '{'
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.eat(b'}') {
            return Ok(members);
        }
        loop {
            self.skip_whitespace();
            let key_at = self.i;
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("a string key"));
            }
            let key = self.string()?;
            self.skip_whitespace();
            if !self.eat(b':') {
                return Err(self.unexpected("':'").in_key(&key));
            }
            let value = self.value(depth + 1).map_err(|e| e.in_key(&key))?;
            members.push(Member { key, key_at, value });
            self.skip_whitespace();
            if self.eat(b'}') {
                break;
            }
            if !self.eat(b',') {
                return Err(self.unexpected("',' or '}'"));
            }
        }
        match first_duplicate(&members) {
            Some(m) => {
                Err(JsonError::new(ErrorKind::DuplicateKey(m.key.clone()), m.key_at).in_key(&m.key))
            }
            None => Ok(members),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Vec<Value<'a>>, JsonError> {
        self.i += 1; // '['
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.eat(b']') {
            return Ok(items);
        }
        loop {
            let index = items.len();
            items.push(self.value(depth + 1).map_err(|e| e.in_index(index))?);
            self.skip_whitespace();
            if self.eat(b']') {
                return Ok(items);
            }
            if !self.eat(b',') {
                return Err(self.unexpected("',' or ']'"));
            }
        }
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.i += 1; // '"'
        let mut out = String::new();
        loop {
            let start = self.i;
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.i += 1;
            }
            // The run stops at an ASCII byte or the end: both are character boundaries.
            out.push_str(self.text.get(start..self.i).unwrap_or_default());
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => out.push(self.escape()?),
                Some(_) => return Err(self.error(ErrorKind::ControlCharacter)),
                None => return Err(self.unexpected("'\"' closing the string")),
            }
        }
    }

    /// The character an escape stands for; `self.i` is on the backslash.
    fn escape(&mut self) -> Result<char, JsonError> {
        let at = self.i;
        self.i += 1;
        let simple = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.i += 1;
                return self.unicode_escape(at);
            }
            _ => return Err(JsonError::new(ErrorKind::InvalidEscape, at)),
        };
        self.i += 1;
        Ok(simple)
    }

    /// `\uXXXX`, or a UTF-16 surrogate pair `\uD83D\uDE00`; `self.i` is after the `u`.
    fn unicode_escape(&mut self, at: usize) -> Result<char, JsonError> {
        let lone = JsonError::new(ErrorKind::LoneSurrogate, at);
        let unit = self.hex4()?;
        let code = match unit {
            0xD800..=0xDBFF => {
                if self.bytes.get(self.i..self.i + 2) != Some(b"\\u") {
                    return Err(lone);
                }
                self.i += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(lone);
                }
                0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(lone),
            _ => unit,
        };
        char::from_u32(code).ok_or(lone)
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut value = 0;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|b| char::from(b).to_digit(16))
                .ok_or_else(|| self.error(ErrorKind::InvalidEscape))?;
            value = value * 16 + digit;
            self.i += 1;
        }
        Ok(value)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<&'a str, JsonError> {
        let start = self.i;
        self.eat(b'-');
        if !self.eat(b'0') && self.digits() == 0 {
            return Err(self.error(ErrorKind::InvalidNumber));
        }
        if self.eat(b'.') && self.digits() == 0 {
            return Err(self.error(ErrorKind::InvalidNumber));
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _ = self.eat(b'+') || self.eat(b'-');
            if self.digits() == 0 {
                return Err(self.error(ErrorKind::InvalidNumber));
            }
        }
        Ok(self.text.get(start..self.i).unwrap_or_default())
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }
}

/// The first member (in document order) whose key an earlier member already has.
fn first_duplicate<'m, 'a>(members: &'m [Member<'a>]) -> Option<&'m Member<'a>> {
    const SMALL: usize = 16;
    if members.len() <= SMALL {
        return members.iter().enumerate().find_map(|(i, m)| {
            members
                .iter()
                .take(i)
                .any(|earlier| earlier.key == m.key)
                .then_some(m)
        });
    }
    // Large objects (a map of many rule sets): sort instead of comparing every pair.
    let mut order: Vec<&Member<'a>> = members.iter().collect();
    order.sort_by(|a, b| a.key.cmp(&b.key).then(a.key_at.cmp(&b.key_at)));
    order
        .windows(2)
        .filter_map(|pair| match pair {
            [a, b] if a.key == b.key => Some(*b),
            _ => None,
        })
        .min_by_key(|m| m.key_at)
}
