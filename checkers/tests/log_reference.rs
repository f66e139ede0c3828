//! The log checker against simulated logs with known anomalies: a seeded
//! simulation of producers sending to one to three logs (sends that end
//! `ok`, `fail`, or `info` and took effect or not), consumers seeking and
//! polling on in batches, and a final phase reading every log from the
//! start, gives a clean history; then one kind of anomaly is injected one
//! to three times, and the checker must report exactly that many of that
//! kind and nothing else (nothing at all on clean histories) — except that
//! an offset made inconsistent by a read of an indeterminate send that
//! never took effect also counts that send lost, as Jepsen does: a read
//! saw it, and the final reads do not hold it.

use std::collections::{HashMap, HashSet};

use checkers::import::{self, Format};
use checkers::log::{self, Kind, LogReport, Options};
use checkers::Verdict;

/// xorshift64*: deterministic, so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn for_seed(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    /// Up to `k` distinct items of `items`, drawn at random.
    fn pick<T: Clone>(&mut self, items: &[T], k: usize) -> Vec<T> {
        let mut items = items.to_vec();
        let mut out = Vec::new();
        while out.len() < k && !items.is_empty() {
            let i = self.below(items.len());
            out.push(items.swap_remove(i));
        }
        out
    }
}

/// What a history line carries.
#[derive(Clone, Debug)]
enum Val {
    Null,
    Int(i64),
    /// An acknowledged send: `[offset value]`.
    Ack(u64, i64),
    /// A poll's `[[offset value] ...]`.
    Pairs(Vec<(u64, i64)>),
}

/// A successful poll, as the simulation saw it.
#[derive(Clone, Debug)]
struct Poll {
    from: Option<u64>,
    /// Where its consumer read on from before it, if anywhere.
    next: Option<u64>,
    last: bool,
}

#[derive(Clone, Debug)]
struct Row {
    kind: &'static str,
    process: usize,
    f: &'static str,
    key: usize,
    value: Val,
    poll: Option<Poll>,
}

enum Pending {
    Send(usize, i64),
    Poll(usize, Option<u64>),
}

/// A simulated run: the logs as they ended, and the history.
struct Sim {
    rng: Rng,
    logs: Vec<Vec<i64>>,
    rows: Vec<Row>,
    /// Acknowledged sends: (row, key, offset).
    acked: Vec<(usize, usize, u64)>,
    /// Values of failed sends, by key.
    failed: Vec<Vec<i64>>,
    /// Values of indeterminate sends that never took effect, by key.
    phantoms: Vec<Vec<i64>>,
    /// Where indeterminate sends took effect: (key, offset).
    took_effect: HashSet<(usize, u64)>,
    /// Values sent again (the producer retried under the hood).
    duplicated: HashSet<i64>,
    named: bool,
}

const PRODUCERS: usize = 3;
const CONSUMERS: usize = 3;

impl Sim {
    fn row(&mut self, kind: &'static str, process: usize, f: &'static str, key: usize, value: Val) {
        self.rows.push(Row {
            kind,
            process,
            f,
            key,
            value,
            poll: None,
        });
    }

    fn complete(&mut self, p: usize, op: Pending, pos: &mut HashMap<(usize, usize), u64>) {
        match op {
            Pending::Send(k, v) => match self.rng.below(100) {
                0..80 => {
                    let offset = self.logs[k].len() as u64;
                    self.logs[k].push(v);
                    self.acked.push((self.rows.len(), k, offset));
                    self.row("ok", p, "send", k, Val::Ack(offset, v));
                }
                80..90 => {
                    if self.rng.chance(50) {
                        self.took_effect.insert((k, self.logs[k].len() as u64));
                        self.logs[k].push(v);
                    } else {
                        self.phantoms[k].push(v);
                    }
                    self.row("info", p, "send", k, Val::Int(v));
                }
                _ => {
                    self.failed[k].push(v);
                    self.row("fail", p, "send", k, Val::Int(v));
                }
            },
            Pending::Poll(k, from) => {
                if self.rng.chance(5) {
                    return self.row("fail", p, "poll", k, Val::Null);
                }
                let next = pos.get(&(p, k)).copied();
                let start =
                    from.or(next)
                        .expect("a poll reads on only after one that placed it") as usize;
                let end = (start + self.rng.below(5)).min(self.logs[k].len());
                let pairs: Vec<(u64, i64)> = (start..end).map(|o| (o as u64, self.logs[k][o])).collect();
                pos.insert((p, k), end as u64);
                self.rows.push(Row {
                    kind: "ok",
                    process: p,
                    f: "poll",
                    key: k,
                    value: Val::Pairs(pairs),
                    poll: Some(Poll {
                        from,
                        next,
                        last: false,
                    }),
                });
            }
        }
    }

