//! A whole IIS server: `applicationHost.config` (the server-level configuration file IIS keeps in
//! `%windir%\System32\inetsrv\config`, see "Configuration reference",
//! <https://learn.microsoft.com/iis/configuration/>) and the web.config of each site.
//!
//! Each site gets its own [`Imported`] configuration, built from the levels IIS merges for a
//! request to that site's root, in IIS's order: the server level (`system.webServer` of
//! applicationHost.config and `<location path="">`, which holds `globalRules`, the server's
//! distributed `rules`, `allowedServerVariables` and ARR's `<proxy>`; `<webFarms>` at
//! `<configuration>` level), then `<location path="SITE">`, then the site's own web.config. The
//! levels feed the same IIS collections, so `<clear/>` and `<remove/>` at a lower level act on
//! what the levels above defined, and a name defined twice across levels is refused as IIS
//! refuses it. `<proxy>` attributes set at site level override the server's one by one.
//!
//! The levels below a site's root (`<location path="SITE/app">`, the web.config of each
//! application and virtual directory) follow, their rules carrying their directory
//! ([`levels`]). Where this deviates from IIS, the command says so rather than guess. Sections
//! IIS allows only in applicationHost.config (`globalRules`, `webFarms`) are refused in a
//! web.config.

mod levels;
mod physical_path;
mod sites;

pub(super) use levels::LevelDrop;
pub use levels::LevelSource;

use std::path::{Path, PathBuf};

use roxmltree::{Document, Node};

use crate::diag::{quote, Diagnostic, Files, LineIndex, Pos};

use super::xml::{parse_document, Doc};
use super::{Imported, Importer};

pub use physical_path::PathProblem;
pub use sites::{Binding, SiteDef};

/// `system.webServer` children the importer reads; any other is another IIS module's.
const READ_IN_SYSTEM_WEB_SERVER: &[&str] = &["rewrite", "proxy", "httpProtocol"];

/// Where the command looks for the sites' web.config files.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// `--site-root NAME=DIR`: the directory of site NAME's web.config.
    pub site_roots: Vec<(String, PathBuf)>,
    /// The directory standing for a drive's root in physical paths (default: the directory of
    /// applicationHost.config).
    pub drive_root: Option<PathBuf>,
}

/// How a site's web.config was looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebConfigLookup {
    /// Read from this file.
    Read(PathBuf),
    /// No web.config in that directory (a site without one is common).
    Absent(PathBuf),
    /// The physical path could not be mapped to a directory here.
    Unmapped {
        physical_path: String,
        problem: PathProblem,
    },
    /// The site has no root application with a physical path.
    NoPhysicalPath,
}

/// One site as imported.
#[derive(Debug)]
pub struct SiteImport {
    pub def: SiteDef,
    pub imported: Imported,
    /// `<location path="SITE">` sections that were read.
    pub locations: Vec<Pos>,
    pub web_config: WebConfigLookup,
    /// What was read for the levels below the site's root, by directory (`/app/`).
    pub below_root: Vec<(String, LevelSource)>,
    /// Elements of other IIS modules (authentication, handlers, static content, …) found at
    /// site level: what the default upstream stands for.
    pub ignored: Vec<(String, Pos)>,
}

/// A whole server as imported.
#[derive(Debug)]
pub struct ServerImport {
    /// The server level alone (global rules, farms, proxy): what no site adds to.
    pub server: Imported,
    pub sites: Vec<SiteImport>,
    /// Problems not tied to one site's configuration (the site list, stray sections).
    pub diagnostics: Vec<Diagnostic>,
    /// False after a fatal parse error of applicationHost.config.
    pub parsed: bool,
}

