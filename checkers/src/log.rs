//! The log checker (Jepsen's queue and Kafka checkers): producers `send`
//! unique values to logs, consumers `poll` them back with their offsets,
//! and a final phase reads every log from the start. It judges what the
//! logs kept and what consumers saw; it is not a linearizability or
//! transactional check.
//!
//! History shape (JSON Lines; `key` names the log and may be left out
//! when there is one; values are unique per log):
//! - `send`: invoke `"value": 17`; `ok` carries the acknowledged offset as
//!   `[offset value]` (`[4 17]`) or a bare offset; `info` and `fail`
//!   completions carry nothing the checker reads.
//! - `poll`: invoke `"value": 0` to read from offset 0 (a seek), or `null`
//!   to read on from where this process's previous poll of the log left
//!   off; `ok` carries what it got, `[[offset value] ...]` (`[]` for
//!   nothing).
//!
//! Final reads are the `ok` polls invoked after every send had completed;
//! one covers the offsets from where it asked to start (or its first
//! offset) to its last. Anomalies, each counted as its sentence says:
//! - **lost** (a send that took effect: acknowledged, or indeterminate
//!   but read, as Jepsen counts it): its value is in no final read,
//!   though one covers its offset (an indeterminate send's: an offset
//!   where it was read);
//! - **unseen** (a send that took effect): its value is in no final read
//!   and its offsets lie past the end of every final read of its log (the
//!   log was cut short, or the final phase stopped early);
//! - **wrong offset** (acknowledged send): the final reads hold its value,
//!   but not at the acknowledged offset;
//! - **unexpected** (value): read, but never sent by an `ok` or `info`
//!   send (a value whose only send failed counts here);
//! - **inconsistent offset** (offset): reads disagree on its value;
//! - **duplicate** (value): read at more than one offset;
//! - **nonmonotonic** (poll): a poll reading on goes back to, or before,
//!   an offset its process had already read, or a poll's offsets go back;
//! - **skip** (poll): a poll reading on starts past offsets that reads
//!   show hold values, so its process never saw them.
//!
//! Every anomaly makes the history invalid, except that
//! [`Options::allow_duplicates`] makes duplicates a warning (at-least-once
//! delivery duplicates by design), and [`Options::rebalancing`] does the
//! same for nonmonotonic and skipping polls (consumers in a group whose
//! partitions the system reassigns resume where another left off).
//! Indeterminate sends may or may not appear. A log with acknowledged
//! sends and no final read leaves the verdict unknown.

use std::collections::{BTreeMap, BTreeSet};

use hashbrown::HashMap;
use serde::Serialize;

use crate::error::InputError;
use crate::function::Function;
use crate::history::{History, Operation, Outcome, Process};
use crate::value::Value;
use crate::verdict::Verdict;

/// What the log checker tolerates.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Duplicates are warnings, not errors (at-least-once delivery).
    pub allow_duplicates: bool,
    /// Nonmonotonic and skipping polls are warnings, not errors:
    /// consumers share a group whose assignments the system rebalances.
    pub rebalancing: bool,
}

/// A kind of anomaly; the module doc defines each and what it counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A send that took effect, missing from final reads that cover its
    /// offset.
    Lost,
    /// A send that took effect, past the end of every final read.
    Unseen,
    /// An acknowledged send the final reads hold at another offset.
    WrongOffset,
    /// A value read but never sent.
    Unexpected,
    /// An offset that reads disagree on.
    InconsistentOffset,
    /// A value read at several offsets.
    Duplicate,
    /// A poll that went back.
    Nonmonotonic,
    /// A poll that jumped over values.
    Skip,
}

impl Kind {
    /// Every kind, in the order reports list them.
    pub const ALL: [Kind; 8] = [
        Kind::Lost,
        Kind::Unseen,
        Kind::WrongOffset,
        Kind::Unexpected,
        Kind::InconsistentOffset,
        Kind::Duplicate,
        Kind::Nonmonotonic,
        Kind::Skip,
    ];

