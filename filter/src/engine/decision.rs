//! The value the inbound engine returns: what IIS would do with the request. The glue turns it
//! into host calls; `iis-rewrite explain` prints it.

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

/// One request-header change, in order. `value: None` removes the header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HeaderEdit {
    /// Lowercase header name (`:authority` for HTTP_HOST).
    pub name: String,
    pub value: Option<String>,
}

/// The client side of a proxied request, for ARR's reverse rewriting of backend `Location`
/// headers (ARR's `reverseRewriteHostInResponseHeaders`; see docs/arr.md).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ClientOrigin {
    /// `http` or `https`: the scheme the client used.
    pub scheme: String,
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
    pub matched_rules: Vec<String>,
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
