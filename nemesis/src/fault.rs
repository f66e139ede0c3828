//! What each fault is, defined once: [`FAULTS`], a table with one
//! [`FaultDef`] per [`Fault`] — its name on the command line, its verbs in
//! the history (when it starts, when it is undone), the [`Power`] it acts
//! through, whether `--nemesis all` takes it (and why not), and what it
//! does in words. Parsing, printing, the powers a run needs, `all`, the
//! help text, fault periods in the history and the report all read this
//! table; only *how* a fault is applied (`Nemesis::start`) is code of its
//! own.
//!
//! The enum and the table are written by one macro from one list, so a
//! fault cannot exist without its definition, and [`Fault::def`] is an
//! index rather than a search.

use std::fmt;
use std::str::FromStr;

use crate::Powers;

/// The power a fault acts through: one of the traits behind [`Powers`].
/// Undoing a fault is the power's own undo (a killed node is started, a
/// moved clock reset, ...), so healing reads this too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Power {
    /// [`crate::Kill`]: kill a node's process, start it again.
    Kill,
    /// [`crate::Pause`]: stop a node's process, continue it.
    Pause,
    /// [`crate::Partition`]: change the network between nodes (a
    /// namespace per node, or machines of their own).
    Network,
    /// [`crate::Links`]: slow or hold the links faultline's proxies carry.
    Links,
    /// [`crate::Disk`]: lose or damage what a node wrote (the node is
    /// killed first, and started again with [`crate::Kill`]).
    Disk,
    /// [`crate::Clock`]: move a node's clock (the node runs under
    /// libfaketime).
    Clock,
    /// [`crate::PauseClients`]: pause the test's own workers.
    Clients,
}

impl Power {
    /// Why `db` lacks this power, if it does.
    pub fn lacking<D: Powers + ?Sized>(self, db: &mut D) -> Option<String> {
        let has = match self {
            Power::Kill => db.as_kill().map(drop),
            Power::Pause => db.as_pause().map(drop),
            Power::Network => db.as_partition().map(drop),
            Power::Links => db.as_links().map(drop),
            Power::Disk => db.as_disk().map(drop),
            Power::Clock => db.as_clock().map(drop),
            // The controller's own power: every run has it, whatever the
            // database.
            Power::Clients => Ok(()),
        };
        has.err()
    }
}

/// One fault, everything faultline knows about it apart from how it is
/// applied.
#[derive(Debug)]
pub struct FaultDef {
    /// The fault.
    pub fault: Fault,
    /// Its name, as `--nemesis` takes it (`lose-unsynced`).
    pub name: &'static str,
    /// The history's verb when it starts (`start-partition`); Jepsen's
    /// where Jepsen has the fault, so imported histories read alike.
    pub start: &'static str,
    /// The verb when it is undone (`stop-partition`). Faults undone the
    /// same way share it: `start` ends `kill`, `lose-unsynced` and
    /// `corrupt`, `reset-clock` both clock faults.
    pub undo: &'static str,
    /// The power it acts through.
    pub needs: Power,
    /// Whether `--nemesis all` takes it, and if not, why not.
    pub in_all: Result<(), &'static str>,
    /// What it does, in words, for help (`SIGKILL a node, later start
    /// it`).
    pub words: &'static str,
}