    /// Its name in reports and `results.json`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Lost => "lost",
            Kind::Unseen => "unseen",
            Kind::WrongOffset => "wrong-offset",
            Kind::Unexpected => "unexpected",
            Kind::InconsistentOffset => "inconsistent-offset",
            Kind::Duplicate => "duplicate",
            Kind::Nonmonotonic => "nonmonotonic",
            Kind::Skip => "skip",
        }
    }

    /// Whether it makes a history invalid under `options`.
    pub fn forbidden(self, options: &Options) -> bool {
        match self {
            Kind::Duplicate => !options.allow_duplicates,
            Kind::Nonmonotonic | Kind::Skip => !options.rebalancing,
            _ => true,
        }
    }
}

/// One anomaly, in a sentence and as data.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// What happened, with offsets, values and lines.
    pub sentence: String,
    /// The log, when the history names logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// The offsets concerned.
    pub offsets: Vec<u64>,
    /// The values concerned.
    pub values: Vec<Value>,
    /// The consumer, for nonmonotonic and skipping polls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    /// History lines to look at.
    pub lines: Vec<usize>,
}

/// The anomalies of one kind.
#[derive(Clone, Debug, Serialize)]
pub struct Anomalies {
    /// Which.
    pub kind: Kind,
    /// How many (the module doc says of what).
    pub count: usize,
    /// Whether they make the history invalid; false: a warning.
    pub forbidden: bool,
    /// The first [`SHOWN`] of them.
    pub findings: Vec<Finding>,
    /// Every one's log and values, for plots (`results.json` keeps only
    /// `findings`).
    #[serde(skip)]
    pub values: Vec<(Option<Value>, Value)>,
}

/// Findings kept per kind; `count` has them all.
pub const SHOWN: usize = 32;

/// How the sends ended.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Sends {
    /// Acknowledged (`ok`).
    pub acknowledged: usize,
    /// Indeterminate (`info`).
    pub indeterminate: usize,
    /// Failed.
    pub failed: usize,
    /// Indeterminate sends some read saw.
    pub recovered: usize,
}

/// What the log checker found.
#[derive(Clone, Debug, Serialize)]
pub struct LogReport {
    /// Invalid when a forbidden anomaly exists; unknown when a log with
    /// acknowledged sends has no final read.
    pub verdict: Verdict,
    /// The finding in one sentence.
    pub sentence: String,
    /// Logs (keys) the history uses.
    pub logs: usize,
    /// The sends, by outcome.
    pub sends: Sends,
    /// Successful polls.
    pub polls: usize,
    /// Final reads among them.
    pub final_reads: usize,
    /// Anomalies by kind, only the kinds found.
    pub anomalies: Vec<Anomalies>,
}

impl LogReport {
    /// How many anomalies of `kind` were found.
    pub fn count(&self, kind: Kind) -> usize {
        self.anomalies
            .iter()
            .find(|a| a.kind == kind)
            .map_or(0, |a| a.count)
    }
}

/// Whether a history is one for this checker: it sends or polls.
pub fn is_log(history: &History) -> bool {
    history
        .ops
        .iter()
        .any(|o| matches!(o.f, Function::Send | Function::Poll))
}

/// A send as the checker keeps it.
struct Sent {
    outcome: Outcome,
    /// The acknowledged offset (`ok` sends only).
    offset: Option<u64>,
    line: usize,
}

/// One log: what was sent to it and read from it.
#[derive(Default)]
struct Log {
    sent: HashMap<Value, Sent>,
    /// Offset → each value read there, with the first line that read it.
    read: BTreeMap<u64, BTreeMap<Value, usize>>,
    /// Value → the offsets reads saw it at.
    read_at: HashMap<Value, BTreeSet<u64>>,
    /// Value → the offsets final reads saw it at.
    final_at: HashMap<Value, BTreeSet<u64>>,
    /// The offsets each final read covers, as (first, last).
    covered: Vec<(u64, u64)>,
    final_reads: usize,
}

/// A poll that read on from past where its process had left off; a skip
/// if reads show values in between.
struct Gap {
    key: Option<Value>,
    process: Process,
    /// The offset the process should have read next, and the line of the
    /// poll that left it there.
    next: u64,
    prev_line: usize,
    first: u64,
    line: usize,
}

/// `log "a": ` where the history names logs.
fn scope(key: &Option<Value>) -> String {
    key.as_ref().map(|k| format!("log {k}: ")).unwrap_or_default()
}

