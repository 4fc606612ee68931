//! ARR server farms (`webFarms`; docs/arr.md) and the server-level proxy timeouts
//! (`system.webServer/proxy`), validated once into the form both the filter and the Envoy generator
//! use.
//!
//! The filter only needs a farm's name and its `<protocol>` settings (Host, reverse rewriting,
//! X-Forwarded-For); servers, balancing, health checks, affinity and timeouts are Envoy's
//! business and are read by `iis-rewrite envoy` from [`Farm`]. Deviations: legacy balancing
//! algorithms are mapped onto the nearest Envoy policy (see [`Algorithm`]); live-traffic failure
//! detection and `minServers` are not carried.

use crate::engine::config::{self, FilterConfig, ProxySettings};
use crate::engine::error::{ConfigError, Element, Location, Section, Warning};
use crate::engine::vocab::{parse_timespan, TimeSpan};

/// ARR's server-level backend timeout (`system.webServer/proxy timeout`, 120 s).
pub const SERVER_TIMEOUT_MS: u64 = 120_000;
/// ARR's farm backend timeout (`protocol timeout`, 30 s).
pub const FARM_TIMEOUT_MS: u64 = 30_000;
/// `timeout` range in the ARR schema: 1 s to 1 day.
const TIMEOUT_RANGE_MS: (u64, u64) = (1_000, 86_400_000);

pub use crate::engine::vocab::Algorithm;

/// What a `RequestHash` farm hashes on (`hashServerVariable`, `queryStringNames`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashOn {
    /// The request target (path and query): ARR's default URL hash.
    Url,
    /// A request header (`HTTP_X_USER` → `x-user`; `HTTP_HOST` → `:authority`).
    Header(String),
    /// The client address (`REMOTE_ADDR`, `REMOTE_HOST`).
    ClientIp,
    /// These query-string parameters.
    QueryNames(Vec<String>),
}

/// One enabled `<server>` of a farm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FarmMember {
    /// Host name or IP (IPv6 without brackets), as written, lowercase.
    pub address: String,
    pub http_port: u16,
    pub https_port: u16,
    pub weight: u32,
    /// `hostName`: sent as TLS SNI to this server (`https` farm clusters).
    pub host_name: Option<String>,
}

/// `<healthCheck>` with a URL (an empty URL disables the URL test).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FarmHealthCheck {
    /// Path and query of the probe (`/health`).
    pub path: String,
    /// Host header of the probe: the URL's authority as written (the farm name when the URL
    /// names the farm, as ARR sends it to every member).
    pub host: String,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    /// `statusCodeMatch` as inclusive ranges.
    pub statuses: Vec<(u16, u16)>,
    /// `responseMatch`: a case-sensitive substring of the body.
    pub response_match: Option<String>,
}

/// A validated, enabled farm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Farm {
    pub name: String,
    /// Enabled servers only.
    pub servers: Vec<FarmMember>,
    pub algorithm: Algorithm,
    /// Set for `RequestHash`.
    pub hash_on: Option<HashOn>,
    pub health_check: Option<FarmHealthCheck>,
    /// Cookie affinity: cookie name and lifetime (seconds).
    pub affinity_cookie: Option<(String, u64)>,
    /// `protocol timeout` (30 s by default).
    pub timeout_ms: u64,
    pub preserve_host: bool,
    pub reverse_rewrite: bool,
    /// `xForwardedForHeaderName` (lowercase); `None` when empty.
    pub xff_header: Option<String>,
    pub xff_port: bool,
}

/// The server-level `timeout` (120 s when absent).
pub fn server_timeout_ms(proxy: Option<&ProxySettings>) -> u64 {
    proxy
        .and_then(|p| p.timeout.as_deref())
        .and_then(parse_timespan)
        .and_then(TimeSpan::as_millis)
        .unwrap_or(SERVER_TIMEOUT_MS)
}

/// The X-Forwarded-For header name ARR uses: `None` when configured empty.
pub fn xff_header(settings: Option<&ProxySettings>) -> Option<String> {
    match settings
        .and_then(|p| p.x_forwarded_for_header_name.as_deref())
        .map(str::trim)
    {
        None => Some("x-forwarded-for".into()),
        Some("") => None,
        Some(h) => Some(h.to_ascii_lowercase()),
    }
}

/// Collects errors and warnings while farms are validated.
pub(crate) struct Check<'a> {
    pub errs: &'a mut Vec<ConfigError>,
    pub warnings: &'a mut Vec<Warning>,
}

