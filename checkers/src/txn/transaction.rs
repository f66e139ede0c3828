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
use crate::function::Function;
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
    /// neither: that is the multi-register model's. Transactions that only
    /// read nil with Elle's `r` are still transactions; both checkers read
    /// nil as a key never written and judge them alike, so they are called
    /// rw-register.
    pub fn guess(history: &History) -> Option<Workload> {
        match Self::sign(history) {
            Sign::Workload(w) => Some(w),
            Sign::NilReads => Some(Workload::RwRegister),
            Sign::Nothing => None,
        }
    }

    /// As [`Workload::guess`], from the first part of a history: reads of
    /// nil alone decide nothing there, for the rest may append or write.
    pub fn guess_from_start(history: &History) -> Option<Workload> {
        match Self::sign(history) {
            Sign::Workload(w) => Some(w),
            Sign::NilReads | Sign::Nothing => None,
        }
    }

    fn sign(history: &History) -> Sign {
        let mut reads_scalars = false;
        let mut reads_nil = false;
        for op in history.ops.iter().filter(|o| o.f == Function::Txn) {
            for m in op.value.as_list().unwrap_or(&[]) {
                match m.as_list() {
                    Some([f, _, v]) => match f.as_str() {
                        Some("append") => return Sign::Workload(Workload::ListAppend),
                        Some("w") => return Sign::Workload(Workload::RwRegister),
                        Some("r") if v.as_list().is_some() => return Sign::Workload(Workload::ListAppend),
                        Some("r") if !v.is_nil() => reads_scalars = true,
                        Some("r") => reads_nil = true,
                        _ => {}
                    },
                    _ => continue,
                }
            }
        }
        match (reads_scalars, reads_nil) {
            (true, _) => Sign::Workload(Workload::RwRegister),
            (false, true) => Sign::NilReads,
            (false, false) => Sign::Nothing,
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::ListAppend => "list-append",
            Workload::RwRegister => "rw-register",
        }
    }
}

/// What a history's micro-ops say of its workload.
enum Sign {
    /// A micro-op only one workload has.
    Workload(Workload),
    /// Elle's reads, every one of nil: either workload.
    NilReads,
    /// No micro-op of either.
    Nothing,
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

