//! `iis-rewrite check`: validate a configuration and print a summary of it, with the upstreams
//! its proxy rules can reach.

use super::{load_and_report, Input};
use crate::load;

/// Exit 0 and a summary when the configuration is valid, else 1 (the problems are on stderr).
pub fn run(input: &Input) -> u8 {
    match input.applicationhost(&[]) {
        Ok(Some(path)) => return super::server::check(path, &input.server),
        Ok(None) => {}
        Err(code) => return code,
    }
    let loaded = load_and_report(input);
    match (&loaded.config, loaded.has_errors()) {
        (Some(config), false) => {
            println!("{}: ok: {}", input.path().display(), load::summary(config));
            if let Some(engine) = &loaded.engine {
                for line in reachable(engine) {
                    println!("  {line}");
                }
                println!("  {}", module(engine));
            }
            0
        }
        _ => 1,
    }
}

/// Which of the two filter modules runs the configuration (docs/deploying.md#which-module).
fn module(engine: &iis_rewrite_filter::Engine) -> &'static str {
    if engine.has_body_rules() {
        "module: iis_rewrite_filter.wasm (it has rules on response bodies)"
    } else {
        "module: iis_rewrite_filter_headers.wasm or iis_rewrite_filter.wasm (no rules on \
         response bodies)"
    }
}

/// One line per upstream and farm the rules can proxy to, with the Envoy cluster of each.
fn reachable(engine: &iis_rewrite_filter::Engine) -> Vec<String> {
    let mut lines: Vec<String> = engine
        .upstreams()
        .iter()
        .map(|u| {
            let host = if u.host.contains(':') {
                format!("[{}]", u.host)
            } else {
                u.host.clone()
            };
            let scheme = if u.tls { "https" } else { "http" };
            format!(
                "reaches {scheme}://{host}:{} (cluster {})",
                u.port, u.cluster
            )
        })
        .collect();
    lines.extend(engine.farm_clusters().iter().map(|(farm, tls, cluster)| {
        let scheme = if *tls { "https" } else { "http" };
        format!("reaches farm {farm:?} over {scheme} (cluster {cluster})")
    }));
    lines.extend(engine.dynamic_upstreams().iter().map(|a| {
        let ports: Vec<String> = a.ports.iter().map(u16::to_string).collect();
        format!(
            "reaches {} on port {} through the dynamic forward proxy (clusters iis-dynamic|http, \
             iis-dynamic|https)",
            a.host,
            ports.join(", ")
        )
    }));
    lines
}
