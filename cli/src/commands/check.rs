//! `iis-rewrite check`: validate a configuration and print a summary of it.

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
            0
        }
        _ => 1,
    }
}
