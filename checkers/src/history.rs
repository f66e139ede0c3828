//! The history model: `Op` is one line of a history (an invocation or a
//! completion), `History` the whole record of a test, and `Operation` an
//! invocation paired with its completion — the unit every checker reasons
//! about.
//!
//! Pairing enforces Jepsen's process discipline (one outstanding invocation
//! per process; a completion must answer an invocation) and turns
//! violations into `InputError`s that name the line. It does not interpret
//! values; models do that.

use std::fmt;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use crate::error::InputError;
use crate::function::Function;
use crate::value::Value;

/// The four event types: `invoke` (an operation begins), `ok` (it took
/// effect), `fail` (it certainly did not), `info` (it may have, at any
/// time after its invocation, or never).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// The start of an operation.
    Invoke,
    /// The operation took effect.
    Ok,
    /// The operation definitely did not take effect.
    Fail,
    /// Indeterminate: may or may not have taken effect, possibly later.
    Info,
}

impl OpType {
    /// Parses `invoke`, `ok`, `fail` or `info`.
    pub fn parse(s: &str) -> Option<OpType> {
        Some(match s {
            "invoke" => OpType::Invoke,
            "ok" => OpType::Ok,
            "fail" => OpType::Fail,
            "info" => OpType::Info,
            _ => return None,
        })
    }
}

impl fmt::Display for OpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpType::Invoke => "invoke",
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            OpType::Info => "info",
        })
    }
}

/// Who performed an operation: a client process or the nemesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    /// A logical client process (single-threaded).
    Client(u64),
    /// The fault injector.
    Nemesis,
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

impl Serialize for Process {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(p) => s.serialize_u64(*p),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

/// One event of a history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Op {
    /// Position in the history.
    pub index: u64,
    /// Nanoseconds since the test started; for formats without time, the
    /// event's position, which preserves real-time order.
    pub time: u64,
    /// Invocation or one of the three completions.
    #[serde(rename = "type")]
    pub kind: OpType,
    /// Who.
    pub process: Process,
    /// The function (`read`, `write`, `cas`, ...).
    pub f: Function,
    /// For independent (multi-key) workloads, the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// Arguments on invoke, results on completion.
    pub value: Value,
    /// Why an op failed or is indeterminate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The 1-based line of the source file it came from.
    #[serde(skip)]
    pub line: usize,
}

/// A recorded test: its events in order, and where they came from.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Events in history order.
    pub ops: Vec<Op>,
    /// Whether `time` is a real clock (nanoseconds) or only event order.
    pub timed: bool,
    /// The file name, for messages.
    pub source: String,
    /// The file says a read of nil found the key empty (faultline's own
    /// histories say so in their first line); false where it says
    /// nothing, and nil is Knossos' "value unknown".
    pub nil_reads_empty: bool,
}

/// A span during which the nemesis had one fault in force, read from its
/// ops in a history (by the `nemesis` crate, which knows the faults; here
/// it is only data, so reports can draw it without knowing them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FaultPeriod {
    /// The fault's name (`kill`, `partition`, `lose-unsynced`).
    pub kind: String,
    /// The nodes (or workers) it acted on.
    pub nodes: Vec<String>,
    /// When it took effect, in the history's time (nanoseconds since the
    /// test began, or the event's position in an untimed history).
    pub start: u64,
    /// When it was undone, or the end of the history.
    pub end: u64,
    /// What exactly was done, in words (`kill n2`, `partition halves: n1 |
    /// n2,n3`).
    pub what: String,
}

impl FaultPeriod {
    /// Its label: what was done, led by the fault's name where the words
    /// do not start with it (`corrupt: kill n2 and ...`, but `kill n2`),
    /// so a label cut short still says which fault it was.
    pub fn label(&self) -> String {
        match self.what.strip_prefix(self.kind.as_str()) {
            Some(rest) if rest.starts_with(' ') => self.what.clone(),
            _ => format!("{}: {}", self.kind, self.what),
        }
    }
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Took effect.
    Ok,
    /// Definitely did not take effect.
    Fail,
    /// Indeterminate; the completion never arrived or said `info`.
    Info,
}

/// An invocation paired with its completion.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Operation {
    /// Who.
    pub process: Process,
    /// The function.
    pub f: Function,
    /// The key, for independent workloads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// The invocation's value (the arguments).
    pub input: Value,
    /// The completion's value (the results); nil when there was none.
    pub output: Value,
    /// How it ended.
    pub outcome: Outcome,
    /// The invocation's time.
    pub call: u64,
    /// The completion's time; `None` for an indeterminate operation, which
    /// may take effect at any later point.
    pub ret: Option<u64>,
    /// Line of the invocation.
    pub line: usize,
    /// Line of the completion, if any.
    pub ret_line: Option<usize>,
    /// The completion's error, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A history's operations, paired, and what the pairing had to assume.
#[derive(Clone, Debug, Default)]
pub struct Paired {
    /// The operations in invocation order.
    pub operations: Vec<Operation>,
    /// Sentences for the reader, e.g. on processes that carried on after
    /// an indeterminate op.
    pub notes: Vec<String>,
}

