//! `faultline check FILE...`: import each history, check it, print one
//! line per file (and per invalid or unknown key) and a summary, or the
//! whole result as JSON. A file that cannot be read counts as unknown in
//! the composed verdict; the exit code is 1 if any file is invalid, else
//! 254 if any could not be read, else the verdict's (`--help` says so).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use checkers::import::{self, Format};
use checkers::linearizable::{self, Linearize, Options, Report};
use checkers::log::{self, LogReport};
use checkers::txn::{self, TxnReport, Txns, Workload};
use checkers::watch::{self, WatchReport};
use checkers::{History, ModelKind, Value, Verdict};
use serde::Serialize;

use crate::cli::CheckArgs;
use crate::error::UsageError;
use crate::error::BAD_INPUT;

#[derive(Serialize)]
struct FileResult<'a> {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    report: Option<Checked>,
}

/// What a file is checked for.
#[derive(Clone, Copy)]
enum Checker {
    Linearizable(ModelKind),
    Txn(Workload),
    Log,
    Watch,
}

/// A file's result, by checker.
#[derive(Serialize)]
#[serde(untagged)]
enum Checked {
    Linearizable(Report),
    Txn(TxnReport),
    Log(LogReport),
    Watch(WatchReport),
}

impl Checked {
    fn verdict(&self) -> Verdict {
        match self {
            Checked::Linearizable(r) => r.verdict,
            Checked::Txn(r) => r.verdict,
            Checked::Log(r) => r.verdict,
            Checked::Watch(r) => r.verdict,
        }
    }
}

/// Validated `check` settings.
struct Settings {
    checker: Option<Checker>,
    txn: txn::Options,
    format: Option<Format>,
    init: Option<Value>,
    options: Options,
    log: log::Options,
}

fn settings(args: &CheckArgs) -> Result<Settings, UsageError> {
    let checker = match args.model.as_deref() {
        None => None,
        Some("log") => Some(Checker::Log),
        Some("watch") => Some(Checker::Watch),
        Some(m) => Some(match m.parse::<Workload>() {
            Ok(w) => Checker::Txn(w),
            Err(_) => Checker::Linearizable(m.parse::<ModelKind>().map_err(|e| {
                UsageError(format!(
                    "{e}; or, for transactions, list-append or rw-register; or, for send/poll logs, log; or, for watches, watch"
                ))
            })?),
        }),
    };
    let model = match checker {
        Some(Checker::Linearizable(m)) => Some(m),
        _ => None,
    };
    let models = args
        .consistency_models
        .iter()
        .map(|m| m.parse::<txn::Model>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| UsageError(format!("--consistency-models: {e}")))?;
    if let (Some(m), false) = (model, models.is_empty()) {
        return Err(UsageError(format!(
            "--consistency-models applies to transactional histories (list-append, rw-register), not the {m} model"
        )));
    }
    let format = args
        .format
        .as_deref()
        .map(str::parse::<Format>)
        .transpose()
        .map_err(UsageError)?;
    let init = args.init.as_deref().map(parse_init);
    if init.is_some() {
        if let Some(m) = model.filter(|m| !m.takes_init()) {
            return Err(UsageError(format!(
                "--init: the {m} model has a fixed initial state; --init applies to register, cas-register, etcd and kv"
            )));
        }
    }
    for (flag, v) in [
        ("time-limit", args.time_limit),
        ("total-time-limit", args.total_time_limit),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Err(UsageError(format!(
                "--{flag} {v}: expected a positive number of seconds"
            )));
        }
    }
    let memory_limit = match &args.max_memory {
        Some(s) => parse_size(s).ok_or_else(|| {
            UsageError(format!(
                "--max-memory {s:?}: expected a size such as 512M, 4G or 1073741824"
            ))
        })?,
        None => crate::run::verdicts::default_memory(),
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 0 {
        return Err(UsageError("--threads 0: expected at least 1".into()));
    }
    Ok(Settings {
        checker,
        txn: txn::Options {
            models: if models.is_empty() {
                txn::Options::default().models
            } else {
                models
            },
            threads,
            ..txn::Options::default()
        },
        format,
        init,
        options: Options {
            time_limit: Some(Duration::from_secs_f64(args.time_limit)),
            total_deadline: Some(Instant::now() + Duration::from_secs_f64(args.total_time_limit)),
            memory_limit,
            threads,
            fail_fast: args.fail_fast,
            nil_reads_empty: args.nil_reads_empty,
            linearizations: (args.linearizations
                || args.report.is_some()
                || !args.linearization_keys.is_empty())
            .then(|| linearize(&args.linearization_keys)),
        },
        log: log::Options {
            allow_duplicates: args.allow_duplicates,
            rebalancing: args.rebalancing,
        },
    })
}

