//! The crate's layering, checked from the source: `pattern` stands alone, the engine never
//! reaches into the host, and the engine's modules depend on each other one way only (no
//! cycle). A `use` that breaks this fails here with the path that introduced it, instead of
//! surfacing later as a tangle.
//!
//! Units are `pattern`, `host` and each direct child of `engine` (`engine::compile`,
//! `engine::model`, …); test modules (`#[cfg(test)]` and everything after it in a file, and
//! `tests.rs` files) and comments are not counted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            // `tests.rs` files are test modules (`#[cfg(test)] mod tests;`).
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

/// The unit a source file belongs to.
fn unit_of(src_root: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src_root).ok()?;
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    match parts.as_slice() {
        [top] if top == "lib" => None,
        [top, ..] if top == "engine" => match parts.get(1).map(String::as_str) {
            None | Some("mod") => None,
            Some(child) => Some(format!("engine::{child}")),
        },
        [top, ..] => Some(top.clone()),
        [] => None,
    }
}

/// The code of a file without comments and without its test module(s).
fn code_without_tests(text: &str) -> String {
    let code = match text.find("#[cfg(test)]") {
        Some(at) => text.get(..at).unwrap_or(text),
        None => text,
    };
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::…` unit a piece of code names.
fn referenced_units(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let ident = |s: &str| -> String {
            s.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        };
        let first = ident(rest);
        if first == "engine" {
            let after = &rest["engine".len()..];
            if let Some(child) = after.strip_prefix("::") {
                let child = ident(child);
                if !child.is_empty() {
                    out.insert(format!("engine::{child}"));
                }
            }
        } else if first == "pattern" || first == "host" {
            out.insert(first);
        }
    }
    out
}

fn dependency_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(unit) = unit_of(&root, &file) else {
            continue;
        };
        let text = fs::read_to_string(&file).expect("read source");
        let deps = graph.entry(unit.clone()).or_default();
        for dep in referenced_units(&code_without_tests(&text)) {
            if dep != unit {
                deps.insert(dep);
            }
        }
    }
    graph
}

#[test]
fn pattern_depends_on_nothing_else_in_the_crate() {
    let graph = dependency_graph();
    let deps = graph.get("pattern").expect("a pattern module");
    assert!(deps.is_empty(), "pattern uses {deps:?}");
}

#[test]
fn the_engine_never_uses_the_host() {
    for (unit, deps) in dependency_graph() {
        if unit.starts_with("engine::") {
            assert!(!deps.contains("host"), "{unit} uses the host layer");
        }
    }
}

#[test]
fn no_cycle_between_modules() {
    let graph = dependency_graph();
    assert!(
        graph.len() > 10,
        "the layout check found too few modules: {graph:?}"
    );
    // Kahn's algorithm: whatever cannot be ordered lies on a cycle.
    let mut remaining = graph.clone();
    loop {
        let leaves: Vec<String> = remaining
            .iter()
            .filter(|(_, deps)| deps.iter().all(|d| !remaining.contains_key(d)))
            .map(|(u, _)| u.clone())
            .collect();
        if leaves.is_empty() {
            break;
        }
        for leaf in leaves {
            remaining.remove(&leaf);
        }
    }
    assert!(
        remaining.is_empty(),
        "modules on a dependency cycle: {remaining:?}"
    );
}

#[test]
fn the_checker_sees_a_cycle_when_there_is_one() {
    // Guards the checker itself: the parsing helpers must find references through `use` lines
    // and inline paths, and ignore comments and tests.
    let code = code_without_tests(
        "use crate::engine::model::Engine;\n// crate::host::x\nfn f() { crate::pattern::x(); }\n#[cfg(test)]\nmod tests { use crate::host::y; }",
    );
    let units = referenced_units(&code);
    assert_eq!(
        units.into_iter().collect::<Vec<_>>(),
        vec!["engine::model".to_string(), "pattern".to_string()]
    );
}
