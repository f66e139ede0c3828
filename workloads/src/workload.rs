//! `Workload`: what the clients do and which checker judges the history.

use std::fmt;
use std::str::FromStr;

use checkers::ModelKind;

use crate::demo::Data;

/// A workload: an op mix plus the checker that judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Reads and writes of small integers on independent keys;
    /// linearizability against Knossos' register.
    Register,
    /// Reads, writes and compare-and-sets on independent keys;
    /// linearizability against Knossos' cas-register.
    CasRegister,
    /// Adds of unique elements to one set, then final reads; the set
    /// checker (every acknowledged add is in the final read).
    Set,
    /// Each worker acquires a lock and releases it; linearizability
    /// against Knossos' mutex (no two holders at once), lock by lock.
    Lock,
    /// Transactions of appends to lists and reads of whole lists; Elle's
    /// list-append checker.
    ListAppend,
    /// Transactions that read two registers and write one (the shape of
    /// write skew); Elle's rw-register checker.
    RwRegister,
    /// Producers send unique values to a few append-only logs, consumers
    /// poll them, and a final phase reads every log from the start; the
    /// log checker (Jepsen's queue and Kafka checkers).
    Log,
    /// Writers put and delete keys (some in multi-key transactions),
    /// watchers stream a key range's changes and resume after errors;
    /// the watch checker (etcd's watch guarantees).
    Watch,
}

/// How a workload's history is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judge {
    /// Linearizability against this model, key by key.
    Linearizable(ModelKind),
    /// No acknowledged add may be missing from the final read.
    Set,
    /// The transactional checker for this workload.
    Txn(checkers::txn::Workload),
    /// Locks: acquire and release linearizable against Knossos' mutex,
    /// lock by lock; and, if holders made guarded writes, none of those
    /// acknowledged may be missing from the final read (the set check).
    Lock,
    /// The log checker: nothing acknowledged lost, no offset read two
    /// ways, no value twice, consumers in order.
    Log,
    /// Watches ordered, unique, atomic, reliable and resumable, and
    /// agreeing with the acknowledged writes.
    Watch,
}

impl Workload {
    /// Every workload.
    pub const ALL: [Workload; 8] = [
        Workload::Register,
        Workload::CasRegister,
        Workload::Set,
        Workload::Lock,
        Workload::ListAppend,
        Workload::RwRegister,
        Workload::Log,
        Workload::Watch,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Register => "register",
            Workload::CasRegister => "cas-register",
            Workload::Set => "set",
            Workload::Lock => "lock",
            Workload::ListAppend => "list-append",
            Workload::RwRegister => "rw-register",
            Workload::Log => "log",
            Workload::Watch => "watch",
        }
    }

    /// What the clients do and what is checked, in words, for help.
    pub fn about(self) -> &'static str {
        match self {
            Workload::Register => "reads and writes on independent keys, checked for linearizability",
            Workload::CasRegister => {
                "reads, writes and compare-and-sets on independent keys, checked for linearizability"
            }
            Workload::Set => "adds to one set, then final reads: no acknowledged add may be lost",
            Workload::Lock => "acquire and release on independent locks, checked as a mutex",
            Workload::ListAppend => {
                "transactions of appends and whole-list reads; Elle's list-append checker"
            }
            Workload::RwRegister => {
                "transactions that read two registers and write one; Elle's rw-register checker"
            }
            Workload::Log => {
                "sends to and polls of a few logs, then final reads: nothing acknowledged lost, offsets agree"
            }
            Workload::Watch => {
                "puts, deletes and multi-key txns while watchers stream a key range; etcd's watch guarantees"
            }
        }
    }

    /// The checker that judges it.
    pub fn judge(self) -> Judge {
        match self {
            Workload::Register => Judge::Linearizable(ModelKind::Register),
            Workload::CasRegister => Judge::Linearizable(ModelKind::CasRegister),
            Workload::Set => Judge::Set,
            Workload::Lock => Judge::Lock,
            Workload::ListAppend => Judge::Txn(checkers::txn::Workload::ListAppend),
            Workload::RwRegister => Judge::Txn(checkers::txn::Workload::RwRegister),
            Workload::Log => Judge::Log,
            Workload::Watch => Judge::Watch,
        }
    }

    /// Which demo data it uses.
    pub fn data(self) -> Data {
        match self {
            Workload::Set => Data::Set,
            Workload::Log => Data::Log,
            Workload::Watch => Data::Watch,
            _ => Data::Registers,
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Workload::ALL.into_iter().find(|w| w.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
            format!("unknown workload {s:?}; expected one of {}", names.join(", "))
        })
    }
}