/// `4, 5 and 6`, at most ten shown.
fn listed<T: std::fmt::Display>(items: &[T]) -> String {
    const SHOWN: usize = 10;
    let mut s: Vec<String> = items.iter().take(SHOWN).map(|v| v.to_string()).collect();
    if items.len() > SHOWN {
        s.push(format!("{} more", items.len() - SHOWN));
    }
    match s.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => s.concat(),
    }
}

fn offset(v: &Value) -> Option<u64> {
    v.as_int().and_then(|i| u64::try_from(i).ok())
}

/// The offset an `ok` send acknowledged: `[offset value]` or a bare offset.
fn acknowledged(history: &History, op: &Operation) -> Result<u64, InputError> {
    let line = op.ret_line.unwrap_or(op.line);
    let expected = || {
        history.error(
            line,
            format!(
                "send ok {}: expected the acknowledged offset as [offset value] or a bare offset (an integer from 0)",
                op.output.short()
            ),
        )
    };
    match op.output.as_pair() {
        None => offset(&op.output).ok_or_else(expected),
        Some((_, v)) if *v != op.input => Err(history.error(
            line,
            format!(
                "send acknowledges {} but sent {} on line {}",
                v.short(),
                op.input.short(),
                op.line
            ),
        )),
        Some((o, _)) => offset(o).ok_or_else(expected),
    }
}

/// A poll's `[[offset value] ...]`.
fn pairs<'a>(history: &History, op: &'a Operation) -> Result<Vec<(u64, &'a Value)>, InputError> {
    let bad = || {
        history.error(
            op.ret_line.unwrap_or(op.line),
            format!(
                "poll ok {}: expected a list of [offset value] pairs, offsets integers from 0",
                op.output.short()
            ),
        )
    };
    op.output
        .as_list()
        .ok_or_else(bad)?
        .iter()
        .map(|p| match p.as_pair() {
            Some((o, v)) => offset(o).map(|o| (o, v)).ok_or_else(bad),
            None => Err(bad()),
        })
        .collect()
}

/// Collects findings by kind: how many, the first shown, and every
/// one's log and values.
#[derive(Default)]
struct Found(BTreeMap<Kind, (usize, Vec<Finding>, Vec<Named>)>);

/// A value with the log it was sent to.
type Named = (Option<Value>, Value);

impl Found {
    fn add(&mut self, kind: Kind, finding: impl FnOnce() -> Finding) {
        let (count, shown, values) = self.0.entry(kind).or_default();
        *count += 1;
        let f = finding();
        values.extend(f.values.iter().map(|v| (f.key.clone(), v.clone())));
        if shown.len() < SHOWN {
            shown.push(f);
        }
    }
}

