//! What the outbound rules may ask about a response, and an in-memory response.

use std::borrow::Cow;

/// What the outbound rules may ask about the response.
pub trait ResponseFacts {
    /// A response header by lowercase name; `:status` is the status code.
    fn header(&self, name: &str) -> Option<Cow<'_, [u8]>>;
}

/// A response held in memory (tests, `iis-rewrite explain`).
#[derive(Debug, Clone, Default)]
pub struct StaticResponse {
    headers: Vec<(String, Vec<u8>)>,
}

impl StaticResponse {
    pub fn new(status: u16) -> Self {
        StaticResponse::default().with_header(":status", status.to_string())
    }

    pub fn with_header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.as_ref().to_vec()));
        self
    }
}

impl ResponseFacts for StaticResponse {
    fn header(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| Cow::Borrowed(v.as_slice()))
    }
}
