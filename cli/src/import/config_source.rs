//! `configSource`: a section kept in a file of its own.

use std::path::{Path, PathBuf};

use roxmltree::Node;

use crate::diag::{quote, Pos};

use super::xml::Doc;
use super::{decode, Importer};

/// Largest configSource file read (a web.config is a few KB; this only stops accidents).
const MAX_CONFIG_SOURCE_BYTES: u64 = 64 * 1024 * 1024;

impl Importer<'_> {
    /// `<section configSource="file"/>`: the section is read from that file, named relative to
    /// the configuration that names it (or to the directory given with --config-dir), which is
    /// the site's folder: a path that leaves it is refused.
    pub(super) fn config_source(
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
        let rel = match site_relative(value) {
            Ok(rel) => rel,
            Err(reason) => {
                self.error(pos, format!("{what}: {} {reason}", quote(value)));
                return;
            }
        };
        if let Err(reason) = stays_inside(&self.base_dir, &rel) {
            self.error(pos, format!("{what}: {} {reason}", quote(value)));
            return;
        }
        let path = self.base_dir.join(&rel);
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
}

/// What a configSource path leads to, as IIS reads it: a path relative to the folder of the
/// file that names it, where `\` and `/` both separate folders (`web_config\rewrite.config`
/// is what hosting panels write), `.` stays and `..` goes up, but never above that folder.
/// Rooted paths, drive letters and UNC shares are refused (IIS only takes relative ones).
fn site_relative(value: &str) -> Result<PathBuf, &'static str> {
    const RELATIVE: &str = "must be a relative path to a file in the site's folder or below it";
    if value.trim().is_empty() || value.contains(':') || value.starts_with(['/', '\\']) {
        return Err(RELATIVE);
    }
    let mut parts: Vec<&str> = Vec::new();
    for segment in value.split(['/', '\\']) {
        match segment {
            // `a\b` and `a\\b` name the same file, as on Windows.
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(
                        "leaves the site's folder (configSource must name a file in \
                                the folder of the configuration that names it, or below it)",
                    );
                }
            }
            name => parts.push(name),
        }
    }
    if parts.is_empty() || value.ends_with(['/', '\\']) {
        return Err(RELATIVE);
    }
    Ok(parts.iter().collect())
}

/// A path that stays inside lexically can still leave through a symbolic link: when both
/// resolve, the file must still be under the site's folder.
fn stays_inside(base: &Path, rel: &Path) -> Result<(), &'static str> {
    let base = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    match (base.canonicalize(), base.join(rel).canonicalize()) {
        (Ok(root), Ok(file)) if !file.starts_with(&root) => {
            Err("leaves the site's folder through a symbolic link")
        }
        // A file that does not exist is reported when it is read.
        _ => Ok(()),
    }
}

pub(super) fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_SOURCE_BYTES).read_to_end(&mut bytes)?;
    Ok(bytes)
}
