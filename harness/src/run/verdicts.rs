//! Judging a history and writing what a person reads: run the checker,
//! compose the verdict, say the finding in one sentence, and write
//! `results.json` (with the fault periods: `"faults": [{"kind", "nodes",
//! "start", "end", "what"}]`, times in ns since the test began),
//! `report.html`, `junit.xml` and the plots. `faultline
//! test`, `analyze`, `report` and `check --report` all end here.

use std::path::Path;

use anyhow::{Context, Result};
use checkers::linearizable::{self, Linearize, Options, Report};
use checkers::txn::{self, TxnReport};
use checkers::{import, log, set, watch, Function, History, ModelKind, OpType, Verdict};
use reports::{CheckerView, RunView};
use workloads::workload::Judge;
use workloads::Workload;

use crate::run::{store, system_metrics};

/// A run's verdict and its finding in words.
pub struct Judged {
    /// Composed verdict.
    pub verdict: Verdict,
    /// The anomaly (or the all-clear) in one sentence.
    pub sentence: String,
    /// What a person may misread in the history, in one line: failed
    /// cas operations in a cas-register run.
    pub note: Option<String>,
}

/// The one-sentence finding of a linearizability report.
pub fn linearizable_sentence(report: &Report) -> String {
    let bad: Vec<_> = report
        .partitions
        .iter()
        .filter(|p| p.verdict != Verdict::Valid)
        .collect();
    let Some(p) = bad.iter().find(|p| p.verdict == Verdict::Invalid).or(bad.first()) else {
        let keys = report.partitions.len();
        return if report.partitions.iter().any(|p| p.key.is_some()) {
            format!(
                "{} linearizable ({} operations, {} model)",
                if keys == 1 {
                    "the 1 key is".to_string()
                } else {
                    format!("all {keys} keys are")
                },
                report.ops,
                report.model
            )
        } else {
            format!(
                "the history is linearizable ({} operations, {} model)",
                report.ops, report.model
            )
        };
    };
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

/// A transactional report as a report's checker row.
pub fn txn_view(r: &TxnReport) -> CheckerView {
    CheckerView {
        name: r.workload.clone(),
        verdict: r.verdict,
        sentence: r.sentence.clone(),
    }
}

/// Options for checks made on behalf of a run: generous, sized to the machine.
fn options() -> Options {
    Options {
        memory_limit: default_memory(),
        // Our clients record nil only for a key that does not exist.
        nil_reads_empty: true,
        time_limit: Some(std::time::Duration::from_secs(60)),
        total_deadline: Some(std::time::Instant::now() + std::time::Duration::from_secs(600)),
        ..Options::default()
    }
}

/// The checker's own result, for the parts of a report only it fills.
#[derive(Clone, Copy)]
pub enum Detail<'a> {
    /// Per-key verdicts and counterexamples.
    Linearizable(&'a Report),
    /// Anomalies and their cycles.
    Txn(&'a TxnReport),
    /// Findings by kind, and what was lost or duplicated when.
    Log(&'a log::LogReport),
    /// Nothing beyond the sentence.
    Plain,
}

/// Writes results.json and every report file for a checked history.
pub fn write_reports(
    dir: &Path,
    title: String,
    test: Option<serde_json::Value>,
    history: &History,
    checker: CheckerView,
    details: serde_json::Value,
    detail: Detail<'_>,
) -> Result<Judged> {
    // Read once from the nemesis's ops: what results.json lists is what
    // the report shades.
    let faults = nemesis::periods(history);
    let mut results = serde_json::json!({
        "verdict": checker.verdict,
        "sentence": checker.sentence,
        "checkers": { checker.name.clone(): details },
        "faults": faults,
    });
    if test.as_ref().and_then(store::interrupted).is_some() {
        results["interrupted"] = true.into();
    }
    let out = dir.join(store::RESULTS);
    std::fs::write(&out, serde_json::to_vec_pretty(&results)?)
        .with_context(|| format!("writing {}", out.display()))?;
    // The system's own metrics, where the run sampled them: a report
    // without them beats no report.
    let metrics = system_metrics::view(dir).unwrap_or_else(|e| {
        tracing::warn!("the system's metrics are left out of the report: {e:#}");
        None
    });
    let view = RunView {
        title,
        verdict: checker.verdict,
        sentence: checker.sentence.clone(),
        test,
        history,
        operations: history.operations()?,
        faults,
        checkers: vec![checker.clone()],
        linearizable: match detail {
            Detail::Linearizable(r) => Some(r),
            _ => None,
        },
        transactions: match detail {
            Detail::Txn(r) => Some(r),
            _ => None,
        },
        metrics: metrics.as_ref(),
        log: match detail {
            Detail::Log(r) => Some(r),
            _ => None,
        },
    };
    reports::write_all(dir, &view)?;
    Ok(Judged {
        verdict: checker.verdict,
        sentence: checker.sentence,
        note: None,
    })
}

/// Checks the history in run folder `dir` as `workload` says and writes
/// the results and reports next to it.
pub fn judge(dir: &Path, workload: Workload) -> Result<Judged> {
    let path = dir.join(store::HISTORY);
    let (history, _) = import::read_file(&path, Some(import::Format::Jsonl))?;
    let test: Option<serde_json::Value> = std::fs::read(dir.join(store::TEST))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let title = test
        .as_ref()
        .and_then(|t| t["config"]["name"].as_str().map(String::from))
        .unwrap_or_else(|| dir.display().to_string());
    let short = test.as_ref().and_then(cut_short);
    let finish = |checker: CheckerView, details: serde_json::Value, detail: Detail<'_>| {
        let checker = match &short {
            Some(why) => mark_cut_short(checker, why),
            None => checker,
        };
        write_reports(
            dir,
            title.clone(),
            test.clone(),
            &history,
            checker,
            details,
            detail,
        )
    };
    let judged = match workload.judge() {
        Judge::Linearizable(model) => {
            // The report shows linearizations (lock histories are checked
            // filtered, so their op numbers would not match the report's).
            let opts = Options {
                linearizations: Some(Linearize::default()),
                ..options()
            };
            let report = linearizable::check(&history, model, None, &opts)?;
            let checker = CheckerView {
                name: "linearizable".into(),
                verdict: report.verdict,
                sentence: linearizable_sentence(&report),
            };
            finish(
                checker,
                serde_json::to_value(&report)?,
                Detail::Linearizable(&report),
            )
        }
        Judge::Txn(w) => {
            // The models the run was asked to hold to, from test.json.
            let models = test
                .as_ref()
                .and_then(|t| t["config"]["consistency_models"].as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|m| m.as_str()?.parse().ok())
                        .collect::<Vec<_>>()
                })
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| txn::Options::default().models);
            let opts = txn::Options {
                models,
                ..txn::Options::default()
            };
            let report = txn::check(&history, w, &opts)?;
            finish(
                txn_view(&report),
                serde_json::to_value(&report)?,
                Detail::Txn(&report),
            )
        }
        Judge::Lock => {
            let (report, guards) = check_locks(&history)?;
            let mut checker = CheckerView {
                name: "lock".into(),
                verdict: report.verdict,
                sentence: linearizable_sentence(&report),
            };
            if let Some(g) = &guards {
                checker.verdict = Verdict::compose([checker.verdict, g.verdict]);
                checker.sentence = format!("{}; guarded writes: {}", checker.sentence, g.sentence);
            }
            let details = serde_json::json!({ "mutex": report, "guarded_writes": guards });
            finish(checker, details, Detail::Linearizable(&report))
        }
        Judge::Set => {
            let report = set::check(&history)?;
            let checker = CheckerView {
                name: "set".into(),
                verdict: report.verdict,
                sentence: report.sentence.clone(),
            };
            finish(checker, serde_json::to_value(&report)?, Detail::Plain)
        }
        Judge::Log => {
            let report = log::check(&history, &log::Options::default())?;
            let checker = CheckerView {
                name: "log".into(),
                verdict: report.verdict,
                sentence: report.sentence.clone(),
            };
            finish(checker, serde_json::to_value(&report)?, Detail::Log(&report))
        }
        Judge::Watch => {
            let report = watch::check(&history)?;
            // Delivery rate over the main phase, when the run recorded it.
            let main_s = test
                .as_ref()
                .and_then(|t| t[store::ENDED]["main_phase_s"].as_f64());
            let rate = main_s.filter(|s| *s > 0.0).map(|s| report.events as f64 / s);
            let checker = CheckerView {
                name: "watch".into(),
                verdict: report.verdict,
                sentence: match rate {
                    Some(r) => format!("{} ({r:.0} events/s delivered to watchers)", report.sentence),
                    None => report.sentence.clone(),
                },
            };
            let mut details = serde_json::to_value(&report)?;
            details["events_per_second"] = rate.into();
            finish(checker, details, Detail::Plain)
        }
    }?;
    Ok(Judged {
        note: (workload == Workload::CasRegister)
            .then(|| failed_cas(&history))
            .flatten(),
        ..judged
    })
}

