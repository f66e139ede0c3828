//! The list-append checker against a brute-force reference written here:
//! a tiny history is serializable exactly when some serial order of its
//! committed transactions (each indeterminate one in or out) reproduces
//! every committed read; strictly serializable when such an order also
//! respects real time. Thousands of random tiny histories — stale and
//! dirty reads, reads that leave out, swap or invent elements (among
//! them a transaction's own appends out of order), aborted and
//! indeterminate transactions, overlapping intervals — and the two must
//! agree on every one.

use std::collections::HashMap;
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
    Append(u8, i64),
    Read(u8, Option<Vec<i64>>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum End {
    Ok,
    Info,
    Fail,
}

#[derive(Clone, Debug)]
struct Txn {
    mops: Vec<Mop>,
    end: End,
    call: u64,
    ret: u64,
}

/// A read as a faulty database might return it: now and then an element
/// left out, two neighbours swapped, two of one transaction's appends
/// swapped, or an element no transaction appended put in.
fn damage(rng: &mut Rng, l: &mut Vec<i64>, writer: &HashMap<i64, usize>) {
    match rng.below(100) {
        0..=3 if !l.is_empty() => {
            l.remove(rng.below(l.len() as u64) as usize);
        }
        4..=5 if l.len() > 1 => {
            let i = rng.below(l.len() as u64 - 1) as usize;
            l.swap(i, i + 1);
        }
        6..=9 => {
            let same: Vec<(usize, usize)> = (0..l.len())
                .flat_map(|i| (i + 1..l.len()).map(move |j| (i, j)))
                .filter(|&(i, j)| writer.get(&l[i]).is_some_and(|w| writer.get(&l[j]) == Some(w)))
                .collect();
            if !same.is_empty() {
                let (i, j) = same[rng.below(same.len() as u64) as usize];
                l.swap(i, j);
            }
        }
        10..=11 => {
            let at = rng.below(l.len() as u64 + 1) as usize;
            l.insert(at, 1000 + rng.below(1000) as i64);
        }
        _ => {}
    }
}

/// A random tiny execution: transactions applied in a random order, each
/// reading a (possibly stale, possibly damaged) snapshot, some aborted or
/// indeterminate, with intervals loosely following the order.
fn generate(rng: &mut Rng) -> Vec<Txn> {
    let n = 3 + rng.below(4) as usize;
    let keys = 1 + rng.below(2) as u8;
    let mut next_value = 1;
    let mut txns: Vec<Txn> = (0..n)
        .map(|_| {
            let m = 1 + rng.below(4) as usize;
            let mops = (0..m)
                .map(|_| {
                    let k = rng.below(keys as u64) as u8;
                    if rng.chance(50) {
                        next_value += 1;
                        Mop::Append(k, next_value)
                    } else {
                        Mop::Read(k, None)
                    }
                })
                .collect();
            let end = match rng.below(100) {
                0..=74 => End::Ok,
                75..=89 => End::Info,
                _ => End::Fail,
            };
            Txn {
                mops,
                end,
                call: 0,
                ret: 0,
            }
        })
        .collect();
    let writer: HashMap<i64, usize> = txns
        .iter()
        .enumerate()
        .flat_map(|(t, x)| {
            x.mops.iter().filter_map(move |m| match m {
                Mop::Append(_, v) => Some((*v, t)),
                Mop::Read(..) => None,
            })
        })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut snapshots: Vec<Vec<Vec<i64>>> = vec![vec![Vec::new(); keys as usize]];
    for (pos, &t) in order.iter().enumerate() {
        let mut state = snapshots.last().cloned().unwrap_or_default();
        let stale = rng.chance(40);
        let view = if stale {
            snapshots[rng.below(snapshots.len() as u64) as usize].clone()
        } else {
            state.clone()
        };
        let mut mine: Vec<Vec<i64>> = vec![Vec::new(); keys as usize];
        let applies = match txns[t].end {
            End::Ok => true,
            End::Info => rng.chance(50),
            End::Fail => rng.chance(20),
        };
        for m in txns[t].mops.iter_mut() {
            match m {
                Mop::Append(k, v) => {
                    mine[*k as usize].push(*v);
                    if applies {
                        state[*k as usize].push(*v);
                    }
                }
                Mop::Read(k, out) => {
                    let mut l = view[*k as usize].clone();
                    l.extend(&mine[*k as usize]);
                    damage(rng, &mut l, &writer);
                    *out = Some(l);
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
    txns
}

fn jsonl(txns: &[Txn]) -> String {
    let value = |mops: &[Mop], with_reads: bool| {
        let parts: Vec<String> = mops
            .iter()
            .map(|m| match m {
                Mop::Append(k, v) => format!("[\"append\",{k},{v}]"),
                Mop::Read(k, Some(l)) if with_reads => format!("[\"r\",{k},{l:?}]"),
                Mop::Read(k, _) => format!("[\"r\",{k},null]"),
            })
            .collect();
        format!("[{}]", parts.join(","))
    };
    let mut events: Vec<(u64, u8, usize)> = Vec::new();
    for (i, t) in txns.iter().enumerate() {
        events.push((t.call, 0, i));
        if t.end != End::Info {
            events.push((t.ret, 1, i));
        }
    }
    events.sort();
    let mut out = String::new();
    for (time, kind, i) in events {
        let t = &txns[i];
        let (ty, v) = match (kind, t.end) {
            (0, _) => ("invoke", value(&t.mops, false)),
            (_, End::Ok) => ("ok", value(&t.mops, true)),
            _ => ("fail", value(&t.mops, false)),
        };
        writeln!(
            out,
            "{{\"time\":{time},\"type\":\"{ty}\",\"process\":{i},\"f\":\"txn\",\"value\":{v}}}"
        )
        .unwrap();
    }
    out
}

/// Whether some serial order explains the history (respecting real time
/// if `strict`).
fn brute_force(txns: &[Txn], strict: bool) -> bool {
    let optional: Vec<usize> = (0..txns.len()).filter(|&i| txns[i].end == End::Info).collect();
    let required: Vec<usize> = (0..txns.len()).filter(|&i| txns[i].end == End::Ok).collect();
    for mask in 0..(1u32 << optional.len()) {
        let mut chosen = required.clone();
        chosen.extend(
            optional
                .iter()
                .enumerate()
                .filter(|(b, _)| mask & (1 << b) != 0)
                .map(|(_, &i)| i),
        );
        if permutations(&mut chosen, 0, &mut |order| explains(txns, order, strict)) {
            return true;
        }
    }
    false
}

fn permutations(items: &mut Vec<usize>, k: usize, f: &mut dyn FnMut(&[usize]) -> bool) -> bool {
    if k == items.len() {
        return f(items);
    }
    for i in k..items.len() {
        items.swap(k, i);
        if permutations(items, k + 1, f) {
            items.swap(k, i);
            return true;
        }
        items.swap(k, i);
    }
    false
}

fn explains(txns: &[Txn], order: &[usize], strict: bool) -> bool {
    if strict {
        for (i, &a) in order.iter().enumerate() {
            for &b in &order[i + 1..] {
                // b is placed after a; real time may not say b came first.
                if txns[b].end == End::Ok && txns[b].ret < txns[a].call {
                    return false;
                }
            }
        }
    }
    let mut state: Vec<Vec<i64>> = vec![Vec::new(); 2];
    for &t in order {
        for m in &txns[t].mops {
            match m {
                Mop::Append(k, v) => state[*k as usize].push(*v),
                Mop::Read(k, Some(l)) if txns[t].end == End::Ok => {
                    if state[*k as usize] != *l {
                        return false;
                    }
                }
                Mop::Read(..) => {}
            }
        }
    }
    true
}

/// How the checked histories came out.
#[derive(Debug, Default)]
struct Tally {
    valid: usize,
    invalid: usize,
    /// Invalid ones where a read showed a transaction's appends out of
    /// their order.
    internal_order: usize,
}

fn run(model: Model, strict: bool, seeds: std::ops::Range<u64>) -> Tally {
    let opts = Options {
        models: vec![model],
        ..Options::default()
    };
    let mut tally = Tally::default();
    for seed in seeds {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let txns = generate(&mut rng);
        let text = jsonl(&txns);
        // Both readers: values parsed as `Value`s for serializability, JSON
        // text scanned straight into ids (as `faultline check` reads files)
        // for strict serializability.
        let report = if strict {
            let (_, t, _) =
                Txns::read_text(&text, "gen.jsonl", Some(Format::Jsonl), Workload::ListAppend).unwrap();
            txn::check_txns(&t, Workload::ListAppend, &opts).unwrap()
        } else {
            let (history, _) = import::parse(&text, "gen.jsonl", Some(Format::Jsonl)).unwrap();
            txn::check(&history, Workload::ListAppend, &opts).unwrap()
        };
        let expected = brute_force(&txns, strict);
        assert_eq!(
            report.verdict == Verdict::Valid,
            expected,
            "seed {seed}, {model}: the reference says {}, the checker {}: {}\n{text}\n{:#?}",
            if expected { "valid" } else { "invalid" },
            report.verdict,
            report.sentence,
            report.examples
        );
        if expected {
            tally.valid += 1;
        } else {
            tally.invalid += 1;
        }
        tally.internal_order += usize::from(report.anomalies.contains_key("internal-order"));
    }
    tally
}

/// Both answers, and reads of a transaction's appends out of order, must
/// be well represented, or the agreement says little.
fn well_represented(t: &Tally) {
    assert!(
        t.valid > 5000 && t.invalid > 5000 && t.internal_order > 500,
        "{t:?}"
    );
}

#[test]
fn agrees_with_brute_force_on_serializability() {
    well_represented(&run(Model::Serializable, false, 0..20_000));
}

#[test]
fn agrees_with_brute_force_on_strict_serializability() {
    well_represented(&run(Model::StrictSerializable, true, 100_000..120_000));
}
