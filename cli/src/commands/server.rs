//! `--applicationhost FILE`: a whole IIS server as input to `check`, `import`, `explain` and
//! `envoy`. The importer is [`crate::import::application_host`]; this module compiles each
//! site, reports every diagnostic once (across applicationHost.config and the sites'
//! web.config files), and prints what `check` shows per site.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use iis_rewrite_filter::{Engine, FilterConfig};

use crate::diag::{quote, Diagnostic, Files, Pos};
use crate::import::application_host::{
    import_server, Binding, LevelSource, ServerOptions, SiteDef, WebConfigLookup,
};
use crate::load::{compile_located, read_limited, summary};

/// The options that name a whole server instead of one FILE.
#[derive(Debug, Clone, Default, Args)]
pub struct ServerInput {
    /// A whole IIS server: its applicationHost.config. Each site's web.config is read from the
    /// site's physicalPath (see --drive-root) or from --site-root.
    // No clap `conflicts_with` here: clap waives an argument's `requires` when the required
    // one conflicts with something present, which would let --site-root pass without
    // --applicationhost. [`super::Input::applicationhost`] refuses FILE with it instead.
    #[arg(long, value_name = "FILE")]
    pub applicationhost: Option<PathBuf>,
    /// With --applicationhost: the directory holding site NAME's web.config (repeatable).
    #[arg(long = "site-root", value_name = "NAME=DIR", requires = "applicationhost", value_parser = parse_site_root)]
    pub site_roots: Vec<(String, PathBuf)>,
    /// With --applicationhost: the directory standing for a drive's root (C:\) in physical
    /// paths (default: the directory of applicationHost.config).
    #[arg(long, value_name = "DIR", requires = "applicationhost")]
    pub drive_root: Option<PathBuf>,
}

/// Parses `--site-root NAME=DIR` (clap value parser); NAME is an IIS site name.
pub fn parse_site_root(value: &str) -> Result<(String, PathBuf), String> {
    match value.split_once('=') {
        Some((name, dir)) if !name.trim().is_empty() && !dir.is_empty() => {
            Ok((name.trim().to_string(), PathBuf::from(dir)))
        }
        _ => Err(format!("{value:?}: expected NAME=DIR (an IIS site name)")),
    }
}

/// One site, compiled.
#[derive(Debug)]
pub struct LoadedSite {
    pub def: SiteDef,
    /// The rule set name of the site in the generated configuration (its name, lowercased:
    /// IIS site names are case-insensitive).
    pub rule_set: String,
    pub config: FilterConfig,
    pub engine: Option<std::rc::Rc<Engine>>,
    pub errors: usize,
    pub locations: Vec<Pos>,
    pub web_config: WebConfigLookup,
    pub below_root: Vec<(String, LevelSource)>,
    pub ignored: Vec<(String, Pos)>,
}

/// A whole server, compiled site by site.
#[derive(Debug)]
pub struct LoadedServer {
    pub source: String,
    pub files: Files,
    /// Every diagnostic once, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    pub unreadable: Option<String>,
    /// The server level alone (the rule set of requests no site's route names).
    pub server: Option<(FilterConfig, Option<Engine>)>,
    pub sites: Vec<LoadedSite>,
}

