//! The subcommands, one module each: what `main` dispatches to. Each
//! returns the exit code its verdict gives (0 valid, 1 invalid, 2 unknown).

pub mod analyze;
pub mod bench;
pub mod check;
pub mod cleanup;
pub mod serve;
pub mod synth;
pub mod test;

use anyhow::{Context, Result};

/// The last lines a person reads after a run is judged: the verdict and
/// the finding, a note on it if any, the report and the run folder.
pub(crate) fn print_finding(
    verdict: checkers::Verdict,
    finding: &str,
    note: Option<&str>,
    dir: &std::path::Path,
) {
    println!("{verdict}: {finding}");
    if let Some(note) = note {
        println!("note: {note}");
    }
    println!("report: {}", dir.join("report.html").display());
    println!("run folder: {}", dir.display());
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}
