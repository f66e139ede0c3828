//! faultline's nemesis: fault injection and the guarantee that every fault
//! is healed.
//!
//! A database offers its powers as separate traits — [`Kill`] (kill and
//! start a node), [`Pause`] (pause and resume one) — as Jepsen's DB
//! protocols do. A [`Nemesis`] picks faults and targets from a seeded
//! generator, applies them through those powers, remembers what is active
//! and undoes all of it in [`Nemesis::heal`]. Every action returns an
//! [`Event`] for the history, so reports can shade fault periods. The
//! schedule (when to start and stop) belongs to the caller.
//!
//! Partitions and packet faults arrive with network namespaces; this
//! crate knows nothing of processes or sockets itself.
#![deny(missing_docs)]

use std::fmt;
use std::str::FromStr;

/// A power failed (a signal could not be sent, a node would not start).
#[derive(Debug, thiserror::Error)]
#[error("{action} {node}: {message}")]
pub struct FaultError {
    /// What was attempted.
    pub action: &'static str,
    /// On which node.
    pub node: String,
    /// Why it failed.
    pub message: String,
}

/// Killing and restarting nodes.
pub trait Kill {
    /// Kills the node's process at once (SIGKILL).
    fn kill(&mut self, node: usize) -> Result<(), FaultError>;
    /// Starts it again with the same command line.
    fn start(&mut self, node: usize) -> Result<(), FaultError>;
}

/// Pausing and resuming nodes.
pub trait Pause {
    /// Stops the node's process (SIGSTOP).
    fn pause(&mut self, node: usize) -> Result<(), FaultError>;
    /// Continues it (SIGCONT).
    fn resume(&mut self, node: usize) -> Result<(), FaultError>;
}

/// Which nodes lead, as the database sees it (Jepsen's `Primary`).
pub trait Primaries {
    /// The nodes that currently act as primary or leader; may be empty.
    fn primaries(&mut self) -> Vec<usize>;
}

/// Which nodes faults hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Any node, chosen at random.
    Random,
    /// A current primary (a random node if none is known).
    Primary,
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "random" => Ok(Target::Random),
            "primary" => Ok(Target::Primary),
            _ => Err(format!("unknown target {s:?}; expected random or primary")),
        }
    }
}

/// Node names, for events.
pub trait Nodes {
    /// How many nodes there are.
    fn count(&self) -> usize;
    /// The name of one (`n1`, `n2`, ...).
    fn name(&self, node: usize) -> String;
}

/// The faults a test may inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Kill a node, later restart it.
    Kill,
    /// Pause a node, later resume it.
    Pause,
}

impl Fault {
    fn verbs(self) -> (&'static str, &'static str) {
        match self {
            Fault::Kill => ("kill", "start"),
            Fault::Pause => ("pause", "resume"),
        }
    }
}

/// Parses `--nemesis`: `none`, `kill`, `pause`, `all`, or a comma list.
pub fn parse_faults(s: &str) -> Result<Vec<Fault>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        match part {
            "none" => {}
            "kill" => out.push(Fault::Kill),
            "pause" => out.push(Fault::Pause),
            "all" => out.extend([Fault::Kill, Fault::Pause]),
            "partition" => {
                return Err(
                    "partition: network partitions need each node in its own network namespace, \
                     which the demo cluster does not have yet; use kill or pause"
                        .into(),
                )
            }
            other => {
                return Err(format!(
                    "unknown fault {other:?}; expected none, kill, pause or all"
                ))
            }
        }
    }
    out.dedup();
    Ok(out)
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.verbs().0)
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match parse_faults(s)?.as_slice() {
            [one] => Ok(*one),
            _ => Err(format!("{s:?} is not a single fault")),
        }
    }
}

/// What the nemesis did, for the history (process `nemesis`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `kill`, `start`, `pause`, `resume`.
    pub f: &'static str,
    /// The nodes it acted on.
    pub nodes: Vec<String>,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// Picks and applies faults, and remembers what to heal.
#[derive(Debug)]
pub struct Nemesis {
    faults: Vec<Fault>,
    target: Target,
    rng: u64,
    active: Vec<(Fault, usize)>,
    next: usize,
}

impl Nemesis {
    /// A nemesis choosing among `faults` and hitting `target`, seeded for
    /// reproducible choices.
    pub fn new(faults: Vec<Fault>, target: Target, seed: u64) -> Self {
        Nemesis {
            faults,
            target,
            rng: seed ^ 0x5DEE_CE66,
            active: Vec::new(),
            next: 0,
        }
    }

    /// Whether this nemesis ever does anything.
    pub fn is_idle(&self) -> bool {
        self.faults.is_empty()
    }

