//! `faultline analyze` (and `report`): judge a stored run again and
//! rewrite its results and reports.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use workloads::Workload;

use crate::cli::AnalyzeArgs;
use crate::error::UsageError;
use crate::run::{store, verdicts};

pub fn run(args: AnalyzeArgs) -> Result<u8> {
    let dir: PathBuf = match args.run {
        Some(d) => d,
        None => store::latest(&args.store)?,
    };
    let test: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join(store::TEST))
            .with_context(|| format!("reading {}", dir.join(store::TEST).display()))?,
    )?;
    let Some(workload) = test["config"]["workload"].as_str() else {
        bail!("{}: no config.workload", dir.join(store::TEST).display());
    };
    let workload: Workload = workload.parse().map_err(UsageError)?;
    let judged = verdicts::judge(&dir, workload)?;
    println!("{}: {}", judged.verdict, judged.sentence);
    println!("run folder: {}", dir.display());
    Ok(judged.verdict.exit_code() as u8)
}
