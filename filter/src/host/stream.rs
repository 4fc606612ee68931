//! One HTTP stream through the filter: turns a [`Decision`] into host operations. Every host
//! operation goes through the [`Host`] trait, so this logic (what is read, what is written, in
//! which phase, how many host calls a request costs) runs natively in tests against a recording
//! host; `host::proxy_wasm` implements `Host` with one proxy-wasm call per method.
//!
//! Envoy facts relied on (each checked by an e2e contract test, tests/e2e/test_contract.py):
//! editing `:path` or any request header re-selects the route (ABI 0.2.1); the upstream is
//! chosen by a `cluster_header` route reading the header we set; our own local replies still
//! pass `on_http_response_headers`; request headers must not be touched after the request phase.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::rc::Rc;

use crate::engine::decision::{ClientOrigin, Decision, HeaderEdit, Outcome};
use crate::engine::model::Engine;
use crate::engine::plugin::{metric_names, Plugin, METADATA_KEY, METADATA_NAMESPACE};
use crate::engine::request::{Property, RequestFacts};
use crate::engine::response::ResponseFacts;
use crate::host::body::{self, ResponseBody};
use crate::host::set_cookie;
use crate::host::{Counter, HeaderMap, Host, SetMetrics, Verdict};
/// The property path of a request fact.
fn property_path(p: Property) -> &'static [&'static str] {
    match p {
        Property::SourceAddress => &["source", "address"],
        Property::DestinationAddress => &["destination", "address"],
        Property::TlsVersion => &["connection", "tls_version"],
        Property::Protocol => &["request", "protocol"],
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum FactKey<'k> {
    Header(&'k str),
    Property(Property),
}

/// How many distinct values one phase caches (the Jellyfin sets read at most 8 request and 10
/// response values); a value beyond them is fetched again when asked for again.
const CACHE_SLOTS: usize = 24;

/// Values fetched from the host, each at most once per phase, lent out without a copy. The
/// slots are write-once cells, so a value stays put while borrowed.
struct Cache<K> {
    slots: [OnceCell<(K, Option<Vec<u8>>)>; CACHE_SLOTS],
}

impl<K: PartialEq> Cache<K> {
    fn new() -> Self {
        Cache {
            slots: std::array::from_fn(|_| OnceCell::new()),
        }
    }

    /// The cached value whose key `is` recognises, else `fetch`ed and cached under `key()`.
    fn get_or_fetch(
        &self,
        is: impl Fn(&K) -> bool,
        key: impl FnOnce() -> K,
        fetch: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Option<Cow<'_, [u8]>> {
        for slot in &self.slots {
            match slot.get() {
                Some((k, v)) if is(k) => return v.as_deref().map(Cow::Borrowed),
                Some(_) => continue,
                None => {
                    let value = fetch();
                    let (_, v) = slot.get_or_init(|| (key(), value));
                    return v.as_deref().map(Cow::Borrowed);
                }
            }
        }
        fetch().map(Cow::Owned)
    }
}

/// Request facts fetched from the host lazily, each at most once per request: headers one call
/// each, or, in bulk mode, all of them in one call on the first read.
struct HostFacts<'h> {
    host: &'h dyn Host,
    /// Every request header, when read in one call (bulk mode only).
    all: Option<OnceCell<HeaderMap>>,
    cache: Cache<FactKey<'static>>,
    /// Header names the engine asked for that are not `'static` (rare: every name the engine
    /// reads is known when it compiles, but the trait passes `&str`).
    dynamic: Cache<String>,
}

impl<'h> HostFacts<'h> {
    fn new(host: &'h dyn Host, bulk: bool) -> Self {
        HostFacts {
            host,
            all: bulk.then(OnceCell::new),
            cache: Cache::new(),
            dynamic: Cache::new(),
        }
    }

    /// Every request header, if they were read in one call.
    fn into_pairs(self) -> Option<HeaderMap> {
        self.all.and_then(OnceCell::into_inner)
    }
}

impl RequestFacts for HostFacts<'_> {
    fn header(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        let host = self.host;
        if let Some(all) = &self.all {
            return first_value(all.get_or_init(|| host.request_headers()), name);
        }
        match static_header_name(name) {
            Some(name) => self.cache.get_or_fetch(
                |k| *k == FactKey::Header(name),
                || FactKey::Header(name),
                || host.request_header(name),
            ),
            None => self.dynamic.get_or_fetch(
                |k| k == name,
                || name.to_string(),
                || host.request_header(name),
            ),
        }
    }
    fn property(&self, property: Property) -> Option<Cow<'_, [u8]>> {
        let host = self.host;
        self.cache.get_or_fetch(
            |k| *k == FactKey::Property(property),
            || FactKey::Property(property),
            || host.property(property_path(property)),
        )
    }
}

