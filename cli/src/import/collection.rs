//! IIS collections (`<add>`, `<remove>`, `<clear>`, unique keys) as they are read.

use std::collections::HashMap;

use roxmltree::Node;

use crate::diag::{Diagnostic, Files, Pos};

use super::xml::{join, Doc, Spans};
use super::Importer;

/// One entry of an IIS collection, with its unique key.
#[derive(Debug)]
pub(super) struct Entry<T> {
    pub(super) key: String,
    pub(super) key_pos: Pos,
    pub(super) value: T,
    pub(super) spans: Spans,
}

/// An IIS collection being built: `<add>`s, `<clear/>`, `<remove/>`, unique keys. Lookups by
/// key go through a hash index, so a collection of n entries is built in O(n) (rewrite maps
/// reach 100,000 entries).
#[derive(Debug)]
pub(super) struct Coll<T> {
    pub(super) word: &'static str,
    pub(super) case_sensitive: bool,
    /// Entries in document order; `None` once removed by `<remove/>` or `<clear/>`.
    pub(super) slots: Vec<Option<Entry<T>>>,
    /// Slots of the live entries by normalised key (duplicates are kept, and reported).
    pub(super) by_key: HashMap<String, Vec<usize>>,
    /// Where the collection element stands (first definition).
    pub(super) pos: Option<Pos>,
}

impl<T> Coll<T> {
    pub(super) fn new(word: &'static str, case_sensitive: bool) -> Self {
        Coll {
            word,
            case_sensitive,
            slots: Vec::new(),
            by_key: HashMap::new(),
            pos: None,
        }
    }

    pub(super) fn normalise(&self, key: &str) -> String {
        if self.case_sensitive {
            key.to_string()
        } else {
            key.to_ascii_lowercase()
        }
    }

    /// The first live entry with this key.
    pub(super) fn find(&self, key: &str) -> Option<&Entry<T>> {
        crate::work::add(1);
        let slot = *self.by_key.get(&self.normalise(key))?.first()?;
        self.slots.get(slot)?.as_ref()
    }

    pub(super) fn push(&mut self, entry: Entry<T>) {
        let slot = self.slots.len();
        self.by_key
            .entry(self.normalise(&entry.key))
            .or_default()
            .push(slot);
        self.slots.push(Some(entry));
    }

    /// `<remove/>`: drops every entry with this key.
    pub(super) fn remove(&mut self, key: &str) {
        for slot in self.by_key.remove(&self.normalise(key)).unwrap_or_default() {
            if let Some(s) = self.slots.get_mut(slot) {
                *s = None;
            }
        }
    }

    /// `<clear/>`: drops every entry.
    pub(super) fn clear(&mut self) {
        self.slots.clear();
        self.by_key.clear();
    }

    /// The keys of the live entries, in order.
    pub(super) fn keys(&self) -> impl Iterator<Item = &str> {
        self.slots.iter().flatten().map(|e| e.key.as_str())
    }

    /// The values in order; each entry's spans go to `record` under `prefix/<index>`.
    pub(super) fn into_values(self, prefix: &str, mut record: impl FnMut(String, Pos)) -> Vec<T> {
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

impl Importer<'_> {
    /// Adds an entry to a collection, refusing a second entry with the same key.
    pub(super) fn add_entry<T>(
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
    pub(super) fn entry_child<T>(
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

    pub(super) fn clear_remove<T>(
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
}
