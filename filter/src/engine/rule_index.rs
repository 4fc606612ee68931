//! The inbound rule prefilter: a literal prefix per rule, bucketed so a request visits only
//! the rules its URL can match.

/// A prefilter over one rule set: rules whose pattern needs a literal prefix are bucketed by
/// its first `key_len` bytes, so a request only visits the rules whose bucket its URL falls in
/// plus the rules without a usable prefix, in their original order. A rule the URL cannot
/// match is never looked at: cost grows with the rules that can match, not with all of them.
#[derive(Debug, Default)]
pub(crate) struct RuleIndex {
    /// 0: no index (too few rules with a prefix to pay off); the rule set is scanned.
    key_len: usize,
    /// Lowercased key → rule indexes, ascending.
    buckets: std::collections::HashMap<Vec<u8>, Vec<usize>>,
    /// Rules every URL must visit, ascending.
    always: Vec<usize>,
}

/// Fewer indexed rules than this: a scan is as cheap as the lookup.
const INDEX_MIN_RULES: usize = 16;
/// Key bytes compared by the hash lookup at most (the rule's pattern checks the rest).
const INDEX_MAX_KEY: usize = 8;

impl RuleIndex {
    /// Builds the index of one rule set from each rule's required literal prefix (see
    /// [`crate::pattern::Pattern::required_prefix`]), in rule order.
    pub(crate) fn build<'a, I>(prefixes: I) -> RuleIndex
    where
        I: Iterator<Item = Option<&'a str>> + Clone,
    {
        let usable = |p: Option<&'a str>| p.filter(|p| p.len() >= 2);
        let indexed = prefixes.clone().filter(|p| usable(*p).is_some()).count();
        if indexed < INDEX_MIN_RULES {
            return RuleIndex::default();
        }
        let key_len = prefixes
            .clone()
            .filter_map(|p| usable(p).map(str::len))
            .min()
            .unwrap_or(0)
            .min(INDEX_MAX_KEY);
        let mut index = RuleIndex {
            key_len,
            ..RuleIndex::default()
        };
        for (i, p) in prefixes.enumerate() {
            match usable(p).and_then(|p| p.as_bytes().get(..key_len)) {
                // Case-sensitive prefixes are keyed lowercase too (the lookup lowercases the
                // URL); the rule's own pattern still compares exactly.
                Some(key) => index
                    .buckets
                    .entry(key.to_ascii_lowercase())
                    .or_default()
                    .push(i),
                None => index.always.push(i),
            }
        }
        index
    }

    /// The rules `url` may match, from rule `from` on; `None`: visit every rule.
    pub(crate) fn candidates(&self, url: &str, from: usize) -> Option<Candidates<'_>> {
        if self.key_len == 0 {
            return None;
        }
        let mut key = [0u8; INDEX_MAX_KEY];
        let bucket: &[usize] = match (
            url.as_bytes().get(..self.key_len),
            key.get_mut(..self.key_len),
        ) {
            (Some(head), Some(k)) => {
                k.copy_from_slice(head);
                k.make_ascii_lowercase();
                self.buckets.get(&k[..]).map_or(&[], Vec::as_slice)
            }
            _ => &[],
        };
        let skip = |list: &[usize]| list.partition_point(|&i| i < from);
        Some(Candidates {
            bucket: bucket.get(skip(bucket)..).unwrap_or_default(),
            always: self.always.get(skip(&self.always)..).unwrap_or_default(),
        })
    }
}

/// Two ascending lists of rule indexes, merged.
pub(crate) struct Candidates<'a> {
    bucket: &'a [usize],
    always: &'a [usize],
}

impl Iterator for Candidates<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let take_bucket = match (self.bucket.first(), self.always.first()) {
            (Some(b), Some(a)) => b < a,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let list = if take_bucket {
            &mut self.bucket
        } else {
            &mut self.always
        };
        let (first, rest) = list.split_first()?;
        *list = rest;
        Some(*first)
    }
}

#[cfg(test)]
mod prefilter_tests {
    use crate::engine::config::FilterConfig;
    use crate::engine::model::Engine;
    use crate::engine::request::StaticRequest;
    use crate::engine::trace::RequestTrace;

