//! Transactions as the transactional checkers see them: each `txn`
//! operation's micro-ops (`[append k v]`, `[r k [v ...]]`, `[w k v]`,
//! `[r k v]`), with keys and values interned to small integers so a
//! million transactions fit in a few hundred megabytes. Parsing checks the
//! shape and names file, line and micro-op; it does not judge what was
//! read.

use std::ops::Range;
use std::path::Path;

use hashbrown::HashMap;

use crate::error::InputError;
use crate::history::{History, Op, OpType, Outcome, Process};
use crate::import::{self, Format};
use crate::value::Value;

/// Which transactional workload a history records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    /// Appends to lists; reads return whole lists.
    ListAppend,
    /// Blind writes to registers; reads return one value.
    RwRegister,
}

impl Workload {
    /// Every workload.
    pub const ALL: [Workload; 2] = [Workload::ListAppend, Workload::RwRegister];

    /// The workload a history's `txn` ops are written in, from the names
    /// of their micro-ops: Elle's `append` (or a read of a list) is
    /// list-append, its `w` rw-register. Knossos' `read`/`write` are
    /// neither: that is the multi-register model's.
    pub fn guess(history: &History) -> Option<Workload> {
        let mut reads_scalars = false;
        for op in history.ops.iter().filter(|o| &*o.f == "txn") {
            for m in op.value.as_list().unwrap_or(&[]) {
                match m.as_list() {
                    Some([f, _, v]) => match f.as_str() {
                        Some("append") => return Some(Workload::ListAppend),
                        Some("w") => return Some(Workload::RwRegister),
                        Some("r") if v.as_list().is_some() => return Some(Workload::ListAppend),
                        Some("r") if !v.is_nil() => reads_scalars = true,
                        _ => {}
                    },
                    _ => continue,
                }
            }
        }
        reads_scalars.then_some(Workload::RwRegister)
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::ListAppend => "list-append",
            Workload::RwRegister => "rw-register",
        }
    }
}

impl std::str::FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Workload, String> {
        Workload::ALL.into_iter().find(|w| w.name() == s).ok_or_else(|| {
            format!("unknown transactional workload {s:?}: expected list-append or rw-register")
        })
    }
}

/// Builds [`Txns`] op by op as a history is read (an [`import::Hook`]),
/// then pairs the history and assembles the transactions.
struct TxnReader {
    workload: Workload,
    txns: Txns,
    /// Per op of the history: the range of `txns.mops` its value became.
    ranges: Vec<Option<(u32, u32)>>,
}

impl TxnReader {
    fn new(workload: Workload, source: &str) -> TxnReader {
        TxnReader {
            workload,
            txns: Txns {
                source: source.into(),
                ..Txns::default()
            },
            ranges: Vec::new(),
        }
    }

    /// Reads the op's micro-ops: an invocation's (what was attempted) and
    /// a committed completion's (what was read).
    fn read(&mut self, op: &Op) -> Result<(), InputError> {
        let wanted = matches!(op.process, Process::Client(_))
            && &*op.f == "txn"
            && matches!(op.kind, OpType::Invoke | OpType::Ok);
        let range = if wanted {
            Some(
                self.txns
                    .micro_ops(&op.value, op.line, self.workload, op.kind == OpType::Ok)?,
            )
        } else {
            None
        };
        self.ranges.push(range);
        Ok(())
    }

    /// As `read`, then leaves nil in a client op's value.
    fn take(&mut self, op: &mut Op) -> Result<(), InputError> {
        self.read(op)?;
        if matches!(op.process, Process::Client(_)) {
            op.value = Value::Nil;
        }
        Ok(())
    }

    fn finish(mut self, history: &History) -> Result<Txns, InputError> {
        let pairs = history.pair_events()?;
        let t = &mut self.txns;
        t.timed = history.timed;
        t.txns.reserve(pairs.pairs.len());
        for p in &pairs.pairs {
            let op = &history.ops[p.invoke];
            let done = p.completion.map(|i| &history.ops[i]);
            if &*op.f != "txn" {
                return Err(t.error(
                    op.line,
                    format!(
                        "function {}: a {} history has only txn operations",
                        crate::error::excerpt(&op.f, 40),
                        self.workload.name()
                    ),
                ));
            }
            // A committed transaction's completion carries what it read;
            // for the others only the invocation says what was attempted.
            let range = match (p.outcome, p.completion) {
                (Outcome::Ok, Some(c)) => self.ranges[c],
                _ => self.ranges[p.invoke],
            };
            let (start, end) = range.unwrap_or((0, 0));
            t.txns.push(Txn {
                process: p.process,
                outcome: p.outcome,
                call: op.time,
                ret: done.filter(|_| p.outcome != Outcome::Info).map(|d| d.time),
                line: op.line,
                mops: start..end,
            });
        }
        Ok(self.txns)
    }
}

