//! The configuration levels below a site's root: `<location path="SITE/app">` in
//! applicationHost.config and the web.config of each application and virtual directory. IIS
//! merges them into the rule collection of the URLs under that path, after the levels above
//! ("URL Rewrite Module Configuration Reference": a distributed rule matches the URL relative to
//! where it is defined; inherited rules run first). Here each level's rules are appended to the
//! site's rule set with their directory (the filter's `directory` key), in IIS order: a path
//! before the paths below it, and for one path `<location>` before the web.config.
//!
//! What a flat rule set cannot say is reported, not guessed: `<clear/>` or `<remove/>` of a rule
//! inherited from a level above (the inherited rule keeps running there), and sections that
//! would apply to the whole site (`outboundRules`, `httpProtocol`, `proxy`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use roxmltree::Node;

use crate::diag::{quote, Pos};

use super::super::collection::{Coll, Entry};
use super::super::xml::Doc;
use super::super::Importer;
use super::physical_path;
use super::sites::SiteDef;
use super::{location_path, other_modules, WebConfigLookup};
use iis_rewrite_filter::config::InboundRule;

/// Sections IIS allows below a site's root that the filter applies site-wide: not imported there.
const SITE_WIDE_SECTIONS: &[&str] = &["outboundRules", "httpProtocol", "proxy"];

/// One path below a site's root that has configuration.
#[derive(Debug)]
struct Level<'a, 'i> {
    /// `/app/sub`: no trailing slash.
    path: String,
    locations: Vec<Node<'a, 'i>>,
    /// `physicalPath` of the application or virtual directory at this path, and where it is.
    physical: Option<(Option<String>, Pos)>,
}

/// Where the configuration of a level below the root was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelSource {
    /// `<location path="SITE/…">` in applicationHost.config.
    Location(Pos),
    /// The web.config of an application or virtual directory.
    WebConfig(PathBuf),
}

/// `<clear/>` or `<remove name=…/>` met in a rules section below the root.
#[derive(Debug)]
pub(in crate::import) struct LevelDrop {
    pub(in crate::import) name: Option<String>,
    pub(in crate::import) pos: Pos,
}

/// `SITE/app/sub` → `/app/sub` when the location names a path below `site`.
fn below(site: &str, location: &str) -> Option<String> {
    let (s, rest) = location.split_once('/')?;
    let rest = rest.trim_matches('/');
    (s.eq_ignore_ascii_case(site) && !rest.is_empty()).then(|| format!("/{rest}"))
}