    /// Reads the micro-ops of the op, if it is [wanted](Self::wanted).
    fn read(&mut self, op: &Op) -> Result<(), InputError> {
        let range = if Self::wanted(op) {
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

    /// Whether the op is one whose micro-ops are read: an invocation's
    /// (what was attempted) and a committed completion's (what was read).
    fn wanted(op: &Op) -> bool {
        matches!(op.process, Process::Client(_))
            && op.f == Function::Txn
            && matches!(op.kind, OpType::Invoke | OpType::Ok)
    }

    fn finish(mut self, history: &History) -> Result<Txns, InputError> {
        let pairs = history.pair_events()?;
        let t = &mut self.txns;
        t.timed = history.timed;
        t.txns.reserve(pairs.pairs.len());
        for p in &pairs.pairs {
            let op = &history.ops[p.invoke];
            let done = p.completion.map(|i| &history.ops[i]);
            if op.f != Function::Txn {
                return Err(t.error(
                    op.line,
                    format!(
                        "function {}: a {} history has only txn operations",
                        crate::error::excerpt(op.f.name(), 40),
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

/// Takes values as JSON text: the common shape of a micro-op is read
/// straight into ids ([`Txns::scan`]); anything else becomes a `Value`
/// first. Client ops keep no value.
impl import::Hook for TxnReader {
    fn wants_json(&self) -> bool {
        true
    }

    fn take(&mut self, op: &mut Op, raw: Option<&str>) -> Result<(), InputError> {
        if let Some(json) = raw {
            let known = op.kind == OpType::Ok;
            if Self::wanted(op) {
                if let Some(range) = self.txns.scan(json, self.workload, known) {
                    self.ranges.push(Some(range));
                    return Ok(());
                }
            }
            op.value = import::json_value(json, &self.txns.source, op.line)?;
        }
        self.read(op)?;
        if matches!(op.process, Process::Client(_)) {
            op.value = Value::Nil;
        }
        Ok(())
    }

    fn fork(&self) -> TxnReader {
        TxnReader::new(self.workload, &self.txns.source)
    }

    /// A fork's keys and values have ids of its own: they are interned
    /// here in the order the fork met them, which gives every one the id
    /// a single reader would have given it, and its micro-ops, list
    /// reads and ranges are renumbered to match.
    fn join(&mut self, later: TxnReader) {
        let t = &mut self.txns;
        let keys: Vec<u32> = later.txns.keys.values.iter().map(|k| t.keys.id(k)).collect();
        let values: Vec<u32> = later.txns.values.values.iter().map(|v| t.values.id(v)).collect();
        let (key, value) = (|k: u32| keys[k as usize], |v: u32| values[v as usize]);
        let (mops, elems) = (t.mops.len() as u32, t.elems.len() as u32);
        t.elems.extend(later.txns.elems.iter().map(|&v| value(v)));
        t.mops.extend(later.txns.mops.iter().map(|m| match *m {
            Mop::Append { key: k, value: v } => Mop::Append {
                key: key(k),
                value: value(v),
            },
            Mop::ReadList { key: k, list } => Mop::ReadList {
                key: key(k),
                list: list.map(|(start, len)| (start + elems, len)),
            },
            Mop::Write { key: k, value: v } => Mop::Write {
                key: key(k),
                value: value(v),
            },
            Mop::Read { key: k, value: v } => Mop::Read {
                key: key(k),
                value: v.map(|read| read.map(value)),
            },
        }));
        self.ranges.extend(
            later
                .ranges
                .iter()
                .map(|r| r.map(|(start, end)| (start + mops, end + mops))),
        );
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
    fn atom(&mut self, a: Atom<'_>) -> u32 {
        match a {
            Atom::Int(i) => {
                let next = self.values.len() as u32;
                let id = *self.ints.entry(i).or_insert(next);
                if id == next {
                    self.values.push(Value::Int(i));
                }
                id
            }
            Atom::Str(s) => self.id(&Value::Str(s.into())),
        }
    }

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
    /// The history returned has every client op's value left out. A big
    /// JSONL file is read on up to `threads` threads.
    pub fn read_file(
        path: &Path,
        format: Option<Format>,
        workload: Workload,
        threads: usize,
    ) -> Result<(History, Txns, Format), InputError> {
        let mut r = TxnReader::new(workload, &path.display().to_string());
        let (history, format) = import::read_file_with(path, format, threads, &mut r)?;
        let txns = r.finish(&history)?;
        Ok((history, txns, format))
    }

    /// As [`Txns::read_file`], from history text; `source` names it in
    /// errors.
    pub fn read_text(
        text: &str,
        source: &str,
        format: Option<Format>,
        workload: Workload,
    ) -> Result<(History, Txns, Format), InputError> {
        let mut r = TxnReader::new(workload, source);
        let (history, format) = import::parse_with(text, source, format, 1, &mut r)?;
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

    /// One txn value's micro-ops straight from JSON text, when every
    /// micro-op has the common shape (`["append", 1, 2]`, `["r", 1, [2, 3]]`,
    /// `["w", 1, 2]`, `["r", 1, null]`: integer or plain string keys and
    /// elements, no escapes): appended to `mops`, their range. `None` for
    /// anything else, with nothing changed: the general reader then says
    /// what is wrong, or reads what this one does not.
    fn scan(&mut self, json: &str, workload: Workload, known: bool) -> Option<(u32, u32)> {
        let mut s = Scanner::new(json);
        let mut scratch: Vec<(&str, Atom, Arg)> = Vec::new();
        let mut atoms: Vec<Atom> = Vec::new();
        s.byte(b'[')?;
        if !s.peek(b']') {
            loop {
                s.byte(b'[')?;
                let f = s.string()?;
                s.byte(b',')?;
                let key = s.atom()?;
                s.byte(b',')?;
                let arg = if s.peek(b'[') {
                    s.byte(b'[')?;
                    let start = atoms.len();
                    if !s.peek(b']') {
                        loop {
                            atoms.push(s.atom()?);
                            if !s.comma()? {
                                break;
                            }
                        }
                    }
                    s.byte(b']')?;
                    Arg::List(start..atoms.len())
                } else if s.null() {
                    Arg::Nil
                } else {
                    Arg::Atom(s.atom()?)
                };
                s.byte(b']')?;
                scratch.push((f, key, arg));
                if !s.comma()? {
                    break;
                }
            }
        }
        s.byte(b']')?;
        s.end()?;
        // Every micro-op must be one this workload reads exactly as the
        // general reader would, before anything is interned.
        let fits = scratch.iter().all(|(f, _, arg)| {
            matches!(
                (workload, *f, arg),
                (Workload::ListAppend, "append", Arg::Atom(_))
                    | (Workload::ListAppend, "r" | "read", Arg::List(_) | Arg::Nil)
                    | (Workload::RwRegister, "w" | "write", Arg::Atom(_))
                    | (Workload::RwRegister, "r" | "read", Arg::Atom(_) | Arg::Nil)
            )
        });
        if !fits {
            return None;
        }
        let start = self.mops.len() as u32;
        for (f, key, arg) in scratch {
            let key = self.keys.atom(key);
            let mop = match (workload, f, arg) {
                (Workload::ListAppend, "append", Arg::Atom(v)) => Mop::Append {
                    key,
                    value: self.values.atom(v),
                },
                (Workload::ListAppend, _, _) if !known => Mop::ReadList { key, list: None },
                (Workload::ListAppend, _, arg) => {
                    let items = match arg {
                        Arg::List(r) => &atoms[r],
                        _ => &[],
                    };
                    let at = self.elems.len() as u32;
                    for &e in items {
                        let id = self.values.atom(e);
                        self.elems.push(id);
                    }
                    Mop::ReadList {
                        key,
                        list: Some((at, items.len() as u32)),
                    }
                }
                (Workload::RwRegister, "w" | "write", Arg::Atom(v)) => Mop::Write {
                    key,
                    value: self.values.atom(v),
                },
                (Workload::RwRegister, _, arg) => Mop::Read {
                    key,
                    value: known.then(|| match arg {
                        Arg::Atom(v) => Some(self.values.atom(v)),
                        _ => None,
                    }),
                },
            };
            self.mops.push(mop);
        }
        Some((start, self.mops.len() as u32))
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

/// A key or element as [`Txns::scan`] reads it.
#[derive(Clone, Copy)]
enum Atom<'a> {
    Int(i64),
    Str(&'a str),
}

/// The third element of a micro-op as [`Txns::scan`] reads it.
enum Arg<'a> {
    Atom(Atom<'a>),
    Nil,
    /// A range of the scan's list elements.
    List(Range<usize>),
}

/// A reader of the little JSON a micro-op needs; every method says `None`
/// (or false) for what it does not read, and the caller gives up.
struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Scanner<'a> {
        Scanner { text, at: 0 }
    }

    fn rest(&self) -> &'a [u8] {
        &self.text.as_bytes()[self.at..]
    }

    fn skip_space(&mut self) {
        while let [b' ' | b'\t' | b'\r' | b'\n', ..] = self.rest() {
            self.at += 1;
        }
    }

    fn peek(&mut self, b: u8) -> bool {
        self.skip_space();
        self.rest().first() == Some(&b)
    }

    fn byte(&mut self, b: u8) -> Option<()> {
        self.peek(b).then(|| self.at += 1)
    }

    /// A comma (true) or nothing before a closing bracket (false).
    fn comma(&mut self) -> Option<bool> {
        if self.byte(b',').is_some() {
            return Some(true);
        }
        self.peek(b']').then_some(false)
    }

    fn null(&mut self) -> bool {
        self.skip_space();
        let null = self.rest().starts_with(b"null");
        if null {
            self.at += 4;
        }
        null
    }

    /// A string without escapes. The text is UTF-8 and quotes are ASCII,
    /// so the slice between them is too.
    fn string(&mut self) -> Option<&'a str> {
        self.byte(b'"')?;
        let len = self.rest().iter().position(|&c| c == b'"' || c == b'\\')?;
        if self.rest()[len] != b'"' {
            return None;
        }
        let s = &self.text[self.at..self.at + len];
        self.at += len + 1;
        Some(s)
    }

    fn atom(&mut self) -> Option<Atom<'a>> {
        if self.peek(b'"') {
            return self.string().map(Atom::Str);
        }
        let rest = self.rest();
        let (negative, digits) = match rest {
            [b'-', digits @ ..] => (true, digits),
            digits => (false, digits),
        };
        let mut n: i64 = 0;
        let mut len = 0;
        for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
            let d = i64::from(c - b'0');
            n = n.checked_mul(10)?;
            n = if negative {
                n.checked_sub(d)?
            } else {
                n.checked_add(d)?
            };
            len += 1;
        }
        // Fractions and exponents are the general reader's to refuse.
        if len == 0 || matches!(digits.get(len), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.at += len + usize::from(negative);
        Some(Atom::Int(n))
    }

    fn end(&mut self) -> Option<()> {
        self.skip_space();
        self.rest().is_empty().then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every transaction as text, with what the checkers use of it.
    fn summary(t: &Txns) -> Vec<String> {
        (0..t.txns.len() as u32)
            .map(|i| {
                let x = &t.txns[i as usize];
                format!(
                    "{:?} {:?} {} {:?} {}",
                    x.process,
                    x.outcome,
                    x.call,
                    x.ret,
                    t.show(i)
                )
            })
            .collect()
    }

    /// Reads `text` both ways: as `Value`s, and as JSON text scanned into
    /// ids; they must agree.
    fn both(text: &str, workload: Workload) -> Result<Vec<String>, InputError> {
        let (history, _) = import::parse(text, "t.jsonl", Some(Format::Jsonl))?;
        let general = Txns::parse(&history, workload)?;
        let (_, scanned, _) = Txns::read_text(text, "t.jsonl", Some(Format::Jsonl), workload)?;
        assert_eq!(summary(&general), summary(&scanned), "{text}");
        assert_eq!(general.elems, scanned.elems, "{text}");
        Ok(summary(&scanned))
    }

    /// Reads `text` as transactions on `threads` threads.
    fn on_threads(text: &str, workload: Workload, threads: usize) -> Txns {
        let mut r = TxnReader::new(workload, "t.jsonl");
        let (history, _) = import::parse_with(text, "t.jsonl", Some(Format::Jsonl), threads, &mut r).unwrap();
        r.finish(&history).unwrap()
    }

    #[test]
    fn forks_joined_give_every_id_one_reader_gives() {
        // Big enough to be read in stretches; string keys and values as
        // well as integers, reads of lists and of registers, and ops
        // whose value is not in the common shape (read as a `Value`).
        let mut text = String::new();
        for t in 0..40_000u32 {
            let (p, k) = (t % 7, t % 13);
            let mops = match t % 4 {
                0 => format!("[[\"append\",{k},{t}],[\"r\",\"k{k}\",[{},{t}]]]", t / 2),
                1 => format!(
                    "[[\"r\",{k},[{},\"s{t}\"]],[\"append\",\"k{k}\",\"v{t}\"]]",
                    t / 3
                ),
                2 => format!("[[\"append\", {k}, {t}], [\"r\", {k}, null]]"),
                _ => format!("[[\"r\",{k},[]],[\"append\",{},{t}]]", k + 100),
            };
            text += &format!("{{\"type\":\"invoke\",\"process\":{p},\"f\":\"txn\",\"value\":{mops}}}\n");
            text += &format!("{{\"type\":\"ok\",\"process\":{p},\"f\":\"txn\",\"value\":{mops}}}\n");
        }
        assert!(
            text.len() > 4 << 20,
            "{} bytes: too short to be read in stretches",
            text.len()
        );
        let one = on_threads(&text, Workload::ListAppend, 1);
        for threads in [2, 3] {
            let many = on_threads(&text, Workload::ListAppend, threads);
            assert_eq!(many.mops, one.mops, "{threads} threads");
            assert_eq!(many.elems, one.elems);
            assert_eq!(summary(&many), summary(&one));
            assert_eq!(many.keys.values, one.keys.values);
            assert_eq!(many.values.values, one.values.values);
        }
    }

    #[test]
    fn scanned_json_reads_as_values_do() {
        let text = r#"{"type":"invoke","process":0,"f":"txn","value":[["append",1,2],["r",1,null]]}
{"type":"invoke","process":1,"f":"txn","value":[ [ "append" , "k" , -3 ] , ["r","k\u0041",null],["append",true,"x"]]}
{"type":"ok","process":0,"f":"txn","value":[["append",1,2],["r",1,[2]]]}
{"type":"invoke","process":"nemesis","f":"start","value":["n1","n2"]}
{"type":"ok","process":1,"f":"txn","value":[["append","k",-3],["r","kA",["x",-3,[1]]],["append",true,"x"]]}
{"type":"invoke","process":2,"f":"txn","value":[]}
{"type":"fail","process":2,"f":"txn","value":[["append",1,"\u00e9"]]}
"#;
        let txns = both(text, Workload::ListAppend).unwrap();
        assert_eq!(
            txns[1],
            r#"Client(1) Ok 1 Some(4) [[append "k" -3] [r "kA" ["x" -3 [1]]] [append true "x"]]"#
        );
        let rw = r#"{"type":"invoke","process":0,"f":"txn","value":[["w",1,2],["r",2,null]]}
{"type":"ok","process":0,"f":"txn","value":[["w",1,2],["r",2,null]]}
{"type":"invoke","process":1,"f":"txn","value":[["r",1,null],["r","a b",null]]}
{"type":"ok","process":1,"f":"txn","value":[["r",1,2],["r","a b","c"]]}
"#;
        let txns = both(rw, Workload::RwRegister).unwrap();
        assert_eq!(txns[1], r#"Client(1) Ok 2 Some(3) [[r 1 2] [r "a b" "c"]]"#);
    }

    #[test]
    fn common_shapes_are_scanned() {
        let mut t = Txns::default();
        for (json, workload) in [
            (
                r#"[["append",7,1],["r",8,[]],["r", "k" ,[ 1 , -2,"x"] ]]"#,
                Workload::ListAppend,
            ),
            (r#"[ ]"#, Workload::ListAppend),
            (r#"[["w",1,2],["r",2,null],["r",3,"a"]]"#, Workload::RwRegister),
        ] {
            assert!(t.scan(json, workload, true).is_some(), "{json}");
        }
        for json in [
            r#"[["r","a\"b",[]]]"#,
            r#"[["r",1,[[1]]]]"#,
            r#"[["r",1,[1.0]]]"#,
            r#"[["r",1,[]],]"#,
        ] {
            assert!(t.scan(json, Workload::ListAppend, true).is_none(), "{json}");
        }
    }

    #[test]
    fn transactions_that_only_read_nil_are_transactional_and_valid() {
        let edn = "{:type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil]], :process 0}\n\
                   {:type :ok, :f :txn, :value [[:r :x nil] [:r :y nil]], :process 0}\n";
        let jsonl = "{\"type\":\"invoke\",\"process\":0,\"f\":\"txn\",\"value\":[[\"r\",\"x\",null]]}\n\
                     {\"type\":\"ok\",\"process\":0,\"f\":\"txn\",\"value\":[[\"r\",\"x\",null]]}\n";
        for (text, source) in [(edn, "h.edn"), (jsonl, "h.jsonl")] {
            let (history, _) = import::parse(text, source, None).unwrap();
            assert_eq!(Workload::guess(&history), Some(Workload::RwRegister), "{source}");
            // The first part of a longer file: its rest may append.
            assert_eq!(Workload::guess_from_start(&history), None, "{source}");
            for w in Workload::ALL {
                let r = crate::txn::check(&history, w, &crate::txn::Options::default()).unwrap();
                assert_eq!(
                    r.verdict,
                    crate::Verdict::Valid,
                    "{source} as {}: {}",
                    w.name(),
                    r.sentence
                );
            }
        }
        // Knossos' read and write stay the multi-register model's.
        let knossos = "{:type :invoke, :f :txn, :value [[:read :x nil]], :process 0}\n";
        let (history, _) = import::parse(knossos, "k.edn", None).unwrap();
        assert_eq!(Workload::guess(&history), None);
    }

    #[test]
    fn scanned_json_errors_as_values_do() {
        for (line, workload, want) in [
            (r#"[["r",1,5]]"#, Workload::ListAppend, "micro-op 1 of the txn"),
            (
                r#"[["append",1,2.5]]"#,
                Workload::ListAppend,
                "expected an integer",
            ),
            (r#"[["w",1,[2]]]"#, Workload::RwRegister, "micro-op 1 of the txn"),
            (
                r#"[["append",1,2]]"#,
                Workload::RwRegister,
                "expected [w key value]",
            ),
            (r#"{"a":1}"#, Workload::ListAppend, "invalid type: map"),
            (r#"3"#, Workload::ListAppend, "expected a list of micro-ops"),
        ] {
            let text = format!("{{\"type\":\"ok\",\"process\":0,\"f\":\"txn\",\"value\":{line}}}\n");
            let e = Txns::read_text(&text, "t.jsonl", None, workload).unwrap_err();
            assert!(e.message.contains(want) && e.line == 1, "{line}: {e}");
        }
    }
}
