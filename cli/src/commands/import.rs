//! `iis-rewrite import`: write the filter's JSON configuration for a web.config.

use std::path::PathBuf;

use clap::Args;

use super::{load_and_report, write_output, Input};
use crate::secrets;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub input: Input,
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
}

/// The configuration as pretty JSON with the backend password masked.
pub fn run(args: ImportArgs) -> u8 {
    let ImportArgs { input, output } = args;
    let loaded = load_and_report(&input);
    let Some(config) = loaded.config.as_ref().filter(|_| !loaded.has_errors()) else {
        return 1;
    };
    let mut config = config.clone();
    if secrets::mask_config(&mut config) {
        eprintln!(
            "{}: warning: the backend password is not written; give it to `iis-rewrite \
             envoy` with --backend-password-file or --backend-password-env",
            input.file.display()
        );
    }
    match serde_json::to_string_pretty(&config) {
        Ok(mut json) => {
            json.push('\n');
            write_output(output.as_deref(), &json)
        }
        Err(e) => {
            eprintln!("error: cannot serialise the configuration: {e}");
            1
        }
    }
}