/// The request headers every configuration reads, as `'static` keys (no allocation per lookup).
fn static_header_name(name: &str) -> Option<&'static str> {
    const COMMON: [&str; 8] = [
        ":path",
        ":authority",
        ":method",
        ":scheme",
        "user-agent",
        "x-forwarded-for",
        "x-iis-rewrite-upstream",
        "cookie",
    ];
    COMMON.iter().copied().find(|c| *c == name)
}

/// Response headers fetched from the host lazily: one call per header, or, when the rules read
/// several, all of them in one call (one VM exit instead of many).
struct HostResponse<'h> {
    host: &'h dyn Host,
    bulk: bool,
    all: OnceCell<HeaderMap>,
    cache: Cache<String>,
}

impl<'h> HostResponse<'h> {
    fn new(host: &'h dyn Host, bulk: bool) -> Self {
        HostResponse {
            host,
            bulk,
            all: OnceCell::new(),
            cache: Cache::new(),
        }
    }
}

impl HostResponse<'_> {
    /// Every response header, if they were read in one call.
    fn pairs(&self) -> Option<&HeaderMap> {
        self.all.get()
    }
}

impl ResponseFacts for HostResponse<'_> {
    fn header(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        let host = self.host;
        if self.bulk {
            return first_value(self.all.get_or_init(|| host.response_headers()), name);
        }
        self.cache.get_or_fetch(
            |k| k == name,
            || name.to_string(),
            || host.response_header(name),
        )
    }
}

/// The first value of a repeated header, as a single-header read returns.
fn first_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<Cow<'a, [u8]>> {
    headers.first(name).map(Cow::Borrowed)
}

/// From this many response headers read per response on, they are fetched in one call.
const BULK_RESPONSE_READS: usize = 3;

/// Writes one phase's header edits (a name and its new value, `None` removing it), one host
/// call per header that changes. `read`: the phase's headers if they were read in one call;
/// an edit that would leave them as they are is then skipped, so a request the rules do not
/// change costs no write (nor a route-cache clear), and a header they do not hold is added
/// (`add`) rather than replaced (`replace`), which spares Envoy the search for values to drop.
/// One call per header, not one for the whole map: measured in Envoy with the Jellyfin advanced
/// rules, rewriting the map (`proxy_set_header_map_pairs`) cost 3–6 µs more per request than the
/// single replaces (docs/benchmarks.md).
fn write_headers<'e>(
    read: Option<&HeaderMap>,
    edits: impl Iterator<Item = (&'e str, Option<&'e str>)> + Clone,
    replace: impl Fn(&str, Option<&str>),
    add: impl Fn(&str, &str),
) {
    for (i, (name, value)) in edits.clone().enumerate() {
        let edited_before = edits
            .clone()
            .take(i)
            .any(|(n, _)| n.eq_ignore_ascii_case(name));
        let write = match read {
            Some(headers) if !edited_before => write_for(headers, name, value),
            _ => Write::Replace,
        };
        match (write, value) {
            (Write::Add, Some(v)) => add(name, v),
            (Write::Add | Write::Replace, _) => replace(name, value),
            (Write::Nothing, _) => {}
        }
    }
}

/// What setting `name` to `value` (`None`: removing it) takes, given the headers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// The header already is that (one entry with the value, or absent for a removal).
    Nothing,
    /// The header is absent: one value added.
    Add,
    /// Every value of the header replaced by the new one, or removed.
    Replace,
}

fn write_for(headers: &HeaderMap, name: &str, value: Option<&str>) -> Write {
    let mut values = headers.values(name);
    match (values.next(), value) {
        (None, None) => Write::Nothing,
        (None, Some(_)) => Write::Add,
        (Some(first), Some(new)) if first == new.as_bytes() && values.next().is_none() => {
            Write::Nothing
        }
        (Some(_), _) => Write::Replace,
    }
}

