//! Compiles ARR server farms and the clusters the rules can reach.

use super::*;
impl Compiler<'_> {
    /// The enabled farms, with ARR's farm defaults, and the server-level proxy checks.
    pub(super) fn farms(&mut self) -> Vec<CompiledFarm> {
        let mut check = farm::Check {
            errs: &mut self.errs,
            warnings: &mut self.warnings,
        };
        let proxy = self.config.proxy.clone().unwrap_or_default();
        check.proxy(&proxy);
        let trusted_hops = proxy.trusted_hops.unwrap_or(0);
        check
            .farms(self.config)
            .into_iter()
            .map(|f| {
                let idx = self
                    .config
                    .web_farms
                    .iter()
                    .position(|w| w.name.trim().eq_ignore_ascii_case(&f.name));
                let protocol = idx
                    .and_then(|i| self.config.web_farms.get(i))
                    .and_then(|w| w.protocol.clone())
                    .unwrap_or_default();
                CompiledFarm {
                    headers: ProxyHeaders::new(
                        &protocol,
                        trusted_hops,
                        proxy.backend_auth.as_ref(),
                    ),
                    farm: f,
                }
            })
            .collect()
    }

    /// Farm clusters the rules can reach: a farm named literally (or in a map value) with its
    /// scheme; both schemes when the scheme is a capture; every farm when the host is one, with
    /// the rule's literal scheme (`http://{R:1}/` reaches only plain farm clusters).
    pub(super) fn farm_clusters(
        &self,
        rules: &[&CompiledRule],
        farms: &[CompiledFarm],
    ) -> Vec<(String, bool, String)> {
        let mut reach: Vec<(String, bool)> = Vec::new();
        let mut add = |farm: &str, tls: bool| {
            if let Some(f) = farms
                .iter()
                .find(|f| f.farm.name.eq_ignore_ascii_case(farm))
            {
                if !reach.iter().any(|(n, t)| *n == f.farm.name && *t == tls) {
                    reach.push((f.farm.name.clone(), tls));
                }
            }
        };
        // Schemes of targets whose host is a capture (`http://{R:1}/…`): the literal scheme
        // decides plain or TLS; a captured scheme can be either.
        let mut dynamic_plain = false;
        let mut dynamic_tls = false;
        for rule in rules {
            let CompiledAction::Rewrite { url, .. } = &rule.action else {
                continue;
            };
            let segments = url.segments();
            match segments.first() {
                Some(Segment::Literal(text)) => match url::parse_absolute(text) {
                    Some(u) => add(&u.host, url::scheme_is_tls(&u.scheme)),
                    // `http://{R:1}/…`: the host is dynamic, the scheme literal.
                    None if text.ends_with("://") => {
                        let scheme = text.trim_end_matches("://").to_ascii_lowercase();
                        match scheme.as_str() {
                            "http" | "ws" => dynamic_plain = true,
                            "https" | "wss" => dynamic_tls = true,
                            _ => {}
                        }
                    }
                    None => {}
                },
                // `{C:1}://farm/…`. A target that is a capture from its first character names
                // no upstream (the same rule as for literal upstreams): it is refused with 502.
                Some(_) => {
                    if let Some(Segment::Literal(text)) = segments.get(1) {
                        if let Some(after) = text.strip_prefix("://") {
                            let end = after.find(['/', '?', ':']).unwrap_or(after.len());
                            let host = after.get(..end).unwrap_or_default();
                            if host.is_empty() {
                                // `{C:1}://{R:1}/…`: scheme and host both captured.
                                dynamic_plain = true;
                                dynamic_tls = true;
                            }
                            add(host, false);
                            add(host, true);
                        }
                    }
                }
                None => {}
            }
        }
        for m in &self.maps {
            for v in m.entries.values().chain(std::iter::once(&m.default)) {
                if let Some(u) = url::parse_absolute(v) {
                    add(&u.host, url::scheme_is_tls(&u.scheme));
                }
            }
        }
        for f in farms {
            if dynamic_plain {
                add(&f.farm.name, false);
            }
            if dynamic_tls {
                add(&f.farm.name, true);
            }
        }
        reach
            .into_iter()
            .map(|(farm, tls)| {
                let cluster = crate::engine::upstream::farm_cluster_name(tls, &farm);
                (farm, tls, cluster)
            })
            .collect()
    }
}
