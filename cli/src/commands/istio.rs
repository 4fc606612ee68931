//! `iis-rewrite istio`: an Istio WasmPlugin manifest whose pluginConfig is this configuration.
//! The generator itself is [`crate::istio`].

use std::path::PathBuf;

use clap::Args;

use super::{load_and_report, write_output, Input};
use crate::istio;

#[derive(Debug, Args)]
pub struct IstioCommandArgs {
    #[command(flatten)]
    pub input: Input,
    #[command(flatten)]
    pub opts: istio::IstioArgs,
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
}

/// Renders the manifest; exit 2 for a bad option value, 1 for a refused configuration.
pub fn run(args: IstioCommandArgs) -> u8 {
    let IstioCommandArgs {
        input,
        opts,
        output,
    } = args;
    if input.server.applicationhost.is_some() {
        eprintln!(
            "error: istio takes one site's configuration: give FILE (a WasmPlugin per site; \
             `iis-rewrite import --applicationhost … --site NAME` writes one site's JSON)"
        );
        return 2;
    }
    let Some(json) = imported_json(&input) else {
        return 1;
    };
    let source = input.path().display().to_string();
    match istio::render(&json, &source, &opts) {
        Ok(yaml) => write_output(output.as_deref(), &yaml),
        Err(e @ istio::IstioError::Config(_)) => {
            eprintln!("{source}: error: {e}");
            1
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// The imported configuration as `import` writes it (pretty JSON), or None after reporting.
fn imported_json(input: &Input) -> Option<String> {
    let loaded = load_and_report(input);
    let config = loaded.config.as_ref().filter(|_| !loaded.has_errors())?;
    match serde_json::to_string_pretty(config) {
        Ok(json) => Some(json),
        Err(e) => {
            eprintln!("error: cannot serialise the configuration: {e}");
            None
        }
    }
}