    /// A rule set big enough to be indexed: prefixed rules in both cases, wildcards, rules
    /// without prefix, negated rules, and rewrites that change the URL later rules see.
    fn big_set() -> Engine {
        let mut rules = Vec::new();
        for i in 0..24 {
            rules.push(format!(
                r#"{{"name":"lit{i}","match":{{"url":"^section{i}/page\\.html$"}},"action":{{"type":"Rewrite","url":"/s{i}.html"}}}}"#
            ));
        }
        for r in [
            r#"{"name":"move","match":{"url":"^old/(.*)"},"action":{"type":"Rewrite","url":"section3/{R:1}"}}"#,
            r#"{"name":"case","match":{"url":"^CaseSens/x","ignoreCase":false},"action":{"type":"Rewrite","url":"/cs"}}"#,
            r#"{"name":"neg","match":{"url":"^keep/","negate":true},"serverVariables":[{"name":"HTTP_X_NEG","value":"1"}]}"#,
            r#"{"name":"any","match":{"url":"\\.php$"},"serverVariables":[{"name":"HTTP_X_PHP","value":"{R:0}"}]}"#,
            r#"{"name":"wild","patternSyntax":"Wildcard","match":{"url":"blog/*"},"action":{"type":"Redirect","url":"/b/{R:1}"}}"#,
            r#"{"name":"sec3","match":{"url":"^section3/(.+)$"},"action":{"type":"Rewrite","url":"/third/{R:1}"}}"#,
            r#"{"name":"opt","match":{"url":"^secx?tion"},"serverVariables":[{"name":"HTTP_X_OPT","value":"y"}]}"#,
        ] {
            rules.push(r.to_string());
        }
        let json = format!(
            r#"{{"allowedServerVariables":["HTTP_X_NEG","HTTP_X_PHP","HTTP_X_OPT"],"rules":[{}]}}"#,
            rules.join(",")
        );
        let config = FilterConfig::from_json(&json).unwrap();
        Engine::compile(&config).unwrap()
    }

    #[test]
    fn the_prefilter_never_changes_a_decision() {
        let e = big_set();
        assert!(e.rules_index.key_len > 0, "the set should be indexed");
        for url in [
            "/",
            "/section7/page.html",
            "/SECTION7/PAGE.HTML",
            "/section23/page.html",
            "/section7/page.htm",
            "/old/page.html",
            "/old/x.php",
            "/casesens/x",
            "/CaseSens/x",
            "/keep/a",
            "/index.php",
            "/blog/2024/post",
            "/BLOG/x",
            "/section",
            "/setion",
            "/se",
            "/sectio",
            "/%73ection1/page.html",
        ] {
            let req = StaticRequest::get("h", url);
            let fast = e.inbound(&req);
            let mut trace = RequestTrace::default();
            let full = e.inbound_traced(&req, &mut trace);
            assert_eq!(fast, full, "{url}");
        }
    }

    #[test]
    fn the_prefilter_keeps_directory_rules_exact() {
        let mut rules = Vec::new();
        for i in 0..20 {
            rules.push(format!(
                r#"{{"name":"lit{i}","match":{{"url":"^section{i}/"}},"action":{{"type":"Rewrite","url":"/s{i}"}}}}"#
            ));
        }
        for (i, dir) in ["/app", "/app/sub", "/Docs", "/section1"]
            .iter()
            .enumerate()
        {
            rules.push(format!(
                r#"{{"name":"d{i}","directory":"{dir}","match":{{"url":"^page$"}},"action":{{"type":"Rewrite","url":"p{i}"}}}}"#
            ));
            rules.push(format!(
                r#"{{"name":"n{i}","directory":"{dir}","match":{{"url":"^page$","negate":true}},"serverVariables":[{{"name":"HTTP_X_N{i}","value":"y"}}]}}"#
            ));
        }
        let json = format!(r#"{{"rules":[{}]}}"#, rules.join(","));
        let e = Engine::compile(&FilterConfig::from_json(&json).unwrap()).unwrap();
        assert!(e.rules_index.key_len > 0, "the set should be indexed");
        for url in [
            "/app",
            "/app/",
            "/APP/page",
            "/app/sub/page",
            "/app/subpage",
            "/docs/page",
            "/docs",
            "/section1/page",
            "/section1/",
            "/section12/page",
            "/ap",
            "/page",
        ] {
            let req = StaticRequest::get("h", url);
            let mut trace = RequestTrace::default();
            assert_eq!(e.inbound(&req), e.inbound_traced(&req, &mut trace), "{url}");
        }
        // Each applies where it should.
        let d = e.inbound(&StaticRequest::get("h", "/app/sub/page"));
        // After the rewrite, /app/sub's negated rule sees `p1`.
        assert_eq!(
            d.matched_rules,
            ["n0", "d1", "n1"].map(std::rc::Rc::<str>::from)
        );
        assert_eq!(
            d.outcome,
            crate::engine::decision::Outcome::Rewrite {
                path: "/app/sub/p1".into()
            }
        );
    }
}
