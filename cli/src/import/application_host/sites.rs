//! `system.applicationHost/sites`: each `<site>` with its `<bindings>` and the physical path of
//! its root application (IIS configuration reference, "Sites <sites>",
//! <https://learn.microsoft.com/iis/configuration/system.applicationhost/sites/>).
//!
//! A binding's `bindingInformation` is `IP:PORT:HOST` for `http` and `https` (`*` for every
//! address, an empty host for every host name). Other protocols (`ftp`, `net.tcp`, `net.pipe`,
//! `net.msmq`, `msmq.formatname`) are kept as they are, to be reported: Envoy serves only the
//! HTTP ones here.

use std::net::IpAddr;

use roxmltree::Node;

use crate::diag::{quote, Diagnostic, Pos};

use super::super::xml::Doc;

/// One `<site>`.
#[derive(Debug, Clone)]
pub struct SiteDef {
    pub name: String,
    pub id: Option<u32>,
    pub pos: Pos,
    pub bindings: Vec<Binding>,
    /// `physicalPath` of the root application's root virtual directory, as written.
    pub physical_path: Option<(String, Pos)>,
    /// Applications other than `/` and virtual directories other than an application's `/`:
    /// (URL path, physicalPath, position).
    pub applications: Vec<(String, Option<String>, Pos)>,
}

/// One `<binding>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub protocol: String,
    pub information: String,
    pub pos: Pos,
    /// `http` or `https` with a well-formed `bindingInformation`.
    pub endpoint: Option<Endpoint>,
    /// `certificateHash` of an https binding (the certificate lives in the Windows store).
    pub certificate_hash: Option<String>,
}

/// Where an HTTP binding listens, and for which host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `None` for `*` (every address).
    pub ip: Option<IpAddr>,
    pub port: u16,
    /// Lowercased; `None` for a binding that takes every host name.
    pub host: Option<String>,
    pub https: bool,
}

impl Binding {
    /// `protocol bindingInformation`, as IIS Manager lists it.
    pub fn describe(&self) -> String {
        format!("{} {}", self.protocol, self.information)
    }
}

