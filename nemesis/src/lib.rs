//! faultline's nemesis: fault injection, and the guarantee that every
//! fault is healed.
//!
//! Every fault is defined once, in [`FAULTS`] ([`fault`]): its name, its
//! verbs in the history, the [`Power`] it needs, whether `--nemesis all`
//! takes it. A database offers its powers as separate traits — [`Kill`],
//! [`Pause`], [`Partition`], [`Links`], [`Disk`], [`Clock`], and the
//! controller's [`PauseClients`] — each optional behind [`Powers`], as
//! Jepsen's DB protocols are; [`missing`] names the powers a run's faults
//! need and lack. A [`Nemesis`] takes the steps of a [`Schedule`] in turn,
//! picks targets from a seeded generator, applies faults through those
//! powers, remembers what is active and undoes all of it in
//! [`Nemesis::heal`]. Every action returns an [`Event`] for the history;
//! [`periods`] reads them back as fault periods for results and reports.
//! When to start and stop is the caller's.
//!
//! Modules: [`fault`] (the table), `schedule` (`--nemesis` as written),
//! `periods` (fault periods in a history), `grudge` (partitions as data,
//! in Jepsen's shapes), [`proxy`] (the TCP proxies `delay` and
//! `blackhole` act through), [`lossyfs`] (the filesystem that forgets
//! what was not fsynced). This crate knows nothing of processes,
//! namespaces or iptables: the harness implements the powers.

#![deny(missing_docs)]

pub mod fault;
mod grudge;
pub mod lossyfs;
mod periods;
pub mod proxy;
mod schedule;

pub use fault::{Fault, FaultDef, Power, FAULTS};
pub use grudge::{Grudge, Shape};
pub use periods::periods;
pub use schedule::Schedule;

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

/// Cutting and degrading the network between nodes.
pub trait Partition {
    /// Makes each node drop traffic from the nodes its grudge names,
    /// replacing any earlier network fault.
    fn partition(&mut self, grudge: &Grudge) -> Result<(), FaultError>;
    /// Makes every node drop this share (0–1) of packets from its peers.
    fn lose_packets(&mut self, probability: f64) -> Result<(), FaultError>;
    /// Removes every network fault.
    fn heal_network(&mut self) -> Result<(), FaultError>;
}

/// Slowing and holding the links faultline's proxies carry (client to
/// node, node to node).
pub trait Links {
    /// Delays every chunk on every link by `delay` plus up to `jitter`.
    fn slow(&mut self, delay: std::time::Duration, jitter: std::time::Duration) -> Result<(), FaultError>;
    /// Holds all traffic toward `node`; what it sends still flows.
    fn blackhole(&mut self, node: usize) -> Result<(), FaultError>;
    /// Ends every delay and blackhole.
    fn heal_links(&mut self) -> Result<(), FaultError>;
}

/// What a node's disk keeps. Each fault kills the node's database first;
/// `Kill::start` brings it back.
pub trait Disk {
    /// Kills `node`'s database and drops what it wrote but did not
    /// fsync; what was lost, in words.
    fn lose_unsynced(&mut self, node: usize) -> Result<String, FaultError>;
    /// Kills `node`'s database and damages one of its data files (cut
    /// short, or bits flipped), chosen by `seed`; what was done, in words.
    fn corrupt(&mut self, node: usize, seed: u64) -> Result<String, FaultError>;
}

/// Moving one node's clock (as the node sees it; never the machine's).
pub trait Clock {
    /// Shifts the node's wall clock by `offset_ms` from true time (0
    /// puts it back).
    fn set_clock(&mut self, node: usize, offset_ms: i64) -> Result<(), FaultError>;
    /// Flips the node's wall clock between true time and `delta_ms`
    /// ahead every `period_ms`, until `set_clock` sets it again.
    fn strobe(&mut self, node: usize, delta_ms: i64, period_ms: u64) -> Result<(), FaultError>;
}

/// Pausing the test's own clients, as a garbage-collection pause or a
/// stopped VM stops a client process: a worker stops between operations
/// (its client's background work too) and goes on when resumed, unaware.
/// The controller's power, not the database's.
pub trait PauseClients {
    /// Pauses one worker, chosen with `pick`; its name for the history.
    fn pause_client(&mut self, pick: usize) -> Result<String, FaultError>;
    /// Lets every paused worker go on.
    fn resume_clients(&mut self) -> Result<(), FaultError>;
}

