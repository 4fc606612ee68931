//! Upstreams an absolute Rewrite may reach (ARR proxying; docs/arr.md), and the
//! Envoy cluster name each one maps to. The set is closed at configure time: a target whose host
//! was built from a capture must still be one of these, so a client can never make the filter an
//! open proxy.

/// One upstream origin and the Envoy cluster that reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Upstream {
    /// Envoy cluster name (the value the filter writes into the upstream header).
    pub cluster: String,
    /// true for https:// and wss:// targets: the cluster must speak TLS.
    pub tls: bool,
    /// Lowercase host name or IP literal (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

/// The cluster name used when the configuration does not name one: `iis|http|host|port` or
/// `iis|https|host|port` (ws and wss share the http and https clusters).
pub fn default_cluster_name(tls: bool, host: &str, port: u16) -> String {
    format!(
        "iis|{}|{}|{}",
        if tls { "https" } else { "http" },
        host,
        port
    )
}

/// The cluster of an ARR server farm: `iis-farm|http|<farm>` or `iis-farm|https|<farm>` (the
/// farm's servers on their `httpPort` or `httpsPort`).
pub fn farm_cluster_name(tls: bool, farm: &str) -> String {
    format!("iis-farm|{}|{}", if tls { "https" } else { "http" }, farm)
}

/// The cluster of Envoy's dynamic forward proxy that reaches allowed hosts the closure cannot
/// know: `iis-dynamic|http` or `iis-dynamic|https`.
pub fn dynamic_cluster_name(tls: bool) -> String {
    format!("iis-dynamic|{}", if tls { "https" } else { "http" })
}

/// A host of the dynamic upstream allow list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// This host name or IP literal only (lowercase, IPv6 without brackets).
    Exact(String),
    /// Any name below this domain (`*.tenants.example` is `Below("tenants.example")`); never
    /// the domain itself.
    Below(String),
}

impl HostPattern {
    /// Parses `name`, `IP` or `*.domain`. A bare `*`, or anything that is not a host name,
    /// is refused: the list can never open the proxy to every host.
    pub fn parse(text: &str) -> Result<HostPattern, &'static str> {
        let text = text.trim().to_ascii_lowercase();
        let text = text.trim_start_matches('[').trim_end_matches(']');
        if text.parse::<std::net::IpAddr>().is_ok() {
            return Ok(HostPattern::Exact(text.to_string()));
        }
        match text.strip_prefix("*.") {
            Some(domain) if is_dns_name(domain) => Ok(HostPattern::Below(domain.to_string())),
            Some(_) => Err("a * must be followed by a domain name (*.example.com)"),
            None if text.contains('*') => {
                Err("* may only stand for the leftmost labels (*.example.com); a bare * would make the filter an open proxy")
            }
            None if is_dns_name(text) => Ok(HostPattern::Exact(text.to_string())),
            None => Err("not a host name or IP address"),
        }
    }

    /// Whether `host` (lowercase, as parsed from the target) is allowed.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => h == host,
            HostPattern::Below(domain) => {
                is_dns_name(host)
                    && host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|label| label.len() > 1 && label.ends_with('.'))
            }
        }
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostPattern::Exact(h) if h.contains(':') => write!(f, "[{h}]"),
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Below(d) => write!(f, "*.{d}"),
        }
    }
}

/// Letters, digits and `-` in non-empty dot-separated labels of at most 63 bytes.
fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// One entry of the compiled allow list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicAllow {
    pub host: HostPattern,
    pub ports: Vec<u16>,
}

/// Whether the allow list lets a target reach `host:port`.
pub fn dynamic_allowed(list: &[DynamicAllow], host: &str, port: u16) -> bool {
    list.iter()
        .any(|a| a.ports.contains(&port) && a.host.matches(host))
}

/// Most candidate targets one Rewrite URL is expanded into (map values times map values):
/// past this the target counts as not known at load.
const MAX_CANDIDATES: usize = 4096;

/// What stands in one piece of a Rewrite URL, for the closure: text known at load, a choice of
/// texts known at load (the values of a rewrite map), or request data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    OneOf(Vec<&'a str>),
    /// A server variable, back-reference or function whose value only the request knows.
    /// `starts_path` when its value always begins with `/` (`{REQUEST_URI}`, `{URL}`, …), so
    /// it cannot continue a host written before it.
    Request {
        starts_path: bool,
    },
}

/// One upstream a Rewrite URL can name: scheme (TLS or not), host, port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

/// What the closure learns from one Rewrite URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetReach {
    /// The upstreams it names when it is a proxy target.
    pub origins: Vec<Origin>,
    /// Some expansion is an absolute URL whose host (or scheme) request data decides.
    pub host_from_request: bool,
    /// The combinations of map values exceed [`MAX_CANDIDATES`].
    pub too_many: bool,
}

