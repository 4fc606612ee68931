//! The streaming tag rewriter behind `filterByTags`: finds the start tags of a [`TagSet`] in HTML
//! arriving chunk by chunk and hands each URL attribute value to an [`AttributeRewrite`].
//!
//! Tag boundaries follow the tokenizer of the HTML standard (the states that decide where a tag,
//! a comment or raw text begins and ends), so what is rewritten is what a browser sees as an
//! attribute: text, comments, `<!DOCTYPE>`, `<?…>`, end tags and the contents of `<script>`,
//! `<style>`, `<textarea>`, `<title>`, `<xmp>`, `<iframe>`, `<noembed>`, `<noframes>` are never
//! taken for tags, and nothing after `<plaintext>` is. Deliberate differences from a browser:
//! `<noscript>` contents are markup (a browser with scripting on reads them as text), so links
//! there are rewritten for clients without scripts; the first `</script` ends a script (the
//! standard's "double escaped" `<!--<script>` nesting is not tracked); `<title/>` and `<style/>`
//! (as SVG writes them) do not start raw text, while `<script/>` does as in browsers; tag and
//! attribute names longer than [`MAX_NAME_BYTES`] match nothing; each occurrence of a repeated
//! attribute is handed over, not only the first.
//!
//! Only a start tag of the set is held back, from its `<` to its `>`, so that its attributes can
//! be replaced; every other byte is written out as soon as it is scanned. A tag longer than
//! [`MAX_TAG_BYTES`] is written out unchanged, so the state carried between chunks never exceeds
//! that plus a few fixed-size fields. A tag cut off by the end of the body is written unchanged.
//!
//! Values are handed over as they appear in the markup, without the quotes and with entities
//! left encoded (`&amp;` stays `&amp;`), which is what URL Rewrite matches patterns against; a
//! replacement is written back as markup, with only the quote character that delimits it
//! escaped (`&quot;`, `&#39;`); an unquoted value stays unquoted unless the replacement needs
//! quotes, and an attribute without a value gets `="…"`.

use super::tags::TagSet;

/// The longest start tag of the set that is rewritten; a longer one passes unchanged.
pub const MAX_TAG_BYTES: usize = 16 * 1024;
/// Tag and attribute names are compared up to this length; a longer name matches nothing.
pub const MAX_NAME_BYTES: usize = 64;
/// Attributes of one tag handed to the rewriter; further ones in the same tag pass unchanged.
const MAX_VALUES_PER_TAG: usize = 16;

/// Elements whose contents are text up to their own end tag.
const RAW_TEXT_ELEMENTS: &[&[u8]] = &[
    b"script",
    b"style",
    b"textarea",
    b"title",
    b"xmp",
    b"iframe",
    b"noembed",
    b"noframes",
];

/// What the outbound rules do with one URL attribute.
pub trait AttributeRewrite {
    /// `tag` and `attribute` are lowercase names of the [`TagSet`]; `value` is the markup between
    /// the quotes (empty for an attribute without a value). `Some` replaces it.
    fn rewrite(&mut self, tag: &str, attribute: &str, value: &[u8]) -> Option<Vec<u8>>;
}

impl<F: FnMut(&str, &str, &[u8]) -> Option<Vec<u8>>> AttributeRewrite for F {
    fn rewrite(&mut self, tag: &str, attribute: &str, value: &[u8]) -> Option<Vec<u8>> {
        self(tag, attribute, value)
    }
}

