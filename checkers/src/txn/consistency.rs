//! Anomalies and the consistency models that forbid them: the part of
//! Elle's lattice (after Adya, Cerone and Bailis) for the six models
//! faultline names. A found anomaly rules out every model that forbids it;
//! which anomalies a history has is the checkers' business, not this
//! module's.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// What kind of anomaly, without its scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A cycle of write-write dependencies only (dirty write).
    G0,
    /// A cycle of write-write and write-read dependencies (circular
    /// information flow).
    G1c,
    /// A cycle with exactly one anti-dependency (read skew).
    GSingle,
    /// A cycle with two or more anti-dependencies, no two adjacent.
    GNonadjacent,
    /// A cycle with two or more anti-dependencies, some adjacent (write
    /// skew).
    G2Item,
    /// A read saw a write of a transaction that failed (aborted read).
    G1a,
    /// A read saw a transaction's intermediate state (intermediate read).
    G1b,
    /// A transaction's read disagrees with its own earlier reads and writes.
    Internal,
    /// A failed transaction's write was built on by a committed one.
    DirtyUpdate,
    /// Two committed transactions read the same version of a key and both
    /// wrote it.
    LostUpdate,
    /// A read holds the same element twice.
    DuplicateElements,
    /// Two reads of a key are not prefixes of one another: no single order
    /// of appends explains both.
    IncompatibleOrder,
    /// A read shows one transaction's appends to a key other than in the
    /// order it made them: one before an earlier one, or without it.
    InternalOrder,
    /// A read holds a value that no transaction ever wrote.
    GarbageRead,
    /// A read saw a write its own transaction made only later.
    FutureRead,
}

/// Which orders a cycle needs besides the data dependencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Data dependencies alone (ww, wr, rw).
    Data,
    /// Also the order in which a process ran its transactions.
    Process,
    /// Also real time: a transaction that completed before another began.
    Realtime,
}

/// An anomaly as Elle names it: `G-single`, `G2-item-realtime`, ...
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Anomaly {
    /// The kind.
    pub kind: Kind,
    /// The orders it needs; always `Data` for the non-cycle kinds.
    pub scope: Scope,
}

impl Kind {
    /// Elle's name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::G0 => "G0",
            Kind::G1c => "G1c",
            Kind::GSingle => "G-single",
            Kind::GNonadjacent => "G-nonadjacent",
            Kind::G2Item => "G2-item",
            Kind::G1a => "G1a",
            Kind::G1b => "G1b",
            Kind::Internal => "internal",
            Kind::DirtyUpdate => "dirty-update",
            Kind::LostUpdate => "lost-update",
            Kind::DuplicateElements => "duplicate-elements",
            Kind::IncompatibleOrder => "incompatible-order",
            Kind::InternalOrder => "internal-order",
            Kind::GarbageRead => "garbage-read",
            Kind::FutureRead => "future-read",
        }
    }

    /// A cycle in the dependency graph, rather than a fact about one read.
    pub fn is_cycle(self) -> bool {
        matches!(
            self,
            Kind::G0 | Kind::G1c | Kind::GSingle | Kind::GNonadjacent | Kind::G2Item
        )
    }
}

impl Anomaly {
    /// A non-cycle anomaly (or a cycle of data dependencies).
    pub fn data(kind: Kind) -> Anomaly {
        Anomaly {
            kind,
            scope: Scope::Data,
        }
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.name())?;
        match self.scope {
            Scope::Data => Ok(()),
            Scope::Process => f.write_str("-process"),
            Scope::Realtime => f.write_str("-realtime"),
        }
    }
}

impl Serialize for Anomaly {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A consistency model faultline can be asked to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Model {
    /// Serializable, and the order agrees with real time.
    StrictSerializable,
    /// Equivalent to some serial order (conflict serializability).
    Serializable,
    /// Each transaction reads one snapshot; no lost updates.
    SnapshotIsolation,
    /// Adya's PL-2.99: no item anti-dependency cycles.
    RepeatableRead,
    /// Adya's PL-2: no dirty reads.
    ReadCommitted,
    /// Adya's PL-1: no dirty writes.
    ReadUncommitted,
}

impl Model {
    /// Every model, strongest first.
    pub const ALL: [Model; 6] = [
        Model::StrictSerializable,
        Model::Serializable,
        Model::SnapshotIsolation,
        Model::RepeatableRead,
        Model::ReadCommitted,
        Model::ReadUncommitted,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Model::StrictSerializable => "strict-serializable",
            Model::Serializable => "serializable",
            Model::SnapshotIsolation => "snapshot-isolation",
            Model::RepeatableRead => "repeatable-read",
            Model::ReadCommitted => "read-committed",
            Model::ReadUncommitted => "read-uncommitted",
        }
    }