    /// A run of `steps` steps, `duplicates` values sent twice, and the
    /// final reads.
    fn run(seed: u64, duplicates: usize) -> Sim {
        let mut rng = Rng::for_seed(seed);
        let keys = 1 + rng.below(3);
        let steps = 20 + rng.below(150);
        let mut sim = Sim {
            named: keys > 1 || rng.chance(50),
            rng,
            logs: vec![Vec::new(); keys],
            rows: Vec::new(),
            acked: Vec::new(),
            failed: vec![Vec::new(); keys],
            phantoms: vec![Vec::new(); keys],
            took_effect: HashSet::new(),
            duplicated: HashSet::new(),
        };
        let mut pending: Vec<Option<Pending>> = (0..PRODUCERS + CONSUMERS).map(|_| None).collect();
        let mut pos = HashMap::new();
        let mut value = 0;
        for _ in 0..steps {
            if sim.duplicated.len() < duplicates && sim.rng.chance(10) {
                let k = sim.rng.below(keys);
                if !sim.logs[k].is_empty() {
                    let v = sim.logs[k][sim.rng.below(sim.logs[k].len())];
                    if sim.duplicated.insert(v) {
                        sim.logs[k].push(v);
                    }
                }
            }
            let p = sim.rng.below(pending.len());
            if let Some(op) = pending[p].take() {
                sim.complete(p, op, &mut pos);
                continue;
            }
            let k = sim.rng.below(keys);
            let op = if p < PRODUCERS {
                value += 1;
                Pending::Send(k, value)
            } else {
                let seek = !pos.contains_key(&(p, k)) || sim.rng.chance(15);
                Pending::Poll(k, seek.then(|| sim.rng.below(sim.logs[k].len() + 1) as u64))
            };
            let invoked = match op {
                Pending::Send(_, v) => Val::Int(v),
                Pending::Poll(_, from) => from.map_or(Val::Null, |f| Val::Int(f as i64)),
            };
            let f = if p < PRODUCERS { "send" } else { "poll" };
            sim.row("invoke", p, f, k, invoked);
            pending[p] = Some(op);
        }
        for (p, op) in pending.into_iter().enumerate() {
            if let Some(op) = op {
                sim.complete(p, op, &mut pos);
            }
        }
        // Indeterminate sends that never take effect, on every log, then
        // one more send, so every poll so far was invoked before the
        // last send completed.
        for k in 0..keys {
            for _ in 0..2 {
                value += 1;
                sim.row("invoke", 0, "send", k, Val::Int(value));
                sim.row("info", 0, "send", k, Val::Int(value));
                sim.phantoms[k].push(value);
            }
        }
        value += 1;
        let k = sim.rng.below(keys);
        sim.row("invoke", 1, "send", k, Val::Int(value));
        sim.complete(1, Pending::Send(k, value), &mut pos);
        for k in 0..keys {
            for r in 0..1 + sim.rng.below(2) {
                let p = PRODUCERS + CONSUMERS + 2 * k + r;
                let pairs = sim.logs[k]
                    .iter()
                    .enumerate()
                    .map(|(o, v)| (o as u64, *v))
                    .collect();
                sim.row("invoke", p, "poll", k, Val::Int(0));
                sim.rows.push(Row {
                    kind: "ok",
                    process: p,
                    f: "poll",
                    key: k,
                    value: Val::Pairs(pairs),
                    poll: Some(Poll {
                        from: Some(0),
                        next: None,
                        last: true,
                    }),
                });
            }
        }
        sim
    }

    fn pairs(&mut self, row: usize) -> &mut Vec<(u64, i64)> {
        match &mut self.rows[row].value {
            Val::Pairs(p) => p,
            v => panic!("row {row} is no poll: {v:?}"),
        }
    }

    /// Rows of successful polls that `keep` accepts.
    fn polls(&self, keep: impl Fn(&Row, &Poll) -> bool) -> Vec<usize> {
        (0..self.rows.len())
            .filter(|&i| self.rows[i].poll.as_ref().is_some_and(|p| keep(&self.rows[i], p)))
            .collect()
    }

