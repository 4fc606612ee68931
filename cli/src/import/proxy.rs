//! The ARR proxy settings (`system.webServer/proxy`), also used for a farm's `<protocol>`.

use iis_rewrite_filter::config::ProxySettings;
use roxmltree::Node;

use crate::diag::quote;

use super::vocab::parse_timespan;
use super::xml::{Attrs, Doc, Spans};
use super::Importer;

/// Every ARR `system.webServer/proxy` attribute (arr_schema.xml), also those of a farm's
/// `<protocol>`: the ones the filter or the Envoy generator use, then the others.
pub(super) const PROXY_IMPORTED: &[&str] = &[
    "enabled",
    "preserveHostHeader",
    "timeout",
    "reverseRewriteHostInResponseHeaders",
    "xForwardedForHeaderName",
    "includePortInXForwardedFor",
];
pub(super) const PROXY_NOT_IMPORTED: &[&str] = &[
    "passConnectionCloseHeader",
    "passServerHeader",
    "httpVersion",
    "keepAlive",
    "xForwardedByHeaderName",
    "xForwardedByHeader",
    "arrResponseHeader",
    "sslHeaderName",
    "clientCertHeaderName",
    "logGuidName",
    "logCacheHitName",
    "maxForwards",
    "minResponseBuffer",
    "responseBufferLimit",
    "maxResponseHeaderSize",
    "proxy",
    "proxyBypass",
    "stealthMode",
    "clientCertFileName",
    "clientCertPassword",
    "clientCertHash",
    "bufferChunkedResponses",
];

impl Importer<'_> {
    pub(super) fn proxy_section(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>) {
        let (settings, spans) = self.proxy_settings(d, node, "<proxy>", "proxy");
        self.proxy = Some((settings, spans));
    }

    /// The attributes of `system.webServer/proxy` or of a farm's `<protocol>` (the same
    /// schema in ARR's arr_schema.xml), with their positions relative to the element.
    pub(super) fn proxy_settings(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        tag: &str,
        what: &str,
    ) -> (ProxySettings, Spans) {
        let allowed: Vec<&str> = PROXY_IMPORTED
            .iter()
            .chain(PROXY_NOT_IMPORTED)
            .copied()
            .collect();
        let a = self.attrs(d, node, tag, &allowed);
        let mut spans = Spans::new();
        a.spans_into(&mut spans, "");
        let timeout = a.string("timeout");
        if let Some(t) = &timeout {
            self.timespan_check(&a, "timeout", t, what);
        }
        let settings = ProxySettings {
            enabled: self.bool_attr(&a, "enabled", what),
            preserve_host_header: self.bool_attr(&a, "preserveHostHeader", what),
            timeout,
            reverse_rewrite_host_in_response_headers: self.bool_attr(
                &a,
                "reverseRewriteHostInResponseHeaders",
                what,
            ),
            x_forwarded_for_header_name: a.string("xForwardedForHeaderName"),
            include_port_in_x_forwarded_for: self.bool_attr(&a, "includePortInXForwardedFor", what),
            ..ProxySettings::default()
        };
        self.not_imported(&a, PROXY_NOT_IMPORTED, what);
        for child in node.children().filter(Node::is_element) {
            if child.tag_name().name() != "cache" {
                self.unknown_element(d, child, tag, &["cache"]);
            }
            // <cache>: ARR's response cache; Envoy serves nothing from a cache. Ignored.
        }
        (settings, spans)
    }

    /// One warning listing the attributes of `names` that `a` carries.
    pub(super) fn not_imported(&mut self, a: &Attrs, names: &[&str], what: &str) {
        let ignored: Vec<&str> = a
            .list
            .iter()
            .map(|(n, _, _)| n.as_str())
            .filter(|n| names.contains(n))
            .collect();
        if let Some(first) = ignored.first() {
            let pos = a.pos(first);
            self.warn(
                pos,
                format!(
                    "{what}: attribute{} {} not imported",
                    if ignored.len() > 1 { "s" } else { "" },
                    ignored.join(", ") + if ignored.len() > 1 { " are" } else { " is" }
                ),
            );
        }
    }

    /// A timeSpan attribute within ARR's 1 s – 1 day range.
    pub(super) fn timespan_check(&mut self, a: &Attrs, name: &str, value: &str, what: &str) {
        let pos = a.pos(name);
        match parse_timespan(value) {
            Some(secs) if (1..=86_400).contains(&secs) => {}
            Some(_) => self.error(
                pos,
                format!(
                    "{what} attribute {name}: {} is out of range (00:00:01 to 1.00:00:00)",
                    quote(value)
                ),
            ),
            None => self.error(
                pos,
                format!(
                    "{what} attribute {name}: {} is not a time span (expected hh:mm:ss)",
                    quote(value)
                ),
            ),
        }
    }

    /// A port attribute (1–65535).
    pub(super) fn port_attr(&mut self, a: &Attrs, name: &str, what: &str) -> Option<u16> {
        let n = self.uint_attr::<u32>(a, name, what)?;
        match u16::try_from(n) {
            Ok(p) if p > 0 => Some(p),
            _ => {
                let pos = a.pos(name);
                self.error(
                    pos,
                    format!("{what} attribute {name}: {n} is not a port (1 to 65535)"),
                );
                None
            }
        }
    }
}