/// An invocation and its completion, as positions in `History::ops`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventPair {
    /// The logical process (renamed if it carried on after `info`).
    pub process: Process,
    /// The invocation.
    pub invoke: usize,
    /// The completion, if any (an `info` completion included).
    pub completion: Option<usize>,
    /// How it ended.
    pub outcome: Outcome,
}

/// A history's pairing as positions, and the notes of [`Paired`].
#[derive(Clone, Debug, Default)]
pub struct EventPairs {
    /// In invocation order.
    pub pairs: Vec<EventPair>,
    /// Sentences for the reader.
    pub notes: Vec<String>,
}

impl History {
    /// Pairs every client invocation with its completion, in invocation
    /// order. Nemesis events are left out: they describe faults, not
    /// operations on the system under test. An invocation that never
    /// completes becomes an `Info` operation.
    pub fn operations(&self) -> Result<Vec<Operation>, InputError> {
        self.pair().map(|p| p.operations)
    }

    /// As `operations`, with notes on what had to be read generously: a
    /// process that invokes again after an indeterminate (`info`)
    /// completion — harnesses other than Jepsen let a client thread carry
    /// on after a timeout — continues as a fresh logical process, and its
    /// indeterminate op stays open to the end of the history.
    pub fn pair(&self) -> Result<Paired, InputError> {
        let pairs = self.pair_events()?;
        let operations = pairs
            .pairs
            .iter()
            .map(|p| {
                let call = &self.ops[p.invoke];
                let done = p.completion.map(|i| &self.ops[i]);
                Operation {
                    process: p.process,
                    f: call.f.clone(),
                    key: call.key.clone(),
                    input: call.value.clone(),
                    output: done.map_or(Value::Nil, |d| d.value.clone()),
                    outcome: p.outcome,
                    call: call.time,
                    ret: done.filter(|_| p.outcome != Outcome::Info).map(|d| d.time),
                    line: call.line,
                    ret_line: done.map(|d| d.line),
                    error: done.and_then(|d| d.error.clone()),
                }
            })
            .collect();
        Ok(Paired {
            operations,
            notes: pairs.notes,
        })
    }

    /// The pairing itself, as positions in `ops`, so a checker that keeps
    /// its own compact form of the values need not copy them.
    pub fn pair_events(&self) -> Result<EventPairs, InputError> {
        let mut out: Vec<EventPair> = Vec::with_capacity(self.ops.len() / 2 + 1);
        let mut notes = Vec::new();
        // Keyed by the process as written; `logical` is who it is now.
        let mut open: HashMap<u64, usize> = HashMap::new();
        let mut crashed: HashMap<u64, usize> = HashMap::new();
        let mut logical: HashMap<u64, u64> = HashMap::new();
        // Fresh ids come after every id the history uses; found only when
        // a process first carries on, so ordinary histories pay nothing.
        let mut fresh: Option<u64> = None;
        let mut renamed = 0usize;
        let mut first_rename = None;
        for (at, op) in self.ops.iter().enumerate() {
            let Process::Client(p) = op.process else {
                continue;
            };
            match op.kind {
                OpType::Invoke => {
                    if let Some(&prev) = open.get(&p) {
                        let prev = &self.ops[out[prev].invoke];
                        return Err(self.error(
                            op.line,
                            format!(
                                "process {p} invokes {} while its {} from line {} is still open; \
                                 a process has at most one operation in flight",
                                op.f, prev.f, prev.line
                            ),
                        ));
                    }
                    if let Some(prev) = crashed.remove(&p) {
                        let id =
                            fresh.get_or_insert_with(|| self.max_client().map_or(0, |m| m.saturating_add(1)));
                        logical.insert(p, *id);
                        *id = id.saturating_add(1);
                        first_rename.get_or_insert((p, op.line, self.ops[out[prev].invoke].line));
                        renamed += 1;
                    }
                    open.insert(p, out.len());
                    out.push(EventPair {
                        process: Process::Client(logical.get(&p).copied().unwrap_or(p)),
                        invoke: at,
                        completion: None,
                        outcome: Outcome::Info,
                    });
                }
                OpType::Ok | OpType::Fail | OpType::Info => {
                    let Some(i) = open.remove(&p) else {
                        return Err(self.error(
                            op.line,
                            format!(
                                "{} completion of {} by process {p} has no open invocation",
                                op.kind, op.f
                            ),
                        ));
                    };
                    let call = &self.ops[out[i].invoke];
                    if call.f != op.f {
                        return Err(self.error(
                            op.line,
                            format!(
                                "process {p} completes {} but invoked {} on line {}",
                                op.f, call.f, call.line
                            ),
                        ));
                    }
                    if op.key.is_some() && call.key != op.key {
                        return Err(self.error(
                            op.line,
                            format!(
                                "process {p} completes key {} but invoked key {} on line {}",
                                op.key.as_ref().unwrap_or(&Value::Nil),
                                call.key.as_ref().unwrap_or(&Value::Nil),
                                call.line
                            ),
                        ));
                    }
                    if op.time < call.time {
                        return Err(self.error(
                            op.line,
                            format!(
                                "process {p} completes {} at time {} before invoking it at time {} on line {}",
                                op.f, op.time, call.time, call.line
                            ),
                        ));
                    }
                    let o = &mut out[i];
                    o.completion = Some(at);
                    o.outcome = match op.kind {
                        OpType::Ok => Outcome::Ok,
                        OpType::Fail => Outcome::Fail,
                        _ => {
                            crashed.insert(p, i);
                            Outcome::Info
                        }
                    };
                }
            }
        }
        if let Some((p, line, info_line)) = first_rename {
            notes.push(format!(
                "process {p} invokes again on line {line} after its indeterminate (info) op on line {info_line}; \
                 such ops stay open to the end of the history and the process's later ops count as a new \
                 logical process ({renamed} time{} in this history)",
                if renamed == 1 { "" } else { "s" }
            ));
        }
        Ok(EventPairs { pairs: out, notes })
    }

