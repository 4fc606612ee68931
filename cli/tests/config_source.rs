//! `configSource` paths as IIS reads them: `\` separates folders, the path is relative to the
//! configuration that names it, and a path that leaves the site's folder is refused at the
//! attribute's line and column.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::{run, run_in, scratch};

fn site(name: &str, config_source: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    std::fs::write(
        dir.join("web.config"),
        format!(
            "<configuration><system.webServer><rewrite>\n  <rules configSource=\"{config_source}\" />\n</rewrite></system.webServer></configuration>\n"
        ),
    )
    .unwrap();
    dir
}

const RULES: &str = "<rules>\n  <rule name=\"r\"><match url=\"^a$\" /><action type=\"Rewrite\" url=\"/b\" /></rule>\n</rules>\n";

#[test]
fn backslash_paths_name_files_in_subfolders() {
    let r = run(&["import", "testdata/baota-site/web.config"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["rules"][0]["name"], "api front controller");
    assert_eq!(v["rules"][1]["name"], "old blog");
}

#[test]
fn errors_inside_a_backslash_named_file_are_located_in_it() {
    let dir = site("cs-located", "conf\\rules.config");
    std::fs::create_dir_all(dir.join("conf")).unwrap();
    std::fs::write(
        dir.join("conf/rules.config"),
        "<rules>\n  <rule name=\"r\" stopProcessing=\"maybe\"><match url=\"a\" /><action type=\"None\" /></rule>\n</rules>\n",
    )
    .unwrap();
    let r = run_in(&dir, &["check", "web.config"]);
    assert_eq!(r.code, 1);
    let errors = r.errors();
    assert_eq!(errors.len(), 1, "{}", r.stderr);
    assert!(
        errors[0].starts_with("conf/rules.config:2:18: error: rule \"r\" attribute stopProcessing"),
        "{}",
        r.stderr
    );
}

#[test]
fn dot_segments_that_stay_inside_are_read() {
    for path in [
        "conf\\..\\rules.config",
        ".\\rules.config",
        "conf/./../rules.config",
        "conf\\\\..\\rules.config",
    ] {
        let dir = site("cs-dots", path);
        std::fs::create_dir_all(dir.join("conf")).unwrap();
        std::fs::write(dir.join("rules.config"), RULES).unwrap();
        let r = run_in(&dir, &["check", "web.config"]);
        assert_eq!(r.code, 0, "{path}: {}", r.stderr);
    }
}

#[test]
fn paths_that_leave_the_site_folder_are_refused_where_they_are_written() {
    for (path, message) in [
        ("..\\rules.config", "leaves the site's folder"),
        ("conf\\..\\..\\rules.config", "leaves the site's folder"),
        ("../rules.config", "leaves the site's folder"),
        ("\\rules.config", "must be a relative path"),
        ("/etc/passwd", "must be a relative path"),
        ("C:\\inetpub\\rules.config", "must be a relative path"),
        ("\\\\server\\share\\rules.config", "must be a relative path"),
        ("conf\\", "must be a relative path"),
        ("", "must be a relative path"),
    ] {
        let dir = site("cs-outside", path);
        // The file exists outside the site: the refusal must not depend on its absence.
        std::fs::write(dir.parent().unwrap().join("rules.config"), RULES).unwrap();
        let r = run_in(&dir, &["check", "web.config"]);
        assert_eq!(r.code, 1, "{path}: {}", r.stderr);
        let errors = r.errors();
        assert_eq!(errors.len(), 1, "{path}: {}", r.stderr);
        assert!(
            errors[0].starts_with("web.config:2:10: error: <rules> attribute configSource: "),
            "{path}: {}",
            r.stderr
        );
        assert!(errors[0].contains(message), "{path}: {}", r.stderr);
    }
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_out_of_the_site_folder_is_refused() {
    let dir = site("cs-symlink", "conf\\rules.config");
    let outside = scratch("cs-symlink-outside");
    std::fs::write(outside.join("rules.config"), RULES).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("conf")).unwrap();
    let r = run_in(&dir, &["check", "web.config"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("leaves the site's folder through a symbolic link"),
        "{}",
        r.stderr
    );
}
