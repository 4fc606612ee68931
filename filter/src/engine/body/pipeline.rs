//! The body rules of one response in order: each stage's output is the next stage's input, as
//! URL Rewrite runs outbound rules in order over the rewritten body. Text flows through without
//! being collected: each stage holds at most its own bounded state.
//!
//! `stopProcessing` ends the chain per value (per attribute, per text match), which separate
//! stages cannot see; so consecutive tag rules belong in one [`TagRewriter`] over the union of
//! their sets ([`super::TagSet::extend`]), whose rewriter runs the rules in order on each value,
//! each rule checking its own set ([`super::TagSet::contains`]).

use super::html::{AttributeRewrite, TagRewriter};
use super::text::{TextRewrite, TextRewriter};

/// A streaming rewriter of a body.
pub trait BodyStage {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>);
    fn finish(&mut self, out: &mut Vec<u8>);
    /// Bytes held back between chunks.
    fn held_bytes(&self) -> usize;
    /// Writes out what is held only for look-ahead (a text window), keeping the state a tag
    /// needs; the body goes on afterwards, as after a [`BodyPipeline::soft_flush`].
    fn soft_flush(&mut self, out: &mut Vec<u8>);
}

impl<R: AttributeRewrite> BodyStage for TagRewriter<R> {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        TagRewriter::feed(self, chunk, out);
    }
    fn finish(&mut self, out: &mut Vec<u8>) {
        TagRewriter::finish(self, out);
    }
    fn held_bytes(&self) -> usize {
        TagRewriter::held_bytes(self)
    }
    fn soft_flush(&mut self, _out: &mut Vec<u8>) {
        // A held tag stays held: it is bounded and needed to rewrite the tag whole.
    }
}

impl<R: TextRewrite> BodyStage for TextRewriter<R> {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        TextRewriter::feed(self, chunk, out);
    }
    fn finish(&mut self, out: &mut Vec<u8>) {
        TextRewriter::finish(self, out);
    }
    fn held_bytes(&self) -> usize {
        TextRewriter::held_bytes(self)
    }
    fn soft_flush(&mut self, out: &mut Vec<u8>) {
        TextRewriter::finish(self, out);
    }
}

/// Stages run in rule order.
#[derive(Default)]
pub struct BodyPipeline<'r> {
    stages: Vec<Box<dyn BodyStage + 'r>>,
    /// Output of the previous stage, input of the next; reused across chunks.
    carry: Vec<u8>,
    next: Vec<u8>,
}

impl<'r> BodyPipeline<'r> {
    pub fn new() -> Self {
        BodyPipeline {
            stages: Vec::new(),
            carry: Vec::new(),
            next: Vec::new(),
        }
    }

    pub fn push(&mut self, stage: impl BodyStage + 'r) {
        self.stages.push(Box::new(stage));
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.run(chunk, out, Flush::No);
    }

    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.run(&[], out, Flush::End);
    }

    /// Writes out the text windows as if the body ended here, and goes on: a text match that
    /// would span this point is not found (a held tag stays held). Lets a caller that must
    /// bound what it keeps give up look-ahead at a point of its choosing.
    pub fn soft_flush(&mut self, out: &mut Vec<u8>) {
        self.run(&[], out, Flush::Soft);
    }

    /// Bytes held back by all stages together.
    pub fn held_bytes(&self) -> usize {
        self.stages.iter().map(|s| s.held_bytes()).sum()
    }

    fn run(&mut self, chunk: &[u8], out: &mut Vec<u8>, flush: Flush) {
        let Some((last, first)) = self.stages.split_last_mut() else {
            out.extend_from_slice(chunk);
            return;
        };
        self.carry.clear();
        self.carry.extend_from_slice(chunk);
        for stage in first {
            self.next.clear();
            stage.feed(&self.carry, &mut self.next);
            flush.apply(stage.as_mut(), &mut self.next);
            std::mem::swap(&mut self.carry, &mut self.next);
        }
        last.feed(&self.carry, out);
        flush.apply(last.as_mut(), out);
    }
}

/// What a pipeline run does after feeding each stage.
#[derive(Clone, Copy)]
enum Flush {
    No,
    Soft,
    End,
}

impl Flush {
    fn apply(self, stage: &mut (dyn BodyStage + '_), out: &mut Vec<u8>) {
        match self {
            Flush::No => {}
            Flush::Soft => stage.soft_flush(out),
            Flush::End => stage.finish(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::body::{TagSet, TextMatch};

    fn pipeline<'r>() -> BodyPipeline<'r> {
        let mut p = BodyPipeline::new();
        // Rule 1 rewrites links; rule 2 sees rule 1's output in the body text.
        let set = TagSet::from_filter("A", None).unwrap();
        p.push(TagRewriter::new(set, |_: &str, _: &str, v: &[u8]| {
            v.strip_prefix(b"http://b/")
                .map(|r| [b"/app/".as_slice(), r].concat())
        }));
        p.push(TextRewriter::new(
            |h: &[u8], from: usize| {
                let at = h.get(from..)?.windows(5).position(|w| w == b"/app/")? + from;
                Some(TextMatch {
                    range: at..at + 5,
                    replacement: Some(b"/APP/".to_vec()),
                })
            },
            true,
        ));
        p
    }

    #[test]
    fn each_rule_sees_the_output_of_the_one_before() {
        let page = b"<a href=http://b/x>http://b/y</a><p>/app/z";
        let expected = b"<a href=/APP/x>http://b/y</a><p>/APP/z".to_vec();
        for size in 1..=page.len() {
            let mut p = pipeline();
            let mut out = Vec::new();
            for chunk in page.chunks(size) {
                p.feed(chunk, &mut out);
            }
            p.finish(&mut out);
            assert_eq!(out, expected, "chunks of {size}");
            assert_eq!(p.held_bytes(), 0);
        }
    }

    #[test]
    fn a_soft_flush_writes_text_windows_but_keeps_an_open_tag() {
        let mut p = pipeline();
        let mut out = Vec::new();
        p.feed(b"<p>/app/x <a href=http://b/", &mut out);
        assert!(out.is_empty(), "the text window holds everything");
        p.soft_flush(&mut out);
        assert_eq!(out, b"<p>/APP/x ");
        assert_eq!(p.held_bytes(), b"<a href=http://b/".len());
        out.clear();
        p.feed(b"y>", &mut out);
        p.finish(&mut out);
        assert_eq!(out, b"<a href=/APP/y>");
    }

    #[test]
    fn no_stage_passes_the_body_through() {
        let mut p = BodyPipeline::new();
        let mut out = Vec::new();
        p.feed(b"abc", &mut out);
        p.finish(&mut out);
        assert_eq!(out, b"abc");
        assert!(p.is_empty());
    }
}
