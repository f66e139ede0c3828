//! Models: sequential specifications that the linearizability search
//! replays operations against.
//!
//! A model is small (Porcupine's shape): an initial state, `step` — the
//! state after an operation, or `None` when the operation is impossible
//! there — and how to read a history operation into the model's own typed
//! op (`parse`). Parsing is where each model's semantics for `fail` and
//! `info` live (Knossos drops failed ops; Porcupine's etcd model keeps a
//! failed cas as an observed mismatch). Partitioning is by the ops' `key`
//! (Jepsen's independent keys), done by the checker for every model.
//!
//! Optional hooks make the search fast without changing its answers:
//! `read_only` (an op that never changes the state may be linearized as
//! soon as it is enabled, with no branch kept), `reachable` (a state from
//! which a pending op can no longer become legal is dead), and
//! `overwrites` with `always_legal` (a state nothing can observe before
//! it is overwritten may be forgotten).

mod kv;
mod multi_register;
mod mutex;
mod queue;
mod register;
mod set;

use std::fmt;
use std::hash::Hash;
use std::str::FromStr;

pub use kv::Kv;
pub use multi_register::MultiRegister;
pub use mutex::Mutex;
pub use queue::{FifoQueue, UnorderedQueue};
pub use register::{Flavor, Register};
pub use set::Set;

use crate::error::excerpt;
use crate::function::Function;
use crate::history::Operation;
use crate::import::Format;
use crate::value::Value;

/// A sequential specification.
pub trait Model: Sync {
    /// The model's state; interned by the search, so cheap equality and
    /// hashing matter more than cheap cloning.
    type State: Clone + Eq + Hash + Send + fmt::Debug;
    /// An operation in the model's terms: what was asked and observed.
    type Op: Send + Sync + fmt::Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Reads a history operation. `Ok(None)` means the operation places no
    /// constraint and is left out (a failed write under Knossos semantics,
    /// a read whose result is unknown). `Err` says what shape was expected.
    fn parse(&self, op: &Operation) -> Result<Option<Self::Op>, String>;

    /// The state after `op`, or `None` if `op` cannot happen in `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// True if `op` leaves every state it is legal in unchanged (a read, an
    /// observed failed compare). The search linearizes such an op as soon
    /// as it is enabled and legal, keeping no alternative: any
    /// linearization that places it later can move it forward.
    fn read_only(&self, _op: &Self::Op) -> bool {
        false
    }

    /// Whether `pending` — an invoked op that must be linearized before
    /// anything invoked after it returns — can still become legal from
    /// `state` using only `others`: every op that may be linearized before
    /// it (which may include `pending` itself). `false` prunes the state.
    /// The default never prunes.
    fn reachable(&self, _state: &Self::State, _pending: &Self::Op, _others: &[&Self::Op]) -> bool {
        true
    }

    /// True if `op` replaces the whole state, whatever it was (a write, a
    /// put). With `always_legal`, this lets the search forget a state that
    /// nothing can observe before it is overwritten.
    fn overwrites(&self, _op: &Self::Op) -> bool {
        false
    }

    /// True if `op` is legal in every state (a write, an append): it
    /// cannot observe the state. The default, false, is always safe.
    fn always_legal(&self, _op: &Self::Op) -> bool {
        false
    }

    /// The state in words: "the register holds 2".
    fn describe(&self, state: &Self::State) -> String;

    /// Why `op` cannot happen in `state`, given the ops that were
    /// concurrent with it: "nothing concurrent could have written 4".
    fn explain(&self, state: &Self::State, op: &Self::Op, concurrent: &[&Self::Op]) -> String;

    /// Approximate heap bytes of a state, for the memory budget.
    fn state_bytes(&self, _state: &Self::State) -> usize {
        0
    }
}

/// The models faultline offers, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// Knossos' register: read and write.
    Register,
    /// Knossos' cas-register: read, write, cas.
    CasRegister,
    /// Knossos' multi-register: `txn` of reads and writes.
    MultiRegister,
    /// Porcupine's etcd register semantics.
    Etcd,
    /// Porcupine's kv: per-key strings with get, put, append.
    Kv,
    /// A lock: acquire, release.
    Mutex,
    /// A grow-only set: add, read.
    Set,
    /// A queue without order: enqueue, dequeue.
    UnorderedQueue,
    /// A first-in first-out queue: enqueue, dequeue.
    FifoQueue,
}

impl ModelKind {
    /// Every model.
    pub const ALL: [ModelKind; 9] = [
        ModelKind::Register,
        ModelKind::CasRegister,
        ModelKind::MultiRegister,
        ModelKind::Etcd,
        ModelKind::Kv,
        ModelKind::Mutex,
        ModelKind::Set,
        ModelKind::UnorderedQueue,
        ModelKind::FifoQueue,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::MultiRegister => "multi-register",
            ModelKind::Etcd => "etcd",
            ModelKind::Kv => "kv",
            ModelKind::Mutex => "mutex",
            ModelKind::Set => "set",
            ModelKind::UnorderedQueue => "unordered-queue",
            ModelKind::FifoQueue => "fifo-queue",
        }
    }

    /// Whether `--init` means something for this model.
    pub fn takes_init(self) -> bool {
        matches!(
            self,
            ModelKind::Register
                | ModelKind::CasRegister
                | ModelKind::Etcd
                | ModelKind::Kv
                | ModelKind::MultiRegister
        )
    }

    /// The model a history most likely wants: the format's own (etcd logs,
    /// kv logs), else guessed from the functions it calls.
    pub fn default_for<'a>(format: Format, fs: impl IntoIterator<Item = &'a Function>) -> ModelKind {
        match format {
            Format::EtcdLog => return ModelKind::Etcd,
            Format::KvLog => return ModelKind::Kv,
            Format::Jsonl | Format::Edn => {}
        }
        let mut kinds = None;
        for f in fs {
            let k = match f {
                Function::Acquire | Function::Release => ModelKind::Mutex,
                Function::Txn => ModelKind::MultiRegister,
                Function::Add => ModelKind::Set,
                Function::Enqueue | Function::Dequeue => ModelKind::UnorderedQueue,
                Function::Get | Function::Put | Function::Append => ModelKind::Kv,
                _ => continue,
            };
            kinds = Some(k);
        }
        kinds.unwrap_or(ModelKind::CasRegister)
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ModelKind::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| {
            let names: Vec<_> = ModelKind::ALL.iter().map(|m| m.name()).collect();
            format!("unknown model {s:?}; expected one of {}", names.join(", "))
        })
    }
}

/// An error for an operation whose values have the wrong shape.
pub(crate) fn shape_error(op: &Operation, expected: &str) -> String {
    format!(
        "{} {} (invoked with {}): expected {expected}",
        excerpt(op.f.name(), 40),
        op.output.short(),
        op.input.short()
    )
}

/// The scalar a register-like op carries, or the shape error.
pub(crate) fn scalar<'v>(op: &Operation, v: &'v Value, what: &str) -> Result<&'v Value, String> {
    if v.is_scalar() {
        Ok(v)
    } else {
        Err(format!(
            "{} {}: expected {what} to be a single value",
            excerpt(op.f.name(), 40),
            v.short()
        ))
    }
}