/// Counts the caller can export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TagStats {
    /// Attribute values handed to the rewriter.
    pub values_seen: u64,
    /// Values the rewriter replaced.
    pub values_rewritten: u64,
    /// Tags of the set longer than [`MAX_TAG_BYTES`], passed unchanged.
    pub tags_too_long: u64,
    /// The most bytes held back at once between two chunks.
    pub max_held: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Data,
    TagOpen,
    EndTagOpen,
    TagName,
    BeforeAttrName,
    AttrName,
    AfterAttrName,
    BeforeAttrValue,
    AttrValueQuoted(u8),
    AttrValueUnquoted,
    AfterAttrValueQuoted,
    SelfClosing,
    MarkupDeclaration,
    MarkupDash,
    CommentStart,
    CommentStartDash,
    Comment,
    CommentEndDash,
    CommentEnd,
    CommentEndBang,
    BogusComment,
    RawText,
    RawLessThan,
    /// In raw text after `</` and this many bytes of the element's name.
    RawEndName(usize),
    Plaintext,
}

/// How the value of a held attribute was written, which decides how a replacement is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    Double,
    Single,
    Unquoted,
    /// `<a href>`: a replacement needs `="…"`.
    Absent,
}

/// An attribute value of a held tag, by offset from the tag's `<`.
#[derive(Debug, Clone, Copy)]
struct ValueSpan {
    attribute: usize,
    start: usize,
    end: usize,
    quote: Quote,
}

/// A short name read byte by byte, lowercased.
#[derive(Debug, Clone, Copy)]
struct Name {
    bytes: [u8; MAX_NAME_BYTES],
    len: usize,
}

impl Name {
    const EMPTY: Name = Name {
        bytes: [0; MAX_NAME_BYTES],
        len: 0,
    };

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b.to_ascii_lowercase();
        }
        self.len = self.len.saturating_add(1);
    }

    /// The name, or `None` when it was too long to keep.
    fn get(&self) -> Option<&[u8]> {
        self.bytes.get(..self.len)
    }
}

/// The tag being scanned.
#[derive(Debug, Clone)]
struct Tag {
    is_end: bool,
    self_closing: bool,
    name: Name,
    /// Index in the set, for a start tag of the set.
    set_index: Option<usize>,
    attribute: Name,
    /// The attribute being read is one of the set: (its index, offset just after its name).
    wanted: Option<(usize, usize)>,
    /// Start offset and quote of the value being read, for a wanted attribute.
    value_start: Option<(usize, Quote)>,
    values: Vec<ValueSpan>,
}

impl Tag {
    fn new() -> Tag {
        Tag {
            is_end: false,
            self_closing: false,
            name: Name::EMPTY,
            set_index: None,
            attribute: Name::EMPTY,
            wanted: None,
            value_start: None,
            values: Vec::new(),
        }
    }

    fn reset(&mut self, is_end: bool) {
        self.is_end = is_end;
        self.self_closing = false;
        self.name.len = 0;
        self.set_index = None;
        self.forget_values();
    }

    fn forget_values(&mut self) {
        self.wanted = None;
        self.value_start = None;
        self.values.clear();
    }

    fn push_value(&mut self, span: ValueSpan) {
        if self.values.len() < MAX_VALUES_PER_TAG {
            self.values.push(span);
        }
    }
}

/// Rewrites the URL attributes of one [`TagSet`] in a streamed HTML body.
pub struct TagRewriter<R> {
    set: TagSet,
    rewriter: R,
    state: State,
    tag: Tag,
    /// The raw-text element whose end tag is awaited.
    raw_name: &'static [u8],
    /// Whether the bytes from the current tag's `<` are being held back.
    capturing: bool,
    /// Held bytes of the current tag that arrived in earlier chunks.
    held: Vec<u8>,
    stats: TagStats,
}

impl<R: AttributeRewrite> TagRewriter<R> {
    pub fn new(set: TagSet, rewriter: R) -> Self {
        TagRewriter {
            set,
            rewriter,
            state: State::Data,
            tag: Tag::new(),
            raw_name: b"",
            capturing: false,
            held: Vec::new(),
            stats: TagStats::default(),
        }
    }

    pub fn stats(&self) -> TagStats {
        self.stats
    }

    /// Bytes held back now (at most [`MAX_TAG_BYTES`]).
    pub fn held_bytes(&self) -> usize {
        self.held.len()
    }