/// The state of one stream.
pub struct Stream {
    plugin: Rc<Plugin>,
    metrics: Option<Rc<Vec<SetMetrics>>>,
    /// The rule set serving this request (chosen in the request phase).
    engine: Option<Rc<Engine>>,
    /// Response headers the inbound rules set (`RESPONSE_*`), applied in the response phase.
    response_edits: Vec<HeaderEdit>,
    /// Request-side values the outbound rules read.
    snapshot: Vec<String>,
    /// For a proxied request: the client's scheme and host, for reverse rewriting.
    origin: Option<ClientOrigin>,
    /// The filter answered this request itself.
    local_reply: bool,
    /// The request went to an upstream through ARR proxying.
    proxied: bool,
    /// The body rewrite of this response, when body rules apply to it (`host::body`).
    body: Option<ResponseBody>,
}

impl Stream {
    /// A stream served by one rule set (tests; the glue serves a plugin).
    #[cfg(test)]
    pub fn new(engine: Rc<Engine>) -> Self {
        Self::for_plugin(Rc::new(Plugin::single(engine)), None)
    }

    /// A stream of a (possibly multi-site) plugin; `metrics` has one entry per rule set.
    pub fn for_plugin(plugin: Rc<Plugin>, metrics: Option<Rc<Vec<SetMetrics>>>) -> Self {
        Stream {
            plugin,
            metrics,
            engine: None,
            response_edits: Vec::new(),
            snapshot: Vec::new(),
            origin: None,
            local_reply: false,
            proxied: false,
            body: None,
        }
    }

    /// Chooses the rule set, evaluates the inbound rules and applies the decision.
    pub fn on_request_headers(&mut self, host: &dyn Host) -> Verdict {
        // Route metadata is read before any header changes (a change re-selects the route).
        let route_set = if self.plugin.is_multi() {
            host.property(&[
                "xds",
                "route_metadata",
                "filter_metadata",
                METADATA_NAMESPACE,
                METADATA_KEY,
            ])
        } else {
            None
        };
        let (set_index, engine) = match self.plugin.select(route_set.as_deref()) {
            Ok(Some((i, e))) => (i, Rc::clone(e)),
            Ok(None) => {
                // No rule set serves this route: only keep clients from choosing a cluster.
                for h in self.plugin.upstream_headers() {
                    if host.request_header(h).is_some() {
                        host.set_request_header(h, None);
                    }
                }
                return Verdict::Continue;
            }
            Err(name) => {
                log::warn!("iis-rewrite: route names rule set \"{name}\", which the plugin configuration does not have");
                self.local_reply = true;
                host.send_response(
                    500,
                    &[("content-type", "text/plain; charset=utf-8")],
                    b"iis-rewrite: unknown rule set\n",
                );
                return Verdict::Stop;
            }
        };
        // Bulk mode when rules may read and write several headers: one read of the whole map
        // costs about as much as three or four single reads, and a write of several headers
        // needs the whole map anyway.
        let facts = HostFacts::new(host, engine.rule_count() > 0);
        let decision = engine.inbound(&facts);
        if let Some(m) = self.metrics.as_ref().and_then(|m| m.get(set_index)) {
            for &i in &decision.fired_rules {
                m.rule_hits.get(i).map(Counter::hit);
            }
            m.actions
                .get(metric_names::action_index(&decision.outcome))
                .map(Counter::hit);
        }
        self.engine = Some(engine);
        log::debug!(
            "iis-rewrite: rules {:?} -> {:?}",
            decision.matched_rules,
            decision.outcome
        );
        let path_unchanged = new_path(&decision.outcome)
            .is_some_and(|p| facts.header(":path").as_deref() == Some(p.as_bytes()));
        self.apply(host, decision, path_unchanged, facts.into_pairs())
    }