/// A database's powers, each optional as Jepsen's DB protocols are: a
/// system or a backend that lacks one says why instead, and a run whose
/// faults need it is refused before it starts ([`missing`]).
pub trait Powers: Nodes {
    /// Killing and restarting nodes.
    fn as_kill(&mut self) -> Result<&mut dyn Kill, String> {
        Err("this cluster cannot kill its nodes".into())
    }
    /// Pausing and resuming nodes.
    fn as_pause(&mut self) -> Result<&mut dyn Pause, String> {
        Err("this cluster cannot pause its nodes".into())
    }
    /// Cutting and degrading the network between nodes.
    fn as_partition(&mut self) -> Result<&mut dyn Partition, String> {
        Err("this cluster cannot change its network".into())
    }
    /// Moving a node's clock.
    fn as_clock(&mut self) -> Result<&mut dyn Clock, String> {
        Err("this cluster cannot move its nodes' clocks".into())
    }
    /// Losing and damaging what nodes wrote to disk.
    fn as_disk(&mut self) -> Result<&mut dyn Disk, String> {
        Err("this cluster's data cannot be lost or damaged by faultline".into())
    }
    /// Slowing and holding proxied links.
    fn as_links(&mut self) -> Result<&mut dyn Links, String> {
        Err("this cluster's links do not go through faultline's proxies".into())
    }
    /// Pausing the test's clients.
    fn as_pause_clients(&mut self) -> Result<&mut dyn PauseClients, String> {
        Err("only a test's controller can pause its clients".into())
    }
    /// The nodes that currently act as primary or leader (Jepsen's
    /// `Primary`); may be empty, and is where it is unknown.
    fn primaries(&mut self) -> Vec<usize> {
        Vec::new()
    }
}

