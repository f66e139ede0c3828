//! The watch checker (etcd's `tests/robustness/validate/watch.go`):
//! writers change keys at revisions the system assigns, watchers stream
//! the changes of a key range, and a final watch from revision 1 gives
//! the complete event history every stream is judged against. It is not
//! a linearizability check of the writes themselves.
//!
//! History shape (JSON Lines; keys and values integers):
//! - `txn` (a write): invoke `[["put" k v] ["delete" k nil] ...]`, values
//!   unique per key; `ok` carries `[revision micro-ops]`, the revision
//!   the system assigned; `info` and `fail` carry nothing read here.
//! - `watch`: invoke `[lo hi]`, the range of keys `lo <= k < hi`, or
//!   `[lo hi from]` for a final watch that starts afresh at revision
//!   `from` (the workload's final phase asks for 1); `ok` carries
//!   `[start responses]`: `start` is the revision a new stream was opened
//!   at during this op (a first watch, or a reconnect after an error),
//!   or nil when the op read on from the stream the process had open;
//!   `responses` is a list of responses as the system delivered them,
//!   each a list of events `[revision key "put" value]` or `[revision key
//!   "delete" nil]`. A `fail` watch saw its stream break; what it got is
//!   not recorded, and the next op reopens at the last revision recorded
//!   plus one.
//!
//! The reference is the first `ok` final watch. Findings, each counted
//! as its sentence says:
//! - **ordered** (event): a stream's revision went back;
//! - **unique** (event): a stream delivered one (revision, key) twice;
//! - **atomic** (revision): a stream delivered one revision's events in
//!   two responses;
//! - **reliable** (event): a reference event in a stream's range, between
//!   the first and last revision the stream delivered, that it did not;
//! - **resumable** (event): a stream opened at `r` delivered a revision
//!   below `r` first, or skipped reference events from `r` up to its
//!   first;
//! - **lost** (micro-op): an acknowledged put that the reference does not
//!   hold at the acknowledged revision with its value (or an acknowledged
//!   delete the reference shows as a put there);
//! - **unexpected** (event): a put of a value no write (`ok` or `info`)
//!   wrote to its key, an event outside its stream's range, or one the
//!   reference, which reaches its revision, holds otherwise.
//!
//! Any finding makes the history invalid; with acknowledged writes and no
//! reference, and nothing else found, the verdict is unknown.

use std::collections::BTreeMap;

use hashbrown::{HashMap, HashSet};
use serde::Serialize;

use crate::error::InputError;
use crate::function::Function;
use crate::history::{History, Operation, Outcome, Process};
use crate::value::Value;
use crate::verdict::Verdict;

/// A kind of finding; the module doc defines each and what it counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A stream went back in revisions.
    Ordered,
    /// A stream delivered an event twice.
    Unique,
    /// A revision's events split across responses.
    Atomic,
    /// A stream missed an event between its first and last.
    Reliable,
    /// A stream did not start where it was opened.
    Resumable,
    /// An acknowledged write the event history does not hold.
    Lost,
    /// An event no write explains.
    Unexpected,
}

impl Kind {
    /// Every kind, in the order reports list them.
    pub const ALL: [Kind; 7] = [
        Kind::Ordered,
        Kind::Unique,
        Kind::Atomic,
        Kind::Reliable,
        Kind::Resumable,
        Kind::Lost,
        Kind::Unexpected,
    ];

    /// Its name in reports and `results.json`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ordered => "ordered",
            Kind::Unique => "unique",
            Kind::Atomic => "atomic",
            Kind::Reliable => "reliable",
            Kind::Resumable => "resumable",
            Kind::Lost => "lost",
            Kind::Unexpected => "unexpected",
        }
    }
}

/// One finding, in a sentence and as data.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// What happened, with revisions, keys and lines.
    pub sentence: String,
    /// The revisions concerned.
    pub revisions: Vec<u64>,
    /// The keys concerned.
    pub keys: Vec<Value>,
    /// The watcher or writer.
    pub process: Process,
    /// History lines to look at.
    pub lines: Vec<usize>,
}