/// The keys `--linearization-key` names: a number may be an integer key
/// or a string one (kv logs' keys are strings of digits).
fn linearize(keys: &[String]) -> Linearize {
    let mut values = Vec::new();
    for k in keys {
        let v = parse_init(k);
        if matches!(v, Value::Int(_)) {
            values.push(Value::Str(k.trim().into()));
        }
        values.push(v);
    }
    Linearize { keys: values }
}

/// `0`, `-3`, `nil`, `"text"` or bare text.
fn parse_init(s: &str) -> Value {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Value::Int(i);
    }
    match t {
        "nil" | "null" => Value::Nil,
        _ => Value::Str(t.trim_matches('"').into()),
    }
}

/// `512M`, `4G`, `4GiB`, `1073741824`.
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_uppercase();
    let t = t.trim_end_matches("IB").trim_end_matches('B');
    let (num, mul) = match t.chars().last()? {
        'K' => (&t[..t.len() - 1], 1u64 << 10),
        'M' => (&t[..t.len() - 1], 1 << 20),
        'G' => (&t[..t.len() - 1], 1 << 30),
        'T' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.trim().parse().ok()?;
    (n.is_finite() && n > 0.0).then_some((n * mul as f64) as u64)
}

/// Imports and checks one file with the given settings; also says how
/// long the check took.
fn check_file(
    path: &Path,
    s: &Settings,
    report: bool,
) -> Result<(History, Checked, Format, f64), checkers::InputError> {
    // Transactions are read straight into their compact form, unless a
    // report wants the values for its timeline.
    let workload = match s.checker {
        Some(Checker::Txn(w)) => Some(w),
        Some(Checker::Linearizable(_) | Checker::Log | Checker::Watch) => None,
        None => peek_workload(path, s.format),
    };
    if let (Some(w), false) = (workload, report) {
        let (history, txns, format) = Txns::read_file(path, s.format, w, s.options.threads)?;
        let report = txn::check_txns(&txns, w, &s.txn)?;
        let ms = report.elapsed_ms;
        return Ok((history, Checked::Txn(report), format, ms));
    }
    let (history, format) = import::read_file_with(path, s.format, s.options.threads, &mut ())?;
    let started = Instant::now();
    let checker = s.checker.unwrap_or_else(|| match Workload::guess(&history) {
        _ if watch::is_watch(&history) => Checker::Watch,
        Some(w) => Checker::Txn(w),
        None if log::is_log(&history) => Checker::Log,
        None => Checker::Linearizable(ModelKind::default_for(format, history.ops.iter().map(|o| &o.f))),
    });
    let checked = match checker {
        Checker::Linearizable(kind) => {
            // A history that says its reads of nil found the key empty
            // (faultline's own) is read so without the flag, as the run
            // that wrote it judged it.
            let options = Options {
                nil_reads_empty: s.options.nil_reads_empty || history.nil_reads_empty,
                ..s.options.clone()
            };
            Checked::Linearizable(linearizable::check(&history, kind, s.init.clone(), &options)?)
        }
        Checker::Txn(w) => Checked::Txn(txn::check(&history, w, &s.txn)?),
        Checker::Log => Checked::Log(log::check(&history, &s.log)?),
        Checker::Watch => Checked::Watch(watch::check(&history)?),
    };
    Ok((history, checked, format, started.elapsed().as_secs_f64() * 1e3))
}

/// Peak resident memory of this process so far, in bytes.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The transactional workload of a file, guessed from its first lines.
fn peek_workload(path: &Path, format: Option<Format>) -> Option<Workload> {
    use std::io::Read as _;
    let mut head = Vec::with_capacity(PEEK_BYTES);
    std::fs::File::open(path)
        .ok()?
        .take(PEEK_BYTES as u64)
        .read_to_end(&mut head)
        .ok()?;
    let whole = head.len() < PEEK_BYTES;
    if !whole {
        head.truncate(head.iter().rposition(|&b| b == b'\n')? + 1);
    }
    let text = String::from_utf8(head).ok()?;
    let (history, _) = import::parse(&text, "", format).ok()?;
    if whole {
        Workload::guess(&history)
    } else {
        Workload::guess_from_start(&history)
    }
}

