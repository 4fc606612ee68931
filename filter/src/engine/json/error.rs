//! What the reader and the decoder refuse, with where: the byte offset, its line and column, and
//! the path of the value at fault (`rules[3].action.url`).

use std::fmt;

/// Why a configuration document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The document is larger than [`super::MAX_BYTES`].
    TooLarge {
        limit: usize,
    },
    InvalidUtf8,
    /// Arrays and objects nested deeper than [`super::MAX_DEPTH`].
    TooDeep {
        limit: usize,
    },
    /// A grammar error: `expected` is what the grammar allows here; `found` is `None` at the
    /// end of the input.
    Unexpected {
        expected: &'static str,
        found: Option<char>,
    },
    /// Something starting like `true`, `false` or `null` that is none of them.
    InvalidLiteral,
    /// A raw control character (U+0000 to U+001F) inside a string.
    ControlCharacter,
    InvalidEscape,
    /// A `\u` escape of a UTF-16 surrogate without its other half.
    LoneSurrogate,
    InvalidNumber,
    /// More after the document's value.
    TrailingCharacters,
    DuplicateKey(String),
    /// A key the model does not have; `expected` lists the ones it has.
    UnknownKey {
        key: String,
        expected: Vec<&'static str>,
    },
    MissingKey(&'static str),
    /// A value of the wrong JSON type (or a fractional number where an integer belongs).
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    /// An integer outside the range of its field.
    OutOfRange {
        value: String,
        expected: &'static str,
    },
}

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A refused configuration document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub kind: ErrorKind,
    /// Byte offset in the document.
    pub offset: usize,
    /// 1-based; columns count characters. Filled in by the entry points.
    pub line: u32,
    pub column: u32,
    /// Innermost segment first: errors collect their path while they travel up.
    path: Vec<Segment>,
}

impl JsonError {
    pub(crate) fn new(kind: ErrorKind, offset: usize) -> Self {
        JsonError {
            kind,
            offset,
            line: 0,
            column: 0,
            path: Vec::new(),
        }
    }

    /// The same error, seen from the object that holds it under `key`.
    #[cold]
    #[inline(never)]
    pub(crate) fn in_key(mut self, key: &str) -> Self {
        self.path.push(Segment::Key(key.to_string()));
        self
    }

    /// The same error, seen from the array that holds it at `index`.
    #[cold]
    #[inline(never)]
    pub(crate) fn in_index(mut self, index: usize) -> Self {
        self.path.push(Segment::Index(index));
        self
    }

    /// Fills in the line and column of the offset in `bytes` (the whole document).
    pub(crate) fn located(mut self, bytes: &[u8]) -> Self {
        (self.line, self.column) = line_column(bytes, self.offset);
        self
    }

    /// The path segments, outermost first.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.path.iter().rev()
    }

    /// The path of the value at fault, as `rules[3].action.url` (empty for the whole document).
    pub fn path(&self) -> String {
        let mut out = String::new();
        for segment in self.segments() {
            match segment {
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
                Segment::Key(k) if is_plain_key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Segment::Key(k) => out.push_str(&format!("[{k:?}]")),
            }
        }
        out
    }

    /// What is wrong and where in the document's structure, without the line and column (the
    /// command prints those in front of its diagnostics).
    pub fn message(&self) -> String {
        let mut out = self.kind.to_string();
        let path = self.path();
        if !path.is_empty() {
            out.push_str(" at ");
            out.push_str(&path);
        }
        if let ErrorKind::UnknownKey { expected, .. } = &self.kind {
            let names: Vec<String> = expected.iter().map(|k| format!("`{k}`")).collect();
            match names.as_slice() {
                [] => out.push_str(" (no field is allowed here)"),
                _ => out.push_str(&format!(" (expected one of {})", names.join(", "))),
            }
        }
        out
    }
}

fn is_plain_key(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// 1-based line and character column of a byte offset. A leading byte order mark takes no
/// column, as editors show it.
pub(crate) fn line_column(bytes: &[u8], offset: usize) -> (u32, u32) {
    let before = bytes.get(..offset).unwrap_or(bytes);
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut line_bytes = before.get(line_start..).unwrap_or_default();
    if line_start == 0 {
        line_bytes = line_bytes.strip_prefix(super::BOM).unwrap_or(line_bytes);
    }
    // Characters: every byte that does not continue a UTF-8 sequence.
    let column = line_bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::TooLarge { limit } => {
                write!(f, "the configuration is larger than {limit} bytes")
            }
            ErrorKind::InvalidUtf8 => f.write_str("invalid UTF-8"),
            ErrorKind::TooDeep { limit } => {
                write!(f, "arrays and objects nested deeper than {limit} levels")
            }
            ErrorKind::Unexpected {
                expected,
                found: Some(c),
            } => write!(f, "expected {expected}, found {c:?}"),
            ErrorKind::Unexpected {
                expected,
                found: None,
            } => write!(f, "expected {expected}, found the end of the input"),
            ErrorKind::InvalidLiteral => f.write_str("invalid literal (true, false or null)"),
            ErrorKind::ControlCharacter => {
                f.write_str("control character in a string (write it as an escape)")
            }
            ErrorKind::InvalidEscape => f.write_str("invalid escape in a string"),
            ErrorKind::LoneSurrogate => f.write_str("unpaired UTF-16 surrogate in a \\u escape"),
            ErrorKind::InvalidNumber => f.write_str("invalid number"),
            ErrorKind::TrailingCharacters => f.write_str("trailing characters after the value"),
            ErrorKind::DuplicateKey(key) => write!(f, "duplicate field `{key}`"),
            ErrorKind::UnknownKey { key, .. } => write!(f, "unknown field `{key}`"),
            ErrorKind::MissingKey(key) => write!(f, "missing field `{key}`"),
            ErrorKind::WrongType { expected, found } => {
                write!(f, "invalid type: {found}, expected {expected}")
            }
            ErrorKind::OutOfRange { value, expected } => {
                write!(f, "invalid value: {value}, expected {expected}")
            }
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (line {} column {})",
            self.message(),
            self.line,
            self.column
        )
    }
}

impl std::error::Error for JsonError {}
