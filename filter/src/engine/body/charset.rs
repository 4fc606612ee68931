//! Which response bodies can be rewritten, from the `charset` parameter of `Content-Type`.
//!
//! The scanners work on bytes and look only for ASCII delimiters (`<`, `>`, quotes, `=`, `-`,
//! white space), so any charset that encodes ASCII as itself and never uses those byte values
//! inside another character is safe: UTF-8 and the single-byte ISO-8859-x and windows-125x sets.
//! Other charsets (UTF-16, Shift_JIS, ISO-2022-JP, …) are passed through unchanged and reported,
//! so the caller can count them. A body without a charset parameter is treated as
//! ASCII-compatible, as browsers do before sniffing.

/// How a body's charset lets it be rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// UTF-8, US-ASCII, or no charset given.
    Utf8,
    /// A single-byte set whose lower half is ASCII.
    SingleByte,
    /// Anything else: the body passes unchanged.
    Unsupported,
}

impl Charset {
    /// The charset of a `Content-Type` value (`text/html; charset="ISO-8859-1"`).
    pub fn of_content_type(content_type: &[u8]) -> Charset {
        let label = content_type
            .split(|&b| b == b';')
            .skip(1)
            .find_map(|param| {
                let (name, value) = split_once(param, b'=')?;
                name.trim_ascii()
                    .eq_ignore_ascii_case(b"charset")
                    .then_some(value)
            });
        match label {
            None => Charset::Utf8,
            Some(value) => Charset::of_label(trim_quotes(value.trim_ascii())),
        }
    }

    /// The charset of a label such as `utf-8`, `latin1` or `windows-1252`.
    pub fn of_label(label: &[u8]) -> Charset {
        let label = label.to_ascii_lowercase();
        let label = label.as_slice();
        if matches!(
            label,
            b"utf-8" | b"utf8" | b"unicode-1-1-utf-8" | b"us-ascii" | b"ascii"
        ) {
            return Charset::Utf8;
        }
        if matches!(
            label,
            b"latin1" | b"l1" | b"iso_8859-1" | b"iso8859-1" | b"cp819"
        ) {
            return Charset::SingleByte;
        }
        let single_byte = [&b"iso-8859-"[..], b"iso8859-", b"iso_8859-"]
            .iter()
            .any(|prefix| {
                label
                    .strip_prefix(*prefix)
                    .is_some_and(|n| matches!(number(n), Some(1..=16)))
            })
            || [&b"windows-"[..], b"cp"].iter().any(|prefix| {
                label
                    .strip_prefix(*prefix)
                    .is_some_and(|n| matches!(number(n), Some(1250..=1258)))
            });
        if single_byte {
            Charset::SingleByte
        } else {
            Charset::Unsupported
        }
    }

    pub fn is_rewritable(self) -> bool {
        self != Charset::Unsupported
    }
}

fn split_once(bytes: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&b| b == separator)?;
    Some((bytes.get(..at)?, bytes.get(at + 1..)?))
}

fn trim_quotes(value: &[u8]) -> &[u8] {
    value
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .unwrap_or(value)
}

fn number(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_parameters_decide() {
        let cases: &[(&[u8], Charset)] = &[
            (b"text/html", Charset::Utf8),
            (b"text/html; charset=UTF-8", Charset::Utf8),
            (b"text/html;charset=\"iso-8859-15\"", Charset::SingleByte),
            (
                b"text/html; q=1; Charset = windows-1252",
                Charset::SingleByte,
            ),
            (b"text/html; charset=cp1251", Charset::SingleByte),
            (b"text/html; charset=latin1", Charset::SingleByte),
            (b"text/html; charset=utf-16", Charset::Unsupported),
            (b"text/html; charset=Shift_JIS", Charset::Unsupported),
            (b"text/html; charset=iso-8859-17", Charset::Unsupported),
            (b"text/html; charset=windows-1249", Charset::Unsupported),
        ];
        for (content_type, expected) in cases {
            let got = Charset::of_content_type(content_type);
            assert_eq!(got, *expected, "{}", String::from_utf8_lossy(content_type));
        }
    }
}
