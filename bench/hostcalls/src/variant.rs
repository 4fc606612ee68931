//! The per-request work of each variant, chosen once from the plugin configuration.

/// The request headers a rule set typically reads (present in the benchmark's browser request).
pub const REQUEST_READS: [&str; 8] = [
    ":path",
    ":authority",
    "user-agent",
    "accept",
    "accept-language",
    "cookie",
    "referer",
    "x-forwarded-for",
];

/// The request headers written: a path rewrite, the cluster-selection header, two forwarded
/// headers. The bench's route sends `/rewritten/...` with `x-bench-cluster: b` to cluster b.
pub const CLUSTER_HEADER: &str = "x-bench-cluster";
pub const PATH_PREFIX: &[u8] = b"/rewritten";

/// The response headers read (`set-cookie` is repeated by the upstream) and written.
pub const RESPONSE_READS: [&str; 5] = [
    ":status",
    "content-type",
    "content-length",
    "cache-control",
    "set-cookie",
];
pub const RESPONSE_WRITES: [(&str, &[u8]); 3] = [
    ("x-frame-options", b"SAMEORIGIN"),
    ("x-content-type-options", b"nosniff"),
    ("referrer-policy", b"no-referrer"),
];

pub const METRICS: [&str; 3] = [
    "hostcalls_bench.rule_hits",
    "hostcalls_bench.actions",
    "hostcalls_bench.requests",
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Variant {
    /// No host call at all: the cost of the SDK's dispatch alone.
    Nothing,
    /// 8 × `proxy_get_header_map_value` on the request headers.
    RequestGetEach,
    /// One `proxy_get_header_map_pairs`, then the 8 names looked up in the copy.
    RequestGetPairs,
    /// 4 × `proxy_replace_header_map_value` (`:path`, cluster header, two others), after one
    /// read of `:path` (needed to build the new path).
    RequestSetEach,
    /// One `proxy_get_header_map_pairs`, edited in the module, one `proxy_set_header_map_pairs`.
    RequestSetPairs,
    /// Response: 5 × get + 3 × replace.
    ResponseEach,
    /// Response: one get pairs + one set pairs.
    ResponsePairs,
    /// 3 × `proxy_increment_metric` (defined once at configure time).
    Metrics,
    /// One `proxy_get_property(source.address)`.
    SourceAddress,
    /// 2 × `proxy_get_log_level` (what a logging facade asks before formatting a message).
    LogLevel,
}

impl Variant {
    pub fn parse(config: &[u8]) -> Option<Variant> {
        Some(match config {
            b"nothing" => Variant::Nothing,
            b"req-get-each" => Variant::RequestGetEach,
            b"req-get-pairs" => Variant::RequestGetPairs,
            b"req-set-each" => Variant::RequestSetEach,
            b"req-set-pairs" => Variant::RequestSetPairs,
            b"resp-each" => Variant::ResponseEach,
            b"resp-pairs" => Variant::ResponsePairs,
            b"metrics" => Variant::Metrics,
            b"source-address" => Variant::SourceAddress,
            b"log-level" => Variant::LogLevel,
            _ => return None,
        })
    }
}

/// The rewritten path: the prefix, then the original path.
pub fn rewritten_path(original: &[u8]) -> Vec<u8> {
    let mut path = Vec::with_capacity(PATH_PREFIX.len() + original.len());
    path.extend_from_slice(PATH_PREFIX);
    path.extend_from_slice(original);
    path
}
