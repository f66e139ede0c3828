//! What the brute-force references for the transactional checkers share
//! (txn_reference.rs for list-append, txn_reference_rw.rs for
//! rw-register): the random numbers, the tiny random executions
//! (transactions drawn, run one by one in a random order on snapshots,
//! given intervals of time), the history written as JSONL, the search for
//! a serial order that explains it, and the checker's report on it. What
//! a key holds, how a transaction ends and how reads go wrong stay in each
//! file.

use std::fmt::{Debug, Write as _};
use std::ops::Range;

use checkers::import::{self, Format};
use checkers::txn::{self, Model, Options, TxnReport, Txns, Workload};

/// xorshift64*: deterministic, so a failure names its seed.
pub struct Rng(u64);

impl Rng {
    /// The generator for the case `seed`.
    pub fn for_seed(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What one key holds, and so what a read of it returns: the list
/// appended to it (list-append) or the register's value (rw-register).
/// The default is a key never written.
pub trait Contents: Clone + Debug + Default + PartialEq {
    /// The workload whose histories these are.
    const WORKLOAD: Workload;
    /// How the history names a write: `append`, `w`.
    const WRITE: &'static str;
    /// Writes `v` to the key.
    fn write(&mut self, v: i64);
    /// What was read, as the history writes it.
    fn json(&self) -> String;
}

#[derive(Clone, Debug)]
pub enum Mop<C> {
    /// A write of a fresh value (an append, or a register write).
    Write(u8, i64),
    /// What was read: `None` until generated.
    Read(u8, Option<C>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum End {
    Ok,
    /// Indeterminate; `true` if the history says so (and the process then
    /// carries on), `false` if it never completes.
    Info(bool),
    Fail,
}

#[derive(Clone, Debug)]
pub struct Txn<C> {
    pub mops: Vec<Mop<C>>,
    pub end: End,
    pub call: u64,
    pub ret: u64,
    /// The process number written in the history.
    pub process: u64,
    /// Who ran it as the checker sees it: a process that carries on after
    /// `info` is a new one.
    pub logical: u64,
}

/// A tiny workload, drawn but not yet run: 3 to 6 transactions over 1 or
/// 2 keys, each of 1 to `max_mops` micro-ops, half of them writes of
/// fresh values (counting on from `last_value`, left at the last one
/// written), ending as `end` draws. Each transaction is its own process.
/// Returns the transactions and how many keys.
pub fn draw<C>(
    rng: &mut Rng,
    max_mops: u64,
    last_value: &mut i64,
    mut end: impl FnMut(&mut Rng) -> End,
) -> (Vec<Txn<C>>, usize) {
    let n = 3 + rng.below(4) as usize;
    let keys = 1 + rng.below(2) as u8;
    let txns = (0..n)
        .map(|i| {
            let m = 1 + rng.below(max_mops) as usize;
            let mops = (0..m)
                .map(|_| {
                    let k = rng.below(keys as u64) as u8;
                    if rng.chance(50) {
                        *last_value += 1;
                        Mop::Write(k, *last_value)
                    } else {
                        Mop::Read(k, None)
                    }
                })
                .collect();
            Txn {
                mops,
                end: end(rng),
                call: 0,
                ret: 0,
                process: i as u64,
                logical: i as u64,
            }
        })
        .collect();
    (txns, keys as usize)
}

/// Runs the transactions in a random order, each on a snapshot (the
/// latest, or now and then an earlier one), its reads seeing its own
/// writes, and gives them intervals loosely following the order. A
/// committed transaction takes effect, an indeterminate one half the
/// time, an aborted one if `aborted_applies` draws so; `read` draws what a
/// read returns from the key in the snapshot and the transaction's own
/// writes to it.
pub fn execute<C: Contents>(
    rng: &mut Rng,
    txns: &mut [Txn<C>],
    keys: usize,
    mut aborted_applies: impl FnMut(&mut Rng) -> bool,
    mut read: impl FnMut(&mut Rng, &C, &C) -> C,
) {
    let n = txns.len();
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut snapshots: Vec<Vec<C>> = vec![vec![C::default(); keys]];
    for (pos, &t) in order.iter().enumerate() {
        let mut state = snapshots.last().cloned().unwrap_or_default();
        let view = if rng.chance(40) {
            snapshots[rng.below(snapshots.len() as u64) as usize].clone()
        } else {
            state.clone()
        };
        let mut mine: Vec<C> = vec![C::default(); keys];
        let applies = match txns[t].end {
            End::Ok => true,
            End::Info(_) => rng.chance(50),
            End::Fail => aborted_applies(rng),
        };
        for m in txns[t].mops.iter_mut() {
            match m {
                Mop::Write(k, v) => {
                    mine[*k as usize].write(*v);
                    if applies {
                        state[*k as usize].write(*v);
                    }
                }
                Mop::Read(k, out) => *out = Some(read(rng, &view[*k as usize], &mine[*k as usize])),
            }
        }
        if applies {
            snapshots.push(state);
        }
        let call = (pos as u64 * 10 + rng.below(30)).saturating_sub(10);
        txns[t].call = call;
        txns[t].ret = call + 1 + rng.below(25);
    }
}

/// The history as JSONL, in order of time: at equal times completions
/// first if `completions_first` (a process may invoke at the very instant
/// its last transaction completed), else invocations.
pub fn jsonl<C: Contents>(txns: &[Txn<C>], completions_first: bool) -> String {
    let value = |mops: &[Mop<C>], with_reads: bool| {
        let parts: Vec<String> = mops
            .iter()
            .map(|m| match m {
                Mop::Write(k, v) => format!("[\"{}\",{k},{v}]", C::WRITE),
                Mop::Read(k, Some(c)) if with_reads => format!("[\"r\",{k},{}]", c.json()),
                Mop::Read(k, _) => format!("[\"r\",{k},null]"),
            })
            .collect();
        format!("[{}]", parts.join(","))
    };
    let (invoke, complete) = if completions_first { (1, 0) } else { (0, 1) };
    let mut events: Vec<(u64, u8, usize)> = Vec::new();
    for (i, t) in txns.iter().enumerate() {
        events.push((t.call, invoke, i));
        if t.end != End::Info(false) {
            events.push((t.ret, complete, i));
        }
    }
    events.sort();
    let mut out = String::new();
    for (time, kind, i) in events {
        let t = &txns[i];
        let (ty, v) = match (kind == invoke, t.end) {
            (true, _) => ("invoke", value(&t.mops, false)),
            (_, End::Ok) => ("ok", value(&t.mops, true)),
            (_, End::Fail) => ("fail", value(&t.mops, false)),
            _ => ("info", value(&t.mops, false)),
        };
        writeln!(
            out,
            "{{\"time\":{time},\"type\":\"{ty}\",\"process\":{},\"f\":\"txn\",\"value\":{v}}}",
            t.process
        )
        .unwrap();
    }
    out
}

/// Whether `a` must come before `b` in a strictly serializable order: it
/// committed, and completed before `b` began, or ran before `b` in its
/// process. An indeterminate transaction precedes nothing.
fn before<C>(a: &Txn<C>, b: &Txn<C>) -> bool {
    a.end == End::Ok && (a.ret < b.call || (a.logical == b.logical && a.ret <= b.call))
}

/// Whether some serial order of the committed transactions, each
/// indeterminate one in or out, reproduces every committed read
/// (respecting real time and process order if `strict`): a search over
/// orders, built one transaction at a time and cut off at the first read
/// it cannot explain.
pub fn brute_force<C: Contents>(txns: &[Txn<C>], strict: bool) -> bool {
    let optional: Vec<usize> = (0..txns.len())
        .filter(|&i| matches!(txns[i].end, End::Info(_)))
        .collect();
    let required: Vec<usize> = (0..txns.len()).filter(|&i| txns[i].end == End::Ok).collect();
    (0..(1u32 << optional.len())).any(|mask| {
        let mut chosen = required.clone();
        chosen.extend(
            optional
                .iter()
                .enumerate()
                .filter(|(b, _)| mask & (1 << b) != 0)
                .map(|(_, &i)| i),
        );
        let mut placed = vec![false; txns.len()];
        // At most two keys, never written yet.
        extend(txns, &chosen, &mut placed, &vec![C::default(); 2], strict)
    })
}

fn extend<C: Contents>(
    txns: &[Txn<C>],
    chosen: &[usize],
    placed: &mut [bool],
    state: &[C],
    strict: bool,
) -> bool {
    let left: Vec<usize> = chosen.iter().copied().filter(|&t| !placed[t]).collect();
    if left.is_empty() {
        return true;
    }
    for &t in &left {
        if strict && left.iter().any(|&u| u != t && before(&txns[u], &txns[t])) {
            continue;
        }
        let Some(next) = replay(&txns[t], state) else {
            continue;
        };
        placed[t] = true;
        let found = extend(txns, chosen, placed, &next, strict);
        placed[t] = false;
        if found {
            return true;
        }
    }
    false
}

/// The state after `t` runs on `state`, if `t` read what it could have
/// (an indeterminate transaction's reads are not known).
fn replay<C: Contents>(t: &Txn<C>, state: &[C]) -> Option<Vec<C>> {
    let mut state = state.to_vec();
    for m in &t.mops {
        match m {
            Mop::Write(k, v) => state[*k as usize].write(*v),
            Mop::Read(k, Some(c)) if t.end == End::Ok && state[*k as usize] != *c => return None,
            Mop::Read(..) => {}
        }
    }
    Some(state)
}

/// One generated history, judged by the checker and by the reference.
pub struct Case {
    pub seed: u64,
    /// The history as JSONL.
    pub text: String,
    pub report: TxnReport,
    /// Whether the reference finds a serial order that explains it.
    pub explained: bool,
}

/// A case for each seed, its history drawn by `generate` and written with
/// `completions_first` as [`jsonl`] takes it, checked against `model`.
pub fn cases<C: Contents>(
    model: Model,
    seeds: Range<u64>,
    completions_first: bool,
    mut generate: impl FnMut(&mut Rng) -> Vec<Txn<C>>,
) -> impl Iterator<Item = Case> {
    let strict = model == Model::StrictSerializable;
    let opts = Options {
        models: vec![model],
        ..Options::default()
    };
    seeds.map(move |seed| {
        let txns = generate(&mut Rng::for_seed(seed));
        let text = jsonl(&txns, completions_first);
        // Both readers: values parsed as `Value`s for serializability, JSON
        // text scanned straight into ids (as `faultline check` reads files)
        // for strict serializability.
        let report = if strict {
            let (_, t, _) = Txns::read_text(&text, "gen.jsonl", Some(Format::Jsonl), C::WORKLOAD).unwrap();
            txn::check_txns(&t, C::WORKLOAD, &opts).unwrap()
        } else {
            let (history, _) = import::parse(&text, "gen.jsonl", Some(Format::Jsonl)).unwrap();
            txn::check(&history, C::WORKLOAD, &opts).unwrap()
        };
        let explained = brute_force(&txns, strict);
        Case {
            seed,
            text,
            report,
            explained,
        }
    })
}
