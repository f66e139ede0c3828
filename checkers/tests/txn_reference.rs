//! The list-append checker against a brute-force reference
//! (reference_common, shared with txn_reference_rw.rs for rw-register):
//! a tiny history is serializable exactly when some serial order of its
//! committed transactions (each indeterminate one in or out) reproduces
//! every committed read; strictly serializable when such an order also
//! respects real time. Thousands of random tiny histories — stale and
//! dirty reads, reads that leave out, swap or invent elements (among
//! them a transaction's own appends out of order), aborted and
//! indeterminate transactions, overlapping intervals — and the two must
//! agree on every one.

mod reference_common;

use std::collections::HashMap;
use std::ops::Range;

use checkers::txn::{Model, Workload};
use checkers::Verdict;
use reference_common::{cases, draw, execute, Case, Contents, End, Mop, Rng};

/// A key holds the list appended to it.
impl Contents for Vec<i64> {
    const WORKLOAD: Workload = Workload::ListAppend;
    const WRITE: &'static str = "append";
    fn write(&mut self, v: i64) {
        self.push(v);
    }
    fn json(&self) -> String {
        format!("{self:?}")
    }
}

type Txn = reference_common::Txn<Vec<i64>>;

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
/// indeterminate (and then never completing), with intervals loosely
/// following the order; each transaction is its own process.
fn generate(rng: &mut Rng) -> Vec<Txn> {
    let mut last_value = 1;
    let (mut txns, keys): (Vec<Txn>, _) = draw(rng, 4, &mut last_value, |rng| match rng.below(100) {
        0..=74 => End::Ok,
        75..=89 => End::Info(false),
        _ => End::Fail,
    });
    let writer: HashMap<i64, usize> = txns
        .iter()
        .enumerate()
        .flat_map(|(t, x)| {
            x.mops.iter().filter_map(move |m| match m {
                Mop::Write(_, v) => Some((*v, t)),
                Mop::Read(..) => None,
            })
        })
        .collect();
    let aborted_applies = |rng: &mut Rng| rng.chance(20);
    execute(rng, &mut txns, keys, aborted_applies, |rng, view, mine| {
        let mut l = view.clone();
        l.extend(mine);
        damage(rng, &mut l, &writer);
        l
    });
    txns
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

fn run(model: Model, seeds: Range<u64>) -> Tally {
    let mut tally = Tally::default();
    for Case {
        seed,
        text,
        report,
        explained,
    } in cases(model, seeds, false, generate)
    {
        assert_eq!(
            report.verdict == Verdict::Valid,
            explained,
            "seed {seed}, {model}: the reference says {}, the checker {}: {}\n{text}\n{:#?}",
            if explained { "valid" } else { "invalid" },
            report.verdict,
            report.sentence,
            report.examples
        );
        if explained {
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
    well_represented(&run(Model::Serializable, 0..20_000));
}

#[test]
fn agrees_with_brute_force_on_strict_serializability() {
    well_represented(&run(Model::StrictSerializable, 100_000..120_000));
}