impl LoadedServer {
    pub fn has_errors(&self) -> bool {
        self.unreadable.is_some() || self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The site named `name` (case-insensitive).
    pub fn site(&self, name: &str) -> Option<&LoadedSite> {
        self.sites
            .iter()
            .find(|s| s.def.name.eq_ignore_ascii_case(name))
    }
}

/// Reads, imports and compiles a server.
pub fn load_server(path: &Path, input: &ServerInput) -> LoadedServer {
    let source = path.display().to_string();
    let mut files = Files::default();
    let file = files.add(source.clone());
    let mut out = LoadedServer {
        source: source.clone(),
        files,
        diagnostics: Vec::new(),
        unreadable: None,
        server: None,
        sites: Vec::new(),
    };
    let bytes = match read_limited(path) {
        Ok(b) => b,
        Err(e) => {
            out.unreadable = Some(format!("{source}: error: cannot read the file: {e}"));
            return out;
        }
    };
    let text = match crate::import::decode(&bytes) {
        Ok(t) => t,
        Err((offset, message)) => {
            let (line, col) = crate::diag::line_col(&String::from_utf8_lossy(&bytes), offset);
            out.diagnostics
                .push(Diagnostic::error(Pos { file, line, col }, message));
            return out;
        }
    };
    let opts = ServerOptions {
        site_roots: input.site_roots.clone(),
        drive_root: input.drive_root.clone(),
    };
    let imported = import_server(&text, file, &mut out.files, path, &opts);
    let mut all = imported.diagnostics;
    if imported.parsed {
        let mut diags = imported.server.diagnostics;
        let engine = compile_located(
            &imported.server.config,
            &imported.server.spans,
            &mut diags,
            file,
        );
        all.extend(diags);
        out.server = Some((imported.server.config, engine));
    }
    for site in imported.sites {
        let mut diags = site.imported.diagnostics;
        let engine = compile_located(
            &site.imported.config,
            &site.imported.spans,
            &mut diags,
            file,
        );
        let errors = diags.iter().filter(|d| d.is_error()).count();
        all.extend(diags);
        out.sites.push(LoadedSite {
            rule_set: site.def.name.to_ascii_lowercase(),
            def: site.def,
            config: site.imported.config,
            engine: engine.map(std::rc::Rc::new),
            errors,
            locations: site.locations,
            web_config: site.web_config,
            below_root: site.below_root,
            ignored: site.ignored,
        });
    }
    // The server level is read once per site: its problems are reported once.
    all.sort_by(|a, b| {
        (a.pos.file, a.pos.line, a.pos.col, &a.message)
            .cmp(&(b.pos.file, b.pos.line, b.pos.col, &b.message))
    });
    all.dedup();
    out.diagnostics = all;
    out
}

/// Loads the server and prints its diagnostics on stderr.
pub fn load_and_report(path: &Path, input: &ServerInput) -> LoadedServer {
    let loaded = load_server(path, input);
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    if let Some(msg) = &loaded.unreadable {
        let _ = writeln!(err, "{msg}");
    }
    for d in &loaded.diagnostics {
        let _ = writeln!(err, "{}", d.render(&loaded.files));
    }
    loaded
}

/// Why a binding is not served by the generated Envoy configuration, if it is not.
pub fn unserved_reason(b: &Binding) -> Option<String> {
    match &b.endpoint {
        None if b.protocol.eq_ignore_ascii_case("http")
            || b.protocol.eq_ignore_ascii_case("https") =>
        {
            Some("its bindingInformation could not be read".into())
        }
        None => Some(format!(
            "protocol {} is not HTTP: Envoy serves the HTTP and HTTPS bindings here",
            quote(&b.protocol)
        )),
        Some(_) => None,
    }
}

/// `check --applicationhost`: per site, what was imported, from where, and what was left to the
/// default upstream. Exit 0 when nothing is refused.
pub fn check(path: &Path, input: &ServerInput) -> u8 {
    let loaded = load_and_report(path, input);
    if loaded.unreadable.is_some() {
        return 1;
    }
    let mut out = String::new();
    let at = |pos: &Pos| format!("{}:{}:{}", loaded.files.name(pos.file), pos.line, pos.col);
    if let Some((config, _)) = &loaded.server {
        out.push_str(&format!(
            "{}: server level: {}\n",
            loaded.source,
            summary(config)
        ));
    }
    for site in &loaded.sites {
        let id = site
            .def
            .id
            .map(|i| format!(" (id {i})"))
            .unwrap_or_default();
        let status = if site.errors == 0 {
            format!("ok: {}", summary(&site.config))
        } else {
            format!("refused: {} error(s), listed above", site.errors)
        };
        out.push_str(&format!("site {}{id}: {status}\n", quote(&site.def.name)));
        for b in &site.def.bindings {
            match (unserved_reason(b), &b.certificate_hash) {
                (Some(why), _) => {
                    out.push_str(&format!("  binding {}: not served: {why}\n", b.describe()))
                }
                (None, Some(_)) => out.push_str(&format!(
                    "  binding {}: its certificate is in the Windows certificate store; name \
                     its PEM files with `envoy --certificate {}=CERT,KEY`\n",
                    b.describe(),
                    b.endpoint
                        .as_ref()
                        .and_then(|e| e.host.as_deref())
                        .unwrap_or("*")
                )),
                (None, None) => out.push_str(&format!("  binding {}\n", b.describe())),
            }
        }
        for pos in &site.locations {
            out.push_str(&format!(
                "  read: <location path={}> at {}\n",
                quote(&site.def.name),
                at(pos)
            ));
        }
        match &site.web_config {
            WebConfigLookup::Read(f) => {
                out.push_str(&format!("  read: web.config {}\n", f.display()));
            }
            WebConfigLookup::Absent(dir) => out.push_str(&format!(
                "  no web.config in {} (give --site-root {}=DIR if it is elsewhere)\n",
                dir.display(),
                quote(&site.def.name)
            )),
            WebConfigLookup::Unmapped {
                physical_path,
                problem,
            } => out.push_str(&format!(
                "  web.config not looked for: physicalPath {}: {problem}; give --site-root {}=DIR\n",
                quote(physical_path),
                quote(&site.def.name)
            )),
            WebConfigLookup::NoPhysicalPath => {
                out.push_str("  web.config not looked for: the site has no root physicalPath\n");
            }
        }
        for (dir, source) in &site.below_root {
            let what = match source {
                LevelSource::Location(pos) => format!("<location> at {}", at(pos)),
                LevelSource::WebConfig(f) => format!("web.config {}", f.display()),
            };
            out.push_str(&format!("  read for {dir}: {what}\n"));
        }
        if !site.ignored.is_empty() {
            let list: Vec<String> = site
                .ignored
                .iter()
                .map(|(n, p)| format!("<{n}> ({})", at(p)))
                .collect();
            out.push_str(&format!(
                "  ignored (other IIS modules; the site's default upstream serves what they \
                 did): {}\n",
                list.join(", ")
            ));
        }
    }
    let code = if loaded.has_errors() { 1 } else { 0 };
    match super::write_output(None, &out) {
        0 => code,
        c => c,
    }
}

/// The site `--site NAME` names, or the one whose bindings take `host`/`port` (as HTTP.sys
/// picks a site: an exact host name first, then a binding for every host name).
pub fn site_for_request<'a>(
    loaded: &'a LoadedServer,
    name: Option<&str>,
    host: Option<&str>,
    port: Option<u16>,
    https: bool,
) -> Result<&'a LoadedSite, String> {
    if let Some(name) = name {
        return loaded
            .site(name)
            .ok_or_else(|| format!("--site {}: no site of that name", quote(name)));
    }
    let host = host
        .map(|h| h.rsplit_once(':').map(|(h, _)| h).unwrap_or(h))
        .unwrap_or("localhost")
        .to_ascii_lowercase();
    let port = port.unwrap_or(if https { 443 } else { 80 });
    let endpoints = || {
        loaded.sites.iter().flat_map(|s| {
            s.def
                .bindings
                .iter()
                .filter_map(move |b| b.endpoint.as_ref().map(|e| (s, e)))
        })
    };
    let exact = endpoints().find(|(_, e)| {
        e.port == port
            && e.https == https
            && e.host.as_deref().is_some_and(|h| host_matches(h, &host))
    });
    let any = || endpoints().find(|(_, e)| e.port == port && e.https == https && e.host.is_none());
    exact.or_else(any).map(|(s, _)| s).ok_or_else(|| {
        format!(
            "no site has a binding for {}://{host}:{port}; name one with --site NAME",
            if https { "https" } else { "http" }
        )
    })
}

/// Whether a binding's host name (`*.example.com` allowed) takes `host`.
pub fn host_matches(binding: &str, host: &str) -> bool {
    match binding.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
        None => binding == host,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wildcard_host_bindings() {
        assert!(host_matches("*.example.com", "a.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "aexample.com"));
        assert!(host_matches("a.example", "a.example"));
        assert!(parse_site_root("Default Web Site=/srv/www").is_ok());
        assert!(parse_site_root("=/srv").is_err());
        assert!(parse_site_root("x").is_err());
    }
}
