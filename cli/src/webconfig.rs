//! The web.config importer: reads the `<rewrite>` section (iis-reference.md §1, §3.3, §5), the
//! `<httpProtocol>` custom headers (§6) and the ARR proxy settings (§7.1) of an IIS
//! configuration file into the filter's [`FilterConfig`], remembering where every element and
//! attribute stands so that the engine's errors can be reported at a line and column.
//!
//! What is checked here is what the JSON model cannot carry: malformed XML, elements and
//! attributes the IIS schema does not have (IIS refuses them with 500.19), booleans and numbers
//! that do not parse, duplicate names in a collection, sections defined twice, a `<rewrite>`
//! outside `<system.webServer>`, `configSource` files. Enumerated values are only brought to
//! their canonical spelling when they match one case-insensitively (§11); anything else is
//! passed through for the engine to refuse with the rule and attribute named.
//!
//! Deliberate limits: `<location path="…">` wrappers are read only for the site itself (`path`
//! empty or `.`; the `<location path="." inheritInChildApplications="false">` form ASP.NET Core
//! publishes); others are reported as not imported. `<customTags>`, `<redirectHeaders>`,
//! `<providers>` and ARR settings neither the filter nor Envoy has a use for are accepted with a
//! warning. Other IIS modules' elements (`<caching>`, `<handlers>`, …) are ignored.
//!
//! ARR server farms (`<webFarms>`, an applicationHost.config section, §7.2) are read when the
//! file carries them at `<configuration>` level, so that one file can describe the rules and the
//! farms they route to.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use iis_rewrite_filter::config::{
    Action, Affinity, Condition, Conditions, CustomHeader, FarmServer, HealthCheck, InboundRule,
    LoadBalancing, MatchUrl, OutboundAction, OutboundMatch, OutboundRule, OutboundRules,
    PreCondition, ProxySettings, RewriteMap, RewriteMapEntry, SetServerVariable, WebFarm,
};
use iis_rewrite_filter::FilterConfig;
use roxmltree::{Document, Node, NodeId, ParsingOptions};

use crate::diag::{quote, Diagnostic, Files, LineIndex, Pos};
use crate::spans::SpanMap;

/// The result of importing a web.config (or fragment).
#[derive(Debug)]
pub struct Imported {
    pub config: FilterConfig,
    pub spans: SpanMap,
    /// Problems only the XML shows; errors mean the configuration is refused.
    pub diagnostics: Vec<Diagnostic>,
    /// Whether any XML could be read at all (false after a fatal parse error of the main file).
    pub parsed: bool,
}

/// Imports `text` (already decoded), read from file number `file` of `files`. `base_dir` is
/// where `configSource` files are looked for.
pub fn import(text: &str, file: usize, files: &mut Files, base_dir: &Path) -> Imported {
    let mut imp = Importer {
        files,
        base_dir: base_dir.to_path_buf(),
        diags: Vec::new(),
        spans: SpanMap::default(),
        rules: Coll::new("rule", false),
        global_rules: Coll::new("global rule", false),
        outbound: Coll::new("outbound rule", false),
        pre_conditions: Coll::new("preCondition", false),
        maps: Coll::new("rewriteMap", false),
        allowed: None,
        headers: Coll::new("customHeader", false),
        proxy: None,
        farms: Coll::new("webFarm", false),
        sections: HashMap::new(),
        saw_outbound: false,
    };
    let parsed = imp.document(text, file, None);
    let mut imported = imp.finish();
    imported.parsed = parsed;
    imported
}

/// Decodes a configuration file's bytes: UTF-8 (a BOM is dropped) or UTF-16 with a BOM, as
/// Windows editors save them. Errors say where the first undecodable byte is.
pub fn decode(bytes: &[u8]) -> Result<String, (usize, String)> {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return decode_utf8(rest).map_err(|(at, m)| (at + 3, m));
    }
    let utf16 = |rest: &[u8], le: bool| -> Result<String, (usize, String)> {
        if rest.len() % 2 != 0 {
            return Err((
                bytes.len(),
                "UTF-16 text with an odd number of bytes".into(),
            ));
        }
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| match c {
                [a, b] if le => u16::from_le_bytes([*a, *b]),
                [a, b] => u16::from_be_bytes([*a, *b]),
                _ => 0,
            })
            .collect();
        String::from_utf16(&units).map_err(|_| (0, "invalid UTF-16 text".into()))
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, true);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, false);
    }
    decode_utf8(bytes)
}

fn decode_utf8(bytes: &[u8]) -> Result<String, (usize, String)> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => {
            let at = e.valid_up_to();
            let byte = bytes.get(at).copied().unwrap_or(0);
            Err((
                at,
                format!("the file is not UTF-8 text (byte 0x{byte:02x}); save it as UTF-8"),
            ))
        }
    }
}

/// Spans relative to an item: (`path below the item`, position).
type Spans = Vec<(String, Pos)>;

/// One entry of an IIS collection, with its unique key.
#[derive(Debug)]
struct Entry<T> {
    key: String,
    key_pos: Pos,
    value: T,
    spans: Spans,
}

/// An IIS collection being built: `<add>`s, `<clear/>`, `<remove/>`, unique keys. Lookups by
/// key go through a hash index, so a collection of n entries is built in O(n) (rewrite maps
/// reach 100,000 entries).
#[derive(Debug)]
struct Coll<T> {
    word: &'static str,
    case_sensitive: bool,
    /// Entries in document order; `None` once removed by `<remove/>` or `<clear/>`.
    slots: Vec<Option<Entry<T>>>,
    /// Slots of the live entries by normalised key (duplicates are kept, and reported).
    by_key: HashMap<String, Vec<usize>>,
    /// Where the collection element stands (first definition).
    pos: Option<Pos>,
}

impl<T> Coll<T> {
    fn new(word: &'static str, case_sensitive: bool) -> Self {
        Coll {
            word,
            case_sensitive,
            slots: Vec::new(),
            by_key: HashMap::new(),
            pos: None,
        }
    }

    fn normalise(&self, key: &str) -> String {
        if self.case_sensitive {
            key.to_string()
        } else {
            key.to_ascii_lowercase()
        }
    }

    /// The first live entry with this key.
    fn find(&self, key: &str) -> Option<&Entry<T>> {
        crate::work::add(1);
        let slot = *self.by_key.get(&self.normalise(key))?.first()?;
        self.slots.get(slot)?.as_ref()
    }

    fn push(&mut self, entry: Entry<T>) {
        let slot = self.slots.len();
        self.by_key
            .entry(self.normalise(&entry.key))
            .or_default()
            .push(slot);
        self.slots.push(Some(entry));
    }

    /// `<remove/>`: drops every entry with this key.
    fn remove(&mut self, key: &str) {
        for slot in self.by_key.remove(&self.normalise(key)).unwrap_or_default() {
            if let Some(s) = self.slots.get_mut(slot) {
                *s = None;
            }
        }
    }

    /// `<clear/>`: drops every entry.
    fn clear(&mut self) {
        self.slots.clear();
        self.by_key.clear();
    }

    /// The keys of the live entries, in order.
    fn keys(&self) -> impl Iterator<Item = &str> {
        self.slots.iter().flatten().map(|e| e.key.as_str())
    }

    /// The values in order; each entry's spans go to `record` under `prefix/<index>`.
    fn into_values(self, prefix: &str, mut record: impl FnMut(String, Pos)) -> Vec<T> {
        let mut out = Vec::with_capacity(self.slots.len());
        for (i, e) in self.slots.into_iter().flatten().enumerate() {
            for (rel, pos) in e.spans {
                record(join(&format!("{prefix}/{i}"), &rel), pos);
            }
            out.push(e.value);
        }
        out
    }
}

/// One parsed document and how to turn its offsets into positions.
struct Doc<'d, 'i> {
    doc: &'d Document<'i>,
    lines: LineIndex<'i>,
    file: usize,
    /// `<rewrite>` elements read, and subtrees knowingly skipped (for the stray-rewrite check).
    handled: HashSet<NodeId>,
}

impl Doc<'_, '_> {
    fn pos(&self, offset: usize) -> Pos {
        let (line, col) = self.lines.line_col(offset);
        Pos {
            file: self.file,
            line,
            col,
        }
    }

    fn node_pos(&self, node: Node<'_, '_>) -> Pos {
        self.pos(node.range().start)
    }
}

/// An element's attributes that passed the schema check.
#[derive(Debug)]
struct Attrs {
    elem: Pos,
    list: Vec<(String, String, Pos)>,
}

