//! `faultline analyze` (and `report`): judge a stored run again and
//! rewrite its results and reports.

use std::path::PathBuf;

use anyhow::Result;
use workloads::Workload;

use crate::cli::AnalyzeArgs;
use crate::error::UsageError;
use crate::run::{store, verdicts};

pub fn run(args: AnalyzeArgs) -> Result<u8> {
    let dir: PathBuf = match args.run {
        Some(d) => d,
        None => store::latest(&args.store)?,
    };
    // Every way the folder can fail to be a run is bad input (254).
    let path = dir.join(store::TEST);
    let text = std::fs::read(&path).map_err(|e| {
        UsageError(format!(
            "{}: not a run folder ({}: {e})",
            dir.display(),
            path.display()
        ))
    })?;
    let test: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| UsageError(format!("{}:{}:{}: {e}", path.display(), e.line(), e.column())))?;
    if let Some(why) = store::not_started(&test) {
        return Err(UsageError(format!(
            "{}: no run to analyze: its cluster never served ({why})",
            dir.display()
        ))
        .into());
    }
    let Some(workload) = test["config"]["workload"].as_str() else {
        return Err(UsageError(format!("{}: no config.workload", path.display())).into());
    };
    let workload: Workload = workload.parse().map_err(UsageError)?;
    let judged = verdicts::judge(&dir, workload)?;
    super::print_finding(judged.verdict, &judged.sentence, judged.note.as_deref(), &dir);
    Ok(judged.verdict.exit_code() as u8)
}
