//! (being written) Inbound rule evaluation.
use crate::compile::Engine;
use crate::decision::{Decision, Outcome};
use crate::request::RequestFacts;
use crate::trace::RequestTrace;

impl Engine {
    /// Evaluates the inbound rules for one request.
    pub fn inbound(&self, req: &dyn RequestFacts) -> Decision {
        let mut t = RequestTrace::default();
        self.inbound_traced(req, &mut t)
    }

    /// Same, recording what each rule did.
    pub fn inbound_traced(&self, _req: &dyn RequestFacts, _trace: &mut RequestTrace) -> Decision {
        Decision {
            outcome: Outcome::Continue,
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            matched_rules: Vec::new(),
        }
    }
}
