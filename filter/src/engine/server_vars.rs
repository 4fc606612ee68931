//! Server-variable names resolved once at configure time (docs/configuration.md lists them). Names
//! are case-insensitive. `HTTP_<NAME>` reads request header `<name>` (underscores to dashes);
//! `RESPONSE_<NAME>` a response header (outbound only). A name that a rule sets with `<set>` is a
//! custom variable, read back by later rules, falling back to the built-in value while unset.
//! Unknown names read as empty, as in IIS; `iis-rewrite check` warns about them.

use std::rc::Rc;

/// A server variable the engine knows how to compute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerVar {
    /// `on` / `off`.
    Https,
    /// `1` / `0`.
    ServerPortSecure,
    /// The Host header as sent (with `:port` when the client sent one).
    HttpHost,
    /// The Host without its port.
    ServerName,
    /// Local port the request arrived on.
    ServerPort,
    /// Local IP address (`SERVER_ADDR`, `LOCAL_ADDR`).
    ServerAddr,
    /// Client IP without port (IPv6 without brackets); also `REMOTE_HOST` (no reverse DNS).
    RemoteAddr,
    RemotePort,
    RequestMethod,
    /// Query without `?`, as sent (current query after rewrites).
    QueryString,
    /// Path and query, as sent (current value after rewrites).
    RequestUri,
    /// Decoded path with leading `/` (current after rewrites); also `PATH_INFO`, `SCRIPT_NAME`.
    Url,
    /// The original request target, raw (`HTTP_URL`).
    HttpUrl,
    /// The original request target, raw (`UNENCODED_URL`).
    UnencodedUrl,
    /// `scheme://host/path?query` of the original request; `ws`/`wss` on WebSocket upgrades.
    CacheUrl,
    /// `HTTP/1.1`, `HTTP/2`, … (`SERVER_PROTOCOL`, `HTTP_VERSION`).
    ServerProtocol,
    /// `REQUEST_FILENAME` and other physical paths: there is no file system behind Envoy; the
    /// value is the URL path, so patterns on it still see something meaningful.
    PhysicalPath,
    /// A request header (lowercase name).
    Header(String),
    /// A response header (lowercase name); outbound only.
    ResponseHeader(String),
    /// The response status code, e.g. `200` (outbound only).
    ResponseStatus,
    /// A variable set by `<set>`: slot index, and the built-in value used while it is unset.
    Custom(usize, Box<ServerVar>),
    /// A name with no value on Envoy: reads as empty.
    Unknown(String),
    /// In outbound rules: a request-side value captured at the end of the request phase
    /// (index into the snapshot), since request headers cannot be read once the response runs.
    Snapshot(usize),
}

impl ServerVar {
    /// Whether the value comes from the response (outbound inputs).
    pub fn is_response_side(&self) -> bool {
        matches!(
            self,
            ServerVar::ResponseHeader(_) | ServerVar::ResponseStatus
        )
    }
}

/// Converts the part after `HTTP_` / `RESPONSE_` to a header name.
pub fn header_name(suffix: &str) -> String {
    suffix.replace('_', "-").to_ascii_lowercase()
}