    /// The models this one implies directly (a history that satisfies
    /// `self` satisfies each of these).
    pub fn weaker(self) -> &'static [Model] {
        match self {
            Model::StrictSerializable => &[Model::Serializable],
            Model::Serializable => &[Model::SnapshotIsolation, Model::RepeatableRead],
            Model::SnapshotIsolation | Model::RepeatableRead => &[Model::ReadCommitted],
            Model::ReadCommitted => &[Model::ReadUncommitted],
            Model::ReadUncommitted => &[],
        }
    }

    /// Whether the model forbids the anomaly. Process and real-time cycles
    /// are forbidden only by strict serializability: the other models say
    /// nothing about the order of a process's transactions or real time.
    pub fn forbids(self, a: Anomaly) -> bool {
        if a.scope != Scope::Data {
            return self == Model::StrictSerializable;
        }
        self.forbids_directly(a.kind) || self.weaker().iter().any(|m| m.forbids(a))
    }

    /// What the model adds to the models it implies. Elle's table: an
    /// anomaly that implies another (G-single implies G-nonadjacent implies
    /// G2-item; lost update implies G2-item; incompatible order, dirty
    /// update and future read imply dirty reads) is listed where the
    /// implied one is. A list no order of whole transactions' appends
    /// builds (duplicates, garbage, a transaction's appends out of order)
    /// is forbidden by every model.
    fn forbids_directly(self, k: Kind) -> bool {
        use Kind::*;
        match self {
            Model::ReadUncommitted => matches!(k, G0 | DuplicateElements | GarbageRead | InternalOrder),
            Model::ReadCommitted => {
                matches!(k, G1a | G1b | G1c | DirtyUpdate | IncompatibleOrder | FutureRead)
            }
            Model::RepeatableRead => matches!(k, G2Item | GNonadjacent | GSingle | LostUpdate),
            Model::SnapshotIsolation => matches!(k, Internal | GSingle | GNonadjacent | LostUpdate),
            Model::Serializable => matches!(k, G2Item | Internal),
            Model::StrictSerializable => false,
        }
    }

    /// The models that the anomalies rule out, weakest first.
    pub fn ruled_out(found: &[Anomaly]) -> Vec<Model> {
        let mut out: Vec<Model> = Model::ALL
            .into_iter()
            .filter(|m| found.iter().any(|a| m.forbids(*a)))
            .collect();
        out.reverse();
        out
    }

    /// Of a set of ruled-out models, those no weaker ruled-out model
    /// implies: "not read-committed" says "not serializable" too.
    pub fn weakest(ruled_out: &[Model]) -> Vec<Model> {
        ruled_out
            .iter()
            .copied()
            .filter(|m| !m.weaker().iter().any(|w| ruled_out.contains(w)))
            .collect()
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Model {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl FromStr for Model {
    type Err = String;
    fn from_str(s: &str) -> Result<Model, String> {
        Model::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Model::ALL.iter().map(|m| m.name()).collect();
            format!(
                "unknown consistency model {s:?}: expected one of {}",
                names.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(kind: Kind) -> Anomaly {
        Anomaly {
            kind,
            scope: Scope::Realtime,
        }
    }

    #[test]
    fn write_skew_rules_out_serializable_not_snapshot_isolation() {
        let out = Model::ruled_out(&[Anomaly::data(Kind::G2Item)]);
        assert_eq!(
            out,
            vec![
                Model::RepeatableRead,
                Model::Serializable,
                Model::StrictSerializable
            ]
        );
        assert_eq!(Model::weakest(&out), vec![Model::RepeatableRead]);
    }

    #[test]
    fn read_skew_rules_out_snapshot_isolation_and_repeatable_read() {
        let out = Model::ruled_out(&[Anomaly::data(Kind::GSingle)]);
        assert!(out.contains(&Model::SnapshotIsolation) && out.contains(&Model::RepeatableRead));
        assert!(!out.contains(&Model::ReadCommitted));
    }

    #[test]
    fn dirty_reads_rule_out_read_committed_and_everything_above() {
        let out = Model::ruled_out(&[Anomaly::data(Kind::G1a)]);
        assert_eq!(out.len(), 5);
        assert_eq!(Model::weakest(&out), vec![Model::ReadCommitted]);
        assert_eq!(Model::ruled_out(&[Anomaly::data(Kind::G0)]).len(), 6);
    }

    #[test]
    fn appends_out_of_their_order_rule_out_every_model() {
        let out = Model::ruled_out(&[Anomaly::data(Kind::InternalOrder)]);
        assert_eq!(out.len(), Model::ALL.len());
        assert_eq!(Model::weakest(&out), vec![Model::ReadUncommitted]);
    }

    #[test]
    fn realtime_cycles_rule_out_only_strict_serializability() {
        assert_eq!(Model::ruled_out(&[rt(Kind::G0)]), vec![Model::StrictSerializable]);
        assert!(Model::ruled_out(&[]).is_empty());
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_choices() {
        for m in Model::ALL {
            assert_eq!(m.name().parse::<Model>(), Ok(m));
        }
        let e = "linearizable".parse::<Model>().unwrap_err();
        assert!(e.contains("snapshot-isolation"), "{e}");
        assert_eq!(rt(Kind::G2Item).to_string(), "G2-item-realtime");
    }
}
