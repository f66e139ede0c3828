//! What a list-append history proves. Every element is appended once, and
//! a read returns the whole list, so the longest read of a key gives its
//! order of appends, every other read must be a prefix of it, and each
//! read says exactly which appends it saw: write-write edges follow the
//! order, write-read edges come from the last element a read saw, and
//! read-write edges go to the append right after it. A committed append
//! no read saw came after everything read, which gives edges too.
//!
//! Reads that no order explains (duplicates, non-prefixes, elements never
//! appended, appends of failed transactions, intermediate states, a
//! transaction's appends out of its order) are reported as findings here;
//! cycles are the graph's business.

use hashbrown::HashMap;

use super::consistency::Kind;
use super::graph::{Dep, DepGraph};
use super::transaction::{Mop, Txns};
use super::{Finding, Inference, Once};
use crate::error::InputError;
use crate::history::Outcome;

/// Where an element came from and where it sits in its key's order.
#[derive(Clone, Copy)]
struct Append {
    txn: u32,
    mop: u32,
    /// How many appends to the same key its transaction made before it.
    rank: u32,
    /// Position in the key's longest read; `u32::MAX`: never read.
    pos: u32,
}

/// A read's view of its key with the transaction's own appends taken off.
struct External {
    key: u32,
    list: (u32, u32),
    /// How many elements came from other transactions.
    seen: u32,
}

/// A key's order of appends: its longest read.
struct Order {
    list: (u32, u32),
    /// The transaction that read it.
    reader: u32,
    /// Per position, the index of its append in `ListAppend::appends`
    /// (`UNSEEN`: no transaction appended it).
    writers: Vec<u32>,
    /// The first position holding an element seen before it (`UNSEEN`:
    /// none); a read is a prefix, so it has duplicates iff it is longer.
    duplicate_at: u32,
}

/// The list-append inference for one history.
pub struct ListAppend<'a> {
    txns: &'a Txns,
    /// (key, element) -> its append in `appends`.
    index: HashMap<(u32, u32), u32>,
    appends: Vec<Append>,
    order: HashMap<u32, Order>,
    /// Committed appends no read saw, per key.
    unseen: HashMap<u32, Vec<u32>>,
    committed: Vec<bool>,
}

const UNSEEN: u32 = u32::MAX;

impl<'a> ListAppend<'a> {
    /// Infers the dependencies of `txns` into `graph` and reports what no
    /// order of appends explains into `findings`.
    pub fn infer(
        txns: &'a Txns,
        graph: &mut DepGraph,
        findings: &mut Vec<Finding>,
    ) -> Result<Self, InputError> {
        let mut la = ListAppend {
            txns,
            index: HashMap::new(),
            appends: Vec::new(),
            order: HashMap::new(),
            unseen: HashMap::new(),
            committed: txns.txns.iter().map(|t| t.outcome == Outcome::Ok).collect(),
        };
        la.index_appends()?;
        la.find_orders();
        la.check_reads(findings);
        la.check_internal(findings);
        la.find_unseen();
        la.add_edges(graph, findings);
        Ok(la)
    }

