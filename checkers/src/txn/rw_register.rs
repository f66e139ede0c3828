//! What a read-write register history proves. Writes are blind, so a read
//! says which write it saw but not what came before it: the order of a
//! key's versions is known only where the history shows it. From the data
//! alone: the initial (nil) state precedes every write, a transaction
//! that read version a and then wrote b puts a before b (Elle's
//! `wfr-keys`), and a transaction's own writes are in the order it made
//! them. From the order of transactions (Elle's `sequential-keys` and
//! `linearizable-keys`): a committed transaction that ran before another
//! in its process, or completed before another began, left each key at a
//! version no later than the one the other found or wrote there. Those
//! facts hold only in a history that respects that order, so the edges
//! they give carry its [`Scope`] and a cycle through them rules out only
//! the models that promise it (strict serializability), never plain
//! serializability.
//!
//! Every edge follows from those facts and nothing else, so a cycle is
//! always a real anomaly, but some anomalies of blind writes cannot be
//! seen (as in Elle). A commit order reported by the database itself
//! (Elle's `:transaction-order`) would be one more source of facts, but a
//! faultline history has no field to carry it.

use hashbrown::{HashMap, HashSet};

use super::consistency::{Kind, Scope};
use super::graph::{Dep, DepGraph};
use super::order;
use super::transaction::{Mop, Txns};
use super::{Finding, Inference, Once};
use crate::error::InputError;
use crate::history::Outcome;

/// A version: the initial state of a key, or a write of it.
type Version = Option<u32>;

/// Why one version of a key precedes another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Because {
    /// The later version's writer read the earlier one, then wrote.
    ReadThenWrote,
    /// `a` (committed) left the key at the earlier version and ran before
    /// `b`, which found or wrote the later one; `order` is
    /// [`Dep::Process`] or [`Dep::Realtime`].
    Ran { order: Dep, a: u32, b: u32 },
}

impl Because {
    /// The order the fact assumes.
    fn scope(self) -> Scope {
        match self {
            Because::ReadThenWrote => Scope::Data,
            Because::Ran {
                order: Dep::Process, ..
            } => Scope::Process,
            Because::Ran { .. } => Scope::Realtime,
        }
    }
}

/// The rw-register inference for one history.
pub struct RwRegister<'a> {
    txns: &'a Txns,
    /// (key, value) -> (writer, mop index).
    writes: HashMap<(u32, u32), (u32, u32)>,
    /// (key, version) -> the versions known to come right after it, and
    /// why.
    next: HashMap<(u32, Version), Vec<(u32, Because)>>,
    committed: Vec<bool>,
}

/// What each transaction that took effect did to each key it touched:
/// the version it found there first and the one it left. Flat, with
/// `at[t]..at[t+1]` the range of transaction `t`.
struct Ends {
    at: Vec<usize>,
    keys: Vec<u32>,
    /// (first, last) per entry of `keys`.
    versions: Vec<(Version, Version)>,
}

impl Ends {
    fn keys(&self, t: u32) -> &[u32] {
        &self.keys[self.at[t as usize]..self.at[t as usize + 1]]
    }

    fn of(&self, t: u32, key: u32) -> Option<(Version, Version)> {
        let r = self.at[t as usize]..self.at[t as usize + 1];
        let i = self.keys[r.clone()].iter().position(|k| *k == key)?;
        Some(self.versions[r.start + i])
    }
}

/// A read of another transaction's state: (mop index, key, version).
type ExternalRead = (u32, u32, Version);

impl<'a> RwRegister<'a> {
    /// Infers the dependencies of `txns` into `graph` and reports reads no
    /// order of writes explains into `findings`.
    pub fn infer(
        txns: &'a Txns,
        graph: &mut DepGraph,
        findings: &mut Vec<Finding>,
    ) -> Result<Self, InputError> {
        let mut rw = RwRegister {
            txns,
            writes: HashMap::new(),
            next: HashMap::new(),
            committed: txns.txns.iter().map(|t| t.outcome == Outcome::Ok).collect(),
        };
        for t in 0..txns.txns.len() as u32 {
            for (i, m) in txns.mops(t).iter().enumerate() {
                if let Mop::Write { key, value } = *m {
                    if let Some((prev, _)) = rw.writes.insert((key, value), (t, i as u32)) {
                        return Err(InputError::at(
                            &txns.source,
                            txns.txns[t as usize].line,
                            format!(
                                "{} is written to key {} again (first on line {}): rw-register needs each value \
                                 written once per key",
                                txns.value(value),
                                txns.key(key),
                                txns.txns[prev as usize].line
                            ),
                        ));
                    }
                }
            }
        }
        rw.check_reads(findings);
        rw.order_versions();
        rw.add_edges(graph, findings);
        Ok(rw)
    }