/// Failed cas operations explained: in a correct cluster many cas fail,
/// and that is no fault.
fn failed_cas(history: &History) -> Option<String> {
    let done = || {
        history
            .ops
            .iter()
            .filter(|o| o.f == Function::Cas && o.kind != OpType::Invoke)
    };
    let failed = done().filter(|o| o.kind == OpType::Fail).count();
    (failed > 0).then(|| {
        format!(
            "{failed} of {} cas failed: a cas whose compare did not match is a fail (it wrote nothing), so many \
             fail even in a correct cluster",
            done().count()
        )
    })
}

/// A lock history's two checks: its `acquire` and `release` ops against
/// the mutex model, and its guarded writes (`add`, and the final `read`
/// of what they wrote; `fetch` is only their holders' read) with the set
/// check, if it has any.
pub fn check_locks(history: &History) -> Result<(Report, Option<set::SetReport>)> {
    let locks = History {
        ops: history
            .ops
            .iter()
            .filter(|o| !matches!(o.f, Function::Fetch | Function::Add | Function::Read))
            .cloned()
            .collect(),
        timed: history.timed,
        source: history.source.clone(),
        nil_reads_empty: history.nil_reads_empty,
    };
    let report = linearizable::check(&locks, ModelKind::Mutex, None, &options())?;
    let guarded = history.ops.iter().any(|o| o.f == Function::Add);
    let guards = guarded.then(|| set::check(history)).transpose()?;
    Ok((report, guards))
}