    /// Scans `chunk`, appending to `out` everything that can be written so far.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        // Bytes of `chunk` before `pending` are written out or held; those from it are not yet.
        let mut pending = 0;
        let mut i = 0;
        while let Some(&b) = chunk.get(i) {
            match self.state {
                State::Data => match find(chunk, i, |c| c == b'<') {
                    Some(lt) => {
                        extend(out, chunk, pending, lt);
                        pending = lt;
                        self.capturing = true;
                        self.state = State::TagOpen;
                        i = lt + 1;
                    }
                    None => i = chunk.len(),
                },
                State::TagOpen => {
                    if b.is_ascii_alphabetic() {
                        self.tag.reset(false);
                        self.tag.name.push(b);
                        self.state = State::TagName;
                        i += 1;
                    } else {
                        self.release(out);
                        self.state = match b {
                            b'!' => State::MarkupDeclaration,
                            b'/' => State::EndTagOpen,
                            b'?' => State::BogusComment,
                            _ => State::Data,
                        };
                        if self.state != State::Data {
                            i += 1;
                        }
                    }
                }
                State::EndTagOpen => {
                    if b.is_ascii_alphabetic() {
                        self.tag.reset(true);
                        self.tag.name.push(b);
                        self.state = State::TagName;
                        i += 1;
                    } else if b == b'>' {
                        self.state = State::Data;
                        i += 1;
                    } else {
                        self.state = State::BogusComment;
                    }
                }
                State::TagName => {
                    match b {
                        b'\t' | b'\n' | b'\x0c' | b'\r' | b' ' => {
                            self.name_done(out);
                            self.state = State::BeforeAttrName;
                        }
                        b'/' => {
                            self.name_done(out);
                            self.state = State::SelfClosing;
                        }
                        b'>' => {
                            self.name_done(out);
                            self.tag_done(chunk, &mut pending, i + 1, out);
                        }
                        _ => self.tag.name.push(b),
                    }
                    i += 1;
                }
                State::BeforeAttrName => {
                    match b {
                        b'\t' | b'\n' | b'\x0c' | b'\r' | b' ' => {}
                        b'/' => self.state = State::SelfClosing,
                        b'>' => self.tag_done(chunk, &mut pending, i + 1, out),
                        _ => self.attribute_start(b),
                    }
                    i += 1;
                }
                State::AttrName => {
                    let offset = self.offset(i, pending);
                    match b {
                        b'\t' | b'\n' | b'\x0c' | b'\r' | b' ' => {
                            self.attribute_name_done(offset);
                            self.state = State::AfterAttrName;
                        }
                        b'/' => {
                            self.attribute_name_done(offset);
                            self.no_value();
                            self.state = State::SelfClosing;
                        }
                        b'>' => {
                            self.attribute_name_done(offset);
                            self.no_value();
                            self.tag_done(chunk, &mut pending, i + 1, out);
                        }
                        b'=' => {
                            self.attribute_name_done(offset);
                            self.state = State::BeforeAttrValue;
                        }
                        _ => self.tag.attribute.push(b),
                    }
                    i += 1;
                }
                State::AfterAttrName => {
                    match b {
                        b'\t' | b'\n' | b'\x0c' | b'\r' | b' ' => {}
                        b'/' => {
                            self.no_value();
                            self.state = State::SelfClosing;
                        }
                        b'=' => self.state = State::BeforeAttrValue,
                        b'>' => {
                            self.no_value();
                            self.tag_done(chunk, &mut pending, i + 1, out);
                        }
                        _ => {
                            self.no_value();
                            self.attribute_start(b);
                        }
                    }
                    i += 1;
                }
                State::BeforeAttrValue => match b {
                    b'\t' | b'\n' | b'\x0c' | b'\r' | b' ' => i += 1,
                    b'"' | b'\'' => {
                        let quote = if b == b'"' {
                            Quote::Double
                        } else {
                            Quote::Single
                        };
                        self.value_start(self.offset(i + 1, pending), quote);
                        self.state = State::AttrValueQuoted(b);
                        i += 1;
                    }
                    b'>' => {
                        // `<a href=>`: an empty value, written back quoted.
                        let offset = self.offset(i, pending);
                        self.value_start(offset, Quote::Unquoted);
                        self.value_end(offset);
                        self.tag_done(chunk, &mut pending, i + 1, out);
                        i += 1;
                    }
                    _ => {
                        self.value_start(self.offset(i, pending), Quote::Unquoted);
                        self.state = State::AttrValueUnquoted;
                    }
                },
                State::AttrValueQuoted(quote) => match find(chunk, i, |c| c == quote) {
                    Some(end) => {
                        self.value_end(self.offset(end, pending));
                        self.state = State::AfterAttrValueQuoted;
                        i = end + 1;
                    }
                    None => i = chunk.len(),
                },
                State::AttrValueUnquoted => match find(chunk, i, |c| is_space(c) || c == b'>') {
                    Some(end) => {
                        self.value_end(self.offset(end, pending));
                        self.state = State::BeforeAttrName;
                        if chunk.get(end) == Some(&b'>') {
                            self.tag_done(chunk, &mut pending, end + 1, out);
                        }
                        i = end + 1;
                    }
                    None => i = chunk.len(),
                },
                State::AfterAttrValueQuoted => match b {
                    b'\t' | b'\n' | b'\x0c' | b'\r' | b' ' => {
                        self.state = State::BeforeAttrName;
                        i += 1;
                    }
                    b'/' => {
                        self.state = State::SelfClosing;
                        i += 1;
                    }
                    b'>' => {
                        self.tag_done(chunk, &mut pending, i + 1, out);
                        i += 1;
                    }
                    _ => self.state = State::BeforeAttrName,
                },
                State::SelfClosing => {
                    if b == b'>' {
                        self.tag.self_closing = true;
                        self.tag_done(chunk, &mut pending, i + 1, out);
                        i += 1;
                    } else {
                        self.state = State::BeforeAttrName;
                    }
                }
                State::Comment => match find(chunk, i, |c| c == b'-') {
                    Some(dash) => {
                        self.state = State::CommentEndDash;
                        i = dash + 1;
                    }
                    None => i = chunk.len(),
                },
                State::MarkupDeclaration
                | State::MarkupDash
                | State::CommentStart
                | State::CommentStartDash
                | State::CommentEndDash
                | State::CommentEnd
                | State::CommentEndBang => {
                    let (next, consumed) = comment_step(self.state, b);
                    self.state = next;
                    if consumed {
                        i += 1;
                    }
                }
                State::BogusComment => match find(chunk, i, |c| c == b'>') {
                    Some(gt) => {
                        self.state = State::Data;
                        i = gt + 1;
                    }
                    None => i = chunk.len(),
                },
                State::RawText => match find(chunk, i, |c| c == b'<') {
                    Some(lt) => {
                        self.state = State::RawLessThan;
                        i = lt + 1;
                    }
                    None => i = chunk.len(),
                },
                State::RawLessThan => {
                    if b == b'/' {
                        self.state = State::RawEndName(0);
                        i += 1;
                    } else {
                        self.state = State::RawText;
                    }
                }
                State::RawEndName(matched) => match self.raw_name.get(matched) {
                    Some(&expected) if b.eq_ignore_ascii_case(&expected) => {
                        self.state = State::RawEndName(matched + 1);
                        i += 1;
                    }
                    Some(_) => self.state = State::RawText,
                    None => {
                        self.tag.reset(true);
                        self.state = match b {
                            b'\t' | b'\n' | b'\x0c' | b'\r' | b' ' => State::BeforeAttrName,
                            b'/' => State::SelfClosing,
                            b'>' => State::Data,
                            _ => State::RawText,
                        };
                        if self.state != State::RawText {
                            i += 1;
                        }
                    }
                },
                State::Plaintext => i = chunk.len(),
            }
        }
        let rest = chunk.get(pending..).unwrap_or_default();
        if !self.capturing {
            out.extend_from_slice(rest);
        } else if self.held.len() + rest.len() > MAX_TAG_BYTES {
            self.stats.tags_too_long += 1;
            self.release(out);
            self.tag.forget_values();
            out.extend_from_slice(rest);
        } else {
            self.held.extend_from_slice(rest);
            self.stats.max_held = self.stats.max_held.max(self.held.len());
        }
    }

    /// Writes out what is still held: a tag cut off by the end of the body passes unchanged.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.release(out);
        self.tag.forget_values();
        self.state = State::Data;
    }

    /// The offset of `chunk[i]` from the held tag's `<`.
    fn offset(&self, i: usize, pending: usize) -> usize {
        self.held.len() + i.saturating_sub(pending)
    }

    /// Stops holding the current tag back: what is held is written out unchanged and the bytes
    /// of this chunk from `pending` on are written out with the rest of the chunk.
    fn release(&mut self, out: &mut Vec<u8>) {
        if self.capturing {
            out.extend_from_slice(&self.held);
            self.held.clear();
            self.capturing = false;
        }
    }

    fn name_done(&mut self, out: &mut Vec<u8>) {
        if !self.tag.is_end {
            self.tag.set_index = self.tag.name.get().and_then(|n| self.set.tag_index(n));
        }
        if self.tag.set_index.is_none() {
            self.release(out);
        }
    }

    fn attribute_start(&mut self, first: u8) {
        self.tag.attribute.len = 0;
        self.tag.attribute.push(first);
        self.state = State::AttrName;
    }

    fn attribute_name_done(&mut self, offset: usize) {
        self.tag.wanted = None;
        if !self.capturing {
            return;
        }
        let attribute = match (self.tag.set_index, self.tag.attribute.get()) {
            (Some(tag), Some(name)) => self.set.attribute_index(tag, name),
            _ => None,
        };
        self.tag.wanted = attribute.map(|a| (a, offset));
    }

    /// The wanted attribute being read has no value (`<a href>`).
    fn no_value(&mut self) {
        if let Some((attribute, at)) = self.tag.wanted.take() {
            self.tag.push_value(ValueSpan {
                attribute,
                start: at,
                end: at,
                quote: Quote::Absent,
            });
        }
    }

    fn value_start(&mut self, offset: usize, quote: Quote) {
        self.tag.value_start = self.tag.wanted.map(|_| (offset, quote));
    }

    fn value_end(&mut self, offset: usize) {
        if let (Some((attribute, _)), Some((start, quote))) =
            (self.tag.wanted.take(), self.tag.value_start.take())
        {
            self.tag.push_value(ValueSpan {
                attribute,
                start,
                end: offset,
                quote,
            });
        }
    }

    /// The tag ends just before `chunk[end]`: writes it out, rewritten when it was held, and
    /// picks the state that follows it.
    fn tag_done(&mut self, chunk: &[u8], pending: &mut usize, end: usize, out: &mut Vec<u8>) {
        self.state = State::Data;
        if self.capturing {
            let fresh = chunk.get(*pending..end).unwrap_or_default();
            let tag: &[u8] = if self.held.is_empty() {
                fresh
            } else {
                self.held.extend_from_slice(fresh);
                &self.held
            };
            if tag.len() > MAX_TAG_BYTES {
                self.stats.tags_too_long += 1;
                out.extend_from_slice(tag);
            } else {
                splice(
                    tag,
                    &self.tag,
                    &self.set,
                    &mut self.rewriter,
                    &mut self.stats,
                    out,
                );
            }
            self.held.clear();
            self.capturing = false;
            *pending = end;
        }
        self.tag.forget_values();
        if self.tag.is_end {
            return;
        }
        let name = self.tag.name.get().unwrap_or_default();
        if name == b"plaintext" {
            self.state = State::Plaintext;
        } else if let Some(raw) = RAW_TEXT_ELEMENTS.iter().find(|r| **r == name) {
            if !self.tag.self_closing || *raw == b"script" {
                self.raw_name = raw;
                self.state = State::RawText;
            }
        }
    }
}