    fn apply(
        &mut self,
        host: &dyn Host,
        decision: Decision,
        path_unchanged: bool,
        request_pairs: Option<HeaderMap>,
    ) -> Verdict {
        let Decision {
            outcome,
            request_headers,
            response_headers,
            outbound_snapshot,
            reverse_rewrite,
            ..
        } = decision;
        self.snapshot = outbound_snapshot;
        self.origin = reverse_rewrite;
        self.proxied = matches!(outcome, Outcome::Proxy { .. });
        match outcome {
            Outcome::Continue | Outcome::Rewrite { .. } | Outcome::Proxy { .. } => {
                // After the rules' own edits: the upstream cluster and Host of a proxied
                // request, then the new path.
                let (upstream, authority) = match &outcome {
                    Outcome::Proxy {
                        cluster, authority, ..
                    } => (
                        self.engine
                            .as_ref()
                            .map(|engine| (engine.upstream_header(), Some(cluster.as_str()))),
                        authority.as_deref().map(|a| (":authority", Some(a))),
                    ),
                    _ => (None, None),
                };
                let path = new_path(&outcome)
                    .filter(|_| !path_unchanged)
                    .map(|p| (":path", Some(p)));
                let edits = request_headers
                    .iter()
                    .map(|e| (&*e.name, e.value.as_deref()))
                    .chain([upstream, authority, path].into_iter().flatten());
                write_headers(
                    request_pairs.as_ref(),
                    edits,
                    |name, value| host.set_request_header(name, value),
                    |name, value| host.add_request_header(name, value),
                );
                self.response_edits = response_headers;
                Verdict::Continue
            }
            Outcome::Redirect { status, location } => {
                self.local_reply = true;
                send_local_reply(
                    host,
                    status,
                    ("location", &location),
                    &response_headers,
                    b"",
                );
                Verdict::Stop
            }
            Outcome::CustomResponse { status, body, .. } => {
                self.local_reply = true;
                let content_type = ("content-type", "text/plain; charset=utf-8");
                send_local_reply(
                    host,
                    status,
                    content_type,
                    &response_headers,
                    body.as_bytes(),
                );
                Verdict::Stop
            }
            Outcome::Abort => {
                self.local_reply = true;
                host.reset_stream();
                Verdict::Stop
            }
            Outcome::Refuse { status, reason } => {
                self.local_reply = true;
                log::debug!("iis-rewrite: request refused ({status}): {reason}");
                let body = format!("{reason}\n");
                let content_type = ("content-type", "text/plain; charset=utf-8");
                send_local_reply(host, status, content_type, &[], body.as_bytes());
                Verdict::Stop
            }
        }
    }

    /// Applies what the response phase owes: the inbound `RESPONSE_*` sets, customHeaders and
    /// outbound rules. It runs for upstream responses and for the filter's own local replies
    /// (whose headers already carry the inbound sets), not after an AbortRequest.
    pub fn on_response_headers(&mut self, host: &dyn Host) -> Verdict {
        let Some(engine) = self.engine.clone() else {
            return Verdict::Continue;
        };
        let preset = if self.local_reply {
            Vec::new()
        } else {
            std::mem::take(&mut self.response_edits)
        };
        let reads = engine.response_reads(self.proxied && self.origin.is_some());
        let response = HostResponse::new(host, reads >= BULK_RESPONSE_READS);
        // ARR traces backend redirects; so do we, at debug level (and only then read Location).
        if self.proxied && log::log_enabled!(log::Level::Debug) {
            if let Some(location) = response.header("location") {
                let status = response.header(":status").unwrap_or_default();
                log::debug!(
                    "iis-rewrite: backend redirect {} Location: {}",
                    String::from_utf8_lossy(&status),
                    String::from_utf8_lossy(&location)
                );
            }
        }
        let edits = if engine.has_outbound() || self.origin.is_some() {
            engine.outbound_for_proxied(&response, &self.snapshot, &preset, self.origin.as_ref())
        } else {
            preset
        };
        let writes = edits.iter().map(|e| (&*e.name, e.value.as_deref()));
        write_headers(
            response.pairs(),
            writes,
            |name, value| host.set_response_header(name, value),
            |name, value| host.add_response_header(name, value.as_bytes()),
        );
        if let (true, Some(origin)) = (self.proxied, &self.origin) {
            // The headers read before the writes, unless an outbound rule changed the cookies.
            let cookies_written = edits
                .iter()
                .any(|e| e.name.eq_ignore_ascii_case("set-cookie"));
            let read = if cookies_written {
                None
            } else {
                response.pairs()
            };
            set_cookie::reverse_rewrite(host, &response, read, origin);
        }
        if !self.local_reply {
            self.body = body::decide(&engine, host, &response, &self.snapshot, &edits);
        }
        Verdict::Continue
    }

    /// A chunk of the response body: rewritten when body rules apply to this response, else
    /// left alone without a host call.
    pub fn on_response_body(&mut self, host: &dyn Host, size: usize, end_of_stream: bool) {
        if let Some(body) = &mut self.body {
            body.on_chunk(host, size, end_of_stream);
        }
    }

    /// The response trailers: the end of a body that was being rewritten.
    pub fn on_response_trailers(&mut self, host: &dyn Host) {
        if let Some(body) = &mut self.body {
            body.on_trailers(host);
        }
    }
}

/// The `:path` an outcome sends the request on with, if it changes it.
fn new_path(outcome: &Outcome) -> Option<&str> {
    match outcome {
        Outcome::Rewrite { path } | Outcome::Proxy { path, .. } => Some(path),
        _ => None,
    }
}

