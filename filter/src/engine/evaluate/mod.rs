//! Per-request evaluation of a compiled rule set: inbound rules (request phase), outbound rules
//! (response phase) and the conditions both share. Reads facts through [`RequestFacts`] and
//! [`ResponseFacts`], returns decisions; no host call.
//!
//! [`RequestFacts`]: crate::engine::request::RequestFacts
//! [`ResponseFacts`]: crate::engine::response::ResponseFacts

pub mod body;
pub(crate) mod conditions;
pub mod inbound;
pub mod limits;
pub mod outbound;