/// One micro-op, with keys and values interned (see [`Txns::key`],
/// [`Txns::value`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mop {
    /// Appended `value` to the list at `key`.
    Append {
        /// The key.
        key: u32,
        /// The element.
        value: u32,
    },
    /// Read the list at `key`: `Txns::elems[start..start+len]`, or unknown
    /// (an invocation, or an indeterminate transaction).
    ReadList {
        /// The key.
        key: u32,
        /// The list read, as a range of `Txns::elems`; `None`: not known.
        list: Option<(u32, u32)>,
    },
    /// Wrote `value` to the register at `key`.
    Write {
        /// The key.
        key: u32,
        /// The value.
        value: u32,
    },
    /// Read the register at `key`.
    Read {
        /// The key.
        key: u32,
        /// What was read: `Some(None)` nil (the initial state), `None` not
        /// known.
        value: Option<Option<u32>>,
    },
}

impl Mop {
    /// The key it touches.
    pub fn key(self) -> u32 {
        match self {
            Mop::Append { key, .. }
            | Mop::ReadList { key, .. }
            | Mop::Write { key, .. }
            | Mop::Read { key, .. } => key,
        }
    }
}

/// One transaction.
#[derive(Clone, Debug)]
pub struct Txn {
    /// Who ran it.
    pub process: Process,
    /// Committed (`Ok`), aborted (`Fail`) or unknown (`Info`).
    pub outcome: Outcome,
    /// When it was invoked.
    pub call: u64,
    /// When it completed; `None` if it never did.
    pub ret: Option<u64>,
    /// The line of its invocation.
    pub line: usize,
    /// Its micro-ops, a range of `Txns::mops`.
    pub mops: Range<u32>,
}

/// Every transaction of a history, in invocation order.
#[derive(Clone, Debug, Default)]
pub struct Txns {
    /// The transactions.
    pub txns: Vec<Txn>,
    /// Every micro-op, transaction after transaction.
    pub mops: Vec<Mop>,
    /// Every list read, end to end.
    pub elems: Vec<u32>,
    keys: Interner,
    values: Interner,
    /// The history's file name, for messages.
    pub source: String,
    /// Whether times are a real clock.
    pub timed: bool,
}

/// Small ids for values. Integers, nearly every key and element in
/// practice, have a map of their own that hashes a machine word.
#[derive(Clone, Debug, Default)]
struct Interner {
    ints: HashMap<i64, u32>,
    others: HashMap<Value, u32>,
    values: Vec<Value>,
}

impl Interner {
    fn id(&mut self, v: &Value) -> u32 {
        let next = self.values.len() as u32;
        let id = match v {
            Value::Int(i) => *self.ints.entry(*i).or_insert(next),
            _ => match self.others.get(v) {
                Some(&id) => id,
                None => {
                    self.others.insert(v.clone(), next);
                    next
                }
            },
        };
        if id == next {
            self.values.push(v.clone());
        }
        id
    }
}

impl Txns {
    /// Reads the `txn` operations of a history as `workload`'s transactions.
    pub fn parse(history: &History, workload: Workload) -> Result<Txns, InputError> {
        let mut r = TxnReader::new(workload, &history.source);
        for op in &history.ops {
            r.read(op)?;
        }
        r.finish(history)
    }

    /// Reads a history file straight into transactions: each op's values
    /// become ids as the file is read and are not kept, so a million
    /// transactions take a few hundred megabytes instead of gigabytes.
    /// The history returned has every client op's value left out.
    pub fn read_file(
        path: &Path,
        format: Option<Format>,
        workload: Workload,
    ) -> Result<(History, Txns, Format), InputError> {
        let mut r = TxnReader::new(workload, &path.display().to_string());
        let (history, format) = import::read_file_with(path, format, &mut |op| r.take(op))?;
        let txns = r.finish(&history)?;
        Ok((history, txns, format))
    }

    /// The key with id `k`.
    pub fn key(&self, k: u32) -> &Value {
        &self.keys.values[k as usize]
    }

    /// The value with id `v`.
    pub fn value(&self, v: u32) -> &Value {
        &self.values.values[v as usize]
    }

    /// The micro-ops of transaction `t`.
    pub fn mops(&self, t: u32) -> &[Mop] {
        let r = &self.txns[t as usize].mops;
        &self.mops[r.start as usize..r.end as usize]
    }