/// Why `db` cannot take every one of `faults`, if it cannot: one
/// sentence per missing power.
pub fn missing<D: Powers + ?Sized>(faults: &[Fault], db: &mut D) -> Option<String> {
    let reasons: Vec<String> = faults
        .iter()
        .filter_map(|&f| {
            f.def()
                .needs
                .lacking(db)
                .map(|why| format!("--nemesis {f}: {why}"))
        })
        .collect();
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// Which nodes faults hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Any node, chosen at random.
    Random,
    /// A current primary (a random node if none is known); a partition
    /// strands it in the largest minority.
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

/// The delay `Fault::Delay` adds to each chunk on a link, each way.
pub const DELAY: std::time::Duration = std::time::Duration::from_millis(50);
/// Up to this much more, at random.
pub const JITTER: std::time::Duration = std::time::Duration::from_millis(50);

/// How often `Fault::Strobe` flips a clock.
pub const STROBE_PERIOD_MS: u64 = 500;

/// The share of packets `Fault::Loss` drops.
pub const LOSS_PROBABILITY: f64 = 0.2;

/// A power the database lacks, as the error of the action that needed it.
fn power<T>(p: Result<T, String>, action: &'static str) -> Result<T, FaultError> {
    p.map_err(|message| FaultError {
        action,
        node: "all".into(),
        message,
    })
}

/// What the nemesis did, for the history (process `nemesis`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `kill`, `start`, `pause`, `resume`, `start-partition`, ...
    pub f: &'static str,
    /// The nodes it acted on.
    pub nodes: Vec<String>,
    /// Exactly what it did, in words (`partition halves: n1,n3 | n2`).
    pub detail: String,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// Picks and applies faults, and remembers what to heal.
#[derive(Debug)]
pub struct Nemesis {
    steps: Vec<Vec<Fault>>,
    target: Target,
    rng: u64,
    active: Vec<Active>,
    next: usize,
}

/// A fault in force: what to undo, and how it was described.
#[derive(Debug)]
struct Active {
    fault: Fault,
    /// The nodes, for process and disk faults.
    targets: Vec<usize>,
    /// The names it acted on, repeated in the healing event.
    nodes: Vec<String>,
    words: String,
}

impl Nemesis {
    /// A nemesis choosing among `faults` and hitting `target`, seeded for
    /// reproducible choices.
    pub fn new(faults: Vec<Fault>, target: Target, seed: u64) -> Self {
        Nemesis::with_steps(faults.into_iter().map(|f| vec![f]).collect(), target, seed)
    }

    /// A nemesis taking `steps` in turn, each starting all its faults at
    /// once.
    pub fn with_steps(steps: Vec<Vec<Fault>>, target: Target, seed: u64) -> Self {
        Nemesis {
            steps,
            target,
            rng: seed ^ 0x5DEE_CE66,
            active: Vec::new(),
            next: 0,
        }
    }

    /// The faults in force, in words (`kill n2`), for progress lines.
    pub fn describe_active(&self) -> Option<String> {
        let parts: Vec<&str> = self.active.iter().map(|a| a.words.as_str()).collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// The faults in force, oldest first, for live metrics.
    pub fn active(&self) -> impl Iterator<Item = Fault> + '_ {
        self.active.iter().map(|a| a.fault)
    }

    fn below(&mut self, n: usize) -> usize {
        self.rng = self
            .rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.rng >> 33) % n as u64) as usize
    }

    /// Starts the next step's faults (steps take turns): each on a random
    /// node, or a random partition shape.
    pub fn start<D: Powers + ?Sized>(&mut self, db: &mut D) -> Vec<Event> {
        if self.steps.is_empty() || db.count() == 0 {
            return Vec::new();
        }
        let step = self.steps[self.next % self.steps.len()].clone();
        self.next += 1;
        step.into_iter().map(|f| self.start_fault(f, db)).collect()
    }

    fn start_fault<D: Powers + ?Sized>(&mut self, fault: Fault, db: &mut D) -> Event {
        let names = |nodes: &[usize], db: &D| nodes.iter().map(|&n| db.name(n)).collect::<Vec<_>>();
        let (targets, nodes, result, words) = match fault {
            Fault::Kill | Fault::Pause => {
                let primaries = match self.target {
                    Target::Primary => db.primaries(),
                    Target::Random => Vec::new(),
                };
                let node = if primaries.is_empty() {
                    self.below(db.count())
                } else {
                    primaries[self.below(primaries.len())]
                };
                let result = if fault == Fault::Kill {
                    power(db.as_kill(), "kill").and_then(|p| p.kill(node))
                } else {
                    power(db.as_pause(), "pause").and_then(|p| p.pause(node))
                };
                let words = format!("{} {}", fault.def().start, db.name(node));
                (vec![node], vec![db.name(node)], result, words)
            }
            Fault::Partition => {
                let mut order: Vec<usize> = (0..db.count()).collect();
                for i in (1..order.len()).rev() {
                    order.swap(i, self.below(i + 1));
                }
                // Aimed at the primary: strand it in the largest minority
                // (alone among 3, with one replica among 5), the failover
                // case where a replica's acknowledgement does not save a
                // write.
                let primary = match self.target {
                    Target::Primary => db.primaries().first().copied(),
                    Target::Random => None,
                };
                let shape = match primary {
                    Some(p) => {
                        order.retain(|&n| n != p);
                        order.insert(0, p);
                        Shape::MajorityMinority
                    }
                    None => {
                        let shapes = Shape::for_nodes(db.count());
                        shapes[self.below(shapes.len())]
                    }
                };
                let grudge = Grudge::new(shape, &order);
                let words = format!("partition {}: {}", shape.name(), grudge.describe(|n| db.name(n)));
                (
                    Vec::new(),
                    names(&(0..db.count()).collect::<Vec<_>>(), db),
                    power(db.as_partition(), "partition").and_then(|p| p.partition(&grudge)),
                    words,
                )
            }
            Fault::Clock => {
                let node = self.below(db.count());
                let magnitude = 1_000 + self.below(59_001) as i64;
                let offset = if self.below(2) == 0 { magnitude } else { -magnitude };
                let words = format!(
                    "bump {}'s clock by {:+.3} s",
                    db.name(node),
                    offset as f64 / 1000.0
                );
                let result = power(db.as_clock(), "set clock").and_then(|p| p.set_clock(node, offset));
                (vec![node], vec![db.name(node)], result, words)
            }
            Fault::Strobe => {
                let node = self.below(db.count());
                let delta = 200 + self.below(1_801) as i64;
                let words = format!(
                    "strobe {}'s clock between true time and {:+.3} s every {STROBE_PERIOD_MS} ms",
                    db.name(node),
                    delta as f64 / 1000.0
                );
                let result = power(db.as_clock(), "strobe clock")
                    .and_then(|p| p.strobe(node, delta, STROBE_PERIOD_MS));
                (vec![node], vec![db.name(node)], result, words)
            }
            Fault::Delay => {
                let words = format!(
                    "delay every proxied link by {} ms + up to {} ms",
                    DELAY.as_millis(),
                    JITTER.as_millis()
                );
                let all: Vec<usize> = (0..db.count()).collect();
                let result = power(db.as_links(), "delay").and_then(|p| p.slow(DELAY, JITTER));
                (Vec::new(), names(&all, db), result, words)
            }
            Fault::Blackhole => {
                let node = self.below(db.count());
                let words = format!("blackhole traffic to {}", db.name(node));
                let result = power(db.as_links(), "blackhole").and_then(|p| p.blackhole(node));
                (vec![node], vec![db.name(node)], result, words)
            }
            Fault::ClientPause => {
                let pick = self.below(usize::MAX >> 1);
                match power(db.as_pause_clients(), "pause client").and_then(|p| p.pause_client(pick)) {
                    Ok(who) => (Vec::new(), vec![who.clone()], Ok(()), format!("pause {who}")),
                    Err(e) => (Vec::new(), Vec::new(), Err(e), "pause a client".into()),
                }
            }
            Fault::Loss => {
                let words = format!("drop {:.0}% of packets between nodes", LOSS_PROBABILITY * 100.0);
                let all: Vec<usize> = (0..db.count()).collect();
                let result = power(db.as_partition(), "loss").and_then(|p| p.lose_packets(LOSS_PROBABILITY));
                (Vec::new(), names(&all, db), result, words)
            }
            Fault::LoseUnsynced => {
                // A whole cluster losing power (replicas would otherwise
                // hide one node's loss), or its primary alone.
                let targets = match self.target {
                    Target::Primary => db.primaries().into_iter().take(1).collect(),
                    Target::Random => Vec::new(),
                };
                let targets = if targets.is_empty() {
                    (0..db.count()).collect()
                } else {
                    targets
                };
                let mut said = Vec::new();
                let mut result = Ok(());
                for &n in &targets {
                    match power(db.as_disk(), "lose unsynced").and_then(|p| p.lose_unsynced(n)) {
                        Ok(what) => said.push(format!("{}: {what}", db.name(n))),
                        Err(e) => {
                            result = result.and(Err(e));
                        }
                    }
                }
                let words = format!(
                    "kill {} and lose what was not fsynced ({})",
                    names(&targets, db).join(","),
                    said.join("; ")
                );
                (targets.clone(), names(&targets, db), result, words)
            }
            Fault::Corrupt => {
                let node = self.below(db.count());
                let seed = self.below(usize::MAX >> 1) as u64;
                match power(db.as_disk(), "corrupt").and_then(|p| p.corrupt(node, seed)) {
                    Ok(what) => (
                        vec![node],
                        vec![db.name(node)],
                        Ok(()),
                        format!("kill {} and corrupt its data: {what}", db.name(node)),
                    ),
                    Err(e) => (
                        vec![node],
                        vec![db.name(node)],
                        Err(e),
                        format!("kill {} and corrupt its data", db.name(node)),
                    ),
                }
            }
        };
        let event = Event {
            f: fault.def().start,
            nodes: nodes.clone(),
            detail: words.clone(),
            error: result.err().map(|e| e.to_string()),
        };
        self.active.push(Active {
            fault,
            targets,
            nodes,
            words,
        });
        event
    }

    /// Undoes every active fault, newest first. Always leaves nothing
    /// active, even if an undo fails (the error is in its event).
    pub fn heal<D: Powers + ?Sized>(&mut self, db: &mut D) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(a) = self.active.pop() {
            // A fault is undone by its power's own undo.
            let result = match a.fault.def().needs {
                Power::Kill | Power::Disk => power(db.as_kill(), "start")
                    .and_then(|p| a.targets.iter().map(|&n| p.start(n)).fold(Ok(()), Result::and)),
                Power::Pause => power(db.as_pause(), "resume").and_then(|p| p.resume(a.targets[0])),
                Power::Network => power(db.as_partition(), "heal").and_then(|p| p.heal_network()),
                Power::Clock => {
                    power(db.as_clock(), "reset clock").and_then(|p| p.set_clock(a.targets[0], 0))
                }
                Power::Clients => {
                    power(db.as_pause_clients(), "resume clients").and_then(|p| p.resume_clients())
                }
                Power::Links => power(db.as_links(), "heal links").and_then(|p| p.heal_links()),
            };
            events.push(Event {
                f: a.fault.def().undo,
                nodes: a.nodes,
                detail: format!("undo: {}", a.words),
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

    impl Partition for MockDb {
        fn partition(&mut self, g: &Grudge) -> Result<(), FaultError> {
            self.calls.push(format!("partition {:?}", g.0));
            Ok(())
        }
        fn lose_packets(&mut self, _p: f64) -> Result<(), FaultError> {
            self.calls.push("loss".into());
            Ok(())
        }
        fn heal_network(&mut self) -> Result<(), FaultError> {
            self.calls.push("heal".into());
            Ok(())
        }
    }

    impl Clock for MockDb {
        fn set_clock(&mut self, n: usize, offset_ms: i64) -> Result<(), FaultError> {
            self.calls.push(format!("clock {n} {offset_ms}"));
            Ok(())
        }
        fn strobe(&mut self, n: usize, delta_ms: i64, period_ms: u64) -> Result<(), FaultError> {
            self.calls.push(format!("strobe {n} {delta_ms} {period_ms}"));
            Ok(())
        }
    }

    impl Powers for MockDb {
        fn as_kill(&mut self) -> Result<&mut dyn Kill, String> {
            Ok(self)
        }
        fn as_pause(&mut self) -> Result<&mut dyn Pause, String> {
            Ok(self)
        }
        fn as_partition(&mut self) -> Result<&mut dyn Partition, String> {
            Ok(self)
        }
        fn as_clock(&mut self) -> Result<&mut dyn Clock, String> {
            Ok(self)
        }
        fn primaries(&mut self) -> Vec<usize> {
            vec![2]
        }
    }

    /// A mock with no powers but names: what a cluster faultline only
    /// talks to offers.
    struct Powerless;

    impl Nodes for Powerless {
        fn count(&self) -> usize {
            3
        }
        fn name(&self, n: usize) -> String {
            format!("n{}", n + 1)
        }
    }

    impl Powers for Powerless {}

    #[test]
    fn missing_powers_are_named_before_a_run() {
        assert_eq!(
            missing(&[Fault::Kill, Fault::Partition], &mut MockDb::default()),
            None
        );
        let why = missing(&[Fault::Kill, Fault::Loss], &mut Powerless).unwrap();
        assert!(
            why.starts_with("--nemesis kill: this cluster cannot kill")
                && why.contains("--nemesis loss: this cluster cannot change its network"),
            "{why}"
        );
        // Should a fault slip through, its event carries the reason.
        let e = Nemesis::new(vec![Fault::Pause], Target::Random, 1)
            .start(&mut Powerless)
            .remove(0);
        assert!(e.error.unwrap().contains("cannot pause"));
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
        let a = nem.start(&mut db).remove(0);
        let b = nem.start(&mut db).remove(0);
        assert_eq!((a.f, b.f), ("kill", "pause"));
        assert!(nem.describe_active().unwrap().contains("kill n"));
        let healed = nem.heal(&mut db);
        assert_eq!(healed.len(), 2);
        assert_eq!(healed[0].f, "resume");
        assert!(healed[0].error.is_some());
        assert_eq!(healed[1].f, "start");
        assert!(nem.heal(&mut db).is_empty());
        assert!(nem.describe_active().is_none());
    }

    #[test]
    fn a_clock_bump_is_within_a_minute_and_reset_on_heal() {
        let mut db = MockDb::default();
        let mut nem = Nemesis::new(vec![Fault::Clock], Target::Random, 11);
        for _ in 0..20 {
            let e = nem.start(&mut db).remove(0);
            assert_eq!(e.f, "bump-clock");
            let offset: i64 = db
                .calls
                .last()
                .unwrap()
                .rsplit(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1_000..=60_000).contains(&offset.abs()), "{offset}");
            assert!(e.detail.contains("'s clock by "), "{}", e.detail);
            assert_eq!(nem.heal(&mut db)[0].f, "reset-clock");
            assert!(db.calls.last().unwrap().ends_with(" 0"));
        }
    }

    #[test]
    fn primary_targets_hit_the_primary() {
        let mut db = MockDb::default();
        let mut nem = Nemesis::new(vec![Fault::Kill], Target::Primary, 1);
        for _ in 0..5 {
            assert_eq!(nem.start(&mut db).remove(0).nodes, vec!["n3".to_string()]);
            nem.heal(&mut db);
        }
    }

    #[test]
    fn a_partition_aimed_at_the_primary_strands_it_in_a_minority() {
        let mut db = MockDb::default();
        let mut nem = Nemesis::new(vec![Fault::Partition], Target::Primary, 5);
        let e = nem.start(&mut db).remove(0);
        assert_eq!(e.detail, "partition majority/minority: n1,n2 | n3");
        assert!(
            db.calls.last().unwrap().contains("[0, 1]"),
            "n3 drops n1 and n2: {:?}",
            db.calls
        );
    }

    #[test]
    fn a_partition_is_healed_with_the_network() {
        let mut db = MockDb::default();
        let mut nem = Nemesis::new(vec![Fault::Partition], Target::Random, 3);
        let e = nem.start(&mut db).remove(0);
        assert_eq!(e.f, "start-partition");
        assert!(e.detail.starts_with("partition "), "{}", e.detail);
        let healed = nem.heal(&mut db);
        assert_eq!(healed[0].f, "stop-partition");
        assert_eq!(db.calls.last().unwrap(), "heal");
    }
}
