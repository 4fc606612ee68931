//! Runs the built `iis-rewrite` binary from the workspace root, so that diagnostics name files
//! as `testdata/…`.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_iis-rewrite");

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    pub fn errors(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.contains(": error: "))
            .collect()
    }

    pub fn warnings(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.contains(": warning: "))
            .collect()
    }
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the binary in the workspace root.
pub fn run(args: &[&str]) -> Run {
    finish(
        Command::new(BIN)
            .args(args)
            .current_dir(root())
            .output()
            .expect("run iis-rewrite"),
    )
}

/// Runs the binary in `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> Run {
    finish(
        Command::new(BIN)
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run iis-rewrite"),
    )
}

/// A fresh empty directory under the target directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = root()
        .join("target")
        .join("cli-test-scratch")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The web.configs of testdata/webconfigs written for these tests (all valid), with the
/// summary `check` prints for each.
pub const FIXTURES: &[(&str, &str)] = &[
    (
        "jellyfin-basic.config",
        "6 rules (1 disabled), 1 outbound rule, 1 preCondition, 0 rewrite maps",
    ),
    (
        "novnc-websocket.config",
        "2 rules, 0 outbound rules, 0 preConditions, 0 rewrite maps",
    ),
    (
        "https-redirect.config",
        "3 rules, 0 outbound rules, 0 preConditions, 0 rewrite maps",
    ),
    (
        "redirect-map.config",
        "2 rules, 0 outbound rules, 0 preConditions, 1 rewrite map",
    ),
    (
        "configsource-site.config",
        "2 rules, 0 outbound rules, 0 preConditions, 1 rewrite map",
    ),
    (
        "configsource-maps.config",
        "0 rules, 0 outbound rules, 0 preConditions, 1 rewrite map",
    ),
    (
        "rules-fragment.config",
        "3 rules, 0 outbound rules, 0 preConditions, 0 rewrite maps",
    ),
    (
        "arr-farm-front.config",
        "3 rules, 1 global rule, 1 outbound rule, 0 preConditions, 0 rewrite maps",
    ),
    (
        "arr-seed-001-backend-basic-auth.config",
        "2 rules, 0 outbound rules, 0 preConditions, 0 rewrite maps",
    ),
    (
        "arr-seed-002-lync-farms.config",
        "0 rules, 2 global rules, 0 outbound rules, 0 preConditions, 0 rewrite maps, 2 server \
         farms (2 servers)",
    ),
    (
        "arr-farms-all-settings.config",
        "0 rules, 3 global rules, 0 outbound rules, 0 preConditions, 0 rewrite maps, 3 server \
         farms (6 servers)",
    ),
    (
        "ms-reverse-proxy-walkthrough.config",
        "2 rules, 1 outbound rule, 1 preCondition, 0 rewrite maps",
    ),
    (
        "ms-outbound-clean-urls.config",
        "1 rule, 1 outbound rule, 1 preCondition, 0 rewrite maps",
    ),
    (
        "arr-app-under-prefix.config",
        "1 rule, 4 outbound rules, 1 preCondition, 0 rewrite maps",
    ),
    (
        "azure-reverse-proxy-extension.config",
        "2 rules, 1 outbound rule, 1 preCondition, 0 rewrite maps",
    ),
];
