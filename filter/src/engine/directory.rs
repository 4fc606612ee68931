//! The directory a distributed rule belongs to: IIS runs a rule defined in `/app/web.config` (or
//! `<location path="Site/app">`) only for URLs under `/app`, tests its pattern against the URL
//! relative to `/app` without a leading `/`, and resolves its relative Rewrite/Redirect targets
//! against `/app/` ("URL Rewrite Module Configuration Reference", rules scope). The project
//! model carries the directory on the rule (`"directory"` in the JSON, docs/configuration.md).
//!
//! IIS paths are case-insensitive; the comparison here folds ASCII letters only (a directory
//! with other letters must be written in the case clients send).

/// A rule's directory, normalised once at compile time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directory {
    /// `/app/`: leading and trailing `/`, as configured otherwise.
    path: String,
}

/// Why a `directory` value is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DirectoryError {
    /// A `?`, `#`, `\`, `%` or control character, an empty, `.` or `..` segment.
    Malformed,
}

impl Directory {
    /// `"/app"`, `"app/"`, `"/app/sub/"` …; `Ok(None)` for the site root (`""`, `"/"`).
    pub(crate) fn parse(raw: &str) -> Result<Option<Directory>, DirectoryError> {
        let inner = raw.trim().trim_start_matches('/');
        let inner = inner.strip_suffix('/').unwrap_or(inner);
        if inner.is_empty() {
            return Ok(None);
        }
        let bad_char = |c: char| matches!(c, '?' | '#' | '\\' | '%') || c.is_control();
        let bad_segment = |s: &str| s.is_empty() || s == "." || s == "..";
        if inner.contains(bad_char) || inner.split('/').any(bad_segment) {
            return Err(DirectoryError::Malformed);
        }
        Ok(Some(Directory {
            path: format!("/{inner}/"),
        }))
    }

    /// `/app/`.
    pub(crate) fn as_str(&self) -> &str {
        &self.path
    }

    /// `app/`: the URL as rules see it (no leading `/`) starts with this under the directory.
    fn key(&self) -> &str {
        self.path.get(1..).unwrap_or_default()
    }

    /// A literal every URL under the directory starts with, for the rule prefilter: `app/`
    /// followed by the pattern's own required prefix, or `app` alone (the URL `app`, without
    /// the slash, is the directory itself).
    pub(crate) fn index_prefix(&self, pattern_prefix: Option<&str>) -> String {
        match pattern_prefix.filter(|p| !p.is_empty()) {
            Some(p) => format!("{}{p}", self.key()),
            None => self.key().trim_end_matches('/').to_string(),
        }
    }

    /// Where the URL relative to the directory starts in `url` (decoded, no leading `/`), or
    /// `None` when `url` is not under the directory.
    pub(crate) fn relative_start(&self, url: &str) -> Option<usize> {
        let key = self.key();
        let bare = key.trim_end_matches('/');
        let head = url.as_bytes().get(..key.len());
        if head.is_some_and(|h| h.eq_ignore_ascii_case(key.as_bytes())) {
            Some(key.len())
        } else if url.eq_ignore_ascii_case(bare) {
            Some(url.len())
        } else {
            None
        }
    }