/// Resolves a built-in variable name (any case).
pub fn builtin(name: &str) -> ServerVar {
    let upper = name.trim().to_ascii_uppercase();
    match upper.as_str() {
        "HTTPS" => ServerVar::Https,
        "SERVER_PORT_SECURE" => ServerVar::ServerPortSecure,
        "HTTP_HOST" => ServerVar::HttpHost,
        "SERVER_NAME" => ServerVar::ServerName,
        "SERVER_PORT" => ServerVar::ServerPort,
        "SERVER_ADDR" | "LOCAL_ADDR" => ServerVar::ServerAddr,
        "REMOTE_ADDR" | "REMOTE_HOST" => ServerVar::RemoteAddr,
        "REMOTE_PORT" => ServerVar::RemotePort,
        "REQUEST_METHOD" => ServerVar::RequestMethod,
        "QUERY_STRING" => ServerVar::QueryString,
        "REQUEST_URI" => ServerVar::RequestUri,
        "URL" | "PATH_INFO" | "SCRIPT_NAME" | "URL_PATH_INFO" => ServerVar::Url,
        "HTTP_URL" => ServerVar::HttpUrl,
        "UNENCODED_URL" => ServerVar::UnencodedUrl,
        "CACHE_URL" => ServerVar::CacheUrl,
        "SERVER_PROTOCOL" | "HTTP_VERSION" => ServerVar::ServerProtocol,
        "REQUEST_FILENAME" | "SCRIPT_FILENAME" | "PATH_TRANSLATED" => ServerVar::PhysicalPath,
        "CONTENT_TYPE" => ServerVar::Header("content-type".into()),
        "CONTENT_LENGTH" => ServerVar::Header("content-length".into()),
        "RESPONSE_STATUS" => ServerVar::ResponseStatus,
        _ => {
            if let Some(h) = upper.strip_prefix("HTTP_").filter(|h| !h.is_empty()) {
                ServerVar::Header(header_name(h))
            } else if let Some(h) = upper.strip_prefix("RESPONSE_").filter(|h| !h.is_empty()) {
                ServerVar::ResponseHeader(header_name(h))
            } else {
                ServerVar::Unknown(name.trim().to_string())
            }
        }
    }
}

/// Where a `<set name=…>` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetTarget {
    /// `HTTP_<NAME>`: a request header (lowercase; `:authority` for HTTP_HOST), shared with the
    /// edits that write it.
    RequestHeader(Rc<str>),
    /// `RESPONSE_<NAME>`: a response header (lowercase).
    ResponseHeader(Rc<str>),
    /// Any other name: a request-scoped variable (slot).
    Custom(usize),
}

/// Whether a `<set>` name writes a header (and which) or a custom variable.
pub fn set_kind(name: &str) -> Option<SetTarget> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "HTTP_HOST" {
        return Some(SetTarget::RequestHeader(":authority".into()));
    }
    if let Some(h) = upper.strip_prefix("HTTP_").filter(|h| !h.is_empty()) {
        return Some(SetTarget::RequestHeader(header_name(h).into()));
    }
    if let Some(h) = upper.strip_prefix("RESPONSE_").filter(|h| !h.is_empty()) {
        return Some(SetTarget::ResponseHeader(header_name(h).into()));
    }
    None
}

/// Custom variable names (upper-cased) in slot order.
#[derive(Debug, Clone, Default)]
pub struct CustomVars {
    names: Vec<String>,
}

impl CustomVars {
    /// The slot of a custom variable, creating it.
    pub fn slot(&mut self, name: &str) -> usize {
        let upper = name.trim().to_ascii_uppercase();
        match self.names.iter().position(|n| *n == upper) {
            Some(i) => i,
            None => {
                self.names.push(upper);
                self.names.len() - 1
            }
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Resolves a name read by a template: a custom variable if some rule sets it.
    pub fn resolve(&self, name: &str) -> ServerVar {
        let upper = name.trim().to_ascii_uppercase();
        match self.names.iter().position(|n| *n == upper) {
            Some(i) => ServerVar::Custom(i, Box::new(builtin(name))),
            None => builtin(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_case_insensitively() {
        assert_eq!(builtin("https"), ServerVar::Https);
        assert_eq!(
            builtin("HTTP_USER_AGENT"),
            ServerVar::Header("user-agent".into())
        );
        assert_eq!(
            builtin("RESPONSE_Content_Type"),
            ServerVar::ResponseHeader("content-type".into())
        );
        assert_eq!(builtin("Http_Url"), ServerVar::HttpUrl);
        assert_eq!(builtin("NOPE"), ServerVar::Unknown("NOPE".into()));
        assert_eq!(
            set_kind("HTTP_X_FORWARDED_PROTO"),
            Some(SetTarget::RequestHeader("x-forwarded-proto".into()))
        );
        assert_eq!(
            set_kind("http_host"),
            Some(SetTarget::RequestHeader(":authority".into()))
        );
        assert_eq!(set_kind("ORIGINAL_HOST"), None);
    }
}
