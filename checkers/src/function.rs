//! `Function`: what an operation does (`read`, `write`, `cas`, `txn`, …),
//! one type from the generator through the clients to the checkers.
//!
//! The functions faultline's workloads and models know are variants, so a
//! client or a model matches on them and a misspelt name does not compile;
//! any other name a history carries (the nemesis's fault verbs, another
//! tool's functions) is kept as written, so a history reads back and is
//! written out with the names it had.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

/// An operation's function, as the history names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Function {
    /// Reads a value (register, set, list, or every guarded list).
    Read,
    /// Writes a value.
    Write,
    /// Compare-and-set `[from to]`.
    Cas,
    /// Adds an element to a set (or, under a lock, to the guarded list).
    Add,
    /// Takes a lock.
    Acquire,
    /// Gives a lock back.
    Release,
    /// Reads the list a held lock guards.
    Fetch,
    /// A transaction: a list of micro-ops.
    Txn,
    /// Puts a value on a queue.
    Enqueue,
    /// Takes a value off a queue.
    Dequeue,
    /// Reads a key of a key-value store (Porcupine's kv).
    Get,
    /// Sets a key of a key-value store.
    Put,
    /// Appends to a key of a key-value store.
    Append,
    /// Publishes a value to a log (a Kafka-like topic partition).
    Send,
    /// Reads a log from an offset: `[offset value]` pairs.
    Poll,
    /// Streams the changes of a key range (etcd's watch).
    Watch,
    /// Any other name, kept as written.
    Other(Arc<str>),
}

/// Every known function with its name: the one table parsing and printing
/// read.
const NAMED: &[(&str, Function)] = &[
    ("read", Function::Read),
    ("write", Function::Write),
    ("cas", Function::Cas),
    ("add", Function::Add),
    ("acquire", Function::Acquire),
    ("release", Function::Release),
    ("fetch", Function::Fetch),
    ("txn", Function::Txn),
    ("enqueue", Function::Enqueue),
    ("dequeue", Function::Dequeue),
    ("get", Function::Get),
    ("put", Function::Put),
    ("append", Function::Append),
    ("send", Function::Send),
    ("poll", Function::Poll),
    ("watch", Function::Watch),
];

impl Function {
    /// The function a history's name stands for.
    pub fn named(name: &str) -> Function {
        Function::known(name).unwrap_or_else(|| Function::Other(name.into()))
    }

    /// The known function of this name, if it is one.
    pub fn known(name: &str) -> Option<Function> {
        NAMED.iter().find(|(n, _)| *n == name).map(|(_, f)| f.clone())
    }

    /// Its name in a history.
    pub fn name(&self) -> &str {
        match self {
            Function::Other(name) => name,
            known => NAMED
                .iter()
                .find(|(_, f)| f == known)
                .map(|(n, _)| *n)
                .expect("every known function is in NAMED"),
        }
    }

    /// Whether it can change the system's state: an attempt that was sent
    /// and got no answer may have taken effect only if it can.
    pub fn changes_state(&self) -> bool {
        !matches!(
            self,
            Function::Read | Function::Fetch | Function::Get | Function::Poll | Function::Watch
        )
    }
}

impl From<&str> for Function {
    fn from(name: &str) -> Function {
        Function::named(name)
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Function {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl PartialEq<str> for Function {
    fn eq(&self, other: &str) -> bool {
        self.name() == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_as_they_were_written() {
        for (name, f) in NAMED {
            assert_eq!(Function::named(name), *f);
            assert_eq!(f.name(), *name);
        }
        let other = Function::named("start-partition");
        assert_eq!(other, Function::Other("start-partition".into()));
        assert_eq!(other.to_string(), "start-partition");
        assert_eq!(serde_json::to_string(&Function::Cas).unwrap(), "\"cas\"");
    }

    #[test]
    fn only_reads_leave_the_state_alone() {
        assert!(!Function::Read.changes_state());
        assert!(Function::Write.changes_state());
        assert!(Function::Txn.changes_state());
        assert!(Function::named("kill").changes_state());
    }
}
