//! `iis-rewrite import`: write the filter's JSON configuration for a web.config.

use std::path::{Path, PathBuf};

use clap::Args;
use iis_rewrite_filter::plugin::DEFAULT_SET_NAME;

use super::{load_and_report, server, write_output, Input};
use crate::secrets;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub input: Input,
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// With --applicationhost: only this site's configuration (else every site as a rule set).
    #[arg(long, value_name = "NAME", requires = "applicationhost")]
    pub site: Option<String>,
}

/// The configuration as pretty JSON with the backend password masked.
pub fn run(args: ImportArgs) -> u8 {
    let ImportArgs {
        input,
        output,
        site,
    } = args;
    match input.applicationhost(&[]) {
        Ok(Some(path)) => return import_server(path, &input, site.as_deref(), output.as_deref()),
        Ok(None) => {}
        Err(code) => return code,
    }
    let loaded = load_and_report(&input);
    let Some(config) = loaded.config.as_ref().filter(|_| !loaded.has_errors()) else {
        return 1;
    };
    let mut config = config.clone();
    if secrets::mask_config(&mut config) {
        eprintln!(
            "{}: warning: the backend password is not written; give it to `iis-rewrite \
             envoy` with --backend-password-file or --backend-password-env",
            input.path().display()
        );
    }
    write_json(output.as_deref(), &config)
}

fn write_json(output: Option<&Path>, value: &impl serde::Serialize) -> u8 {
    match serde_json::to_string_pretty(value) {
        Ok(mut json) => {
            json.push('\n');
            write_output(output, &json)
        }
        Err(e) => {
            eprintln!("error: cannot serialise the configuration: {e}");
            1
        }
    }
}

/// `import --applicationhost`: one site's configuration, or every site as a named rule set
/// (the filter's multi-site form; the server level alone is the default rule set).
fn import_server(path: &Path, input: &Input, site: Option<&str>, output: Option<&Path>) -> u8 {
    let loaded = server::load_and_report(path, &input.server);
    if loaded.has_errors() {
        return 1;
    }
    let masked = |config: &iis_rewrite_filter::FilterConfig| {
        let mut config = config.clone();
        if secrets::mask_config(&mut config) {
            eprintln!(
                "{}: warning: the backend password is not written; give it to `iis-rewrite \
                 envoy` with --backend-password-file or --backend-password-env",
                loaded.source
            );
        }
        config
    };
    if let Some(name) = site {
        return match loaded.site(name) {
            Some(s) => write_json(output, &masked(&s.config)),
            None => {
                eprintln!("error: --site {name:?}: no site of that name");
                2
            }
        };
    }
    let mut sets = serde_json::Map::new();
    if let Some((config, _)) = &loaded.server {
        sets.insert(DEFAULT_SET_NAME.to_string(), json_value(&masked(config)));
    }
    for s in &loaded.sites {
        sets.insert(s.rule_set.clone(), json_value(&masked(&s.config)));
    }
    let doc = serde_json::json!({"ruleSets": sets, "defaultRuleSet": DEFAULT_SET_NAME});
    write_json(output, &doc)
}

fn json_value(config: &iis_rewrite_filter::FilterConfig) -> serde_json::Value {
    serde_json::to_value(config).unwrap_or_default()
}
