//! The external corpus of Jepsen and Porcupine histories with known
//! verdicts (`../shared/histories/porcupine`, beside the clone). A fresh
//! clone has no such folder: tests that need it then say, on the terminal,
//! that they were skipped — past the test harness's output capture, so the
//! line shows in a passing run — and pass. Under `CI=true` a missing
//! corpus fails instead: CI must never go green without the golden tests.
//!
//! Shared by `checkers`' and `harness`' tests (the latter include this
//! file by path), so the rule lives in one place.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

/// Where the corpus is expected: `../shared/histories/porcupine` beside
/// the repository.
pub fn dir() -> PathBuf {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let beside = crate_dir.ancestors().nth(2).expect("a crate inside a repository");
    beside.join("shared/histories/porcupine")
}

/// Whether this run is CI's (`CI=true`, as CI services set it).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The corpus folder, or `None` after saying loudly that the running test
/// was skipped because it is missing (a failure under `CI=true`).
pub fn available() -> Option<PathBuf> {
    // libtest names each test's thread after the test.
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let dir = dir();
    if dir.join("EXPECTED.tsv").is_file() {
        return Some(dir);
    }
    assert!(
        !in_ci(),
        "{test}: the history corpus {} is missing, and CI=true: CI must run the golden-history tests",
        dir.display()
    );
    // Straight to the terminal: `eprintln!` would be captured and hidden.
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED {test}: the history corpus {} is not there (it is not part of the repository; set CI=true to make this a failure)",
        dir.display()
    );
    None
}

/// One file of the corpus, or `None` (said loudly) when it is missing.
pub fn file(rel: &str) -> Option<String> {
    available().map(|d| d.join(rel).display().to_string())
}