    fn index_appends(&mut self) -> Result<(), InputError> {
        let mut ranks: HashMap<u32, u32> = HashMap::new();
        for t in 0..self.txns.txns.len() as u32 {
            ranks.clear();
            for (i, m) in self.txns.mops(t).iter().enumerate() {
                if let Mop::Append { key, value } = *m {
                    let rank = ranks.entry(key).or_default();
                    let a = Append {
                        txn: t,
                        mop: i as u32,
                        rank: *rank,
                        pos: UNSEEN,
                    };
                    *rank += 1;
                    let n = self.appends.len() as u32;
                    self.appends.push(a);
                    if let Some(prev) = self
                        .index
                        .insert((key, value), n)
                        .map(|i| self.appends[i as usize])
                    {
                        return Err(InputError::at(
                            &self.txns.source,
                            self.txns.txns[t as usize].line,
                            format!(
                                "{} is appended to key {} again (first on line {}): list-append needs each element \
                                 appended once per key",
                                self.txns.value(value),
                                self.txns.key(key),
                                self.txns.txns[prev.txn as usize].line
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Committed reads, as (txn, mop index, key, list).
    fn reads(&self) -> impl Iterator<Item = (u32, u32, u32, (u32, u32))> + '_ {
        (0..self.txns.txns.len() as u32)
            .filter(|&t| self.txns.txns[t as usize].outcome == Outcome::Ok)
            .flat_map(move |t| {
                self.txns
                    .mops(t)
                    .iter()
                    .enumerate()
                    .filter_map(move |(i, m)| match *m {
                        Mop::ReadList { key, list: Some(l) } => Some((t, i as u32, key, l)),
                        _ => None,
                    })
            })
    }

    fn find_orders(&mut self) {
        let mut longest: HashMap<u32, (u32, (u32, u32))> = HashMap::new();
        for (t, _, key, l) in self.reads() {
            let e = longest.entry(key).or_insert((t, l));
            if l.1 > e.1 .1 {
                *e = (t, l);
            }
        }
        let mut order = HashMap::with_capacity(longest.len());
        for (key, (reader, l)) in longest {
            let mut writers = Vec::with_capacity(l.1 as usize);
            let mut seen = hashbrown::HashSet::with_capacity(l.1 as usize);
            let mut duplicate_at = UNSEEN;
            for (p, &v) in self.txns.list(l).iter().enumerate() {
                if !seen.insert(v) && duplicate_at == UNSEEN {
                    duplicate_at = p as u32;
                }
                let i = self.index.get(&(key, v)).copied().unwrap_or(UNSEEN);
                if let Some(a) = self.appends.get_mut(i as usize) {
                    if a.pos == UNSEEN {
                        a.pos = p as u32;
                    }
                    self.committed[a.txn as usize] |= self.txns.txns[a.txn as usize].outcome == Outcome::Info;
                }
                writers.push(i);
            }
            order.insert(
                key,
                Order {
                    list: l,
                    reader,
                    writers,
                    duplicate_at,
                },
            );
        }
        self.order = order;
    }

    fn is_prefix(&self, key: u32, l: (u32, u32)) -> bool {
        let longest = self.txns.list(self.order[&key].list);
        let read = self.txns.list(l);
        read.len() <= longest.len() && longest[..read.len()] == *read
    }

    /// Reads no order explains. What holds for a key's longest read holds
    /// for every prefix of it, so elements are judged once per key; only
    /// reads that are not prefixes are looked at element by element.
    fn check_reads(&self, findings: &mut Vec<Finding>) {
        let mut once = Once::default();
        for (&key, o) in &self.order {
            let elements = self.txns.list(o.list).iter().zip(&o.writers);
            self.check_elements(o.reader, key, elements, &mut once, findings);
            let read = self.txns.list(o.list);
            self.check_append_order(o.reader, key, read, &o.writers, &mut once, findings);
        }
        for (t, i, key, l) in self.reads() {
            let o = &self.order[&key];
            let k = self.txns.key(key);
            let read = self.txns.list(l);
            if self.is_prefix(key, l) {
                if o.duplicate_at < l.1 && once.first(key, Kind::DuplicateElements) {
                    let v = self.txns.value(read[o.duplicate_at as usize]);
                    findings.push(Finding::new(
                        Kind::DuplicateElements,
                        vec![t],
                        format!("T{} read key {k} with {v} in it twice", t + 1),
                    ));
                }
                // A read that holds an element its own transaction appends
                // only later.
                let later = self.txns.mops(t)[i as usize..].iter().find_map(|m| match *m {
                    Mop::Append { key: kk, value } if kk == key => {
                        let a = &self.appends[self.index[&(key, value)] as usize];
                        (a.pos < l.1).then_some(value)
                    }
                    _ => None,
                });
                self.future_read(t, key, later, &mut once, findings);
                continue;
            }
            if once.first(key, Kind::IncompatibleOrder) {
                findings.push(Finding::new(
                    Kind::IncompatibleOrder,
                    vec![t, o.reader],
                    format!(
                        "T{} read key {k} as {} and T{} as {}: neither is a prefix of the other, so no one order of \
                         appends explains both",
                        t + 1,
                        self.show_list(l),
                        o.reader + 1,
                        self.show_list(o.list)
                    ),
                ));
            }
            let mut seen = hashbrown::HashSet::with_capacity(read.len());
            if let Some(v) = read.iter().find(|v| !seen.insert(**v)) {
                if once.first(key, Kind::DuplicateElements) {
                    findings.push(Finding::new(
                        Kind::DuplicateElements,
                        vec![t],
                        format!("T{} read key {k} with {} in it twice", t + 1, self.txns.value(*v)),
                    ));
                }
            }
            let writers: Vec<u32> = read
                .iter()
                .map(|v| self.index.get(&(key, *v)).copied().unwrap_or(UNSEEN))
                .collect();
            self.check_elements(t, key, read.iter().zip(&writers), &mut once, findings);
            self.check_append_order(t, key, read, &writers, &mut once, findings);
            let future = read.iter().zip(&writers).find(|(_, &w)| {
                self.appends
                    .get(w as usize)
                    .is_some_and(|a| a.txn == t && a.mop > i)
            });
            self.future_read(t, key, future.map(|(&v, _)| v), &mut once, findings);
        }
    }

    /// Reports `t`'s read of `value`, which it appended only later.
    fn future_read(
        &self,
        t: u32,
        key: u32,
        value: Option<u32>,
        once: &mut Once,
        findings: &mut Vec<Finding>,
    ) {
        if let Some(v) = value.filter(|_| once.first(key, Kind::FutureRead)) {
            findings.push(Finding::new(
                Kind::FutureRead,
                vec![t],
                format!(
                    "T{} read {} in key {} before appending it itself",
                    t + 1,
                    self.txns.value(v),
                    self.txns.key(key)
                ),
            ));
        }
    }

    /// Elements read by `t` that no transaction appended, or that a failed
    /// one did.
    fn check_elements<'e>(
        &self,
        t: u32,
        key: u32,
        elements: impl Iterator<Item = (&'e u32, &'e u32)>,
        once: &mut Once,
        findings: &mut Vec<Finding>,
    ) {
        let k = self.txns.key(key);
        for (&v, &w) in elements {
            let (kind, txns, why) = match self.appends.get(w as usize) {
                None => (
                    Kind::GarbageRead,
                    vec![t],
                    format!(
                        "T{} read {} in key {k}, which no transaction appended",
                        t + 1,
                        self.txns.value(v)
                    ),
                ),
                Some(a) if self.failed(a.txn) => (
                    Kind::G1a,
                    vec![a.txn, t],
                    format!(
                        "T{} read {} in key {k}, appended by T{}, which failed (aborted)",
                        t + 1,
                        self.txns.value(v),
                        a.txn + 1
                    ),
                ),
                _ => continue,
            };
            if once.first(key, kind) {
                findings.push(Finding::new(kind, txns, why));
            }
        }
    }

    /// A transaction's appends to a key are one step of every serial
    /// order, so each read shows them in the order they were made, or a
    /// first few of them: a read by `t` (`writers`: per element of `read`,
    /// its append) that shows one of them before, or without, an earlier
    /// one shows a list no order builds. Repeated elements are left to the
    /// duplicate check.
    fn check_append_order(
        &self,
        t: u32,
        key: u32,
        read: &[u32],
        writers: &[u32],
        once: &mut Once,
        findings: &mut Vec<Finding>,
    ) {
        // Per writing transaction, the rank of its next append.
        let mut next: HashMap<u32, u32> = HashMap::new();
        let mut seen = hashbrown::HashSet::with_capacity(writers.len());
        let out_of_order = writers.iter().find_map(|&w| {
            let a = self.appends.get(w as usize).filter(|_| seen.insert(w))?;
            let expected = next.entry(a.txn).or_default();
            if a.rank != *expected {
                return Some(a.txn);
            }
            *expected += 1;
            None
        });
        let Some(w) = out_of_order.filter(|_| once.first(key, Kind::InternalOrder)) else {
            return;
        };
        let mut seen = hashbrown::HashSet::with_capacity(writers.len());
        let shown: Vec<u32> = read
            .iter()
            .zip(writers)
            .filter(|(_, &i)| self.appends.get(i as usize).is_some_and(|a| a.txn == w) && seen.insert(i))
            .map(|(&v, _)| v)
            .collect();
        let made: Vec<u32> = self
            .txns
            .mops(w)
            .iter()
            .filter_map(|m| match *m {
                Mop::Append { key: k, value } if k == key => Some(value),
                _ => None,
            })
            .collect();
        let txns = if w == t { vec![t] } else { vec![w, t] };
        findings.push(Finding::new(
            Kind::InternalOrder,
            txns,
            format!(
                "T{} read key {} with T{}'s appends as {}, but T{} appended {} in that order: no serial order \
                 shows them otherwise",
                t + 1,
                self.txns.key(key),
                w + 1,
                self.show_elems(&shown),
                w + 1,
                self.show_elems(&made)
            ),
        ));
    }

    /// Within a committed transaction, each read of a key must be its
    /// previous read plus its own appends since (or end with them, before
    /// any read). Transactions are short: each read looks back through
    /// the transaction's earlier micro-ops rather than keeping state.
    fn check_internal(&self, findings: &mut Vec<Finding>) {
        for t in 0..self.txns.txns.len() as u32 {
            if self.txns.txns[t as usize].outcome != Outcome::Ok {
                continue;
            }
            let mops = self.txns.mops(t);
            for (i, m) in mops.iter().enumerate() {
                let Mop::ReadList { key, list: Some(l) } = *m else {
                    continue;
                };
                let before = &mops[..i];
                let last_read = before
                    .iter()
                    .rposition(|m| matches!(m, Mop::ReadList { key: k, list: Some(_) } if *k == key));
                let prev = last_read.and_then(|j| match before[j] {
                    Mop::ReadList { list, .. } => list,
                    _ => None,
                });
                let mine: Vec<u32> = before[last_read.map_or(0, |j| j + 1)..]
                    .iter()
                    .filter_map(|m| match *m {
                        Mop::Append { key: k, value } if k == key => Some(value),
                        _ => None,
                    })
                    .collect();
                let read = self.txns.list(l);
                let ok = match prev.map(|p| self.txns.list(p)) {
                    Some(p) => {
                        p.len() + mine.len() == read.len() && read.starts_with(p) && read.ends_with(&mine)
                    }
                    None => read.ends_with(&mine),
                };
                if ok {
                    continue;
                }
                let expected = match prev {
                    Some(p) => format!("{} then its own appends", self.show_list(p)),
                    None => "a list ending in its own appends".to_string(),
                };
                findings.push(Finding::new(
                    Kind::Internal,
                    vec![t],
                    format!(
                        "T{} read key {} as {}, but had seen {} and appended {} before: expected {expected}",
                        t + 1,
                        self.txns.key(key),
                        self.show_list(l),
                        prev.map_or("nothing".into(), |p| self.show_list(p)),
                        self.show_elems(&mine)
                    ),
                ));
                break;
            }
        }
    }

    fn find_unseen(&mut self) {
        let mut unseen: HashMap<u32, Vec<u32>> = HashMap::new();
        for (&(key, _), &i) in &self.index {
            let a = &self.appends[i as usize];
            if a.pos == UNSEEN && self.committed[a.txn as usize] {
                unseen.entry(key).or_default().push(a.txn);
            }
        }
        for v in unseen.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        self.unseen = unseen;
    }

    /// A read with the reader's own earlier appends taken off its end.
    fn external(&self, t: u32, i: u32, key: u32, l: (u32, u32)) -> External {
        let read = self.txns.list(l);
        let mut seen = read.len();
        while seen > 0 {
            match self.writer_at(key, seen as u32 - 1) {
                Some(a) if a.txn == t && a.mop < i => seen -= 1,
                _ => break,
            }
        }
        External {
            key,
            list: l,
            seen: seen as u32,
        }
    }

    fn writer_at(&self, key: u32, pos: u32) -> Option<&Append> {
        let w = *self.order.get(&key)?.writers.get(pos as usize)?;
        self.appends.get(w as usize)
    }

    fn failed(&self, t: u32) -> bool {
        self.txns.txns[t as usize].outcome == Outcome::Fail
    }

    fn add_edges(&self, graph: &mut DepGraph, findings: &mut Vec<Finding>) {
        for (&key, o) in &self.order {
            let writers: Vec<Option<u32>> = o
                .writers
                .iter()
                .map(|&w| self.appends.get(w as usize).map(|a| a.txn))
                .collect();
            for w in writers.windows(2) {
                if let [Some(a), Some(b)] = *w {
                    if !self.failed(a) && !self.failed(b) {
                        graph.add(a, b, Dep::WW);
                    }
                }
            }
            if let Some(i) = writers.iter().position(|w| w.is_some_and(|t| self.failed(t))) {
                if let Some(Some(b)) = writers[i + 1..]
                    .iter()
                    .find(|w| w.is_some_and(|t| !self.failed(t)))
                {
                    let a = writers[i].unwrap_or_default();
                    findings.push(Finding::new(
                        Kind::DirtyUpdate,
                        vec![a, *b],
                        format!(
                            "key {}'s order has T{}'s append (T{} failed) followed by T{}'s committed append",
                            self.txns.key(key),
                            a + 1,
                            a + 1,
                            b + 1
                        ),
                    ));
                }
            }
            if let (Some(Some(last)), Some(unseen)) = (writers.last(), self.unseen.get(&key)) {
                for &u in unseen {
                    if !self.failed(*last) {
                        graph.add(*last, u, Dep::WW);
                    }
                }
            }
        }
        let mut lost: HashMap<(u32, u32), u32> = HashMap::new();
        for (t, i, key, l) in self.reads() {
            if !self.is_prefix(key, l) {
                continue;
            }
            let ext = self.external(t, i, key, l);
            if ext.seen > 0 {
                if let Some(w) = self.writer_at(key, ext.seen - 1) {
                    if w.txn != t && !self.failed(w.txn) {
                        graph.add(w.txn, t, Dep::WR);
                        self.intermediate(t, key, w, findings);
                    }
                }
            }
            match self.writer_at(key, ext.seen) {
                Some(w) if !self.failed(w.txn) => graph.add(t, w.txn, Dep::RW),
                Some(_) => {}
                None => {
                    for &u in self.unseen.get(&key).map_or(&[][..], |v| v) {
                        graph.add(t, u, Dep::RW);
                    }
                }
            }
            // A read before the transaction's own first append to the key.
            let appends_later = self.txns.mops(t)[i as usize..]
                .iter()
                .any(|m| matches!(m, Mop::Append { key: k, .. } if *k == key));
            let appended_before = self.txns.mops(t)[..i as usize]
                .iter()
                .any(|m| matches!(m, Mop::Append { key: k, .. } if *k == key));
            if appends_later && !appended_before {
                if let Some(other) = lost.insert((key, ext.seen), t) {
                    if other != t {
                        findings.push(Finding::new(
                            Kind::LostUpdate,
                            vec![other, t],
                            format!(
                                "T{} and T{} both read key {} as {} and both appended to it: one of the appends \
                                 was made without seeing the other",
                                other + 1,
                                t + 1,
                                self.txns.key(key),
                                self.show_list(l)
                            ),
                        ));
                    }
                }
            }
        }
    }

    /// G1b: a read whose last element is not its writer's last append to
    /// the key.
    fn intermediate(&self, t: u32, key: u32, w: &Append, findings: &mut Vec<Finding>) {
        let later = self.txns.mops(w.txn)[w.mop as usize + 1..]
            .iter()
            .find_map(|m| match *m {
                Mop::Append { key: k, value } if k == key => Some(value),
                _ => None,
            });
        if let (Some(v), Mop::Append { value, .. }) = (later, self.txns.mops(w.txn)[w.mop as usize]) {
            findings.push(Finding::new(
                Kind::G1b,
                vec![w.txn, t],
                format!(
                    "T{} read key {} up to {}, an intermediate state of T{}, which went on to append {}",
                    t + 1,
                    self.txns.key(key),
                    self.txns.value(value),
                    w.txn + 1,
                    self.txns.value(v)
                ),
            ));
        }
    }

    fn show_elems(&self, items: &[u32]) -> String {
        let shown: Vec<String> = items.iter().map(|v| self.txns.value(*v).to_string()).collect();
        format!("[{}]", shown.join(" "))
    }

    fn show_list(&self, l: (u32, u32)) -> String {
        self.show_elems(self.txns.list(l))
    }

    /// The external reads of `t`.
    fn externals(&self, t: u32) -> impl Iterator<Item = External> + '_ {
        self.txns
            .mops(t)
            .iter()
            .enumerate()
            .filter_map(move |(i, m)| match *m {
                Mop::ReadList { key, list: Some(l) }
                    if self.txns.txns[t as usize].outcome == Outcome::Ok && self.is_prefix(key, l) =>
                {
                    Some(self.external(t, i as u32, key, l))
                }
                _ => None,
            })
    }
}

impl Inference for ListAppend<'_> {
    fn why(&self, a: u32, b: u32, dep: Dep) -> String {
        let (ta, tb) = (a + 1, b + 1);
        let value = |v: u32| self.txns.value(v);
        match dep {
            Dep::WW => {
                for m in self.txns.mops(a) {
                    let Mop::Append { key, value: x } = *m else {
                        continue;
                    };
                    let pos = self.appends[self.index[&(key, x)] as usize].pos;
                    let k = self.txns.key(key);
                    match self.writer_at(key, pos.saturating_add(1)) {
                        Some(n) if pos != UNSEEN && n.txn == b => {
                            if let Mop::Append { value: y, .. } = self.txns.mops(b)[n.mop as usize] {
                                return format!(
                                    "T{ta} < T{tb} because T{tb} appended {} to key {k} right after T{ta}'s {}",
                                    value(y),
                                    value(x)
                                );
                            }
                        }
                        None if pos != UNSEEN && self.unseen.get(&key).is_some_and(|u| u.contains(&b)) => {
                            return format!(
                                "T{ta} < T{tb} because T{ta}'s append of {} is the last element of key {k} any read \
                                 saw, and T{tb}'s committed append to key {k} was never read, so it came later",
                                value(x)
                            );
                        }
                        _ => {}
                    }
                }
                format!("T{ta} < T{tb} (write-write)")
            }
            Dep::WR => {
                for e in self.externals(b) {
                    if e.seen > 0 && self.writer_at(e.key, e.seen - 1).is_some_and(|w| w.txn == a) {
                        let v = self.txns.list(e.list)[e.seen as usize - 1];
                        return format!(
                            "T{ta} < T{tb} because T{tb} read key {} as {}, which ends with T{ta}'s append of {}",
                            self.txns.key(e.key),
                            self.show_list(e.list),
                            value(v)
                        );
                    }
                }
                format!("T{ta} < T{tb} (write-read)")
            }
            Dep::RW => {
                for e in self.externals(a) {
                    let k = self.txns.key(e.key);
                    match self.writer_at(e.key, e.seen) {
                        Some(w) if w.txn == b => {
                            if let Mop::Append { value: y, .. } = self.txns.mops(b)[w.mop as usize] {
                                return format!(
                                    "T{ta} < T{tb} because T{ta}'s read of key {k} ({}) did not see T{tb}'s append \
                                     of {}, the next element",
                                    self.show_list(e.list),
                                    value(y)
                                );
                            }
                        }
                        None if self.unseen.get(&e.key).is_some_and(|u| u.contains(&b)) => {
                            return format!(
                                "T{ta} < T{tb} because T{ta}'s read of key {k} ({}) did not see T{tb}'s committed \
                                 append to it",
                                self.show_list(e.list)
                            );
                        }
                        _ => {}
                    }
                }
                format!("T{ta} < T{tb} (read-write)")
            }
            Dep::Process | Dep::Realtime => super::explain_order(self.txns, a, b, dep),
        }
    }
}
