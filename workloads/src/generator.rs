//! `Generator`: which operation each worker performs next.
//!
//! Independent keys as Jepsen's `independent/concurrent-generator`: the
//! workers are split into groups, each group works on one key, and after
//! `ops_per_key` operations the group moves to a fresh key, so each key's
//! history stays small enough to check. The first workers of each group
//! may be reserved for reads. `RateLimit` spaces invocations across all
//! workers. Deterministic for a given seed (the interleaving still depends
//! on the system).

use std::time::Duration;

use checkers::{Function, OpType, Value};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::client::Invocation;
use crate::workload::Workload;

/// SplitMix64: small, seedable, and stable across versions, so a seed
/// always means the same operations (and the same synthetic histories).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

/// How a generator spreads work.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Workers sharing one key at a time.
    pub workers_per_key: usize,
    /// Operations on a key before its workers move to a fresh one.
    pub ops_per_key: usize,
    /// In each key's group, the first `readers_per_key` workers only
    /// read (Jepsen's reserve): a reader keeps reading while its group's
    /// writers, on other nodes, change the key.
    pub readers_per_key: usize,
    /// Seed for values and choices.
    pub seed: u64,
    /// Lock workload: each holder reads the list its lock guards
    /// (`fetch`), then writes it back with a unique element added (`add`)
    /// before releasing — a read-modify-write that trusts the lock — and
    /// the final op reads every guarded list.
    pub guarded: bool,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            workers_per_key: 4,
            ops_per_key: 200,
            readers_per_key: 0,
            seed: 0,
            guarded: false,
        }
    }
}

/// Emits each worker's next operation.
#[derive(Debug)]
pub struct Generator {
    workload: Workload,
    plan: Plan,
    rng: Rng,
    /// Per worker group: its key and the ops issued on it.
    groups: Vec<(i64, usize)>,
    next_key: i64,
    next_element: i64,
    /// Lock workload: the key each worker holds, if any, and what it
    /// does next.
    holding: Vec<Option<(Value, Guarded)>>,
    /// Transactional workloads: the keys in use, and writes made to each.
    active: Vec<(i64, i64)>,
    /// Log workload: sends issued to each log, and per worker the logs
    /// its current process has polled.
    log_sends: [u64; LOGS],
    polled: Vec<[bool; LOGS]>,
}

/// Logs the log workload sends to; every worker's final read reads one
/// whole, so runs with fewer workers leave some logs unread.
const LOGS: usize = 3;

/// A lock holder's next step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Guarded {
    /// Read the guarded list.
    Fetch,
    /// Write it back with an element added.
    Add,
    /// Release.
    Release,
}

/// Keys transactions work on at once: few, so they conflict.
const ACTIVE_KEYS: usize = 5;
/// Writes to a key before it retires for a fresh one (Elle's default):
/// keeps each list, and each key's history, short.
const WRITES_PER_KEY: i64 = 32;

impl Generator {
    /// A generator for `workload`.
    pub fn new(workload: Workload, plan: Plan) -> Self {
        Generator {
            workload,
            rng: Rng::new(plan.seed),
            plan,
            groups: Vec::new(),
            next_key: 0,
            next_element: 0,
            holding: Vec::new(),
            active: Vec::new(),
            log_sends: [0; LOGS],
            polled: Vec::new(),
        }
    }

    fn key_for(&mut self, worker: usize) -> i64 {
        let g = worker / self.plan.workers_per_key.max(1);
        while self.groups.len() <= g {
            self.groups.push((self.next_key, 0));
            self.next_key += 1;
        }
        if self.groups[g].1 >= self.plan.ops_per_key {
            self.groups[g] = (self.next_key, 0);
            self.next_key += 1;
        }
        self.groups[g].1 += 1;
        self.groups[g].0
    }