/// Sends a reply made by the filter: `first`, then the response headers the rules set (a
/// removal has nothing to send).
fn send_local_reply(
    host: &dyn Host,
    status: u16,
    first: (&str, &str),
    edits: &[HeaderEdit],
    body: &[u8],
) {
    let headers: Vec<(&str, &str)> = std::iter::once(first)
        .chain(
            edits
                .iter()
                .filter_map(|e| Some((&*e.name, e.value.as_deref()?))),
        )
        .collect();
    host.send_response(u32::from(status), &headers, body);
}

#[cfg(test)]
mod response_tests {
    use super::*;
    use crate::host::recording::*;

    const CONFIG: &str = r#"{
      "rules": [{"name": "r", "match": {"url": "^$"}, "action": {"type": "Redirect", "url": "/web/", "redirectType": "Found"}}],
      "outboundRules": {"rules": [{"name": "csp", "match": {"serverVariable": "RESPONSE_Content_Security_Policy", "pattern": ".*"},
         "conditions": {"items": [{"input": "{HTTP_USER_AGENT}", "pattern": "Web0S", "negate": true}]},
         "action": {"type": "Rewrite", "value": "default-src 'self'"}}]},
      "customHeaders": [{"name": "X-Frame-Options", "value": "SAMEORIGIN"}]
    }"#;

    #[test]
    fn response_phase_never_reads_request_headers_and_reads_each_response_header_once() {
        let mut s = stream(CONFIG);
        let host = RecordingHost::request("/web/index.html", "h");
        host.request
            .borrow_mut()
            .push(("user-agent".into(), b"Firefox".to_vec()));
        s.on_request_headers(&host);
        let request_calls = host.calls.borrow().len();
        s.on_response_headers(&host);
        let calls: Vec<String> = host.calls.borrow()[request_calls..].to_vec();
        assert!(calls.iter().all(|c| !c.contains("request")), "{calls:?}");
        // One read (x-frame-options: a custom header is added to what the backend sent), two
        // writes. content-security-policy is not read: its rule matches `.*` and sets a
        // constant, so the backend's value cannot change the outcome.
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert_eq!(host.response.borrow().len(), 2);
    }

    #[test]
    fn custom_headers_and_outbound_rules_apply_to_our_own_redirects() {
        let mut s = stream(CONFIG);
        let host = RecordingHost::request("/", "h");
        assert_eq!(s.on_request_headers(&host), Verdict::Stop);
        // Envoy runs the response callback for the filter's own local reply.
        s.on_response_headers(&host);
        let names: Vec<String> = host
            .response
            .borrow()
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        assert_eq!(names, ["x-frame-options", "content-security-policy"]);
    }
}

#[cfg(test)]
mod plugin_tests {
    use super::*;
    use crate::host::flush_counters;
    use crate::host::recording::*;

