//! What the engine may ask about the current request, and a plain in-memory implementation for
//! tests and for `iis-rewrite explain`. Values are bytes as the client sent them: nothing a client
//! controls is assumed to be UTF-8 (`server_vars` maps these facts to server variables).

use std::borrow::Cow;

/// A connection or stream fact that is not a header (proxy-wasm properties).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Property {
    /// `source.address`: the client address as Envoy determined it, `ip:port` (`[v6]:port`).
    SourceAddress,
    /// `destination.address`: the local address the request arrived on, `ip:port`.
    DestinationAddress,
    /// `connection.tls_version`: non-empty when the downstream connection is TLS.
    TlsVersion,
    /// `request.protocol`: `HTTP/1.1`, `HTTP/2`, …
    Protocol,
}

/// The request as the engine sees it. Implementations may fetch lazily and must cache: the engine
/// may ask for the same fact more than once.
pub trait RequestFacts {
    /// A request header by lowercase name; pseudo-headers `:path` (with query), `:authority`,
    /// `:method` and `:scheme` included. Repeated headers come comma-joined.
    fn header(&self, name: &str) -> Option<Cow<'_, [u8]>>;
    /// A connection or stream property.
    fn property(&self, property: Property) -> Option<Cow<'_, [u8]>>;
}

/// A request held in memory: what tests, the case corpus and `iis-rewrite explain` evaluate.
#[derive(Debug, Clone, Default)]
pub struct StaticRequest {
    headers: Vec<(String, Vec<u8>)>,
    properties: Vec<(Property, Vec<u8>)>,
}

impl StaticRequest {
    /// A GET of `path_and_query` (`/a/b?x=1`) to `host` from 127.0.0.1:50000 on 127.0.0.1:80.
    pub fn get(host: &str, path_and_query: &str) -> Self {
        StaticRequest::default()
            .with_header(":method", "GET")
            .with_header(":scheme", "http")
            .with_header(":authority", host)
            .with_header(":path", path_and_query)
            .with_property(Property::SourceAddress, "127.0.0.1:50000")
            .with_property(Property::DestinationAddress, "127.0.0.1:80")
            .with_property(Property::Protocol, "HTTP/1.1")
    }

    /// Sets (replaces) a header; the name is lowercased.
    pub fn with_header(self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.with_header_bytes(name, value.as_ref().to_vec())
    }

    pub fn with_header_bytes(mut self, name: &str, value: Vec<u8>) -> Self {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value));
        self
    }

    /// Sets (replaces) a property.
    pub fn with_property(mut self, property: Property, value: impl AsRef<[u8]>) -> Self {
        self.properties.retain(|(p, _)| *p != property);
        self.properties.push((property, value.as_ref().to_vec()));
        self
    }

    /// Marks the connection as TLS (HTTPS=on) and the scheme as https.
    pub fn over_tls(self) -> Self {
        self.with_property(Property::TlsVersion, "TLSv1.3")
            .with_header(":scheme", "https")
    }
}

impl RequestFacts for StaticRequest {
    fn header(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| Cow::Borrowed(v.as_slice()))
    }

    fn property(&self, property: Property) -> Option<Cow<'_, [u8]>> {
        self.properties
            .iter()
            .find(|(p, _)| *p == property)
            .map(|(_, v)| Cow::Borrowed(v.as_slice()))
    }
}

/// [`String::from_utf8_lossy`] with the usual case, valid UTF-8, checked first by
/// [`std::str::from_utf8`], which validates ASCII a word at a time rather than a byte at a time.
pub(crate) fn lossy_str(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Bytes a client sent, as text (invalid UTF-8 becomes U+FFFD; nothing here assumes UTF-8).
pub(crate) fn lossy(bytes: Cow<'_, [u8]>) -> Cow<'_, str> {
    match bytes {
        Cow::Borrowed(b) => lossy_str(b),
        Cow::Owned(v) => Cow::Owned(
            String::from_utf8(v)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_text_is_lent_and_invalid_bytes_are_replaced() {
        assert!(matches!(lossy_str(b"/caf\xc3\xa9"), Cow::Borrowed("/café")));
        assert_eq!(lossy_str(b"/a\xffb"), "/a\u{fffd}b");
        assert_eq!(lossy(Cow::Owned(b"x\xfe".to_vec())), "x\u{fffd}");
    }
}
