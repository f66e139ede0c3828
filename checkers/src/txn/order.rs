//! Process and real-time order: which transactions the history itself
//! says came before which, whatever they read or wrote. Both come as
//! pairs within groups the caller chooses — one group for the dependency
//! graph's order edges, one per key for rw-register's version order —
//! and transitively reduced, so a transaction is paired with about as
//! many predecessors as there were concurrent clients, not with every
//! earlier one.
//!
//! Failed transactions take no part. An indeterminate one never
//! completed, so it follows others but precedes none: it may take effect
//! at any time after its invocation. (A process that carries on after
//! `info` is a new process: see `History::pair_events`.)

use hashbrown::HashMap;

use super::transaction::Txns;
use crate::history::{Outcome, Process};

/// Calls `each(group, a, b)` where `b` is the next of its process's
/// transactions in `group` after `a`.
pub fn process<'g>(txns: &Txns, groups: impl Fn(u32) -> &'g [u32], mut each: impl FnMut(u32, u32, u32)) {
    let mut last: HashMap<(Process, u32), u32> = HashMap::new();
    for (i, t) in txns.txns.iter().enumerate() {
        if t.outcome == Outcome::Fail {
            continue;
        }
        let i = i as u32;
        for &g in groups(i) {
            if let Some(prev) = last.insert((t.process, g), i) {
                each(g, prev, i);
            }
        }
    }
}

/// Calls `each(group, a, b)` where `a` completed before `b` began and no
/// transaction of `group` that completed before `b` began followed `a`:
/// a transaction is linked from the frontier of its group at its
/// invocation. Equal times are concurrent.
pub fn realtime<'g>(txns: &Txns, groups: impl Fn(u32) -> &'g [u32], mut each: impl FnMut(u32, u32, u32)) {
    // (time, 0 = invoke / 1 = complete, txn): invocations sort first at
    // equal times, so they do not see completions at that instant.
    let mut events: Vec<(u64, u8, u32)> = Vec::with_capacity(txns.txns.len() * 2);
    for (i, t) in txns.txns.iter().enumerate() {
        if t.outcome == Outcome::Fail || groups(i as u32).is_empty() {
            continue;
        }
        events.push((t.call, 0, i as u32));
        if let Some(r) = t.ret {
            events.push((r, 1, i as u32));
        }
    }
    events.sort_unstable();
    let mut frontier: HashMap<u32, Vec<u32>> = HashMap::new();
    // Per (transaction, group): the frontier it saw as it began, a range
    // of `preds`; at its completion those are no longer the frontier.
    let mut preds: Vec<u32> = Vec::new();
    let mut saw: HashMap<(u32, u32), (usize, usize)> = HashMap::new();
    for (_, kind, t) in events {
        let completes = txns.txns[t as usize].ret.is_some();
        for &g in groups(t) {
            let f = frontier.entry(g).or_default();
            if kind == 0 {
                for &p in f.iter() {
                    each(g, p, t);
                }
                if completes {
                    let start = preds.len();
                    preds.extend_from_slice(f);
                    saw.insert((t, g), (start, preds.len()));
                }
            } else {
                let (s, e) = saw.remove(&(t, g)).unwrap_or((0, 0));
                let before = &preds[s..e];
                f.retain(|x| !before.contains(x));
                f.push(t);
            }
        }
    }
}
