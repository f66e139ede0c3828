//! Importers: turn a history file of any supported format into a `History`.
//!
//! Formats: faultline's JSONL, Jepsen EDN (one map per line, one
//! vector of maps, `#jepsen.history.Op{...}` records), Porcupine's etcd logs
//! and Porcupine's kv logs (EDN maps with a `:key`). The format is detected
//! from the content unless forced. Jepsen's independent `[key value]` tuples
//! are split into the `key` field here, so checkers see one shape only.
//! Importers check syntax and op shape; the meaning of values is the
//! models' business.

mod edn;
mod jsonl;
mod porcupine;

pub use jsonl::NIL_READS_EMPTY;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use hashbrown::HashMap;

use crate::error::{excerpt, InputError};
use crate::function::Function;
use crate::history::{History, Op, OpType, Process};
use crate::value::Value;

/// The most text one op may take (a line, or an EDN form). A longer one
/// is damage or not a history; reading it would hold the text, its parse
/// and its pairing at once — gigabytes for a 200 MB line.
pub const MAX_OP_BYTES: usize = 64 << 20;

/// The error for an op longer than `MAX_OP_BYTES`.
fn too_long(source: &str, line: usize, bytes: usize) -> InputError {
    InputError::at(
        source,
        line,
        format!(
            "one op of {} MiB: faultline reads ops of at most {} MiB (is this a history?)",
            bytes >> 20,
            MAX_OP_BYTES >> 20
        ),
    )
}

/// Takes each op as it is read, before it is kept: a checker with a
/// compact form of the values takes them here (and may leave `Nil`
/// behind), so a history of millions of transactions is never held as
/// `Value`s all at once.
pub trait Hook {
    /// Whether a JSONL op's value should come as its JSON text (`raw` in
    /// [`Hook::take`], with `op.value` left nil) rather than as a `Value`:
    /// a hook with a reader of its own skips building values it drops.
    fn wants_json(&self) -> bool {
        false
    }

    /// Called with each op in order; `raw` is its value's JSON text when
    /// the hook wants it and the history is JSONL.
    fn take(&mut self, op: &mut Op, raw: Option<&str>) -> Result<(), InputError>;

    /// A hook for a later stretch of the same history, read on another
    /// thread at the same time as this one: it starts empty and takes
    /// that stretch's ops in order (with their final index, time and
    /// line).
    fn fork(&self) -> Self
    where
        Self: Sized;

    /// Takes in what `later`, a fork, took: the stretches are joined in
    /// the history's order, so the result is that of one hook taking
    /// every op.
    fn join(&mut self, later: Self)
    where
        Self: Sized;
}

/// No hook: values are kept as they are.
impl Hook for () {
    fn take(&mut self, _: &mut Op, _: Option<&str>) -> Result<(), InputError> {
        Ok(())
    }

    fn fork(&self) {}

    fn join(&mut self, _: ()) {}
}

/// An op's value as JSON text (what a hook that wants JSON is given),
/// parsed as a `Value`; errors name the op's line.
pub fn json_value(raw: &str, source: &str, line: usize) -> Result<Value, InputError> {
    serde_json::from_str(raw).map_err(|e| {
        let text = e.to_string();
        let what = text.rfind(" at line ").map_or(&*text, |i| &text[..i]);
        InputError::at(
            source,
            line,
            format!("value {}: {}", excerpt(raw, 60), excerpt(what, 100)),
        )
    })
}

/// A history file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// faultline's JSON Lines.
    Jsonl,
    /// Jepsen / Knossos EDN.
    Edn,
    /// Porcupine's Jepsen etcd logs (`INFO  jepsen.util - ...`).
    EtcdLog,
    /// Porcupine's kv logs (EDN maps with `:key`, get/put/append).
    KvLog,
}

impl Format {
    /// Every format, for help texts.
    pub const ALL: [Format; 4] = [Format::Jsonl, Format::Edn, Format::EtcdLog, Format::KvLog];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Edn => "edn",
            Format::EtcdLog => "etcd-log",
            Format::KvLog => "kv-log",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Format::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| {
            let names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
            format!("unknown format {s:?}; expected one of {}", names.join(", "))
        })
    }
}

