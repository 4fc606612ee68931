//! Reading a configuration file (web.config, fragment or our JSON, told apart by content),
//! compiling it with the engine, and turning every error and warning into a located diagnostic.
//! `check`, `import`, `explain` and `envoy` all go through [`load`], so they accept and refuse
//! exactly the same files.

use std::path::{Path, PathBuf};

use iis_rewrite_filter::json::{self, Decode, JsonError};
use iis_rewrite_filter::plugin::PluginConfig;
use iis_rewrite_filter::{ConfigError, Engine, FilterConfig};

use crate::diag::{line_col, Diagnostic, Files, LineIndex, Pos};
use crate::import;
use crate::spans::{json_spans, SpanMap};

/// Largest configuration file read.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A configuration that was read, possibly with problems.
#[derive(Debug)]
pub struct Loaded {
    pub files: Files,
    /// Every diagnostic, sorted by position; errors mean the configuration is refused.
    pub diagnostics: Vec<Diagnostic>,
    /// The imported configuration (as far as it could be read).
    pub config: Option<FilterConfig>,
    /// The compiled engine, when there was no error at all.
    pub engine: Option<Engine>,
    /// Set when the file itself could not be read (no position to report).
    pub unreadable: Option<String>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.unreadable.is_some() || self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The diagnostic lines for stderr.
    pub fn render(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(msg) = &self.unreadable {
            out.push(msg.clone());
        }
        out.extend(self.diagnostics.iter().map(|d| d.render(&self.files)));
        out
    }
}

/// Reads, imports and compiles `path`. `config_dir` is where `configSource` files are looked
/// for (default: the file's own directory).
pub fn load(path: &Path, config_dir: Option<&Path>) -> Loaded {
    let display = path.display().to_string();
    let base: PathBuf = match config_dir {
        Some(d) => d.to_path_buf(),
        None => path.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    match read_limited(path) {
        Ok(bytes) => load_bytes(&display, &bytes, &base),
        Err(e) => {
            let mut files = Files::default();
            files.add(display.clone());
            Loaded {
                files,
                diagnostics: Vec::new(),
                config: None,
                engine: None,
                unreadable: Some(format!("{display}: error: cannot read the file: {e}")),
            }
        }
    }
}

/// Imports and compiles the bytes of a configuration file reported as `display`;
/// `configSource` files are looked for in `base`.
pub fn load_bytes(display: &str, bytes: &[u8], base: &Path) -> Loaded {
    let mut files = Files::default();
    let file = files.add(display.to_string());
    let mut loaded = Loaded {
        files,
        diagnostics: Vec::new(),
        config: None,
        engine: None,
        unreadable: None,
    };
    let text = match import::decode(bytes) {
        Ok(t) => t,
        Err((offset, message)) => {
            let (line, col) = line_col(&String::from_utf8_lossy(bytes), offset);
            loaded
                .diagnostics
                .push(Diagnostic::error(Pos { file, line, col }, message));
            return loaded;
        }
    };
    let (config, spans, mut diagnostics) = if text.trim_start().starts_with('{') {
        match read_json(&text, file) {
            Ok((config, spans)) => (config, spans, Vec::new()),
            Err(refused) => {
                loaded.diagnostics.push(refused);
                return loaded;
            }
        }
    } else {
        let imported = import::import(&text, file, &mut loaded.files, base);
        if !imported.parsed {
            loaded.diagnostics = imported.diagnostics;
            return loaded;
        }
        (imported.config, imported.spans, imported.diagnostics)
    };
    loaded.engine = compile_located(&config, &spans, &mut diagnostics, file);
    diagnostics.sort_by_key(|d| (d.pos.file, d.pos.line, d.pos.col));
    loaded.diagnostics = diagnostics;
    loaded.config = Some(config);
    loaded
}

/// Compiles `config` and adds the engine's errors and warnings to `diagnostics`, each at the
/// position `spans` recorded for it (else the start of file `file`). The engine is returned
/// only when no diagnostic is an error.
pub(crate) fn compile_located(
    config: &FilterConfig,
    spans: &SpanMap,
    diagnostics: &mut Vec<Diagnostic>,
    file: usize,
) -> Option<Engine> {
    let fallback = spans.fallback.unwrap_or(Pos {
        file,
        line: 1,
        col: 1,
    });
    let xml_errors: Vec<Pos> = diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.pos)
        .collect();
    match Engine::compile_all(config) {
        Ok((engine, warnings)) => {
            for w in warnings {
                let pos = spans.locate(&w.at).unwrap_or(fallback);
                diagnostics.push(Diagnostic::warning(pos, w.to_string()));
            }
            if !diagnostics.iter().any(Diagnostic::is_error) {
                return Some(engine);
            }
        }
        Err((errors, warnings)) => {
            for w in warnings {
                let pos = spans.locate(&w.at).unwrap_or(fallback);
                diagnostics.push(Diagnostic::warning(pos, w.to_string()));
            }
            for e in errors {
                let pos = locate_error(spans, &e).unwrap_or(fallback);
                // The importer already reported this spot (a duplicate name, a value it could
                // not read): one message per problem.
                if xml_errors.contains(&pos) {
                    continue;
                }
                diagnostics.push(Diagnostic::error(pos, e.to_string()));
            }
        }
    }
    None
}