/// Checks a history of `send` and `poll` operations on one or more logs.
pub fn check(history: &History, options: &Options) -> Result<LogReport, InputError> {
    let ops = history.operations()?;
    let last_send = ops
        .iter()
        .filter(|o| o.f == Function::Send)
        .map(|o| o.ret.unwrap_or(o.call))
        .max();
    let mut logs: BTreeMap<Option<Value>, Log> = BTreeMap::new();
    let mut found = Found::default();
    let mut sends = Sends::default();
    let mut polls = 0;
    // Where each consumer reads on from in each log, and the line that
    // left it there.
    let mut next: HashMap<(Process, Option<Value>), (u64, usize)> = HashMap::new();
    let mut gaps = Vec::new();
    for op in &ops {
        match op.f {
            Function::Send => {
                let log = logs.entry(op.key.clone()).or_default();
                if let Some(first) = log.sent.get(&op.input) {
                    return Err(history.error(
                        op.line,
                        format!(
                            "{}send of {} repeats the send on line {}; the log checker needs each value sent once per log",
                            scope(&op.key),
                            op.input.short(),
                            first.line
                        ),
                    ));
                }
                let offset = match op.outcome {
                    Outcome::Ok => {
                        sends.acknowledged += 1;
                        Some(acknowledged(history, op)?)
                    }
                    Outcome::Info => {
                        sends.indeterminate += 1;
                        None
                    }
                    Outcome::Fail => {
                        sends.failed += 1;
                        None
                    }
                };
                log.sent.insert(
                    op.input.clone(),
                    Sent {
                        outcome: op.outcome,
                        offset,
                        line: op.line,
                    },
                );
            }
            Function::Poll => {
                let from = match &op.input {
                    Value::Nil => None,
                    v => Some(offset(v).ok_or_else(|| {
                        history.error(
                            op.line,
                            format!(
                                "poll from {}: expected an offset (an integer from 0) or null to read on",
                                v.short()
                            ),
                        )
                    })?),
                };
                if op.outcome != Outcome::Ok {
                    continue;
                }
                polls += 1;
                let line = op.ret_line.unwrap_or(op.line);
                let got = pairs(history, op)?;
                let log = logs.entry(op.key.clone()).or_default();
                let last = last_send.is_none_or(|t| op.call > t);
                for &(o, v) in &got {
                    log.read.entry(o).or_default().entry(v.clone()).or_insert(line);
                    log.read_at.entry(v.clone()).or_default().insert(o);
                    if last {
                        log.final_at.entry(v.clone()).or_default().insert(o);
                    }
                }
                if last {
                    log.final_reads += 1;
                    if let (Some(first), Some(end)) = (got.first(), got.iter().map(|p| p.0).max()) {
                        log.covered.push((from.unwrap_or(first.0).min(first.0), end));
                    }
                }
                let consumer = (op.process, op.key.clone());
                let back = match (from, next.get(&consumer), got.first()) {
                    (None, Some(&(n, prev_line)), Some(&(first, _))) if first < n => Some((
                        format!(
                            "{}process {} read offset {first} on line {line} after reading up to offset {} (line {prev_line})",
                            scope(&op.key),
                            op.process,
                            n - 1
                        ),
                        vec![n - 1, first],
                        vec![prev_line, line],
                    )),
                    (None, Some(&(n, prev_line)), Some(&(first, _))) => {
                        if first > n {
                            gaps.push(Gap {
                                key: op.key.clone(),
                                process: op.process,
                                next: n,
                                prev_line,
                                first,
                                line,
                            });
                        }
                        None
                    }
                    _ => None,
                };
                let back = back.or_else(|| {
                    got.windows(2).find(|w| w[1].0 <= w[0].0).map(|w| {
                        (
                            format!(
                                "{}process {}'s poll on line {line} goes back from offset {} to {}",
                                scope(&op.key),
                                op.process,
                                w[0].0,
                                w[1].0
                            ),
                            vec![w[0].0, w[1].0],
                            vec![line],
                        )
                    })
                });
                if let Some((sentence, offsets, lines)) = back {
                    found.add(Kind::Nonmonotonic, || Finding {
                        sentence,
                        key: op.key.clone(),
                        offsets,
                        values: Vec::new(),
                        process: Some(op.process),
                        lines,
                    });
                }
                match (got.last(), from) {
                    (Some(&(o, _)), _) => {
                        next.insert(consumer, (o + 1, line));
                    }
                    (None, Some(f)) => {
                        next.insert(consumer, (f, line));
                    }
                    (None, None) => {}
                }
            }
            _ => {}
        }
    }
    for g in gaps {
        let log = &logs[&g.key];
        let skipped: Vec<(u64, &Value)> = log
            .read
            .range(g.next..g.first)
            .filter_map(|(o, vs)| vs.keys().next().map(|v| (*o, v)))
            .collect();
        if skipped.is_empty() {
            continue;
        }
        found.add(Kind::Skip, || {
            let offsets: Vec<u64> = skipped.iter().map(|s| s.0).collect();
            let values: Vec<Value> = skipped.iter().map(|s| s.1.clone()).collect();
            Finding {
                sentence: format!(
                    "{}process {}'s poll on line {} starts at offset {} after reading up to offset {} (line {}), \
                     skipping offset{} {} (value{} {})",
                    scope(&g.key),
                    g.process,
                    g.line,
                    g.first,
                    g.next.saturating_sub(1),
                    g.prev_line,
                    if offsets.len() == 1 { "" } else { "s" },
                    listed(&offsets),
                    if values.len() == 1 { "" } else { "s" },
                    listed(&values)
                ),
                key: g.key.clone(),
                offsets,
                values,
                process: Some(g.process),
                lines: vec![g.prev_line, g.line],
            }
        });
    }
    let mut unjudged = Vec::new();
    for (key, log) in &logs {
        judge_reads(key, log, &mut found, &mut sends);
        if log.final_reads == 0 {
            if log.sent.values().any(|s| s.outcome == Outcome::Ok) {
                unjudged.push(key);
            }
            continue;
        }
        judge_sends(key, log, &mut found);
    }
    let anomalies: Vec<Anomalies> = found
        .0
        .into_iter()
        .map(|(kind, (count, findings, values))| Anomalies {
            kind,
            count,
            forbidden: kind.forbidden(options),
            findings,
            values,
        })
        .collect();
    let final_reads = logs.values().map(|l| l.final_reads).sum();
    let (verdict, sentence) = verdict(&anomalies, &unjudged, &sends, polls);
    Ok(LogReport {
        verdict,
        sentence,
        logs: logs.len(),
        sends,
        polls,
        final_reads,
        anomalies,
    })
}