/// The findings of one kind.
#[derive(Clone, Debug, Serialize)]
pub struct Anomalies {
    /// Which.
    pub kind: Kind,
    /// How many (the module doc says of what).
    pub count: usize,
    /// The first [`SHOWN`] of them.
    pub findings: Vec<Finding>,
}

/// Findings kept per kind; `count` has them all.
pub const SHOWN: usize = 32;

/// What the watch checker found.
#[derive(Clone, Debug, Serialize)]
pub struct WatchReport {
    /// Invalid when anything was found; unknown without a reference.
    pub verdict: Verdict,
    /// The finding in one sentence.
    pub sentence: String,
    /// Acknowledged writes.
    pub acknowledged: usize,
    /// Indeterminate writes.
    pub indeterminate: usize,
    /// Successful watch ops.
    pub watches: usize,
    /// Events delivered to watchers (not counting final watches).
    pub events: usize,
    /// Streams opened again by a watcher that had one (after an error).
    pub reconnects: usize,
    /// The last revision of the reference, if there is one.
    pub reference_revision: Option<u64>,
    /// Findings by kind, only the kinds found.
    pub anomalies: Vec<Anomalies>,
}

impl WatchReport {
    /// How many findings of `kind`.
    pub fn count(&self, kind: Kind) -> usize {
        self.anomalies
            .iter()
            .find(|a| a.kind == kind)
            .map_or(0, |a| a.count)
    }
}

/// Whether a history is one for this checker: it watches.
pub fn is_watch(history: &History) -> bool {
    history.ops.iter().any(|o| o.f == Function::Watch)
}

/// An event: its type and value (nil for a delete).
#[derive(Clone, Debug, PartialEq)]
struct Change {
    delete: bool,
    value: Value,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.delete {
            f.write_str("delete")
        } else {
            write!(f, "put {}", self.value)
        }
    }
}

/// One delivered event.
struct Event {
    revision: u64,
    key: i64,
    change: Change,
}

/// A watch op, parsed.
struct Watch {
    lo: i64,
    hi: i64,
    /// Final watches: where they asked to start.
    from: Option<u64>,
    /// Where a stream was opened during the op.
    start: Option<u64>,
    responses: Vec<Vec<Event>>,
}

/// Collects findings by kind.
#[derive(Default)]
struct Found(BTreeMap<Kind, (usize, Vec<Finding>)>);

impl Found {
    fn add(&mut self, kind: Kind, n: usize, finding: impl FnOnce() -> Finding) {
        let (count, shown) = self.0.entry(kind).or_default();
        *count += n;
        if shown.len() < SHOWN {
            shown.push(finding());
        }
    }
}

/// `4, 5 and 6`, at most ten shown.
fn listed<T: std::fmt::Display>(items: &[T]) -> String {
    let mut s: Vec<String> = items.iter().take(10).map(|v| v.to_string()).collect();
    if items.len() > 10 {
        s.push(format!("{} more", items.len() - 10));
    }
    match s.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => s.concat(),
    }
}

fn revision(v: &Value) -> Option<u64> {
    v.as_int().and_then(|i| u64::try_from(i).ok())
}

/// A micro-op or event's `[f key value]` (or `[revision key f value]`).
fn change(f: &Value, value: &Value) -> Option<Change> {
    match f.as_str()? {
        "put" => Some(Change {
            delete: false,
            value: value.clone(),
        }),
        "delete" => Some(Change {
            delete: true,
            value: Value::Nil,
        }),
        _ => None,
    }
}

fn parse_mops(history: &History, line: usize, v: &Value) -> Result<Vec<(i64, Change)>, InputError> {
    let bad = || {
        history.error(
            line,
            format!(
                "txn {}: expected a list of [\"put\" key value] and [\"delete\" key nil], keys integers",
                v.short()
            ),
        )
    };
    v.as_list()
        .ok_or_else(bad)?
        .iter()
        .map(|m| match m.as_list() {
            Some([f, k, val]) => Ok((k.as_int().ok_or_else(bad)?, change(f, val).ok_or_else(bad)?)),
            _ => Err(bad()),
        })
        .collect()
}

