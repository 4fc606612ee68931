//! Diagnostics in the `FILE:LINE:COL: error|warning: MESSAGE` form that editors and CI annotate.

use std::fmt;

/// A place in one of the source files of a configuration (the web.config, a `configSource` file,
/// or a JSON configuration). Lines and columns are 1-based; columns count characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pos {
    /// Index into [`Files`].
    pub file: usize,
    pub line: u32,
    pub col: u32,
}

/// The source files read for one configuration, by the names they are reported under.
#[derive(Debug, Clone, Default)]
pub struct Files {
    names: Vec<String>,
}

impl Files {
    pub fn add(&mut self, name: String) -> usize {
        self.names.push(name);
        self.names.len() - 1
    }

    pub fn name(&self, file: usize) -> &str {
        self.names.get(file).map(String::as_str).unwrap_or("?")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub pos: Pos,
    pub message: String,
}

impl Diagnostic {
    pub fn error(pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            pos,
            message: message.into(),
        }
    }

    pub fn warning(pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            pos,
            message: message.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The line printed on stderr.
    pub fn render(&self, files: &Files) -> String {
        format!(
            "{}:{}:{}: {}: {}",
            files.name(self.pos.file),
            self.pos.line,
            self.pos.col,
            self.severity,
            one_line(&self.message)
        )
    }
}

/// Longest message printed (the engine quotes values whole; a 20 MB pattern is not a message).
const MAX_MESSAGE_CHARS: usize = 2000;

/// Keeps a diagnostic on one line, and of a readable length, whatever the values hold.
fn one_line(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if s.chars().nth(MAX_MESSAGE_CHARS).is_some() {
        out.push_str("… (message shortened)");
    }
    out
}

/// Quotes a configuration value for a message, shortening very long ones.
pub fn quote(value: &str) -> String {
    const MAX: usize = 120;
    let mut out = String::from("\"");
    for (n, c) in value.chars().enumerate() {
        if n == MAX {
            out.push('…');
            break;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Line and column (1-based, columns in characters) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or(text);
    crate::work::add(before.len());
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before
        .get(line_start..)
        .map(|s| s.chars().count())
        .unwrap_or(0)
        + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(col).unwrap_or(u32::MAX),
    )
}

/// Line and column lookups for many offsets of one text (log time per lookup on ASCII lines).
#[derive(Debug, Clone)]
pub struct LineIndex<'t> {
    text: &'t str,
    /// Byte offset where each line starts, and whether the line is ASCII.
    lines: Vec<(usize, bool)>,
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str) -> Self {
        crate::work::add(text.len());
        let mut lines = Vec::new();
        let mut start = 0;
        for line in text.split_inclusive('\n') {
            lines.push((start, line.is_ascii()));
            start += line.len();
        }
        if lines.is_empty() || text.ends_with('\n') {
            lines.push((text.len(), true));
        }
        LineIndex { text, lines }
    }

    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let idx = match self.lines.binary_search_by(|(start, _)| {
            crate::work::add(1);
            start.cmp(&offset)
        }) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let (start, ascii) = self.lines.get(idx).copied().unwrap_or((0, false));
        let col = if ascii {
            offset - start + 1
        } else {
            let mut end = offset;
            while !self.text.is_char_boundary(end) {
                end -= 1;
            }
            crate::work::add(end.saturating_sub(start));
            self.text
                .get(start..end)
                .map(|s| s.chars().count())
                .unwrap_or(0)
                + 1
        };
        (
            u32::try_from(idx + 1).unwrap_or(u32::MAX),
            u32::try_from(col).unwrap_or(u32::MAX),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("abc", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 3), (2, 1));
        assert_eq!(line_col("ab\ncé\nx", 7), (3, 1));
        assert_eq!(line_col("é=1", 2), (1, 2));
        assert_eq!(line_col("ab", 99), (1, 3));
    }

    #[test]
    fn line_index_agrees_with_line_col() {
        let text = "<a>\n  <b é=\"x\"/>\n\n<c/>\n";
        let idx = LineIndex::new(text);
        for off in 0..=text.len() + 2 {
            assert_eq!(idx.line_col(off), line_col(text, off), "offset {off}");
        }
        assert_eq!(LineIndex::new("").line_col(0), (1, 1));
    }

    #[test]
    fn quote_escapes_and_truncates() {
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote("x\ny"), "\"x\\ny\"");
        let long = "a".repeat(500);
        assert_eq!(quote(&long).chars().count(), 120 + 3);
    }
}