/// What reads say on their own: unexpected values, offsets they disagree
/// on, values at several offsets.
fn judge_reads(key: &Option<Value>, log: &Log, found: &mut Found, sends: &mut Sends) {
    let mut values: Vec<(&Value, &BTreeSet<u64>)> = log.read_at.iter().collect();
    values.sort();
    for (v, at) in values {
        let first = *at.first().expect("a value read is read somewhere");
        let line = log.read[&first][v];
        match log.sent.get(v) {
            Some(s) if s.outcome == Outcome::Info => sends.recovered += 1,
            Some(s) if s.outcome == Outcome::Ok => {}
            failed => found.add(Kind::Unexpected, || Finding {
                sentence: format!(
                    "{}{} was read at offset {first} (line {line}) but {}",
                    scope(key),
                    v.short(),
                    match failed {
                        Some(s) => format!("its only send failed (line {})", s.line),
                        None => "never sent".into(),
                    }
                ),
                key: key.clone(),
                offsets: at.iter().copied().collect(),
                values: vec![v.clone()],
                process: None,
                lines: vec![line],
            }),
        }
        if at.len() > 1 {
            found.add(Kind::Duplicate, || {
                let offsets: Vec<u64> = at.iter().copied().collect();
                Finding {
                    sentence: format!("{}{} is at offsets {}", scope(key), v.short(), listed(&offsets)),
                    key: key.clone(),
                    lines: offsets.iter().map(|o| log.read[o][v]).collect(),
                    offsets,
                    values: vec![v.clone()],
                    process: None,
                }
            });
        }
    }
    for (o, vs) in log.read.iter().filter(|(_, vs)| vs.len() > 1) {
        found.add(Kind::InconsistentOffset, || Finding {
            sentence: format!(
                "{}reads disagree on offset {o}: {}",
                scope(key),
                listed(
                    &vs.iter()
                        .map(|(v, line)| format!("{} (line {line})", v.short()))
                        .collect::<Vec<_>>()
                )
            ),
            key: key.clone(),
            offsets: vec![*o],
            values: vs.keys().cloned().collect(),
            process: None,
            lines: vs.values().copied().collect(),
        });
    }
}

