//! Replays the inputs the fuzz targets once failed on (`fuzz/regressions/<target>/`), and their
//! seeds, through the same functions the targets run (`fuzz/src/lib.rs`), so a fixed crash
//! stays fixed without the nightly toolchain. `scripts/fuzz.sh` runs the targets themselves.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod fuzz;

use std::path::{Path, PathBuf};

fn inputs(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"));
    files.sort();
    files
}

fn replay(target: &str, run: fn(&[u8])) -> std::io::Result<usize> {
    let mut n = 0;
    for dir in [format!("regressions/{target}"), format!("seeds/{target}")] {
        for path in inputs(&dir) {
            let data = std::fs::read(&path)?;
            let started = std::time::Instant::now();
            run(&data);
            eprintln!("{}: {:?}", path.display(), started.elapsed());
            n += 1;
        }
    }
    Ok(n)
}

#[test]
fn import_regressions() {
    replay("import", fuzz::import).unwrap();
}

#[test]
fn json_config_regressions() {
    replay("json_config", fuzz::json_config).unwrap();
}

#[test]
fn request_regressions_and_seeds() {
    assert!(
        replay("request", fuzz::request).unwrap() >= 10,
        "the seeds are there"
    );
}
