//! The command as a whole: version, help, usage errors, and robustness of the real binary
//! against garbage (mutated fixtures; the in-process fuzz loop in src/load.rs runs far more).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
use common::{root, run, run_in, scratch};
use std::time::{Duration, Instant};

#[test]
fn version_names_the_version_and_git_hash() {
    let r = run(&["--version"]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout,
        format!(
            "iis-rewrite {} (git {})\n",
            iis_rewrite_filter::VERSION,
            iis_rewrite_filter::GIT_HASH
        )
    );
    let r = run(&["check", "--version"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains(iis_rewrite_filter::VERSION));
}

#[test]
fn help_exits_0() {
    for args in [
        vec!["--help"],
        vec!["check", "--help"],
        vec!["explain", "--help"],
        vec!["envoy", "--help"],
    ] {
        let r = run(&args);
        assert_eq!(r.code, 0, "{args:?}");
        assert!(r.stdout.contains("Usage: iis-rewrite"), "{args:?}");
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec![],
        vec!["frobnicate"],
        vec!["check"],
        vec!["check", "a", "b"],
        vec!["import"],
        vec!["import", "x.config", "--bogus"],
        vec!["check", "x.config", "--config-dir"],
    ] {
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}");
    }
}

/// xorshift64*: deterministic, no dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[test]
fn garbage_never_crashes_the_binary() {
    let dir = scratch("garbage");
    let mut inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\x00\x01\x02\xff\xfe".to_vec(),
        b"{".to_vec(),
        b"{\"rules\": [{\"name\": 1}]}".to_vec(),
        b"<configuration><system.webServer><rewrite><rules><rule name=\"a\"><match url=\"".to_vec(),
        "<a>".repeat(50_000).into_bytes(),
        format!("<rules><rule name=\"{}\"/></rules>", "x".repeat(1_000_000)).into_bytes(),
    ];
    let mut seed = 0x1234_5678_9ABC_DEF1u64;
    for fixture in [
        "webconfigs/jellyfin-basic.config",
        "webconfigs/arr-farm-front.config",
        "broken/many-problems.config",
    ] {
        let original = std::fs::read(root().join("testdata").join(fixture)).unwrap();
        for _ in 0..25 {
            let mut data = original.clone();
            for _ in 0..1 + next(&mut seed) % 8 {
                let len = data.len().max(1) as u64;
                let at = (next(&mut seed) % len) as usize;
                match next(&mut seed) % 3 {
                    0 => {
                        if at < data.len() {
                            data[at] = next(&mut seed) as u8;
                        }
                    }
                    1 => data.truncate(at),
                    _ => {
                        let end = (at + (next(&mut seed) % 40) as usize).min(data.len());
                        if at < end {
                            data.drain(at..end);
                        }
                    }
                }
            }
            inputs.push(data);
        }
    }
    let start = Instant::now();
    for (i, data) in inputs.iter().enumerate() {
        if start.elapsed() > Duration::from_secs(60) {
            break;
        }
        let name = format!("g{i}.config");
        std::fs::write(dir.join(&name), data).unwrap();
        for cmd in ["check", "import"] {
            let r = run_in(&dir, &[cmd, &name]);
            assert!(
                r.code == 0 || r.code == 1,
                "{cmd} {name}: exit {} stderr {}",
                r.code,
                &r.stderr[..r.stderr.len().min(2000)]
            );
            assert!(!r.stderr.contains("panicked"), "{cmd} {name}: {}", r.stderr);
            if r.code == 1 {
                assert!(
                    !r.stderr.is_empty(),
                    "{cmd} {name}: exit 1 without a message"
                );
            }
        }
    }
}
