//! Helpers shared by the integration tests: where things are, and tools the tests
//! need (installed by `tests/run`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `shared/` beside the repository (override with `HOTPUSH_SHARED`).
pub fn shared_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("HOTPUSH_SHARED") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// The real RPMs from other projects.
pub fn real_rpms() -> PathBuf {
    shared_dir().join("testdata/real-rpms")
}

/// The `hotpush` binary built for these tests.
pub fn hotpush_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hotpush"))
}

pub fn hotpush() -> Command {
    Command::new(hotpush_bin())
}

/// Panics with a hint when a tool the test drives is missing: `tests/run` installs it.
pub fn require_tool(name: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name} || test -x {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{name}` is not installed; run the suite through `tests/run`, which installs it"
    );
}

/// Runs a command, panicking with its output when it fails.
pub fn run_ok(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
