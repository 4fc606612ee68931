//! `configSource`: a section kept in a file of its own.

use std::path::{Component, Path};

use roxmltree::Node;

use crate::diag::{quote, Pos};

use super::xml::Doc;
use super::{decode, Importer};

/// Largest configSource file read (a web.config is a few KB; this only stops accidents).
const MAX_CONFIG_SOURCE_BYTES: u64 = 64 * 1024 * 1024;

impl Importer<'_> {
    /// `<section configSource="file"/>`: the section is read from that file, beside the
    /// configuration (or in the directory given with --config-dir).
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
}

pub(super) fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_SOURCE_BYTES).read_to_end(&mut bytes)?;
    Ok(bytes)
}