/// Guesses the format from the first meaningful line (blank lines and
/// `;` comments skipped).
pub fn detect(text: &str) -> Option<Format> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with(';'))?;
    if first.contains("jepsen.util") {
        Some(Format::EtcdLog)
    } else if first.starts_with("{\"") || first.starts_with("{ \"") {
        Some(Format::Jsonl)
    } else if ['{', '[', '(', '#', '^'].iter().any(|&c| first.starts_with(c)) {
        let kv = first.contains(":key") && [":get", ":put", ":append"].iter().any(|f| first.contains(f));
        Some(if kv { Format::KvLog } else { Format::Edn })
    } else {
        None
    }
}

/// Reads and parses a file, detecting its format unless one is given.
/// Returns the history and the format it was read as. A big JSONL file
/// is read on every core; see [`read_file_with`].
pub fn read_file(path: &Path, format: Option<Format>) -> Result<(History, Format), InputError> {
    read_file_with(path, format, every_core(), &mut ())
}

/// The threads a machine can run at once.
fn every_core() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// As [`read_file`], on at most `threads` threads, handing each op to
/// `hook` as it is read. JSONL files of a few MiB and more are read in
/// stretches side by side (each by a [fork](Hook::fork) of the hook);
/// other formats are read in one go.
pub fn read_file_with<H: Hook + Send + Sync>(
    path: &Path,
    format: Option<Format>,
    threads: usize,
    hook: &mut H,
) -> Result<(History, Format), InputError> {
    let source = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| InputError::at(&source, 0, format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let line_start = bytes[..at].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
        let column = String::from_utf8_lossy(&bytes[line_start..at]).chars().count() + 1;
        InputError::at(
            &source,
            line,
            format!("byte 0x{:02x} is not UTF-8: histories are UTF-8 text", bytes[at]),
        )
        .with_column(column)
    })?;
    parse_with(&text, &source, format, threads, hook)
}

/// Parses history text; `source` names it in errors.
pub fn parse(text: &str, source: &str, format: Option<Format>) -> Result<(History, Format), InputError> {
    parse_with(text, source, format, every_core(), &mut ())
}

/// As [`parse`], on at most `threads` threads (see [`read_file_with`]),
/// handing each op to `hook` as it is read.
pub fn parse_with<H: Hook + Send + Sync>(
    text: &str,
    source: &str,
    format: Option<Format>,
    threads: usize,
    hook: &mut H,
) -> Result<(History, Format), InputError> {
    if text.trim().is_empty() {
        return Err(InputError::at(
            source,
            0,
            "the file is empty: there is no history to check",
        ));
    }
    let format = match format.or_else(|| detect(text)) {
        Some(f) => f,
        None => {
            return Err(InputError::at(
                source,
                text.lines()
                    .position(|l| !l.trim().is_empty() && !l.trim().starts_with(';'))
                    .map_or(0, |i| i + 1),
                "cannot tell the format: expected JSON Lines ({\"type\": ...}), Jepsen EDN \
                 ({:type ...}, [{...}] or ({...})), or a Porcupine log (INFO  jepsen.util - ...); \
                 use --format to say which",
            ))
        }
    };
    let mut history = match format {
        Format::Jsonl => jsonl::parse(text, source, threads, hook)?,
        Format::Edn | Format::KvLog => edn::parse(text, source, hook)?,
        Format::EtcdLog => {
            let mut h = porcupine::parse_etcd(text, source)?;
            h.ops.iter_mut().try_for_each(|op| hook.take(op, None))?;
            h
        }
    };
    if format != Format::EtcdLog {
        split_independent_tuples(&mut history);
    }
    Ok((history, format))
}