    /// The elements of a list read.
    pub fn list(&self, (start, len): (u32, u32)) -> &[u32] {
        &self.elems[start as usize..(start + len) as usize]
    }

    /// Transaction `t` as a person reads it: `[[append 7 3] [r 9 [1 2]]]`.
    pub fn show(&self, t: u32) -> String {
        let parts: Vec<String> = self
            .mops(t)
            .iter()
            .map(|m| match *m {
                Mop::Append { key, value } => format!("[append {} {}]", self.key(key), self.value(value)),
                Mop::Write { key, value } => format!("[w {} {}]", self.key(key), self.value(value)),
                Mop::ReadList { key, list } => match list {
                    Some(l) => {
                        let items: Vec<String> =
                            self.list(l).iter().map(|v| self.value(*v).to_string()).collect();
                        format!("[r {} [{}]]", self.key(key), items.join(" "))
                    }
                    None => format!("[r {} ?]", self.key(key)),
                },
                Mop::Read { key, value } => match value {
                    Some(Some(v)) => format!("[r {} {}]", self.key(key), self.value(v)),
                    Some(None) => format!("[r {} nil]", self.key(key)),
                    None => format!("[r {} ?]", self.key(key)),
                },
            })
            .collect();
        format!("[{}]", parts.join(" "))
    }

    fn error(&self, line: usize, message: String) -> InputError {
        InputError::at(&self.source, line, message)
    }

    /// The micro-ops of one txn value, appended to `mops`; their range.
    fn micro_ops(
        &mut self,
        value: &Value,
        line: usize,
        workload: Workload,
        known: bool,
    ) -> Result<(u32, u32), InputError> {
        let Some(mops) = value.as_list() else {
            return Err(self.error(
                line,
                format!(
                    "txn value {}: expected a list of micro-ops such as [[\"append\", 1, 2], [\"r\", 1, null]]",
                    value.short()
                ),
            ));
        };
        let start = self.mops.len() as u32;
        for (i, m) in mops.iter().enumerate() {
            let mop = self.mop(m, workload, known).map_err(|why| {
                self.error(
                    line,
                    format!("micro-op {} of the txn, {}: {why}", i + 1, m.short()),
                )
            })?;
            self.mops.push(mop);
        }
        Ok((start, self.mops.len() as u32))
    }

    fn mop(&mut self, m: &Value, workload: Workload, known: bool) -> Result<Mop, String> {
        let shape = || match workload {
            Workload::ListAppend => "expected [append key value] or [r key list]".to_string(),
            Workload::RwRegister => "expected [w key value] or [r key value]".to_string(),
        };
        let Some([f, k, v]) = m.as_list() else {
            return Err(shape());
        };
        let f = f.as_str().ok_or_else(shape)?;
        if !k.is_scalar() || k.is_nil() {
            return Err(format!("key {}: expected an integer or a string", k.short()));
        }
        let key = self.keys.id(k);
        match (workload, f) {
            (Workload::ListAppend, "append") => {
                if !v.is_scalar() || v.is_nil() {
                    return Err(format!("appended {}: expected an integer or a string", v.short()));
                }
                Ok(Mop::Append {
                    key,
                    value: self.values.id(v),
                })
            }
            (Workload::ListAppend, "r" | "read") => {
                if !known {
                    return Ok(Mop::ReadList { key, list: None });
                }
                // A committed read of nil found no list: the empty one.
                let items: &[Value] = match v {
                    Value::Nil => &[],
                    Value::List(l) => l,
                    _ => return Err(format!("read {}: expected a list of elements", v.short())),
                };
                let start = self.elems.len() as u32;
                for e in items {
                    let id = self.values.id(e);
                    self.elems.push(id);
                }
                Ok(Mop::ReadList {
                    key,
                    list: Some((start, items.len() as u32)),
                })
            }
            (Workload::RwRegister, "w" | "write") => {
                if !v.is_scalar() || v.is_nil() {
                    return Err(format!("written {}: expected an integer or a string", v.short()));
                }
                Ok(Mop::Write {
                    key,
                    value: self.values.id(v),
                })
            }
            (Workload::RwRegister, "r" | "read") => {
                if !v.is_scalar() {
                    return Err(format!("read {}: expected one value or nil", v.short()));
                }
                let value = known.then(|| (!v.is_nil()).then(|| self.values.id(v)));
                Ok(Mop::Read { key, value })
            }
            _ => Err(shape()),
        }
    }
}