    /// The next operation for `worker` in the main phase.
    pub fn next(&mut self, worker: usize) -> Invocation {
        let reader = worker % self.plan.workers_per_key.max(1) < self.plan.readers_per_key;
        match self.workload {
            Workload::Set => {
                self.next_element += 1;
                Invocation {
                    f: Function::Add,
                    key: None,
                    value: Value::Int(self.next_element),
                }
            }
            Workload::Lock => {
                if self.holding.len() <= worker {
                    self.holding.resize(worker + 1, None);
                }
                // A holder releases the lock it took, even if its group has
                // moved on to a fresh key meanwhile.
                match &self.holding[worker] {
                    Some((key, Guarded::Fetch)) => Invocation {
                        f: Function::Fetch,
                        key: Some(key.clone()),
                        value: Value::Nil,
                    },
                    Some((key, Guarded::Add)) => {
                        self.next_element += 1;
                        Invocation {
                            f: Function::Add,
                            key: Some(key.clone()),
                            value: Value::Int(self.next_element),
                        }
                    }
                    Some((key, Guarded::Release)) => Invocation {
                        f: Function::Release,
                        key: Some(key.clone()),
                        value: Value::Nil,
                    },
                    None => Invocation {
                        f: Function::Acquire,
                        key: Some(Value::Int(self.key_for(worker))),
                        value: Value::Nil,
                    },
                }
            }
            Workload::Log => self.log(worker),
            Workload::ListAppend => self.list_append(),
            Workload::RwRegister => self.rw_register(),
            Workload::Watch => self.watch(worker),
            Workload::Register | Workload::CasRegister => {
                let key = Some(Value::Int(self.key_for(worker)));
                let kinds = if self.workload == Workload::CasRegister {
                    3
                } else {
                    2
                };
                let choice = if reader { 0 } else { self.rng.below(kinds) };
                let (f, value) = match choice {
                    0 => (Function::Read, Value::Nil),
                    1 => (Function::Write, Value::Int(self.rng.below(5) as i64)),
                    _ => {
                        let from = Value::Int(self.rng.below(5) as i64);
                        (
                            Function::Cas,
                            Value::List(vec![from, Value::Int(self.rng.below(5) as i64)]),
                        )
                    }
                };
                Invocation { f, key, value }
            }
        }
    }

    /// Even workers produce: a unique value to a random log. Odd workers
    /// consume a random log: its first poll by this process seeks near
    /// the log's end, as does one in ten after; the others read on.
    fn log(&mut self, worker: usize) -> Invocation {
        let log = self.rng.below(LOGS as u64) as usize;
        let key = Some(Value::Int(log as i64));
        if worker.is_multiple_of(2) {
            self.next_element += 1;
            self.log_sends[log] += 1;
            return Invocation {
                f: Function::Send,
                key,
                value: Value::Int(self.next_element),
            };
        }
        if self.polled.len() <= worker {
            self.polled.resize(worker + 1, [false; LOGS]);
        }
        let seek = !self.polled[worker][log] || self.rng.below(10) == 0;
        self.polled[worker][log] = true;
        let value = if seek {
            // Near the end: a seek from far back would reread the log.
            let back = self.rng.below(16);
            Value::Int(self.log_sends[log].saturating_sub(back) as i64)
        } else {
            Value::Nil
        };
        Invocation {
            f: Function::Poll,
            key,
            value,
        }
    }

    /// One of the active keys, and a write to it: its next value, unique
    /// for the key. A key that has had its writes retires for a fresh one.
    fn write_to(&mut self, slot: usize) -> (i64, i64) {
        let (key, writes) = &mut self.active[slot];
        *writes += 1;
        let w = (*key, *writes);
        if *writes >= WRITES_PER_KEY {
            self.active[slot] = (self.next_key, 0);
            self.next_key += 1;
        }
        w
    }

    fn slot(&mut self) -> usize {
        while self.active.len() < ACTIVE_KEYS {
            self.active.push((self.next_key, 0));
            self.next_key += 1;
        }
        self.rng.below(ACTIVE_KEYS as u64) as usize
    }

    fn mop(f: &str, key: i64, value: Value) -> Value {
        Value::List(vec![f.into(), Value::Int(key), value])
    }

    /// 1–4 micro-ops, each an append (of the key's next element) or a
    /// read of a whole list.
    fn list_append(&mut self) -> Invocation {
        let n = 1 + self.rng.below(4);
        let mops = (0..n)
            .map(|_| {
                let slot = self.slot();
                if self.rng.below(2) == 0 {
                    let (k, v) = self.write_to(slot);
                    Self::mop("append", k, Value::Int(v))
                } else {
                    Self::mop("r", self.active[slot].0, Value::Nil)
                }
            })
            .collect();
        Invocation {
            f: Function::Txn,
            key: None,
            value: Value::List(mops),
        }
    }

