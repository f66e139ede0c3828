//! The rw-register checker against a brute-force reference written here
//! (txn_reference.rs does the same for list-append): a tiny history is
//! serializable exactly when some serial order of its committed
//! transactions, each indeterminate one in or out, reproduces every
//! committed read; strictly serializable when the order also respects
//! real time and each process's order. Blind writes hide most of the
//! version order, so the checker cannot find every anomaly: it must never
//! call a history invalid that the reference can explain, and it must find
//! enough of the rest (its recall, printed and held to a floor). Noisy
//! histories also read aborted writes and values never written; clean
//! ones only read stale snapshots, whose anomalies need the version order.

use std::fmt::Write as _;

use checkers::import::{self, Format};
use checkers::txn::{self, Model, Options, Txns, Workload};
use checkers::Verdict;

/// xorshift64*: deterministic, so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone, Debug)]
enum Mop {
    Write(u8, i64),
    /// What was read: `None` until generated, then the value (`None`
    /// inside: nil).
    Read(u8, Option<Option<i64>>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum End {
    Ok,
    /// Indeterminate; `true` if the history says so (and the process then
    /// carries on), `false` if it never completes.
    Info(bool),
    Fail,
}

#[derive(Clone, Debug)]
struct Txn {
    mops: Vec<Mop>,
    end: End,
    call: u64,
    ret: u64,
    /// The process number written in the history.
    process: u64,
    /// Who ran it as the checker sees it: a process that carries on after
    /// `info` is a new one.
    logical: u64,
}

/// A random tiny execution: transactions applied in a random order, each
/// reading a (possibly stale) snapshot, some aborted or indeterminate,
/// with intervals loosely following the order, run by a few processes that
/// sometimes invoke at the very instant their last transaction completed.
/// If `noisy`, some aborted transactions take effect and some reads see
/// any value at all.
fn generate(rng: &mut Rng, noisy: bool) -> Vec<Txn> {
    let n = 3 + rng.below(4) as usize;
    let keys = 1 + rng.below(2) as u8;
    let mut next_value = 0;
    let mut txns: Vec<Txn> = (0..n)
        .map(|_| {
            let m = 1 + rng.below(3) as usize;
            let mops = (0..m)
                .map(|_| {
                    let k = rng.below(keys as u64) as u8;
                    if rng.chance(50) {
                        next_value += 1;
                        Mop::Write(k, next_value)
                    } else {
                        Mop::Read(k, None)
                    }
                })
                .collect();
            let end = match rng.below(100) {
                0..=69 => End::Ok,
                70..=87 => End::Info(rng.chance(50)),
                _ => End::Fail,
            };
            Txn {
                mops,
                end,
                call: 0,
                ret: 0,
                process: 0,
                logical: 0,
            }
        })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut snapshots: Vec<Vec<Option<i64>>> = vec![vec![None; keys as usize]];
    for (pos, &t) in order.iter().enumerate() {
        let mut state = snapshots.last().cloned().unwrap_or_default();
        let view = if rng.chance(40) {
            snapshots[rng.below(snapshots.len() as u64) as usize].clone()
        } else {
            state.clone()
        };
        let mut mine: Vec<Option<i64>> = vec![None; keys as usize];
        let applies = match txns[t].end {
            End::Ok => true,
            End::Info(_) => rng.chance(50),
            End::Fail => noisy && rng.chance(20),
        };
        for m in txns[t].mops.iter_mut() {
            match m {
                Mop::Write(k, v) => {
                    mine[*k as usize] = Some(*v);
                    if applies {
                        state[*k as usize] = Some(*v);
                    }
                }
                Mop::Read(k, out) => {
                    let mut v = mine[*k as usize].or(view[*k as usize]);
                    if noisy && rng.chance(3) {
                        v = Some(1 + rng.below(next_value as u64 + 1) as i64);
                    }
                    *out = Some(v);
                }
            }
        }
        if applies {
            snapshots.push(state);
        }
        let call = (pos as u64 * 10 + rng.below(30)).saturating_sub(10);
        txns[t].call = call;
        txns[t].ret = call + 1 + rng.below(25);
    }
    assign_processes(rng, &mut txns);
    txns
}

/// Gives each transaction, in invocation order, to a process whose last
/// transaction has completed (a new process if none has), sometimes
/// moving its invocation back to the instant that one completed.
fn assign_processes(rng: &mut Rng, txns: &mut [Txn]) {
    let mut by_call: Vec<usize> = (0..txns.len()).collect();
    by_call.sort_by_key(|&i| (txns[i].call, i));
    // Per process: (free from, logical id); `None` once it never completes.
    let mut procs: Vec<Option<(u64, u64)>> = Vec::new();
    let mut logical = 0;
    for i in by_call {
        let free: Vec<usize> = (0..procs.len())
            .filter(|&p| procs[p].is_some_and(|(at, _)| at <= txns[i].call))
            .collect();
        let p = if free.is_empty() || rng.chance(20) {
            procs.push(Some((0, logical)));
            logical += 1;
            procs.len() - 1
        } else {
            let p = free[rng.below(free.len() as u64) as usize];
            if rng.chance(30) {
                txns[i].call = procs[p].unwrap().0;
            }
            p
        };
        let id = procs[p].unwrap().1;
        txns[i].process = p as u64;
        txns[i].logical = id;
        procs[p] = match txns[i].end {
            End::Ok | End::Fail => Some((txns[i].ret, id)),
            End::Info(true) => {
                logical += 1;
                Some((txns[i].ret, logical - 1))
            }
            End::Info(false) => None,
        };
    }
}

fn jsonl(txns: &[Txn]) -> String {
    let value = |mops: &[Mop], with_reads: bool| {
        let parts: Vec<String> = mops
            .iter()
            .map(|m| match m {
                Mop::Write(k, v) => format!("[\"w\",{k},{v}]"),
                Mop::Read(k, Some(Some(v))) if with_reads => format!("[\"r\",{k},{v}]"),
                Mop::Read(k, _) => format!("[\"r\",{k},null]"),
            })
            .collect();
        format!("[{}]", parts.join(","))
    };
    // Completions first at equal times: a process's next invocation may
    // share the instant its last transaction completed.
    let mut events: Vec<(u64, u8, usize)> = Vec::new();
    for (i, t) in txns.iter().enumerate() {
        events.push((t.call, 1, i));
        if t.end != End::Info(false) {
            events.push((t.ret, 0, i));
        }
    }
    events.sort();
    let mut out = String::new();
    for (time, kind, i) in events {
        let t = &txns[i];
        let (ty, v) = match (kind, t.end) {
            (1, _) => ("invoke", value(&t.mops, false)),
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
fn before(a: &Txn, b: &Txn) -> bool {
    a.end == End::Ok && (a.ret < b.call || (a.logical == b.logical && a.ret <= b.call))
}

/// Whether some serial order explains the history (respecting real time
/// and process order if `strict`): a search over orders, built one
/// transaction at a time and cut off at the first read it cannot explain.
fn brute_force(txns: &[Txn], strict: bool) -> bool {
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
        extend(txns, &chosen, &mut placed, &[None, None], strict)
    })
}

fn extend(txns: &[Txn], chosen: &[usize], placed: &mut [bool], state: &[Option<i64>], strict: bool) -> bool {
    let left: Vec<usize> = chosen.iter().copied().filter(|&t| !placed[t]).collect();
    if left.is_empty() {
        return true;
    }
    for &t in &left {
        if strict && left.iter().any(|&u| u != t && before(&txns[u], &txns[t])) {
            continue;
        }
        let Some(next) = run(&txns[t], state) else {
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
fn run(t: &Txn, state: &[Option<i64>]) -> Option<Vec<Option<i64>>> {
    let mut state = state.to_vec();
    for m in &t.mops {
        match m {
            Mop::Write(k, v) => state[*k as usize] = Some(*v),
            Mop::Read(k, Some(v)) if t.end == End::Ok && state[*k as usize] != *v => return None,
            Mop::Read(..) => {}
        }
    }
    Some(state)
}

/// Histories the reference judged (valid, invalid), and of the invalid how
/// many the checker found.
struct Tally {
    valid: usize,
    invalid: usize,
    found: usize,
}

fn agree(model: Model, noisy: bool, seeds: std::ops::Range<u64>) -> Tally {
    let strict = model == Model::StrictSerializable;
    let opts = Options {
        models: vec![model],
        ..Options::default()
    };
    let mut tally = Tally {
        valid: 0,
        invalid: 0,
        found: 0,
    };
    for seed in seeds {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let txns = generate(&mut rng, noisy);
        let text = jsonl(&txns);
        // Both readers: values parsed as `Value`s for serializability, JSON
        // text scanned straight into ids (as `faultline check` reads files)
        // for strict serializability.
        let report = if strict {
            let (_, t, _) =
                Txns::read_text(&text, "gen.jsonl", Some(Format::Jsonl), Workload::RwRegister).unwrap();
            txn::check_txns(&t, Workload::RwRegister, &opts).unwrap()
        } else {
            let (history, _) = import::parse(&text, "gen.jsonl", Some(Format::Jsonl)).unwrap();
            txn::check(&history, Workload::RwRegister, &opts).unwrap()
        };
        let flagged = report.verdict == Verdict::Invalid;
        if brute_force(&txns, strict) {
            assert!(
                !flagged,
                "seed {seed}, {model}: a false alarm — the reference finds a valid order, the checker says {}\n\
                 {text}\n{:#?}",
                report.sentence, report.examples
            );
            tally.valid += 1;
        } else {
            tally.invalid += 1;
            tally.found += usize::from(flagged);
        }
    }
    let recall = tally.found as f64 / tally.invalid as f64;
    eprintln!(
        "rw-register, {model}, {} histories: {} valid, {} invalid, {} of them found: recall {:.1}%",
        if noisy { "noisy" } else { "clean" },
        tally.valid,
        tally.invalid,
        tally.found,
        recall * 100.0
    );
    // Both answers must be well represented, or the agreement says little.
    assert!(
        tally.valid > 1000 && tally.invalid > 100,
        "{} valid, {} invalid",
        tally.valid,
        tally.invalid
    );
    tally
}

/// Holds the recall to `floor` percent.
fn at_least(t: &Tally, floor: usize) {
    assert!(
        t.found * 100 >= t.invalid * floor,
        "recall {} of {}, below {floor}%",
        t.found,
        t.invalid
    );
}

#[test]
fn agrees_with_brute_force_on_serializability() {
    // 97.8% noisy, 92.4% clean here (98.2% and 90.7% over 100,000 of
    // each): no order to infer versions from, and blind writes hide the
    // rest.
    at_least(&agree(Model::Serializable, true, 0..6000), 95);
    at_least(&agree(Model::Serializable, false, 20_000..26_000), 85);
}

#[test]
fn agrees_with_brute_force_on_strict_serializability() {
    // 99.9% noisy, 99.6% clean here (99.8% and 99.7% over 200,000 of
    // each); without versions ordered by process and real time, 92.7% and
    // 84.5% here.
    at_least(&agree(Model::StrictSerializable, true, 10_000..16_000), 97);
    at_least(&agree(Model::StrictSerializable, false, 30_000..36_000), 97);
}