/// Reads a JSON configuration with the filter's own reader and decoder, so that `check` refuses
/// exactly what the filter refuses, at the line and column the reader reports.
fn read_json(text: &str, file: usize) -> Result<(FilterConfig, SpanMap), Diagnostic> {
    let lines = LineIndex::new(text);
    let pos = |offset: usize| {
        let (line, col) = lines.line_col(offset);
        Pos { file, line, col }
    };
    let refused = |e: JsonError| {
        Diagnostic::error(
            pos(e.offset),
            format!("invalid configuration JSON: {}", e.message()),
        )
    };
    let document = json::parse(text.as_bytes()).map_err(refused)?;
    match PluginConfig::decode(&document).map_err(refused)? {
        PluginConfig::Single(config) => Ok((*config, json_spans(&document, &lines, file))),
        PluginConfig::Multi { .. } => Err(Diagnostic::error(
            pos(document.at),
            "a configuration of several rule sets (ruleSets) is valid JSON for the filter, but \
             check, import, explain and envoy read one rule configuration: give them each \
             site's own",
        )),
    }
}

fn locate_error(spans: &SpanMap, e: &ConfigError) -> Option<Pos> {
    spans.locate(e.location()?)
}

pub(crate) fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(std::io::Error::other("it is a directory"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Summary counts for `check`.
pub fn summary(config: &FilterConfig) -> String {
    fn n(count: usize, one: &str, many: &str) -> String {
        format!("{count} {}", if count == 1 { one } else { many })
    }
    fn disabled(count: usize) -> String {
        if count == 0 {
            String::new()
        } else {
            format!(" ({count} disabled)")
        }
    }
    let off = |e: &Option<bool>| *e == Some(false);
    let mut parts = vec![format!(
        "{}{}",
        n(config.rules.len(), "rule", "rules"),
        disabled(config.rules.iter().filter(|r| off(&r.enabled)).count())
    )];
    if !config.global_rules.is_empty() {
        parts.push(format!(
            "{}{}",
            n(config.global_rules.len(), "global rule", "global rules"),
            disabled(
                config
                    .global_rules
                    .iter()
                    .filter(|r| off(&r.enabled))
                    .count()
            )
        ));
    }
    let (out, pre) = config
        .outbound_rules
        .as_ref()
        .map(|o| (o.rules.as_slice(), o.pre_conditions.len()))
        .unwrap_or((&[], 0));
    parts.push(format!(
        "{}{}",
        n(out.len(), "outbound rule", "outbound rules"),
        disabled(out.iter().filter(|r| off(&r.enabled)).count())
    ));
    parts.push(n(pre, "preCondition", "preConditions"));
    parts.push(n(config.rewrite_maps.len(), "rewrite map", "rewrite maps"));
    if !config.web_farms.is_empty() {
        let servers: usize = config.web_farms.iter().map(|f| f.servers.len()).sum();
        parts.push(format!(
            "{} ({})",
            n(config.web_farms.len(), "server farm", "server farms"),
            n(servers, "server", "servers")
        ));
    }
    parts.join(", ")
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]
    use super::*;
    use std::time::{Duration, Instant};

    /// xorshift64*: deterministic, no dependency.
    pub(crate) struct Rng(pub(crate) u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        pub(crate) fn below(&mut self, n: usize) -> usize {
            if n == 0 {
                0
            } else {
                (self.next() % n as u64) as usize
            }
        }
    }

    const INTERESTING: &[&[u8]] = &[
        b"<",
        b">",
        b"</",
        b"/>",
        b"\"",
        b"{",
        b"}",
        b"{R:",
        b"{C:1}",
        b"&",
        b"&amp;",
        b"<!--",
        b"-->",
        b"<![CDATA[",
        b"\xff",
        b"\0",
        b"<!DOCTYPE x [<!ENTITY a \"b\">]>",
        b"=",
        b"configSource=\"x\"",
        b"<clear/>",
        b"<remove name=\"a\"/>",
        b"enabled=\"x\"",
        b"<rule name=\"r\">",
        b"<rewrite>",
        b"(",
        b")",
        b"*",
        b"\\",
        b"\xc3",
        b"\xef\xbb\xbf",
    ];

    /// Applies one to four random edits (bytes changed, cut, copied, truncated, or one of the
    /// tokens above inserted).
    pub(crate) fn mutate(rng: &mut Rng, data: &mut Vec<u8>) {
        for _ in 0..1 + rng.below(4) {
            let len = data.len();
            let at = rng.below(len + 1);
            match rng.below(6) {
                0 if len > 0 => data[at.min(len - 1)] = rng.next() as u8,
                1 => {
                    let end = (at + rng.below(64)).min(len);
                    data.drain(at..end);
                }
                2 => {
                    let end = (at + rng.below(64)).min(len);
                    let chunk = data[at..end].to_vec();
                    let to = rng.below(data.len() + 1);
                    data.splice(to..to, chunk);
                }
                3 => data.truncate(at),
                _ => {
                    let piece = INTERESTING[rng.below(INTERESTING.len())];
                    data.splice(at..at, piece.iter().copied());
                }
            }
        }
    }

    fn fixtures() -> Vec<(String, Vec<u8>)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("testdata");
        let mut out = Vec::new();
        for dir in ["webconfigs", "broken"] {
            for e in std::fs::read_dir(root.join(dir)).unwrap() {
                let p = e.unwrap().path();
                out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
        out.sort();
        out
    }

    /// Mutated fixtures never panic, and what comes out is consistent: no error means a
    /// compiled engine; every diagnostic has a real position in the file it names.
    #[test]
    fn mutated_fixtures_never_panic() {
        let fixtures = fixtures();
        assert!(fixtures.len() > 10);
        let base = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("testdata")
            .join("webconfigs");
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let start = Instant::now();
        let mut runs = 0;
        while runs < 3000 && start.elapsed() < Duration::from_secs(20) {
            let (name, original) = &fixtures[rng.below(fixtures.len())];
            let mut data = original.clone();
            mutate(&mut rng, &mut data);
            let loaded = load_bytes(name, &data, &base);
            if !loaded.has_errors() {
                assert!(loaded.engine.is_some() && loaded.config.is_some(), "{name}");
            }
            let lines = data.split(|&b| b == b'\n').count() as u32;
            for d in &loaded.diagnostics {
                assert!(d.pos.line >= 1 && d.pos.col >= 1, "{name}: {d:?}");
                if d.pos.file == 0 {
                    assert!(
                        d.pos.line <= lines.max(1),
                        "{name}: {d:?} beyond {lines} lines"
                    );
                }
            }
            let _ = loaded.render();
            runs += 1;
        }
        assert!(runs >= 100, "only {runs} runs");
    }

    #[test]
    fn pathological_inputs() {
        let base = Path::new("");
        let deep = format!(
            "<configuration>{}{}</configuration>",
            "<a>".repeat(100_000),
            "</a>".repeat(100_000)
        );
        let deep_rules = format!(
            "<rules>{}{}</rules>",
            "<rule name=\"x\">".repeat(20_000),
            "</rule>".repeat(20_000)
        );
        let wide = format!("<rules>{}</rules>", "<rule name=\"x\"/>".repeat(20_000));
        let attr = format!("<rules><rule name=\"{}\"/></rules>", "n".repeat(5_000_000));
        for text in [
            deep.as_str(),
            deep_rules.as_str(),
            wide.as_str(),
            attr.as_str(),
            "",
            "{",
            "\u{feff}",
            "<",
            "<?xml version=\"1.0\"?>",
            "<!DOCTYPE configuration [<!ENTITY a \"&#38;a;\">]><configuration>&a;</configuration>",
        ] {
            let loaded = load_bytes("x.config", text.as_bytes(), base);
            for line in loaded.render() {
                assert!(line.len() < 10_000, "{}", &line[..200]);
            }
        }
        let wide = load_bytes("x.config", wide.as_bytes(), base);
        // 19 999 duplicates of rule "x", each reported once.
        assert_eq!(
            wide.diagnostics.iter().filter(|d| d.is_error()).count(),
            19_999
        );
    }

    /// A web.config holding one rewrite map of `n` entries, every tenth key not ASCII, the last
    /// one a duplicate (so that an error is located too).
    fn big_map(n: usize) -> String {
        let mut xml = String::from(
            "<configuration>\n<system.webServer>\n<rewrite>\n<rewriteMaps>\n\
             <rewriteMap name=\"big\">\n",
        );
        for i in 0..n {
            let key = if i % 10 == 0 { "é" } else { "p" };
            xml.push_str(&format!("  <add key=\"/{key}{i}\" value=\"/new/{i}\" />\n"));
        }
        xml.push_str("  <add key=\"/p1\" value=\"/dup\" />\n");
        xml.push_str(
            "</rewriteMap>\n</rewriteMaps>\n</rewrite>\n</system.webServer>\n</configuration>\n",
        );
        xml
    }

    /// The position and key-lookup steps (see `crate::work`) loading `text` takes.
    fn steps_to_load(text: &str) -> (u64, Loaded) {
        crate::work::take();
        let loaded = load_bytes("big", text.as_bytes(), Path::new("."));
        (crate::work::take(), loaded)
    }

    #[test]
    fn locating_costs_grow_linearly_with_the_map() {
        let mut steps = Vec::new();
        for n in [10_000, 40_000] {
            let xml = big_map(n);
            let (xml_steps, loaded) = steps_to_load(&xml);
            assert!(loaded.has_errors(), "the duplicate key is reported");
            let config = loaded.config.as_ref().map(serde_json::to_string_pretty);
            let Some(Ok(json)) = config else {
                panic!("the map is imported");
            };
            let (json_steps, loaded) = steps_to_load(&json);
            assert!(loaded.has_errors(), "the duplicate key is reported again");
            // Every entry is located at least once: the counter does see the work.
            assert!(xml_steps > n as u64 && json_steps > n as u64);
            steps.push((xml_steps, json_steps));
        }
        let [(xml_small, json_small), (xml_large, json_large)] = steps[..] else {
            panic!("two sizes");
        };
        // Four times the entries: linear work is 4x (binary searches add a little); a step
        // that scans from the start of the text for each entry would be 16x.
        for (what, small, large) in [
            ("XML", xml_small, xml_large),
            ("JSON", json_small, json_large),
        ] {
            let ratio = large as f64 / small as f64;
            assert!(
                ratio < 5.0,
                "{what}: {small} steps for 10k entries, {large} for 40k"
            );
        }
    }
}