impl Check<'_> {
    /// Validates a `timeout`-like timeSpan within ARR's range; returns milliseconds.
    fn timeout(&mut self, at: Location, value: Option<&str>, default: u64) -> u64 {
        let Some(v) = value else { return default };
        match parse_timespan(v).map(TimeSpan::as_millis) {
            Some(Some(ms)) if (TIMEOUT_RANGE_MS.0..=TIMEOUT_RANGE_MS.1).contains(&ms) => ms,
            Some(_) => {
                self.errs.push(ConfigError::OutOfRange {
                    at,
                    value: v.to_string(),
                    allowed: "00:00:01 to 1.00:00:00",
                });
                default
            }
            None => {
                self.errs.push(ConfigError::UnknownValue {
                    at,
                    value: v.to_string(),
                    expected: "a time span hh:mm:ss",
                });
                default
            }
        }
    }

    /// Validates the server-level `<proxy>` settings.
    pub fn proxy(&mut self, proxy: &ProxySettings) {
        let at = Location::new(Section::Proxy, 0, "proxy");
        self.timeout(
            at.at(Element::Item, "timeout"),
            proxy.timeout.as_deref(),
            SERVER_TIMEOUT_MS,
        );
        self.xff_name(at.at(Element::Item, "xForwardedForHeaderName"), proxy);
        if let Some(a) = &proxy.backend_auth {
            self.backend_auth(at.at(Element::Item, "backendAuth"), a);
        }
    }

    fn xff_name(&mut self, at: Location, p: &ProxySettings) {
        if let Some(name) = p.x_forwarded_for_header_name.as_deref() {
            let n = name.trim();
            if !n.is_empty() && !n.bytes().all(is_token_byte) {
                self.errs.push(ConfigError::UnknownValue {
                    at,
                    value: name.to_string(),
                    expected: "an HTTP header name (or empty to send none)",
                });
            }
        }
    }

    fn backend_auth(&mut self, at: Location, a: &config::BackendAuth) {
        if a.user.is_empty() || a.user.contains(':') || a.user.chars().any(char::is_control) {
            self.errs.push(ConfigError::UnknownValue {
                at,
                value: a.user.clone(),
                expected: "a user name without ':' or control characters",
            });
        } else if a.password.is_empty() && a.password_env.is_none() {
            self.warnings.push(Warning {
                at,
                message: "has no password: `iis-rewrite envoy --backend-password-file F` or \
                          `--backend-password-env VAR` supplies it"
                    .into(),
            });
        }
    }

    /// Validates every farm; returns the enabled ones.
    pub fn farms(&mut self, config: &FilterConfig) -> Vec<Farm> {
        let mut out: Vec<Farm> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for (i, f) in config.web_farms.iter().enumerate() {
            let at = Location::new(Section::WebFarms, i, &f.name);
            let name = f.name.trim();
            if name.is_empty() {
                self.errs.push(ConfigError::Missing {
                    at: at.at(Element::Item, "name"),
                });
                continue;
            }
            if !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
            {
                self.errs.push(ConfigError::UnknownValue {
                    at: at.at(Element::Item, "name"),
                    value: f.name.clone(),
                    expected: "a farm name usable as a URL host (letters, digits, '-', '.', '_')",
                });
                continue;
            }
            if names.iter().any(|o| o.eq_ignore_ascii_case(name)) {
                self.errs.push(ConfigError::DuplicateName {
                    at: at.at(Element::Item, "name"),
                    name: name.to_string(),
                });
                continue;
            }
            names.push(name.to_string());
            if let Some(farm) = self.farm(f, name, &at) {
                out.push(farm);
            }
        }
        out
    }

    fn farm(&mut self, f: &config::WebFarm, name: &str, at: &Location) -> Option<Farm> {
        let errors_before = self.errs.len();
        let servers = self.servers(f, at);
        let server_errors = self.errs.len() > errors_before;
        let lb = f.load_balancing.clone().unwrap_or_default();
        let lb_at = |a| at.at(Element::LoadBalancing, a);
        let algorithm = match lb.algorithm.as_deref() {
            None => Algorithm::WeightedRoundRobin,
            Some(v) => Algorithm::parse(v).unwrap_or_else(|| {
                self.errs.push(ConfigError::UnknownValue {
                    at: lb_at("algorithm"),
                    value: v.to_string(),
                    expected: Algorithm::NAMES,
                });
                Algorithm::WeightedRoundRobin
            }),
        };
        let hash_on = (algorithm == Algorithm::RequestHash).then(|| {
            let query: Vec<String> = lb
                .query_string_names
                .as_deref()
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            match lb.hash_server_variable.as_deref().map(str::trim) {
                Some(v) if !v.is_empty() => match hash_variable(v) {
                    Some(h) => h,
                    None => {
                        self.errs.push(ConfigError::Unsupported {
                            at: lb_at("hashServerVariable"),
                            what: format!(
                                "hashing on server variable \"{v}\" (Envoy can hash on HTTP_* \
                                 headers, HTTP_HOST, REMOTE_ADDR and the URL)"
                            ),
                        });
                        HashOn::Url
                    }
                },
                _ if !query.is_empty() => HashOn::QueryNames(query),
                _ => HashOn::Url,
            }
        });
        let health_check = f
            .health_check
            .as_ref()
            .and_then(|h| self.health_check(h, at));
        let affinity_cookie = f.affinity.as_ref().and_then(|a| {
            let aat = |x| at.at(Element::Affinity, x);
            let ttl = self.timeout(aat("timeout"), a.timeout.as_deref(), 20 * 60_000) / 1000;
            if !a.use_cookie.unwrap_or(false) {
                return None;
            }
            let cookie = a.cookie_name.as_deref().unwrap_or("ARRAffinity").trim();
            if cookie.is_empty() || !cookie.bytes().all(is_token_byte) {
                self.errs.push(ConfigError::UnknownValue {
                    at: aat("cookieName"),
                    value: cookie.to_string(),
                    expected: "a cookie name (an HTTP token)",
                });
                return None;
            }
            Some((cookie.to_string(), ttl))
        });
        let protocol = f.protocol.clone().unwrap_or_default();
        let pat = |a| at.at(Element::Protocol, a);
        let timeout_ms = self.timeout(pat("timeout"), protocol.timeout.as_deref(), FARM_TIMEOUT_MS);
        self.xff_name(pat("xForwardedForHeaderName"), &protocol);
        if let Some(a) = &protocol.backend_auth {
            self.backend_auth(pat("backendAuth"), a);
        }
        let preserve_host = protocol.preserve_host_header.unwrap_or(true);
        if !f.enabled.unwrap_or(true) {
            return None;
        }
        if servers.is_empty() && !server_errors {
            self.warnings.push(Warning {
                at: at.clone(),
                message: "has no enabled server: requests routed to it get 502, as ARR answers \
                          (502.4)"
                    .into(),
            });
        }
        Some(Farm {
            name: name.to_string(),
            servers,
            algorithm,
            hash_on,
            health_check,
            affinity_cookie,
            timeout_ms,
            preserve_host,
            reverse_rewrite: protocol
                .reverse_rewrite_host_in_response_headers
                .unwrap_or(false),
            xff_header: xff_header(Some(&protocol)),
            xff_port: protocol.include_port_in_x_forwarded_for.unwrap_or(true),
        })
    }

    fn servers(&mut self, f: &config::WebFarm, at: &Location) -> Vec<FarmMember> {
        let mut out = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for (n, s) in f.servers.iter().enumerate() {
            let sat = |a| at.at(Element::FarmServer(n), a);
            let raw = s.address.trim();
            let address = raw
                .strip_prefix('[')
                .and_then(|a| a.strip_suffix(']'))
                .unwrap_or(raw)
                .to_ascii_lowercase();
            if address.is_empty() {
                self.errs.push(ConfigError::Missing { at: sat("address") });
                continue;
            }
            let ok = address.parse::<std::net::IpAddr>().is_ok()
                || address.split('.').all(|l| {
                    !l.is_empty()
                        && l.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                });
            if !ok {
                self.errs.push(ConfigError::UnknownValue {
                    at: sat("address"),
                    value: s.address.clone(),
                    expected: "a host name or an IP address (no scheme, no port)",
                });
                continue;
            }
            if seen.contains(&address) {
                self.errs.push(ConfigError::DuplicateName {
                    at: sat("address"),
                    name: s.address.clone(),
                });
                continue;
            }
            seen.push(address.clone());
            let mut port = |v: Option<u16>, attr: &'static str, default: u16| match v {
                Some(0) => {
                    self.errs.push(ConfigError::OutOfRange {
                        at: sat(attr),
                        value: "0".into(),
                        allowed: "1 to 65535",
                    });
                    default
                }
                Some(p) => p,
                None => default,
            };
            let http_port = port(s.http_port, "httpPort", 80);
            let https_port = port(s.https_port, "httpsPort", 443);
            let weight = match s.weight {
                Some(w) if !(1..=1_000_000).contains(&w) => {
                    self.errs.push(ConfigError::OutOfRange {
                        at: sat("weight"),
                        value: w.to_string(),
                        allowed: "1 to 1000000",
                    });
                    100
                }
                Some(w) => w,
                None => 100,
            };
            if !s.enabled.unwrap_or(true) {
                continue;
            }
            out.push(FarmMember {
                address,
                http_port,
                https_port,
                weight,
                host_name: s
                    .host_name
                    .as_deref()
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(str::to_ascii_lowercase),
            });
        }
        out
    }

    fn health_check(&mut self, h: &config::HealthCheck, at: &Location) -> Option<FarmHealthCheck> {
        let hat = |a| at.at(Element::HealthCheck, a);
        let interval_ms = self.timeout(hat("interval"), h.interval.as_deref(), 30_000);
        let timeout_ms = self.timeout(hat("timeout"), h.timeout.as_deref(), 30_000);
        let statuses = match h.status_code_match.as_deref() {
            None => vec![(200, 399)],
            Some(v) => match parse_status_ranges(v) {
                Some(r) => r,
                None => {
                    self.errs.push(ConfigError::UnknownValue {
                        at: hat("statusCodeMatch"),
                        value: v.to_string(),
                        expected: "status codes or ranges 100-999, comma-separated (200-399)",
                    });
                    vec![(200, 399)]
                }
            },
        };
        let url = h.url.as_deref().map(str::trim).unwrap_or("");
        if url.is_empty() {
            return None;
        }
        let Some(u) =
            crate::engine::url::parse_absolute(url).filter(|u| !u.scheme.starts_with("ws"))
        else {
            self.errs.push(ConfigError::UnknownValue {
                at: hat("url"),
                value: url.to_string(),
                expected: "an absolute http:// or https:// URL",
            });
            return None;
        };
        let path = if u.rest.is_empty() {
            "/".to_string()
        } else if u.rest.starts_with('/') {
            u.rest.to_string()
        } else {
            format!("/{}", u.rest)
        };
        Some(FarmHealthCheck {
            path,
            host: u.authority.to_string(),
            interval_ms,
            timeout_ms,
            statuses,
            response_match: h.response_match.clone().filter(|m| !m.is_empty()),
        })
    }
}

