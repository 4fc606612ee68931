//! The streaming body-text rewriter behind an outbound rule with neither `serverVariable` nor
//! `filterByTags`: its pattern runs over the response body text and each match is replaced.
//!
//! URL Rewrite buffers the whole response and runs the pattern over all of it. A proxy cannot
//! hold an unbounded body, so this runs the pattern over a sliding window of at most
//! [`TEXT_WINDOW`] bytes: a match is taken only if it starts at least [`MAX_MATCH_BYTES`] before
//! the end of the text seen so far (or anywhere once the body has ended), then the text before
//! the window's settled part is written out and the last bytes are kept for the next window. So
//! a match of up to [`MAX_MATCH_BYTES`] is found exactly as in the whole body; a longer one, or
//! one whose extent depends on text more than that far ahead (a greedy `.*` across lines), may
//! be cut short. Anchors see the window: `^` also matches at the start of a later window and a
//! look-behind cannot see before it. In UTF-8 bodies a window never ends inside a character.

use std::ops::Range;

/// Most body bytes held at once.
pub const TEXT_WINDOW: usize = 64 * 1024;
/// The longest match found exactly as a whole-body search would find it.
pub const MAX_MATCH_BYTES: usize = 4 * 1024;

/// One match of a rule's pattern and what to put in its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMatch {
    pub range: Range<usize>,
    /// `None` leaves the match as it is (its conditions failed, or the action is `None`).
    pub replacement: Option<Vec<u8>>,
}

/// What the outbound rule does to the body text.
pub trait TextRewrite {
    /// The leftmost match in `haystack` that starts at or after `from`.
    fn next_match(&mut self, haystack: &[u8], from: usize) -> Option<TextMatch>;
}

impl<F: FnMut(&[u8], usize) -> Option<TextMatch>> TextRewrite for F {
    fn next_match(&mut self, haystack: &[u8], from: usize) -> Option<TextMatch> {
        self(haystack, from)
    }
}

/// Counts the caller can export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextStats {
    pub matches: u64,
    pub replaced: u64,
    /// The most bytes held back at once between two chunks.
    pub max_held: usize,
}

/// Rewrites the text of a streamed body with one rule's pattern.
pub struct TextRewriter<R> {
    rewriter: R,
    /// Keep windows on UTF-8 character boundaries.
    utf8: bool,
    window: Vec<u8>,
    stats: TextStats,
}

impl<R: TextRewrite> TextRewriter<R> {
    pub fn new(rewriter: R, utf8: bool) -> Self {
        TextRewriter {
            rewriter,
            utf8,
            window: Vec::new(),
            stats: TextStats::default(),
        }
    }

    pub fn stats(&self) -> TextStats {
        self.stats
    }

    /// Bytes held back now (at most [`TEXT_WINDOW`]).
    pub fn held_bytes(&self) -> usize {
        self.window.len()
    }

    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<u8>) {
        while !chunk.is_empty() {
            let room = TEXT_WINDOW.saturating_sub(self.window.len());
            let (take, rest) = chunk.split_at(room.min(chunk.len()));
            self.window.extend_from_slice(take);
            chunk = rest;
            if self.window.len() >= TEXT_WINDOW {
                self.run(false, out);
            }
        }
        self.stats.max_held = self.stats.max_held.max(self.window.len());
    }

    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.run(true, out);
    }

    /// Replaces the settled matches of the window and writes out what no later match can touch.
    fn run(&mut self, at_end: bool, out: &mut Vec<u8>) {
        let (searchable, settled) = if at_end {
            (self.window.len(), self.window.len())
        } else {
            if self.utf8 {
                let searchable = floor_char_boundary(&self.window, self.window.len());
                let settled = searchable.saturating_sub(MAX_MATCH_BYTES);
                (searchable, floor_char_boundary(&self.window, settled))
            } else {
                (
                    self.window.len(),
                    self.window.len().saturating_sub(MAX_MATCH_BYTES),
                )
            }
        };
        let haystack = self.window.get(..searchable).unwrap_or_default();
        let mut copied = 0;
        let mut from = 0;
        let mut matched_to = 0;
        while from <= settled {
            let Some(found) = self.rewriter.next_match(haystack, from) else {
                break;
            };
            let Range { start, end } = found.range;
            if start < from || start > settled || (start == settled && !at_end) || end < start {
                break;
            }
            if end > haystack.len() {
                break;
            }
            self.stats.matches += 1;
            if let Some(replacement) = found.replacement {
                self.stats.replaced += 1;
                out.extend_from_slice(haystack.get(copied..start).unwrap_or_default());
                out.extend_from_slice(&replacement);
                copied = end;
            }
            // A match is never searched again, even in part, by the next window.
            matched_to = matched_to.max(end);
            // An empty match moves on by one byte so that the search ends.
            from = if end > start { end } else { end + 1 };
        }
        let written = if at_end {
            self.window.len()
        } else {
            matched_to.max(settled)
        };
        out.extend_from_slice(self.window.get(copied..written).unwrap_or_default());
        self.window.drain(..written.min(self.window.len()));
    }
}

/// The largest index at or before `at` where a UTF-8 character starts (or `bytes.len()` when
/// the last character is complete): the window is cut there so that no character is split.
fn floor_char_boundary(bytes: &[u8], at: usize) -> usize {
    let at = at.min(bytes.len());
    // A character is at most 4 bytes: its lead byte is at most 3 bytes back.
    for back in 0..=3.min(at) {
        let start = at - back;
        let Some(&b) = bytes.get(start) else {
            continue; // `at == len`: look at the bytes before it
        };
        if b & 0xC0 == 0x80 {
            continue;
        }
        if at < bytes.len() {
            return start;
        }
        break;
    }
    if at < bytes.len() {
        return at; // not UTF-8 here: any cut is as good
    }
    // At the end: keep the last character only if it is complete.
    for back in 1..=3.min(at) {
        let start = at - back;
        let Some(&b) = bytes.get(start) else { break };
        if b & 0xC0 != 0x80 {
            let needed = match b {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            return if needed > back { start } else { at };
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_cut_between_characters() {
        let text = "a\u{e9}\u{4e2d}\u{1f600}".as_bytes(); // 1 + 2 + 3 + 4 bytes
        let starts = [0, 1, 3, 6, 10];
        for at in 0..=text.len() {
            let cut = floor_char_boundary(text, at);
            let expected = starts.iter().rev().find(|&&s| s <= at).copied().unwrap();
            assert_eq!(cut, expected, "at {at}");
        }
        // At the end of what has arrived, an incomplete last character is left for later.
        for len in 0..=text.len() {
            let cut = floor_char_boundary(&text[..len], len);
            assert_eq!(
                cut,
                starts.iter().rev().find(|&&s| s <= len).copied().unwrap(),
                "len {len}"
            );
        }
        // Not UTF-8: the cut stops at the first byte that is not a continuation byte.
        assert_eq!(floor_char_boundary(b"\xff\xfe\x80\x80", 3), 1);
    }
}
