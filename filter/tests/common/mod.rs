//! Shared by the differential tests: a deterministic generator for patterns and inputs.

/// xorshift64*: small, deterministic, good enough to pick grammar branches.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    #[allow(clippy::indexing_slicing)]
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Every pattern in the repository's test data: `match` URLs and `pattern` attributes of the
/// JSON configurations (`testdata/**/*.json`) and of the web.config files
/// (`testdata/**/*.config`), with the ignoreCase each is written with (default true). Strings
/// that are not ECMAScript (Wildcard, templates) are included: callers skip what does not
/// compile.
pub fn testdata_patterns() -> Vec<(String, bool)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)
            .expect("testdata is readable")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                    json_patterns(&v, false, &mut out);
                }
            }
            Some("config") => xml_patterns(&text, &mut out),
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

fn json_patterns(v: &serde_json::Value, in_match: bool, out: &mut Vec<(String, bool)>) {
    match v {
        serde_json::Value::Object(map) => {
            let ignore_case = map
                .get("ignoreCase")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(true);
            for (k, x) in map {
                match (k.as_str(), x.as_str()) {
                    ("pattern", Some(p)) => out.push((p.to_string(), ignore_case)),
                    ("url", Some(p)) if in_match => out.push((p.to_string(), ignore_case)),
                    _ => json_patterns(x, k == "match", out),
                }
            }
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|x| json_patterns(x, false, out));
        }
        _ => {}
    }
}

/// `pattern="…"` anywhere and `url="…"` of `<match>` elements (each with its element's
/// `ignoreCase`).
fn xml_patterns(text: &str, out: &mut Vec<(String, bool)>) {
    for element in text.split('<').skip(1) {
        let element = element.split('>').next().unwrap_or("");
        let attr = |name: &str| {
            let start = element.find(&format!(" {name}=\""))? + name.len() + 3;
            let len = element.get(start..)?.find('"')?;
            element.get(start..start + len).map(unescape_xml)
        };
        let ignore_case = attr("ignoreCase").is_none_or(|v| !v.eq_ignore_ascii_case("false"));
        if let Some(p) = attr("pattern") {
            out.push((p, ignore_case));
        }
        if element.starts_with("match") {
            if let Some(p) = attr("url") {
                out.push((p, ignore_case));
            }
        }
    }
}

fn unescape_xml(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Inputs for a pattern: pieces of its own literal text (letters, digits and common URL
/// punctuation, unescaped), in changed case or cut short, joined with characters that test
/// the edges (line terminators, caseless and non-ASCII letters).
pub fn inputs_for(source: &str, r: &mut Rng, count: usize) -> Vec<String> {
    let unescaped = source.replace('\\', "");
    let pieces: Vec<&str> = unescaped
        .split(|c: char| !(c.is_alphanumeric() || "/._-=&%:;,@!~ #".contains(c)))
        .filter(|p| !p.is_empty())
        .collect();
    let mut out = vec![String::new()];
    while out.len() < count {
        out.push(input_from(&pieces, r));
    }
    out
}

/// One input: up to five of `pieces` (in upper, lower or written case, sometimes cut short: a
/// near miss) and edge characters (line terminators, caseless and non-ASCII letters).
pub fn input_from<S: AsRef<str>>(pieces: &[S], r: &mut Rng) -> String {
    const FILL: &[&str] = &[
        "a",
        "B",
        "/",
        "x",
        "1",
        "\u{212A}",
        "\u{17F}",
        "\u{131}",
        "é",
        "É",
        "\n",
        "K",
        "S",
        ".",
        "?",
        " ",
        "-",
        "_",
        "%20",
        "index.html",
    ];
    let mut s = String::new();
    for _ in 0..r.below(6) {
        if !pieces.is_empty() && r.below(3) > 0 {
            let p = pieces[r.below(pieces.len())].as_ref();
            let p = match r.below(3) {
                0 => p.to_uppercase(),
                1 => p.to_lowercase(),
                _ => p.to_string(),
            };
            let chars: Vec<char> = p.chars().collect();
            let cut = if r.below(4) == 0 && chars.len() > 1 {
                r.below(chars.len())
            } else {
                chars.len()
            };
            s.extend(&chars[..cut]);
        } else {
            s.push_str(r.pick(FILL));
        }
    }
    s
}