    /// Read two keys, then (most of the time) write one of them: the
    /// transactions of write skew, with every write following a read of
    /// its key so the order of versions can be inferred.
    fn rw_register(&mut self) -> Invocation {
        let a = self.slot();
        let b = (a + 1 + self.rng.below(ACTIVE_KEYS as u64 - 1) as usize) % ACTIVE_KEYS;
        let mut mops = vec![
            Self::mop("r", self.active[a].0, Value::Nil),
            Self::mop("r", self.active[b].0, Value::Nil),
        ];
        if self.rng.below(10) < 7 {
            let which = if self.rng.below(2) == 0 { a } else { b };
            let (k, v) = self.write_to(which);
            mops.push(Self::mop("w", k, Value::Int(v)));
        }
        Invocation {
            f: Function::Txn,
            key: None,
            value: Value::List(mops),
        }
    }

    /// A watcher (see [`watch_range`]) watches its range; a writer puts
    /// and deletes 1–3 distinct keys in one transaction, each put a
    /// value never written before.
    fn watch(&mut self, worker: usize) -> Invocation {
        if let Some(range) = watch_range(worker) {
            return Invocation {
                f: Function::Watch,
                key: None,
                value: Value::List(range.into_iter().map(Value::Int).collect()),
            };
        }
        let n = 1 + self.rng.below(3);
        let mut keys: Vec<i64> = (0..n).map(|_| self.rng.below(WATCH_KEYS as u64) as i64).collect();
        keys.sort_unstable();
        keys.dedup();
        let mops = keys
            .into_iter()
            .map(|k| {
                if self.rng.below(5) == 0 {
                    Self::mop("delete", k, Value::Nil)
                } else {
                    self.next_element += 1;
                    Self::mop("put", k, Value::Int(self.next_element))
                }
            })
            .collect();
        Invocation {
            f: Function::Txn,
            key: None,
            value: Value::List(mops),
        }
    }

    /// Tells the generator how `worker`'s operation ended (the lock
    /// workload's next op depends on it). After an `info` the worker is a
    /// new process that holds nothing.
    pub fn completed(&mut self, worker: usize, op: &Invocation, kind: OpType) {
        // A new process has a new client, which knows no position to
        // read on from.
        if let (Some(p), OpType::Info) = (self.polled.get_mut(worker), kind) {
            *p = [false; LOGS];
        }
        if self.workload != Workload::Lock || self.holding.len() <= worker {
            return;
        }
        let next = |step| self.holding[worker].clone().map(|(k, _)| (k, step));
        self.holding[worker] = match (&op.f, kind) {
            (Function::Acquire, OpType::Ok) => {
                let first = if self.plan.guarded {
                    Guarded::Fetch
                } else {
                    Guarded::Release
                };
                op.key.clone().map(|k| (k, first))
            }
            // A definite failure leaves the lock where it was.
            (Function::Release, OpType::Fail) => return,
            (Function::Fetch, OpType::Ok) => next(Guarded::Add),
            (Function::Fetch, OpType::Fail) | (Function::Add, OpType::Ok | OpType::Fail) => {
                next(Guarded::Release)
            }
            // Released, or a crashed process whose session went with it.
            _ => None,
        };
    }

    /// What `worker` must do, with its own client, before it stops at the
    /// end of the main phase: give back a lock it holds (closing its
    /// session would release it unrecorded).
    pub fn closing_op(&self, worker: usize) -> Option<Invocation> {
        let (key, _) = self.holding.get(worker)?.clone()?;
        Some(Invocation {
            f: Function::Release,
            key: Some(key),
            value: Value::Nil,
        })
    }

    /// The operation `worker` performs after the faults are healed and the
    /// cluster has recovered, if the workload has one.
    pub fn final_op(&self, worker: usize) -> Option<Invocation> {
        if self.workload == Workload::Log {
            return Some(Invocation {
                f: Function::Poll,
                key: Some(Value::Int((worker % LOGS) as i64)),
                value: Value::Int(0),
            });
        }
        if self.workload == Workload::Watch {
            // One watch of every key from revision 1: the complete
            // event history the checker judges the streams against.
            return (worker == 0).then(|| Invocation {
                f: Function::Watch,
                key: None,
                value: Value::List(vec![0.into(), Value::Int(WATCH_KEYS), 1.into()]),
            });
        }
        let guards = self.workload == Workload::Lock && self.plan.guarded && worker == 0;
        (self.workload == Workload::Set || guards).then_some(Invocation {
            f: Function::Read,
            key: None,
            value: Value::Nil,
        })
    }
}

