//! faultline's reports: a self-contained `report.html`, latency and rate
//! plots (PNG and SVG, fault periods shaded), and `junit.xml`, rendered
//! from a history and the checkers' results. Reports render; they never
//! decide validity — every verdict shown comes from a checker.
//!
//! The centre is [`RunView`], everything a report shows, and
//! [`write_all`], which writes every file into a run folder. Fault periods
//! come in the view as data (the `nemesis` crate reads them from the
//! history): reports draw and list them, and know no fault by name.
//! Modules: [`plot`], [`html`], `timeline` (the report's timeline and its
//! summary), `linearizations` (the linearization view),
//! `system_metrics` (the system's own metrics against the faults), [`cycle`]
//! (dependency cycles as SVG), [`junit`].
#![deny(missing_docs)]

pub mod cycle;
pub mod html;
pub mod junit;
mod linearizations;
pub mod plot;
mod system_metrics;
mod timeline;

use std::collections::BTreeMap;
use std::path::Path;

use checkers::linearizable::Report;
use checkers::log::LogReport;
use checkers::txn::TxnReport;
use checkers::{FaultPeriod, History, Operation, Outcome, Verdict};

/// A report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Writing a file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A plot could not be drawn.
    #[error("drawing {0}")]
    Plot(String),
}

/// One checker's finding.
#[derive(Clone, Debug)]
pub struct CheckerView {
    /// `linearizable`, `set`.
    pub name: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// The finding in one sentence.
    pub sentence: String,
}

/// Everything a report shows about one run or one checked history.
pub struct RunView<'a> {
    /// The test's name, or the history file's.
    pub title: String,
    /// The composed verdict.
    pub verdict: Verdict,
    /// The anomaly (or the all-clear) in one sentence.
    pub sentence: String,
    /// `test.json`: the configuration and the command line, if any.
    pub test: Option<serde_json::Value>,
    /// The history.
    pub history: &'a History,
    /// Its client operations, paired.
    pub operations: Vec<Operation>,
    /// The faults in force and when, in start order.
    pub faults: Vec<FaultPeriod>,
    /// Each checker's finding.
    pub checkers: Vec<CheckerView>,
    /// The linearizability result, for per-key verdicts and counterexamples.
    pub linearizable: Option<&'a Report>,
    /// The transactional result, for anomalies and their cycles.
    pub transactions: Option<&'a TxnReport>,
    /// The system's own metrics sampled during the run, if it was.
    pub metrics: Option<&'a SystemMetrics>,
    /// The log checker's result, for its counts and the plot of what was
    /// lost and duplicated.
    pub log: Option<&'a LogReport>,
}

/// The system's own metrics, sampled from each node during a run.
#[derive(Clone, Debug, Default)]
pub struct SystemMetrics {
    /// The nodes, in sampling order.
    pub nodes: Vec<String>,
    /// The series plotted first, in order.
    pub chosen: Vec<String>,
    /// Each series (name with labels): per node, in `nodes`' order, its
    /// samples as (ns since the run began, value).
    pub series: BTreeMap<String, Vec<Vec<(u64, f64)>>>,
    /// Per node, when it did not answer (ns since the run began).
    pub gaps: Vec<Vec<u64>>,
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    std::fs::write(path, bytes).map_err(|source| ReportError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Writes `report.html`, `junit.xml` and the plots (PNG and SVG) into `dir`.
pub fn write_all(dir: &Path, view: &RunView) -> Result<(), ReportError> {
    let periods = &view.faults;
    let plots = plot::render_all(&view.operations, periods, view.log)?;
    for p in &plots {
        write(&dir.join(format!("{}.png", p.name)), &p.png)?;
        write(&dir.join(format!("{}.svg", p.name)), p.svg.as_bytes())?;
    }
    write(&dir.join("junit.xml"), junit::render(view).as_bytes())?;
    write(
        &dir.join("report.html"),
        html::render(view, periods, &plots).as_bytes(),
    )?;
    Ok(())
}

/// Escapes text for HTML and XML content and attributes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A verdict's CSS class in the report.
pub(crate) fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Valid => "valid",
        Verdict::Invalid => "invalid",
        Verdict::Unknown => "unknown",
    }
}

/// An outcome's column in counts: ok, fail, info.
pub(crate) fn outcome_column(o: Outcome) -> usize {
    match o {
        Outcome::Ok => 0,
        Outcome::Fail => 1,
        Outcome::Info => 2,
    }
}
