//! Judging a run folder: read `history.jsonl` back from disk, run the
//! workload's checker, write `results.json`, and say the finding in one
//! sentence. `faultline test` and `faultline analyze` both end here.

use std::path::Path;

use anyhow::{Context, Result};
use checkers::linearizable::{self, Options};
use checkers::{import, set, Verdict};
use workloads::workload::Judge;
use workloads::Workload;

use crate::check::default_memory;
use crate::store;

/// A run's verdict and its finding in words.
pub struct Judged {
    /// Composed verdict.
    pub verdict: Verdict,
    /// The anomaly (or the all-clear) in one sentence.
    pub sentence: String,
}

/// Checks the history in `dir` as `workload` says and writes results.json.
pub fn judge(dir: &Path, workload: Workload) -> Result<Judged> {
    let path = dir.join(store::HISTORY);
    let (history, _) = import::read_file(&path, Some(import::Format::Jsonl))?;
    let (verdict, sentence, details, checker) = match workload.judge() {
        Judge::Linearizable(model) => {
            let opts = Options {
                memory_limit: default_memory(),
                time_limit: Some(std::time::Duration::from_secs(60)),
                ..Options::default()
            };
            let report = linearizable::check(&history, model, None, &opts)?;
            let bad: Vec<_> = report
                .partitions
                .iter()
                .filter(|p| p.verdict != Verdict::Valid)
                .collect();
            let sentence = match bad.iter().find(|p| p.verdict == Verdict::Invalid).or(bad.first()) {
                None => format!(
                    "all {} keys are linearizable ({} operations, {} model)",
                    report.partitions.len(),
                    report.ops,
                    model
                ),
                Some(p) => {
                    let key = p.key.as_ref().map(|k| format!("key {k}: ")).unwrap_or_default();
                    let what = match (&p.counterexample, &p.reason) {
                        (Some(c), _) => c.sentence.clone(),
                        (None, Some(r)) => format!("undecided: {r}"),
                        (None, None) => p.verdict.to_string(),
                    };
                    let others = if bad.len() > 1 {
                        format!(
                            " ({} of {} keys are not valid)",
                            bad.len(),
                            report.partitions.len()
                        )
                    } else {
                        String::new()
                    };
                    format!("{key}{what}{others}")
                }
            };
            (
                report.verdict,
                sentence,
                serde_json::to_value(&report)?,
                "linearizable",
            )
        }
        Judge::Set => {
            let report = set::check(&history)?;
            (
                report.verdict,
                report.sentence.clone(),
                serde_json::to_value(&report)?,
                "set",
            )
        }
    };
    let results = serde_json::json!({
        "verdict": verdict,
        "sentence": sentence,
        "checkers": { checker: details },
    });
    let out = dir.join(store::RESULTS);
    std::fs::write(&out, serde_json::to_vec_pretty(&results)?)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(Judged { verdict, sentence })
}