    const SITES: &str = r#"{"ruleSets": {
        "media": {"rules": [{"name": "to media", "match": {"url": ".*"},
                             "action": {"type": "Rewrite", "url": "http://127.0.0.1:8096/{R:0}"}}]},
        "vnc": {"rules": [{"name": "to vnc", "match": {"url": ".*"},
                           "action": {"type": "Rewrite", "url": "http://127.0.0.1:6080/{R:0}"}}]}
      }, "defaultRuleSet": "media"}"#;

    fn ids(range: std::ops::Range<u32>) -> Vec<Counter> {
        range.map(Counter::new).collect()
    }

    fn metrics() -> Rc<Vec<SetMetrics>> {
        Rc::new(vec![
            SetMetrics {
                rule_hits: ids(10..11),
                actions: ids(20..27),
            },
            SetMetrics {
                rule_hits: ids(30..31),
                actions: ids(40..47),
            },
        ])
    }

    fn plugin_stream(metrics: Option<Rc<Vec<SetMetrics>>>) -> Stream {
        let (plugin, _) = Plugin::from_json(SITES.as_bytes()).unwrap();
        Stream::for_plugin(Rc::new(plugin), metrics)
    }

    fn with_route_set(host: RecordingHost, set: &str) -> RecordingHost {
        let mut host = host;
        host.properties.push((
            vec![
                "xds",
                "route_metadata",
                "filter_metadata",
                "iis.rewrite",
                "ruleSet",
            ],
            set.as_bytes().to_vec(),
        ));
        host
    }

    #[test]
    fn each_route_gets_its_rule_set() {
        let host = with_route_set(RecordingHost::request("/x", "h"), "vnc");
        plugin_stream(None).on_request_headers(&host);
        assert_eq!(
            host.req("x-iis-rewrite-upstream").as_deref(),
            Some("iis|http|127.0.0.1|6080")
        );
        // The route metadata is read before anything is written.
        assert!(host.calls.borrow()[0].starts_with("get_property xds.route_metadata"));

        let host = RecordingHost::request("/x", "h");
        plugin_stream(None).on_request_headers(&host);
        assert_eq!(
            host.req("x-iis-rewrite-upstream").as_deref(),
            Some("iis|http|127.0.0.1|8096")
        );

        let host = with_route_set(RecordingHost::request("/x", "h"), "nope");
        assert_eq!(plugin_stream(None).on_request_headers(&host), Verdict::Stop);
        assert_eq!(host.sent.borrow().as_ref().map(|s| s.0), Some(500));
    }

    #[test]
    fn counters_per_rule_and_action_reach_the_host_in_bulk_when_flushed() {
        let metrics = metrics();
        for _ in 0..3 {
            let host = with_route_set(RecordingHost::request("/x", "h"), "vnc");
            plugin_stream(Some(Rc::clone(&metrics))).on_request_headers(&host);
            assert_eq!(host.calls_of("add_to_counter"), 0, "counted in the module");
        }
        let host = RecordingHost::request("/x", "h");
        plugin_stream(Some(Rc::clone(&metrics))).on_request_headers(&host);

        let host = RecordingHost::default();
        flush_counters(&metrics, &host);
        // Rule "to media" (10) and the "proxy" action of set media (20 + 2) once, rule
        // "to vnc" (30) and the "proxy" action of set vnc (40 + 2) three times.
        assert_eq!(
            *host.calls.borrow(),
            [
                "add_to_counter 10 1",
                "add_to_counter 22 1",
                "add_to_counter 30 3",
                "add_to_counter 42 3"
            ]
        );
        // A flush leaves nothing behind: the next one has nothing to add.
        let host = RecordingHost::default();
        flush_counters(&metrics, &host);
        assert!(host.calls.borrow().is_empty());
    }
}

/// Host calls per request for the shipped rule sets (printed by `scripts/bench.sh`): each host
/// call is a VM exit and a copy across the boundary, the largest share of a proxy-wasm filter's
/// cost after the VM entry itself.
#[cfg(test)]
mod host_call_tests {
    use super::*;
    use crate::host::recording::*;

    fn case_config(text: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        v["config"].to_string()
    }

    /// Runs one request and its response with per-rule and per-action counters defined, as
    /// the glue runs it; returns (request-phase calls, response-phase calls).
    fn count(config: &str) -> (Vec<String>, Vec<String>) {
        let (plugin, _) = Plugin::from_json(config.as_bytes()).unwrap();
        let metrics: Vec<SetMetrics> = plugin
            .sets()
            .iter()
            .map(|(_, e)| SetMetrics {
                rule_hits: (0..e.rule_count() as u32)
                    .map(|i| Counter::new(100 + i))
                    .collect(),
                actions: (0..metric_names::ACTION_KINDS.len() as u32)
                    .map(Counter::new)
                    .collect(),
            })
            .collect();
        let mut s = Stream::for_plugin(Rc::new(plugin), Some(Rc::new(metrics)));
        let host = RecordingHost::request("/web/index.html?v=10.9", "jellyfin.example.com");
        host.request.borrow_mut().push((
            "user-agent".into(),
            b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0".to_vec(),
        ));
        assert_eq!(s.on_request_headers(&host), Verdict::Continue);
        let request: Vec<String> = host.calls.borrow().clone();
        *host.response.borrow_mut() = vec![
            (":status".into(), b"200".to_vec()),
            ("content-type".into(), b"text/html; charset=utf-8".to_vec()),
            ("content-length".into(), b"1234".to_vec()),
            ("set-cookie".into(), b"a=1".to_vec()),
            ("set-cookie".into(), b"b=2".to_vec()),
        ];
        s.on_response_headers(&host);
        let response: Vec<String> = host.calls.borrow()[request.len()..].to_vec();
        // Writes leave a repeated header the rules do not touch as it was.
        let cookies: Vec<Vec<u8>> = host
            .response
            .borrow()
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v.clone())
            .collect();
        assert_eq!(cookies, [b"a=1".to_vec(), b"b=2".to_vec()]);
        (request, response)
    }

    #[test]
    fn host_calls_per_request() {
        let sets = [
            // :path (decoded and checked even with no rule), the forged-upstream check and the
            // action counter.
            // :path and the forged-upstream check, one read each; no rule, so no bulk read.
            ("empty", r#"{"rules":[]}"#.to_string(), 2, 0),
            (
                "jellyfin-basic",
                case_config(include_str!("../../../testdata/cases/jellyfin-basic.json")),
                // Every header in one read (:path, Host), the 3 properties (TLS, client and
                // local address), the 8 header edits; the response: every header in one read,
                // the 5 customHeaders.
                12,
                6,
            ),
            (
                "jellyfin-advanced",
                case_config(include_str!(
                    "../../../testdata/cases/jellyfin-advanced.json"
                )),
                // The same (User-Agent comes with the one read); the response: one read, the
                // 4 customHeaders, X-Frame-Options, CSP and Permissions-Policy.
                12,
                8,
            ),
        ];
        for (name, config, max_request, max_response) in sets {
            let (req, resp) = count(&config);
            println!(
                "host-calls {name:18} request={:2} response={:2} total={:2}  reads={} writes={} counters={}",
                req.len(),
                resp.len(),
                req.len() + resp.len(),
                req.iter()
                    .chain(&resp)
                    .filter(|c| c.starts_with("get_"))
                    .count(),
                req.iter()
                    .chain(&resp)
                    .filter(|c| c.starts_with("set_") || c.starts_with("add_"))
                    .count(),
                req.iter()
                    .chain(&resp)
                    .filter(|c| c.starts_with("increment"))
                    .count(),
            );
            println!("  request:  {req:?}\n  response: {resp:?}");
            assert!(req.len() <= max_request, "{name}: {req:?}");
            assert!(resp.len() <= max_response, "{name}: {resp:?}");
            // No value is read twice.
            for calls in [&req, &resp] {
                let mut reads: Vec<&String> =
                    calls.iter().filter(|c| c.starts_with("get_")).collect();
                let n = reads.len();
                reads.sort();
                reads.dedup();
                assert_eq!(n, reads.len(), "{name}: a value was read twice: {calls:?}");
            }
        }
    }
}