/// How much of a file `peek_workload` reads.
const PEEK_BYTES: usize = 256 << 10;

/// Writes the report folder for one checked file.
fn write_report(dir: &Path, file: &str, history: &History, checked: &Checked) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let (checker, detail) = match checked {
        Checked::Linearizable(r) => (
            reports::CheckerView {
                name: "linearizable".into(),
                verdict: r.verdict,
                sentence: crate::run::verdicts::linearizable_sentence(r),
            },
            crate::run::verdicts::Detail::Linearizable(r),
        ),
        Checked::Txn(r) => (
            crate::run::verdicts::txn_view(r),
            crate::run::verdicts::Detail::Txn(r),
        ),
        Checked::Log(r) => (
            reports::CheckerView {
                name: "log".into(),
                verdict: r.verdict,
                sentence: r.sentence.clone(),
            },
            crate::run::verdicts::Detail::Plain,
        ),
        Checked::Watch(r) => (
            reports::CheckerView {
                name: "watch".into(),
                verdict: r.verdict,
                sentence: r.sentence.clone(),
            },
            crate::run::verdicts::Detail::Plain,
        ),
    };
    let details = serde_json::to_value(checked)?;
    crate::run::verdicts::write_reports(dir, file.to_string(), None, history, checker, details, detail)?;
    Ok(())
}