impl Importer<'_> {
    /// Reads every level below `site`'s root, in IIS order; returns what was read, for each
    /// directory (`/app/`).
    pub(super) fn sub_levels(
        &mut self,
        d: &mut Doc<'_, '_>,
        root: Node<'_, '_>,
        site: &SiteDef,
        drive_root: &Path,
        ignored: &mut Vec<(String, Pos)>,
    ) -> Vec<(String, LevelSource)> {
        let mut read = Vec::new();
        // Keyed by the lowercased path: a path sorts before the paths below it, and disjoint
        // paths never share a URL.
        let mut levels: BTreeMap<String, Level<'_, '_>> = BTreeMap::new();
        fn level<'m, 'a, 'i>(
            levels: &'m mut BTreeMap<String, Level<'a, 'i>>,
            path: String,
        ) -> &'m mut Level<'a, 'i> {
            levels.entry(path.to_ascii_lowercase()).or_insert(Level {
                path,
                locations: Vec::new(),
                physical: None,
            })
        }
        for loc in root.children().filter(|n| n.has_tag_name("location")) {
            if let Some(path) = below(&site.name, &location_path(loc)) {
                d.handled.insert(loc.id());
                level(&mut levels, path).locations.push(loc);
            }
        }
        for (path, physical, pos) in &site.applications {
            let path = format!("/{}", path.trim_matches('/'));
            level(&mut levels, path).physical = Some((physical.clone(), *pos));
        }

        let site_sections = std::mem::take(&mut self.sections);
        for l in levels.into_values() {
            let dir = format!("{}/", l.path);
            self.directory = Some(dir.clone());
            for loc in &l.locations {
                read.push((dir.clone(), LevelSource::Location(d.node_pos(*loc))));
                self.sections.clear();
                for w in loc
                    .children()
                    .filter(|c| c.has_tag_name("system.webServer"))
                {
                    let what = format!(
                        "<location path={}>",
                        quote(&format!("{}{}", site.name, l.path))
                    );
                    self.refuse_server_only(d, w, &what);
                    self.system_web_server(d, w);
                }
                other_modules(d, *loc, ignored);
            }
            if let Some((physical, pos)) = &l.physical {
                self.sections.clear();
                if let Some(file) = self.level_web_config(
                    site,
                    &l.path,
                    physical.as_deref(),
                    *pos,
                    drive_root,
                    ignored,
                ) {
                    read.push((dir.clone(), LevelSource::WebConfig(file)));
                }
            }
        }
        self.directory = None;
        self.sections = site_sections;
        read
    }

    /// The web.config of the application or virtual directory at `path`.
    fn level_web_config(
        &mut self,
        site: &SiteDef,
        path: &str,
        physical: Option<&str>,
        pos: Pos,
        drive_root: &Path,
        ignored: &mut Vec<(String, Pos)>,
    ) -> Option<PathBuf> {
        let what = format!("site {} {}", quote(&site.name), quote(path));
        let Some(physical) = physical else {
            self.warn(
                pos,
                format!("{what}: no physicalPath, so no web.config of its own is read"),
            );
            return None;
        };
        match physical_path::map(physical, drive_root) {
            Ok(dir) => {
                // Its configSource files are relative to its own directory.
                let base = self.base_dir.clone();
                let found = self.site_web_config(&dir, ignored);
                self.base_dir = base;
                match found {
                    WebConfigLookup::Read(file) => Some(file),
                    _ => None,
                }
            }
            Err(problem) => {
                self.warn(
                    pos,
                    format!(
                        "{what}: its web.config is not read: physicalPath {} ({problem})",
                        quote(physical)
                    ),
                );
                None
            }
        }
    }

    /// A section below the site's root that the filter would apply to the whole site: reported
    /// and skipped. True when skipped.
    pub(in crate::import) fn skip_site_wide(&mut self, pos: Pos, name: &str) -> bool {
        let Some(dir) = self.directory.clone() else {
            return false;
        };
        if !SITE_WIDE_SECTIONS.contains(&name) {
            return false;
        }
        self.warn(
            pos,
            format!(
                "<{name}> for {}: not imported: the filter applies this section to the whole \
                 site, not to one directory",
                quote(&dir)
            ),
        );
        true
    }

    /// Appends the rules of one level below the root (already carrying their directory) to the
    /// site's rules. `drops` are the level's `<clear/>`/`<remove/>`: they act on the level's own
    /// rules and on inherited rules of the same directory; on rules of the levels above they
    /// cannot (such a rule still runs below the directory), which is reported.
    pub(in crate::import) fn add_level_rules(
        &mut self,
        level: Coll<InboundRule>,
        drops: Vec<LevelDrop>,
    ) {
        let dir = self.directory.clone().unwrap_or_default();
        let dropped = |name: &str| {
            drops.iter().any(|d| {
                d.name
                    .as_deref()
                    .is_none_or(|n| n.eq_ignore_ascii_case(name))
            })
        };
        // Inherited rules of this very directory apply nowhere else: dropping them is exact.
        let same_dir: Vec<String> = self
            .rules
            .slots
            .iter()
            .flatten()
            .filter(|e| dropped(&e.key))
            .filter(|e| {
                e.value
                    .directory
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case(&dir))
            })
            .map(|e| e.key.clone())
            .collect();
        for key in &same_dir {
            self.rules.remove(key);
        }
        let inherited: Vec<String> = self.rules.keys().map(str::to_string).collect();
        for drop in &drops {
            let hits: Vec<&String> = inherited
                .iter()
                .filter(|n| {
                    drop.name
                        .as_deref()
                        .is_none_or(|d| d.eq_ignore_ascii_case(n))
                })
                .collect();
            if hits.is_empty() {
                continue;
            }
            let what = match &drop.name {
                Some(n) => format!("<remove name={}>", quote(n)),
                None => "<clear/>".to_string(),
            };
            self.warn(
                drop.pos,
                format!(
                    "{what} in the rules of {}: the inherited rule{} {} still run{} for URLs \
                     under it (a rule set cannot exclude a directory from a rule)",
                    quote(&dir),
                    if hits.len() == 1 { "" } else { "s" },
                    hits.iter().map(|n| quote(n)).collect::<Vec<_>>().join(", "),
                    if hits.len() == 1 { "s" } else { "" },
                ),
            );
        }
        for entry in level.slots.into_iter().flatten() {
            if dropped(&entry.key) && self.rules.find(&entry.key).is_some() {
                self.warn(
                    entry.key_pos,
                    format!(
                        "rule {} of {} is not imported: it replaces an inherited rule of the \
                         same name, which keeps running",
                        quote(&entry.key),
                        quote(&dir)
                    ),
                );
                continue;
            }
            let entry: Entry<InboundRule> = entry;
            Self::add_entry(&mut self.rules, entry, &mut self.diags, self.files);
        }
    }
}
