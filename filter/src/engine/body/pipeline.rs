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
        self.run(chunk, out, false);
    }

    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.run(&[], out, true);
    }

    /// Bytes held back by all stages together.
    pub fn held_bytes(&self) -> usize {
        self.stages.iter().map(|s| s.held_bytes()).sum()
    }

    fn run(&mut self, chunk: &[u8], out: &mut Vec<u8>, at_end: bool) {
        let Some((last, first)) = self.stages.split_last_mut() else {
            out.extend_from_slice(chunk);
            return;
        };
        self.carry.clear();
        self.carry.extend_from_slice(chunk);
        for stage in first {
            self.next.clear();
            stage.feed(&self.carry, &mut self.next);
            if at_end {
                stage.finish(&mut self.next);
            }
            std::mem::swap(&mut self.carry, &mut self.next);
        }
        last.feed(&self.carry, out);
        if at_end {
            last.finish(out);
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
    fn no_stage_passes_the_body_through() {
        let mut p = BodyPipeline::new();
        let mut out = Vec::new();
        p.feed(b"abc", &mut out);
        p.finish(&mut out);
        assert_eq!(out, b"abc");
        assert!(p.is_empty());
    }
}