fn parse_watch(history: &History, op: &Operation) -> Result<Watch, InputError> {
    let bad_in = || {
        history.error(
            op.line,
            format!(
                "watch {}: expected [lo hi] (keys lo <= k < hi) or [lo hi from] (a final watch from a revision)",
                op.input.short()
            ),
        )
    };
    let (lo, hi, from) = match op.input.as_list().ok_or_else(bad_in)? {
        [lo, hi] => (lo, hi, None),
        [lo, hi, from] => (lo, hi, Some(revision(from).ok_or_else(bad_in)?)),
        _ => return Err(bad_in()),
    };
    let (lo, hi) = (lo.as_int().ok_or_else(bad_in)?, hi.as_int().ok_or_else(bad_in)?);
    let line = op.ret_line.unwrap_or(op.line);
    let bad_out = || {
        history.error(
            line,
            format!(
                "watch ok {}: expected [start responses], start a revision or null, each response a list of \
                 [revision key \"put\" value] or [revision key \"delete\" null]",
                op.output.short()
            ),
        )
    };
    let (start, responses) = op.output.as_pair().ok_or_else(bad_out)?;
    let start = match start {
        Value::Nil => None,
        s => Some(revision(s).ok_or_else(bad_out)?),
    };
    let responses = responses
        .as_list()
        .ok_or_else(bad_out)?
        .iter()
        .map(|r| {
            r.as_list()
                .ok_or_else(bad_out)?
                .iter()
                .map(|e| match e.as_list() {
                    Some([rev, k, f, v]) => Ok(Event {
                        revision: revision(rev).ok_or_else(bad_out)?,
                        key: k.as_int().ok_or_else(bad_out)?,
                        change: change(f, v).ok_or_else(bad_out)?,
                    }),
                    _ => Err(bad_out()),
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Watch {
        lo,
        hi,
        from,
        start,
        responses,
    })
}

/// The complete event history: revision → key → change.
type Reference = BTreeMap<u64, BTreeMap<i64, Change>>;

/// One watcher's stream, from an open to the next.
struct Stream {
    process: Process,
    lo: i64,
    hi: i64,
    /// Where it was opened; `None` for a stream whose open is not recorded.
    start: Option<u64>,
    start_line: usize,
    /// (revision, key) delivered, and the response (a counter) and line
    /// of the last.
    seen: HashSet<(u64, i64)>,
    first: Option<u64>,
    last: Option<(u64, usize, usize)>,
}

impl Stream {
    fn new(process: Process, w: &Watch, line: usize) -> Stream {
        Stream {
            process,
            lo: w.lo,
            hi: w.hi,
            start: w.start,
            start_line: line,
            seen: HashSet::new(),
            first: None,
            last: None,
        }
    }

    fn range(&self) -> String {
        format!("keys {}..{}", self.lo, self.hi)
    }

    /// Reliable and resumable, against the reference, once it has ended.
    fn close(&self, reference: &Reference, end: u64, found: &mut Found) {
        let Some(first) = self.first else { return };
        let last = self.last.map_or(first, |l| l.0);
        let in_range = |from: u64, to: u64| -> Vec<(u64, i64)> {
            if from > to {
                return Vec::new();
            }
            reference
                .range(from..=to.min(end))
                .flat_map(|(r, ks)| ks.range(self.lo..self.hi).map(move |(k, _)| (*r, *k)))
                .filter(|e| !self.seen.contains(e))
                .collect()
        };
        let missed = in_range(first, last);
        if !missed.is_empty() {
            found.add(Kind::Reliable, missed.len(), || Finding {
                sentence: format!(
                    "process {}'s watch of {} opened on line {} delivered revisions {first} to {last} but not {}",
                    self.process,
                    self.range(),
                    self.start_line,
                    events(&missed)
                ),
                revisions: missed.iter().map(|e| e.0).collect(),
                keys: missed.iter().map(|e| Value::Int(e.1)).collect(),
                process: self.process,
                lines: vec![self.start_line],
            });
        }
        let Some(start) = self.start else { return };
        if first < start {
            found.add(Kind::Resumable, 1, || Finding {
                sentence: format!(
                    "process {}'s watch of {} opened at revision {start} on line {} delivered revision {first} first",
                    self.process,
                    self.range(),
                    self.start_line
                ),
                revisions: vec![start, first],
                keys: Vec::new(),
                process: self.process,
                lines: vec![self.start_line],
            });
        }
        let skipped = in_range(start, first.saturating_sub(1));
        if !skipped.is_empty() {
            found.add(Kind::Resumable, skipped.len(), || Finding {
                sentence: format!(
                    "process {}'s watch of {} opened at revision {start} on line {} began at revision {first}, \
                     skipping {}",
                    self.process,
                    self.range(),
                    self.start_line,
                    events(&skipped)
                ),
                revisions: skipped.iter().map(|e| e.0).collect(),
                keys: skipped.iter().map(|e| Value::Int(e.1)).collect(),
                process: self.process,
                lines: vec![self.start_line],
            });
        }
    }
}

/// `key 3 at revision 7, key 4 at revision 9`.
fn events(es: &[(u64, i64)]) -> String {
    let each: Vec<String> = es
        .iter()
        .map(|(r, k)| format!("key {k} at revision {r}"))
        .collect();
    listed(&each)
}

/// Checks a history of `txn` writes and `watch` streams.
pub fn check(history: &History) -> Result<WatchReport, InputError> {
    let ops = history.operations()?;
    let mut written: HashSet<(i64, Value)> = HashSet::new();
    let mut acks = Vec::new();
    let (mut acknowledged, mut indeterminate) = (0, 0);
    let mut watches = Vec::new();
    for op in &ops {
        match op.f {
            Function::Txn if op.outcome != Outcome::Fail => {
                for (k, c) in parse_mops(history, op.line, &op.input)? {
                    if !c.delete {
                        written.insert((k, c.value));
                    }
                }
                if op.outcome == Outcome::Info {
                    indeterminate += 1;
                    continue;
                }
                acknowledged += 1;
                let line = op.ret_line.unwrap_or(op.line);
                let bad = || {
                    history.error(
                        line,
                        format!(
                            "txn ok {}: expected [revision micro-ops], the revision an integer",
                            op.output.short()
                        ),
                    )
                };
                let (rev, mops) = op.output.as_pair().ok_or_else(bad)?;
                acks.push((
                    op.process,
                    revision(rev).ok_or_else(bad)?,
                    parse_mops(history, line, mops)?,
                    line,
                ));
            }
            Function::Watch if op.outcome == Outcome::Ok => {
                watches.push((
                    op.process,
                    op.ret_line.unwrap_or(op.line),
                    parse_watch(history, op)?,
                ));
            }
            _ => {}
        }
    }
    let mut reference = Reference::new();
    let mut has_reference = false;
    if let Some((_, _, w)) = watches.iter().find(|(_, _, w)| w.from.is_some()) {
        has_reference = true;
        for e in w.responses.iter().flatten() {
            reference
                .entry(e.revision)
                .or_default()
                .entry(e.key)
                .or_insert_with(|| e.change.clone());
        }
    }
    let end = reference.keys().next_back().copied().unwrap_or(0);
    let mut found = Found::default();
    let mut streams: HashMap<Process, Stream> = HashMap::new();
    let mut opened: HashSet<Process> = HashSet::new();
    let (mut events, mut reconnects, mut response) = (0, 0, 0usize);
    for (process, line, w) in &watches {
        let process = *process;
        if w.start.is_some() || !streams.contains_key(&process) {
            if let Some(s) = streams.remove(&process) {
                s.close(&reference, end, &mut found);
            }
            // A final watch is a new phase, not a reconnect.
            if !opened.insert(process) && w.from.is_none() && w.start.is_some() {
                reconnects += 1;
            }
            streams.insert(process, Stream::new(process, w, *line));
        }
        let s = streams.get_mut(&process).expect("inserted above");
        let range = s.range();
        for r in &w.responses {
            response += 1;
            for e in r {
                if w.from.is_none() {
                    events += 1;
                }
                let at = |what: &str| {
                    format!(
                        "process {process}'s watch of {range} delivered {} of key {} at revision {} on line {line}{what}",
                        e.change,
                        e.key,
                        e.revision
                    )
                };
                let finding = |sentence: String, revisions: Vec<u64>| Finding {
                    sentence,
                    revisions,
                    keys: vec![Value::Int(e.key)],
                    process,
                    lines: vec![*line],
                };
                if e.key < s.lo || e.key >= s.hi {
                    found.add(Kind::Unexpected, 1, || {
                        finding(at(", outside the range it watches"), vec![e.revision])
                    });
                    continue;
                }
                if !s.seen.insert((e.revision, e.key)) {
                    found.add(Kind::Unique, 1, || {
                        finding(at(", which it had delivered before"), vec![e.revision])
                    });
                    continue;
                }
                s.first.get_or_insert(e.revision);
                match s.last {
                    Some((last, _, last_line)) if e.revision < last => {
                        found.add(Kind::Ordered, 1, || {
                            finding(
                                at(&format!(" after revision {last} (line {last_line})")),
                                vec![last, e.revision],
                            )
                        });
                    }
                    Some((last, resp, last_line)) if e.revision == last && resp != response => {
                        found.add(Kind::Atomic, 1, || {
                            finding(
                                at(&format!(
                                    " in a later response than other events of that revision (line {last_line})"
                                )),
                                vec![e.revision],
                            )
                        });
                    }
                    _ => {}
                }
                if s.last.is_none_or(|l| e.revision >= l.0) {
                    s.last = Some((e.revision, response, *line));
                }
                if !e.change.delete && !written.contains(&(e.key, e.change.value.clone())) {
                    found.add(Kind::Unexpected, 1, || {
                        finding(at(", a value no write wrote to that key"), vec![e.revision])
                    });
                    continue;
                }
                if has_reference && e.revision <= end {
                    let want = reference.get(&e.revision).and_then(|ks| ks.get(&e.key));
                    if want != Some(&e.change) {
                        let held = want.map_or("nothing".to_string(), |c| c.to_string());
                        found.add(Kind::Unexpected, 1, || {
                            finding(
                                at(&format!(", where the final watch has {held}")),
                                vec![e.revision],
                            )
                        });
                    }
                }
            }
        }
    }
    for s in streams.values() {
        s.close(&reference, end, &mut found);
    }
    if has_reference {
        for (process, rev, mops, line) in &acks {
            for (k, c) in mops {
                let held = reference.get(rev).and_then(|ks| ks.get(k));
                let agrees = match held {
                    Some(h) => h == c,
                    // A delete of an absent key leaves no event.
                    None => c.delete,
                };
                if !agrees {
                    found.add(Kind::Lost, 1, || Finding {
                        sentence: format!(
                            "process {process}'s {c} of key {k}, acknowledged at revision {rev} on line {line}, is \
                             not in the final watch{}",
                            match held {
                                Some(h) => format!(", which has {h} there"),
                                None if *rev > end => format!(", which ends at revision {end}"),
                                None => String::new(),
                            }
                        ),
                        revisions: vec![*rev],
                        keys: vec![Value::Int(*k)],
                        process: *process,
                        lines: vec![*line],
                    });
                }
            }
        }
    }
    let anomalies: Vec<Anomalies> = found
        .0
        .into_iter()
        .map(|(kind, (count, findings))| Anomalies {
            kind,
            count,
            findings,
        })
        .collect();
    let (verdict, sentence) = match anomalies.first() {
        Some(a) => (
            Verdict::Invalid,
            format!(
                "{}: {} ({} {} finding{}{})",
                a.kind.name(),
                a.findings[0].sentence,
                a.count,
                a.kind.name(),
                if a.count == 1 { "" } else { "s" },
                if anomalies.len() > 1 {
                    let rest: Vec<String> = anomalies[1..]
                        .iter()
                        .map(|a| format!("{} {}", a.count, a.kind.name()))
                        .collect();
                    format!("; also {}", listed(&rest))
                } else {
                    String::new()
                }
            ),
        ),
        None if !has_reference && acknowledged > 0 => (
            Verdict::Unknown,
            format!(
                "no final watch from revision 1: {acknowledged} acknowledged writes and {events} delivered events \
                 could not be judged for reliability or loss"
            ),
        ),
        None => (
            Verdict::Valid,
            format!(
                "{} watch ops delivered {events} events, ordered, unique, atomic, reliable and resumable ({reconnects} \
                 reconnects), and all {acknowledged} acknowledged writes are in the final watch up to revision {end}",
                watches.len()
            ),
        ),
    };
    Ok(WatchReport {
        verdict,
        sentence,
        acknowledged,
        indeterminate,
        watches: watches.len(),
        events,
        reconnects,
        reference_revision: has_reference.then_some(end),
        anomalies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{self, Format};

    /// A mock history, built line by line as the workload writes it.
    #[derive(Default)]
    struct MockHistory(String);

    impl MockHistory {
        fn op(&mut self, t: &str, p: u64, f: &str, v: &str) -> &mut Self {
            self.0.push_str(&format!(
                "{{\"type\":\"{t}\",\"process\":{p},\"f\":\"{f}\",\"value\":{v}}}\n"
            ));
            self
        }
        /// An acknowledged write of `mops` at `rev`.
        fn write(&mut self, p: u64, rev: u64, mops: &str) -> &mut Self {
            self.op("invoke", p, "txn", mops)
                .op("ok", p, "txn", &format!("[{rev}, {mops}]"))
        }
        /// A watch of keys 0..10 that got `out` (`[start responses]`).
        fn watch(&mut self, p: u64, out: &str) -> &mut Self {
            self.op("invoke", p, "watch", "[0, 10]").op("ok", p, "watch", out)
        }
        fn check(&self) -> WatchReport {
            let h = import::parse(&self.0, "watch.jsonl", Some(Format::Jsonl))
                .unwrap()
                .0;
            check(&h).unwrap()
        }
    }

    /// Four writes: revision 2 puts key 1 and 2 in one txn, 3 deletes key
    /// 1, 4 puts key 3; and the final watch from revision 1 that saw them.
    fn writes() -> MockHistory {
        let mut h = MockHistory::default();
        h.write(0, 2, r#"[["put", 1, 10], ["put", 2, 20]]"#)
            .write(0, 3, r#"[["delete", 1, null]]"#)
            .write(0, 4, r#"[["put", 3, 30]]"#);
        h
    }

    const FINAL: &str =
        r#"[1, [[[2, 1, "put", 10], [2, 2, "put", 20]], [[3, 1, "delete", null]], [[4, 3, "put", 30]]]]"#;

    fn with_final(h: &mut MockHistory) -> WatchReport {
        h.op("invoke", 9, "watch", "[0, 10, 1]")
            .op("ok", 9, "watch", FINAL);
        h.check()
    }

    fn kinds(r: &WatchReport) -> Vec<(Kind, usize)> {
        r.anomalies.iter().map(|a| (a.kind, a.count)).collect()
    }

    #[test]
    fn a_clean_history_is_valid() {
        let mut h = writes();
        h.watch(1, r#"[2, [[[2, 1, "put", 10], [2, 2, "put", 20]]]]"#)
            .watch(1, r#"[null, [[[3, 1, "delete", null]]]]"#)
            // Its stream broke; it reopened at the next revision.
            .op("invoke", 1, "watch", "[0, 10]")
            .op("fail", 1, "watch", "[0, 10]")
            .watch(1, r#"[4, [[[4, 3, "put", 30]]]]"#);
        let r = with_final(&mut h);
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.sentence);
        assert_eq!((r.events, r.reconnects, r.acknowledged), (4, 1, 3));
        assert_eq!(r.reference_revision, Some(4));
    }

    #[test]
    fn without_a_final_watch_it_is_unknown() {
        let mut h = writes();
        h.watch(1, r#"[2, [[[2, 1, "put", 10], [2, 2, "put", 20]]]]"#);
        assert_eq!(h.check().verdict, Verdict::Unknown);
    }

    #[test]
    fn a_revision_going_back_is_unordered() {
        let mut h = writes();
        h.watch(1, r#"[3, [[[4, 3, "put", 30]], [[3, 1, "delete", null]]]]"#);
        let r = with_final(&mut h);
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(kinds(&r), [(Kind::Ordered, 1)]);
        assert!(
            r.sentence.starts_with("ordered: process 1's watch"),
            "{}",
            r.sentence
        );
    }

    #[test]
    fn an_event_twice_is_not_unique() {
        let mut h = writes();
        h.watch(
            1,
            r#"[3, [[[3, 1, "delete", null]], [[3, 1, "delete", null]], [[4, 3, "put", 30]]]]"#,
        );
        assert_eq!(kinds(&with_final(&mut h)), [(Kind::Unique, 1)]);
    }

    #[test]
    fn a_txn_split_across_responses_is_not_atomic() {
        let mut h = writes();
        h.watch(1, r#"[2, [[[2, 1, "put", 10]], [[2, 2, "put", 20]]]]"#);
        assert_eq!(kinds(&with_final(&mut h)), [(Kind::Atomic, 1)]);
    }

    #[test]
    fn a_gap_inside_a_stream_is_unreliable() {
        let mut h = writes();
        h.watch(1, r#"[2, [[[2, 1, "put", 10], [2, 2, "put", 20]]]]"#)
            .watch(1, r#"[null, [[[4, 3, "put", 30]]]]"#);
        let r = with_final(&mut h);
        assert_eq!(kinds(&r), [(Kind::Reliable, 1)]);
        assert!(r.anomalies[0].findings[0]
            .sentence
            .contains("not key 1 at revision 3"));
    }

    #[test]
    fn a_watch_that_starts_late_or_early_is_not_resumable() {
        let mut h = writes();
        h.watch(1, r#"[3, [[[4, 3, "put", 30]]]]"#);
        assert_eq!(kinds(&with_final(&mut h)), [(Kind::Resumable, 1)]);
        let mut h = writes();
        h.watch(
            1,
            r#"[3, [[[2, 1, "put", 10], [2, 2, "put", 20]], [[3, 1, "delete", null]]]]"#,
        );
        assert_eq!(kinds(&with_final(&mut h)), [(Kind::Resumable, 1)]);
    }

    #[test]
    fn an_acknowledged_write_missing_from_the_final_watch_is_lost() {
        let mut h = writes();
        h.write(0, 5, r#"[["put", 4, 40]]"#);
        let r = with_final(&mut h);
        assert_eq!(kinds(&r), [(Kind::Lost, 1)]);
        assert!(r.sentence.contains("ends at revision 4"), "{}", r.sentence);
    }

    #[test]
    fn events_no_write_explains_are_unexpected() {
        let mut h = writes();
        h.watch(1, r#"[4, [[[4, 3, "put", 99]]]]"#);
        assert_eq!(kinds(&with_final(&mut h)), [(Kind::Unexpected, 1)]);
        // A written value at a revision the final watch has otherwise.
        let mut h = writes();
        h.watch(1, r#"[4, [[[4, 2, "put", 20], [4, 3, "put", 30]]]]"#);
        assert_eq!(kinds(&with_final(&mut h)), [(Kind::Unexpected, 1)]);
    }

    #[test]
    fn malformed_ops_name_their_line() {
        let mut h = writes();
        h.watch(1, r#"[2, [[2, 1, "put", 10]]]"#);
        let parsed = import::parse(&h.0, "w.jsonl", Some(Format::Jsonl)).unwrap().0;
        let e = check(&parsed).unwrap_err().to_string();
        assert!(e.starts_with("w.jsonl:8:"), "{e}");
        assert!(e.contains("expected [start responses]"), "{e}");
    }

    /// A reference simulation: a random run of writes with watchers that
    /// stream, break and resume correctly is valid; each injected fault of
    /// a kind is found as that kind.
    #[test]
    fn injected_anomalies_are_found_and_clean_runs_pass() {
        let mut seed = 7u64;
        let mut rng = move |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for round in 0..40 {
            // The system: revision → events, keys 0..6.
            let mut h = MockHistory::default();
            let mut revs: Vec<(u64, Vec<String>)> = Vec::new();
            let mut value = 0;
            for rev in 2..30u64 {
                let n = 1 + rng(3);
                let mut keys: Vec<u64> = (0..n).map(|_| rng(6)).collect();
                keys.sort();
                keys.dedup();
                let (mut mops, mut evs) = (Vec::new(), Vec::new());
                for k in keys {
                    value += 1;
                    if rng(4) == 0 {
                        mops.push(format!(r#"["delete", {k}, null]"#));
                        evs.push(format!(r#"[{rev}, {k}, "delete", null]"#));
                    } else {
                        mops.push(format!(r#"["put", {k}, {value}]"#));
                        evs.push(format!(r#"[{rev}, {k}, "put", {value}]"#));
                    }
                }
                h.write(0, rev, &format!("[{}]", mops.join(", ")));
                revs.push((rev, evs));
            }
            let all: Vec<String> = revs.iter().map(|(_, e)| format!("[{}]", e.join(", "))).collect();
            let fin = format!("[1, [{}]]", all.join(", "));
            // A watcher: responses of one revision each, broken and
            // resumed at random points.
            let inject = Kind::ALL.get(round % 8).copied();
            // Each response with the revision it holds.
            let mut responses: Vec<(u64, String)> =
                revs.iter().map(|(r, _)| *r).zip(all.iter().cloned()).collect();
            let pick = 3 + rng(20) as usize;
            match inject {
                Some(Kind::Ordered) => responses.swap(pick, pick + 1),
                Some(Kind::Unique) => responses.insert(pick, responses[pick].clone()),
                Some(Kind::Reliable) => {
                    responses.remove(pick);
                }
                Some(Kind::Atomic) => {
                    let evs = &revs[pick].1;
                    if evs.len() < 2 {
                        continue;
                    }
                    responses[pick].1 = format!("[{}], [{}]", evs[0], evs[1..].join(", "));
                }
                Some(Kind::Unexpected) => {
                    responses[pick].1 = format!(r#"[[{}, 0, "put", 999999]]"#, revs[pick].0)
                }
                _ => {}
            }
            let mut at = 0;
            let mut start = Some(2);
            let mut skipped = false;
            while at < responses.len() {
                let n = 1 + rng(4) as usize;
                let chunk = &responses[at..(at + n).min(responses.len())];
                let last = chunk.iter().map(|c| c.0).max().unwrap_or(0);
                let texts: Vec<&str> = chunk.iter().map(|c| c.1.as_str()).collect();
                let s = start.map_or("null".to_string(), |s| s.to_string());
                h.watch(1, &format!("[{s}, [{}]]", texts.join(", ")));
                at += n;
                start = None;
                if (rng(5) == 0 || (inject == Some(Kind::Resumable) && !skipped)) && at + 1 < responses.len()
                {
                    h.op("invoke", 1, "watch", "[0, 10]")
                        .op("fail", 1, "watch", "[0, 10]");
                    // Resumes after the last revision recorded; a faulty
                    // resume starts one response late.
                    start = Some(last + 1);
                    if inject == Some(Kind::Resumable) && !skipped {
                        skipped = true;
                        at += 1;
                    }
                }
            }
            if inject == Some(Kind::Lost) {
                h.write(0, 12, &format!(r#"[["put", 5, {}]]"#, value + 1));
            }
            h.op("invoke", 9, "watch", "[0, 10, 1]")
                .op("ok", 9, "watch", &fin);
            let r = h.check();
            match inject {
                None => assert_eq!(r.verdict, Verdict::Valid, "round {round}: {}", r.sentence),
                Some(k) => {
                    assert_eq!(r.verdict, Verdict::Invalid, "round {round}: {k:?} missed");
                    // An event dropped just where a stream was reopened is
                    // a resume that skipped it.
                    let found = r.count(k)
                        + if k == Kind::Reliable {
                            r.count(Kind::Resumable)
                        } else {
                            0
                        };
                    assert!(found > 0, "round {round}: {k:?} not found: {}", r.sentence);
                }
            }
        }
    }
}