    /// The largest client process id the history uses.
    fn max_client(&self) -> Option<u64> {
        self.ops
            .iter()
            .filter_map(|o| match o.process {
                Process::Client(p) => Some(p),
                Process::Nemesis => None,
            })
            .max()
    }

    /// An input error at `line` of this history's source.
    pub fn error(&self, line: usize, message: String) -> InputError {
        InputError::at(&self.source, line, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_label_leads_with_the_faults_name() {
        let period = |kind: &str, what: &str| FaultPeriod {
            kind: kind.into(),
            nodes: vec!["n2".into()],
            start: 1,
            end: 2,
            what: what.into(),
        };
        assert_eq!(period("kill", "kill n2").label(), "kill n2");
        assert_eq!(
            period("corrupt", "kill n2 and corrupt its data").label(),
            "corrupt: kill n2 and corrupt its data"
        );
        // A name that only begins a word is no lead.
        assert_eq!(period("pause", "pauses n2").label(), "pause: pauses n2");
    }

    fn op(line: usize, kind: OpType, p: u64, f: &str, value: Value) -> Op {
        Op {
            index: line as u64,
            time: line as u64,
            kind,
            process: Process::Client(p),
            f: f.into(),
            key: None,
            value,
            error: None,
            line,
        }
    }

    fn history(ops: Vec<Op>) -> History {
        History {
            ops,
            timed: false,
            source: "h.jsonl".into(),
            nil_reads_empty: false,
        }
    }

    #[test]
    fn pairs_and_leaves_unfinished_ops_open() {
        let h = history(vec![
            op(1, OpType::Invoke, 0, "write", 1.into()),
            op(2, OpType::Invoke, 1, "read", Value::Nil),
            op(3, OpType::Ok, 0, "write", 1.into()),
        ]);
        let ops = h.operations().unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].outcome, Outcome::Ok);
        assert_eq!(ops[0].ret, Some(3));
        assert_eq!(ops[1].outcome, Outcome::Info);
        assert_eq!(ops[1].ret, None);
    }

    #[test]
    fn two_open_invocations_name_both_lines() {
        let h = history(vec![
            op(1, OpType::Invoke, 0, "write", 1.into()),
            op(2, OpType::Invoke, 0, "read", Value::Nil),
        ]);
        let e = h.operations().unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("line 1"), "{e}");
        assert!(e.to_string().starts_with("h.jsonl:2:"), "{e}");
    }

    #[test]
    fn completion_without_invocation_is_an_error() {
        let h = history(vec![op(7, OpType::Ok, 3, "read", 1.into())]);
        let e = h.operations().unwrap_err();
        assert_eq!(e.line, 7);
        assert!(e.message.contains("no open invocation"), "{e}");
    }

    #[test]
    fn a_process_that_carries_on_after_info_becomes_a_new_logical_process() {
        let h = history(vec![
            op(1, OpType::Invoke, 0, "write", 1.into()),
            op(2, OpType::Info, 0, "write", 1.into()),
            op(3, OpType::Invoke, 0, "write", 2.into()),
            op(4, OpType::Ok, 0, "write", 2.into()),
            op(5, OpType::Invoke, 0, "read", Value::Nil),
            op(6, OpType::Info, 0, "read", Value::Nil),
            op(7, OpType::Invoke, 0, "read", Value::Nil),
            op(8, OpType::Invoke, 1, "read", Value::Nil),
        ]);
        let paired = h.pair().unwrap();
        let ops = &paired.operations;
        assert_eq!(ops.len(), 5);
        assert_eq!((ops[0].outcome, ops[0].ret), (Outcome::Info, None));
        assert_eq!(ops[0].process, Process::Client(0));
        assert_eq!(ops[1].process, Process::Client(2));
        assert_eq!(ops[1].outcome, Outcome::Ok);
        assert_eq!(ops[3].process, Process::Client(3));
        assert_eq!(ops[4].process, Process::Client(1));
        assert_eq!(paired.notes.len(), 1, "one note, however many times");
        assert!(
            paired.notes[0].contains("line 3") && paired.notes[0].contains("2 times"),
            "{:?}",
            paired.notes
        );
        assert!(history(vec![op(1, OpType::Invoke, 0, "read", Value::Nil)])
            .pair()
            .unwrap()
            .notes
            .is_empty());
    }
}