/// One byte of `<!…` and `<!--…-->` outside the comment body (the standard's markup declaration
/// and comment states): the next state, and whether the byte was consumed (`false`: the next
/// state looks at it again).
fn comment_step(state: State, b: u8) -> (State, bool) {
    match (state, b) {
        (State::MarkupDeclaration, b'-') => (State::MarkupDash, true),
        (State::MarkupDash, b'-') => (State::CommentStart, true),
        (State::MarkupDeclaration | State::MarkupDash, _) => (State::BogusComment, false),
        (State::CommentStart, b'-') => (State::CommentStartDash, true),
        (State::CommentStartDash | State::CommentEndDash, b'-') => (State::CommentEnd, true),
        (State::CommentEndBang, b'-') => (State::CommentEndDash, true),
        (State::CommentStart | State::CommentStartDash | State::CommentEnd, b'>') => {
            (State::Data, true)
        }
        (State::CommentEndBang, b'>') => (State::Data, true),
        (State::CommentEnd, b'!') => (State::CommentEndBang, true),
        (State::CommentEnd, b'-') => (State::CommentEnd, true),
        _ => (State::Comment, false),
    }
}

/// Writes `tag` to `out` with the values of its wanted attributes passed through the rewriter.
fn splice<R: AttributeRewrite>(
    tag: &[u8],
    scanned: &Tag,
    set: &TagSet,
    rewriter: &mut R,
    stats: &mut TagStats,
    out: &mut Vec<u8>,
) {
    let mut copied = 0;
    for span in &scanned.values {
        let (Some(set_index), Some(value)) = (scanned.set_index, tag.get(span.start..span.end))
        else {
            continue;
        };
        let Some((tag_name, attribute)) = set.names(set_index, span.attribute) else {
            continue;
        };
        stats.values_seen += 1;
        let Some(replacement) = rewriter.rewrite(tag_name, attribute, value) else {
            continue;
        };
        stats.values_rewritten += 1;
        extend(out, tag, copied, span.start);
        write_value(&replacement, span.quote, out);
        copied = span.end;
    }
    extend(out, tag, copied, tag.len());
}

