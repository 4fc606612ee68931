//! One module per subcommand: each reads its arguments, loads the configuration through
//! [`crate::load`] and writes its result. The helpers here are the ones they share.

pub mod check;
pub mod envoy;
pub mod explain;
pub mod import;
pub mod istio;
pub mod server;
mod server_envoy;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::load::{load, Loaded};

pub use envoy::EnvoyArgs;
pub use explain::ExplainArgs;
pub use import::ImportArgs;
pub use istio::IstioCommandArgs;

#[derive(Debug, Args)]
pub struct Input {
    /// A web.config, a fragment (<rewrite>, <rules>, <outboundRules>, <rewriteMaps>), or the
    /// filter's JSON configuration (recognised by a leading '{').
    #[arg(value_name = "FILE", required_unless_present = "applicationhost")]
    pub file: Option<PathBuf>,
    /// Where configSource files are looked for (default: the directory of FILE).
    #[arg(long, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
    #[command(flatten)]
    pub server: server::ServerInput,
}

impl Input {
    /// FILE (empty with --applicationhost, which the commands handle first).
    pub fn path(&self) -> &Path {
        self.file.as_deref().unwrap_or(Path::new(""))
    }

    /// `--applicationhost FILE`, or `Err(2)` (reported) when it comes with options of the
    /// one-file form: `others` names those the command has, with whether each was given.
    pub fn applicationhost(&self, others: &[(&str, bool)]) -> Result<Option<&Path>, u8> {
        let Some(path) = self.server.applicationhost.as_deref() else {
            return Ok(None);
        };
        let given = [
            ("FILE", self.file.is_some()),
            ("--config-dir", self.config_dir.is_some()),
        ];
        if let Some((name, _)) = given.iter().chain(others).find(|(_, g)| *g) {
            eprintln!(
                "error: --applicationhost cannot be used with {name} (the server's file names \
                 the sites, their web.config files and their listeners)"
            );
            return Err(2);
        }
        Ok(Some(path))
    }
}

/// Loads the input and prints its diagnostics on stderr.
pub fn load_and_report(input: &Input) -> Loaded {
    let loaded = load(input.path(), input.config_dir.as_deref());
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    for line in loaded.render() {
        let _ = writeln!(err, "{line}");
    }
    loaded
}

/// Writes a bootstrap that holds a password: a file is created readable by its owner only.
pub fn write_secret_output(path: Option<&Path>, text: &str) -> u8 {
    let Some(p) = path else {
        return write_output(None, text);
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options
        .open(p)
        .and_then(|mut f| f.write_all(text.as_bytes()))
    {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{}: error: cannot write: {e}", p.display());
            1
        }
    }
}

/// Writes the command's result to `path` or stdout.
pub fn write_output(path: Option<&Path>, text: &str) -> u8 {
    match path {
        Some(p) => match std::fs::write(p, text) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{}: error: cannot write: {e}", p.display());
                1
            }
        },
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => 0,
                // A closed pipe (`| head`) is not the configuration's fault.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
                Err(e) => {
                    eprintln!("error: cannot write to stdout: {e}");
                    1
                }
            }
        }
    }
}