/// Imports applicationHost.config (`text`, file number `file`, read from `path`) and every
/// site's web.config.
pub fn import_server(
    text: &str,
    file: usize,
    files: &mut Files,
    path: &Path,
    opts: &ServerOptions,
) -> ServerImport {
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut out = ServerImport {
        server: Importer::new(files, &base).finish(),
        sites: Vec::new(),
        diagnostics: Vec::new(),
        parsed: false,
    };
    let lines = LineIndex::new(text);
    let doc = match parse_document(text) {
        Ok(doc) => doc,
        Err((offset, message)) => {
            let (line, col) = lines.line_col(offset);
            out.diagnostics.push(Diagnostic::error(
                Pos { file, line, col },
                format!("malformed XML: {message}"),
            ));
            return out;
        }
    };
    out.parsed = true;
    let mut d = Doc {
        doc: &doc,
        lines,
        file,
        handled: Default::default(),
    };
    let root = doc.root_element();
    if root.tag_name().name() != "configuration" {
        out.diagnostics.push(Diagnostic::error(
            d.node_pos(root),
            format!(
                "not an applicationHost.config: the root element is <{}>, expected \
                 <configuration>",
                root.tag_name().name()
            ),
        ));
        return out;
    }
    let defs = sites::read_sites(&d, root, &mut out.diagnostics);
    if defs.is_empty() {
        out.diagnostics.push(Diagnostic::warning(
            d.node_pos(root),
            "no <site> under system.applicationHost/sites: there is nothing to serve",
        ));
    }
    out.diagnostics
        .extend(unknown_locations(&mut d, root, &defs));

    let mut server = Importer::new(files, &base);
    server.spans.fallback = Some(d.node_pos(root));
    server.server_level(&mut d, root);
    out.server = server.finish();

    let drive_root = opts.drive_root.clone().unwrap_or_else(|| base.clone());
    for def in defs {
        let mut imp = Importer::new(files, &base);
        imp.spans.fallback = Some(def.pos);
        imp.server_level(&mut d, root);
        let server_proxy = imp.proxy.take();
        imp.sections.clear();
        let (locations, mut ignored) = imp.site_locations(&mut d, root, &def);
        imp.sections.clear();
        let web_config = match site_dir(&def, opts, &drive_root) {
            Ok(dir) => imp.site_web_config(&dir, &mut ignored),
            Err(lookup) => lookup,
        };
        imp.proxy = merge_proxy(server_proxy, imp.proxy.take());
        let below_root = imp.sub_levels(&mut d, root, &def, &drive_root, &mut ignored);
        out.sites.push(SiteImport {
            imported: imp.finish(),
            def,
            locations,
            web_config,
            below_root,
            ignored,
        });
    }
    let mut stray = Importer::new(files, &base);
    stray.stray_rewrites(&d);
    out.diagnostics.append(&mut stray.diags);
    out
}

/// The directory holding a site's web.config: `--site-root`, else its physical path mapped.
fn site_dir(
    def: &SiteDef,
    opts: &ServerOptions,
    drive_root: &Path,
) -> Result<PathBuf, WebConfigLookup> {
    if let Some((_, dir)) = opts
        .site_roots
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&def.name))
    {
        return Ok(dir.clone());
    }
    let Some((physical, _)) = &def.physical_path else {
        return Err(WebConfigLookup::NoPhysicalPath);
    };
    physical_path::map(physical, drive_root).map_err(|problem| WebConfigLookup::Unmapped {
        physical_path: physical.clone(),
        problem,
    })
}

/// A site-level `<proxy>` overrides the server's attributes one by one (an IIS section's
/// attributes are inherited individually).
fn merge_proxy(
    server: Option<(iis_rewrite_filter::config::ProxySettings, super::xml::Spans)>,
    site: Option<(iis_rewrite_filter::config::ProxySettings, super::xml::Spans)>,
) -> Option<(iis_rewrite_filter::config::ProxySettings, super::xml::Spans)> {
    let (server, site) = match (server, site) {
        (s, None) => return s,
        (None, s) => return s,
        (Some(a), Some(b)) => (a, b),
    };
    let (base, over) = (server.0, site.0);
    let settings = iis_rewrite_filter::config::ProxySettings {
        enabled: over.enabled.or(base.enabled),
        preserve_host_header: over.preserve_host_header.or(base.preserve_host_header),
        timeout: over.timeout.or(base.timeout),
        reverse_rewrite_host_in_response_headers: over
            .reverse_rewrite_host_in_response_headers
            .or(base.reverse_rewrite_host_in_response_headers),
        x_forwarded_for_header_name: over
            .x_forwarded_for_header_name
            .or(base.x_forwarded_for_header_name),
        include_port_in_x_forwarded_for: over
            .include_port_in_x_forwarded_for
            .or(base.include_port_in_x_forwarded_for),
        backend_auth: over.backend_auth.or(base.backend_auth),
        trusted_hops: over.trusted_hops.or(base.trusted_hops),
        // No IIS attribute carries it; the JSON and --dynamic-upstream do.
        dynamic_upstreams: Vec::new(),
    };
    let mut spans = server.1;
    spans.extend(site.1);
    Some((settings, spans))
}

/// `<location path="X…">` whose first segment names no site: IIS ignores it for every site.
fn unknown_locations(d: &mut Doc<'_, '_>, root: Node<'_, '_>, defs: &[SiteDef]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for loc in root.children().filter(|n| n.has_tag_name("location")) {
        let path = location_path(loc);
        if path.is_empty() {
            continue;
        }
        let site = path.split('/').next().unwrap_or_default();
        if !defs.iter().any(|s| s.name.eq_ignore_ascii_case(site)) {
            d.handled.insert(loc.id());
            out.push(Diagnostic::warning(
                d.node_pos(loc),
                format!(
                    "<location path={}>: no site is named {}; its configuration applies to \
                     nothing",
                    quote(&path),
                    quote(site)
                ),
            ));
        }
    }
    out
}

/// A `<location>`'s path without surrounding slashes; `.` is the level itself (empty).
fn location_path(loc: Node<'_, '_>) -> String {
    let p = loc.attribute("path").unwrap_or("").trim().trim_matches('/');
    if p == "." {
        String::new()
    } else {
        p.to_string()
    }
}