#[cfg(test)]
mod request_tests {
    use super::*;
    use crate::host::recording::*;

    #[test]
    fn jellyfin_proxy_request_host_calls() {
        let mut s = stream(include_str!(
            "../../../testdata/jellyfin-basic-inbound.json"
        ));
        let host = RecordingHost::request("/web/?x=1", "media.example.com");
        assert_eq!(s.on_request_headers(&host), Verdict::Continue);
        assert_eq!(
            host.req("x-iis-rewrite-upstream").as_deref(),
            Some("iis|http|localhost|8096")
        );
        assert_eq!(host.req(":path").as_deref(), Some("/web/index.html?x=1"));
        assert_eq!(host.req("x-real-ip").as_deref(), Some("192.0.2.7"));
        assert_eq!(host.req("x-forwarded-port").as_deref(), Some("8080"));
        // Each fact is read once, whatever the number of rules reading it.
        let calls = host.calls.borrow().clone();
        let mut reads: Vec<&String> = calls.iter().filter(|c| c.starts_with("get_")).collect();
        let n = reads.len();
        reads.dedup();
        assert_eq!(n, reads.len(), "a fact was read twice: {calls:?}");
        // Every header in one read (:path, :authority), then TLS state, client and local
        // address.
        assert_eq!(n, 4, "{n} reads: {calls:?}");
        // Written: the 5 headers of the rules, ARR's X-Forwarded-For, x-original-url, the
        // upstream header (all absent from the request: added) and :path (replaced).
        assert_eq!(host.calls_of("add_request_header"), 8, "{calls:?}");
        assert_eq!(host.calls_of("set_request_header"), 1, "{calls:?}");
        assert_eq!(host.calls_of("set_request_header :path"), 1, "{calls:?}");
        assert_eq!(host.req(":method").as_deref(), Some("GET"), "kept");
    }

    #[test]
    fn redirect_is_a_local_reply_and_response_phase_leaves_it_alone() {
        let mut s = stream(include_str!(
            "../../../testdata/jellyfin-basic-inbound.json"
        ));
        let host = RecordingHost::request("/", "media.example.com");
        assert_eq!(s.on_request_headers(&host), Verdict::Stop);
        let (status, headers, _) = host.sent.borrow().clone().unwrap();
        assert_eq!(status, 302);
        assert!(headers.contains(&("location".into(), "/web/".into())));
        assert_eq!(host.calls_of("set_request_header"), 0);
        s.on_response_headers(&host);
        assert_eq!(host.calls_of("get_request_header"), 1, "one read of all");
        assert_eq!(host.calls_of("set_response_header"), 0);
    }