/// Each send that took effect against the final reads of its log.
fn judge_sends(key: &Option<Value>, log: &Log, found: &mut Found) {
    let reach = log.covered.iter().map(|c| c.1).max();
    let reach = reach.map_or("none reads anything".to_string(), |r| {
        format!("the furthest reaches offset {r}")
    });
    // Sends that took effect: acknowledged at an offset, or indeterminate
    // but read (there, and perhaps elsewhere), with the line of that read.
    let mut effects: Vec<(u64, &Value, usize, Option<usize>)> = log
        .sent
        .iter()
        .filter_map(|(v, s)| match (s.offset, s.outcome, log.read_at.get(v)) {
            (Some(o), _, _) => Some((o, v, s.line, None)),
            (None, Outcome::Info, Some(at)) => {
                let o = *at.first().expect("a value read is read somewhere");
                Some((o, v, s.line, Some(log.read[&o][v])))
            }
            _ => None,
        })
        .collect();
    effects.sort();
    for (o, v, line, read) in effects {
        let finding = |why: String| Finding {
            sentence: match read {
                None => format!(
                    "{}{}, acknowledged at offset {o} (sent on line {line}), {why}",
                    scope(key),
                    v.short()
                ),
                Some(r) => format!(
                    "{}{}, indeterminate (sent on line {line}) but read at offset {o} (line {r}), {why}",
                    scope(key),
                    v.short()
                ),
            },
            key: key.clone(),
            offsets: vec![o],
            values: vec![v.clone()],
            process: None,
            lines: [line].into_iter().chain(read).collect(),
        };
        // Where the send should be: its acknowledged offset, or wherever
        // a read saw it.
        let due: Vec<u64> = match read {
            None => vec![o],
            Some(_) => log.read_at[v].iter().copied().collect(),
        };
        match log.final_at.get(v) {
            Some(at) if read.is_some() || at.contains(&o) => {}
            Some(at) => found.add(Kind::WrongOffset, || {
                let at: Vec<u64> = at.iter().copied().collect();
                finding(format!(
                    "is at offset{} {} in the final reads",
                    if at.len() == 1 { "" } else { "s" },
                    listed(&at)
                ))
            }),
            None if due
                .iter()
                .any(|o| log.covered.iter().any(|&(a, b)| a <= *o && *o <= b)) =>
            {
                found.add(Kind::Lost, || {
                    finding("is missing from the final reads that cover that offset".into())
                })
            }
            None => found.add(Kind::Unseen, || {
                finding(format!(
                    "lies past the end of every final read of its log ({reach})"
                ))
            }),
        }
    }
}