/// Why a run did not run its course, if it did not (from its
/// `test.json`): it records its end there, and whether a signal cut its
/// main phase short; a run without that record died (SIGKILL, a crash)
/// before its final reads.
fn cut_short(test: &serde_json::Value) -> Option<String> {
    let Some(ended) = test.get(store::ENDED) else {
        return Some(
            "incomplete run: faultline stopped before the run ended (killed or crashed), so faults may have \
             stayed in force and no final reads were made"
                .into(),
        );
    };
    let limit = &test["config"]["time_limit"];
    let limit = limit["secs"].as_f64().unwrap_or(0.0) + limit["nanos"].as_f64().unwrap_or(0.0) / 1e9;
    store::interrupted(test).map(|by| {
        format!(
            "interrupted ({by}) {:.1} s into its main phase of {limit} s, so it did not run its course",
            ended["main_phase_s"].as_f64().unwrap_or(0.0),
        )
    })
}

/// The finding of a run cut short: an anomaly in what was recorded is
/// still one, but no pass is claimed for a run that did not finish.
fn mark_cut_short(mut c: CheckerView, why: &str) -> CheckerView {
    if c.verdict == Verdict::Valid {
        c.verdict = Verdict::Unknown;
    }
    c.sentence = format!("{why}; in what was recorded: {}", c.sentence);
    c
}

/// Half of the machine's memory: the search shares the machine with the
/// cluster under test and the browser reading the report.
pub fn default_memory() -> u64 {
    let total_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    });
    total_kib.map_or(4 << 30, |k| k * 1024 / 2)
}