/// Keys the watch workload writes, `0..WATCH_KEYS`: few, so watchers see
/// many changes of each (single digits, so their names sort as numbers).
pub const WATCH_KEYS: i64 = 8;

/// The keys `[lo, hi)` a watch workload's worker watches, if it is a
/// watcher (workers 1, 5, 9, ...: worker w talks to node w mod n, so
/// with 3 or 5 nodes watchers are spread over them, and a fault on any
/// node breaks some stream): the whole space, or (every other watcher)
/// its middle, so ranges that cut transactions in two are watched too.
pub fn watch_range(worker: usize) -> Option<[i64; 2]> {
    let whole = (worker / 4).is_multiple_of(2);
    (worker % 4 == 1).then_some(if whole {
        [0, WATCH_KEYS]
    } else {
        [2, WATCH_KEYS - 2]
    })
}

/// Spaces invocations so that all workers together stay under a rate.
#[derive(Debug)]
pub struct RateLimit {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimit {
    /// At most `per_second` invocations per second in total.
    pub fn new(per_second: f64) -> Self {
        RateLimit {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_move_to_fresh_keys() {
        let mut g = Generator::new(
            Workload::CasRegister,
            Plan {
                workers_per_key: 2,
                ops_per_key: 3,
                ..Plan::default()
            },
        );
        let keys: Vec<_> = (0..8).map(|i| g.next(i % 4).key.unwrap()).collect();
        // Workers 0,1 share key 0 and 2,3 share key 1; after 3 ops each
        // group moves on to a key no one used.
        assert_eq!(keys[..4], [0.into(), 0.into(), 1.into(), 1.into()]);
        assert_eq!(keys[4], 0.into());
        assert_eq!(keys[5], 2.into());
    }

    #[test]
    fn reserved_workers_only_read() {
        let mut g = Generator::new(
            Workload::CasRegister,
            Plan {
                readers_per_key: 1,
                ..Plan::default()
            },
        );
        // Workers 0 and 4 open their groups of four.
        assert!((0..50).all(|_| g.next(0).f.name() == "read" && g.next(4).f.name() == "read"));
        assert!((0..50).any(|_| g.next(1).f.name() != "read"));
    }

    #[test]
    fn lock_workers_release_what_they_acquired() {
        let mut g = Generator::new(
            Workload::Lock,
            Plan {
                workers_per_key: 1,
                ops_per_key: 1,
                ..Plan::default()
            },
        );
        let a = g.next(0);
        assert_eq!(a.f.name(), "acquire");
        g.completed(0, &a, OpType::Fail);
        let b = g.next(0);
        assert_eq!(b.f.name(), "acquire");
        assert_ne!(a.key, b.key, "one op per key: the group moved on");
        g.completed(0, &b, OpType::Ok);
        assert_eq!(g.closing_op(0).map(|i| i.key), Some(b.key.clone()));
        let c = g.next(0);
        assert_eq!((c.f.name(), &c.key), ("release", &b.key));
        g.completed(0, &c, OpType::Info);
        assert_eq!(g.closing_op(0), None);
        assert_eq!(g.next(0).f.name(), "acquire");
    }

    #[test]
    fn guarded_lock_holders_write_once_then_release() {
        let mut g = Generator::new(
            Workload::Lock,
            Plan {
                guarded: true,
                ..Plan::default()
            },
        );
        let a = g.next(0);
        g.completed(0, &a, OpType::Ok);
        let f = g.next(0);
        assert_eq!((f.f.name(), &f.key), ("fetch", &a.key));
        g.completed(0, &f, OpType::Ok);
        let w = g.next(0);
        assert_eq!((w.f.name(), &w.key), ("add", &a.key));
        g.completed(0, &w, OpType::Fail);
        let r = g.next(0);
        assert_eq!((r.f.name(), &r.key), ("release", &a.key));
        g.completed(0, &r, OpType::Ok);
        let b = g.next(0);
        g.completed(0, &b, OpType::Ok);
        let f2 = g.next(0);
        g.completed(0, &f2, OpType::Ok);
        let w2 = g.next(0);
        assert_ne!(w.value, w2.value, "guarded elements are unique");
        g.completed(0, &w2, OpType::Info);
        assert_eq!(g.closing_op(0), None, "a crashed process holds nothing");
        assert_eq!(g.final_op(0).map(|i| i.f), Some("read".into()));
        assert_eq!(g.final_op(1), None, "one final read is enough");
    }

    #[test]
    fn transactions_write_unique_values_to_keys_of_bounded_life() {
        for w in [Workload::ListAppend, Workload::RwRegister] {
            let mut g = Generator::new(w, Plan::default());
            let mut writes: std::collections::HashMap<Value, Vec<Value>> = Default::default();
            for i in 0..2_000 {
                let op = g.next(i % 8);
                assert_eq!(op.f.name(), "txn");
                let mops = op.value.as_list().unwrap();
                assert!((1..=4).contains(&mops.len()), "{}", op.value);
                for m in mops {
                    let [f, k, v] = m.as_list().unwrap() else {
                        panic!("{m}")
                    };
                    if matches!(f.as_str(), Some("append" | "w")) {
                        writes.entry(k.clone()).or_default().push(v.clone());
                    }
                }
            }
            for (k, vs) in &writes {
                let mut unique = vs.clone();
                unique.dedup();
                assert_eq!(&unique, vs, "{w}: key {k} got a value twice");
                assert!(
                    vs.len() <= WRITES_PER_KEY as usize,
                    "{w}: key {k} outlived its writes"
                );
            }
            assert!(writes.len() > 20, "{w}: keys retire and fresh ones come");
        }
    }

    #[test]
    fn log_producers_send_unique_values_and_consumers_seek_then_read_on() {
        let mut g = Generator::new(Workload::Log, Plan::default());
        let sent: Vec<_> = (0..100).map(|_| g.next(0)).collect();
        assert!(sent.iter().all(|i| i.f == Function::Send));
        let mut values: Vec<_> = sent.iter().map(|i| i.value.clone()).collect();
        values.dedup();
        assert_eq!(values.len(), 100, "values are unique");
        let polls: Vec<_> = (0..100).map(|_| g.next(1)).collect();
        assert!(polls.iter().all(|i| i.f == Function::Poll));
        for log in 0..LOGS as i64 {
            let first = polls.iter().find(|i| i.key == Some(Value::Int(log))).unwrap();
            assert!(first.value.as_int().is_some(), "a process's first poll seeks");
        }
        assert!(polls.iter().any(|i| i.value == Value::Nil), "later ones read on");
        g.completed(1, &polls[0], OpType::Info);
        let again = g.next(1);
        assert!(again.value.as_int().is_some(), "a new process seeks again");
        let finals: Vec<_> = (0..LOGS).map(|w| g.final_op(w).unwrap()).collect();
        assert!(finals
            .iter()
            .all(|i| i.f == Function::Poll && i.value == Value::Int(0)));
        let keys: std::collections::BTreeSet<_> = finals.iter().map(|i| i.key.clone()).collect();
        assert_eq!(keys.len(), LOGS, "every log is read whole");
    }

    #[test]
    fn watch_workers_watch_and_writers_change_distinct_keys() {
        let mut g = Generator::new(Workload::Watch, Plan::default());
        for w in 0..12 {
            for _ in 0..50 {
                let op = g.next(w);
                if let Some([lo, hi]) = watch_range(w) {
                    assert_eq!(op.f, Function::Watch);
                    assert_eq!(op.value, Value::List(vec![lo.into(), hi.into()]));
                    continue;
                }
                assert_eq!(op.f, Function::Txn);
                let keys: Vec<i64> = op
                    .value
                    .as_list()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_list().unwrap()[1].as_int().unwrap())
                    .collect();
                assert!(
                    !keys.is_empty() && keys.windows(2).all(|k| k[0] < k[1]),
                    "{keys:?}"
                );
                assert!(keys.iter().all(|k| (0..WATCH_KEYS).contains(k)));
            }
        }
        assert_eq!(watch_range(1), Some([0, WATCH_KEYS]));
        assert_eq!(watch_range(5), Some([2, WATCH_KEYS - 2]));
        assert_eq!(watch_range(2), None);
        let fin = g.final_op(0).unwrap();
        assert_eq!(
            fin.value,
            Value::List(vec![0.into(), WATCH_KEYS.into(), 1.into()])
        );
        assert_eq!(g.final_op(1), None, "one final watch");
    }

    #[test]
    fn set_adds_are_unique_and_end_with_reads() {
        let mut g = Generator::new(Workload::Set, Plan::default());
        let a = g.next(0).value;
        let b = g.next(1).value;
        assert_ne!(a, b);
        assert_eq!(g.final_op(0).unwrap().f.name(), "read");
    }
}