    /// A relative Rewrite/Redirect target (no leading `/`) resolved against the directory:
    /// `index.php?x=1` → `/app/index.php?x=1`.
    pub(crate) fn resolve(&self, target: &str) -> String {
        format!("{}{target}", self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(raw: &str) -> Directory {
        Directory::parse(raw).unwrap().unwrap()
    }

    #[test]
    fn spellings_normalise_and_mistakes_are_refused() {
        for raw in ["/app", "app", "/app/", " app/ "] {
            assert_eq!(dir(raw).as_str(), "/app/", "{raw}");
        }
        assert_eq!(dir("/a/b").as_str(), "/a/b/");
        assert_eq!(Directory::parse(""), Ok(None));
        assert_eq!(Directory::parse("/"), Ok(None));
        for raw in ["/a//b", "/a/../b", "/./a", "/a?x", "/a%2F", "\\a", "/a\tb"] {
            assert_eq!(
                Directory::parse(raw),
                Err(DirectoryError::Malformed),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn relative_start_is_case_insensitive_and_on_a_segment_boundary() {
        let d = dir("/Blog/");
        assert_eq!(d.relative_start("blog/a/b"), Some(5));
        assert_eq!(d.relative_start("BLOG/"), Some(5));
        assert_eq!(d.relative_start("blog"), Some(4));
        assert_eq!(d.relative_start("Blog"), Some(4));
        assert_eq!(d.relative_start("blogs/a"), None);
        assert_eq!(d.relative_start("blo"), None);
        assert_eq!(d.relative_start(""), None);
        assert_eq!(d.relative_start("x/blog/a"), None);
        // Multi-byte text before the boundary does not panic.
        assert_eq!(d.relative_start("blé/x"), None);
    }

    #[test]
    fn prefilter_prefix_and_targets() {
        let d = dir("/app");
        assert_eq!(d.index_prefix(Some("api/")), "app/api/");
        assert_eq!(d.index_prefix(None), "app");
        assert_eq!(d.index_prefix(Some("")), "app");
        assert_eq!(d.resolve("index.php?x=1"), "/app/index.php?x=1");
    }

    mod evaluation {
        use crate::engine::config::FilterConfig;
        use crate::engine::decision::{Decision, Outcome};
        use crate::engine::model::Engine;
        use crate::engine::request::StaticRequest;
        use crate::engine::trace::RequestTrace;

        fn engine(json: &str) -> Engine {
            Engine::compile(&FilterConfig::from_json(json).unwrap()).unwrap()
        }

        fn get(e: &Engine, path: &str) -> Decision {
            e.inbound(&StaticRequest::get("site.example", path))
        }

        fn header(d: &Decision, name: &str) -> Option<String> {
            d.request_headers
                .iter()
                .find(|h| &*h.name == name)
                .and_then(|h| h.value.as_deref().map(str::to_string))
        }

        #[test]
        fn a_rule_sees_the_url_relative_to_its_directory_and_only_under_it() {
            let e = engine(
                r#"{"rules":[{"name":"wiki","directory":"/wiki/",
                    "match":{"url":"^page/(.+)$"},
                    "action":{"type":"Rewrite","url":"index.php?title={R:1}"}}]}"#,
            );
            let rewrite = |p: &str| Outcome::Rewrite { path: p.into() };
            assert_eq!(
                get(&e, "/wiki/page/Main").outcome,
                rewrite("/wiki/index.php?title=Main")
            );
            // IIS paths are case-insensitive; the capture keeps the client's case.
            assert_eq!(
                get(&e, "/WIKI/page/Main?x=1").outcome,
                rewrite("/wiki/index.php?title=Main&x=1")
            );
            for outside in [
                "/page/Main",
                "/wikis/page/Main",
                "/x/wiki/page/Main",
                "/wiki",
            ] {
                assert_eq!(get(&e, outside).outcome, Outcome::Continue, "{outside}");
            }
        }

        #[test]
        fn negated_and_match_all_rules_apply_only_under_the_directory() {
            let e = engine(
                r#"{"allowedServerVariables":["HTTP_X_NEG","HTTP_X_ALL"],"rules":[
                    {"name":"neg","directory":"/app","match":{"url":"^admin/","negate":true},
                     "serverVariables":[{"name":"HTTP_X_NEG","value":"1"}]},
                    {"name":"all","directory":"/app","match":{"url":".*"},
                     "serverVariables":[{"name":"HTTP_X_ALL","value":"[{R:0}]"}]}]}"#,
            );
            let d = get(&e, "/app/public");
            assert_eq!(header(&d, "x-neg").as_deref(), Some("1"));
            assert_eq!(header(&d, "x-all").as_deref(), Some("[public]"));
            let d = get(&e, "/app/admin/x");
            assert_eq!(header(&d, "x-neg"), None);
            // The directory itself, with or without its slash, is an empty relative URL.
            for own in ["/app", "/app/"] {
                let d = get(&e, own);
                assert_eq!(header(&d, "x-all").as_deref(), Some("[]"), "{own}");
            }
            let d = get(&e, "/other");
            assert!(d.matched_rules.is_empty(), "{:?}", d.matched_rules);
        }

        #[test]
        fn parent_rules_run_first_and_each_level_keeps_its_own_input() {
            let e = engine(
                r#"{"allowedServerVariables":["HTTP_X_SEEN"],"rules":[
                    {"name":"site","match":{"url":"^app/old/(.*)"},
                     "action":{"type":"Rewrite","url":"/app/new/{R:1}"}},
                    {"name":"app","directory":"/app/","match":{"url":"^new/(.*)"},
                     "serverVariables":[{"name":"HTTP_X_SEEN","value":"{R:1} {URL}"}],
                     "action":{"type":"Rewrite","url":"sub/show.php?p={R:1}"}},
                    {"name":"sub","directory":"/app/sub","match":{"url":"^show\\.php$"},
                     "action":{"type":"Rewrite","url":"final.php"}},
                    {"name":"stop","match":{"url":"^app/stop"},"stopProcessing":true},
                    {"name":"app-after-stop","directory":"/app/","match":{"url":"^stop"},
                     "action":{"type":"Rewrite","url":"never"}}]}"#,
            );
            let d = get(&e, "/app/old/x");
            assert_eq!(
                d.matched_rules,
                ["site", "app", "sub"].map(std::rc::Rc::<str>::from)
            );
            // {URL} and the other server variables stay absolute.
            assert_eq!(header(&d, "x-seen").as_deref(), Some("x /app/new/x"));
            assert_eq!(
                d.outcome,
                Outcome::Rewrite {
                    path: "/app/sub/final.php?p=x".into()
                }
            );
            let d = get(&e, "/app/stop");
            assert_eq!(d.matched_rules, ["stop"].map(std::rc::Rc::<str>::from));
            assert_eq!(d.outcome, Outcome::Continue);
        }

        #[test]
        fn relative_redirects_resolve_against_the_directory_absolute_ones_do_not() {
            let e = engine(
                r#"{"rules":[
                    {"name":"rel","directory":"/blog","match":{"url":"^old/(.*)$"},
                     "action":{"type":"Redirect","url":"posts/{R:1}","redirectType":"Found"}},
                    {"name":"root","directory":"/blog","match":{"url":"^top$"},
                     "action":{"type":"Redirect","url":"/top"}},
                    {"name":"abs","directory":"/blog","match":{"url":"^www/(.*)$"},
                     "action":{"type":"Redirect","url":"https://www.site.example/{R:1}"}}]}"#,
            );
            let redirect = |status: u16, l: &str| Outcome::Redirect {
                status,
                location: l.into(),
            };
            assert_eq!(
                get(&e, "/blog/old/a?b=1").outcome,
                redirect(302, "/blog/posts/a?b=1")
            );
            assert_eq!(get(&e, "/blog/top").outcome, redirect(301, "/top"));
            assert_eq!(
                get(&e, "/blog/www/x").outcome,
                redirect(301, "https://www.site.example/x")
            );
        }

        #[test]
        fn explain_shows_the_directory_and_the_rules_that_did_not_apply() {
            let e =
                engine(r#"{"rules":[{"name":"app","directory":"/app/","match":{"url":"^(a)"}}]}"#);
            let mut trace = RequestTrace::default();
            e.inbound_traced(&StaticRequest::get("h", "/App/abc"), &mut trace);
            let r = &trace.rules[0];
            assert_eq!(r.directory.as_deref(), Some("/app/"));
            assert_eq!((r.input.as_str(), r.outside_directory), ("abc", false));
            assert_eq!(r.captures, ["a", "a"]);
            let mut trace = RequestTrace::default();
            e.inbound_traced(&StaticRequest::get("h", "/abc"), &mut trace);
            assert!(trace.rules[0].outside_directory);
            assert!(!trace.rules[0].fired);
        }

        #[test]
        fn directory_mistakes_are_located_errors() {
            for (json, want) in [
                (
                    r#"{"globalRules":[{"name":"g","directory":"/app","match":{"url":"x"}}]}"#,
                    "attribute directory: a directory on a global rule",
                ),
                (
                    r#"{"rules":[{"name":"r","directory":"/a/../b","match":{"url":"x"}}]}"#,
                    "attribute directory: unknown value \"/a/../b\"",
                ),
            ] {
                let (errs, _) =
                    Engine::compile_all(&FilterConfig::from_json(json).unwrap()).unwrap_err();
                let got: Vec<String> = errs.iter().map(ToString::to_string).collect();
                assert!(got.iter().any(|g| g.contains(want)), "{want}\n{got:#?}");
            }
            // The site root is no directory at all.
            let e = engine(r#"{"rules":[{"name":"r","directory":"/","match":{"url":"^x$"}}]}"#);
            assert!(e.rules[0].directory.is_none());
        }
    }
}