/// Declares [`Fault`] and [`FAULTS`] from one list, in the same order.
macro_rules! faults {
    ($($(#[$doc:meta])* $variant:ident { $($field:ident: $value:expr),* $(,)? })*) => {
        /// The faults a test may inject; each is defined by its entry in
        /// [`FAULTS`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Fault {
            $($(#[$doc])* $variant,)*
        }

        /// Every fault's definition, in the order of [`Fault`]'s variants
        /// (the order help and messages list them in).
        pub const FAULTS: &[FaultDef] = &[$(FaultDef { fault: Fault::$variant, $($field: $value),* }),*];
    };
}

faults! {
    /// Kill a node, later restart it.
    Kill {
        name: "kill", start: "kill", undo: "start", needs: Power::Kill, in_all: Ok(()),
        words: "SIGKILL a node, later start it",
    }
    /// Pause a node, later resume it.
    Pause {
        name: "pause", start: "pause", undo: "resume", needs: Power::Pause, in_all: Ok(()),
        words: "SIGSTOP a node, later resume it",
    }
    /// Partition the network in a random shape, later heal it.
    Partition {
        name: "partition", start: "start-partition", undo: "stop-partition", needs: Power::Network,
        in_all: Ok(()),
        words: "cut the network between nodes in a random shape, later heal it",
    }
    /// Drop a share of the packets between nodes, later stop.
    Loss {
        name: "loss", start: "start-loss", undo: "stop-loss", needs: Power::Network, in_all: Ok(()),
        words: "drop a share of the packets between nodes, later stop",
    }
    /// Delay every proxied link by [`crate::DELAY`] plus up to
    /// [`crate::JITTER`], later stop.
    Delay {
        name: "delay", start: "start-delay", undo: "stop-delay", needs: Power::Links, in_all: Ok(()),
        words: "delay every link through faultline's proxies, later stop",
    }
    /// Hold all traffic toward one node (it still sends), later let it
    /// flow.
    Blackhole {
        name: "blackhole", start: "start-blackhole", undo: "stop-blackhole", needs: Power::Links,
        in_all: Ok(()),
        words: "hold all traffic toward one node, later let it flow",
    }
    /// Kill every node (or the primary, aimed at it) and lose what each
    /// had written but not fsynced, later start them.
    LoseUnsynced {
        name: "lose-unsynced", start: "lose-unsynced", undo: "start", needs: Power::Disk, in_all: Ok(()),
        words: "kill the nodes and lose what they did not fsync, later start them",
    }
    /// Kill one node, cut one of its data files short or flip bits in
    /// it, later start it.
    Corrupt {
        name: "corrupt", start: "corrupt", undo: "start", needs: Power::Disk,
        in_all: Err("a node may never start again after it"),
        words: "kill a node and damage one of its data files, later start it",
    }
    /// Bump one node's wall clock by up to a minute either way, later
    /// reset it.
    Clock {
        name: "clock", start: "bump-clock", undo: "reset-clock", needs: Power::Clock, in_all: Ok(()),
        words: "bump one node's clock by up to a minute, later reset it",
    }
    /// Flip one node's wall clock back and forth (by 0.2–2 s, every
    /// [`crate::STROBE_PERIOD_MS`]), later reset it.
    Strobe {
        name: "strobe", start: "strobe-clock", undo: "reset-clock", needs: Power::Clock, in_all: Ok(()),
        words: "flip one node's clock back and forth, later reset it",
    }
    /// Pause one client worker (a lock holder, in the lock workload)
    /// between its operations, later let it go on.
    ClientPause {
        name: "client-pause", start: "pause-client", undo: "resume-client", needs: Power::Clients,
        in_all: Err("it pauses the test's own workers, not the database"),
        words: "pause one client worker between its operations, later let it go on",
    }
}

impl Fault {
    /// Its definition.
    pub fn def(self) -> &'static FaultDef {
        // The macro builds the table in the enum's order.
        &FAULTS[self as usize]
    }

    /// The fault a history verb starts (`start-partition`: partition), if
    /// it starts one. Undo verbs are not unique (`start` undoes three
    /// faults): compare them with [`FaultDef::undo`].
    pub fn started_by(verb: &str) -> Option<Fault> {
        FAULTS.iter().find(|d| d.start == verb).map(|d| d.fault)
    }

    /// Whether the fault acts on the network (needs namespaces).
    pub fn is_network(self) -> bool {
        self.def().needs == Power::Network
    }

    /// Whether the fault moves node clocks (the nodes then run under
    /// libfaketime).
    pub fn moves_clocks(self) -> bool {
        self.def().needs == Power::Clock
    }

    /// Whether the fault acts through faultline's proxies.
    pub fn is_proxied(self) -> bool {
        self.def().needs == Power::Links
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.def().name)
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        FAULTS.iter().find(|d| d.name == s).map(|d| d.fault).ok_or_else(|| {
            let names: Vec<&str> = FAULTS.iter().map(|d| d.name).collect();
            format!(
                "unknown fault {s:?}; expected none, {} or all (steps separated by commas, faults that strike \
                 together joined by +)",
                names.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_the_enums_order() {
        for (i, d) in FAULTS.iter().enumerate() {
            assert_eq!(d.fault as usize, i, "{}", d.name);
            assert_eq!(d.fault.def().name, d.name);
        }
    }

    #[test]
    fn names_round_trip_and_are_unique() {
        for d in FAULTS {
            assert_eq!(d.name.parse::<Fault>(), Ok(d.fault));
            assert_eq!(d.fault.to_string(), d.name);
            assert_eq!(
                FAULTS.iter().filter(|e| e.name == d.name).count(),
                1,
                "{}",
                d.name
            );
        }
    }

    #[test]
    fn every_verb_maps_back_to_its_fault() {
        for d in FAULTS {
            assert_eq!(Fault::started_by(d.start), Some(d.fault), "{}", d.start);
            // An undo verb never starts anything, or a history's undo
            // would open a fault period.
            assert_eq!(Fault::started_by(d.undo), None, "{}", d.undo);
        }
        assert_eq!(Fault::started_by("read"), None);
    }

    #[test]
    fn an_unknown_fault_is_answered_with_every_name() {
        let e = "flood".parse::<Fault>().unwrap_err();
        assert!(e.starts_with("unknown fault \"flood\"; expected none, "), "{e}");
        for d in FAULTS {
            assert!(
                e.contains(&format!(" {},", d.name)) || e.contains(&format!(" {} or all", d.name)),
                "{e}"
            );
        }
    }
}
