//! `iis-rewrite`: import, check and explain IIS web.config rewrite rules, and generate the Envoy
//! bootstrap that runs them.
//!
//! Exit codes: 0 success, 1 invalid input (the configuration is refused, a file cannot be read or
//! written), 2 usage error (clap's own code for bad command lines).
//!
//! The commands live in the library (`lib.rs`); this file is the command line only.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use iis_rewrite::commands::{self, EnvoyArgs, ExplainArgs, ImportArgs, Input, IstioCommandArgs};

#[derive(Debug, Parser)]
#[command(
    name = "iis-rewrite",
    about = "Check, import and explain IIS URL Rewrite / ARR rules (web.config) and generate \
             the Envoy configuration that runs them",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per run; boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Validate a web.config (or the filter's JSON configuration): exit 0 and a summary when
    /// valid, else exit 1 with one FILE:LINE:COL line per problem.
    Check(Input),
    /// Write the filter's JSON configuration for a web.config.
    Import(ImportArgs),
    /// Evaluate one request against the rules and show what each rule did.
    Explain(ExplainArgs),
    /// Generate the Envoy bootstrap (YAML) that runs the filter with this configuration.
    Envoy(EnvoyArgs),
    /// Generate an Istio WasmPlugin manifest whose pluginConfig is this configuration.
    Istio(IstioCommandArgs),
}

fn version() -> String {
    format!(
        "{} (git {})",
        iis_rewrite_filter::VERSION,
        iis_rewrite_filter::GIT_HASH
    )
}

fn main() -> ExitCode {
    let matches = match Cli::command().version(version()).try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    ExitCode::from(match cli.command {
        Command::Check(input) => commands::check::run(&input),
        Command::Import(args) => commands::import::run(args),
        Command::Explain(args) => commands::explain::run(args),
        Command::Envoy(args) => commands::envoy::run(args),
        Command::Istio(args) => commands::istio::run(args),
    })
}