/// The elements below `system.webServer` (and other top-level sections) that are another
/// module's configuration.
fn other_modules(d: &Doc<'_, '_>, node: Node<'_, '_>, out: &mut Vec<(String, Pos)>) {
    for child in node.children().filter(Node::is_element) {
        let name = child.tag_name().name();
        match name {
            "system.webServer" => {
                for m in child.children().filter(Node::is_element) {
                    let n = m.tag_name().name();
                    if !READ_IN_SYSTEM_WEB_SERVER.contains(&n) {
                        out.push((n.to_string(), d.node_pos(m)));
                    }
                }
            }
            "location" if location_path(child).is_empty() => other_modules(d, child, out),
            "location" | "configSections" | "webFarms" => {}
            _ => out.push((name.to_string(), d.node_pos(child))),
        }
    }
}

impl Importer<'_> {
    /// The server level of applicationHost.config.
    fn server_level(&mut self, d: &mut Doc<'_, '_>, root: Node<'_, '_>) {
        for child in root.children().filter(Node::is_element) {
            match child.tag_name().name() {
                "system.webServer" => self.system_web_server(d, child),
                "webFarms" => self.section(d, child, "webFarms"),
                "location" if location_path(child).is_empty() => {
                    for w in child
                        .children()
                        .filter(|c| c.has_tag_name("system.webServer"))
                    {
                        self.system_web_server(d, w);
                    }
                }
                _ => {}
            }
        }
    }

    /// `<location path="SITE">` sections of `site` (those below its root are read by
    /// `sub_levels`). Returns where the site's sections are and the other modules they configure.
    fn site_locations(
        &mut self,
        d: &mut Doc<'_, '_>,
        root: Node<'_, '_>,
        site: &SiteDef,
    ) -> (Vec<Pos>, Vec<(String, Pos)>) {
        let mut read = Vec::new();
        let mut ignored = Vec::new();
        for loc in root.children().filter(|n| n.has_tag_name("location")) {
            let path = location_path(loc);
            if path.eq_ignore_ascii_case(&site.name) {
                read.push(d.node_pos(loc));
                for w in loc
                    .children()
                    .filter(|c| c.has_tag_name("system.webServer"))
                {
                    let level = format!("<location path={}>", quote(&site.name));
                    self.refuse_server_only(d, w, &level);
                    self.system_web_server(d, w);
                }
                other_modules(d, loc, &mut ignored);
            }
        }
        (read, ignored)
    }

    /// `globalRules` belongs to the server level only.
    fn refuse_server_only(&mut self, d: &Doc<'_, '_>, web_server: Node<'_, '_>, level: &str) {
        let global = web_server
            .children()
            .filter(|c| c.has_tag_name("rewrite"))
            .flat_map(|r| r.children().filter(|c| c.has_tag_name("globalRules")))
            .map(|g| d.node_pos(g))
            .collect::<Vec<_>>();
        for pos in global {
            self.error(
                pos,
                format!(
                    "<globalRules> in {level}: global rules can only be defined for the whole \
                     server (applicationHost.config outside a site's <location>); IIS refuses \
                     them here"
                ),
            );
        }
    }

    /// Reads `dir/web.config` (any case) as the site's own level.
    fn site_web_config(&mut self, dir: &Path, ignored: &mut Vec<(String, Pos)>) -> WebConfigLookup {
        let file = physical_path::child_ignoring_case(dir, "web.config");
        if !file.is_file() {
            return WebConfigLookup::Absent(dir.to_path_buf());
        }
        let display = file.display().to_string();
        let id = self.files.add(display.clone());
        let at = Pos {
            file: id,
            line: 1,
            col: 1,
        };
        let bytes = match crate::load::read_limited(&file) {
            Ok(b) => b,
            Err(e) => {
                self.error(at, format!("cannot read the site's web.config: {e}"));
                return WebConfigLookup::Read(file);
            }
        };
        let text = match super::decode(&bytes) {
            Ok(t) => t,
            Err((offset, message)) => {
                let (line, col) = crate::diag::line_col(&String::from_utf8_lossy(&bytes), offset);
                self.error(
                    Pos {
                        file: id,
                        line,
                        col,
                    },
                    message,
                );
                return WebConfigLookup::Read(file);
            }
        };
        self.base_dir = dir.to_path_buf();
        self.document(&text, id, None);
        for section in ["globalRules", "webFarms"] {
            if let Some(pos) = self.sections.get(section).copied() {
                self.error(
                    pos,
                    format!(
                        "<{section}> in a site's web.config: IIS allows this section only in \
                         applicationHost.config"
                    ),
                );
            }
        }
        if let Ok(doc) = Document::parse(&text) {
            let d = Doc {
                doc: &doc,
                lines: LineIndex::new(&text),
                file: id,
                handled: Default::default(),
            };
            other_modules(&d, doc.root_element(), ignored);
        }
        WebConfigLookup::Read(file)
    }
}

#[cfg(test)]
mod tests;