    /// The faults in force, in words (`kill n2`), for progress lines.
    pub fn describe_active<D: Nodes>(&self, db: &D) -> Option<String> {
        let parts: Vec<String> = self
            .active
            .iter()
            .map(|(f, n)| format!("{} {}", f.verbs().0, db.name(*n)))
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    fn below(&mut self, n: usize) -> usize {
        self.rng = self
            .rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.rng >> 33) % n as u64) as usize
    }

    /// Starts the next fault (faults take turns) on a random node.
    pub fn start<D: Kill + Pause + Nodes + Primaries>(&mut self, db: &mut D) -> Option<Event> {
        if self.faults.is_empty() || db.count() == 0 {
            return None;
        }
        let fault = self.faults[self.next % self.faults.len()];
        self.next += 1;
        let primaries = match self.target {
            Target::Primary => db.primaries(),
            Target::Random => Vec::new(),
        };
        let node = if primaries.is_empty() {
            self.below(db.count())
        } else {
            primaries[self.below(primaries.len())]
        };
        let result = match fault {
            Fault::Kill => db.kill(node),
            Fault::Pause => db.pause(node),
        };
        self.active.push((fault, node));
        Some(Event {
            f: fault.verbs().0,
            nodes: vec![db.name(node)],
            error: result.err().map(|e| e.to_string()),
        })
    }

    /// Undoes every active fault, newest first. Always leaves nothing
    /// active, even if an undo fails (the error is in its event).
    pub fn heal<D: Kill + Pause + Nodes>(&mut self, db: &mut D) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some((fault, node)) = self.active.pop() {
            let result = match fault {
                Fault::Kill => db.start(node),
                Fault::Pause => db.resume(node),
            };
            events.push(Event {
                f: fault.verbs().1,
                nodes: vec![db.name(node)],
                error: result.err().map(|e| e.to_string()),
            });
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mock database for the bookkeeping tests: records calls.
    #[derive(Default)]
    struct MockDb {
        calls: Vec<String>,
    }

    impl Kill for MockDb {
        fn kill(&mut self, n: usize) -> Result<(), FaultError> {
            self.calls.push(format!("kill {n}"));
            Ok(())
        }
        fn start(&mut self, n: usize) -> Result<(), FaultError> {
            self.calls.push(format!("start {n}"));
            Ok(())
        }
    }

    impl Pause for MockDb {
        fn pause(&mut self, n: usize) -> Result<(), FaultError> {
            self.calls.push(format!("pause {n}"));
            Ok(())
        }
        fn resume(&mut self, n: usize) -> Result<(), FaultError> {
            self.calls.push(format!("resume {n}"));
            Err(FaultError {
                action: "resume",
                node: format!("n{n}"),
                message: "mock refuses".into(),
            })
        }
    }

    impl Primaries for MockDb {
        fn primaries(&mut self) -> Vec<usize> {
            vec![2]
        }
    }

    impl Nodes for MockDb {
        fn count(&self) -> usize {
            3
        }
        fn name(&self, n: usize) -> String {
            format!("n{}", n + 1)
        }
    }

    #[test]
    fn heal_undoes_everything_even_after_an_error() {
        let mut db = MockDb::default();
        let mut nem = Nemesis::new(vec![Fault::Kill, Fault::Pause], Target::Random, 7);
        let a = nem.start(&mut db).unwrap();
        let b = nem.start(&mut db).unwrap();
        assert_eq!((a.f, b.f), ("kill", "pause"));
        assert!(nem.describe_active(&db).unwrap().contains("kill n"));
        let healed = nem.heal(&mut db);
        assert_eq!(healed.len(), 2);
        assert_eq!(healed[0].f, "resume");
        assert!(healed[0].error.is_some());
        assert_eq!(healed[1].f, "start");
        assert!(nem.heal(&mut db).is_empty());
        assert!(nem.describe_active(&db).is_none());
    }

    #[test]
    fn primary_targets_hit_the_primary() {
        let mut db = MockDb::default();
        let mut nem = Nemesis::new(vec![Fault::Kill], Target::Primary, 1);
        for _ in 0..5 {
            assert_eq!(nem.start(&mut db).unwrap().nodes, vec!["n3".to_string()]);
            nem.heal(&mut db);
        }
    }

    #[test]
    fn parses_fault_lists() {
        assert_eq!(
            parse_faults("kill,pause").unwrap(),
            vec![Fault::Kill, Fault::Pause]
        );
        assert_eq!(parse_faults("none").unwrap(), vec![]);
        assert_eq!(parse_faults("all").unwrap().len(), 2);
        assert!(parse_faults("partition")
            .unwrap_err()
            .contains("network namespace"));
        assert!(parse_faults("flood").is_err());
    }
}