/// Writes a replacement value as markup that keeps the tag intact.
fn write_value(value: &[u8], quote: Quote, out: &mut Vec<u8>) {
    let unquoted_ok = !value.is_empty()
        && !value
            .iter()
            .any(|&c| is_space(c) || matches!(c, b'"' | b'\'' | b'=' | b'<' | b'>' | b'`'));
    match quote {
        Quote::Double => escape_quote(value, b'"', b"&quot;", out),
        Quote::Single => escape_quote(value, b'\'', b"&#39;", out),
        Quote::Unquoted if unquoted_ok => out.extend_from_slice(value),
        Quote::Unquoted | Quote::Absent => {
            if quote == Quote::Absent {
                out.push(b'=');
            }
            out.push(b'"');
            escape_quote(value, b'"', b"&quot;", out);
            out.push(b'"');
        }
    }
}

fn escape_quote(value: &[u8], quote: u8, escaped: &[u8], out: &mut Vec<u8>) {
    for part in value.split_inclusive(|&c| c == quote) {
        match part.split_last() {
            Some((&last, head)) if last == quote => {
                out.extend_from_slice(head);
                out.extend_from_slice(escaped);
            }
            _ => out.extend_from_slice(part),
        }
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// The first index at or after `from` whose byte satisfies `pred`.
fn find(chunk: &[u8], from: usize, pred: impl Fn(u8) -> bool) -> Option<usize> {
    chunk
        .get(from..)?
        .iter()
        .position(|&c| pred(c))
        .map(|p| from + p)
}

/// Appends `bytes[from..to]` (nothing when the range is empty or out of bounds).
fn extend(out: &mut Vec<u8>, bytes: &[u8], from: usize, to: usize) {
    if let Some(part) = bytes.get(from..to) {
        out.extend_from_slice(part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rewrites `html` in one chunk, prefixing every value of the set's attributes with `/app`
    /// and recording what the rewriter was shown.
    fn prefix(filter: &str, html: &str) -> (String, Vec<String>) {
        let mut seen = Vec::new();
        let set = TagSet::from_filter(filter, None).unwrap();
        let mut out = Vec::new();
        let mut rewriter = TagRewriter::new(set, |t: &str, a: &str, v: &[u8]| {
            seen.push(format!("{t}.{a}={}", String::from_utf8_lossy(v)));
            Some([b"/app".as_slice(), v].concat())
        });
        rewriter.feed(html.as_bytes(), &mut out);
        rewriter.finish(&mut out);
        drop(rewriter);
        (String::from_utf8(out).unwrap(), seen)
    }

    fn rewritten(filter: &str, html: &str) -> String {
        prefix(filter, html).0
    }

    #[test]
    fn quoted_unquoted_and_absent_values_keep_their_form() {
        assert_eq!(
            rewritten(
                "A",
                r#"<a href="/x">1</a><a href='/y'>2</a><A HREF=/z>3</A>"#
            ),
            r#"<a href="/app/x">1</a><a href='/app/y'>2</a><A HREF=/app/z>3</A>"#
        );
        assert_eq!(rewritten("A", "<a href>x</a>"), r#"<a href="/app">x</a>"#);
        assert_eq!(rewritten("A", "<a href=>x</a>"), "<a href=/app>x</a>");
        assert_eq!(
            rewritten("A", "<a href = \"/x\" >x</a>"),
            "<a href = \"/app/x\" >x</a>"
        );
        assert_eq!(
            rewritten("Img", "<img src=/i.png/>"),
            "<img src=/app/i.png/>"
        );
        assert_eq!(
            rewritten("Img", "<img src=\"/i.png\"/>"),
            "<img src=\"/app/i.png\"/>"
        );
    }

    #[test]
    fn only_the_attributes_of_the_set_are_shown() {
        let (out, seen) = prefix(
            "A, Form",
            r#"<a title="/t" href="/h" data-href="/d"><form method=post action="/f"><img src="/i">"#,
        );
        assert_eq!(seen, ["a.href=/h", "form.action=/f"]);
        assert_eq!(
            out,
            r#"<a title="/t" href="/app/h" data-href="/d"><form method=post action="/app/f"><img src="/i">"#
        );
    }

    #[test]
    fn entities_are_shown_encoded_and_delimiting_quotes_escaped() {
        let set = TagSet::from_filter("A", None).unwrap();
        let mut seen = Vec::new();
        let mut rewriter = TagRewriter::new(set, |_: &str, _: &str, v: &[u8]| {
            seen.push(v.to_vec());
            Some(b"/q?a=\"1\"&amp;b='2'".to_vec())
        });
        let mut out = Vec::new();
        rewriter.feed(
            b"<a href=\"/p?a=1&amp;b=2\"></a><a href='x'><a href=y>",
            &mut out,
        );
        rewriter.finish(&mut out);
        drop(rewriter);
        assert_eq!(
            seen,
            [b"/p?a=1&amp;b=2".to_vec(), b"x".to_vec(), b"y".to_vec()]
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<a href=\"/q?a=&quot;1&quot;&amp;b='2'\"></a>\
             <a href='/q?a=\"1\"&amp;b=&#39;2&#39;'>\
             <a href=\"/q?a=&quot;1&quot;&amp;b='2'\">"
        );
    }

    #[test]
    fn comments_raw_text_and_declarations_are_not_tags() {
        let html = concat!(
            "<!DOCTYPE html><!-- <a href=\"/c\"> --><?php <a href='/p'> ?>",
            "<script>var s = '<a href=\"/s\">';</script>",
            "<style>a[href=\"/st\"]{}</style><textarea><a href=/ta></textarea>",
            "<title><a href=/ti></title><!--><a href=/after-abrupt-comment>",
            "<!-- a -- b --!><a href=/after-bang>",
            "<!-- c --!-><a href=/in-comment> --><a href=/after-bang-dash>"
        );
        let (_, seen) = prefix("A", html);
        assert_eq!(
            seen,
            [
                "a.href=/after-abrupt-comment",
                "a.href=/after-bang",
                "a.href=/after-bang-dash"
            ]
        );
    }

    #[test]
    fn raw_text_ends_at_its_own_end_tag_only() {
        let html = "<script>x='</scrip'; y='</style>'; z='<a href=/in>'</SCRIPT ><a href=/out>";
        let (_, seen) = prefix("A", html);
        assert_eq!(seen, ["a.href=/out"]);
        // The script tag's own src is rewritten before its contents are skipped.
        let (out, seen) = prefix("Script, A", "<script src=/s.js></script><a href=/a>");
        assert_eq!(seen, ["script.src=/s.js", "a.href=/a"]);
        assert_eq!(out, "<script src=/app/s.js></script><a href=/app/a>");
    }

    #[test]
    fn plaintext_ends_all_markup() {
        let (_, seen) = prefix("A", "<a href=/1><plaintext><a href=/2>");
        assert_eq!(seen, ["a.href=/1"]);
    }

    #[test]
    fn stray_less_than_signs_are_text() {
        let (out, seen) = prefix("A", "1 < 2 <3 <<a href=/x>< /a><>");
        assert_eq!(seen, ["a.href=/x"]);
        assert_eq!(out, "1 < 2 <3 <<a href=/app/x>< /a><>");
    }

    #[test]
    fn attribute_names_and_values_with_odd_bytes_follow_the_tokenizer() {
        // `"` inside an unquoted value belongs to it; `=` may start an attribute name.
        let (_, seen) = prefix("A", r#"<a =x href=a"b title="c>d" href='e'>"#);
        assert_eq!(seen, ["a.href=a\"b", "a.href=e"]);
        // A tag cut off by the end of the body is written unchanged.
        assert_eq!(rewritten("A", "<p><a href=\"/x"), "<p><a href=\"/x");
    }

    #[test]
    fn a_tag_longer_than_the_cap_passes_unchanged() {
        let long = format!("<a title=\"{}\" href=\"/x\">", "t".repeat(MAX_TAG_BYTES));
        let (out, seen) = prefix("A", &format!("{long}<a href=/y>"));
        assert_eq!(seen, ["a.href=/y"]);
        assert_eq!(out, format!("{long}<a href=/app/y>"));
    }

    #[test]
    fn custom_tags_are_rewritten() {
        let pairs = vec![("video".to_string(), "poster".to_string())];
        let set = TagSet::from_filter("CustomTags", Some(&pairs)).unwrap();
        let mut out = Vec::new();
        let mut rewriter = TagRewriter::new(set, |_: &str, _: &str, v: &[u8]| {
            Some([b"/app", v].concat())
        });
        rewriter.feed(b"<video poster=/p.jpg src=/v.mp4>", &mut out);
        rewriter.finish(&mut out);
        assert_eq!(out, b"<video poster=/app/p.jpg src=/v.mp4>");
        assert_eq!(
            rewriter.stats(),
            TagStats {
                values_seen: 1,
                values_rewritten: 1,
                tags_too_long: 0,
                max_held: 0
            }
        );
    }
}