/// `statusCodeMatch`: `200-399`, `200,302`, `500-` (up to 999).
pub fn parse_status_ranges(v: &str) -> Option<Vec<(u16, u16)>> {
    let mut out = Vec::new();
    for part in v.split(',').map(str::trim) {
        let code = |s: &str| {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=999).contains(c))
        };
        let (lo, hi) = match part.split_once('-') {
            Some((a, "")) => (code(a)?, 999),
            Some((a, b)) => (code(a)?, code(b)?),
            None => (code(part)?, code(part)?),
        };
        if lo > hi {
            return None;
        }
        out.push((lo, hi));
    }
    Some(out)
}

/// What `hashServerVariable` can be in Envoy.
fn hash_variable(v: &str) -> Option<HashOn> {
    let upper = v.to_ascii_uppercase();
    match upper.as_str() {
        "REMOTE_ADDR" | "REMOTE_HOST" => Some(HashOn::ClientIp),
        "HTTP_HOST" | "SERVER_NAME" => Some(HashOn::Header(":authority".into())),
        "URL" | "PATH_INFO" | "SCRIPT_NAME" | "REQUEST_URI" | "HTTP_URL" | "UNENCODED_URL" => {
            Some(HashOn::Url)
        }
        _ => {
            let h = upper.strip_prefix("HTTP_")?;
            (!h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
                .then(|| HashOn::Header(h.replace('_', "-").to_ascii_lowercase()))
        }
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn status_ranges() {
        assert_eq!(parse_status_ranges("200-399"), Some(vec![(200, 399)]));
        assert_eq!(
            parse_status_ranges("200, 302-304"),
            Some(vec![(200, 200), (302, 304)])
        );
        assert_eq!(parse_status_ranges("500-"), Some(vec![(500, 999)]));
        for bad in ["", "abc", "399-200", "99", "1000", "200-1000"] {
            assert_eq!(parse_status_ranges(bad), None, "{bad}");
        }
    }

    #[test]
    fn hash_variables() {
        assert_eq!(
            hash_variable("HTTP_X_USER_ID"),
            Some(HashOn::Header("x-user-id".into()))
        );
        assert_eq!(hash_variable("remote_addr"), Some(HashOn::ClientIp));
        assert_eq!(
            hash_variable("HTTP_HOST"),
            Some(HashOn::Header(":authority".into()))
        );
        assert_eq!(hash_variable("QUERY_STRING_X"), None);
        assert_eq!(hash_variable("HTTP_"), None);
    }
}