    fn ok(&self, t: u32) -> bool {
        self.txns.txns[t as usize].outcome == Outcome::Ok
    }

    /// The reads of `t` that saw other transactions' state: those before
    /// its own first write to the key.
    fn external_reads(&self, t: u32) -> Vec<ExternalRead> {
        let mut written: HashSet<u32> = HashSet::new();
        let mut out = Vec::new();
        for (i, m) in self.txns.mops(t).iter().enumerate() {
            match *m {
                Mop::Write { key, .. } => {
                    written.insert(key);
                }
                Mop::Read { key, value: Some(v) }
                    if !written.contains(&key) && !out.iter().any(|r: &ExternalRead| r.1 == key) =>
                {
                    out.push((i as u32, key, v));
                }
                _ => {}
            }
        }
        out
    }

    /// The last value `t` wrote to `key`.
    fn final_write(&self, t: u32, key: u32) -> Option<u32> {
        self.txns.mops(t).iter().rev().find_map(|m| match *m {
            Mop::Write { key: k, value } if k == key => Some(value),
            _ => None,
        })
    }

    fn check_reads(&mut self, findings: &mut Vec<Finding>) {
        let mut once = Once::default();
        for t in 0..self.txns.txns.len() as u32 {
            if !self.ok(t) {
                continue;
            }
            // What the transaction itself last wrote or read, per key.
            let mut mine: HashMap<u32, Version> = HashMap::new();
            for (i, m) in self.txns.mops(t).iter().enumerate() {
                match *m {
                    Mop::Write { key, value } => {
                        mine.insert(key, Some(value));
                    }
                    Mop::Read { key, value: Some(v) } => {
                        let k = self.txns.key(key);
                        let show =
                            |v: Version| v.map_or("nil".to_string(), |v| self.txns.value(v).to_string());
                        if let Some(&expected) = mine.get(&key) {
                            if expected != v {
                                findings.push(Finding::new(
                                    Kind::Internal,
                                    vec![t],
                                    format!(
                                        "T{} read key {k} as {} after it had read or written {} there",
                                        t + 1,
                                        show(v),
                                        show(expected)
                                    ),
                                ));
                            }
                        }
                        mine.insert(key, v);
                        let Some(v) = v else { continue };
                        let (kind, txns, why) = match self.writes.get(&(key, v)).copied() {
                            None => (
                                Kind::GarbageRead,
                                vec![t],
                                format!("T{} read {} in key {k}, which no transaction wrote", t + 1, show(Some(v))),
                            ),
                            Some((w, _)) if self.txns.txns[w as usize].outcome == Outcome::Fail => (
                                Kind::G1a,
                                vec![w, t],
                                format!(
                                    "T{} read {} in key {k}, written by T{}, which failed (aborted)",
                                    t + 1,
                                    show(Some(v)),
                                    w + 1
                                ),
                            ),
                            Some((w, j)) if w == t && j > i as u32 => (
                                Kind::FutureRead,
                                vec![t],
                                format!("T{} read {} in key {k} before writing it itself", t + 1, show(Some(v))),
                            ),
                            Some((w, _)) if w != t && self.final_write(w, key) != Some(v) => (
                                Kind::G1b,
                                vec![w, t],
                                format!(
                                    "T{} read {} in key {k}, an intermediate state of T{}, which went on to write {}",
                                    t + 1,
                                    show(Some(v)),
                                    w + 1,
                                    show(self.final_write(w, key))
                                ),
                            ),
                            Some((w, _)) => {
                                self.committed[w as usize] = true;
                                continue;
                            }
                        };
                        if once.first(key, kind) {
                            findings.push(Finding::new(kind, txns, why));
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// The version order facts: a committed transaction's external read of
    /// a key comes before its final write of it; then those process and
    /// real-time order give.
    fn order_versions(&mut self) {
        // (key, version) -> the version its writer read there first, for
        // the usable reads: the chains of data facts.
        let mut read_before: HashMap<(u32, u32), u32> = HashMap::new();
        for t in 0..self.txns.txns.len() as u32 {
            if !self.ok(t) {
                continue;
            }
            for (_, key, v) in self.external_reads(t) {
                if let (Some(w), Some(r)) = (self.final_write(t, key), v) {
                    self.next
                        .entry((key, v))
                        .or_default()
                        .push((w, Because::ReadThenWrote));
                    if self.usable(t, key, v) {
                        read_before.insert((key, w), r);
                    }
                }
            }
        }
        let ends = self.ends();
        let txns = self.txns;
        let next = &mut self.next;
        for order in [Dep::Process, Dep::Realtime] {
            let mut relate = |key: u32, a: u32, b: u32| {
                // An indeterminate transaction may take effect at any time
                // after its invocation, so only a committed one precedes.
                if txns.txns[a as usize].outcome == Outcome::Ok {
                    let Some(fact) = Fact::of(&ends, key, a, b) else {
                        return;
                    };
                    if !fact.implied(&read_before) {
                        fact.record(next, Because::Ran { order, a, b });
                    }
                }
            };
            if order == Dep::Process {
                order::process(txns, |t| ends.keys(t), &mut relate);
            } else {
                order::realtime(txns, |t| ends.keys(t), &mut relate);
            }
        }
    }

    /// Whether `t`'s read of `v` in `key` names a version that exists: the
    /// initial state, or the final write of a transaction that did not
    /// fail (the other reads are findings, and order nothing).
    fn usable(&self, t: u32, key: u32, v: Version) -> bool {
        let Some(v) = v else { return true };
        self.writes.get(&(key, v)).is_some_and(|&(w, _)| {
            w != t
                && self.txns.txns[w as usize].outcome != Outcome::Fail
                && self.final_write(w, key) == Some(v)
        })
    }

    /// The [`Ends`] of every transaction known to have taken effect: a
    /// committed one found its (usable) external read, or else its own
    /// write, and left its final write, or else what it read; an
    /// indeterminate one whose writes were read found and left its final
    /// write. Indeterminate transactions nobody read from are left out:
    /// nothing is known to come after them, so a fact that ends at one
    /// could close no cycle.
    fn ends(&self) -> Ends {
        let mut ends = Ends {
            at: vec![0],
            keys: Vec::new(),
            versions: Vec::new(),
        };
        for t in 0..self.txns.txns.len() as u32 {
            if self.committed[t as usize] {
                let reads = if self.ok(t) {
                    self.external_reads(t)
                } else {
                    Vec::new()
                };
                for m in self.txns.mops(t) {
                    let key = m.key();
                    if ends.keys[ends.at[t as usize]..].contains(&key) {
                        continue;
                    }
                    let read = reads
                        .iter()
                        .find(|r| r.1 == key && self.usable(t, key, r.2))
                        .map(|r| r.2);
                    let wrote = self.final_write(t, key).map(Some);
                    if let (Some(first), Some(last)) = (read.or(wrote), wrote.or(read)) {
                        ends.keys.push(key);
                        ends.versions.push((first, last));
                    }
                }
            }
            ends.at.push(ends.keys.len());
        }
        ends
    }

    fn add_edges(&self, graph: &mut DepGraph, findings: &mut Vec<Finding>) {
        // Committed writers of each key, for reads of the initial state.
        let mut writers: HashMap<u32, Vec<u32>> = HashMap::new();
        for (&(key, value), &(w, _)) in &self.writes {
            if self.committed[w as usize] && self.final_write(w, key) == Some(value) {
                writers.entry(key).or_default().push(w);
            }
        }
        for ((key, v), next) in &self.next {
            if let Some(&(a, _)) = v.and_then(|v| self.writes.get(&(*key, v))) {
                for (n, because) in next {
                    graph.add_assuming(a, self.writes[&(*key, *n)].0, Dep::WW, because.scope());
                }
            }
        }
        let mut lost: HashMap<(u32, Version), u32> = HashMap::new();
        for t in 0..self.txns.txns.len() as u32 {
            if !self.ok(t) {
                continue;
            }
            for (_, key, v) in self.external_reads(t) {
                if let Some(&(w, _)) = v.and_then(|v| self.writes.get(&(key, v))) {
                    if self.txns.txns[w as usize].outcome != Outcome::Fail {
                        graph.add(w, t, Dep::WR);
                    }
                }
                let later: &[u32] = match v {
                    None => writers.get(&key).map_or(&[], |w| w),
                    Some(_) => &[],
                };
                for &w in later {
                    graph.add(t, w, Dep::RW);
                }
                for (n, because) in self.next.get(&(key, v)).map_or(&[][..], |n| n) {
                    graph.add_assuming(t, self.writes[&(key, *n)].0, Dep::RW, because.scope());
                }
                if self.final_write(t, key).is_some() {
                    if let Some(other) = lost.insert((key, v), t) {
                        findings.push(Finding::new(
                            Kind::LostUpdate,
                            vec![other, t],
                            format!(
                                "T{} and T{} both read key {} as {} and both wrote it: one write was made without \
                                 seeing the other",
                                other + 1,
                                t + 1,
                                self.txns.key(key),
                                v.map_or("nil".to_string(), |v| self.txns.value(v).to_string())
                            ),
                        ));
                    }
                }
            }
        }
    }
}

/// What a transaction running before another says of a key: the version
/// the first left there is earlier than the (different) one the second
/// found.
struct Fact {
    key: u32,
    earlier: u32,
    later: u32,
}

/// How far back a chain of data facts is followed to find a fact of order
/// implied already: in a history whose writers read before they write,
/// nearly every one is, a few versions back.
const CHAIN: usize = 64;

impl Fact {
    fn of(ends: &Ends, key: u32, a: u32, b: u32) -> Option<Fact> {
        let (_, left) = ends.of(a, key)?;
        let (found, _) = ends.of(b, key)?;
        // Nil precedes every write already; and a later nil after a write
        // is a cycle the nil read's anti-dependencies close without help.
        let (earlier, later) = (left?, found?);
        (earlier != later).then_some(Fact { key, earlier, later })
    }

    /// Whether writers that read before they wrote chain `earlier` to
    /// `later` already: the edges of those data facts then join the two
    /// in every layer, with the same anti-dependencies.
    fn implied(&self, read_before: &HashMap<(u32, u32), u32>) -> bool {
        let mut v = self.later;
        for _ in 0..CHAIN {
            match read_before.get(&(self.key, v)) {
                Some(&r) if r == self.earlier => return true,
                Some(&r) => v = r,
                None => return false,
            }
        }
        false
    }

    /// Adds the fact, unless it is known under no more assumptions.
    fn record(&self, next: &mut HashMap<(u32, Version), Vec<(u32, Because)>>, because: Because) {
        let facts = next.entry((self.key, Some(self.earlier))).or_default();
        if !facts
            .iter()
            .any(|&(n, w)| n == self.later && w.scope() <= because.scope())
        {
            facts.push((self.later, because));
        }
    }
}

impl RwRegister<'_> {
    fn show(&self, v: Version) -> String {
        v.map_or("nil".to_string(), |v| self.txns.value(v).to_string())
    }

    fn writer(&self, key: u32, v: u32) -> u32 {
        self.writes[&(key, v)].0
    }

    /// Why `v1` precedes `v2` in `key`, as a clause.
    fn basis(&self, key: u32, v1: Version, v2: u32, because: Because) -> String {
        match because {
            Because::ReadThenWrote => format!(
                "T{} read {} there and then wrote {}",
                self.writer(key, v2) + 1,
                self.show(v1),
                self.show(Some(v2))
            ),
            Because::Ran { order, a, b } => {
                let did = |t: u32, v: Version| {
                    let wrote = v.is_some_and(|v| self.writer(key, v) == t);
                    format!(
                        "T{} {} {}",
                        t + 1,
                        if wrote { "wrote" } else { "read" },
                        self.show(v)
                    )
                };
                format!(
                    "{} and {} there, and {}",
                    did(a, v1),
                    did(b, Some(v2)),
                    super::explain_order(self.txns, a, b, order)
                )
            }
        }
    }

    /// Every reason for `a -> b` of `dep` (`WW` or `RW`), with the order
    /// each assumes.
    fn reasons(&self, a: u32, b: u32, dep: Dep) -> Vec<(Scope, String)> {
        let (ta, tb) = (a + 1, b + 1);
        // (key, version of a's) pairs: what it wrote, or what it read.
        let from: Vec<(u32, Version)> = if dep == Dep::WW {
            let mut keys: Vec<u32> = self.txns.mops(a).iter().map(|m| m.key()).collect();
            keys.sort_unstable();
            keys.dedup();
            keys.into_iter()
                .filter_map(|k| self.final_write(a, k).map(|v| (k, Some(v))))
                .collect()
        } else {
            self.external_reads(a)
                .into_iter()
                .map(|(_, k, v)| (k, v))
                .collect()
        };
        let mut out = Vec::new();
        for (key, v1) in from {
            let k = self.txns.key(key);
            let what = if dep == Dep::WW {
                format!("T{ta} wrote {} to key {k}", self.show(v1))
            } else {
                format!("T{ta} read key {k} as {}", self.show(v1))
            };
            match (v1, self.final_write(b, key)) {
                (None, Some(w)) => out.push((
                    Scope::Data,
                    format!(
                        "{what} (the initial state), before T{tb}'s write of {}",
                        self.show(Some(w))
                    ),
                )),
                _ => {
                    for &(v2, because) in self.next.get(&(key, v1)).map_or(&[][..], |n| n) {
                        if self.writer(key, v2) == b {
                            out.push((
                                because.scope(),
                                format!(
                                    "{what}, a version before T{tb}'s {}: {}",
                                    self.show(Some(v2)),
                                    self.basis(key, v1, v2, because)
                                ),
                            ));
                        }
                    }
                }
            }
        }
        out
    }
}

impl Inference for RwRegister<'_> {
    fn why(&self, a: u32, b: u32, dep: Dep) -> String {
        let (ta, tb) = (a + 1, b + 1);
        match dep {
            // The reason that assumes least.
            Dep::WW | Dep::RW => match self.reasons(a, b, dep).into_iter().min_by_key(|r| r.0) {
                Some((_, why)) => format!("T{ta} < T{tb} because {why}"),
                None => format!("T{ta} < T{tb} ({})", dep.label()),
            },
            Dep::WR => {
                for (_, key, v) in self.external_reads(b) {
                    if v.and_then(|v| self.writes.get(&(key, v)))
                        .is_some_and(|x| x.0 == a)
                    {
                        return format!(
                            "T{ta} < T{tb} because T{tb} read key {} as {}, written by T{ta}",
                            self.txns.key(key),
                            self.show(v)
                        );
                    }
                }
                format!("T{ta} < T{tb} (write-read)")
            }
            Dep::Process | Dep::Realtime => super::explain_order(self.txns, a, b, dep),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{check, Model, Options, TxnReport, Workload};
    use crate::import::{self, Format};
    use crate::Verdict;

    /// `(time, process, type, value)` events as a JSONL history, checked
    /// against `model`.
    fn check_events(events: &[(u64, u64, &str, &str)], model: Model) -> TxnReport {
        let text: String = events
            .iter()
            .map(|(time, p, ty, v)| {
                format!("{{\"time\":{time},\"type\":\"{ty}\",\"process\":{p},\"f\":\"txn\",\"value\":{v}}}\n")
            })
            .collect();
        let (history, _) = import::parse(&text, "t.jsonl", Some(Format::Jsonl)).unwrap();
        let opts = Options {
            models: vec![model],
            ..Options::default()
        };
        check(&history, Workload::RwRegister, &opts).unwrap()
    }

    fn anomalies(r: &TxnReport) -> Vec<&str> {
        r.anomalies.keys().map(|a| a.as_str()).collect()
    }

    const W6: &str = r#"[["w","x",6]]"#;
    const W3: &str = r#"[["w","x",3]]"#;
    const W5: &str = r#"[["w","x",5]]"#;
    const R: &str = r#"[["r","x",null]]"#;
    const R6: &str = r#"[["r","x",6]]"#;

    /// A write of 6 completes; then 3 and 5 are written; a read that began
    /// after all three completed still sees 6.
    const STALE_READ: [(u64, u64, &str, &str); 10] = [
        (0, 0, "invoke", W6),
        (1, 0, "ok", W6),
        (2, 1, "invoke", W3),
        (3, 2, "invoke", W5),
        (4, 1, "ok", W3),
        (5, 2, "ok", W5),
        (6, 3, "invoke", R),
        (7, 3, "ok", R6),
        (8, 4, "invoke", R),
        (9, 4, "ok", R6),
    ];

    #[test]
    fn real_time_orders_writes_under_strict_serializability_only() {
        let r = check_events(&STALE_READ, Model::StrictSerializable);
        assert_eq!(r.verdict, Verdict::Invalid, "{}", r.sentence);
        assert!(
            anomalies(&r).iter().all(|a| a.ends_with("-realtime")),
            "{:?}",
            r.anomalies
        );
        assert_eq!(r.not, vec![Model::StrictSerializable]);
        let why = r.examples[0].explanation.join(" ");
        assert!(
            why.contains("a version before") && why.contains("completed (at"),
            "{why}"
        );
        // Serializable: 3 and 5 may come first, then 6, then the reads.
        let r = check_events(&STALE_READ, Model::Serializable);
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.sentence);
        // Had the write of 6 completed only after the others began, it
        // could have been last.
        let mut late = STALE_READ;
        late[1] = (3, 0, "ok", W6);
        late[3] = (1, 2, "invoke", W5);
        let r = check_events(&late, Model::StrictSerializable);
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.sentence);
        assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
    }

    #[test]
    fn an_indeterminate_write_is_not_ordered_by_real_time() {
        // The write of 6 may take effect after the write of 3, even though
        // its process carries on (as a new process) before 3 is written.
        let info = [
            (0, 0, "invoke", W6),
            (1, 0, "info", W6),
            (2, 0, "invoke", W3),
            (3, 0, "ok", W3),
            (4, 1, "invoke", R),
            (5, 1, "ok", R6),
        ];
        let r = check_events(&info, Model::StrictSerializable);
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.sentence);
        let mut ok = info;
        ok[1] = (1, 0, "ok", W6);
        let r = check_events(&ok, Model::StrictSerializable);
        assert_eq!(r.verdict, Verdict::Invalid, "{}", r.sentence);
    }

    #[test]
    fn process_order_orders_writes_when_real_time_cannot() {
        // Process 0 writes x = 1, then x = 2 and y = 2 in a transaction
        // invoked at the instant the first completed (so not after it in
        // real time). Process 1, throughout, reads x = 1 but y = 2.
        let second = r#"[["w","x",2],["w","y",2]]"#;
        let read = r#"[["r","x",null],["r","y",null]]"#;
        let shows = [
            (0, 0, "invoke", r#"[["w","x",1]]"#),
            (5, 1, "invoke", read),
            (10, 0, "ok", r#"[["w","x",1]]"#),
            (10, 0, "invoke", second),
            (20, 0, "ok", second),
            (25, 1, "ok", r#"[["r","x",1],["r","y",2]]"#),
        ];
        let r = check_events(&shows, Model::StrictSerializable);
        assert_eq!(r.verdict, Verdict::Invalid, "{}", r.sentence);
        assert_eq!(anomalies(&r), vec!["G-single-process"]);
        let why = r.examples[0].explanation.join(" ");
        assert!(why.contains("process 0 ran T1 before T3"), "{why}");
        let r = check_events(&shows, Model::Serializable);
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.sentence);
        // By two processes, the writes are concurrent: either may be first.
        let mut near = shows;
        near[3] = (10, 2, "invoke", second);
        near[4] = (20, 2, "ok", second);
        let r = check_events(&near, Model::StrictSerializable);
        assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
    }
}