/// Jepsen's independent workloads wrap every value as `[key value]`. The
/// tell is a read invocation: plain reads invoke with nil, independent ones
/// with `[k nil]`. Only when every client op is a pair and such a read
/// exists are the tuples split, so a cas-only history stays as it is.
fn split_independent_tuples(h: &mut History) {
    let client = |p: &Process| matches!(p, Process::Client(_));
    let mut saw_tuple_read = false;
    for op in &h.ops {
        if !client(&op.process) || op.key.is_some() {
            continue;
        }
        if op.value.as_pair().is_none() {
            return;
        }
        saw_tuple_read |= op.kind == OpType::Invoke && op.f == Function::Read;
    }
    if !saw_tuple_read {
        return;
    }
    for op in h.ops.iter_mut().filter(|o| client(&o.process)) {
        if let Value::List(mut pair) = std::mem::take(&mut op.value) {
            op.value = pair.pop().unwrap_or_default();
            op.key = pair.pop();
        }
    }
}

/// Reads function names, sharing one allocation per distinct name a
/// `Function` does not know: histories repeat a handful of names millions
/// of times.
#[derive(Default)]
struct Names(HashMap<Box<str>, Function>);

impl Names {
    fn get(&mut self, name: &str) -> Function {
        if let Some(f) = Function::known(name).or_else(|| self.0.get(name).cloned()) {
            return f;
        }
        let f = Function::Other(name.into());
        self.0.insert(name.into(), f.clone());
        f
    }
}

/// Checks the time field's presence is consistent and fills it in from
/// the event order when the format has none.
struct Clock {
    timed: Option<bool>,
}

impl Clock {
    fn new() -> Self {
        Clock { timed: None }
    }

    /// The time of the `n`th event given the time field it had, if any.
    fn time(&mut self, given: Option<u64>, n: usize) -> Result<u64, String> {
        let has = given.is_some();
        match self.timed {
            None => self.timed = Some(has),
            Some(t) if t != has => return Err(Self::mismatch(t)),
            _ => {}
        }
        Ok(given.unwrap_or(n as u64))
    }

    fn timed(&self) -> bool {
        self.timed.unwrap_or(false)
    }

    /// Why an event cannot follow events that were `timed` (or not).
    fn mismatch(timed: bool) -> String {
        if timed {
            "missing time: the events before this one have a time field".into()
        } else {
            "unexpected time: the events before this one have no time field".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_format() {
        assert_eq!(detect("{\"type\":\"invoke\"}"), Some(Format::Jsonl));
        assert_eq!(detect("\n{:type :invoke, :f :read}"), Some(Format::Edn));
        assert_eq!(detect("[{:type :invoke}]"), Some(Format::Edn));
        assert_eq!(detect("#jepsen.history.Op{:index 0}"), Some(Format::Edn));
        assert_eq!(
            detect("{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}"),
            Some(Format::KvLog)
        );
        assert_eq!(
            detect("INFO  jepsen.util - 0\t:invoke\t:read\tnil"),
            Some(Format::EtcdLog)
        );
        assert_eq!(detect("hello"), None);
        assert_eq!(
            detect("; a Jepsen history\n\n({:type :invoke})"),
            Some(Format::Edn)
        );
    }

    #[test]
    fn undetectable_input_says_what_was_expected() {
        let e = parse("\n\nhello world\n", "x.txt", None).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("--format"), "{e}");
    }

    #[test]
    fn independent_tuples_become_keys() {
        let text = "{:type :invoke, :f :read, :process 0, :value [1 nil]}\n\
                    {:type :ok, :f :read, :process 0, :value [1 3]}\n\
                    {:type :invoke, :f :cas, :process 1, :value [2 [3 4]]}\n\
                    {:type :invoke, :f :start, :process :nemesis, :value nil}\n";
        let (h, _) = parse(text, "t.edn", None).unwrap();
        assert_eq!(h.ops[1].key, Some(Value::Int(1)));
        assert_eq!(h.ops[1].value, Value::Int(3));
        assert_eq!(h.ops[2].value.to_string(), "[3 4]");
        assert_eq!(h.ops[3].key, None);
    }

    #[test]
    fn plain_cas_pairs_are_not_tuples() {
        let text = "{:type :invoke, :f :cas, :process 0, :value [1 2]}\n";
        let (h, _) = parse(text, "t.edn", None).unwrap();
        assert_eq!(h.ops[0].key, None);
    }
}