pub fn run(args: CheckArgs) -> Result<u8> {
    let s = settings(&args)?;
    let mut results = Vec::new();
    let (mut valid, mut invalid, mut unknown) = (0, 0, 0);
    for path in &args.files {
        let file = path.display().to_string();
        match check_file(path, &s, args.report.is_some()) {
            Ok((history, report, format, ms)) => {
                if let Some(dir) = &args.report {
                    let dir = if args.files.len() == 1 {
                        dir.clone()
                    } else {
                        dir.join(path.file_name().unwrap_or(path.as_os_str()))
                    };
                    write_report(&dir, &file, &history, &report)?;
                    if !args.json {
                        println!("  report: {}", dir.join("report.html").display());
                    }
                }
                match report.verdict() {
                    Verdict::Valid => valid += 1,
                    Verdict::Invalid => invalid += 1,
                    Verdict::Unknown => unknown += 1,
                }
                if !args.json {
                    match &report {
                        Checked::Linearizable(r) => print_report(&file, r),
                        Checked::Txn(r) => print_txn(&file, r, ms),
                        Checked::Log(r) => print_log(&file, r, ms),
                        Checked::Watch(r) => print_watch(&file, r, ms),
                    }
                }
                results.push(FileResult {
                    file,
                    format: Some(format.name()),
                    error: None,
                    report: Some(report),
                });
            }
            Err(e) => {
                // The error is said once, on stderr (file, line and
                // column); the file's own line only gives its verdict.
                eprintln!("error: {e}");
                if !args.json {
                    println!("{file}  unreadable");
                }
                results.push(FileResult {
                    file,
                    format: None,
                    error: Some(e.to_string()),
                    report: None,
                });
            }
        }
    }
    // An unreadable file is a file whose verdict nobody knows.
    let unreadable = results.len() - valid - invalid - unknown;
    let verdict = Verdict::compose(
        results
            .iter()
            .map(|r| r.report.as_ref().map_or(Verdict::Unknown, Checked::verdict)),
    );
    if args.json {
        let out = serde_json::json!({
            "verdict": verdict,
            "unreadable": unreadable,
            "files": results,
            "peak_rss": peak_rss(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        // Unreadable files are among the unknown, so the counts add up.
        let errors = if unreadable > 0 {
            format!(" ({unreadable} unreadable)")
        } else {
            String::new()
        };
        let unknown = unknown + unreadable;
        println!(
            "{verdict}: {} file{} checked: {valid} valid, {invalid} invalid, {unknown} unknown{errors}",
            results.len(),
            if results.len() == 1 { "" } else { "s" }
        );
    }
    Ok(if unreadable > 0 && verdict != Verdict::Invalid {
        BAD_INPUT
    } else {
        verdict.exit_code() as u8
    })
}

fn print_report(file: &str, r: &Report) {
    let keyed = r.partitions.iter().any(|p| p.key.is_some());
    let scope = if keyed {
        let bad = r
            .partitions
            .iter()
            .filter(|p| p.verdict != Verdict::Valid)
            .count();
        let n = r.partitions.len();
        let keys = if n == 1 {
            "1 key".to_string()
        } else {
            format!("{n} keys")
        };
        if bad > 0 {
            format!("{keys} ({bad} not valid), ")
        } else {
            format!("{keys}, ")
        }
    } else {
        String::new()
    };
    println!(
        "{file}  {}  {} model, {scope}{} ops, {:.1} ms",
        r.verdict, r.model, r.ops, r.elapsed_ms
    );
    for note in &r.notes {
        println!("  note: {note}");
    }
    for p in r.partitions.iter().filter(|p| p.verdict != Verdict::Valid) {
        let key = p.key.as_ref().map(|k| format!("key {k}: ")).unwrap_or_default();
        match (&p.counterexample, &p.reason) {
            (Some(c), _) => println!("  {key}{}", c.sentence),
            (None, Some(reason)) => println!("  {key}unknown: {reason}"),
            (None, None) => println!("  {key}{}", p.verdict),
        }
    }
}

fn print_txn(file: &str, r: &TxnReport, ms: f64) {
    let total = r.committed + r.indeterminate + r.aborted;
    println!(
        "{file}  {}  {}, {total} transaction{} ({} committed, {} indeterminate, {} aborted), {ms:.1} ms",
        r.verdict,
        r.workload,
        if total == 1 { "" } else { "s" },
        r.committed,
        r.indeterminate,
        r.aborted
    );
    println!("  {}", r.sentence);
    if let Some(e) = r.examples.first().filter(|_| r.verdict != Verdict::Valid) {
        for line in &e.explanation {
            println!("    {line}");
        }
        for t in &e.txns {
            println!(
                "    {}: process {}, {}, line {}: {}",
                t.id, t.process, t.outcome, t.line, t.mops
            );
        }
    }
    for note in &r.notes {
        println!("  note: {note}");
    }
}

fn print_log(file: &str, r: &LogReport, ms: f64) {
    println!(
        "{file}  {}  log, {} log{}, {} sends ({} acknowledged, {} indeterminate, {} failed), {} polls ({} final), {ms:.1} ms",
        r.verdict,
        r.logs,
        if r.logs == 1 { "" } else { "s" },
        r.sends.acknowledged + r.sends.indeterminate + r.sends.failed,
        r.sends.acknowledged,
        r.sends.indeterminate,
        r.sends.failed,
        r.polls,
        r.final_reads
    );
    println!("  {}", r.sentence);
    for a in &r.anomalies {
        let level = if a.forbidden { "" } else { " (allowed)" };
        for f in a.findings.iter().take(3) {
            println!("    {}{level}: {}", a.kind.name(), f.sentence);
        }
        if a.count > 3 {
            println!("    … and {} more {}", a.count - 3, a.kind.name());
        }
    }
}

fn print_watch(file: &str, r: &WatchReport, ms: f64) {
    println!(
        "{file}  {}  watch, {} writes ({} acknowledged, {} indeterminate), {} watch ops, {} events, {} reconnects, {ms:.1} ms",
        r.verdict,
        r.acknowledged + r.indeterminate,
        r.acknowledged,
        r.indeterminate,
        r.watches,
        r.events,
        r.reconnects
    );
    println!("  {}", r.sentence);
    for a in &r.anomalies {
        for f in a.findings.iter().take(3) {
            println!("    {}: {}", a.kind.name(), f.sentence);
        }
        if a.count > 3 {
            println!("    … and {} more {}", a.count - 3, a.kind.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("4GiB"), Some(4 << 30));
        assert_eq!(parse_size("1.5g"), Some(3 << 29));
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("-1G"), None);
    }

    #[test]
    fn init_values() {
        assert_eq!(parse_init("0"), Value::Int(0));
        assert_eq!(parse_init("nil"), Value::Nil);
        assert_eq!(parse_init("\"x\""), Value::from("x"));
    }
}