/// Reads every `<site>` below `configuration/system.applicationHost/sites`.
pub(super) fn read_sites(
    d: &Doc<'_, '_>,
    root: Node<'_, '_>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<SiteDef> {
    let mut out: Vec<SiteDef> = Vec::new();
    let sites = root
        .children()
        .filter(|n| n.has_tag_name("system.applicationHost"))
        .flat_map(|n| n.children().filter(|c| c.has_tag_name("sites")));
    for site in sites.flat_map(|s| s.children().filter(|c| c.has_tag_name("site"))) {
        let pos = d.node_pos(site);
        let Some(name) = site.attribute("name").filter(|n| !n.trim().is_empty()) else {
            diags.push(Diagnostic::error(
                pos,
                "<site>: required attribute name is missing or empty",
            ));
            continue;
        };
        if let Some(first) = out.iter().find(|s| s.name.eq_ignore_ascii_case(name)) {
            diags.push(Diagnostic::error(
                pos,
                format!(
                    "<site> {}: a site of that name is already defined (line {}); IIS refuses \
                     duplicate site names",
                    quote(name),
                    first.pos.line
                ),
            ));
            continue;
        }
        let id = match site.attribute("id").map(|v| v.trim().parse::<u32>()) {
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => {
                diags.push(Diagnostic::error(
                    attr_pos(d, site, "id"),
                    format!("<site> {} attribute id: not a number", quote(name)),
                ));
                None
            }
            None => None,
        };
        let mut def = SiteDef {
            name: name.to_string(),
            id,
            pos,
            bindings: Vec::new(),
            physical_path: None,
            applications: Vec::new(),
        };
        for child in site.children().filter(Node::is_element) {
            match child.tag_name().name() {
                "bindings" => {
                    for b in child.children().filter(|c| c.has_tag_name("binding")) {
                        def.bindings.push(read_binding(d, b, diags));
                    }
                }
                "application" => read_application(d, child, &mut def),
                _ => {}
            }
        }
        out.push(def);
    }
    out
}

fn attr_pos(d: &Doc<'_, '_>, node: Node<'_, '_>, name: &str) -> Pos {
    node.attribute_node(name)
        .map(|a| d.pos(a.range_qname().start))
        .unwrap_or_else(|| d.node_pos(node))
}

fn read_application(d: &Doc<'_, '_>, app: Node<'_, '_>, def: &mut SiteDef) {
    let path = app.attribute("path").unwrap_or("/").trim();
    let root_dir = app
        .children()
        .filter(|c| c.has_tag_name("virtualDirectory"))
        .find(|v| v.attribute("path").map(str::trim) == Some("/"));
    let physical = root_dir.and_then(|v| {
        v.attribute("physicalPath")
            .map(|p| (p.to_string(), attr_pos(d, v, "physicalPath")))
    });
    if path == "/" {
        def.physical_path = physical;
    } else {
        def.applications
            .push((path.to_string(), physical.map(|p| p.0), d.node_pos(app)));
    }
    let vdirs = app
        .children()
        .filter(|c| c.has_tag_name("virtualDirectory"))
        .filter(|v| v.attribute("path").is_some_and(|p| p.trim() != "/"));
    for v in vdirs {
        let vpath = v
            .attribute("path")
            .unwrap_or_default()
            .trim()
            .trim_matches('/');
        let url = format!("{}/{vpath}", path.trim_end_matches('/'));
        let physical = v.attribute("physicalPath").map(str::to_string);
        def.applications.push((url, physical, d.node_pos(v)));
    }
}

fn read_binding(d: &Doc<'_, '_>, b: Node<'_, '_>, diags: &mut Vec<Diagnostic>) -> Binding {
    let protocol = b.attribute("protocol").unwrap_or("").trim().to_string();
    let information = b.attribute("bindingInformation").unwrap_or("").to_string();
    let pos = d.node_pos(b);
    let lower = protocol.to_ascii_lowercase();
    let endpoint = if lower == "http" || lower == "https" {
        let parsed = parse_http_binding(&information, lower == "https");
        if parsed.is_none() {
            diags.push(Diagnostic::error(
                attr_pos(d, b, "bindingInformation"),
                format!(
                    "<binding protocol={}> bindingInformation {}: expected IP:PORT:HOST (IP an \
                     address or *, PORT 1-65535, HOST empty or a host name)",
                    quote(&protocol),
                    quote(&information)
                ),
            ));
        }
        parsed
    } else {
        None
    };
    Binding {
        protocol,
        information,
        pos,
        endpoint,
        certificate_hash: b
            .attribute("certificateHash")
            .filter(|h| !h.trim().is_empty())
            .map(str::to_string),
    }
}

/// Parses an http/https `bindingInformation`: `IP:PORT:HOST`, IP `*`, an IPv4 address or a
/// bracketed IPv6 address.
pub fn parse_http_binding(information: &str, https: bool) -> Option<Endpoint> {
    let (rest, host) = information.rsplit_once(':')?;
    let (ip, port) = rest.rsplit_once(':')?;
    let ip = match ip.trim() {
        "*" | "" => None,
        v => Some(
            v.strip_prefix('[')
                .and_then(|x| x.strip_suffix(']'))
                .unwrap_or(v)
                .parse::<IpAddr>()
                .ok()?,
        ),
    };
    let port: u16 = port.trim().parse().ok().filter(|p| *p != 0)?;
    let host = host.trim().to_ascii_lowercase();
    let host = if host.is_empty() {
        None
    } else if valid_host_name(&host) {
        Some(host)
    } else {
        return None;
    };
    Some(Endpoint {
        ip,
        port,
        host,
        https,
    })
}

/// A host name as a binding holds it: letters, digits, `-`, `.`, optionally `*.` in front
/// (IIS 10 wildcard host bindings).
fn valid_host_name(host: &str) -> bool {
    let bare = host.strip_prefix("*.").unwrap_or(host);
    !bare.is_empty()
        && bare.len() <= 253
        && bare.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn binding_information_forms() {
        let e = parse_http_binding("*:80:www.Example.com", false).unwrap();
        assert_eq!(
            (e.ip, e.port, e.host.as_deref()),
            (None, 80, Some("www.example.com"))
        );
        let e = parse_http_binding("10.0.0.5:443:", true).unwrap();
        assert_eq!(e.ip, Some("10.0.0.5".parse().unwrap()));
        assert_eq!(e.host, None);
        let e = parse_http_binding("[::1]:8080:a.example", false).unwrap();
        assert_eq!(e.ip, Some("::1".parse().unwrap()));
        assert!(parse_http_binding("*:80", false).is_none());
        assert!(parse_http_binding("*:0:a", false).is_none());
        assert!(parse_http_binding("*:x:a", false).is_none());
        assert!(parse_http_binding("host:80:a", false).is_none());
        assert!(parse_http_binding("*:80:a b", false).is_none());
        assert!(parse_http_binding("*:443:*.example.com", true).is_some());
    }
}
