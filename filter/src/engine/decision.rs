//! The value the inbound engine returns: what IIS would do with the request. The glue turns it
//! into host calls; `iis-rewrite explain` prints it.

use std::fmt;
use std::ops::Deref;
use std::rc::Rc;

use crate::engine::url;

/// The status of a request refused because the rules would build too much from it
/// (`engine::evaluate::limits`): the request, as the rules expand it, has header fields too
/// large (RFC 6585's 431). No other refusal uses it, so it is also how the refusal is counted.
pub const LIMIT_STATUS: u16 = 431;

/// What happens to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(tag = "kind", rename_all = "snake_case")
)]
pub enum Outcome {
    /// No rule changed the URL: the request goes on unchanged to the default upstream.
    Continue,
    /// A relative Rewrite: the request goes on with this `:path` (path and query, encoded).
    Rewrite { path: String },
    /// An absolute Rewrite (ARR proxy): the request goes to `cluster` with this `:path`.
    /// `authority` is the target's `host[:port]` when preserveHostHeader is false; `None` when
    /// the Host is not changed here: preserveHostHeader keeps the client's, or a rule set
    /// HTTP_HOST (then the `:authority` edit in `request_headers` carries it).
    Proxy {
        cluster: String,
        scheme: String,
        host: String,
        port: u16,
        path: String,
        authority: Option<String>,
    },
    /// A Redirect action: a local reply with a Location.
    Redirect { status: u16, location: String },
    /// A CustomResponse action: a local reply with this status and body.
    CustomResponse {
        status: u16,
        sub_status: u32,
        reason: String,
        body: String,
    },
    /// An AbortRequest action: the stream is reset, no response at all.
    Abort,
    /// The request cannot be handled safely (undecodable path, a redirect to a host the rule
    /// did not name, a proxy target outside the allowed upstreams): a local reply.
    Refuse { status: u16, reason: String },
}

impl Outcome {
    /// Whether the request was refused by the expansion limits.
    pub fn is_limit_refusal(&self) -> bool {
        matches!(self, Outcome::Refuse { status, .. } if *status == LIMIT_STATUS)
    }
}

/// One header change, in order. `value: None` removes the header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HeaderEdit {
    /// Lowercase header name (`:authority` for HTTP_HOST), shared with the compiled
    /// configuration: an edit costs a reference count, not a copy of the name.
    pub name: Rc<str>,
    pub value: Option<HeaderValue>,
}

/// The value a [`HeaderEdit`] writes: a constant of the compiled configuration (a customHeader, a
/// constant `<set>` or outbound Rewrite value), shared rather than copied per request, or text
/// built for this request. Either way it reads as `str`; two values are equal when their text is.
#[derive(Clone)]
pub enum HeaderValue {
    /// Text the configuration holds (already free of CR/LF).
    Shared(Rc<str>),
    /// Text built for this request.
    Built(String),
}

impl HeaderValue {
    /// The value with control characters (CR/LF among them) escaped, as every header value the
    /// engine writes must be: a built value is checked here, a shared one was when the
    /// configuration was compiled.
    pub(crate) fn sanitized(self) -> Self {
        match self {
            HeaderValue::Built(text) => HeaderValue::Built(url::sanitized_header_value(text)),
            shared @ HeaderValue::Shared(_) => shared,
        }
    }
}

impl Deref for HeaderValue {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            HeaderValue::Shared(text) => text,
            HeaderValue::Built(text) => text,
        }
    }
}

impl PartialEq for HeaderValue {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for HeaderValue {}

impl PartialEq<str> for HeaderValue {
    fn eq(&self, other: &str) -> bool {
        &**self == other
    }
}

impl PartialEq<&str> for HeaderValue {
    fn eq(&self, other: &&str) -> bool {
        &**self == *other
    }
}

/// Printed as the text alone, whichever variant holds it.
impl fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Display for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl From<String> for HeaderValue {
    fn from(text: String) -> Self {
        HeaderValue::Built(text)
    }
}

impl From<&str> for HeaderValue {
    fn from(text: &str) -> Self {
        HeaderValue::Built(text.to_string())
    }
}

impl From<&Rc<str>> for HeaderValue {
    fn from(text: &Rc<str>) -> Self {
        HeaderValue::Shared(Rc::clone(text))
    }
}

/// Serialised as the bare string, as a `String` value was.
#[cfg(feature = "serde")]
impl serde::Serialize for HeaderValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self)
    }
}

/// The client side of a proxied request, for ARR's reverse rewriting of backend `Location`
/// headers (ARR's `reverseRewriteHostInResponseHeaders`; see docs/arr.md).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ClientOrigin {
    /// `http` or `https`: the scheme the client used.
    pub scheme: &'static str,
    /// The Host the client sent (with its port, if any).
    pub host: String,
}

/// Everything the inbound rules decided for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Decision {
    pub outcome: Outcome,
    /// Request headers to set or remove before the request goes on.
    pub request_headers: Vec<HeaderEdit>,
    /// Response headers set by inbound `<set name="RESPONSE_…">`, applied in the response phase.
    pub response_headers: Vec<HeaderEdit>,
    /// Names of the rules whose pattern and conditions matched, in order.
    pub matched_rules: Vec<Rc<str>>,
    /// The same rules as indexes into `Engine::rule_names` (for per-rule counters).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub fired_rules: Vec<usize>,
    /// Values of the request-side variables the outbound rules read
    /// (`Engine::outbound_snapshot_vars`), taken at the end of the request phase.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub outbound_snapshot: Vec<String>,
    /// Set when the request is proxied and `reverseRewriteHostInResponseHeaders` is on: backend
    /// `Location`/`Content-Location` URLs get this scheme and host.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub reverse_rewrite: Option<ClientOrigin>,
}

impl Decision {
    /// A request refused before any rule ran: no edit, no rule matched.
    pub fn refused(status: u16, reason: String) -> Decision {
        Decision {
            outcome: Outcome::Refuse { status, reason },
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            matched_rules: Vec::new(),
            fired_rules: Vec::new(),
            outbound_snapshot: Vec::new(),
            reverse_rewrite: None,
        }
    }
}