    /// Injects up to `k` anomalies of `kind`; returns how many.
    fn inject(&mut self, kind: Kind, k: usize) -> usize {
        match kind {
            Kind::Lost => {
                // Not a log's last offset: that would shorten the final
                // reads, and make the send unseen instead.
                let logs = self.logs.clone();
                let candidates: Vec<_> = self
                    .acked
                    .iter()
                    .filter(|a| a.2 + 1 < logs[a.1].len() as u64)
                    .cloned()
                    .collect();
                let lost = self.rng.pick(&candidates, k);
                for &(_, key, offset) in &lost {
                    for r in self.polls(|row, p| p.last && row.key == key) {
                        self.pairs(r).retain(|pair| pair.0 != offset);
                    }
                }
                lost.len()
            }
            Kind::Unseen => {
                let key = self.rng.below(self.logs.len());
                // Sends that took effect: acknowledged, or indeterminate
                // and read before the final reads.
                let mut acked: HashSet<u64> = self.acked.iter().filter(|a| a.1 == key).map(|a| a.2).collect();
                for r in self.polls(|row, p| !p.last && row.key == key) {
                    for &(o, _) in self.pairs(r).clone().iter() {
                        if self.took_effect.contains(&(key, o)) {
                            acked.insert(o);
                        }
                    }
                }
                let (mut len, mut unseen) = (self.logs[key].len() as u64, 0);
                while unseen < k && len > 0 {
                    len -= 1;
                    unseen += usize::from(acked.contains(&len));
                }
                for r in self.polls(|row, p| p.last && row.key == key) {
                    self.pairs(r).retain(|pair| pair.0 < len);
                }
                unseen
            }
            Kind::WrongOffset => {
                let acked = self.acked.clone();
                let wrong = self.rng.pick(&acked, k);
                for &(row, _, offset) in &wrong {
                    let moved = offset + 1 + self.rng.below(5) as u64;
                    match &mut self.rows[row].value {
                        Val::Ack(o, _) => *o = moved,
                        v => panic!("row {row} is no acknowledged send: {v:?}"),
                    }
                }
                wrong.len()
            }
            Kind::Unexpected => {
                for i in 0..k {
                    let key = self.rng.below(self.logs.len());
                    let ghost = match self.failed[key].pop() {
                        Some(v) if self.rng.chance(50) => v,
                        _ => -1 - i as i64,
                    };
                    let finals = self.polls(|row, p| p.last && row.key == key);
                    let r = finals[self.rng.below(finals.len())];
                    // Past every log's end, and apart from each other,
                    // so that no two reads disagree on an offset.
                    self.pairs(r).push((1_000_000 + i as u64, ghost));
                }
                k
            }
            Kind::InconsistentOffset => {
                let mut used = HashSet::new();
                let mut made = 0;
                for r in self.polls(|_, p| !p.last) {
                    if made == k {
                        break;
                    }
                    let key = self.rows[r].key;
                    let Some(&(offset, _)) = self.pairs(r).first() else {
                        continue;
                    };
                    if self.phantoms[key].is_empty() || !self.rng.chance(30) || !used.insert((key, offset)) {
                        continue;
                    }
                    let phantom = self.phantoms[key].pop().expect("checked");
                    self.pairs(r)[0].1 = phantom;
                    made += 1;
                }
                made
            }
            Kind::Nonmonotonic => {
                let back = self.polls(|row, p| {
                    p.from.is_none()
                        && p.next.is_some_and(|n| n > 0)
                        && matches!(&row.value, Val::Pairs(v) if !v.is_empty())
                });
                let back = self.rng.pick(&back, k);
                for &r in &back {
                    let n = self.rows[r]
                        .poll
                        .as_ref()
                        .and_then(|p| p.next)
                        .expect("picked so")
                        - 1;
                    let v = self.logs[self.rows[r].key][n as usize];
                    self.pairs(r).insert(0, (n, v));
                }
                back.len()
            }
            Kind::Skip => {
                let skips = self.polls(|row, p| {
                    p.from.is_none()
                        && p.next.is_some()
                        && matches!(&row.value, Val::Pairs(v) if v.len() >= 2)
                });
                let skips = self.rng.pick(&skips, k);
                for &r in &skips {
                    self.pairs(r).remove(0);
                }
                skips.len()
            }
            Kind::Duplicate => self.duplicated.len(),
        }
    }

