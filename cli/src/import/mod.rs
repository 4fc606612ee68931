//! The web.config importer: reads the `<rewrite>` section (URL Rewrite Module configuration
//! reference, <https://learn.microsoft.com/iis/extensions/url-rewrite-module/url-rewrite-module-configuration-reference>),
//! the `<httpProtocol>` custom headers and the ARR proxy settings of an IIS
//! configuration file into the filter's [`FilterConfig`], remembering where every element and
//! attribute stands so that the engine's errors can be reported at a line and column.
//!
//! What is checked here is what the JSON model cannot carry: malformed XML, elements and
//! attributes the IIS schema does not have (IIS refuses them with 500.19), booleans and numbers
//! that do not parse, duplicate names in a collection, sections defined twice, a `<rewrite>`
//! outside `<system.webServer>`, `configSource` files. Enumerated values are only brought to
//! their canonical spelling when they match one case-insensitively, as IIS reads them; anything else is
//! passed through for the engine to refuse with the rule and attribute named.
//!
//! Deliberate limits: `<location path="…">` wrappers are read only for the site itself (`path`
//! empty or `.`; the `<location path="." inheritInChildApplications="false">` form ASP.NET Core
//! publishes); others are reported as not imported. `<redirectHeaders>`,
//! `<providers>` and ARR settings neither the filter nor Envoy has a use for are accepted with a
//! warning. Other IIS modules' elements (`<caching>`, `<handlers>`, …) are ignored.
//!
//! ARR server farms (`<webFarms>`, an applicationHost.config section) are read when the
//! file carries them at `<configuration>` level, so that one file can describe the rules and the
//! farms they route to.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use iis_rewrite_filter::config::{
    CustomHeader, CustomTags, InboundRule, OutboundRule, OutboundRules, PreCondition,
    ProxySettings, RewriteMap, WebFarm,
};
use iis_rewrite_filter::FilterConfig;
use roxmltree::Node;

use crate::diag::{quote, Diagnostic, Files, LineIndex, Pos};
use crate::spans::SpanMap;

pub mod application_host;
mod collection;
mod config_source;
mod encoding;
mod headers;
mod inbound;
mod outbound;
mod proxy;
mod rewrite_maps;
pub mod vocab;
mod web_farms;
mod xml;

pub use encoding::decode;

use collection::Coll;
use xml::{join, parse_document, Doc, Spans};

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
    let mut imp = Importer::new(files, base_dir);
    let parsed = imp.document(text, file, None);
    let mut imported = imp.finish();
    imported.parsed = parsed;
    imported
}

impl<'f> Importer<'f> {
    fn new(files: &'f mut Files, base_dir: &Path) -> Self {
        Importer {
            files,
            base_dir: base_dir.to_path_buf(),
            diags: Vec::new(),
            spans: SpanMap::default(),
            rules: Coll::new("rule", false),
            global_rules: Coll::new("global rule", false),
            outbound: Coll::new("outbound rule", false),
            pre_conditions: Coll::new("preCondition", false),
            custom_tags: Coll::new("customTags", false),
            maps: Coll::new("rewriteMap", false),
            allowed: None,
            headers: Coll::new("customHeader", false),
            proxy: None,
            farms: Coll::new("webFarm", false),
            sections: HashMap::new(),
            saw_outbound: false,
            directory: None,
        }
    }
}

/// The sections of `<rewrite>` (see the URL Rewrite configuration reference above).
const REWRITE_SECTIONS: &[&str] = &[
    "rules",
    "globalRules",
    "outboundRules",
    "rewriteMaps",
    "allowedServerVariables",
    "providers",
];

struct Importer<'f> {
    files: &'f mut Files,
    base_dir: PathBuf,
    diags: Vec<Diagnostic>,
    spans: SpanMap,
    rules: Coll<InboundRule>,
    global_rules: Coll<InboundRule>,
    outbound: Coll<OutboundRule>,
    pre_conditions: Coll<PreCondition>,
    custom_tags: Coll<CustomTags>,
    maps: Coll<RewriteMap>,
    allowed: Option<Coll<()>>,
    headers: Coll<CustomHeader>,
    proxy: Option<(ProxySettings, Spans)>,
    farms: Coll<WebFarm>,
    /// Sections already defined: name → where.
    sections: HashMap<&'static str, Pos>,
    saw_outbound: bool,
    /// The directory below the site's root whose level is being read (`/app/`): its rules get
    /// it as their `directory`.
    directory: Option<String>,
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

    /// Parses and reads one document. `section` is set for a `configSource` file, whose root
    /// must be that section. Returns false when the XML could not be parsed.
    fn document(&mut self, text: &str, file: usize, section: Option<&'static str>) -> bool {
        let lines = LineIndex::new(text);
        let doc = match parse_document(text) {
            Ok(doc) => doc,
            Err((offset, message)) => {
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
        if self.skip_site_wide(pos, name) {
            d.handled.insert(node.id());
            return;
        }
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
        outbound.custom_tags = self
            .custom_tags
            .into_values("outboundRules/customTags", &mut record);
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
            ("outboundRules/customTags", "outboundRules"),
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
    fn decode_handles_boms_and_reports_bad_bytes() {
        assert_eq!(decode(b"\xEF\xBB\xBF<a/>").unwrap(), "<a/>");
        assert_eq!(decode(b"\xFF\xFE<\0a\0/\0>\0").unwrap(), "<a/>");
        assert_eq!(decode(b"\xFE\xFF\0<\0a\0/\0>").unwrap(), "<a/>");
        assert_eq!(decode(b"<a>\xff</a>").unwrap_err().0, 3);
        assert!(decode(b"\xFF\xFE<").is_err());
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
