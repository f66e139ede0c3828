//! `Client`: how a worker talks to one node of the system under test.
//!
//! A client is opened per logical process and never touches logical state
//! when opened (connections are made lazily). It has one operation in
//! flight, enforces its own timeout, and says how each attempt ended:
//! `ok` (took effect), `fail` (definitely did not: refused before sending,
//! a compare that did not match), or no answer, which
//! [`Completion::unanswered`] turns into `info` or `fail` by one rule for
//! every client (a read that times out is a `fail`: reads have no effect). Mutations are
//! never retried after an indeterminate error: a retry could apply them
//! twice, and the history would not say so.

use std::future::Future;
use std::pin::Pin;

use checkers::{Function, OpType, Value};

/// A boxed future, so clients of different systems share one trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a worker asks a client to do.
#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    /// The function, as recorded in the history.
    pub f: Function,
    /// The key, for independent workloads.
    pub key: Option<Value>,
    /// The arguments.
    pub value: Value,
}

impl Invocation {
    /// Whether it can change the system's state: its function can, and a
    /// transaction has a micro-op other than a read (`r`).
    pub fn changes_state(&self) -> bool {
        match self.f {
            Function::Txn => !self.value.as_list().is_some_and(|mops| {
                mops.iter()
                    .all(|m| m.as_list().and_then(|m| m.first()).and_then(Value::as_str) == Some("r"))
            }),
            ref f => f.changes_state(),
        }
    }
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// `Ok`, `Fail` or `Info`.
    pub kind: OpType,
    /// The result (a read's value) or the arguments echoed.
    pub value: Value,
    /// Why it failed or is indeterminate.
    pub error: Option<String>,
}

impl Completion {
    /// Took effect, with this result.
    pub fn ok(value: Value) -> Self {
        Completion {
            kind: OpType::Ok,
            value,
            error: None,
        }
    }

    /// Definitely did not take effect.
    pub fn fail(value: Value, error: impl Into<String>) -> Self {
        Completion {
            kind: OpType::Fail,
            value,
            error: Some(error.into()),
        }
    }

    /// May or may not have taken effect.
    pub fn info(value: Value, error: impl Into<String>) -> Self {
        Completion {
            kind: OpType::Info,
            value,
            error: Some(error.into()),
        }
    }

    /// `op`'s attempt ended with no answer that says what became of it (a
    /// timeout, a lost connection, an error that may come after the
    /// effect): `info` if it was `sent` and its function can change
    /// state — it may have taken effect — and `fail` otherwise: never
    /// sent, or a read, which has no effect. The one place this rule
    /// lives; each client says only how far its attempt got.
    pub fn unanswered(op: &Invocation, sent: bool, error: impl Into<String>) -> Self {
        if sent && op.changes_state() {
            Completion::info(op.value.clone(), error)
        } else {
            Completion::fail(op.value.clone(), error)
        }
    }
}

/// One process's connection to one node.
pub trait Client: Send {
    /// Performs one operation and classifies its outcome.
    fn invoke<'a>(&'a mut self, op: &'a Invocation) -> BoxFuture<'a, Completion>;

    /// The process is paused (true) or goes on (false): a client with
    /// work of its own in the background (a lease's keepalives) stops it
    /// too, as a stopped process would.
    fn pause(&mut self, _paused: bool) {}

    /// Whether it can take no more operations (a client program that
    /// broke the protocol or answered `info`): the worker goes on as a
    /// fresh process with a fresh client.
    fn spent(&self) -> bool {
        false
    }

    /// Ends the process's use of it (Jepsen's `close`): a client with a
    /// program of its own stops it and waits for it.
    fn close(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