/// A candidate expansion of the URL, read left to right until its authority is complete.
#[derive(Debug, Clone)]
struct Candidate {
    text: String,
    /// The scheme was request data (`{C:1}://host`): the host can be reached with and without
    /// TLS.
    scheme_from_request: bool,
    /// The authority is complete (a `/`, `?` or a path variable follows it).
    done: bool,
}

impl Candidate {
    /// The authority written so far, once `scheme://` is there.
    fn authority(&self) -> Option<&str> {
        let (_, after) = self.text.split_once("://")?;
        Some(after.split(['/', '?', '#']).next().unwrap_or(after))
    }

    fn authority_closed(&self) -> bool {
        self.text
            .split_once("://")
            .is_some_and(|(_, after)| after.contains(['/', '?', '#']))
    }
}

/// Expands the pieces of a Rewrite URL far enough to know every upstream it can name.
/// Request data may follow a complete host (`http://10.0.0.5:8080{REQUEST_URI}`,
/// `http://{C:1}{R:2}`): the host is known, and a value that would continue it reaches no
/// configured upstream at run time (refused with 502). Request data inside or before the host
/// makes the host unknown.
pub fn target_reach(pieces: &[Piece<'_>]) -> TargetReach {
    let mut reach = TargetReach::default();
    let mut candidates = vec![Candidate {
        text: String::new(),
        scheme_from_request: false,
        done: false,
    }];
    for (i, piece) in pieces.iter().enumerate() {
        let next = pieces.get(i + 1);
        let mut grown = Vec::with_capacity(candidates.len());
        for mut c in candidates {
            if c.done {
                grown.push(c);
                continue;
            }
            match piece {
                Piece::Text(t) => {
                    c.text.push_str(t);
                    c.done = c.authority_closed();
                    grown.push(c);
                }
                Piece::OneOf(values) => {
                    for v in values {
                        let mut c = c.clone();
                        c.text.push_str(v);
                        c.done = c.authority_closed();
                        grown.push(c);
                    }
                }
                Piece::Request { starts_path } => match request_data_at(&c, *starts_path, next) {
                    Position::Scheme => {
                        c.text.push_str("http");
                        c.scheme_from_request = true;
                        grown.push(c);
                    }
                    Position::AfterHost => {
                        c.done = true;
                        grown.push(c);
                    }
                    Position::InHost => reach.host_from_request = true,
                    // A local rewrite (`/{R:1}`, `{R:1}`): no upstream.
                    Position::NotAbsolute => {}
                },
            }
            if grown.len() > MAX_CANDIDATES {
                reach.too_many = true;
                return reach;
            }
        }
        candidates = grown;
    }
    for c in candidates {
        let Some(u) = crate::engine::url::parse_absolute(&c.text) else {
            continue;
        };
        let Some(port) = u
            .port
            .or_else(|| crate::engine::url::default_port(&u.scheme))
        else {
            continue;
        };
        let mut add = |tls: bool, port: u16| {
            let origin = Origin {
                tls,
                host: u.host.to_string(),
                port,
            };
            if !reach.origins.contains(&origin) {
                reach.origins.push(origin);
            }
        };
        if c.scheme_from_request {
            // `{C:1}://host/…` (ws/wss/http/https): both a plain and a TLS origin, each on its
            // scheme's default port unless one is written.
            add(false, u.port.unwrap_or(80));
            add(true, u.port.unwrap_or(443));
        } else {
            add(crate::engine::url::scheme_is_tls(&u.scheme), port);
        }
    }
    reach
}

/// Where a piece of request data stands in a candidate.
enum Position {
    /// The scheme (`{C:1}://…`).
    Scheme,
    /// Right after a complete host: it begins the path (or the target cannot reach anything).
    AfterHost,
    /// Inside the host or port: the host is not known at load.
    InHost,
    /// The target does not start with `scheme://`.
    NotAbsolute,
}

fn request_data_at(c: &Candidate, starts_path: bool, next: Option<&Piece<'_>>) -> Position {
    let Some(authority) = c.authority() else {
        let next_is_scheme_end = matches!(next, Some(Piece::Text(t)) if t.starts_with("://"));
        return if c.text.is_empty() && next_is_scheme_end {
            Position::Scheme
        } else {
            Position::NotAbsolute
        };
    };
    if authority.is_empty() {
        return Position::InHost;
    }
    if starts_path {
        return Position::AfterHost;
    }
    // `http://tenant-{R:1}.internal/`: text after the data continues the authority.
    let continues_host = matches!(next, Some(Piece::Text(t)) if !t.starts_with(['/', '?', '#']));
    let unfinished = authority.ends_with(['-', '.', ':', '[']);
    let host_valid =
        crate::engine::url::split_host_port(authority).is_some_and(|(host, _)| !host.is_empty());
    if continues_host || unfinished || !host_valid {
        Position::InHost
    } else {
        Position::AfterHost
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn origin(tls: bool, host: &str, port: u16) -> Origin {
        Origin {
            tls,
            host: host.into(),
            port,
        }
    }

    const PATH: Piece<'static> = Piece::Request { starts_path: true };
    const DATA: Piece<'static> = Piece::Request { starts_path: false };

    #[test]
    fn literal_host_followed_by_request_data() {
        let r = target_reach(&[Piece::Text("http://10.0.0.5:8080"), PATH]);
        assert_eq!(r.origins, [origin(false, "10.0.0.5", 8080)]);
        assert!(!r.host_from_request);
        let r = target_reach(&[Piece::Text("https://Backend.example"), DATA]);
        assert_eq!(r.origins, [origin(true, "backend.example", 443)]);
        assert!(!r.host_from_request);
    }

    #[test]
    fn map_values_as_hosts() {
        let values = vec!["localhost:5001", "10.1.1.1", "tenant.example:8443"];
        let r = target_reach(&[Piece::Text("http://"), Piece::OneOf(values), DATA]);
        assert_eq!(
            r.origins,
            [
                origin(false, "localhost", 5001),
                origin(false, "10.1.1.1", 80),
                origin(false, "tenant.example", 8443)
            ]
        );
        // Values that are whole URLs, followed by a path.
        let urls = vec!["https://a.example", "http://b.example:81/base"];
        let r = target_reach(&[Piece::OneOf(urls), Piece::Text("/"), DATA]);
        assert_eq!(
            r.origins,
            [
                origin(true, "a.example", 443),
                origin(false, "b.example", 81)
            ]
        );
    }

    #[test]
    fn hosts_from_the_request_are_unknown() {
        for pieces in [
            vec![Piece::Text("http://"), DATA, Piece::Text(":8080/"), DATA],
            vec![
                Piece::Text("http://tenant-"),
                DATA,
                Piece::Text(".internal/"),
            ],
            vec![Piece::Text("http://tenant-"), DATA],
            vec![Piece::Text("http://backend:"), DATA],
        ] {
            let r = target_reach(&pieces);
            assert!(r.host_from_request, "{pieces:?}");
            assert!(r.origins.is_empty(), "{pieces:?}");
        }
    }

    #[test]
    fn captured_scheme_reaches_both() {
        let r = target_reach(&[DATA, Piece::Text("://127.0.0.1:8080/"), DATA]);
        assert_eq!(
            r.origins,
            [
                origin(false, "127.0.0.1", 8080),
                origin(true, "127.0.0.1", 8080)
            ]
        );
        let r = target_reach(&[DATA, Piece::Text("://ws.example/"), DATA]);
        assert_eq!(
            r.origins,
            [
                origin(false, "ws.example", 80),
                origin(true, "ws.example", 443)
            ]
        );
    }

    #[test]
    fn local_rewrites_name_nothing() {
        for pieces in [vec![Piece::Text("/"), DATA], vec![DATA], vec![DATA, PATH]] {
            assert_eq!(target_reach(&pieces), TargetReach::default(), "{pieces:?}");
        }
    }

    #[test]
    fn allow_list_patterns() {
        let list = vec![
            DynamicAllow {
                host: HostPattern::parse("*.Tenants.example").unwrap(),
                ports: vec![8080],
            },
            DynamicAllow {
                host: HostPattern::parse("localhost").unwrap(),
                ports: vec![80, 8081],
            },
            DynamicAllow {
                host: HostPattern::parse("[::1]").unwrap(),
                ports: vec![9000],
            },
        ];
        assert!(dynamic_allowed(&list, "a.tenants.example", 8080));
        assert!(dynamic_allowed(&list, "x.a.tenants.example", 8080));
        assert!(dynamic_allowed(&list, "localhost", 8081));
        assert!(dynamic_allowed(&list, "::1", 9000));
        for (host, port) in [
            ("tenants.example", 8080),
            ("a.tenants.example", 8081),
            ("evil-tenants.example", 8080),
            ("a.tenants.example.evil", 8080),
            (".tenants.example", 8080),
            ("a..tenants.example", 8080),
            ("localhost.", 80),
            ("127.0.0.1", 80),
            ("localhost", 443),
        ] {
            assert!(!dynamic_allowed(&list, host, port), "{host}:{port}");
        }
        for bad in [
            "*",
            "*.",
            "a.*.b",
            "*example.com",
            "",
            "exa mple",
            "-a.b",
            "ex_ample",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(HostPattern::parse("*.a.b").unwrap().to_string(), "*.a.b");
    }

    #[test]
    fn combinations_are_bounded() {
        let many: Vec<String> = (0..100).map(|i| format!("h{i}")).collect();
        let values: Vec<&str> = many.iter().map(String::as_str).collect();
        let r = target_reach(&[
            Piece::Text("http://"),
            Piece::OneOf(values.clone()),
            Piece::Text("-"),
            Piece::OneOf(values),
            Piece::Text("/"),
        ]);
        assert!(r.too_many);
    }
}