    fn jsonl(&self) -> String {
        let mut out = String::new();
        for (i, r) in self.rows.iter().enumerate() {
            let value = match &r.value {
                Val::Null => "null".to_string(),
                Val::Int(v) => v.to_string(),
                Val::Ack(o, v) => format!("[{o},{v}]"),
                Val::Pairs(p) => format!("{:?}", p.iter().map(|(o, v)| [*o as i64, *v]).collect::<Vec<_>>()),
            };
            let key = if self.named {
                format!(",\"key\":{}", r.key)
            } else {
                String::new()
            };
            out += &format!(
                "{{\"index\":{i},\"time\":{i},\"type\":\"{}\",\"process\":{},\"f\":\"{}\"{key},\"value\":{value}}}\n",
                r.kind, r.process, r.f
            );
        }
        out
    }
}

fn check(sim: &Sim, options: Options) -> LogReport {
    let (history, _) =
        import::parse(&sim.jsonl(), "sim.jsonl", Some(Format::Jsonl)).expect("the simulation writes JSONL");
    log::check(&history, &options).expect("the simulation writes what the checker reads")
}

#[test]
fn every_injected_anomaly_is_found_with_its_count_and_clean_logs_pass() {
    const CASES: u64 = 4000;
    let mut injected: HashMap<Kind, usize> = HashMap::new();
    let mut clean = 0;
    let mut recovered = 0;
    for seed in 0..CASES {
        // One case in nine is clean; the others inject one kind.
        let kind = match seed % 9 {
            0 => None,
            i => Some(Kind::ALL[i as usize - 1]),
        };
        let want = 1 + (seed / 9 % 3) as usize;
        let duplicates = if kind == Some(Kind::Duplicate) { want } else { 0 };
        let mut sim = Sim::run(seed, duplicates);
        let made = kind.map_or(0, |kind| sim.inject(kind, want));
        let report = check(&sim, Options::default());
        let found: Vec<(Kind, usize)> = report.anomalies.iter().map(|a| (a.kind, a.count)).collect();
        let expected: Vec<(Kind, usize)> = match kind.filter(|_| made > 0) {
            None => Vec::new(),
            // A phantom read was an indeterminate send that took effect,
            // and the final reads no longer hold it: lost as well.
            Some(Kind::InconsistentOffset) => vec![(Kind::Lost, made), (Kind::InconsistentOffset, made)],
            Some(k) => vec![(k, made)],
        };
        assert_eq!(
            found,
            expected,
            "seed {seed}: {}\n{}",
            report.sentence,
            sim.jsonl()
        );
        recovered += report.sends.recovered;
        match kind.filter(|_| made > 0) {
            None => {
                clean += 1;
                assert_eq!(report.verdict, Verdict::Valid, "seed {seed}: {}", report.sentence);
            }
            Some(kind) => {
                *injected.entry(kind).or_default() += made;
                assert_eq!(
                    report.verdict,
                    Verdict::Invalid,
                    "seed {seed}: {}",
                    report.sentence
                );
                let finding = &report.anomalies[0].findings[0];
                assert!(
                    !finding.offsets.is_empty() && !finding.lines.is_empty(),
                    "seed {seed}: {finding:?}"
                );
                let allowing = Options {
                    allow_duplicates: kind == Kind::Duplicate,
                    rebalancing: matches!(kind, Kind::Nonmonotonic | Kind::Skip),
                };
                if allowing.allow_duplicates || allowing.rebalancing {
                    let allowed = check(&sim, allowing);
                    assert_eq!(
                        allowed.verdict,
                        Verdict::Valid,
                        "seed {seed}: {}",
                        allowed.sentence
                    );
                    assert_eq!(
                        allowed.count(kind),
                        made,
                        "seed {seed}: a warning is still counted"
                    );
                }
            }
        }
    }
    eprintln!(
        "{CASES} cases: {clean} clean, injected {injected:?}, {recovered} indeterminate sends read back"
    );
    // The generator must reach every kind often, and clean cases must
    // carry indeterminate sends that took effect.
    for kind in Kind::ALL {
        let n = injected.get(&kind).copied().unwrap_or(0);
        assert!(n > 300, "{kind:?} injected only {n} times in {CASES} cases");
    }
    assert!(clean > 400, "{clean} clean cases");
    assert!(recovered > 1000, "{recovered} indeterminate sends read back");
}
