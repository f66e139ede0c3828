//! What a read-write register history proves. Writes are blind, so a read
//! says which write it saw but not what came before it: the order of a
//! key's versions is known only where the history shows it — the initial
//! (nil) state precedes every write, a transaction that read version a
//! and then wrote b puts a before b, and a transaction's own writes are in
//! the order it made them. Every edge drawn follows from those facts and
//! nothing else, so a cycle is always a real anomaly, but some anomalies
//! of blind writes cannot be seen (as in Elle).

use hashbrown::{HashMap, HashSet};

use super::consistency::Kind;
use super::graph::{Dep, DepGraph};
use super::transaction::{Mop, Txns};
use super::{Finding, Inference, Once};
use crate::error::InputError;
use crate::history::Outcome;

/// A version: the initial state of a key, or a write of it.
type Version = Option<u32>;

/// The rw-register inference for one history.
pub struct RwRegister<'a> {
    txns: &'a Txns,
    /// (key, value) -> (writer, mop index).
    writes: HashMap<(u32, u32), (u32, u32)>,
    /// (key, version) -> the versions known to come right after it.
    next: HashMap<(u32, Version), Vec<u32>>,
    committed: Vec<bool>,
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
    /// a key comes before its final write of it.
    fn order_versions(&mut self) {
        for t in 0..self.txns.txns.len() as u32 {
            if !self.committed[t as usize] || !self.ok(t) {
                continue;
            }
            for (_, key, v) in self.external_reads(t) {
                if let (Some(w), Some(_)) = (self.final_write(t, key), v) {
                    self.next.entry((key, v)).or_default().push(w);
                }
            }
        }
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
                for n in next {
                    graph.add(a, self.writes[&(*key, *n)].0, Dep::WW);
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
                for n in self.next.get(&(key, v)).map_or(&[][..], |n| n) {
                    graph.add(t, self.writes[&(key, *n)].0, Dep::RW);
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

impl Inference for RwRegister<'_> {
    fn why(&self, a: u32, b: u32, dep: Dep) -> String {
        let (ta, tb) = (a + 1, b + 1);
        let show = |v: Version| v.map_or("nil".to_string(), |v| self.txns.value(v).to_string());
        match dep {
            Dep::WW | Dep::RW => {
                // Both come from "b read version v of key k, then wrote".
                let reader = if dep == Dep::WW { b } else { a };
                for (_, key, v) in self.external_reads(reader) {
                    let k = self.txns.key(key);
                    let wrote = self.txns.mops(b).iter().find_map(|m| match *m {
                        Mop::Write { key: kk, value } if kk == key => Some(value),
                        _ => None,
                    });
                    let Some(w) = wrote else { continue };
                    if dep == Dep::WW
                        && v.and_then(|v| self.writes.get(&(key, v)))
                            .is_some_and(|x| x.0 == a)
                    {
                        return format!(
                            "T{ta} < T{tb} because T{tb} read key {k} as T{ta}'s {} and then wrote {}",
                            show(v),
                            show(Some(w))
                        );
                    }
                    if dep == Dep::RW {
                        if v.is_none() {
                            return format!(
                                "T{ta} < T{tb} because T{ta} read key {k} as nil (the initial state), before T{tb}'s \
                                 write of {}",
                                show(Some(w))
                            );
                        }
                        if self
                            .next
                            .get(&(key, v))
                            .is_some_and(|n| n.iter().any(|n| self.writes[&(key, *n)].0 == b))
                        {
                            return format!(
                                "T{ta} < T{tb} because T{ta} read key {k} as {}, which T{tb} read and then \
                                 overwrote with {}",
                                show(v),
                                show(self.final_write(b, key))
                            );
                        }
                    }
                }
                format!("T{ta} < T{tb} ({})", dep.label())
            }
            Dep::WR => {
                for (_, key, v) in self.external_reads(b) {
                    if v.and_then(|v| self.writes.get(&(key, v)))
                        .is_some_and(|x| x.0 == a)
                    {
                        return format!(
                            "T{ta} < T{tb} because T{tb} read key {} as {}, written by T{ta}",
                            self.txns.key(key),
                            show(v)
                        );
                    }
                }
                format!("T{ta} < T{tb} (write-read)")
            }
            Dep::Process | Dep::Realtime => super::explain_order(self.txns, a, b, dep),
        }
    }
}