    #[test]
    fn abort_resets_the_stream() {
        let mut s = stream(
            r#"{"rules":[{"name":"a","match":{"url":"^x$"},"action":{"type":"AbortRequest"}}]}"#,
        );
        let host = RecordingHost::request("/x", "h");
        assert_eq!(s.on_request_headers(&host), Verdict::Stop);
        assert!(*host.reset.borrow());
        assert!(host.sent.borrow().is_none());
    }

    #[test]
    fn a_request_no_rule_touches_costs_few_host_calls() {
        let mut s = stream(
            r#"{"rules":[{"name":"a","match":{"url":"^api/"},"action":{"type":"Rewrite","url":"/v2/{R:0}"}}]}"#,
        );
        let host = RecordingHost::request("/index.html", "h");
        assert_eq!(s.on_request_headers(&host), Verdict::Continue);
        // All headers in one read (:path and the forged-upstream-header check); nothing
        // written.
        assert_eq!(
            *host.calls.borrow(),
            ["get_request_headers"],
            "{:?}",
            host.calls.borrow()
        );
    }

    #[test]
    fn a_request_the_rules_leave_as_it_is_costs_no_write() {
        let config = r#"{"rules":[{"name":"a","match":{"url":".*"},
               "serverVariables":[{"name":"HTTP_X_TEST","value":"1"}]}]}"#;
        let host = RecordingHost::request("/a", "h");
        host.request
            .borrow_mut()
            .push(("x-test".into(), b"1".to_vec()));
        assert_eq!(stream(config).on_request_headers(&host), Verdict::Continue);
        assert_eq!(*host.calls.borrow(), ["get_request_headers"]);

        let host = RecordingHost::request("/a", "h");
        stream(config).on_request_headers(&host);
        assert_eq!(host.calls_of("add_request_header x-test"), 1);
        assert_eq!(host.req("x-test").as_deref(), Some("1"));
    }

    #[test]
    fn inbound_response_sets_apply_in_the_response_phase() {
        let mut s = stream(
            r#"{"rules":[{"name":"a","match":{"url":".*"},
               "serverVariables":[{"name":"RESPONSE_Cache_Control","value":"no-store"}]}]}"#,
        );
        let host = RecordingHost::request("/a", "h");
        s.on_request_headers(&host);
        s.on_response_headers(&host);
        assert_eq!(
            host.response
                .borrow()
                .first()
                .map(|(n, v)| (n.clone(), v.clone())),
            Some(("cache-control".to_string(), b"no-store".to_vec()))
        );
    }
}

#[cfg(test)]
mod header_write_tests {
    use super::*;
    use crate::host::recording::*;

    fn pairs(list: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from_pairs(list.iter().map(|(n, v)| (*n, v.as_bytes())))
    }

    fn write(read: Option<&HeaderMap>, edits: &[(&str, Option<&str>)]) -> Vec<String> {
        let host = RecordingHost::request("/a", "h");
        write_headers(
            read,
            edits.iter().copied(),
            |name, value| host.set_request_header(name, value),
            |name, value| host.add_request_header(name, value),
        );
        let calls = host.calls.borrow().clone();
        calls
    }

    #[test]
    fn only_headers_that_change_are_written() {
        let read = pairs(&[(":path", "/a"), ("x-a", "1"), ("x-a", "2"), ("x-b", "b")]);
        let read = Some(&read);
        assert!(write(read, &[]).is_empty());
        // Setting what is already there, or removing what is absent, writes nothing.
        assert!(write(
            read,
            &[(":path", Some("/a")), ("X-B", Some("b")), ("x-c", None)]
        )
        .is_empty());
        assert_eq!(
            write(
                read,
                &[(":path", Some("/b")), ("x-b", None), ("x-new", Some("n"))]
            ),
            [
                "set_request_header :path",
                "set_request_header x-b",
                "add_request_header x-new"
            ]
        );
        // A repeated header set to its first value still changes (one entry is left).
        assert_eq!(
            write(read, &[("x-a", Some("1"))]),
            ["set_request_header x-a"]
        );
        // A second edit of one header is written even when it restores the value read.
        assert_eq!(
            write(read, &[("x-b", Some("c")), ("x-b", Some("b"))]),
            ["set_request_header x-b", "set_request_header x-b"]
        );
        // Headers not read in one call: every edit is written.
        assert_eq!(
            write(None, &[(":path", Some("/a")), ("x-c", None)]),
            ["set_request_header :path", "set_request_header x-c"]
        );
    }
}