impl Attrs {
    fn get(&self, name: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, v, _)| v.as_str())
    }

    fn pos(&self, name: &str) -> Pos {
        self.list
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, p)| *p)
            .unwrap_or(self.elem)
    }

    fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    /// Records the element under `prefix` and each attribute under `prefix/name`.
    fn spans_into(&self, spans: &mut Spans, prefix: &str) {
        spans.push((prefix.to_string(), self.elem));
        for (name, _, pos) in &self.list {
            spans.push((join(prefix, name), *pos));
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else if name.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// Attributes IIS accepts on every configuration element.
const GENERIC_ATTRIBUTES: &[&str] = &[
    "lockAttributes",
    "lockAllAttributesExcept",
    "lockElements",
    "lockAllElementsExcept",
    "lockItem",
];

const PATTERN_SYNTAX: &[&str] = &["ECMAScript", "Wildcard", "ExactMatch"];
const LOGICAL_GROUPING: &[&str] = &["MatchAll", "MatchAny"];
const MATCH_TYPE: &[&str] = &["Pattern", "IsFile", "IsDirectory"];
const ACTION_TYPE: &[&str] = &[
    "None",
    "Rewrite",
    "Redirect",
    "CustomResponse",
    "AbortRequest",
];
const OUTBOUND_ACTION_TYPE: &[&str] = &["None", "Rewrite"];
const REDIRECT_TYPE: &[&str] = &["Permanent", "Found", "SeeOther", "Temporary"];
const RESPONSE_CACHE_DIRECTIVE: &[&str] = &["Auto", "Always", "Never", "NotIfRuleMatched"];
const LB_ALGORITHM: &[&str] = &[
    "WeightedRoundRobin",
    "RequestHash",
    "LeastRequests",
    "LeastResponseTime",
    "WeightedTotalTraffic",
];

/// The sections of `<rewrite>` (iis-reference.md §1.1, §1.9, §3.3, §5).
const REWRITE_SECTIONS: &[&str] = &[
    "rules",
    "globalRules",
    "outboundRules",
    "rewriteMaps",
    "allowedServerVariables",
    "providers",
];

/// Every ARR `system.webServer/proxy` attribute (arr_schema.xml), also those of a farm's
/// `<protocol>`: the ones the filter or the Envoy generator use, then the others.
const PROXY_IMPORTED: &[&str] = &[
    "enabled",
    "preserveHostHeader",
    "timeout",
    "reverseRewriteHostInResponseHeaders",
    "xForwardedForHeaderName",
    "includePortInXForwardedFor",
];
const PROXY_NOT_IMPORTED: &[&str] = &[
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

/// Largest configSource file read (a web.config is a few KB; this only stops accidents).
const MAX_CONFIG_SOURCE_BYTES: u64 = 64 * 1024 * 1024;

struct Importer<'f> {
    files: &'f mut Files,
    base_dir: PathBuf,
    diags: Vec<Diagnostic>,
    spans: SpanMap,
    rules: Coll<InboundRule>,
    global_rules: Coll<InboundRule>,
    outbound: Coll<OutboundRule>,
    pre_conditions: Coll<PreCondition>,
    maps: Coll<RewriteMap>,
    allowed: Option<Coll<()>>,
    headers: Coll<CustomHeader>,
    proxy: Option<(ProxySettings, Spans)>,
    farms: Coll<WebFarm>,
    /// Sections already defined: name → where.
    sections: HashMap<&'static str, Pos>,
    saw_outbound: bool,
}

impl Importer<'_> {
    fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.diags.push(Diagnostic::error(pos, message));
    }

    fn warn(&mut self, pos: Pos, message: impl Into<String>) {
        self.diags.push(Diagnostic::warning(pos, message));
    }

    fn where_(&self, pos: Pos) -> String {
        format!("{}:{}:{}", self.files.name(pos.file), pos.line, pos.col)
    }

    // ----- documents -----

    /// Parses and reads one document. `section` is set for a `configSource` file, whose root
    /// must be that section. Returns false when the XML could not be parsed.
    fn document(&mut self, text: &str, file: usize, section: Option<&'static str>) -> bool {
        let options = ParsingOptions {
            allow_dtd: false,
            nodes_limit: 2_000_000,
            ..ParsingOptions::default()
        };
        let lines = LineIndex::new(text);
        let doc = match Document::parse_with_options(text, options) {
            Ok(doc) => doc,
            Err(e) => {
                let (offset, message) = xml_error(text, &e);
                let (line, col) = lines.line_col(offset);
                self.error(Pos { file, line, col }, format!("malformed XML: {message}"));
                return false;
            }
        };
        let mut d = Doc {
            doc: &doc,
            lines,
            file,
            handled: HashSet::new(),
        };
        let root = doc.root_element();
        let name = root.tag_name().name();
        self.spans.fallback.get_or_insert(d.node_pos(root));
        match section {
            Some(expected) => {
                if name != expected {
                    self.error(
                        d.node_pos(root),
                        format!(
                            "configSource file: the root element is <{name}>, expected <{expected}>"
                        ),
                    );
                } else if let Some(attr) = root.attribute_node("configSource") {
                    let pos = d.pos(attr.range_qname().start);
                    self.error(
                        pos,
                        format!(
                            "<{name}> attribute configSource: a configSource file cannot use \
                             configSource"
                        ),
                    );
                } else {
                    self.section_body(&mut d, root, expected);
                }
            }
            None => match name {
                "configuration" => self.configuration(&mut d, root),
                "system.webServer" => self.system_web_server(&mut d, root),
                "rewrite" => self.rewrite(&mut d, root),
                "rule" => self.single_rule(&mut d, root),
                _ => match REWRITE_SECTIONS.iter().find(|s| **s == name) {
                    Some(s) => self.section(&mut d, root, s),
                    None => self.error(
                        d.node_pos(root),
                        format!(
                            "not an IIS configuration: the root element is <{name}> (expected \
                             <configuration>, or a <rewrite>, <rules>, <outboundRules>, \
                             <rewriteMaps> or <rule> fragment)"
                        ),
                    ),
                },
            },
        }
        self.stray_rewrites(&d);
        true
    }

    /// `<rewrite>` anywhere it is not read: IIS refuses it (500.19), the rules would be lost.
    fn stray_rewrites(&mut self, d: &Doc<'_, '_>) {
        let stray: Vec<Pos> = d
            .doc
            .descendants()
            .filter(|n| n.is_element() && n.tag_name().name() == "rewrite")
            .filter(|n| !d.handled.contains(&n.id()))
            .filter(|n| {
                !n.ancestors()
                    .skip(1)
                    .any(|a| d.handled.contains(&a.id()) || a.tag_name().name() == "rewrite")
            })
            .map(|n| d.node_pos(n))
            .collect();
        for pos in stray {
            self.error(
                pos,
                "<rewrite> outside <system.webServer>: IIS refuses it (500.19); it must stand at \
                 configuration/system.webServer/rewrite",
            );
        }
    }

    fn configuration(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>) {
        for child in node.children().filter(Node::is_element) {
            match child.tag_name().name() {
                "system.webServer" => self.system_web_server(d, child),
                "location" => self.location(d, child),
                "webFarms" => self.section(d, child, "webFarms"),
                _ => {}
            }
        }
    }

    fn location(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>) {
        let path = node.attribute("path").unwrap_or("").trim();
        if path.is_empty() || path == "." {
            for child in node.children().filter(Node::is_element) {
                if child.tag_name().name() == "system.webServer" {
                    self.system_web_server(d, child);
                }
            }
        } else {
            d.handled.insert(node.id());
            let has_rewrite = node
                .descendants()
                .any(|n| n.is_element() && n.tag_name().name() == "rewrite");
            if has_rewrite {
                let pos = d.node_pos(node);
                self.warn(
                    pos,
                    format!(
                        "<location path={}> is not imported: only the site root's configuration \
                         is read, so its rules do not run",
                        quote(path)
                    ),
                );
            }
        }
    }

    fn system_web_server(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>) {
        for child in node.children().filter(Node::is_element) {
            match child.tag_name().name() {
                "rewrite" => self.rewrite(d, child),
                "httpProtocol" => self.section(d, child, "httpProtocol"),
                "proxy" => self.section(d, child, "proxy"),
                // Other IIS modules (caching, handlers, staticContent, security, …).
                _ => {}
            }
        }
    }

    fn rewrite(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>) {
        d.handled.insert(node.id());
        self.attrs(d, node, "<rewrite>", &[]);
        for child in self.elements(d, node, "<rewrite>") {
            let name = child.tag_name().name();
            match REWRITE_SECTIONS.iter().find(|s| **s == name) {
                Some(s) => self.section(d, child, s),
                None => self.unknown_element(d, child, "<rewrite>", REWRITE_SECTIONS),
            }
        }
    }

    /// A configuration section: checked for a second definition, read from its `configSource`
    /// file or in place.
    fn section(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>, name: &'static str) {
        let pos = d.node_pos(node);
        if let Some(first) = self.sections.get(name).copied() {
            let first = self.where_(first);
            self.error(
                pos,
                format!(
                    "<{name}> is defined twice (first at {first}); IIS refuses a section that \
                     appears more than once in a configuration file"
                ),
            );
            return;
        }
        self.sections.insert(name, pos);
        if let Some(attr) = node.attribute_node("configSource") {
            self.config_source(d, node, attr, name);
            return;
        }
        self.section_body(d, node, name);
    }

    fn section_body(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>, name: &'static str) {
        match name {
            "rules" => self.rules_section(d, node, false),
            "globalRules" => self.rules_section(d, node, true),
            "outboundRules" => self.outbound_section(d, node),
            "rewriteMaps" => self.maps_section(d, node),
            "allowedServerVariables" => self.allowed_section(d, node),
            "providers" => self.providers(d, node),
            "httpProtocol" => self.http_protocol(d, node),
            "proxy" => self.proxy_section(d, node),
            "webFarms" => self.web_farms(d, node),
            _ => {}
        }
    }

    /// `<section configSource="file"/>`: the section is read from that file, beside the
    /// configuration (or in the directory given with --config-dir).
    fn config_source(
        &mut self,
        d: &mut Doc<'_, '_>,
        node: Node<'_, '_>,
        attr: roxmltree::Attribute<'_, '_>,
        name: &'static str,
    ) {
        let pos = d.pos(attr.range_qname().start);
        let what = format!("<{name}> attribute configSource");
        let others = node
            .attributes()
            .any(|a| a.namespace().is_none() && a.name() != "configSource");
        if others || node.children().any(|c| c.is_element()) {
            self.error(
                pos,
                format!(
                    "{what}: an element with configSource must have no other attributes or \
                     children"
                ),
            );
            return;
        }
        let value = attr.value();
        let rel = Path::new(value);
        let escapes = rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
        if value.trim().is_empty() || escapes || value.contains(':') {
            self.error(
                pos,
                format!(
                    "{what}: {} must be a relative path to a file in the configuration's \
                     directory or below it",
                    quote(value)
                ),
            );
            return;
        }
        let path = self.base_dir.join(rel);
        let display = path.display().to_string();
        let bytes = match read_limited(&path) {
            Ok(b) => b,
            Err(e) => {
                let dir = if self.base_dir.as_os_str().is_empty() {
                    ".".to_string()
                } else {
                    self.base_dir.display().to_string()
                };
                let problem = if e.kind() == std::io::ErrorKind::NotFound {
                    "not found".to_string()
                } else {
                    format!("cannot be read ({e})")
                };
                self.error(
                    pos,
                    format!(
                        "{what}: file {} {problem} (looked in {}; use --config-dir to look \
                         elsewhere)",
                        quote(value),
                        quote(&dir)
                    ),
                );
                return;
            }
        };
        let file = self.files.add(display);
        let text = match decode(&bytes) {
            Ok(t) => t,
            Err((offset, message)) => {
                let (line, col) = crate::diag::line_col(&String::from_utf8_lossy(&bytes), offset);
                self.error(Pos { file, line, col }, message);
                return;
            }
        };
        d.handled.insert(node.id());
        self.document(&text, file, Some(name));
    }

    // ----- generic element helpers -----

    /// Reads an element's attributes, refusing those its schema does not have.
    fn attrs(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        what: &str,
        allowed: &[&str],
    ) -> Attrs {
        let mut list = Vec::new();
        for a in node.attributes() {
            if a.namespace().is_some() {
                continue; // xdt:Transform and other tooling attributes
            }
            let name = a.name();
            let pos = d.pos(a.range_qname().start);
            if allowed.contains(&name) {
                list.push((name.to_string(), a.value().to_string(), pos));
            } else if !GENERIC_ATTRIBUTES.contains(&name) {
                let hint = allowed
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(name))
                    .map(|k| format!(" (did you mean {k}?)"))
                    .unwrap_or_default();
                self.error(
                    pos,
                    format!(
                        "{what}: unknown attribute {name}{hint}; IIS refuses unknown \
                         configuration attributes (500.19)"
                    ),
                );
            }
        }
        Attrs {
            elem: d.node_pos(node),
            list,
        }
    }

    fn unknown_element(&mut self, d: &Doc<'_, '_>, node: Node<'_, '_>, what: &str, known: &[&str]) {
        let name = node.tag_name().name();
        let hint = known
            .iter()
            .find(|k| k.eq_ignore_ascii_case(name))
            .map(|k| format!(" (did you mean <{k}>?)"))
            .unwrap_or_default();
        let pos = d.node_pos(node);
        self.error(
            pos,
            format!(
                "{what}: unknown element <{name}>{hint}; IIS refuses unknown configuration \
                 elements (500.19)"
            ),
        );
    }

    /// Text other than white space inside a configuration element is ignored by IIS.
    fn text(&mut self, d: &Doc<'_, '_>, node: Node<'_, '_>, what: &str) {
        if let Some(t) = node.text() {
            if node.is_text() && !t.trim().is_empty() {
                let pos = d.node_pos(node);
                self.warn(pos, format!("{what}: text {} is ignored", quote(t.trim())));
            }
        }
    }

    /// The element children of `node`, in document order. Text other than white space between
    /// them is reported here (IIS ignores it); diagnostics are sorted by position afterwards.
    fn elements<'a, 'i>(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'a, 'i>,
        what: &str,
    ) -> Vec<Node<'a, 'i>> {
        let mut out = Vec::new();
        for child in node.children() {
            if child.is_element() {
                out.push(child);
            } else {
                self.text(d, child, what);
            }
        }
        out
    }

    /// A child element that may appear once.
    fn once(
        &mut self,
        d: &Doc<'_, '_>,
        seen: &mut HashMap<String, Pos>,
        node: Node<'_, '_>,
        what: &str,
    ) -> bool {
        let name = node.tag_name().name().to_string();
        let pos = d.node_pos(node);
        if let Some(first) = seen.get(&name).copied() {
            let first = self.where_(first);
            self.error(
                pos,
                format!("{what}: element <{name}> appears twice (first at {first})"),
            );
            false
        } else {
            seen.insert(name, pos);
            true
        }
    }

    fn bool_attr(&mut self, a: &Attrs, name: &str, what: &str) -> Option<bool> {
        let raw = a.get(name)?;
        let v = raw.trim();
        if v.eq_ignore_ascii_case("true") {
            Some(true)
        } else if v.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            let pos = a.pos(name);
            self.error(
                pos,
                format!(
                    "{what} attribute {name}: {} is not a boolean (expected true or false)",
                    quote(raw)
                ),
            );
            None
        }
    }

    /// An unsigned integer attribute (`u32`, `u64`); anything else is reported.
    fn uint_attr<T: std::str::FromStr>(&mut self, a: &Attrs, name: &str, what: &str) -> Option<T> {
        let raw = a.get(name)?;
        match raw.trim().parse::<T>() {
            Ok(n) => Some(n),
            Err(_) => {
                let pos = a.pos(name);
                self.error(
                    pos,
                    format!(
                        "{what} attribute {name}: {} is not a number (expected an unsigned \
                         integer)",
                        quote(raw)
                    ),
                );
                None
            }
        }
    }

    /// An attribute IIS requires to be free of surrounding white space (`requireTrimmedString`).
    fn trimmed_attr(&mut self, a: &Attrs, name: &str, what: &str) -> Option<String> {
        let raw = a.get(name)?;
        if raw.trim() != raw {
            let pos = a.pos(name);
            self.error(
                pos,
                format!(
                    "{what} attribute {name}: {} has leading or trailing white space, which IIS \
                     refuses for this attribute",
                    quote(raw)
                ),
            );
        }
        Some(raw.to_string())
    }

    /// A required key attribute (`name`, `key`); reports its absence.
    fn key_attr(&mut self, a: &Attrs, name: &str, what: &str) -> Option<String> {
        match a.get(name) {
            Some(v) if !v.is_empty() => Some(v.to_string()),
            _ => {
                self.error(
                    a.elem,
                    format!("{what}: required attribute {name} is missing or empty"),
                );
                None
            }
        }
    }

    // ----- collections -----

    /// Adds an entry to a collection, refusing a second entry with the same key.
    fn add_entry<T>(
        coll: &mut Coll<T>,
        entry: Entry<T>,
        diags: &mut Vec<Diagnostic>,
        files: &Files,
    ) {
        if let Some(first) = coll.find(&entry.key) {
            let f = first.key_pos;
            diags.push(Diagnostic::error(
                entry.key_pos,
                format!(
                    "{} \"{}\": duplicate name \"{}\" (first defined at {}:{}:{}); IIS refuses \
                     two entries with the same key in one collection",
                    coll.word,
                    entry.key,
                    entry.key,
                    files.name(f.file),
                    f.line,
                    f.col
                ),
            ));
        }
        coll.push(entry);
    }

    /// Applies `<clear/>` or `<remove …/>` to a collection. Returns false for other elements.
    /// One child of a collection section: `<clear/>` and `<remove/>` are applied to `coll`
    /// here, in document order, and an element other than `<entry>` is reported. True when
    /// `child` is an `<entry>` element for the caller to read.
    fn entry_child<T>(
        &mut self,
        d: &Doc<'_, '_>,
        child: Node<'_, '_>,
        coll: &mut Coll<T>,
        key: &str,
        entry: &str,
        what: &str,
    ) -> bool {
        if self.clear_remove(d, child, coll, key, what) {
            return false;
        }
        if child.tag_name().name() != entry {
            self.unknown_element(d, child, what, &[entry, "clear", "remove"]);
            return false;
        }
        true
    }

    fn clear_remove<T>(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        coll: &mut Coll<T>,
        key: &str,
        what: &str,
    ) -> bool {
        match node.tag_name().name() {
            "clear" => {
                self.attrs(d, node, &format!("{what} <clear>"), &[]);
                coll.clear();
                true
            }
            "remove" => {
                let a = self.attrs(d, node, &format!("{what} <remove>"), &[key]);
                // Removing a name not defined here is how an inherited entry (X-Powered-By in
                // customHeaders, a server-level rule) is dropped: nothing to import either way.
                if let Some(k) = self.key_attr(&a, key, &format!("{what} <remove>")) {
                    coll.remove(&k);
                }
                true
            }
            _ => false,
        }
    }

    // ----- inbound rules -----

    fn rules_section(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>, global: bool) {
        let tag = if global { "<globalRules>" } else { "<rules>" };
        let a = self.attrs(d, node, tag, &["useOriginalURLEncoding"]);
        if let Some(v) = self.bool_attr(&a, "useOriginalURLEncoding", tag) {
            let pos = a.pos("useOriginalURLEncoding");
            self.warn(
                pos,
                format!(
                    "{tag} attribute useOriginalURLEncoding=\"{v}\" is not imported: the filter \
                     uses targets as built and never encodes an escape twice"
                ),
            );
        }
        let mut coll = if global {
            std::mem::replace(&mut self.global_rules, Coll::new("global rule", false))
        } else {
            std::mem::replace(&mut self.rules, Coll::new("rule", false))
        };
        coll.pos.get_or_insert(a.elem);
        for child in self.elements(d, node, tag) {
            if self.clear_remove(d, child, &mut coll, "name", tag) {
                continue;
            }
            if child.tag_name().name() == "rule" {
                let (rule, spans, key_pos) = self.inbound_rule(d, child, global);
                let entry = Entry {
                    key: rule.name.clone(),
                    key_pos,
                    value: rule,
                    spans,
                };
                Self::add_entry(&mut coll, entry, &mut self.diags, self.files);
            } else {
                self.unknown_element(d, child, tag, &["rule", "clear", "remove"]);
            }
        }
        if global {
            self.global_rules = coll;
        } else {
            self.rules = coll;
        }
    }

    /// A file holding one `<rule>` (as rules are quoted in answers and blog posts): an
    /// outbound rule when its `<match>` names a serverVariable or filterByTags, else inbound.
    fn single_rule(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>) {
        let outbound = node.children().any(|c| {
            c.is_element()
                && c.tag_name().name() == "match"
                && (c.has_attribute("serverVariable") || c.has_attribute("filterByTags"))
        }) || node.has_attribute("preCondition");
        if outbound {
            self.saw_outbound = true;
            self.outbound.pos.get_or_insert(d.node_pos(node));
            let (rule, spans, key_pos) = self.outbound_rule(d, node);
            let entry = Entry {
                key: rule.name.clone(),
                key_pos,
                value: rule,
                spans,
            };
            Self::add_entry(&mut self.outbound, entry, &mut self.diags, self.files);
        } else {
            self.rules.pos.get_or_insert(d.node_pos(node));
            let (rule, spans, key_pos) = self.inbound_rule(d, node, false);
            let entry = Entry {
                key: rule.name.clone(),
                key_pos,
                value: rule,
                spans,
            };
            Self::add_entry(&mut self.rules, entry, &mut self.diags, self.files);
        }
    }

    fn inbound_rule(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        global: bool,
    ) -> (InboundRule, Spans, Pos) {
        let word = if global { "global rule" } else { "rule" };
        let a = self.attrs(
            d,
            node,
            &format!("<{word}>"),
            &[
                "name",
                "enabled",
                "patternSyntax",
                "stopProcessing",
                "responseCacheDirective",
            ],
        );
        let name = self
            .key_attr(&a, "name", &format!("<{}>", "rule"))
            .unwrap_or_default();
        let what = format!("{word} \"{name}\"");
        let mut spans = Spans::new();
        a.spans_into(&mut spans, "");
        let mut rule = InboundRule {
            name,
            enabled: self.bool_attr(&a, "enabled", &what),
            pattern_syntax: canon(a.get("patternSyntax"), PATTERN_SYNTAX),
            stop_processing: self.bool_attr(&a, "stopProcessing", &what),
            response_cache_directive: canon(
                a.get("responseCacheDirective"),
                RESPONSE_CACHE_DIRECTIVE,
            ),
            ..InboundRule::default()
        };
        let mut seen = HashMap::new();
        for child in self.elements(d, node, &what) {
            let cname = child.tag_name().name();
            if !["match", "conditions", "serverVariables", "action"].contains(&cname) {
                self.unknown_element(
                    d,
                    child,
                    &what,
                    &["match", "conditions", "serverVariables", "action"],
                );
                continue;
            }
            if !self.once(d, &mut seen, child, &what) {
                continue;
            }
            match cname {
                "match" => {
                    let w = format!("{what} <match>");
                    let m = self.attrs(d, child, &w, &["url", "ignoreCase", "negate"]);
                    m.spans_into(&mut spans, "match");
                    rule.match_url = Some(MatchUrl {
                        url: m.string("url"),
                        ignore_case: self.bool_attr(&m, "ignoreCase", &w),
                        negate: self.bool_attr(&m, "negate", &w),
                    });
                    self.no_children(d, child, &w);
                }
                "conditions" => {
                    rule.conditions = Some(self.conditions(d, child, &what, &mut spans));
                }
                "serverVariables" => {
                    rule.server_variables = self.server_variables(d, child, &what, &mut spans);
                }
                _ => {
                    let w = format!("{what} <action>");
                    let mut allowed = vec![
                        "type",
                        "url",
                        "appendQueryString",
                        "redirectType",
                        "statusCode",
                        "subStatusCode",
                        "statusReason",
                        "statusDescription",
                    ];
                    if !global {
                        allowed.push("logRewrittenUrl");
                    }
                    let m = self.attrs(d, child, &w, &allowed);
                    m.spans_into(&mut spans, "action");
                    rule.action = Some(Action {
                        action_type: canon(m.get("type"), ACTION_TYPE),
                        url: self.trimmed_attr(&m, "url", &w),
                        append_query_string: self.bool_attr(&m, "appendQueryString", &w),
                        log_rewritten_url: self.bool_attr(&m, "logRewrittenUrl", &w),
                        redirect_type: canon(m.get("redirectType"), REDIRECT_TYPE),
                        status_code: self.uint_attr(&m, "statusCode", &w),
                        sub_status_code: self.uint_attr(&m, "subStatusCode", &w),
                        status_reason: m.string("statusReason"),
                        status_description: m.string("statusDescription"),
                    });
                    self.no_children(d, child, &w);
                }
            }
        }
        (rule, spans, a.pos("name"))
    }

    /// Elements that must be empty (`<match>`, `<action>`, `<add>`, …).
    fn no_children(&mut self, d: &Doc<'_, '_>, node: Node<'_, '_>, what: &str) {
        for child in self.elements(d, node, what) {
            self.unknown_element(d, child, what, &[]);
        }
    }

    /// `<conditions>` of an inbound or outbound rule (items at `conditions/items/n`).
    fn conditions(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        rule_what: &str,
        spans: &mut Spans,
    ) -> Conditions {
        let w = format!("{rule_what} <conditions>");
        let a = self.attrs(d, node, &w, &["logicalGrouping", "trackAllCaptures"]);
        a.spans_into(spans, "conditions");
        let mut conditions = Conditions {
            logical_grouping: canon(a.get("logicalGrouping"), LOGICAL_GROUPING),
            track_all_captures: self.bool_attr(&a, "trackAllCaptures", &w),
            items: Vec::new(),
        };
        for child in self.elements(d, node, &w) {
            if child.tag_name().name() != "add" {
                self.unknown_element(d, child, &w, &["add"]);
                continue;
            }
            let n = conditions.items.len();
            let cw = format!("{rule_what} condition {}", n + 1);
            let c = self.condition(d, child, &cw, spans, &format!("conditions/items/{n}"));
            conditions.items.push(c);
        }
        conditions
    }

    /// One condition `<add>` (rules and preConditions).
    fn condition(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        what: &str,
        spans: &mut Spans,
        prefix: &str,
    ) -> Condition {
        let a = self.attrs(
            d,
            node,
            what,
            &["input", "matchType", "pattern", "ignoreCase", "negate"],
        );
        a.spans_into(spans, prefix);
        let c = Condition {
            input: a.string("input"),
            match_type: canon(a.get("matchType"), MATCH_TYPE),
            pattern: a.string("pattern"),
            ignore_case: self.bool_attr(&a, "ignoreCase", what),
            negate: self.bool_attr(&a, "negate", what),
        };
        self.no_children(d, node, what);
        c
    }

    fn server_variables(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        rule_what: &str,
        spans: &mut Spans,
    ) -> Vec<SetServerVariable> {
        let w = format!("{rule_what} <serverVariables>");
        let a = self.attrs(d, node, &w, &[]);
        a.spans_into(spans, "serverVariables");
        let mut sets: Vec<SetServerVariable> = Vec::new();
        let mut names: Vec<(String, Pos)> = Vec::new();
        for child in self.elements(d, node, &w) {
            if child.tag_name().name() != "set" {
                self.unknown_element(d, child, &w, &["set"]);
                continue;
            }
            let n = sets.len();
            let sw = format!("{rule_what} <set> {}", n + 1);
            let s = self.attrs(d, child, &sw, &["name", "value", "replace"]);
            s.spans_into(spans, &format!("serverVariables/{n}"));
            let name = match self.key_attr(&s, "name", &sw) {
                Some(_) => self.trimmed_attr(&s, "name", &sw).unwrap_or_default(),
                None => String::new(),
            };
            if !name.is_empty() {
                if let Some((_, first)) = names.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name))
                {
                    let first = self.where_(*first);
                    let pos = s.pos("name");
                    self.error(
                        pos,
                        format!(
                            "{sw} attribute name: server variable {} is set twice in this rule \
                             (first at {first})",
                            quote(&name)
                        ),
                    );
                }
                names.push((name.clone(), s.pos("name")));
            }
            sets.push(SetServerVariable {
                name,
                value: s.string("value").unwrap_or_default(),
                replace: self.bool_attr(&s, "replace", &sw),
            });
            self.no_children(d, child, &sw);
        }
        sets
    }

    // ----- outbound rules -----

    fn outbound_section(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>) {
        let tag = "<outboundRules>";
        self.saw_outbound = true;
        let a = self.attrs(d, node, tag, &["rewriteBeforeCache"]);
        if self.bool_attr(&a, "rewriteBeforeCache", tag) == Some(true) {
            let pos = a.pos("rewriteBeforeCache");
            self.warn(
                pos,
                "<outboundRules> attribute rewriteBeforeCache is not imported (Envoy has no \
                 IIS output cache)",
            );
        }
        self.outbound.pos.get_or_insert(a.elem);
        let mut coll = std::mem::replace(&mut self.outbound, Coll::new("outbound rule", false));
        let mut seen = HashMap::new();
        for child in self.elements(d, node, tag) {
            if self.clear_remove(d, child, &mut coll, "name", tag) {
                continue;
            }
            match child.tag_name().name() {
                "rule" => {
                    let (rule, spans, key_pos) = self.outbound_rule(d, child);
                    let entry = Entry {
                        key: rule.name.clone(),
                        key_pos,
                        value: rule,
                        spans,
                    };
                    Self::add_entry(&mut coll, entry, &mut self.diags, self.files);
                }
                "preConditions" => {
                    if self.once(d, &mut seen, child, tag) {
                        self.pre_conditions_element(d, child);
                    }
                }
                "customTags" => {
                    if self.once(d, &mut seen, child, tag) {
                        self.custom_tags(d, child);
                    }
                }
                _ => self.unknown_element(
                    d,
                    child,
                    tag,
                    &["rule", "preConditions", "customTags", "clear", "remove"],
                ),
            }
        }
        self.outbound = coll;
    }

    fn outbound_rule(&mut self, d: &Doc<'_, '_>, node: Node<'_, '_>) -> (OutboundRule, Spans, Pos) {
        let a = self.attrs(
            d,
            node,
            "<outboundRules> <rule>",
            &[
                "name",
                "preCondition",
                "enabled",
                "patternSyntax",
                "stopProcessing",
            ],
        );
        let name = self
            .key_attr(&a, "name", "<outboundRules> <rule>")
            .unwrap_or_default();
        let what = format!("outbound rule \"{name}\"");
        let mut spans = Spans::new();
        a.spans_into(&mut spans, "");
        let mut rule = OutboundRule {
            name,
            enabled: self.bool_attr(&a, "enabled", &what),
            pattern_syntax: canon(a.get("patternSyntax"), PATTERN_SYNTAX),
            stop_processing: self.bool_attr(&a, "stopProcessing", &what),
            pre_condition: a.string("preCondition"),
            ..OutboundRule::default()
        };
        let mut seen = HashMap::new();
        for child in self.elements(d, node, &what) {
            let cname = child.tag_name().name();
            if !["match", "conditions", "action"].contains(&cname) {
                self.unknown_element(d, child, &what, &["match", "conditions", "action"]);
                continue;
            }
            if !self.once(d, &mut seen, child, &what) {
                continue;
            }
            match cname {
                "match" => {
                    let w = format!("{what} <match>");
                    let m = self.attrs(
                        d,
                        child,
                        &w,
                        &[
                            "serverVariable",
                            "filterByTags",
                            "customTags",
                            "pattern",
                            "occurrences",
                            "ignoreCase",
                            "negate",
                        ],
                    );
                    m.spans_into(&mut spans, "match");
                    rule.match_target = Some(OutboundMatch {
                        server_variable: m.string("serverVariable"),
                        filter_by_tags: m.string("filterByTags"),
                        custom_tags: m.string("customTags"),
                        pattern: m.string("pattern"),
                        occurrences: self.uint_attr(&m, "occurrences", &w),
                        ignore_case: self.bool_attr(&m, "ignoreCase", &w),
                        negate: self.bool_attr(&m, "negate", &w),
                    });
                    self.no_children(d, child, &w);
                }
                "conditions" => {
                    rule.conditions = Some(self.conditions(d, child, &what, &mut spans));
                }
                _ => {
                    let w = format!("{what} <action>");
                    let m = self.attrs(d, child, &w, &["type", "value", "replace"]);
                    m.spans_into(&mut spans, "action");
                    rule.action = Some(OutboundAction {
                        action_type: canon(m.get("type"), OUTBOUND_ACTION_TYPE),
                        value: m.string("value"),
                        replace: self.bool_attr(&m, "replace", &w),
                    });
                    self.no_children(d, child, &w);
                }
            }
        }
        (rule, spans, a.pos("name"))
    }

    fn pre_conditions_element(&mut self, d: &Doc<'_, '_>, node: Node<'_, '_>) {
        let tag = "<preConditions>";
        let a = self.attrs(d, node, tag, &[]);
        self.pre_conditions.pos.get_or_insert(a.elem);
        let mut coll =
            std::mem::replace(&mut self.pre_conditions, Coll::new("preCondition", false));
        for child in self.elements(d, node, tag) {
            if !self.entry_child(d, child, &mut coll, "name", "preCondition", tag) {
                continue;
            }
            let p = self.attrs(
                d,
                child,
                "<preCondition>",
                &["name", "logicalGrouping", "patternSyntax"],
            );
            let name = self
                .key_attr(&p, "name", "<preCondition>")
                .unwrap_or_default();
            let what = format!("preCondition \"{name}\"");
            let mut spans = Spans::new();
            p.spans_into(&mut spans, "");
            let mut pc = PreCondition {
                name: name.clone(),
                logical_grouping: canon(p.get("logicalGrouping"), LOGICAL_GROUPING),
                pattern_syntax: canon(p.get("patternSyntax"), PATTERN_SYNTAX),
                items: Vec::new(),
            };
            for add in self.elements(d, child, &what) {
                if add.tag_name().name() != "add" {
                    self.unknown_element(d, add, &what, &["add"]);
                    continue;
                }
                let n = pc.items.len();
                let cw = format!("{what} condition {}", n + 1);
                let c = self.condition(d, add, &cw, &mut spans, &format!("items/{n}"));
                pc.items.push(c);
            }
            let entry = Entry {
                key: name,
                key_pos: p.pos("name"),
                value: pc,
                spans,
            };
            Self::add_entry(&mut coll, entry, &mut self.diags, self.files);
        }
        self.pre_conditions = coll;
    }

    /// `<customTags>` only serve `filterByTags` body rewriting, which the filter refuses.
    fn custom_tags(&mut self, d: &Doc<'_, '_>, node: Node<'_, '_>) {
        let has_tags = node
            .children()
            .any(|c| c.is_element() && c.tag_name().name() == "tags");
        if has_tags {
            let pos = d.node_pos(node);
            self.warn(
                pos,
                "<customTags> is not imported: response body rewriting (filterByTags) is not \
                 supported",
            );
        }
    }

    // ----- rewrite maps, allowed server variables, providers -----

    fn maps_section(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>) {
        let tag = "<rewriteMaps>";
        let a = self.attrs(d, node, tag, &[]);
        self.maps.pos.get_or_insert(a.elem);
        let mut coll = std::mem::replace(&mut self.maps, Coll::new("rewriteMap", false));
        for child in self.elements(d, node, tag) {
            if !self.entry_child(d, child, &mut coll, "name", "rewriteMap", tag) {
                continue;
            }
            let m = self.attrs(
                d,
                child,
                "<rewriteMap>",
                &["name", "defaultValue", "ignoreCase"],
            );
            let name = match self.key_attr(&m, "name", "<rewriteMap>") {
                Some(_) => self
                    .trimmed_attr(&m, "name", "<rewriteMap>")
                    .unwrap_or_default(),
                None => String::new(),
            };
            let what = format!("rewriteMap \"{name}\"");
            let mut spans = Spans::new();
            m.spans_into(&mut spans, "");
            let mut entries: Coll<RewriteMapEntry> = Coll::new("key", true);
            for add in self.elements(d, child, &what) {
                if !self.entry_child(d, add, &mut entries, "key", "add", &what) {
                    continue;
                }
                let ew = format!("{what} <add>");
                let e = self.attrs(d, add, &ew, &["key", "value"]);
                let key = self.key_attr(&e, "key", &ew).unwrap_or_default();
                let mut espans = Spans::new();
                e.spans_into(&mut espans, "");
                if let Some(first) = entries.find(&key) {
                    let first = self.where_(first.key_pos);
                    let pos = e.pos("key");
                    self.error(
                        pos,
                        format!(
                            "{what} <add> attribute key: duplicate key {} (first at {first})",
                            quote(&key)
                        ),
                    );
                }
                let entry = RewriteMapEntry {
                    key: key.clone(),
                    value: e.string("value").unwrap_or_default(),
                };
                entries.push(Entry {
                    key,
                    key_pos: e.pos("key"),
                    value: entry,
                    spans: espans,
                });
                self.no_children(d, add, &ew);
            }
            let map_entries = entries.into_values("entries", |path, pos| spans.push((path, pos)));
            let map = RewriteMap {
                name: name.clone(),
                default_value: m.string("defaultValue"),
                ignore_case: self.bool_attr(&m, "ignoreCase", &what),
                entries: map_entries,
            };
            let entry = Entry {
                key: name,
                key_pos: m.pos("name"),
                value: map,
                spans,
            };
            Self::add_entry(&mut coll, entry, &mut self.diags, self.files);
        }
        self.maps = coll;
    }

    fn allowed_section(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>) {
        let tag = "<allowedServerVariables>";
        let a = self.attrs(d, node, tag, &[]);
        let mut coll = self
            .allowed
            .take()
            .unwrap_or_else(|| Coll::new("allowed server variable", false));
        coll.pos.get_or_insert(a.elem);
        for child in self.elements(d, node, tag) {
            if !self.entry_child(d, child, &mut coll, "name", "add", tag) {
                continue;
            }
            let w = format!("{tag} <add>");
            let e = self.attrs(d, child, &w, &["name"]);
            if let Some(name) = self.key_attr(&e, "name", &w) {
                let entry = Entry {
                    key: name,
                    key_pos: e.pos("name"),
                    value: (),
                    spans: vec![(String::new(), e.pos("name"))],
                };
                Self::add_entry(&mut coll, entry, &mut self.diags, self.files);
            }
            self.no_children(d, child, &w);
        }
        self.allowed = Some(coll);
    }

    fn providers(&mut self, d: &Doc<'_, '_>, node: Node<'_, '_>) {
        let has = node
            .children()
            .any(|c| c.is_element() && c.tag_name().name() == "provider");
        if has {
            let pos = d.node_pos(node);
            self.warn(
                pos,
                "<providers> is not imported: custom rewrite providers are .NET assemblies that \
                 cannot run in Envoy; rules that use them are refused as unknown rewrite maps",
            );
        }
    }

    // ----- httpProtocol and proxy -----

    fn http_protocol(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>) {
        let tag = "<httpProtocol>";
        // allowKeepAlive is Envoy's business; accepted silently.
        self.attrs(d, node, tag, &["allowKeepAlive"]);
        let mut seen = HashMap::new();
        for child in node.children().filter(Node::is_element) {
            match child.tag_name().name() {
                "customHeaders" => {
                    if self.once(d, &mut seen, child, tag) {
                        self.custom_headers(d, child);
                    }
                }
                "redirectHeaders" => {
                    let has = child
                        .children()
                        .any(|c| c.is_element() && c.tag_name().name() == "add");
                    if has {
                        let pos = d.node_pos(child);
                        self.warn(
                            pos,
                            "<redirectHeaders> is not imported: the headers are not added to \
                             redirects",
                        );
                    }
                }
                _ => {
                    let pos = d.node_pos(child);
                    let name = child.tag_name().name();
                    self.warn(pos, format!("{tag}: element <{name}> is not imported"));
                }
            }
        }
    }

    fn custom_headers(&mut self, d: &Doc<'_, '_>, node: Node<'_, '_>) {
        let tag = "<customHeaders>";
        let a = self.attrs(d, node, tag, &[]);
        self.headers.pos.get_or_insert(a.elem);
        let mut coll = std::mem::replace(&mut self.headers, Coll::new("customHeader", false));
        for child in self.elements(d, node, tag) {
            if !self.entry_child(d, child, &mut coll, "name", "add", tag) {
                continue;
            }
            let w = format!("{tag} <add>");
            let e = self.attrs(d, child, &w, &["name", "value"]);
            if let Some(name) = self.key_attr(&e, "name", &w) {
                let mut spans = Spans::new();
                e.spans_into(&mut spans, "");
                let entry = Entry {
                    key: name.clone(),
                    key_pos: e.pos("name"),
                    value: CustomHeader {
                        name,
                        value: e.string("value").unwrap_or_default(),
                    },
                    spans,
                };
                Self::add_entry(&mut coll, entry, &mut self.diags, self.files);
            }
            self.no_children(d, child, &w);
        }
        self.headers = coll;
    }

    fn proxy_section(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>) {
        let (settings, spans) = self.proxy_settings(d, node, "<proxy>", "proxy");
        self.proxy = Some((settings, spans));
    }

    /// The attributes of `system.webServer/proxy` or of a farm's `<protocol>` (the same schema,
    /// §7.2), with their positions relative to the element.
    fn proxy_settings(
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
    fn not_imported(&mut self, a: &Attrs, names: &[&str], what: &str) {
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
    fn timespan_check(&mut self, a: &Attrs, name: &str, value: &str, what: &str) {
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
    fn port_attr(&mut self, a: &Attrs, name: &str, what: &str) -> Option<u16> {
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

    // ----- ARR server farms -----

    /// `<webFarms>`: `<webFarm>` entries (a collection keyed by name, with `<clear/>` and
    /// `<remove/>`), and the farm-wide `<applicationRequestRouting>` settings (not imported).
    fn web_farms(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>) {
        let tag = "<webFarms>";
        let a = self.attrs(d, node, tag, &[]);
        self.farms.pos.get_or_insert(a.elem);
        let mut coll = std::mem::replace(&mut self.farms, Coll::new("webFarm", false));
        for child in self.elements(d, node, tag) {
            if self.clear_remove(d, child, &mut coll, "name", tag) {
                continue;
            }
            match child.tag_name().name() {
                "webFarm" => {
                    if let Some(entry) = self.web_farm(d, child) {
                        Self::add_entry(&mut coll, entry, &mut self.diags, self.files);
                    }
                }
                "applicationRequestRouting" => {
                    let pos = d.node_pos(child);
                    self.warn(
                        pos,
                        "<webFarms><applicationRequestRouting> (server-wide ARR settings) is \
                         not imported",
                    );
                }
                _ => self.unknown_element(
                    d,
                    child,
                    tag,
                    &["webFarm", "applicationRequestRouting", "clear", "remove"],
                ),
            }
        }
        self.farms = coll;
    }

    fn web_farm(&mut self, d: &Doc<'_, '_>, node: Node<'_, '_>) -> Option<Entry<WebFarm>> {
        let tag = "<webFarm>";
        let a = self.attrs(d, node, tag, &["name", "enabled"]);
        let name = self.key_attr(&a, "name", tag)?;
        let name = self.trimmed_attr(&a, "name", tag).unwrap_or(name);
        let what = format!("webFarm \"{name}\"");
        let mut spans = Spans::new();
        a.spans_into(&mut spans, "");
        let mut farm = WebFarm {
            name: name.clone(),
            enabled: self.bool_attr(&a, "enabled", &what),
            ..WebFarm::default()
        };
        let mut servers: Coll<FarmServer> = Coll::new("server", false);
        let mut seen = HashMap::new();
        for child in self.elements(d, node, &what) {
            if self.clear_remove(d, child, &mut servers, "address", &what) {
                continue;
            }
            match child.tag_name().name() {
                "server" => {
                    if let Some(entry) = self.farm_server(d, child, &what) {
                        Self::add_entry(&mut servers, entry, &mut self.diags, self.files);
                    }
                }
                "applicationRequestRouting" => {
                    if self.once(d, &mut seen, child, &what) {
                        self.farm_arr(d, child, &what, &mut farm, &mut spans);
                    }
                }
                _ => self.unknown_element(
                    d,
                    child,
                    &what,
                    &["server", "applicationRequestRouting", "clear", "remove"],
                ),
            }
        }
        farm.servers = servers.into_values("servers", |path, pos| spans.push((path, pos)));
        Some(Entry {
            key: name,
            key_pos: a.pos("name"),
            value: farm,
            spans,
        })
    }

    /// `<server address enabled>` with its `<applicationRequestRouting httpPort httpsPort weight
    /// hostName …>`; the child's attributes are recorded under the server (the JSON model keeps
    /// them on the server).
    fn farm_server(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        farm: &str,
    ) -> Option<Entry<FarmServer>> {
        let what = format!("{farm} <server>");
        let a = self.attrs(d, node, &what, &["address", "enabled"]);
        let address = self.key_attr(&a, "address", &what)?;
        let address = self.trimmed_attr(&a, "address", &what).unwrap_or(address);
        let mut spans = Spans::new();
        a.spans_into(&mut spans, "");
        let mut server = FarmServer {
            address: address.clone(),
            enabled: self.bool_attr(&a, "enabled", &what),
            ..FarmServer::default()
        };
        let mut seen = HashMap::new();
        for child in self.elements(d, node, &what) {
            if child.tag_name().name() != "applicationRequestRouting" {
                self.unknown_element(d, child, &what, &["applicationRequestRouting"]);
                continue;
            }
            if !self.once(d, &mut seen, child, &what) {
                continue;
            }
            let w = format!("{what} <applicationRequestRouting>");
            let c = self.attrs(
                d,
                child,
                &w,
                &[
                    "httpPort",
                    "httpsPort",
                    "weight",
                    "hostName",
                    "healthCheckAlternateHostName",
                    "healthCheckAlternatePort",
                ],
            );
            for (name, _, pos) in &c.list {
                spans.push((name.clone(), *pos));
            }
            server.http_port = self.port_attr(&c, "httpPort", &w);
            server.https_port = self.port_attr(&c, "httpsPort", &w);
            server.weight = self.uint_attr(&c, "weight", &w);
            server.host_name = c.string("hostName").filter(|h| !h.trim().is_empty());
            self.not_imported(
                &c,
                &["healthCheckAlternateHostName", "healthCheckAlternatePort"],
                &w,
            );
            self.no_children(d, child, &w);
        }
        Some(Entry {
            key: address,
            key_pos: a.pos("address"),
            value: server,
            spans,
        })
    }

    /// A farm's `<applicationRequestRouting>`: `<protocol>`, `<healthCheck>`, `<affinity>`,
    /// `<loadBalancing>`.
    fn farm_arr(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        farm_what: &str,
        farm: &mut WebFarm,
        spans: &mut Spans,
    ) {
        let what = format!("{farm_what} <applicationRequestRouting>");
        self.attrs(d, node, &what, &[]);
        let mut seen = HashMap::new();
        for child in self.elements(d, node, &what) {
            let name = child.tag_name().name();
            let known = ["protocol", "healthCheck", "affinity", "loadBalancing"];
            if !known.contains(&name) {
                self.unknown_element(d, child, &what, &known);
                continue;
            }
            if !self.once(d, &mut seen, child, &what) {
                continue;
            }
            let w = format!("{farm_what} <{name}>");
            let mut rel = Spans::new();
            match name {
                "protocol" => {
                    let (settings, s) = self.proxy_settings(d, child, &w, &w);
                    rel = s;
                    farm.protocol = Some(settings);
                }
                "healthCheck" => {
                    let a = self.attrs(
                        d,
                        child,
                        &w,
                        &[
                            "url",
                            "interval",
                            "timeout",
                            "statusCodeMatch",
                            "responseMatch",
                            "retries",
                            "liveTrafficFailureCodes",
                            "maxLiveTrafficFailures",
                            "liveTrafficFailurePeriod",
                            "minServers",
                        ],
                    );
                    a.spans_into(&mut rel, "");
                    for t in ["interval", "timeout"] {
                        if let Some(v) = a.string(t) {
                            self.timespan_check(&a, t, &v, &w);
                        }
                    }
                    farm.health_check = Some(HealthCheck {
                        url: a.string("url"),
                        interval: a.string("interval"),
                        timeout: a.string("timeout"),
                        status_code_match: a.string("statusCodeMatch"),
                        response_match: a.string("responseMatch"),
                        retries: self.uint_attr(&a, "retries", &w),
                    });
                    self.not_imported(
                        &a,
                        &[
                            "liveTrafficFailureCodes",
                            "maxLiveTrafficFailures",
                            "liveTrafficFailurePeriod",
                            "minServers",
                        ],
                        &w,
                    );
                    self.no_children(d, child, &w);
                }
                "affinity" => {
                    let a = self.attrs(
                        d,
                        child,
                        &w,
                        &["useCookie", "cookieName", "timeout", "useHostName"],
                    );
                    a.spans_into(&mut rel, "");
                    if let Some(v) = a.string("timeout") {
                        self.timespan_check(&a, "timeout", &v, &w);
                    }
                    farm.affinity = Some(Affinity {
                        use_cookie: self.bool_attr(&a, "useCookie", &w),
                        cookie_name: a.string("cookieName"),
                        timeout: a.string("timeout"),
                    });
                    if self.bool_attr(&a, "useHostName", &w) == Some(true) {
                        let pos = a.pos("useHostName");
                        self.warn(
                            pos,
                            format!(
                                "{w} attribute useHostName: host-name affinity is not \
                                 imported (cookie affinity is)"
                            ),
                        );
                    }
                    self.no_children(d, child, &w);
                }
                _ => {
                    let a = self.attrs(
                        d,
                        child,
                        &w,
                        &["algorithm", "hashServerVariable", "queryStringNames"],
                    );
                    a.spans_into(&mut rel, "");
                    farm.load_balancing = Some(LoadBalancing {
                        algorithm: canon(a.get("algorithm"), LB_ALGORITHM),
                        hash_server_variable: a.string("hashServerVariable"),
                        query_string_names: a.string("queryStringNames"),
                    });
                    self.no_children(d, child, &w);
                }
            }
            for (r, pos) in rel {
                spans.push((join(name, &r), pos));
            }
        }
    }

    // ----- result -----

    fn finish(mut self) -> Imported {
        let mut config = FilterConfig::default();
        let spans = &mut self.spans;
        let mut record = |path: String, pos: Pos| {
            spans.insert(path, pos);
        };
        config.rules = self.rules.into_values("rules", &mut record);
        config.global_rules = self.global_rules.into_values("globalRules", &mut record);
        let mut outbound = OutboundRules::default();
        outbound.rules = self
            .outbound
            .into_values("outboundRules/rules", &mut record);
        outbound.pre_conditions = self
            .pre_conditions
            .into_values("outboundRules/preConditions", &mut record);
        if self.saw_outbound && (!outbound.rules.is_empty() || !outbound.pre_conditions.is_empty())
        {
            config.outbound_rules = Some(outbound);
        }
        config.rewrite_maps = self.maps.into_values("rewriteMaps", &mut record);
        if let Some(allowed) = self.allowed.take() {
            let names = allowed.keys().map(str::to_string).collect();
            allowed.into_values("allowedServerVariables", &mut record);
            config.allowed_server_variables = Some(names);
        }
        config.custom_headers = self.headers.into_values("customHeaders", &mut record);
        config.web_farms = self.farms.into_values("webFarms", &mut record);
        if let Some((proxy, s)) = self.proxy.take() {
            for (r, pos) in s {
                spans.insert(join("proxy", &r), pos);
            }
            config.proxy = Some(proxy);
        }
        for (path, name) in [
            ("rules", "rules"),
            ("globalRules", "globalRules"),
            ("outboundRules", "outboundRules"),
            ("outboundRules/rules", "outboundRules"),
            ("outboundRules/preConditions", "outboundRules"),
            ("rewriteMaps", "rewriteMaps"),
            ("allowedServerVariables", "allowedServerVariables"),
            ("customHeaders", "httpProtocol"),
            ("webFarms", "webFarms"),
        ] {
            if let Some(pos) = self.sections.get(name) {
                spans.insert(path.to_string(), *pos);
            }
        }
        Imported {
            config,
            spans: self.spans,
            diagnostics: self.diags,
            parsed: true,
        }
    }
}

/// The canonical spelling of an enumerated value matched case-insensitively (§11); other
/// values are passed through for the engine to refuse.
fn canon(value: Option<&str>, variants: &[&str]) -> Option<String> {
    let v = value?;
    Some(
        variants
            .iter()
            .find(|x| x.eq_ignore_ascii_case(v.trim()))
            .map(|x| x.to_string())
            .unwrap_or_else(|| v.to_string()),
    )
}

/// Seconds in an IIS timeSpan `[d.]hh:mm:ss[.fffffff]`.
pub(crate) fn parse_timespan(s: &str) -> Option<u64> {
    let s = s.trim();
    let (days, rest) = match s.split_once('.') {
        Some((d, r)) if !d.contains(':') => (d.parse::<u64>().ok()?, r),
        _ => (0, s),
    };
    let rest = match rest.rsplit_once('.') {
        Some((hms, frac)) if frac.chars().all(|c| c.is_ascii_digit()) && hms.contains(':') => hms,
        _ => rest,
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let [h, m, sec] = parts.as_slice() else {
        return None;
    };
    let num = |x: &str| -> Option<u64> {
        if x.is_empty() || !x.chars().all(|c| c.is_ascii_digit()) || x.len() > 4 {
            None
        } else {
            x.parse().ok()
        }
    };
    let (h, m, sec) = (num(h)?, num(m)?, num(sec)?);
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some(days.checked_mul(86_400)? + h * 3600 + m * 60 + sec)
}

fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_SOURCE_BYTES).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Where a roxmltree error is (byte offset) and its message without the position. An end tag
/// missing its `>` (`</rule` followed by the next tag) is reported at that end tag.
fn xml_error(text: &str, e: &roxmltree::Error) -> (usize, String) {
    use roxmltree::Error as E;
    let message = e.to_string();
    let p = e.pos();
    let mut message = message.replace(&format!(" at {p}"), "");
    if let E::MalformedEntityReference(_) | E::UnknownEntityReference(..) = e {
        message.push_str(" (a literal & must be written &amp;)");
    }
    let offset = match e {
        E::UnexpectedEndOfStream | E::UnclosedRootNode | E::NoRootNode => text.len(),
        _ => offset_of(text, p.row, p.col),
    };
    // `</name` + white space + `<`: point at the unterminated end tag.
    if let E::InvalidChar(b'>', _, _) | E::InvalidChar2(..) = e {
        let before = text.get(..offset).unwrap_or("");
        if let Some(lt) = before.rfind("</") {
            let between = before.get(lt + 2..).unwrap_or("");
            let name_end = between
                .find(|c: char| c.is_whitespace())
                .unwrap_or(between.len());
            let (name, rest) = between.split_at(name_end);
            if !name.is_empty()
                && !name.contains(['<', '>'])
                && rest.chars().all(char::is_whitespace)
            {
                return (lt, format!("end tag </{name} is not closed with '>'"));
            }
        }
    }
    (offset, message)
}

/// Byte offset of a roxmltree row/column (1-based, columns in characters).
fn offset_of(text: &str, row: u32, col: u32) -> usize {
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i + 1 == row as usize {
            let extra: usize = line
                .chars()
                .take(col.saturating_sub(1) as usize)
                .map(char::len_utf8)
                .sum();
            return offset + extra;
        }
        offset += line.len();
    }
    text.len()
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]
    use super::*;

    fn imp(xml: &str) -> Imported {
        let mut files = Files::default();
        let f = files.add("web.config".into());
        import(xml, f, &mut files, Path::new(""))
    }

    fn messages(i: &Imported) -> Vec<String> {
        i.diagnostics
            .iter()
            .map(|d| format!("{}:{}: {}", d.pos.line, d.pos.col, d.message))
            .collect()
    }

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("00:02:00"), Some(120));
        assert_eq!(parse_timespan("1.00:00:00"), Some(86_400));
        assert_eq!(parse_timespan("00:00:30.5"), Some(30));
        assert_eq!(parse_timespan("2:5:7"), Some(7507));
        assert_eq!(parse_timespan("120"), None);
        assert_eq!(parse_timespan("00:60:00"), None);
        assert_eq!(parse_timespan("a:b:c"), None);
        assert_eq!(parse_timespan(""), None);
    }

    #[test]
    fn decode_handles_boms_and_reports_bad_bytes() {
        assert_eq!(decode(b"\xEF\xBB\xBF<a/>").unwrap(), "<a/>");
        assert_eq!(decode(b"\xFF\xFE<\0a\0/\0>\0").unwrap(), "<a/>");
        assert_eq!(decode(b"\xFE\xFF\0<\0a\0/\0>").unwrap(), "<a/>");
        assert_eq!(decode(b"<a>\xff</a>").unwrap_err().0, 3);
        assert!(decode(b"\xFF\xFE<").is_err());
    }

    #[test]
    fn canonical_enum_spelling() {
        assert_eq!(
            canon(Some("matchany"), LOGICAL_GROUPING).unwrap(),
            "MatchAny"
        );
        assert_eq!(canon(Some("Bogus"), LOGICAL_GROUPING).unwrap(), "Bogus");
        assert_eq!(canon(None, LOGICAL_GROUPING), None);
    }

    #[test]
    fn unclosed_end_tag_is_reported_on_its_line() {
        let i = imp("<configuration>\n<a>\n</a\n<b/>\n</configuration>");
        assert!(!i.parsed);
        assert_eq!(
            messages(&i),
            ["3:1: malformed XML: end tag </a is not closed with '>'"]
        );
    }

    #[test]
    fn remove_and_clear_shift_indices() {
        let i = imp(r#"<rules>
  <rule name="a"><match url="a"/></rule>
  <rule name="b"><match url="b"/></rule>
  <remove name="A"/>
  <rule name="c"><match url="c"/></rule>
</rules>"#);
        assert!(i.diagnostics.is_empty(), "{:?}", messages(&i));
        let names: Vec<_> = i.config.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["b", "c"]);
        assert_eq!(
            i.spans.get("rules/1"),
            Some(Pos {
                file: 0,
                line: 5,
                col: 3
            })
        );
        assert_eq!(
            i.spans.get("rules/1/match/url"),
            Some(Pos {
                file: 0,
                line: 5,
                col: 25
            })
        );
    }

    #[test]
    fn collects_every_problem() {
        let i = imp(r#"<rewrite><rules>
  <rule name="a" enabled="yes" bogus="1"><match url="a" Negate="true"/><frob/></rule>
  <rule name="a"><action type="CustomResponse" statusCode="x"/></rule>
</rules></rewrite>"#);
        let m = messages(&i);
        assert_eq!(m.len(), 6, "{m:?}");
        assert!(m[0].starts_with("2:32: <rule>: unknown attribute bogus"));
        assert!(m[1].starts_with("2:18: rule \"a\" attribute enabled: \"yes\" is not a boolean"));
        assert!(m[2].contains("unknown attribute Negate (did you mean negate?)"));
        assert!(m[3].starts_with("2:72: rule \"a\": unknown element <frob>"));
        assert!(m[4].starts_with("3:48: rule \"a\" <action> attribute statusCode: \"x\""));
        assert!(m[5].starts_with(
            "3:9: rule \"a\": duplicate name \"a\" (first defined at web.config:2:9)"
        ));
    }
}
