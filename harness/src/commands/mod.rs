//! The subcommands, one module each: what `main` dispatches to. Each
//! returns the exit code its verdict gives (0 valid, 1 invalid, 2 unknown).

pub mod analyze;
pub mod bench;
pub mod check;
pub mod cleanup;
pub mod client_bench;
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

/// CPU seconds (user + system) this process has used.
pub(crate) fn cpu_seconds() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_SELF).map_or(0.0, |r| {
        let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
        t(r.user_time()) + t(r.system_time())
    })
}