/// The verdict and its sentence.
fn verdict(
    anomalies: &[Anomalies],
    unjudged: &[&Option<Value>],
    sends: &Sends,
    polls: usize,
) -> (Verdict, String) {
    let tally = |forbidden: bool| {
        anomalies
            .iter()
            .filter(|a| a.forbidden == forbidden)
            .map(|a| format!("{} {}", a.count, a.kind.name()))
            .collect::<Vec<_>>()
    };
    let (errors, warnings) = (tally(true), tally(false));
    let warned = if warnings.is_empty() {
        String::new()
    } else {
        format!("; allowed: {}", warnings.join(", "))
    };
    if !errors.is_empty() {
        return (Verdict::Invalid, format!("{}{warned}", errors.join(", ")));
    }
    if !unjudged.is_empty() {
        let logs: Vec<String> = unjudged
            .iter()
            .map(|k| k.as_ref().map_or("the log".to_string(), |k| format!("log {k}")))
            .collect();
        return (
            Verdict::Unknown,
            format!(
                "no read of {} came after the last send, so nothing can be said about lost sends there{warned}",
                listed(&logs)
            ),
        );
    }
    (
        Verdict::Valid,
        format!(
            "all {} acknowledged sends are in the final reads at their offsets ({} of {} indeterminate sends \
             too), and {polls} polls agree on every offset{warned}",
            sends.acknowledged, sends.recovered, sends.indeterminate
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{self, Format};

    /// A history line: type, process, function, value (JSON).
    type Row<'a> = (&'a str, u64, &'a str, &'a str);

    /// A JSONL history on log "a" from `(type, process, f, value)` rows.
    fn history(rows: &[Row]) -> History {
        let text: String = rows
            .iter()
            .map(|(t, p, f, v)| {
                format!("{{\"type\":\"{t}\",\"process\":{p},\"f\":\"{f}\",\"key\":\"a\",\"value\":{v}}}\n")
            })
            .collect();
        import::parse(&text, "log.jsonl", Some(Format::Jsonl)).unwrap().0
    }

    /// Sends 1 (acknowledged at 0) and 2 (acknowledged at 1), which a
    /// consumer (process 3) reads, then 3 (info, took effect at 2) and 4
    /// (info, never took effect): ten lines, no final read yet.
    const RUN: &[Row] = &[
        ("invoke", 0, "send", "1"),
        ("ok", 0, "send", "[0, 1]"),
        ("invoke", 0, "send", "2"),
        ("ok", 0, "send", "1"),
        ("invoke", 3, "poll", "0"),
        ("ok", 3, "poll", "[[0, 1], [1, 2]]"),
        ("invoke", 1, "send", "3"),
        ("info", 1, "send", "3"),
        ("invoke", 2, "send", "4"),
        ("info", 2, "send", "null"),
    ];

    fn run(tail: &[Row], options: Options) -> LogReport {
        check(&history(&[RUN, tail].concat()), &options).unwrap()
    }

    fn counts(r: &LogReport) -> Vec<(Kind, usize)> {
        r.anomalies.iter().map(|a| (a.kind, a.count)).collect()
    }

    #[test]
    fn a_log_read_back_whole_is_valid_whatever_became_of_indeterminate_sends() {
        let r = run(
            &[
                ("invoke", 3, "poll", "null"),
                ("ok", 3, "poll", "[[2, 3]]"),
                ("invoke", 5, "poll", "0"),
                ("ok", 5, "poll", "[[0, 1], [1, 2], [2, 3]]"),
            ],
            Options::default(),
        );
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.sentence);
        assert_eq!(
            (r.sends.acknowledged, r.sends.indeterminate, r.sends.recovered),
            (2, 2, 1)
        );
        assert_eq!((r.polls, r.final_reads), (3, 2));
        assert!(
            r.sentence.starts_with("all 2 acknowledged sends"),
            "{}",
            r.sentence
        );
    }

    #[test]
    fn each_anomaly_is_found_and_said() {
        let cases: &[(&[Row], Kind, &str)] = &[
            (
                &[("invoke", 5, "poll", "0"), ("ok", 5, "poll", "[[1, 2], [2, 3]]")],
                Kind::Lost,
                "log \"a\": 1, acknowledged at offset 0 (sent on line 1), is missing from the final reads",
            ),
            (
                &[
                    ("invoke", 3, "poll", "null"),
                    ("ok", 3, "poll", "[[2, 3]]"),
                    ("invoke", 6, "send", "7"),
                    ("ok", 6, "send", "[3, 7]"),
                    ("invoke", 5, "poll", "0"),
                    ("ok", 5, "poll", "[[0, 1], [1, 2], [3, 7]]"),
                ],
                Kind::Lost,
                "3, indeterminate (sent on line 7) but read at offset 2 (line 12), is missing from the final reads",
            ),
            (
                &[("invoke", 5, "poll", "0"), ("ok", 5, "poll", "[[0, 1]]")],
                Kind::Unseen,
                "2, acknowledged at offset 1 (sent on line 3), lies past the end of every final read of its log (the furthest reaches offset 0)",
            ),
            (
                &[("invoke", 6, "send", "7"), ("ok", 6, "send", "[5, 7]"), ("invoke", 5, "poll", "0"), ("ok", 5, "poll", "[[0, 1], [1, 2], [2, 3], [3, 7]]")],
                Kind::WrongOffset,
                "7, acknowledged at offset 5 (sent on line 11), is at offset 3 in the final reads",
            ),
            (
                &[("invoke", 5, "poll", "0"), ("ok", 5, "poll", "[[0, 1], [1, 2], [2, 9]]")],
                Kind::Unexpected,
                "9 was read at offset 2 (line 12) but never sent",
            ),
            (
                &[("invoke", 6, "send", "8"), ("fail", 6, "send", "8"), ("invoke", 5, "poll", "0"), ("ok", 5, "poll", "[[0, 1], [1, 2], [2, 8]]")],
                Kind::Unexpected,
                "8 was read at offset 2 (line 14) but its only send failed (line 11)",
            ),
            (
                &[("invoke", 5, "poll", "0"), ("ok", 5, "poll", "[[0, 1], [1, 2], [2, 1]]")],
                Kind::Duplicate,
                "1 is at offsets 0 and 2",
            ),
            (
                &[("invoke", 4, "poll", "1"), ("ok", 4, "poll", "[[1, 4]]"), ("invoke", 5, "poll", "0"), ("ok", 5, "poll", "[[0, 1], [1, 2]]")],
                Kind::InconsistentOffset,
                "reads disagree on offset 1: 2 (line 6) and 4 (line 12)",
            ),
            (
                &[("invoke", 3, "poll", "null"), ("ok", 3, "poll", "[[1, 2], [2, 3]]"), ("invoke", 5, "poll", "0"), ("ok", 5, "poll", "[[0, 1], [1, 2], [2, 3]]")],
                Kind::Nonmonotonic,
                "process 3 read offset 1 on line 12 after reading up to offset 1 (line 6)",
            ),
            (
                &[("invoke", 5, "poll", "0"), ("ok", 5, "poll", "[[0, 1], [2, 3], [1, 2]]")],
                Kind::Nonmonotonic,
                "process 5's poll on line 12 goes back from offset 2 to 1",
            ),
            (
                &[("invoke", 3, "poll", "0"), ("ok", 3, "poll", "[[0, 1]]"), ("invoke", 3, "poll", "null"), ("ok", 3, "poll", "[[2, 3]]"), ("invoke", 5, "poll", "0"), ("ok", 5, "poll", "[[0, 1], [1, 2], [2, 3]]")],
                Kind::Skip,
                "process 3's poll on line 14 starts at offset 2 after reading up to offset 0 (line 12), skipping offset 1 (value 2)",
            ),
        ];
        for (tail, kind, sentence) in cases {
            let r = run(tail, Options::default());
            assert_eq!(counts(&r), vec![(*kind, 1)], "{kind:?}: {}", r.sentence);
            assert_eq!(r.verdict, Verdict::Invalid);
            let said = &r.anomalies[0].findings[0].sentence;
            assert!(said.contains(sentence), "{kind:?}: {said}");
        }
    }

    #[test]
    fn options_turn_duplicates_and_rebalanced_polls_into_warnings() {
        let dup = &[
            ("invoke", 5, "poll", "0"),
            ("ok", 5, "poll", "[[0, 1], [1, 2], [2, 1]]"),
        ];
        assert_eq!(run(dup, Options::default()).verdict, Verdict::Invalid);
        let r = run(
            dup,
            Options {
                allow_duplicates: true,
                ..Options::default()
            },
        );
        assert_eq!(r.verdict, Verdict::Valid);
        assert!(r.sentence.ends_with("allowed: 1 duplicate"), "{}", r.sentence);
        let back = &[
            ("invoke", 3, "poll", "null"),
            ("ok", 3, "poll", "[[1, 2]]"),
            ("invoke", 5, "poll", "0"),
            ("ok", 5, "poll", "[[0, 1], [1, 2]]"),
        ];
        assert_eq!(run(back, Options::default()).verdict, Verdict::Invalid);
        assert_eq!(
            run(
                back,
                Options {
                    rebalancing: true,
                    ..Options::default()
                }
            )
            .verdict,
            Verdict::Valid
        );
    }

    #[test]
    fn without_a_final_read_it_is_unknown() {
        let r = run(&[], Options::default());
        assert_eq!(r.verdict, Verdict::Unknown, "{}", r.sentence);
        assert!(
            r.sentence
                .starts_with("no read of log \"a\" came after the last send"),
            "{}",
            r.sentence
        );
    }

    #[test]
    fn bad_values_name_the_line() {
        let bad = |rows: &[Row]| {
            check(&history(rows), &Options::default())
                .unwrap_err()
                .to_string()
        };
        let e = bad(&[("invoke", 0, "poll", "0"), ("ok", 0, "poll", "[1, 2]")]);
        assert!(
            e.starts_with("log.jsonl:2: poll ok [1 2]: expected a list of [offset value] pairs"),
            "{e}"
        );
        let e = bad(&[("invoke", 0, "send", "1"), ("ok", 0, "send", "[0, 2]")]);
        assert!(
            e.starts_with("log.jsonl:2: send acknowledges 2 but sent 1"),
            "{e}"
        );
        let e = bad(&[("invoke", 0, "send", "1"), ("ok", 0, "send", "-1")]);
        assert!(e.contains("expected the acknowledged offset"), "{e}");
        let e = bad(&[
            ("invoke", 0, "send", "1"),
            ("fail", 0, "send", "1"),
            ("invoke", 0, "send", "1"),
        ]);
        assert!(
            e.starts_with("log.jsonl:3: log \"a\": send of 1 repeats the send on line 1"),
            "{e}"
        );
        let e = bad(&[("invoke", 0, "poll", "\"x\""), ("ok", 0, "poll", "[]")]);
        assert!(e.contains("poll from \"x\": expected an offset"), "{e}");
    }
}
